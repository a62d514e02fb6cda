"""Rate limits per caller, declared per service in the protos
(`(aifarm.options.v1.http_service).rate_limit_per_minute`): a token bucket for each API key
(or, for a legacy caller without one, its address) and surface (the services' proto package,
such as aifarm.compat.aifarm.v1: the document's limit is for its whole API). Every answer of such a
service carries X-RateLimit-Limit, -Remaining and -Reset (initial metadata, which both REST
doors answer as headers: replies and errors alike); an empty bucket is RESOURCE_EXHAUSTED
(429) with those headers and the surface's error body.

In memory: a controller restart refills every bucket, which errs on the side of the caller.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Awaitable

import grpc
from google.protobuf.descriptor import ServiceDescriptor

from aifarm.options.v1 import http_options_pb2
from controller.api.auth import presented_key
from controller.api.errors import status_trailer
from controller.api.initial_metadata import AddingContext, Metadata

#: Buckets kept at most (the least recently used go first): bounded memory under many keys.
MAX_BUCKETS = 100_000


@dataclass
class TokenBucket:
    """`capacity` tokens, refilled continuously over a minute."""

    capacity: int
    tokens: float
    updated: float

    def take(self, now: float) -> bool:
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.capacity / 60.0)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def headers(self, now: float) -> tuple[tuple[str, str], ...]:
        """X-RateLimit-*: Reset is the Unix time at which the bucket is full again."""
        full_in = (self.capacity - self.tokens) * 60.0 / self.capacity
        return (("x-ratelimit-limit", str(self.capacity)), ("x-ratelimit-remaining", str(math.floor(self.tokens))),
                ("x-ratelimit-reset", str(math.ceil(time.time() + full_in))))  # fmt: skip


def declared_limits(services: Iterable[ServiceDescriptor], override: int | None = None) -> dict[str, int]:
    """``/pkg.Service/Method`` -> requests per minute, for the services that declare a limit.
    `override`: None keeps what is declared, 0 turns every limit off, N sets each to N."""
    limits: dict[str, int] = {}
    for service in services:
        options = service.GetOptions()
        if not options.HasExtension(http_options_pb2.http_service):
            continue
        declared = options.Extensions[http_options_pb2.http_service].rate_limit_per_minute
        limit = declared if override is None or not declared else override
        if limit > 0:
            limits.update({f"/{service.full_name}/{m.name}": limit for m in service.methods})
    return limits


class _HeadedContext(AddingContext):
    """Adds the rate-limit headers before an error (an abort) too, so that every answer carries them."""

    async def abort(self, code: grpc.StatusCode, details: str = "", trailing_metadata: Metadata = ()) -> None:
        await self.send_initial_metadata()
        await self._context.abort(code, details, trailing_metadata)


class RateLimitInterceptor(grpc.aio.ServerInterceptor):
    """Limits the unary methods of `limits` (declared_limits); every other call passes untouched."""

    def __init__(self, limits: dict[str, int], clock: Callable[[], float] = time.monotonic) -> None:
        self._limits = limits
        self._clock = clock
        self._buckets: OrderedDict[tuple[str, str], TokenBucket] = OrderedDict()

    def _bucket(self, caller: str, surface: str, limit: int) -> TokenBucket:
        key = (caller, surface)
        bucket = self._buckets.get(key)
        if bucket is None or bucket.capacity != limit:
            bucket = self._buckets[key] = TokenBucket(limit, float(limit), self._clock())
            if len(self._buckets) > MAX_BUCKETS:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        return bucket

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        limit = self._limits.get(details.method)
        if handler is None or limit is None or not handler.unary_unary:
            return handler
        metadata = {k: v for k, v in details.invocation_metadata or () if isinstance(v, str)}
        behavior = handler.unary_unary
        surface = details.method.split("/")[1].rsplit(".", 1)[0]  # "/pkg.Service/Method" -> "pkg"

        async def limited(request: Any, context: grpc.aio.ServicerContext) -> Any:
            caller = presented_key(metadata) or metadata.get("x-forwarded-for", "") or context.peer()
            bucket = self._bucket(caller, surface, limit)
            now = self._clock()
            allowed = bucket.take(now)
            headed = _HeadedContext(context, bucket.headers(now))
            if not allowed:
                message = f"rate limit of {limit} requests a minute exceeded; retry after X-RateLimit-Reset"
                code = grpc.StatusCode.RESOURCE_EXHAUSTED
                await headed.abort(code, message, status_trailer(code, message, "RATE_LIMIT_EXCEEDED"))
            response = await behavior(request, headed)
            await headed.send_initial_metadata()  # a no-op when the servicer sent its own
            return response

        return grpc.unary_unary_rpc_method_handler(
            limited, request_deserializer=handler.request_deserializer, response_serializer=handler.response_serializer
        )
