"""API keys for people, the join token for new nodes, node credentials for nodes; checked on every RPC.

Health and reflection stay open, and so does every method marked
``(aifarm.options.v1.auth).allow_unauthenticated`` in its proto (read from the
descriptors, e.g. GetHealth and the documents' /health). The join token (the
"agent token") can call only AgentService.Register and the methods marked
``agent_only`` (a document's polling-agent API, whose calls then prove their node
with its handshake key); every other AgentService call is a node's, authenticated
by the node's own credential in the servicer (controller.api.node_caller); an API
key can call everything else.

Legacy-open groups. An original's client that cannot send credentials (ShelbyCompute's
agent) calls methods marked ``(aifarm.options.v1.auth).legacy_open = "GROUP"``. Such a
call is accepted without any credential only when the operator opened the group
(``--open-legacy GROUP``) and the caller's address is trusted: loopback or a
``--trusted-network CIDR``. The surface's servicers then prove the node another way
(ShelbyCompute: the handshake key bound at registration and the ack's HMAC). A call that
carries a credential is checked as always; a wrong one is never let through as legacy.

Who the caller is (`LegacyAccess.caller`): the gRPC peer's address, unless the peer is
itself trusted and sends ``x-forwarded-for``: then the peer is a REST door in front and
the caller is the last address in that header, the one the door saw on its socket
(both aifarm doors write the header from their socket, replacing any the client sent: the
gateway from the connection, Envoy with %DOWNSTREAM_DIRECT_REMOTE_ADDRESS%). Earlier entries,
from a proxy that appends, are what clients claimed and are never believed, and an untrusted
peer's header is ignored. So a door must be trusted to be
believed, and a proxy that forwards without setting the header makes every client look
like the proxy: put only aifarm's doors (or proxies that set the header so) in front.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Union

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
#: The header a REST door puts the client's address in.
FORWARDED_FOR = "x-forwarded-for"

Address = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]

#: The legacy-open group of the call being served, when it was let in without credentials.
_LEGACY_CALL: ContextVar[str | None] = ContextVar("legacy_call", default=None)


def legacy_call() -> str | None:
    """The legacy-open group the current call was admitted under without credentials, else None."""
    return _LEGACY_CALL.get()


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


def legacy_methods(services: Iterable[ServiceDescriptor]) -> dict[str, str]:
    """``/pkg.Service/Method`` -> the legacy-open group it is marked with."""
    found = {}
    for service in services:
        for method in service.methods:
            options = method.GetOptions()
            if options.HasExtension(auth_options_pb2.auth) and (group := options.Extensions[auth_options_pb2.auth].legacy_open):
                found[f"/{service.full_name}/{method.name}"] = group
    return found


def _address(text: str) -> Address | None:
    try:
        address = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:10.0.0.1 is 10.0.0.1
    return mapped or address


def peer_address(peer: str) -> Address | None:
    """The IP address of a gRPC peer string ("ipv4:127.0.0.1:5000", "ipv6:[::1]:5000"); None for others."""
    kind, _, rest = peer.partition(":")
    if kind == "ipv4":
        return _address(rest.rpartition(":")[0])
    if kind == "ipv6":
        return _address(rest.rpartition(":")[0])
    return None


@dataclass(frozen=True)
class LegacyAccess:
    """The legacy-open groups the operator opened (--open-legacy) and the networks trusted (--trusted-network)."""

    groups: frozenset[str] = frozenset()
    trusted_networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, groups: Iterable[str], networks: Iterable[str]) -> LegacyAccess:
        parsed = []
        for cidr in networks:
            try:
                parsed.append(ipaddress.ip_network(cidr, strict=False))
            except ValueError:
                raise ValueError(f"--trusted-network {cidr!r} is not a network: give a CIDR such as 10.0.0.0/24") from None
        return cls(frozenset(groups), tuple(parsed))

    def trusts(self, address: Address | None) -> bool:
        return address is not None and (address.is_loopback or any(address in n for n in self.trusted_networks))

    def caller(self, peer: str, metadata: Mapping[str, str]) -> Address | None:
        """Who is calling (the module's docstring gives the rule); None when it cannot be told."""
        address = peer_address(peer)
        forwarded = metadata.get(FORWARDED_FOR, "")
        if forwarded and self.trusts(address):
            return _address(forwarded.split(",")[-1])
        return address


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
        self, creds: Credentials, open_paths: frozenset[str] = frozenset(), agent_paths: frozenset[str] = frozenset(),
        legacy: LegacyAccess = LegacyAccess(), legacy_paths: Mapping[str, str] | None = None,
    ) -> None:  # fmt: skip
        self.creds = creds
        self.open_paths = open_paths
        self.agent_paths = agent_paths
        self.legacy = legacy
        #: Methods of the opened legacy groups -> their group.
        self.legacy_paths = {m: g for m, g in (legacy_paths or {}).items() if g in legacy.groups}

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
        group = self.legacy_paths.get(details.method)
        if group is not None and not presented_key(metadata) and handler.unary_unary:
            return _legacy_gate(handler, group, self.legacy, metadata, *denial)
        return _denying(handler, *denial)


def _legacy_gate(
    handler: grpc.RpcMethodHandler, group: str, legacy: LegacyAccess, metadata: Mapping[str, str],
    code: grpc.StatusCode, message: str,
) -> grpc.RpcMethodHandler:  # fmt: skip
    """A call without credentials to a method of an opened legacy group: served when its caller is trusted."""
    behavior = handler.unary_unary

    async def gate(request: Any, context: grpc.aio.ServicerContext) -> Any:
        caller = legacy.caller(context.peer(), metadata)
        if not legacy.trusts(caller):
            refusal = (f"{message}; without one, the legacy-open group {group!r} is served only to loopback and"
                       f" --trusted-network addresses, not to {caller or context.peer()}")  # fmt: skip
            await context.abort(code, refusal, trailing_metadata=status_trailer(code, refusal, "UNAUTHENTICATED"))
        token = _LEGACY_CALL.set(group)
        try:
            return await behavior(request, context)
        finally:
            _LEGACY_CALL.reset(token)

    return grpc.unary_unary_rpc_method_handler(
        gate, request_deserializer=handler.request_deserializer, response_serializer=handler.response_serializer
    )


def _denying(handler: grpc.RpcMethodHandler, code: grpc.StatusCode, message: str) -> grpc.RpcMethodHandler:
    reason = "UNAUTHENTICATED" if code is grpc.StatusCode.UNAUTHENTICATED else "PERMISSION_DENIED"

    async def deny(request: Any, context: grpc.aio.ServicerContext) -> Any:
        await context.abort(code, message, trailing_metadata=status_trailer(code, message, reason))

    async def deny_stream(request: Any, context: grpc.aio.ServicerContext) -> Any:
        await context.abort(code, message, trailing_metadata=status_trailer(code, message, reason))
        yield  # pragma: no cover - makes this an async generator

    # No request deserializer: a refused request is never decoded, so a body that cannot be decoded
    # is refused for its missing key first (the REST doors send such bytes to ask, gateway.server).
    kwargs = dict(request_deserializer=None, response_serializer=handler.response_serializer)
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(deny, **kwargs)
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(deny_stream, **kwargs)
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(deny, **kwargs)
    return grpc.stream_stream_rpc_method_handler(deny_stream, **kwargs)
