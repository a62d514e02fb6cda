"""The file of a multipart/form-data upload that arrives as a stream of google.api.HttpBody pieces.

The body is fed to python-multipart's streaming parser piece by piece, and the
file part's bytes are passed on as they come: an upload is never held whole.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator

from python_multipart.multipart import MultipartParser, parse_options_header

from controller.domain.errors import InvalidArgument


class MultipartUpload:
    """The ``field_name`` part of a multipart/form-data body (curl -F "file=@x"), read as it arrives.

    ``content_type`` is the body's (from the first message); ``pieces`` are the body's bytes in
    order. A body that is not multipart is taken as the file itself (curl --data-binary).
    Call :meth:`open` (it reads up to the part's headers and returns its file name), then
    iterate :meth:`chunks`. Both raise InvalidArgument for a malformed body or one without the field.
    """

    def __init__(self, content_type: str, pieces: AsyncIterable[bytes], field_name: str = "file") -> None:
        self.field_name = field_name
        self.filename = ""
        self._pieces = aiter(pieces)
        self._ended = False
        self._out: list[bytes] = []
        self._found = False
        self._in_part = False
        media, params = parse_options_header(content_type)
        self._parser: MultipartParser | None = None
        if media == b"multipart/form-data":
            boundary = params.get(b"boundary")
            if not boundary:
                raise InvalidArgument("multipart/form-data body without a boundary")
            self._parser = self._make_parser(boundary)

    def _make_parser(self, boundary: bytes) -> MultipartParser:
        headers: dict[bytes, bytes] = {}
        name, value = bytearray(), bytearray()

        def on_part_begin() -> None:
            headers.clear()
            self._in_part = False

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
            if not self._found and disposition.get(b"name", b"").decode(errors="replace") == self.field_name:
                self._found = self._in_part = True
                self.filename = disposition.get(b"filename", b"").decode(errors="replace")

        def on_part_data(data: bytes, start: int, end: int) -> None:
            if self._in_part and end > start:
                self._out.append(bytes(data[start:end]))

        def on_part_end() -> None:
            self._in_part = False

        return MultipartParser(boundary, {
            "on_part_begin": on_part_begin, "on_header_field": on_header_field, "on_header_value": on_header_value,
            "on_header_end": on_header_end, "on_headers_finished": on_headers_finished, "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        })  # fmt: skip

    async def _feed(self) -> None:
        """Parse the next piece (or finish at the end of the body)."""
        try:
            piece = await anext(self._pieces)
        except StopAsyncIteration:
            self._ended = True
            piece = None
        if self._parser is None:
            if piece:
                self._out.append(piece)
            return
        try:
            if piece is None:
                self._parser.finalize()
            else:
                self._parser.write(piece)
        except Exception as exc:  # the library raises its own error types for a malformed body
            raise InvalidArgument(f"malformed multipart/form-data body: {exc}") from None

    async def open(self) -> str:
        """Read up to the file part's headers; its file name ("" for a raw body)."""
        if self._parser is not None:
            while not self._found and not self._ended:
                await self._feed()
            if not self._found:
                raise InvalidArgument(f"the multipart/form-data body has no {self.field_name!r} field")
        return self.filename

    async def chunks(self) -> AsyncIterator[bytes]:
        """The file's bytes as they arrive; the rest of the body is read (and checked) to its end."""
        await self.open()
        while True:
            while self._out:
                yield self._out.pop(0)
            if self._ended:
                return
            await self._feed()
