"""Downloads as a stream of google.api.HttpBody messages (controller/api/http_body.py)."""

from __future__ import annotations

from typing import AsyncIterator

from controller.api.http_body import http_body_stream


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def _messages(*parts: bytes, size: int = 4) -> list[tuple[str, bytes]]:
    return [(m.content_type, m.data) async for m in http_body_stream("text/csv", _chunks(*parts), size)]


async def test_the_store_chunks_are_recut_to_the_message_size_with_the_type_on_the_first() -> None:
    assert await _messages(b"abcdef", b"gh", b"ijklm") == [
        ("text/csv", b"abcd"), ("", b"efgh"), ("", b"ijkl"), ("", b"m"),
    ]  # fmt: skip
    assert await _messages(b"ab", b"cd") == [("text/csv", b"abcd")]


async def test_an_empty_file_is_one_message_that_still_carries_the_type() -> None:
    assert await _messages() == [("text/csv", b"")]
    assert await _messages(b"", b"") == [("text/csv", b"")]
