"""API keys for people, the join token for new nodes, node credentials for nodes; checked on every RPC.

Health and reflection stay open, and so does every method marked
``(aifarm.options.v1.auth).allow_unauthenticated`` in its proto (read from the
descriptors, e.g. GetHealth and the documents' /health). The join token (the
"agent token") can call only AgentService.Register and the methods marked
``agent_only`` (a document's polling-agent API, whose calls then prove their node
with its handshake key); every other AgentService call is a node's, authenticated
by the node's own credential in the servicer (controller.api.node_caller); an API
key can call everything else.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

import grpc
from google.protobuf.descriptor import ServiceDescriptor

from aifarm.options.v1 import auth_options_pb2
from controller.api.errors import status_trailer

#: Services that are not aifarm's own protos, so carry no auth option.
OPEN_PREFIXES = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)
AGENT_PREFIX = "/aifarm.v1.AgentService/"
REGISTER_PATH = f"{AGENT_PREFIX}Register"


@dataclass
class Credentials:
    api_keys: frozenset[str]
    #: The join token new nodes register with ("agent token"); replaced in place when rotated.
    agent_token: str
    #: False only with --no-auth.
    enabled: bool = True


def presented_key(metadata: dict[str, str]) -> str:
    auth = metadata.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return metadata.get("x-api-key", "").strip()


def _matches(key: str, candidates: frozenset[str] | tuple[str, ...]) -> bool:
    # compare_digest on every candidate: no early exit that leaks which key was close.
    return bool(key) and sum(hmac.compare_digest(key.encode(), c.encode()) for c in candidates) > 0


def open_methods(services: Iterable[ServiceDescriptor]) -> frozenset[str]:
    """The ``/pkg.Service/Method`` paths of the methods marked allow_unauthenticated."""
    return _marked(services, "allow_unauthenticated")


def agent_methods(services: Iterable[ServiceDescriptor]) -> frozenset[str]:
    """The ``/pkg.Service/Method`` paths of the methods marked agent_only."""
    return _marked(services, "agent_only")


def _marked(services: Iterable[ServiceDescriptor], flag: str) -> frozenset[str]:
    found = set()
    for service in services:
        for method in service.methods:
            options = method.GetOptions()
            if options.HasExtension(auth_options_pb2.auth) and getattr(options.Extensions[auth_options_pb2.auth], flag):
                found.add(f"/{service.full_name}/{method.name}")
    return frozenset(found)


def check(
    creds: Credentials,
    method: str,
    metadata: dict[str, str],
    open_paths: frozenset[str] = frozenset(),
    agent_paths: frozenset[str] = frozenset(),
) -> tuple[grpc.StatusCode, str] | None:
    """None when the call may go on, else the status to answer with."""
    if not creds.enabled or method.startswith(OPEN_PREFIXES) or method in open_paths:
        return None
    key = presented_key(metadata)
    is_agent = _matches(key, (creds.agent_token,))
    is_user = _matches(key, creds.api_keys)
    if method == REGISTER_PATH or method in agent_paths:
        if is_agent:
            return None
        if is_user:
            return grpc.StatusCode.PERMISSION_DENIED, "agent methods need the join token, not an API key"
        return grpc.StatusCode.UNAUTHENTICATED, "missing or invalid join token (agent --token-file or AIFARM_AGENT_TOKEN)"
    if method.startswith(AGENT_PREFIX):
        # A node's own call: its credential (certificate or node secret) is checked by the servicer.
        if is_user:
            return grpc.StatusCode.PERMISSION_DENIED, "agent methods need a node's credential, not an API key"
        return None
    if is_user:
        return None
    if is_agent:
        return grpc.StatusCode.PERMISSION_DENIED, "the join token can only register nodes; use an API key"
    return (
        grpc.StatusCode.UNAUTHENTICATED,
        "missing or invalid API key: send 'authorization: Bearer <key>' or 'x-api-key: <key>'",
    )


class AuthInterceptor(grpc.aio.ServerInterceptor):
    def __init__(
        self, creds: Credentials, open_paths: frozenset[str] = frozenset(), agent_paths: frozenset[str] = frozenset()
    ) -> None:
        self.creds = creds
        self.open_paths = open_paths
        self.agent_paths = agent_paths

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        metadata = {k: v for k, v in (details.invocation_metadata or ()) if isinstance(v, str)}
        denial = check(self.creds, details.method, metadata, self.open_paths, self.agent_paths)
        handler = await continuation(details)
        if denial is None or handler is None:
            return handler
        return _denying(handler, *denial)


def _denying(handler: grpc.RpcMethodHandler, code: grpc.StatusCode, message: str) -> grpc.RpcMethodHandler:
    reason = "UNAUTHENTICATED" if code is grpc.StatusCode.UNAUTHENTICATED else "PERMISSION_DENIED"

    async def deny(request: Any, context: grpc.aio.ServicerContext) -> Any:
        await context.abort(code, message, trailing_metadata=status_trailer(code, message, reason))

    async def deny_stream(request: Any, context: grpc.aio.ServicerContext) -> Any:
        await context.abort(code, message, trailing_metadata=status_trailer(code, message, reason))
        yield  # pragma: no cover - makes this an async generator

    kwargs = dict(request_deserializer=handler.request_deserializer, response_serializer=handler.response_serializer)
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(deny, **kwargs)
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(deny_stream, **kwargs)
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(deny, **kwargs)
    return grpc.stream_stream_rpc_method_handler(deny_stream, **kwargs)
