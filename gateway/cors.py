"""CORS for both REST doors, as ShelbyCompute's document configures FastAPI's CORSMiddleware:
the origins given, credentials allowed, every method, every header. Off unless origins are given.

The Python gateway answers with an aiohttp middleware (preflights) and a response-prepare hook
(every other response, streams and errors included, before its headers go out). aiohttp-cors
does not fit: it registers CORS per resource and refuses the gateway's one catch-all ``*`` route,
and it would not see the errors the handler answers itself. Envoy gets the same policy as its CORS
filter's ``CorsPolicy`` (gateway.envoy).

Both doors echo the request's origin (never ``*``: with credentials a browser refuses ``*``)
with ``Vary: Origin``, and say nothing at all to an origin not allowed: its preflight goes on to
the routes (a 405 or a 404) with no CORS header, so the browser refuses the call.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import structlog
from aiohttp import web

log = structlog.get_logger(__name__)

#: Starlette's expansion of ``allow_methods=["*"]``.
ALL_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")
#: Starlette's default ``max_age``: how long a browser may keep a preflight's answer.
MAX_AGE_SECONDS = 600
#: The headers Envoy allows (its filter cannot mirror the requested ones as Starlette's "*" does):
#: what the doors read, what the documents' clients send, and the CORS-safelisted ones.
ENVOY_ALLOW_HEADERS = (
    "accept", "accept-language", "authorization", "content-language", "content-type", "x-api-key",
    "x-request-id", "x-agent-token", "x-node-id", "x-requested-with", "cache-control", "last-event-id",
)  # fmt: skip
#: What a browser script may read from a response besides the safelisted headers.
EXPOSE_HEADERS = ("x-request-id", "x-total-count", "allow")
ANY_ORIGIN = "*"
_ORIGIN = re.compile(r"^[a-z][a-z0-9+.-]*://[^/?#\s]+$")


class CorsError(ValueError):
    """An origin that is not ``*`` nor ``scheme://host[:port]``."""


@dataclass(frozen=True)
class CorsPolicy:
    """The origins allowed to call with credentials; none: CORS is off."""

    origins: tuple[str, ...] = ()

    @classmethod
    def parse(cls, values: Iterable[str]) -> CorsPolicy:
        """Origins as given on the command line (``--cors-origin``); raises CorsError for a bad one."""
        origins: list[str] = []
        for value in values:
            origin = value.strip().rstrip("/")
            if origin != ANY_ORIGIN and not _ORIGIN.match(origin):
                raise CorsError(
                    f"bad CORS origin {value!r}: give scheme://host[:port] as a browser sends it"
                    " (e.g. https://dashboard.example.com, http://localhost:3000), or * for development"
                )
            if origin not in origins:
                origins.append(origin)
        return cls(tuple(origins))

    @property
    def enabled(self) -> bool:
        return bool(self.origins)

    @property
    def any_origin(self) -> bool:
        return ANY_ORIGIN in self.origins

    def allows(self, origin: str | None) -> bool:
        return bool(origin) and (self.any_origin or origin in self.origins)

    def log_start(self, door: str) -> None:
        """Say at start what the door allows; ``*`` loudly, since any web page may then call."""
        if self.any_origin:
            log.warning("cors.any_origin", door=door,
                        note="CORS allows every origin, with credentials: for development only;"
                             " give --cors-origin https://your.frontend instead")  # fmt: skip
        elif self.enabled:
            log.info("cors.enabled", door=door, origins=list(self.origins))

    def preflight_headers(self, origin: str, requested_headers: str | None) -> dict[str, str]:
        """Starlette's preflight answer for an allowed origin, the requested headers mirrored."""
        headers = {
            **self.response_headers(origin),
            "Access-Control-Allow-Methods": ", ".join(ALL_METHODS),
            "Access-Control-Max-Age": str(MAX_AGE_SECONDS),
        }
        if requested_headers:
            headers["Access-Control-Allow-Headers"] = requested_headers
        return headers

    def response_headers(self, origin: str) -> dict[str, str]:
        return {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Credentials": "true",
            "Access-Control-Expose-Headers": ", ".join(EXPOSE_HEADERS),
            "Vary": "Origin",
        }

    def envoy_policy(self) -> dict[str, Any]:
        """The same policy as the fields of Envoy's ``envoy.extensions.filters.http.cors.v3.CorsPolicy``."""
        if self.any_origin:
            matchers: list[dict[str, Any]] = [{"safe_regex": {"regex": ".+"}}]
        else:
            matchers = [{"exact": origin} for origin in self.origins]
        return {
            "allow_origin_string_match": matchers,
            "allow_methods": ", ".join(ALL_METHODS),
            "allow_headers": ", ".join(ENVOY_ALLOW_HEADERS),
            "expose_headers": ", ".join(EXPOSE_HEADERS),
            "max_age": str(MAX_AGE_SECONDS),
            "allow_credentials": True,
        }


def is_preflight(request: web.Request) -> bool:
    return request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers


def install(app: web.Application, policy: CorsPolicy) -> None:
    """Answer preflights from allowed origins and mark every response to them; nothing when off."""
    if not policy.enabled:
        return

    @web.middleware
    async def preflight(request: web.Request, handler: Any) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if is_preflight(request) and policy.allows(origin):
            assert origin is not None
            headers = policy.preflight_headers(origin, request.headers.get("Access-Control-Request-Headers"))
            return web.Response(status=200, headers=headers)
        return await handler(request)

    async def mark(request: web.Request, response: web.StreamResponse) -> None:
        # Before the headers go out: covers streamed replies and every error the handler answers.
        origin = request.headers.get("Origin")
        if policy.allows(origin) and "Access-Control-Allow-Origin" not in response.headers:
            assert origin is not None
            for name, value in policy.response_headers(origin).items():
                if name == "Vary" and response.headers.get("Vary"):
                    value = f"{response.headers['Vary']}, {value}"
                response.headers[name] = value

    app.middlewares.append(preflight)
    app.on_response_prepare.append(mark)
