"""Envoy as the second REST door: ``envoy.yaml`` and the descriptor set, from the listener table.

The listener table (gateway.listeners) and the descriptors that drive the
Python gateway drive this config too, so both doors serve the same routes and
nothing here names an endpoint. Envoy's gRPC-JSON transcoder does the mapping;
this module chooses its options (DESIGN, Gateway) and generates, from the
descriptors, what the transcoder does not do by itself the Python gateway's way:

* non-200 success codes (the ``aifarm.options.v1.http_response`` option): a
  per-route Lua script, on routes that name the gRPC method;
* two body limits (JSON bodies, ``google.api.HttpBody`` uploads), 413 beyond
  them: the buffer filter, with the larger limit on unary upload routes (the
  transcoder's own ``max_request_body_size`` is not a body limit: it bounds what
  it holds at once, and a large body sent in pieces passes it). Streamed uploads
  (client-streaming methods whose body is a ``google.api.HttpBody``) have the
  buffer filter off, since it would hold the whole body: the transcoder makes
  each piece of the body one message (Envoy 1.40: about 64 KiB, then about 1 MiB;
  path and query fields only in the first), and the controller enforces the upload
  limit, its RESOURCE_EXHAUSTED answered 413 by the method's ``error_statuses``;
* unary responses up to the upload limit; by default the transcoder answers 500
  to any response over 1 MiB (downloads are ``stream google.api.HttpBody``: Envoy
  1.40 writes each message's data as it comes, raw, under this limit or not);
* streams as newline-delimited JSON, or SSE when the client accepts
  ``text/event-stream``: a per-route transcoder config selected by that header
  (an HttpBody stream stays raw bytes under either, verified with Envoy 1.40);
  and no timeouts on the JSON streams (Envoy cuts a stream silent for 5 minutes
  by default); downloads keep the idle timeout, since they are never silent;
* error bodies in the shape each service's ``aifarm.options.v1.error_body`` option
  declares (gateway.errors): the controller's errors, which the transcoder prints as
  ``google.rpc.Status`` JSON, are rewritten by the method route's Lua script (only
  error responses are buffered); Envoy's own errors (unknown path, bad JSON, 413,
  controller down) by ``local_reply_config`` mappers that pick the shape by the
  request path: the surface's declared prefixes before transcoding, its gRPC
  service path after;
* a 401 before the body is parsed for a request without any credential header to a
  method that needs one (a Lua check on REST routes), as the controller would answer;
* TLS, both ways, when asked (`EnvoyTls`): to the controller (its certificate checked
  against the farm CA and its name or address), and for clients (HTTPS on every
  listener, HTTP/2 or HTTP/1.1 by ALPN).

`aifarm envoy-config` (cli/envoy_command.py) writes a config; the committed
example in envoy/ comes from scripts/generate_envoy_example.py.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import yaml
from google.protobuf import descriptor_pool
from google.protobuf.descriptor import ServiceDescriptor

from gateway.cors import CorsPolicy
from gateway.descriptors import file_descriptor_set, find_services, import_generated
from gateway import errors
from gateway.errors import ErrorShape, PathShapes, Shape, http_status
from gateway.http_rule import PathTemplate, SegmentKind
from gateway.listeners import LISTENERS, Listener, by_name
from gateway.routes import Route, RouteTable, service_headers
from gateway.server import DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_UPLOAD_BYTES

CONFIG_FILE = "envoy.yaml"
DESCRIPTOR_FILE = "aifarm.pb"
CLUSTER = "controller"
MAX_CONNECTIONS = 10_000
# The gRPC message of a body is the body plus its frame and the fields bound from
# the path and query, which Envoy's 60 KiB header limit bounds. The transcoder's
# limit also caps the stream's buffer, so it gets this room above the body limit
# (without it an upload of exactly the limit is refused).
TRANSCODE_HEADROOM = 64 * 1024

_TRANSCODER = "envoy.filters.http.grpc_json_transcoder"
_LUA = "envoy.filters.http.lua"
_BUFFER = "envoy.filters.http.buffer"
_CORS = "envoy.filters.http.cors"
_HCM = "envoy.filters.network.http_connection_manager"
_TLS_SOCKET = "envoy.transport_sockets.tls"
_TYPES = {
    _BUFFER: "envoy.extensions.filters.http.buffer.v3.Buffer",
    "buffer_per_route": "envoy.extensions.filters.http.buffer.v3.BufferPerRoute",
    "hcm": "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
    _TRANSCODER: "envoy.extensions.filters.http.grpc_json_transcoder.v3.GrpcJsonTranscoder",
    _LUA: "envoy.extensions.filters.http.lua.v3.Lua",
    _CORS: "envoy.extensions.filters.http.cors.v3.Cors",
    "cors_policy": "envoy.extensions.filters.http.cors.v3.CorsPolicy",
    "lua_per_route": "envoy.extensions.filters.http.lua.v3.LuaPerRoute",
    "router": "envoy.extensions.filters.http.router.v3.Router",
    "http_options": "envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
    "connections": "envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig",
    "upstream_tls": "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
    "downstream_tls": "envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
}

# The HTTP codes Envoy itself answers with, as gRPC codes for a google.rpc.Status
# body (the inverse of DESIGN's shared table); anything else reads as UNKNOWN.
_LOCAL_REPLY_CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    405: grpc.StatusCode.UNIMPLEMENTED,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    500: grpc.StatusCode.INTERNAL,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
}


def _typed(kind: str, **fields: Any) -> dict[str, Any]:
    return {"@type": f"type.googleapis.com/{_TYPES[kind]}", **fields}


@dataclass(frozen=True)
class EnvoyTls:
    """TLS for Envoy's two sides; each is off while its files are None. Paths as Envoy will open them."""

    controller_ca: str | None = None
    """The CA that signed the controller's certificate (the farm's ``pki/ca.crt``): Envoy speaks TLS
    to the controller and checks its certificate against this and the name or address dialled."""
    cert_chain: str | None = None
    """The certificate chain Envoy serves HTTPS with (needs ``private_key``)."""
    private_key: str | None = None

    def __post_init__(self) -> None:
        if (self.cert_chain is None) != (self.private_key is None):
            raise ValueError("HTTPS needs both a certificate chain and its private key")

    @classmethod
    def from_files(
        cls, controller_ca: Path | None = None, cert_chain: Path | None = None, private_key: Path | None = None
    ) -> EnvoyTls:
        """Files on this machine, by absolute path (Envoy resolves a relative one against its working directory)."""

        def absolute(path: Path | None) -> str | None:
            return str(path.resolve()) if path is not None else None

        return cls(absolute(controller_ca), absolute(cert_chain), absolute(private_key))


