"""Every call carries a request id, bound to the call's log lines: the caller's
`x-request-id` when it sent one (echoed back as initial metadata, so through a REST
door `X-Request-Id` returns as a header), else a new one that is not sent back.
Echoing only what was sent spares the other calls a metadata send of their own.
"""

from __future__ import annotations

import uuid
from typing import Any, AsyncIterator, Awaitable, Callable

import grpc
import structlog

from controller.api.initial_metadata import AddingContext, Metadata

HEADER = "x-request-id"
_MAX_LENGTH = 128


def request_id_of(metadata: Metadata | None) -> str | None:
    """The caller's id when it is a short printable string."""
    for key, value in metadata or ():
        if key == HEADER and isinstance(value, str) and 0 < len(value) <= _MAX_LENGTH and value.isprintable():
            return value
    return None


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
        given = request_id_of(details.invocation_metadata)
        log_context = {"request_id": given or uuid.uuid4().hex, "method": details.method}

        def context_for(context: grpc.aio.ServicerContext) -> Any:
            return AddingContext(context, ((HEADER, given),)) if given else context

        async def headers_sent(context: Any) -> None:
            if isinstance(context, AddingContext):
                await context.send_initial_metadata()  # a no-op when the servicer already sent some

        kwargs = dict(request_deserializer=handler.request_deserializer, response_serializer=handler.response_serializer)
        if handler.unary_unary:
            behavior = handler.unary_unary

            async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
                wrapped = context_for(context)
                with structlog.contextvars.bound_contextvars(**log_context):
                    response = await behavior(request, wrapped)
                await headers_sent(wrapped)
                return response

            return grpc.unary_unary_rpc_method_handler(unary, **kwargs)

        stream_behavior = handler.unary_stream

        async def stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            wrapped = context_for(context)
            with structlog.contextvars.bound_contextvars(**log_context):
                async for item in stream_behavior(request, wrapped):
                    await headers_sent(wrapped)
                    yield item
            await headers_sent(wrapped)

        return grpc.unary_stream_rpc_method_handler(stream, **kwargs)
