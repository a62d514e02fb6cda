"""/openapi.json, /docs (Swagger UI) and /redoc for one listener.

The pages load swagger-ui and redoc from a CDN in the viewer's browser: the
farm machines need no internet for this, the person reading the docs does.
The spec itself is served by the gateway and needs no network at all.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.listeners import Listener
from gateway.openapi import build_openapi
from gateway.routes import RouteTable

SWAGGER_UI = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5"
REDOC = "https://cdn.jsdelivr.net/npm/redoc@2/bundles/redoc.standalone.js"
DOC_PATHS = ("/openapi.json", "/docs", "/redoc")

_SWAGGER_HTML = """<!doctype html>
<html><head><meta charset="utf-8"><title>{title} - Swagger UI</title>
<link rel="stylesheet" href="{ui}/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="{ui}/swagger-ui-bundle.js"></script>
<script>window.ui = SwaggerUIBundle({{url: "/openapi.json", dom_id: "#swagger-ui"}});</script>
</body></html>
"""
_REDOC_HTML = """<!doctype html>
<html><head><meta charset="utf-8"><title>{title} - ReDoc</title></head>
<body><redoc spec-url="/openapi.json"></redoc><script src="{redoc}"></script></body></html>
"""


def add_routes(app: web.Application, listener: Listener, table: RouteTable) -> None:
    """Register the documentation routes; the spec is built on first request and kept."""
    title = f"aifarm ({listener.name})"
    cache: dict[str, Any] = {}

    async def spec(_: web.Request) -> web.Response:
        if "spec" not in cache:
            cache["spec"] = build_openapi(table, title=title)
        return web.json_response(cache["spec"])

    async def swagger(_: web.Request) -> web.Response:
        return web.Response(text=_SWAGGER_HTML.format(title=title, ui=SWAGGER_UI), content_type="text/html")

    async def redoc(_: web.Request) -> web.Response:
        return web.Response(text=_REDOC_HTML.format(title=title, redoc=REDOC), content_type="text/html")

    app.router.add_get("/openapi.json", spec)
    app.router.add_get("/docs", swagger)
    app.router.add_get("/redoc", redoc)
