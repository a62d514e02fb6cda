"""The file of a multipart/form-data upload that arrived as a google.api.HttpBody."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from google.api import httpbody_pb2
from python_multipart.multipart import MultipartParser, parse_options_header

from controller.domain.errors import InvalidArgument

_CHUNK = 1 << 20


@dataclass
class UploadedFile:
    """The part named by the form field, its file name and its bytes."""

    filename: str
    data: bytearray = field(default_factory=bytearray)

    async def chunks(self) -> AsyncIterator[bytes]:
        view = memoryview(self.data)
        for start in range(0, len(view), _CHUNK):
            yield bytes(view[start : start + _CHUNK])


def uploaded_file(body: httpbody_pb2.HttpBody, field_name: str = "file") -> UploadedFile:
    """The ``field_name`` part of a multipart/form-data body (curl -F "file=@x"); InvalidArgument without it.

    A body that is not multipart is taken as the file itself (curl --data-binary).
    """
    media, params = parse_options_header(body.content_type)
    if media != b"multipart/form-data":
        return UploadedFile("", bytearray(body.data))
    boundary = params.get(b"boundary")
    if not boundary:
        raise InvalidArgument("multipart/form-data body without a boundary")
    found: list[UploadedFile] = []
    headers: dict[bytes, bytes] = {}
    current: list[UploadedFile | None] = [None]
    name, value = bytearray(), bytearray()

    def on_part_begin() -> None:
        headers.clear()
        current[0] = None

    def on_header_field(data: bytes, start: int, end: int) -> None:
        name.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        value.extend(data[start:end])

    def on_header_end() -> None:
        headers[bytes(name).lower()] = bytes(value)
        name.clear()
        value.clear()

    def on_headers_finished() -> None:
        _, disposition = parse_options_header(headers.get(b"content-disposition", b""))
        if disposition.get(b"name", b"").decode(errors="replace") == field_name:
            current[0] = UploadedFile(disposition.get(b"filename", b"").decode(errors="replace"))
            found.append(current[0])

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if current[0] is not None:
            current[0].data.extend(data[start:end])

    parser = MultipartParser(boundary, {
        "on_part_begin": on_part_begin, "on_header_field": on_header_field, "on_header_value": on_header_value,
        "on_header_end": on_header_end, "on_headers_finished": on_headers_finished, "on_part_data": on_part_data,
    })  # fmt: skip
    try:
        parser.write(body.data)
        parser.finalize()
    except Exception as exc:  # the library raises its own error types for a malformed body
        raise InvalidArgument(f"malformed multipart/form-data body: {exc}") from None
    if not found:
        raise InvalidArgument(f"the multipart/form-data body has no {field_name!r} field")
    return found[0]
