"""A request that does not decode is the caller's error: INVALID_ARGUMENT, not UNKNOWN.

grpcio answers UNKNOWN (a 500 through a REST door) when a request's bytes fail to
parse, e.g. a google.protobuf.Struct nested past protobuf's recursion limit, which
Envoy's transcoder lets through. This interceptor takes the raw bytes of every
unary request and decodes them itself, so it can say what was wrong.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import structlog
from google.protobuf.message import DecodeError

from controller.api.errors import status_trailer

log = structlog.get_logger(__name__)


class RequestDecodingInterceptor(grpc.aio.ServerInterceptor):
    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None or handler.request_streaming or handler.request_deserializer is None:
            return handler
        parse, method = handler.request_deserializer, details.method

        async def decoded(raw: bytes, context: grpc.aio.ServicerContext) -> Any:
            try:
                return parse(raw)
            except (DecodeError, RecursionError, ValueError) as exc:
                message = f"the request to {method} cannot be decoded ({exc}); nest messages less deeply"
                log.info("refusing a request that does not decode", method=method, error=str(exc))
                code = grpc.StatusCode.INVALID_ARGUMENT
                await context.abort(code, message, trailing_metadata=status_trailer(code, message, "BAD_REQUEST"))

        kwargs = dict(request_deserializer=None, response_serializer=handler.response_serializer)
        if handler.unary_unary:
            unary_behavior = handler.unary_unary

            async def unary(raw: bytes, context: grpc.aio.ServicerContext) -> Any:
                return await unary_behavior(await decoded(raw, context), context)

            return grpc.unary_unary_rpc_method_handler(unary, **kwargs)
        stream_behavior = handler.unary_stream

        async def stream(raw: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            async for item in stream_behavior(await decoded(raw, context), context):
                yield item

        return grpc.unary_stream_rpc_method_handler(stream, **kwargs)
