"""The file part of a multipart/form-data body, as curl -F and requests send it."""

from __future__ import annotations

import pytest
import requests
from google.api import httpbody_pb2

from controller.api.compat.servermgmt.multipart_upload import uploaded_file
from controller.domain.errors import InvalidArgument


def _encoded(files: dict, data: dict | None = None) -> httpbody_pb2.HttpBody:
    prepared = requests.Request("POST", "http://x/", files=files, data=data or {}).prepare()
    return httpbody_pb2.HttpBody(content_type=prepared.headers["Content-Type"], data=prepared.body)


async def _read(body: httpbody_pb2.HttpBody) -> tuple[str, bytes]:
    upload = uploaded_file(body)
    return upload.filename, b"".join([c async for c in upload.chunks()])


async def test_the_file_field_comes_back_byte_for_byte() -> None:
    content = bytes(range(256)) * 9000 + b"\r\n--not-a-boundary\r\n"
    body = _encoded({"file": ("model.pth", content)}, {"note": "ignored"})
    assert await _read(body) == ("model.pth", content)


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
def test_bodies_without_a_file_are_invalid(body: httpbody_pb2.HttpBody) -> None:
    with pytest.raises(InvalidArgument):
        uploaded_file(body)
