"""HTTP headers <-> gRPC metadata."""

from __future__ import annotations

from collections.abc import Iterable

from multidict import CIMultiDict

# Hop-by-hop and transport headers that describe the HTTP/1.1 connection or the
# JSON body, not the call; gRPC sets its own versions of the last ones.
_SKIP_REQUEST = frozenset(
    {
        "connection", "keep-alive", "proxy-connection", "proxy-authorization", "proxy-authenticate",
        "transfer-encoding", "te", "trailer", "upgrade", "host", "content-length", "content-type",
        "expect", "http2-settings", "accept-encoding", "content-encoding", "user-agent",
    }
)
_SKIP_RESPONSE = frozenset({"content-type", "content-length", "transfer-encoding", "connection", "date", "server"})


def _printable(value: str) -> bool:
    # gRPC ASCII metadata values allow visible ASCII and space only: for ASCII text, exactly what
    # isprintable() says (0x20-0x7E), in C rather than a loop over the characters of every header.
    return value.isascii() and value.isprintable()


def metadata_from_headers(headers: Iterable[tuple[str, str]], client: str | None = None) -> list[tuple[str, str]]:
    """Request headers as gRPC metadata: lower-cased, hop-by-hop and unsafe ones dropped.

    `client` (the socket's peer address) becomes x-forwarded-for, replacing any the client sent:
    the controller believes that header from a trusted door only (controller.api.auth).
    """
    out: list[tuple[str, str]] = []
    for name, value in headers:
        key = name.lower()
        if (
            key in _SKIP_REQUEST
            or key == "x-forwarded-for"
            or key.startswith((":", "grpc-"))
            or key.endswith("-bin")  # would need base64 of binary; no REST client sends these
            or not key.isascii()
            or not _printable(value)
        ):
            continue
        out.append((key, value))
    if client:
        out.append(("x-forwarded-for", client))
    return out


def headers_from_metadata(metadata: Iterable[tuple[str, str | bytes]] | None) -> CIMultiDict[str]:
    """gRPC initial metadata as response headers (binary and transport keys dropped)."""
    out: CIMultiDict[str] = CIMultiDict()
    for key, value in metadata or ():
        if key in _SKIP_RESPONSE or key.startswith((":", "grpc-")) or isinstance(value, bytes):
            continue
        out.add(key, value)
    return out