def write_envoy_config(
    out_dir: Path,
    controller: str,
    listeners: Mapping[str, tuple[str, int]],
    *,
    admin: tuple[str, int] | None = None,
    table: Sequence[Listener] = LISTENERS,
    descriptor_path: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    pool: descriptor_pool.DescriptorPool | None = None,
    tls: EnvoyTls | None = None,
    cors: CorsPolicy | None = None,
) -> Path:
    """Write ``envoy.yaml`` and ``aifarm.pb`` into ``out_dir``; returns the yaml's path.

    ``listeners`` maps table names to ``(host, port)``; entries without services
    are skipped, as the Python gateway skips them. ``descriptor_path`` is how the
    config names the descriptor set: Envoy resolves a relative path against its
    working directory, not the config's, so the default is the absolute path.
    The limits mean what they mean to gateway.server.Gateway (larger: 413).
    """
    limits = _Limits(max_body_bytes, max(max_upload_bytes, max_body_bytes))
    if limits.upload + TRANSCODE_HEADROOM >= 2**32:
        raise ValueError("Envoy's body limits are 32-bit: keep them under 4 GiB")
    if pool is None:
        import_generated()
    chosen = _listeners_with_services(listeners, table)
    all_services = find_services(sorted({s for lst, _ in chosen for s in lst.services}), pool)
    out_dir.mkdir(parents=True, exist_ok=True)
    pb_path = out_dir / DESCRIPTOR_FILE
    pb_path.write_bytes(descriptor_set_bytes(all_services, pool))
    config = envoy_config(
        controller,
        [(lst, bind, find_services(lst.services, pool)) for lst, bind in chosen],
        descriptor_path or str(pb_path.resolve()),
        limits,
        admin=admin,
        tls=tls,
        cors=cors,
    )
    yaml_path = out_dir / CONFIG_FILE
    yaml_path.write_text(_HEADER + yaml.dump(config, Dumper=_Dumper, sort_keys=False, width=120))
    return yaml_path


_HEADER = "# Generated by `aifarm envoy-config` (gateway/envoy.py) from the listener table; do not edit.\n"


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (the Lua scripts) as readable ``|`` blocks, and no ``&id001`` aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


_Dumper.add_representer(
    str,
    lambda d, s: d.represent_scalar("tag:yaml.org,2002:str", s, style="|" if "\n" in s else None),
)


def descriptor_set_bytes(
    services: Sequence[ServiceDescriptor], pool: descriptor_pool.DescriptorPool | None = None
) -> bytes:
    """The serialized FileDescriptorSet, byte for byte the same on every run (CI compares it)."""
    return file_descriptor_set(services, pool).SerializeToString(deterministic=True)


def _listeners_with_services(
    listeners: Mapping[str, tuple[str, int]], table: Sequence[Listener]
) -> list[tuple[Listener, tuple[str, int]]]:
    known = by_name(table)
    unknown = sorted(set(listeners) - set(known))
    if unknown:
        raise KeyError(f"unknown listeners {unknown}; known: {sorted(known)}")
    chosen = [(known[name], bind) for name, bind in listeners.items() if known[name].services]
    if not chosen:
        raise ValueError("none of the listeners given has services; Envoy would serve nothing")
    return chosen


@dataclass(frozen=True)
class _Limits:
    """The Python gateway's two request body limits."""

    body: int
    """JSON bodies."""
    upload: int
    """``google.api.HttpBody`` bodies."""

    @property
    def response(self) -> int:
        """Unary responses, which the transcoder holds whole to write content-length
        (streams, downloads included, are written as they come)."""
        return self.upload


