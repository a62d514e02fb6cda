"""The file part of a multipart/form-data body, as curl -F and requests send it, parsed as it arrives in pieces."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import requests
from google.api import httpbody_pb2

from controller.api.compat.servermgmt.multipart_upload import MultipartUpload
from controller.domain.errors import InvalidArgument


def _encoded(files: dict, data: dict | None = None) -> httpbody_pb2.HttpBody:
    prepared = requests.Request("POST", "http://x/", files=files, data=data or {}).prepare()
    return httpbody_pb2.HttpBody(content_type=prepared.headers["Content-Type"], data=prepared.body)


async def _pieces(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def _read(body: httpbody_pb2.HttpBody, piece: int = 64 * 1024) -> tuple[str, bytes]:
    upload = MultipartUpload(body.content_type, _pieces(body.data, piece))
    filename = await upload.open()
    return filename, b"".join([c async for c in upload.chunks()])


@pytest.mark.parametrize("piece", [1, 7, 4096, 64 * 1024, 1 << 22])
async def test_the_file_field_comes_back_byte_for_byte(piece: int) -> None:
    content = bytes(range(256)) * 9000 + b"\r\n--not-a-boundary\r\n"
    if piece == 1:
        content = content[:5000] + b"\r\n--not-a-boundary\r\n"  # byte by byte: keep it small
    body = _encoded({"file": ("model.pth", content)}, {"note": "ignored"})
    assert await _read(body, piece) == ("model.pth", content)


async def test_the_file_streams_on_before_the_body_ends() -> None:
    """Parts of the file come out while later pieces are still to be read: nothing is held whole."""
    content = bytes(range(256)) * 4096  # 1 MiB
    body = _encoded({"file": ("model.pth", content)})
    fed = [0]

    async def pieces() -> AsyncIterator[bytes]:
        for start in range(0, len(body.data), 65536):
            fed[0] = start + 65536
            yield body.data[start : start + 65536]

    upload = MultipartUpload(body.content_type, pieces())
    assert await upload.open() == "model.pth"
    out = bytearray()
    async for chunk in upload.chunks():
        out += chunk
        assert fed[0] - len(out) <= 2 * 65536  # at most what the parser has been given
    assert bytes(out) == content


async def test_a_raw_body_is_the_file_itself() -> None:
    body = httpbody_pb2.HttpBody(content_type="application/octet-stream", data=b"raw bytes")
    assert await _read(body) == ("", b"raw bytes")


@pytest.mark.parametrize(
    "body",
    [
        httpbody_pb2.HttpBody(content_type="multipart/form-data", data=b"--x\r\n"),
        _encoded({"other": ("a.bin", b"data")}),
        httpbody_pb2.HttpBody(content_type="multipart/form-data; boundary=abc", data=b"garbage without parts"),
    ],
    ids=["no boundary", "no file field", "garbage"],
)
async def test_bodies_without_a_file_are_invalid(body: httpbody_pb2.HttpBody) -> None:
    with pytest.raises(InvalidArgument):
        await _read(body)
