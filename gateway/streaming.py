"""Server-streaming methods over HTTP: newline-delimited JSON, or SSE on request;
a ``google.api.HttpBody`` stream (a download) is its messages' bytes, unframed.

Headers wait for the first message (or the end of the stream), so that an
error before any output still gets its proper HTTP status. An error after
output has started can no longer change the status: it is sent as a last
``{"error": {...}}`` line, or as an ``event: error`` in SSE.
"""

from __future__ import annotations

from typing import Any

import grpc
from aiohttp import web

from gateway import errors
from gateway.metadata import headers_from_metadata
from gateway.routes import Route
from gateway.transcode import dumps, render_response

NDJSON = "application/x-ndjson"
SSE = "text/event-stream"


def wants_sse(request: web.Request) -> bool:
    return SSE in request.headers.get("Accept", "")


async def stream_response(request: web.Request, route: Route, call: Any) -> web.StreamResponse:
    sse = wants_sse(request)
    try:
        first = await call.read()
        initial = await call.initial_metadata()
    except grpc.aio.AioRpcError as exc:
        code, payload = errors.error_payload(errors.status_of(exc), route.error_statuses, errors.shape_for(route))
        headers = headers_from_metadata(exc.initial_metadata())
        return web.Response(status=code, body=payload, content_type="application/json", headers=headers)
    response = web.StreamResponse(status=route.success_code if route.success_code != 204 else 200)
    response.headers.extend(headers_from_metadata(initial))
    # A google.api.HttpBody stream is one download in chunks, never framed (as in Envoy),
    # whatever the client accepts.
    raw = route.raw_response_body
    sse = sse and not raw
    # (An empty HttpBody stream is an empty download, not an empty NDJSON document.)
    response.content_type = "application/octet-stream" if raw else SSE if sse else NDJSON
    if sse:
        response.headers["Cache-Control"] = "no-cache"
    message = first
    content_type_set = False
    try:
        while message is not grpc.aio.EOF:
            rendered = render_response(route, message)
            if raw:
                # HttpBody streams are one download in chunks; the first sets its type.
                if not content_type_set:
                    # As the unary path does: the type exactly as the message gives it.
                    response.headers["Content-Type"] = rendered.content_type
                    await response.prepare(request)
                    content_type_set = True
                await response.write(rendered.body)
            else:
                if not response.prepared:
                    await response.prepare(request)
                await response.write(_frame(rendered.body, sse))
            message = await call.read()
        if not response.prepared:
            await response.prepare(request)
    except grpc.aio.AioRpcError as exc:
        if not response.prepared:
            await response.prepare(request)
        # Past the headers a stream's error is google.rpc.Status JSON, whatever the surface's shape.
        body = dumps(errors.status_json(errors.status_of(exc)))
        if sse:
            await response.write(b"event: error\ndata: " + body + b"\n\n")
        elif not raw:
            await response.write(b'{"error":' + body + b"}\n")
        else:
            # A raw download cannot carry a JSON error: cut it so the client sees it is short.
            request.transport and request.transport.close()
            return response
    await response.write_eof()
    return response


def _frame(body: bytes, sse: bool) -> bytes:
    return b"data: " + body + b"\n\n" if sse else body + b"\n"