def envoy_config(
    controller: str,
    listeners: Iterable[tuple[Listener, tuple[str, int], Sequence[ServiceDescriptor]]],
    descriptor_path: str,
    limits: _Limits,
    *,
    admin: tuple[str, int] | None = None,
    tls: EnvoyTls | None = None,
    cors: CorsPolicy | None = None,
) -> dict[str, Any]:
    """The bootstrap config as plain data: one Envoy listener per table listener, one upstream."""
    tls = tls or EnvoyTls()
    config: dict[str, Any] = {}
    if admin is not None:
        config["admin"] = {"address": _socket_address(*admin)}
    config["static_resources"] = {
        "listeners": [_listener(lst, bind, svcs, descriptor_path, limits, tls, cors) for lst, bind, svcs in listeners],
        "clusters": [_cluster(controller, tls.controller_ca)],
    }
    # Without a connection limit Envoy warns at every start, and a flood has no ceiling.
    config["overload_manager"] = {
        "resource_monitors": [{
            "name": "envoy.resource_monitors.global_downstream_max_connections",
            "typed_config": _typed("connections", max_active_downstream_connections=MAX_CONNECTIONS),
        }]
    }  # fmt: skip
    return config


def _socket_address(host: str, port: int) -> dict[str, Any]:
    return {"socket_address": {"address": host, "port_value": port}}


def _listener(
    listener: Listener,
    bind: tuple[str, int],
    services: Sequence[ServiceDescriptor],
    descriptor_path: str,
    limits: _Limits,
    tls: EnvoyTls,
    cors: CorsPolicy | None = None,
) -> dict[str, Any]:
    routes = RouteTable.for_services(services).routes
    transcoder = _Transcoder(services, descriptor_path, limits.response)
    hcm = _typed(
        "hcm",
        stat_prefix=listener.name,
        codec_type="AUTO",
        route_config={
            "name": listener.name,
            # x-forwarded-for is the client's socket address, replacing any the client sent (as the
            # Python gateway does): the controller believes it from a trusted door (controller.api.auth).
            # The direct peer: not use_remote_address (for a loopback client it names this machine), nor
            # DOWNSTREAM_REMOTE_ADDRESS (without it, taken from the header the client sent).
            "request_headers_to_add": [{
                "header": {"key": "x-forwarded-for", "value": "%DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT%"},
                "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
            }],
            "virtual_hosts": [
                {"name": listener.name, "domains": ["*"], "routes": _routes(services, routes, transcoder, limits)}
            ],
        },
        http_filters=_http_filters(routes, transcoder, limits),
        local_reply_config=_local_reply_config(routes, limits),
    )
    if cors is not None and cors.enabled:
        _with_cors(hcm, cors)
    chain: dict[str, Any] = {"filters": [{"name": _HCM, "typed_config": hcm}]}
    if tls.cert_chain is not None and tls.private_key is not None:
        chain["transport_socket"] = _downstream_tls(tls.cert_chain, tls.private_key)
    return {"name": listener.name, "address": _socket_address(*bind), "filter_chains": [chain]}


def _downstream_tls(cert_chain: str, private_key: str) -> dict[str, Any]:
    """HTTPS for clients; ALPN offers HTTP/2 and HTTP/1.1 (the connection manager's codec is AUTO)."""
    context = _typed("downstream_tls", common_tls_context={
        "tls_certificates": [{"certificate_chain": {"filename": cert_chain}, "private_key": {"filename": private_key}}],
        "alpn_protocols": ["h2", "http/1.1"],
    })  # fmt: skip
    return {"name": _TLS_SOCKET, "typed_config": context}


def _upstream_tls(host: str, ca_file: str) -> dict[str, Any]:
    """TLS to the controller: its certificate must chain to ``ca_file`` and name ``host`` (a DNS name, sent as
    SNI too, or an IP address). ALPN h2, which gRPC servers expect."""
    san_type = "IP_ADDRESS" if _is_ip(host) else "DNS"
    common = {
        "validation_context": {
            "trusted_ca": {"filename": ca_file},
            "match_typed_subject_alt_names": [{"san_type": san_type, "matcher": {"exact": host}}],
        },
        "alpn_protocols": ["h2"],
    }
    context = _typed("upstream_tls", common_tls_context=common, **({} if _is_ip(host) else {"sni": host}))
    return {"name": _TLS_SOCKET, "typed_config": context}


class _Transcoder:
    """The transcoder options DESIGN (Gateway) lists, verified against Envoy 1.40."""

    def __init__(self, services: Sequence[ServiceDescriptor], descriptor_path: str, max_response_bytes: int) -> None:
        self.services = sorted(s.full_name for s in services)
        self.descriptor_path = descriptor_path
        self.max_response_bytes = max_response_bytes

    def config(self, max_request_bytes: int, *, sse: bool = False) -> dict[str, Any]:
        stream_style = "stream_sse_style_delimited" if sse else "stream_newline_delimited"
        return _typed(
            _TRANSCODER,
            proto_descriptor=self.descriptor_path,
            services=self.services,
            print_options={
                "always_print_primitive_fields": True,
                "preserve_proto_field_names": True,
                # Envoy's default is one JSON array for the whole stream.
                stream_style: True,
            },
            # Without this Envoy forwards a request with an unknown parameter untranscoded (503).
            ignore_unknown_query_parameters=True,
            # Only the google.api.http rules are the REST API, no JSON at /pkg.Service/Method.
            auto_mapping=False,
            convert_grpc_status=True,
            request_validation_options={
                # An unknown REST path is a 404 here, not a request passed upstream as it is.
                "reject_unknown_method": True,
                # POST /v1/tasks/a:cancel {"name": "tasks/b"} is a 400; by default the body wins.
                "reject_binding_body_field_collisions": True,
            },
            # What the transcoder may hold; the buffer filter enforces the body limit itself.
            max_request_body_size=max_request_bytes + TRANSCODE_HEADROOM,
            max_response_body_size=self.max_response_bytes,
        )


