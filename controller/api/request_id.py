"""Every call carries a request id: taken from `x-request-id` or made up, bound to
the call's log lines, and echoed back as initial metadata.

Through a REST door the id arrives as the `X-Request-Id` header and returns as
one, so a person can find a failed request in the controller's log.
"""

from __future__ import annotations

import uuid
from typing import Any, AsyncIterator, Awaitable, Callable, Sequence

import grpc
import structlog

HEADER = "x-request-id"
_MAX_LENGTH = 128


def request_id_of(metadata: Sequence[tuple[str, str | bytes]] | None) -> str:
    """The caller's id when it is a short printable string, else a new one."""
    for key, value in metadata or ():
        if key == HEADER and isinstance(value, str) and 0 < len(value) <= _MAX_LENGTH and value.isprintable():
            return value
    return uuid.uuid4().hex


class _EchoingContext:
    """The servicer's context, adding the request id to whatever initial metadata it sends."""

    def __init__(self, context: grpc.aio.ServicerContext, request_id: str) -> None:
        self._context = context
        self._request_id = request_id
        self.headers_sent = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)

    async def send_initial_metadata(self, metadata: Sequence[tuple[str, str | bytes]] = ()) -> None:
        await self.send_headers(metadata)

    async def send_headers(self, metadata: Sequence[tuple[str, str | bytes]] = ()) -> None:
        if not self.headers_sent:
            self.headers_sent = True
            await self._context.send_initial_metadata(((HEADER, self._request_id), *metadata))


class RequestIdInterceptor(grpc.aio.ServerInterceptor):
    """Wraps unary and server-streaming handlers; the agent's bidi stream is left alone."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None or handler.request_streaming:
            return handler
        request_id = request_id_of(details.invocation_metadata)
        method = details.method
        kwargs = dict(request_deserializer=handler.request_deserializer, response_serializer=handler.response_serializer)
        if handler.unary_unary:
            behavior = handler.unary_unary

            async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
                echoing = _EchoingContext(context, request_id)
                with structlog.contextvars.bound_contextvars(request_id=request_id, method=method):
                    response = await behavior(request, echoing)
                await echoing.send_headers()
                return response

            return grpc.unary_unary_rpc_method_handler(unary, **kwargs)

        stream_behavior = handler.unary_stream

        async def stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            echoing = _EchoingContext(context, request_id)
            with structlog.contextvars.bound_contextvars(request_id=request_id, method=method):
                async for item in stream_behavior(request, echoing):
                    await echoing.send_headers()
                    yield item
            await echoing.send_headers()

        return grpc.unary_stream_rpc_method_handler(stream, **kwargs)
