"""/openapi.json, /docs (Swagger UI) and /redoc for one listener, with no internet needed.

The pages' scripts and stylesheets are served by the gateway from gateway/static (vendored
from the npm packages swagger-ui-dist and redoc: see its README), under ``ASSETS_PREFIX``.
Swagger UI's validator badge, which would call an outside service, is off.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from aiohttp import web

from gateway.listeners import Listener
from gateway.openapi import build_openapi
from gateway.routes import RouteTable

STATIC_DIR = Path(__file__).resolve().parent / "static"
ASSETS_PREFIX = "/docs/assets"
DOC_PATHS = ("/openapi.json", "/docs", "/redoc")
#: The files the pages load (a licence is served too, so a page's reader can see it).
ASSETS = {
    "swagger-ui/swagger-ui-bundle.js": "text/javascript",
    "swagger-ui/swagger-ui.css": "text/css",
    "swagger-ui/favicon-32x32.png": "image/png",
    "swagger-ui/LICENSE": "text/plain",
    "redoc/redoc.standalone.js": "text/javascript",
    "redoc/LICENSE": "text/plain",
}

_SWAGGER_HTML = """<!doctype html>
<html><head><meta charset="utf-8"><title>{title} - Swagger UI</title>
<link rel="icon" type="image/png" href="{assets}/swagger-ui/favicon-32x32.png">
<link rel="stylesheet" href="{assets}/swagger-ui/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="{assets}/swagger-ui/swagger-ui-bundle.js"></script>
<script>window.ui = SwaggerUIBundle({{url: "/openapi.json", dom_id: "#swagger-ui", validatorUrl: null}});</script>
</body></html>
"""
_REDOC_HTML = """<!doctype html>
<html><head><meta charset="utf-8"><title>{title} - ReDoc</title></head>
<body><redoc spec-url="/openapi.json"></redoc><script src="{assets}/redoc/redoc.standalone.js"></script></body></html>
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
        return web.Response(text=_SWAGGER_HTML.format(title=title, assets=ASSETS_PREFIX), content_type="text/html")

    async def redoc(_: web.Request) -> web.Response:
        return web.Response(text=_REDOC_HTML.format(title=title, assets=ASSETS_PREFIX), content_type="text/html")

    app.router.add_get("/openapi.json", spec)
    app.router.add_get("/docs", swagger)
    app.router.add_get("/redoc", redoc)
    for name, content_type in ASSETS.items():
        app.router.add_get(f"{ASSETS_PREFIX}/{name}", _asset(STATIC_DIR / name, content_type))


def _asset(path: Path, content_type: str) -> Any:
    """A handler for one vendored file, read on first request and kept (about 3 MiB in all)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the gateway's documentation assets must be installed with it")

    async def serve(_: web.Request) -> web.Response:
        headers = {"Cache-Control": "public, max-age=86400"}
        return web.Response(body=_read(path), content_type=content_type, headers=headers)

    return serve


@functools.cache
def _read(path: Path) -> bytes:
    return path.read_bytes()