def _http_filters(routes: Sequence[Route], transcoder: _Transcoder, limits: _Limits) -> list[dict[str, Any]]:
    """Buffer first (it answers 413); Lua before the transcoder, since responses pass
    filters in reverse order and Lua must see the transcoded reply."""
    filters: list[dict[str, Any]] = [{"name": _BUFFER, "typed_config": _typed(_BUFFER, max_request_bytes=limits.body)}]
    replies = _replies(routes)
    deny = bool(_credential_patterns(routes))
    if replies or deny or routes:  # routes: the 405 routes' scripts (_method_not_allowed_routes)
        filters.append({"name": _LUA, "typed_config": _lua(replies, deny)})
    filters.append({"name": _TRANSCODER, "typed_config": transcoder.config(limits.body)})
    filters.append({"name": "envoy.filters.http.router", "typed_config": _typed("router")})
    return filters


@dataclass(frozen=True)
class _Reply:
    """What the Lua script of a method changes: the success code, error statuses, the error body's shape."""

    success_code: int
    error_statuses: tuple[tuple[int, int], ...]
    shape: ErrorShape = errors.CORE

    @property
    def name(self) -> str:
        statuses = "".join(f"_e{code}_{http}" for code, http in self.error_statuses)
        shaped = f"_{self.shape.name.lower()}{_shape_key(self.shape)}" if self.shape != errors.CORE else ""
        return f"status_{self.success_code}{statuses}{shaped}"


def _shape_key(shape: ErrorShape) -> str:
    """A short stable name for a shape's code table (two surfaces may share a shape with other codes)."""
    if shape.shape == Shape.ERROR_BODY_SHAPE_DETAIL:
        return ""
    import hashlib

    text = repr((shape.codes, shape.default_code, sorted(shape.reason_codes)))
    return "_" + hashlib.sha256(text.encode()).hexdigest()[:8]


def _replies(routes: Iterable[Route]) -> dict[str, _Reply]:
    """gRPC path -> its reply changes, where there are any (a stream has a body: never 204)."""
    out: dict[str, _Reply] = {}
    for r in routes:
        success = 200 if r.server_streaming and r.success_code == 204 else r.success_code
        shape = errors.shape_for(r)
        if success != 200 or r.error_statuses or shape != errors.CORE:
            out[r.grpc_path] = _Reply(success, r.error_statuses, shape)
    return out


_DENY = "deny_without_credentials"


def _lua(replies: Mapping[str, _Reply], deny: bool = False) -> dict[str, Any]:
    """One named Lua script per distinct reply change; routes pick theirs by name."""
    distinct = sorted(set(replies.values()), key=lambda r: r.name)
    scripts = {r.name: {"inline_string": _lua_source(r)} for r in distinct}
    if deny:
        scripts[_DENY] = {"inline_string": _DENY_SOURCE}
    return _typed(_LUA, source_codes=scripts)


#: The controller's words for a call without a key (controller.api.auth); the local reply
#: mapper of the request's path puts it in the surface's error shape.
UNAUTHENTICATED_MESSAGE = "missing or invalid API key: send 'authorization: Bearer <key>' or 'x-api-key: <key>'"
# Only on REST routes that already matched "no credential header": answers before the body is parsed.
_DENY_SOURCE = (
    "function envoy_on_request(handle)\n"
    f'  handle:respond({{[":status"] = "401"}}, "{UNAUTHENTICATED_MESSAGE}")\n'
    "end\n"
)

# Rewrites a google.rpc.Status error body (the transcoder's convert_grpc_status) into a surface's
# shape, copying the message and the ErrorInfo's reason and metadata as the JSON they already are.
_LUA_SHAPE_FUNCTIONS = r"""
local function json_end(s, i)
  local c = s:sub(i, i)
  if c == '"' then
    local j = i + 1
    while true do
      local k = s:find('[\\"]', j)
      if k == nil then return nil end
      if s:sub(k, k) == '\\' then j = k + 2 else return k end
    end
  elseif c == '{' or c == '[' then
    local depth, j = 0, i
    while true do
      local k = s:find('[\\"{}%[%]]', j)
      if k == nil then return nil end
      local ch = s:sub(k, k)
      if ch == '"' then
        k = json_end(s, k)
        if k == nil then return nil end
      elseif ch == '{' or ch == '[' then
        depth = depth + 1
      elseif ch == '}' or ch == ']' then
        depth = depth - 1
        if depth == 0 then return k end
      end
      j = k + 1
    end
  end
  local _, k = s:find('^[^,}%]]*', i)
  return k
end
local function json_member(s, name, from)
  local _, k = s:find('"' .. name .. '"%s*:%s*', from)
  if k == nil then return nil, from end
  local e = json_end(s, k + 1)
  if e == nil then return nil, from end
  return s:sub(k + 1, e), e + 1
end
local function shaped_error(handle, shape, codes, default_code, reasons)
  local status = tonumber(handle:headers():get(":status") or "") or 0
  if status < 400 then return end
  local body = handle:body()
  if body == nil or body:length() == 0 then return end
  local text = body:getBytes(0, body:length())
  local code = tonumber(string.match(text, '^%s*{%s*"code"%s*:%s*(%d+)') or "")
  if code == nil then return end
  local message, after = json_member(text, "message", 1)
  message = message or '""'
  local out
  if shape == "DETAIL" then
    out = '{"detail":' .. message .. '}'
  else
    local reason = json_member(text, "reason", after)
    local metadata = json_member(text, "metadata", after)
    reason = reason and reason:sub(2, -2) or ""
    local name = reasons[reason] and reason or codes[code] or default_code
    out = '{"code":"' .. name .. '","message":' .. message .. ',"details":' .. (metadata or "{}") .. '}'
    if shape == "SUCCESS_ENVELOPE" then
      out = '{"success":false,"data":null,"error":' .. out .. ',"detail":' .. message .. '}'
    else
      out = '{"error":' .. out .. '}'
    end
  end
  body:setBytes(out)
  handle:headers():replace("content-length", tostring(#out))
  handle:headers():replace("content-type", "application/json")
end
"""


