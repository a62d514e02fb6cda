"""The Python gateway's streamed uploads: a client-streaming method whose body is a
google.api.HttpBody gets the HTTP body as a stream of messages, sent as it is read.

A real gateway in front of an in-process gRPC server that records what arrives.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import aiohttp
import grpc
import pytest

from gateway.listeners import Listener
from gateway.server import UPLOAD_PIECE_BYTES, Gateway

# The fixture's loop (session scope, pyproject) runs the tests too: grpc.aio objects stay in their loop.
pytestmark = pytest.mark.asyncio(loop_scope="session")

SERVICE = "gwtest.v1.GwTestService"
LIMIT = 3 * UPLOAD_PIECE_BYTES + 1000


@dataclass
class Recorder:
    """What the server saw; ``refuse_after``: abort RESOURCE_EXHAUSTED past that many bytes."""

    gwtest: ModuleType
    refuse_after: int | None = None
    messages: list[Any] = field(default_factory=list)
    outcome: str = ""

    async def handle(self, requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> Any:
        from controller.api.http_body import first_message, upload_pieces

        received = 0

        async def recording() -> AsyncIterator[Any]:
            async for message in requests:
                self.messages.append(message)
                yield message

        try:
            # A cancel can arrive before the first message does (the gateway answered 413 first).
            first = await first_message(requests)
            self.messages.append(first)
            # the controller's own reader: a cancelled stream never reads as a complete one
            async for data in upload_pieces(first, recording(), "file", context):
                received += len(data)
                if self.refuse_after is not None and received > self.refuse_after:
                    self.outcome = "refused"
                    await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "file is larger than the limit")
        except asyncio.CancelledError:
            self.outcome = "cancelled"
            raise
        self.outcome = "completed"
        return self.gwtest.Item(id=f"{first.name}:{first.etag}:{first.file.content_type}:{received}")


@pytest.fixture
async def door(gwtest: ModuleType) -> AsyncIterator[tuple[str, Recorder]]:
    recorder = Recorder(gwtest)
    handler = grpc.stream_unary_rpc_method_handler(
        recorder.handle,
        request_deserializer=gwtest.UploadRequest.FromString,
        response_serializer=gwtest.Item.SerializeToString,
    )
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, {"StreamUpload": handler}),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    gateway = Gateway(
        f"127.0.0.1:{port}", {"t": ("127.0.0.1", 0)}, table=[Listener("t", 0, (SERVICE,))],
        generated_package=None, max_body_bytes=1024, max_upload_bytes=LIMIT,
    )  # fmt: skip
    urls = await gateway.start()
    try:
        yield urls["t"], recorder
    finally:
        await gateway.shutdown()
        await server.stop(None)


async def _pieces(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]
        await asyncio.sleep(0)


async def _put(url: str, data: Any, **headers: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session:
        async with session.put(f"{url}/v1/uploads/u1:stream?etag=e7", data=data, headers=headers) as reply:
            return reply.status, await reply.json(content_type=None)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_the_body_arrives_as_a_stream_of_pieces(door: tuple[str, Recorder], chunked: bool) -> None:
    url, recorder = door
    content = bytes(range(256)) * (LIMIT // 256)
    data = _pieces(content, 100_000) if chunked else content
    status, body = await _put(url, data, **{"Content-Type": "text/csv"})
    assert status == 200, body
    assert body["id"] == f"uploads/u1:e7:text/csv:{len(content)}"
    assert recorder.outcome == "completed" and len(recorder.messages) > 3
    first, rest = recorder.messages[0], recorder.messages[1:]
    # path and query fields and the content type come in the first message only
    assert (first.name, first.etag, first.file.content_type) == ("uploads/u1", "e7", "text/csv")
    assert all((m.name, m.etag, m.file.content_type) == ("", "", "") for m in rest)
    assert all(0 < len(m.file.data) <= UPLOAD_PIECE_BYTES for m in rest)
    assert b"".join(m.file.data for m in recorder.messages) == content


async def test_an_empty_body_is_one_message(door: tuple[str, Recorder]) -> None:
    url, recorder = door
    status, body = await _put(url, b"", **{"Content-Type": "application/octet-stream"})
    assert status == 200, body
    assert len(recorder.messages) == 1 and recorder.messages[0].file.data == b""


async def test_a_body_over_the_gateways_limit_is_413_and_the_call_cancelled(door: tuple[str, Recorder]) -> None:
    url, recorder = door
    content = b"x" * (LIMIT + 1)
    status, body = await _put(url, _pieces(content, 64 * 1024))  # no Content-Length: counted as it streams
    assert status == 413 and body["code"] == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0], body
    # The cancellation reaches the server a moment after the 413: up to 10 s on a loaded machine
    # (1 s was too short for the whole suite on 2 cores).
    for _ in range(1000):
        if recorder.outcome:
            break
        await asyncio.sleep(0.01)
    assert recorder.outcome == "cancelled"  # the controller keeps nothing of a cancelled upload
    assert sum(len(m.file.data) for m in recorder.messages) <= LIMIT


async def test_a_declared_length_over_the_limit_is_413_before_any_call(door: tuple[str, Recorder]) -> None:
    url, recorder = door
    status, body = await _put(url, b"x" * (LIMIT + 1))
    assert status == 413 and "larger than" in body["message"]
    assert recorder.messages == []


async def test_a_refusal_part_way_keeps_the_servers_status(door: tuple[str, Recorder]) -> None:
    """The server ends the call before the body's end: its RESOURCE_EXHAUSTED (the method's 413)
    is answered, not the INTERNAL that grpc.aio's write would make of it."""
    url, recorder = door
    recorder.refuse_after = UPLOAD_PIECE_BYTES
    status, body = await _put(url, _pieces(b"y" * LIMIT, 32 * 1024))
    assert status == 413, body
    assert body["code"] == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0] and "limit" in body["message"]
    assert recorder.outcome == "refused"
