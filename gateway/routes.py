"""The route table: google.api.http rules of a set of services, ready to match.

Built once per listener from descriptors; nothing here knows any endpoint.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass

from google.api import annotations_pb2, http_pb2
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor, ServiceDescriptor
from google.protobuf.message import Message

from aifarm.options.v1 import auth_options_pb2, http_options_pb2
from gateway.http_rule import PathMatcher, PathTemplate, TemplateError, UnescapeSpec, bind, parse_template

HTTP_BODY = "google.api.HttpBody"
# Messages whose JSON form is a string or a number, so a path variable can set them.
_SCALAR_MESSAGES = frozenset(
    f"google.protobuf.{n}"
    for n in (
        "DoubleValue", "FloatValue", "Int64Value", "UInt64Value", "Int32Value", "UInt32Value",
        "BoolValue", "StringValue", "BytesValue", "Timestamp", "Duration", "FieldMask",
    )
)
_PATTERNS = ("get", "put", "post", "delete", "patch")


class RouteError(ValueError):
    """An HTTP rule that cannot be served (bad field, bad template, conflict)."""


@dataclass(frozen=True)
class Route:
    """One HTTP binding of one gRPC method."""

    service: str
    method: str
    http_method: str
    template: PathTemplate
    body: str
    response_body: str
    input: Descriptor
    output: Descriptor
    server_streaming: bool
    success_code: int
    error_statuses: tuple[tuple[int, int], ...] = ()
    """(gRPC code number, HTTP status) pairs that override the shared table for this method."""
    response_headers: tuple[tuple[str, str], ...] = ()
    """Fixed headers on every answer of the method: its service's (aifarm.options.v1.http_service)."""
    client_streaming: bool = False
    """A streamed upload: the body goes as a stream of messages whose google.api.HttpBody
    carries the next piece; only the first has the path and query fields and the content type."""

    def error_status(self, grpc_code: int, default: int) -> int:
        """The HTTP status for an error of this method with ``grpc_code``."""
        return next((http for code, http in self.error_statuses if code == grpc_code), default)

    @property
    def auth(self) -> auth_options_pb2.AuthOptions:
        """The method's ``(aifarm.options.v1.auth)`` option; unset, the default: an API key required."""
        method = self.input.file.pool.FindMethodByName(f"{self.service}.{self.method}")
        return method.GetOptions().Extensions[auth_options_pb2.auth]

    @property
    def grpc_path(self) -> str:
        return f"/{self.service}/{self.method}"

    @property
    def operation_id(self) -> str:
        return f"{self.service}.{self.method}"

    def new_request(self) -> Message:
        return self._request_class()

    def parse_response(self, data: bytes) -> Message:
        return self._response_class.FromString(data)

    # The classes of a route's messages never change: looked up once, not on every call.
    @functools.cached_property
    def _request_class(self) -> type[Message]:
        return message_factory.GetMessageClass(self.input)

    @functools.cached_property
    def _response_class(self) -> type[Message]:
        return message_factory.GetMessageClass(self.output)

    @property
    def body_field(self) -> FieldDescriptor | None:
        return self.input.fields_by_name[self.body] if self.body and self.body != "*" else None

    @property
    def raw_request_body(self) -> bool:
        """True when the HTTP body is passed through as a google.api.HttpBody."""
        if self.body == "*":
            return self.input.full_name == HTTP_BODY
        fd = self.body_field
        return fd is not None and fd.message_type is not None and fd.message_type.full_name == HTTP_BODY

    @property
    def raw_response_body(self) -> bool:
        if self.response_body:
            fd = self.output.fields_by_name[self.response_body]
            return fd.message_type is not None and fd.message_type.full_name == HTTP_BODY
        return self.output.full_name == HTTP_BODY


@dataclass(frozen=True)
class Match:
    route: Route
    bindings: dict[tuple[str, ...], str]


class RouteTable:
    """All routes of a listener and the matcher over them."""

    def __init__(self, routes: Iterable[Route], unescape: UnescapeSpec = UnescapeSpec.ALL_CHARACTERS_EXCEPT_RESERVED):
        self.routes: tuple[Route, ...] = tuple(routes)
        self._unescape = unescape
        self._matcher: PathMatcher[Route] = PathMatcher()
        for route in self.routes:
            try:
                self._matcher.register(route.http_method, route.template, route)
            except TemplateError as exc:
                raise RouteError(f"{route.operation_id}: {exc}") from None

    @classmethod
    def for_services(
        cls, services: Iterable[ServiceDescriptor], unescape: UnescapeSpec = UnescapeSpec.ALL_CHARACTERS_EXCEPT_RESERVED
    ) -> RouteTable:
        return cls([r for svc in services for m in svc.methods for r in routes_of(m)], unescape)

    def match(self, http_method: str, raw_path: str) -> Match | None:
        found = self._matcher.lookup(http_method.upper(), raw_path)
        if found is None:
            return None
        route, segs, _verb = found
        bindings = bind(route.template, segs, self._unescape)
        return None if bindings is None else Match(route, bindings)

    def allowed_methods(self, raw_path: str) -> tuple[str, ...]:
        """The HTTP methods some route answers on ``raw_path`` (sorted); empty: the path is unknown.

        What a 405's ``Allow`` header says, by the same matching as :meth:`match`."""
        return tuple(sorted(m for m in self._matcher.methods if self.match(m, raw_path) is not None))