def _lua_shape_call(shape: ErrorShape) -> str:
    codes = ", ".join(f'[{c}] = "{n}"' for c, n in shape.codes)
    reasons = ", ".join(f'["{r}"] = true' for r in sorted(shape.reason_codes))
    return f'  shaped_error(handle, "{shape.name}", {{{codes}}}, "{shape.default_code}", {{{reasons}}})\n'


def _lua_source(reply: _Reply) -> str:
    code = reply.success_code
    # Only a success is a 200 here (errors already carry their code). The
    # transcoder's "{}" for a 204 would otherwise go on the wire after the
    # headers, with content-length: 2, and break the next response on the connection.
    no_content = (
        '    handle:headers():remove("content-type")\n'
        "    local body = handle:body()\n"
        '    if body then body:setBytes("") end\n'
        '    handle:headers():remove("content-length")\n'
    )
    shaped = reply.shape != errors.CORE
    source = (_LUA_SHAPE_FUNCTIONS.lstrip() if shaped else "") + "function envoy_on_response(handle)\n"
    # A success (the transcoder's only 200) returns at once: the error rewrites below build their
    # tables and read the body, which no 2xx answer needs, on every response they are reached.
    source += '  if handle:headers():get(":status") == "200" then\n'
    if code != 200:
        source += f'    handle:headers():replace(":status", "{code}")\n' + (no_content if code == 204 else "")
    source += "    return\n  end\n"
    if reply.error_statuses:
        source += _lua_error_statuses(reply.error_statuses)
    if shaped:
        # After the re-status, which reads the gRPC code from the google.rpc.Status body.
        source += _lua_shape_call(reply.shape)
    return source + "end\n"


def _lua_error_statuses(error_statuses: Sequence[tuple[int, int]]) -> str:
    """Re-status errors whose gRPC code the method maps elsewhere. The code is read from the
    google.rpc.Status JSON the transcoder wrote (convert_grpc_status), only for the HTTP
    statuses those codes have in the shared table, so other replies are not buffered."""
    by_number = {c.value[0]: c for c in grpc.StatusCode}
    defaults = sorted({str(http_status(by_number[c])) for c, _ in error_statuses if c in by_number})
    mapping = ", ".join(f"[{c}] = \"{h}\"" for c, h in error_statuses)
    watched = ", ".join(f'["{d}"] = true' for d in defaults)
    local = ", ".join(f'["{h}"] = {c.value[0]}' for h, c in _LOCAL_REPLY_CODES.items() if str(h) in defaults)
    return (
        f"  local mapped = {{{mapping}}}\n"
        f"  if ({{{watched}}})[handle:headers():get(\":status\")] then\n"
        '    local code = tonumber(handle:headers():get("grpc-status") or "")\n'
        "    if code == nil then\n"
        "      local body = handle:body()\n"
        "      if body and body:length() > 0 then\n"
        "        code = tonumber(string.match(body:getBytes(0, body:length()), '\"code\"%s*:%s*(%d+)') or \"\")\n"
        "      end\n"
        "    end\n"
        # Envoy's own reply (bad JSON) already in a surface's shape has no numeric code: its status says it.
        f"    code = code or ({{{local}}})[handle:headers():get(\":status\")]\n"
        "    if code ~= nil and mapped[code] then\n"
        '      handle:headers():replace(":status", mapped[code])\n'
        "    end\n"
        "  end\n"
    )


