"""Binary downloads and uploads as streams of ``google.api.HttpBody`` messages.

A download is never held whole in memory: the store's chunks are re-cut into
messages of at most ``CHUNK_BYTES`` (well under gRPC's 4 MiB message limit) and
sent as they are read. Only the first message carries the content type; both
REST doors take it as the response's Content-Type and write the data of every
message, in order, as the body.

Uploads come the other way the same: a client stream whose first message carries
the names (the REST query and path fields) and the content type, and whose every
message carries the next piece of the file; the pieces go to the blob store as
they arrive, so an upload is never held whole either.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any, TypeVar

from google.api import httpbody_pb2

from controller.domain.errors import InvalidArgument

CHUNK_BYTES = 256 * 1024
T = TypeVar("T")


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


async def first_message(requests: AsyncIterator[T]) -> T:
    """The first message of a client-streamed upload (it carries the names); InvalidArgument when there is none."""
    try:
        return await anext(aiter(requests))
    except StopAsyncIteration:
        raise InvalidArgument("the upload stream sent no message") from None


async def upload_pieces(first: T, requests: AsyncIterator[T], field: str, context: Any = None) -> AsyncIterator[bytes]:
    """The file's pieces, in order: the ``field`` HttpBody data of the first message, then of each later one.

    Later messages' other fields (names, content type) are ignored: they come in the first only.
    With ``context`` (the servicer's), a stream the client cancelled is never taken for a
    complete file: grpc.aio may end the request iterator of a cancelled call as if it had
    ended normally before the handler's cancellation arrives.
    """
    data = getattr(first, field).data
    if data:
        yield data
    async for message in requests:
        data = getattr(message, field).data
        if data:
            yield data
    if context is not None:
        await asyncio.sleep(0)  # let a cancellation from the transport land first
        if context.cancelled() or context.done():
            raise asyncio.CancelledError("the upload was cancelled by the client")
