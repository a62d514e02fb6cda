"""The Python REST door: one aiohttp app per listener, one gRPC channel to the controller.

Nothing here knows an endpoint: the route table comes from the descriptors
(gateway.routes), the request/response mapping from gateway.transcode.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import grpc
from grpc._cython import cygrpc
import structlog
from aiohttp import web
from google.protobuf import descriptor_pool
from google.protobuf.message import Message

from gateway import cors, docs, errors
from gateway.descriptors import find_services, import_generated
from gateway.http_rule import UnescapeSpec
from gateway.listeners import DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_UPLOAD_BYTES, LISTENERS, Listener, by_name, served_url
from gateway.metadata import headers_from_metadata, metadata_from_headers
from gateway.routes import Match, Route, RouteTable
from gateway.streaming import stream_response
from gateway.transcode import TranscodeError, build_request, parse_query, render_response

log = structlog.get_logger(__name__)

_CHUNK = 256 * 1024
#: Largest piece of a streamed upload sent as one message.
UPLOAD_PIECE_BYTES = 256 * 1024


@dataclass
class _Door:
    """One running listener."""

    listener: Listener
    table: RouteTable
    runner: web.AppRunner
    url: str = ""


@dataclass
class _Calls:
    """gRPC callables per method path, made once per channel."""

    channel: grpc.aio.Channel
    unary: dict[str, Any] = field(default_factory=dict)
    stream: dict[str, Any] = field(default_factory=dict)
    upload: dict[str, Any] = field(default_factory=dict)

    def unary_for(self, route: Route) -> Any:
        if route.grpc_path not in self.unary:
            self.unary[route.grpc_path] = self.channel.unary_unary(
                route.grpc_path, request_serializer=_serialize, response_deserializer=route.parse_response
            )
        return self.unary[route.grpc_path]

    def stream_for(self, route: Route) -> Any:
        if route.grpc_path not in self.stream:
            self.stream[route.grpc_path] = self.channel.unary_stream(
                route.grpc_path, request_serializer=_serialize, response_deserializer=route.parse_response
            )
        return self.stream[route.grpc_path]

    def upload_for(self, route: Route) -> Any:
        """A client-streaming callable (stream-stream when the reply is a stream too)."""
        if route.grpc_path not in self.upload:
            make = self.channel.stream_stream if route.server_streaming else self.channel.stream_unary
            self.upload[route.grpc_path] = make(
                route.grpc_path, request_serializer=_serialize, response_deserializer=route.parse_response
            )
        return self.upload[route.grpc_path]


def _serialize(msg: Message) -> bytes:
    return msg.SerializeToString()


def _server_ssl(cert_file: Path | None, key_file: Path | None) -> ssl.SSLContext | None:
    """HTTPS for the listeners (TLS 1.2 and up, Python's secure defaults); None: plain HTTP."""
    if cert_file is None and key_file is None:
        return None
    if cert_file is None or key_file is None:
        raise ValueError("HTTPS needs both a certificate file and its key file")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context


class Gateway:
    """REST -> gRPC transcoder for the listeners given.

    ``listeners`` maps a listener name of the table to ``(host, port)``; port 0
    picks a free port. Listeners whose table entry has no services are skipped.
    Request bodies above ``max_body_bytes`` are answered 413; routes whose body is
    a ``google.api.HttpBody`` (uploads) allow ``max_upload_bytes`` instead. A unary
    call holds its body whole (the controller's ``grpc.max_receive_message_length``
    must be at least as large); a client-streaming upload is sent on as it is read,
    one message per piece of at most ``UPLOAD_PIECE_BYTES``, and is cut off with a
    413 as soon as it passes ``max_upload_bytes``.

    TLS: with ``tls_cert_file`` and ``tls_key_file`` every listener serves HTTPS; with
    ``controller_ca`` (PEM) the channel to the controller is TLS, verified against it.

    ``sockets`` gives a listener sockets already bound and listening instead of its ``(host,
    port)`` (which then only names it): `aifarm up`'s workers share the port that way.
    """

    def __init__(
        self,
        controller_target: str,
        listeners: Mapping[str, tuple[str, int]],
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
        table: Sequence[Listener] = LISTENERS,
        pool: descriptor_pool.DescriptorPool | None = None,
        generated_package: str | None = "aifarm",
        unescape: UnescapeSpec = UnescapeSpec.ALL_CHARACTERS_EXCEPT_RESERVED,
        channel_options: Sequence[tuple[str, Any]] = (),
        controller_ca: bytes | None = None,
        tls_cert_file: Path | None = None,
        tls_key_file: Path | None = None,
        cors_policy: cors.CorsPolicy = cors.CorsPolicy(),
        sockets: Mapping[str, Sequence[socket.socket]] | None = None,
        websocket: tuple[str, int] | None = None,
        websocket_ping_seconds: float | None = None,
        websocket_state_file: Path | None = None,
    ) -> None:
        self._target = controller_target
        self._sockets = dict(sockets or {})
        self._controller_ca = controller_ca
        self._ssl = _server_ssl(tls_cert_file, tls_key_file)
        self._cors = cors_policy
        self._binds = dict(listeners)
        self._max_body = max_body_bytes
        self._max_upload = max(max_upload_bytes, max_body_bytes)
        self._table = by_name(table)
        self._pool = pool
        self._package = generated_package
        self._unescape = unescape
        self._channel_options = [
            ("grpc.max_send_message_length", -1),
            ("grpc.max_receive_message_length", -1),
            *channel_options,
        ]
        self._doors: dict[str, _Door] = {}
        self._calls: _Calls | None = None
        #: AI Farm's WebSocket workers (gateway.websocket_door): its own listener, the same channel.
        self._websocket_bind = websocket
        self._websocket_ping = websocket_ping_seconds
        self._websocket_state = websocket_state_file
        self._websocket: Any = None
        self._started = False

    async def start(self) -> dict[str, str]:
        """Bind every listener that has services; returns name -> base URL actually bound."""
        if self._started:
            return self.urls
        self._started = True
        self._cors.log_start("gateway")
        if self._package:
            import_generated(self._package)
        unknown = set(self._binds) - set(self._table)
        if unknown:
            raise KeyError(f"unknown listeners {sorted(unknown)}; known: {sorted(self._table)}")
        self._calls = _Calls(self._channel())
        try:
            for name, (host, port) in self._binds.items():
                listener = self._table[name]
                if not listener.services:
                    log.info("gateway.listener_skipped", listener=name, reason="no services")
                    continue
                table = RouteTable.for_services(find_services(listener.services, self._pool), self._unescape)
                door = await self._serve(listener, table, host, port)
                self._doors[name] = door
                log.info("gateway.listening", listener=name, url=door.url, routes=len(table.routes), upstream=self._target)
            if self._websocket_bind is not None:
                await self._start_websocket()
        except BaseException:
            await self.shutdown()
            raise
        return self.urls

    async def _start_websocket(self) -> None:
        from gateway.websocket_door import DEFAULT_PING_SECONDS, WebSocketDoor

        assert self._calls is not None
        assert self._websocket_bind is not None
        host, port = self._websocket_bind
        self._websocket = WebSocketDoor(self._calls.channel, host, port, ssl_context=self._ssl,
                                        ping_seconds=self._websocket_ping or DEFAULT_PING_SECONDS,
                                        state_file=self._websocket_state)  # fmt: skip
        await self._websocket.start()

    @property
    def websocket_urls(self) -> dict[str, str]:
        """``{"aifarm": "ws://..."}`` while the WebSocket door serves (endpoints.json's "websocket")."""
        from gateway.websocket_door import LISTENER_NAME

        return {LISTENER_NAME: self._websocket.url} if self._websocket is not None else {}

    def _channel(self) -> grpc.aio.Channel:
        if self._controller_ca is None:
            return grpc.aio.insecure_channel(self._target, options=self._channel_options)
        credentials = grpc.ssl_channel_credentials(root_certificates=self._controller_ca)
        return grpc.aio.secure_channel(self._target, credentials, options=self._channel_options)

    @property
    def urls(self) -> dict[str, str]:
        return {name: door.url for name, door in self._doors.items()}

    async def shutdown(self) -> None:
        """Stop listening and close the channel; safe to call twice."""
        websocket, self._websocket = self._websocket, None
        if websocket is not None:
            await websocket.shutdown()
        doors, self._doors = self._doors, {}
        for door in doors.values():
            await door.runner.cleanup()
        calls, self._calls = self._calls, None
        if calls is not None:
            await calls.channel.close()

    async def _serve(self, listener: Listener, table: RouteTable, host: str, port: int) -> _Door:
        # The body limit is enforced per route in _read_body, so aiohttp's own is lifted.
        app = web.Application(client_max_size=self._max_upload + 1)
        app.on_response_prepare.append(_add_route_headers)
        cors.install(app, self._cors)
        docs.add_routes(app, listener, table)
        app.router.add_route("*", "/{tail:.*}", self._make_handler(table))
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        sockets = self._sockets.get(listener.name)
        sites = ([web.SockSite(runner, sock, ssl_context=self._ssl) for sock in sockets] if sockets
                 else [web.TCPSite(runner, host, port, reuse_address=True, ssl_context=self._ssl)])  # fmt: skip
        for site in sites:
            await site.start()
        scheme = "https" if self._ssl is not None else "http"
        return _Door(listener, table, runner, served_url(scheme, host, *runner.addresses[0][:2]))

    def _make_handler(self, table: RouteTable) -> Any:
        path_shapes = errors.PathShapes.of(table.routes)

        async def handle(request: web.Request) -> web.StreamResponse:
            try:
                return await self._handle(table, request, path_shapes)
            except (web.HTTPException, ConnectionError):
                raise
            except Exception:
                # A bug, not bad input (that is a TranscodeError, a 400): logged with its request,
                # answered INTERNAL in the usual error body rather than aiohttp's text/plain 500.
                log.exception("gateway.unexpected_error", method=request.method, path=request.rel_url.raw_path,
                              request_id=request.headers.get("x-request-id", ""))  # fmt: skip
                return error_response(grpc.StatusCode.INTERNAL, "the gateway failed on this request; its log says why",
                                      shape=path_shapes.for_path(request.rel_url.raw_path))  # fmt: skip

        return handle

    async def _handle(self, table: RouteTable, request: web.Request, path_shapes: errors.PathShapes) -> web.StreamResponse:
        raw_path = request.rel_url.raw_path
        match = table.match(request.method, raw_path)
        if match is None:
            allowed = table.allowed_methods(raw_path)
            if allowed:
                return method_not_allowed(request.method, raw_path, allowed, shape=path_shapes.for_path(raw_path))
            return error_response(grpc.StatusCode.NOT_FOUND, f"no method is bound to {request.method} {raw_path}",
                                  shape=path_shapes.for_path(raw_path))  # fmt: skip
        route = match.route
        if route.response_headers:
            request[_ROUTE_HEADERS] = route.response_headers
        if route.client_streaming:
            return await self._upload(match, request)
        body = b""
        if route.body:
            limit = self._max_upload if route.raw_request_body else self._max_body
            read = await _read_body(request, limit)
            if read is None:
                return error_response(
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    f"request body is larger than {limit} bytes",
                    http_code=413,
                    close=True,
                    route=route,
                )
            body = read
        try:
            message = build_request(
                match, parse_query(request.rel_url.raw_query_string), body, request.headers.get("Content-Type", "")
            )
        except TranscodeError as exc:
            refusal = await self._auth_refusal(route, request)
            return refusal or error_response(grpc.StatusCode.INVALID_ARGUMENT, str(exc), route=route)
        metadata = metadata_from_headers(request.headers.items(), request.remote)
        assert self._calls is not None
        if route.server_streaming:
            call = self._calls.stream_for(route)(message, metadata=metadata)
            return await stream_response(request, route, call)
        call = self._calls.unary_for(route)(message, metadata=metadata)
        try:
            reply = await call
            initial = await call.initial_metadata()
        except grpc.aio.AioRpcError as exc:
            status = errors.status_of(exc)
            code, payload = errors.error_payload(status, route.error_statuses, errors.shape_for(route))
            return web.Response(
                status=code, body=payload, content_type="application/json", headers=headers_from_metadata(exc.initial_metadata())
            )
        return _unary_reply(route, reply, initial)

    async def _auth_refusal(self, route: Route, request: web.Request) -> web.Response | None:
        """The controller's 401/403 for a request whose body or query cannot be transcoded, if it refuses it.

        Authentication comes before the body: the call goes with bytes no request message decodes, so
        the controller's auth interceptor answers first; past it, its decoding refuses them
        (INVALID_ARGUMENT, controller.api.request_decoding) and no servicer sees them, so None: the
        caller gets the gateway's own message. Uploads are not tried (their messages are a stream).
        """
        if route.client_streaming or route.auth.allow_unauthenticated:
            return None
        assert self._calls is not None
        metadata = metadata_from_headers(request.headers.items(), request.remote)
        try:
            if route.server_streaming:
                await self._calls.channel.unary_stream(route.grpc_path)(UNDECODABLE, metadata=metadata).read()
            else:
                await self._calls.channel.unary_unary(route.grpc_path)(UNDECODABLE, metadata=metadata)
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
                return None
            code, payload = errors.error_payload(errors.status_of(exc), route.error_statuses, errors.shape_for(route))
            return web.Response(status=code, body=payload, content_type="application/json")
        log.error("gateway.undecodable_request_answered", method=route.grpc_path)  # the controller must refuse it
        return None

    async def _upload(self, match: Match, request: web.Request) -> web.StreamResponse:
        """A client-streaming upload: the body as a stream of messages, sent as it is read.

        The first message is built as a unary request would be (path and query fields,
        the content type) with the first piece; each later one has only the next piece in
        its google.api.HttpBody, as Envoy's transcoder sends it. The call is cancelled
        (and the controller keeps nothing) when the body passes the limit or the client goes.
        """
        route = match.route
        limit = self._max_upload
        too_large = error_response(
            grpc.StatusCode.RESOURCE_EXHAUSTED, f"request body is larger than {limit} bytes", http_code=413, close=True,
            route=route,
        )
        if request.content_length is not None and request.content_length > limit:
            return too_large
        pieces = request.content.iter_chunked(UPLOAD_PIECE_BYTES)
        try:
            first = await anext(pieces, b"")
        except (aiohttp.ClientError, ConnectionError) as exc:
            log.info("gateway.upload_interrupted", method=route.grpc_path, error=str(exc))
            return error_response(grpc.StatusCode.CANCELLED, "the request body was cut off", close=True, route=route)
        try:
            message = build_request(
                match, parse_query(request.rel_url.raw_query_string), first, request.headers.get("Content-Type", "")
            )
        except TranscodeError as exc:
            return error_response(grpc.StatusCode.INVALID_ARGUMENT, str(exc), route=route, close=True)
        if len(first) > limit:
            return too_large
        assert self._calls is not None
        call = self._calls.upload_for(route)(metadata=metadata_from_headers(request.headers.items(), request.remote))
        sent, finished = len(first), False
        try:
            await call.wait_for_connection()
            ended = not await _send(call, message)
            while not ended:
                piece = await anext(pieces, None)
                if piece is None:
                    await call.done_writing()
                    finished = True
                    break
                sent += len(piece)
                if sent > limit:
                    return too_large
                ended = not await _send(call, _next_piece(route, piece))
            # ended: the controller answered before the body's end (a refusal); awaiting the call raises it.
            if route.server_streaming:
                return await stream_response(request, route, call)
            reply = await call
            initial = await call.initial_metadata()
        except grpc.aio.AioRpcError as exc:
            # The controller refused the upload (too large, already exists, ...), maybe before its end.
            code, payload = errors.error_payload(errors.status_of(exc), route.error_statuses, errors.shape_for(route))
            response = web.Response(
                status=code, body=payload, content_type="application/json", headers=headers_from_metadata(exc.initial_metadata())
            )
            if not finished:
                response.force_close()  # the rest of the body is left unread
            return response
        except (aiohttp.ClientError, ConnectionError) as exc:
            log.info("gateway.upload_interrupted", method=route.grpc_path, error=str(exc))
            return error_response(grpc.StatusCode.CANCELLED, "the request body was cut off", close=True, route=route)
        finally:
            if not finished:
                call.cancel()
        response = _unary_reply(route, reply, initial)
        if not finished:
            response.force_close()  # answered before the body's end: the rest is left unread
        return response


#: Bytes no protobuf message decodes (field number 0 is illegal): a probe that only the auth check can answer.
UNDECODABLE = b"\x07"


async def _send(call: Any, message: Message) -> bool:
    """Send one message of a client stream; False when the call has already ended.

    grpc.aio's ``write`` on a call the server has just ended (the controller refusing an
    upload part way, RESOURCE_EXHAUSTED) replaces the server's status by INTERNAL "Internal
    error from Core" (grpcio 1.85); sending through the call's own sender and then awaiting
    the call keeps the status the server sent.
    """
    if call.done():
        return False
    sender = getattr(getattr(call, "_cython_call", None), "send_serialized_message", None)
    if sender is None:  # another grpcio: the public path
        await call.write(message)
        return True
    try:
        await sender(message.SerializeToString())
    except cygrpc.InternalError:
        return False
    return True


def _next_piece(route: Route, piece: bytes) -> Message:
    """A later message of a streamed upload: nothing but the next piece of the body."""
    message = route.new_request()
    target = message if route.body == "*" else getattr(message, route.body)
    target.data = piece
    return message


#: The request's key for its route's fixed response headers (Route.response_headers).
_ROUTE_HEADERS = "aifarm.route_headers"


async def _add_route_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Every answer of a route whose service declares fixed headers carries them: replies, errors
    and streams alike, with no code per response path."""
    for name, value in request.get(_ROUTE_HEADERS, ()):
        response.headers[name] = value


def _unary_reply(route: Route, reply: Message, initial: Any) -> web.Response:
    headers = headers_from_metadata(initial)
    if route.success_code == 204:
        return web.Response(status=204, headers=headers)
    rendered = render_response(route, reply)
    headers["Content-Type"] = rendered.content_type
    return web.Response(status=route.success_code, body=rendered.body, headers=headers)


async def _read_body(request: web.Request, limit: int) -> bytes | None:
    """The whole body, or None once it exceeds ``limit`` bytes."""
    if request.content_length is not None and request.content_length > limit:
        return None
    data = bytearray()
    async for chunk in request.content.iter_chunked(_CHUNK):
        data += chunk
        if len(data) > limit:
            return None
    return bytes(data)


def error_response(
    code: grpc.StatusCode,
    message: str,
    *,
    http_code: int | None = None,
    close: bool = False,
    route: Route | None = None,
    shape: errors.ErrorShape | None = None,
) -> web.Response:
    """An error the gateway itself raises, in the body shape of the route's surface (``shape`` without a route)."""
    overrides = route.error_statuses if route is not None else ()
    shape = shape or errors.shape_for(route)
    status_code, payload = errors.error_payload(errors.make_status(code, message), overrides, shape)
    response = web.Response(status=http_code or status_code, body=payload, content_type="application/json")
    if close:
        # The unread rest of an oversized body would otherwise be parsed as the next request.
        response.force_close()
    return response


def method_not_allowed(
    method: str, raw_path: str, allowed: Sequence[str], *, shape: errors.ErrorShape | None = None
) -> web.Response:
    """405 for a known path and another method, with ``Allow``; gRPC has no such code, so UNIMPLEMENTED."""
    message = f"{method} is not allowed on {raw_path}; allowed: {', '.join(allowed)}"
    response = error_response(grpc.StatusCode.UNIMPLEMENTED, message, http_code=405, shape=shape)
    response.headers["Allow"] = ", ".join(allowed)
    return response