def routes_of(method: MethodDescriptor) -> list[Route]:
    """Routes for one method's google.api.http rule and its additional_bindings."""
    options = method.GetOptions()
    if not options.HasExtension(annotations_pb2.http):
        return []
    rule = options.Extensions[annotations_pb2.http]
    code, errors = 200, ()
    if options.HasExtension(http_options_pb2.http_response):
        response = options.Extensions[http_options_pb2.http_response]
        code = response.success_code or 200
        errors = _error_statuses(method, response)
    rules = [rule, *rule.additional_bindings]
    headers = service_headers(method.containing_service)
    routes = [_route(method, r, code, errors, headers) for r in rules]
    if method.client_streaming:
        # A client stream is served only as a streamed upload: a body that is a google.api.HttpBody
        # (as in Envoy, which makes each piece of the body one message); other client streams are not.
        routes = [r for r in routes if r.raw_request_body]
    return routes


def service_headers(service: ServiceDescriptor) -> tuple[tuple[str, str], ...]:
    """The fixed response headers a service declares (aifarm.options.v1.http_service)."""
    options = service.GetOptions()
    if not options.HasExtension(http_options_pb2.http_service):
        return ()
    declared = options.Extensions[http_options_pb2.http_service].response_headers
    for header in declared:
        if not header.name.isascii() or not header.name.replace("-", "").isalnum() or not header.value.isprintable():
            raise RouteError(f"{service.full_name}: response header {header.name!r}: {header.value!r} is not a valid header")
    return tuple((h.name, h.value) for h in declared)


def _error_statuses(
    method: MethodDescriptor, response: http_options_pb2.HttpResponseOptions
) -> tuple[tuple[int, int], ...]:
    out: dict[int, int] = {}
    for item in response.error_statuses:
        if not 400 <= item.http_status <= 599 or item.code == 0:
            raise RouteError(f"{method.full_name}: error_statuses needs a non-OK code and an HTTP status 400-599")
        out[int(item.code)] = item.http_status
    return tuple(sorted(out.items()))


def _route(
    method: MethodDescriptor, rule: http_pb2.HttpRule, success_code: int, error_statuses: tuple[tuple[int, int], ...] = (),
    response_headers: tuple[tuple[str, str], ...] = (),
) -> Route:
    kind = rule.WhichOneof("pattern")
    where = f"{method.full_name}"
    if kind is None:
        raise RouteError(f"{where}: HTTP rule without a pattern")
    if kind == "custom":
        verb, path = rule.custom.kind.upper(), rule.custom.path
    else:
        verb, path = kind.upper(), getattr(rule, kind)
    try:
        template = parse_template(path)
    except TemplateError as exc:
        raise RouteError(f"{where}: {exc}") from None
    inp, out = method.input_type, method.output_type
    for var in template.variables:
        _field_path(inp, var.field_path, where)
    if rule.body and rule.body != "*" and rule.body not in inp.fields_by_name:
        raise RouteError(f"{where}: body field {rule.body!r} is not in {inp.full_name}")
    if rule.response_body and rule.response_body not in out.fields_by_name:
        raise RouteError(f"{where}: response_body field {rule.response_body!r} is not in {out.full_name}")
    return Route(
        service=method.containing_service.full_name,
        method=method.name,
        http_method=verb,
        template=template,
        body=rule.body,
        response_body=rule.response_body,
        input=inp,
        output=out,
        server_streaming=method.server_streaming,
        client_streaming=method.client_streaming,
        success_code=success_code,
        error_statuses=error_statuses,
        response_headers=response_headers,
    )


def _field_path(msg: Descriptor, path: tuple[str, ...], where: str) -> FieldDescriptor:
    fd: FieldDescriptor | None = None
    for i, name in enumerate(path):
        fd = msg.fields_by_name.get(name)
        if fd is None:
            raise RouteError(f"{where}: path variable {'.'.join(path)!r} names no field of {msg.full_name}")
        if i < len(path) - 1:
            if fd.message_type is None:
                raise RouteError(f"{where}: {'.'.join(path[: i + 1])!r} is not a message")
            if fd.is_repeated:
                raise RouteError(f"{where}: {'.'.join(path[: i + 1])!r} is repeated")
            msg = fd.message_type
    assert fd is not None
    mt = fd.message_type
    if mt is not None and (mt.GetOptions().map_entry or mt.full_name not in _SCALAR_MESSAGES):
        raise RouteError(f"{where}: {'.'.join(path)!r} ({mt.full_name}) cannot be bound to a path variable")
    return fd