def _routes(
    services: Sequence[ServiceDescriptor], routes: Sequence[Route], transcoder: _Transcoder, limits: _Limits
) -> list[dict[str, Any]]:
    """The route table, in two halves that never match the same request.

    After transcoding, Envoy routes on the gRPC path: the first half names
    methods and this listener's services (any other gRPC call through this port
    gets 404). Before transcoding, the buffer filter and the transcoder take their
    per-route config from the route of the REST request: the second half matches
    REST paths, to give uploads their larger limit and ``text/event-stream`` clients SSE.
    """
    out = _deny_routes(routes) + _method_routes(routes)
    for svc in sorted(services, key=lambda s: s.full_name):
        out.append(_with_headers({"match": {"prefix": f"/{svc.full_name}/"}, "route": _to_controller()},
                                 service_headers(svc)))  # fmt: skip
    out.append({"match": {"prefix": "/", "grpc": {}}, "direct_response": {"status": 404}})
    out += _method_not_allowed_routes(routes)
    for (method, streamed), regex in _upload_patterns(routes).items():
        # A streamed upload must not be buffered whole: no buffer filter on its route.
        buffer = {"disabled": True} if streamed else {"buffer": {"max_request_bytes": limits.upload}}
        out.append({
            "match": {"safe_regex": {"regex": regex}, "headers": [_header(":method", exact=method)]},
            "route": _to_controller(),
            "typed_per_filter_config": {
                _BUFFER: _typed("buffer_per_route", **buffer),
                _TRANSCODER: transcoder.config(limits.upload),
            },
        })  # fmt: skip
    if any(r.server_streaming for r in routes):
        out.append({
            "match": {"prefix": "/", "headers": [_header("accept", contains="text/event-stream")]},
            "route": _to_controller(),
            "typed_per_filter_config": {_TRANSCODER: transcoder.config(limits.body, sse=True)},
        })  # fmt: skip
    return out


def _method_routes(routes: Sequence[Route]) -> list[dict[str, Any]]:
    """Routes for the methods that need more than the service's route: reply codes, a stream."""
    replies = _replies(routes)
    headers = {r.grpc_path: r.response_headers for r in routes}
    # A download (a google.api.HttpBody stream) is never silent: it keeps the idle timeout.
    streams = {r.grpc_path for r in routes if r.server_streaming and not r.raw_response_body}
    out: list[dict[str, Any]] = []
    for path in sorted(set(replies) | streams):
        entry: dict[str, Any] = {"match": {"path": path}, "route": _to_controller()}
        if path in streams:
            # A followed log or a watch may be silent for longer than the 5-minute stream idle timeout.
            entry["route"]["idle_timeout"] = "0s"
        if path in replies:
            entry["typed_per_filter_config"] = {_LUA: _typed("lua_per_route", name=replies[path].name)}
        out.append(_with_headers(entry, headers.get(path, ())))
    return out


def _credential_patterns(routes: Iterable[Route]) -> list[tuple[str, str]]:
    """(HTTP method, regex) for each REST path of the methods that need a credential; one regex
    each, since RE2's default program size (100) holds a few templates only.

    Not the methods marked allow_unauthenticated or legacy_open (the controller may serve those
    without one), nor uploads (their body is not parsed: the controller answers first anyway)."""
    found = {
        (route.http_method, template_regex(route.template))
        for route in routes
        if not route.raw_request_body and not (route.auth.allow_unauthenticated or route.auth.legacy_open)
    }
    return sorted(found)


#: The headers that carry a credential to the controller (controller.api.auth.presented_key).
CREDENTIAL_HEADERS = ("authorization", "x-api-key")


def _deny_routes(routes: Sequence[Route]) -> list[dict[str, Any]]:
    """REST requests without any credential header to a method that needs one: the Lua script
    answers 401 before the transcoder parses the body (else a bad body would be a 400 first).
    They match before transcoding only; afterwards the path is the gRPC one."""
    absent = [{"name": h, "present_match": True, "invert_match": True} for h in CREDENTIAL_HEADERS]
    return [
        {
            "match": {"safe_regex": {"regex": regex}, "headers": [_header(":method", exact=method), *absent]},
            "route": _to_controller(),
            "typed_per_filter_config": {_LUA: _typed("lua_per_route", name=_DENY)},
        }
        for method, regex in _credential_patterns(routes)
    ]


def _method_not_allowed_routes(routes: Sequence[Route]) -> list[dict[str, Any]]:
    """405 with ``Allow`` for a known REST path and another method, as the Python gateway answers
    (RouteTable.allowed_methods), before the transcoder, which would answer 404.

    One route per path template: its paths, any method it does not allow, answered by a Lua
    script (the message names the method and path; the local reply mapper shapes the body).
    Paths of a more specific template with other methods (``/v1/tasks/x:cancel`` under
    ``/v1/tasks/*``) are left out of it: their own route answers them. Transcoded requests
    (gRPC content type) never match."""
    table = RouteTable(routes)
    templates = {r.template.key(): r.template for r in routes}
    samples = {key: _sample_path(t) for key, t in templates.items()}
    allowed = {key: table.allowed_methods(samples[key]) for key in templates}
    out: list[dict[str, Any]] = []
    for key, template in sorted(templates.items(), key=lambda item: _specificity(item[1])):
        if not allowed[key] or "*" in allowed[key]:  # "*": a custom rule of any method, never a 405
            continue
        regex = _request_path_regex(template)
        excluded = sorted(
            _with_query(_request_path_regex(other))
            for other_key, other in templates.items()
            if other_key != key and allowed[other_key] != allowed[key] and re.match(regex, samples[other_key])
            and _specificity(other) < _specificity(template)
        )  # fmt: skip
        methods = "|".join(re.escape(m) for m in allowed[key])
        headers = [
            {"name": ":method", "string_match": {"safe_regex": {"regex": f"^({methods})$"}}, "invert_match": True},
            # Without treat_missing_header_as_empty an inverted match fails on a request with no content type.
            {"name": "content-type", "string_match": {"prefix": "application/grpc"}, "invert_match": True,
             "treat_missing_header_as_empty": True},
            *({"name": ":path", "string_match": {"safe_regex": {"regex": ex}}, "invert_match": True} for ex in excluded),
        ]
        out.append({
            "match": {"safe_regex": {"regex": regex}, "headers": headers},
            "route": _to_controller(),
            "typed_per_filter_config": {
                _LUA: _typed("lua_per_route", source_code={"inline_string": _lua_method_not_allowed(allowed[key])}),
            },
        })  # fmt: skip
    return out


