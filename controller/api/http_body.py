"""Binary downloads as a stream of ``google.api.HttpBody`` messages.

A download is never held whole in memory: the store's chunks are re-cut into
messages of at most ``CHUNK_BYTES`` (well under gRPC's 4 MiB message limit) and
sent as they are read. Only the first message carries the content type; both
REST doors take it as the response's Content-Type and write the data of every
message, in order, as the body.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator

from google.api import httpbody_pb2

CHUNK_BYTES = 256 * 1024


async def http_body_stream(
    content_type: str, chunks: AsyncIterable[bytes], chunk_bytes: int = CHUNK_BYTES
) -> AsyncIterator[httpbody_pb2.HttpBody]:
    """Messages of ``chunk_bytes`` (the last may be shorter); one with no data for an empty file."""
    first = True
    pending = bytearray()
    async for chunk in chunks:
        pending += chunk
        while len(pending) >= chunk_bytes:
            data = bytes(pending[:chunk_bytes])
            del pending[:chunk_bytes]
            yield _message(content_type if first else "", data)
            first = False
    if pending or first:
        yield _message(content_type if first else "", bytes(pending))


def _message(content_type: str, data: bytes) -> httpbody_pb2.HttpBody:
    return httpbody_pb2.HttpBody(content_type=content_type, data=data)