def _request_path_regex(template: PathTemplate) -> str:
    """template_regex, with the trailing slashes the matcher drops (``/v1/tasks/`` is ``/v1/tasks``)."""
    regex = template_regex(template)
    return regex if template.verb else regex[:-1] + "/*$"


def _sample_path(template: PathTemplate) -> str:
    """A request path the template matches (a variable's segments as ``~``)."""
    parts = [s.literal if s.kind == SegmentKind.LITERAL else "~" for s in template.segments]
    return "/" + "/".join(parts) + (f":{template.verb}" if template.verb else "")


def _specificity(template: PathTemplate) -> tuple[Any, ...]:
    """Smaller first: the matcher's order (a verb, then literal before ``*`` before ``**``)."""
    return (not template.verb, tuple(s.kind for s in template.segments), template.source)


def _with_query(regex: str) -> str:
    """A path regex for the ``:path`` header, which carries the query string too."""
    return regex[:-1] + r"(\?.*)?$"


def _lua_method_not_allowed(allowed: Sequence[str]) -> str:
    listed = ", ".join(allowed)
    return (
        "function envoy_on_request(handle)\n"
        '  local path = (handle:headers():get(":path") or ""):gsub("%?.*$", "")\n'
        '  local method = handle:headers():get(":method") or ""\n'
        f'  handle:respond({{[":status"] = "405", ["allow"] = "{listed}"}},\n'
        f'    method .. " is not allowed on " .. path .. "; allowed: {listed}")\n'
        "end\n"
    )


def _with_cors(hcm: dict[str, Any], cors: CorsPolicy) -> None:
    """Envoy's CORS filter first (a preflight is answered before the body limit, the Lua checks and
    the transcoder; every reply passes it last), the policy on the virtual host, and a last route
    for any REST path: the filter finds its policy through the request's route."""
    hcm["http_filters"].insert(0, {"name": _CORS, "typed_config": _typed(_CORS)})
    for host in hcm["route_config"]["virtual_hosts"]:
        host.setdefault("typed_per_filter_config", {})[_CORS] = _typed("cors_policy", **cors.envoy_policy())
        # The filter does not say it; a cache must not give one origin's answer to another.
        host["response_headers_to_add"] = [{"header": {"key": "vary", "value": "Origin"},
                                            "append_action": "APPEND_IF_EXISTS_OR_ADD"}]  # fmt: skip
        host["routes"].append({"match": {"prefix": "/"}, "route": _to_controller()})


def _header(name: str, **string_match: str) -> dict[str, Any]:
    return {"name": name, "string_match": string_match}


def _with_headers(route: dict[str, Any], headers: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """The route with its service's fixed response headers (Route.response_headers), on every
    answer the route gives: the controller's replies and errors alike."""
    added = [{"header": {"key": name, "value": value}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}
             for name, value in headers]  # fmt: skip
    return {**route, "response_headers_to_add": added} if added else route


def _to_controller() -> dict[str, Any]:
    # No route timeout (15 s by default): streams last as long as the client wants, and
    # the Python gateway sets none on unary calls either.
    return {"cluster": CLUSTER, "timeout": "0s"}


def _upload_patterns(routes: Iterable[Route]) -> dict[tuple[str, bool], str]:
    """(HTTP method, streamed) -> one regex over the REST paths whose body is a google.api.HttpBody;
    streamed: the method is client-streaming (each piece of the body is a message)."""
    by_method: dict[tuple[str, bool], list[str]] = {}
    for route in routes:
        if route.raw_request_body:
            key = (route.http_method, route.client_streaming)
            by_method.setdefault(key, []).append(template_regex(route.template))
    return {k: "|".join(sorted(set(rs))) for k, rs in sorted(by_method.items())}


def template_regex(template: PathTemplate) -> str:
    """An RE2 regex for the request paths a google.api.http template matches."""
    parts: list[str] = []
    for seg in template.segments:
        if seg.kind == SegmentKind.LITERAL:
            parts.append("/" + re.escape(seg.literal))
        elif seg.kind == SegmentKind.SINGLE:
            parts.append("/[^/]+")
        else:
            parts.append("(/.*)?")
    verb = ":" + re.escape(template.verb) if template.verb else ""
    return "^" + ("".join(parts) or "/") + verb + "$"


def _local_reply_config(routes: Sequence[Route], limits: _Limits) -> dict[str, Any]:
    """Envoy's own replies (its text/plain by default) in the error shape of the request's surface:
    by its declared REST prefixes (before transcoding: unknown paths, 413, the 401 of a request
    without a credential) or its gRPC service path (after: bad JSON, the controller down);
    elsewhere google.rpc.Status JSON, like the errors that come from the controller. An unknown
    path and a body over the limit are worded as the Python gateway words them (DOOR_MESSAGES)."""

    def status_is(http: int, op: str = "EQ") -> dict[str, Any]:
        value = {"default_value": http, "runtime_key": f"aifarm.local_reply.{http}"}
        return {"status_code_filter": {"comparison": {"op": op, "value": value}}}

    def mapper(filters: list[dict[str, Any]], body: dict[str, Any]) -> dict[str, Any]:
        match = filters[0] if len(filters) == 1 else {"and_filter": {"filters": filters}}
        return {"filter": match, "body_format_override": body}

    def worded(shape: ErrorShape, under: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [mapper([status_is(http), *under, *where], _local_body(shape, _LOCAL_REPLY_CODES[http], message))
                for http, where, message in _door_messages(routes, limits)]  # fmt: skip

    mappers: list[dict[str, Any]] = []
    for prefix, shape in _shaped_prefixes(routes):
        under = [{"header_filter": {"header": _header(":path", prefix=prefix)}}]
        mappers += worded(shape, under)
        if shape.shape != Shape.ERROR_BODY_SHAPE_DETAIL:
            # DETAIL carries only the message: one body for every status.
            mappers += [mapper([status_is(http), *under], _local_body(shape, code)) for http, code in _LOCAL_REPLY_CODES.items()]
        mappers.append(mapper([status_is(400, "GE"), *under], _local_body(shape, grpc.StatusCode.UNKNOWN)))
    mappers += worded(errors.CORE, [])
    mappers += [mapper([status_is(http)], _local_body(errors.CORE, code)) for http, code in _LOCAL_REPLY_CODES.items()]
    return {"mappers": mappers, "body_format": _local_body(errors.CORE, grpc.StatusCode.UNKNOWN)}


def _door_messages(routes: Sequence[Route], limits: _Limits) -> list[tuple[int, list[dict[str, Any]], str]]:
    """(HTTP status, extra filters, message) for Envoy's own replies that the Python gateway words
    itself, in its words: the request's method and raw path (without the query) for an unknown
    path, the limit that applies for a body over it (the upload limit on buffered upload routes)."""
    out: list[tuple[int, list[dict[str, Any]], str]] = [
        (404, [], "no method is bound to %REQ(:METHOD)% %PATH(WQ)%")
    ]
    for (_, streamed), regex in _upload_patterns(routes).items():
        if not streamed:  # a streamed upload's limit is the controller's, in its own answer
            where = [{"header_filter": {"header": {"name": ":path", "string_match": {"safe_regex": {"regex": regex}}}}}]
            out.append((413, where, f"request body is larger than {limits.upload} bytes"))
    out.append((413, [], f"request body is larger than {limits.body} bytes"))
    return out


def _shaped_prefixes(routes: Sequence[Route]) -> list[tuple[str, ErrorShape]]:
    """(path prefix, shape) for the surfaces that have their own shape, longest prefix first."""
    found = list(PathShapes.of(routes).prefixes)
    for route in routes:
        shape = errors.shape_for(route)
        if shape != errors.CORE and (f"/{route.service}/", shape) not in found:
            found.append((f"/{route.service}/", shape))
    return sorted((item for item in found if item[1] != errors.CORE), key=lambda item: -len(item[0]))


def _local_body(shape: ErrorShape, code: grpc.StatusCode, message: str = "%LOCAL_REPLY_BODY%") -> dict[str, Any]:
    """A local reply's body: the shape's JSON with ``message`` (by default Envoy's own text)."""
    status = errors.make_status(code, message)
    body = shape.body(status)
    if shape == errors.CORE:
        details: list[dict[str, Any]] = []
        if code == grpc.StatusCode.UNAUTHENTICATED:
            # Only the no-credential check answers 401 here: with the ErrorInfo the controller attaches.
            details = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "UNAUTHENTICATED",
                        "domain": ERROR_DOMAIN, "metadata": {}}]  # fmt: skip
        body = {"code": code.value[0], "message": message, "details": details}
    return {"json_format": body}


#: The ErrorInfo domain of the controller's errors (controller.api.errors.DOMAIN).
ERROR_DOMAIN = "aifarm.dev"


def _cluster(controller: str, ca_file: str | None = None) -> dict[str, Any]:
    """The controller's gRPC port over HTTP/2: TLS when ``ca_file`` names the CA to check it with, else plaintext."""
    host, port = split_address(controller)
    cluster = {
        "name": CLUSTER,
        "type": "STATIC" if _is_ip(host) else "STRICT_DNS",
        "connect_timeout": "5s",
        "typed_extension_protocol_options": {
            _TYPES["http_options"]: _typed("http_options", explicit_http_config={"http2_protocol_options": {}})
        },
        "load_assignment": {
            "cluster_name": CLUSTER,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": _socket_address(host, port)}}]}],
        },
    }
    if ca_file is not None:
        cluster["transport_socket"] = _upstream_tls(host, ca_file)
    return cluster


def split_address(address: str) -> tuple[str, int]:
    """``host:port`` or ``[v6]:port`` as ``(host, port)``; ValueError when it is neither."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"expected HOST:PORT, got {address!r}")
    return host.strip("[]"), int(port)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
