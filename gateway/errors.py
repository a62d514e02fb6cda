"""gRPC status -> HTTP status and error body, in the shape the route's surface declares.

The status table is the one Envoy and grpc-gateway v2 share (DESIGN, Wire shapes).
The body's shape comes from the service's ``aifarm.options.v1.error_body`` option
(proto/aifarm/options/v1/error_options.proto): the core API's is the
``google.rpc.Status`` JSON Envoy prints with ``convert_grpc_status``; a compat
surface answers in its document's words (``{"detail": ...}``, ``{"error": {...}}``,
``{"success": false, ...}``). A path that matches no method takes the shape of the
surface whose declared prefix it is under (the longest).
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf import any_pb2, json_format
from google.protobuf.descriptor import ServiceDescriptor
from google.rpc import error_details_pb2, status_pb2

from aifarm.options.v1 import error_options_pb2
from gateway.routes import Route
from gateway.transcode import dumps

Shape = error_options_pb2.ErrorBodyShape

HTTP_STATUS: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
    grpc.StatusCode.UNAUTHENTICATED: 401,
}
_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}
DETAILS_KEY = "grpc-status-details-bin"


def http_status(code: grpc.StatusCode) -> int:
    return HTTP_STATUS.get(code, 500)


def status_of(error: grpc.aio.AioRpcError | grpc.RpcError) -> status_pb2.Status:
    """The google.rpc.Status of a failed call, details included when the server sent them."""
    code: grpc.StatusCode = error.code()  # type: ignore[attr-defined]
    message: str = error.details() or ""  # type: ignore[attr-defined]
    for key, value in error.trailing_metadata() or ():  # type: ignore[attr-defined]
        if key == DETAILS_KEY and isinstance(value, bytes):
            try:
                status = status_pb2.Status.FromString(value)
            except Exception:  # noqa: BLE001 - a garbled trailer must not hide the error itself
                break
            # grpc-status/grpc-message are authoritative; the trailer adds details.
            status.code, status.message = code.value[0], message
            return status
    return status_pb2.Status(code=code.value[0], message=message)


def make_status(code: grpc.StatusCode, message: str, details: Sequence[any_pb2.Any] = ()) -> status_pb2.Status:
    return status_pb2.Status(code=code.value[0], message=message, details=list(details))


def _detail_json(detail: any_pb2.Any) -> dict[str, Any]:
    try:
        # Zero values printed, as Envoy's transcoder prints them (an empty ErrorInfo metadata is {}).
        return json_format.MessageToDict(detail, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)
    except (TypeError, KeyError, json_format.Error):
        # Type not in the descriptor pool: print it as Envoy would an unknown Any.
        return {"@type": detail.type_url, "value": base64.b64encode(detail.value).decode()}


def status_json(status: status_pb2.Status) -> dict[str, Any]:
    """google.rpc.Status as JSON, as Envoy's transcoder prints it (convert_grpc_status)."""
    return {"code": status.code, "message": status.message, "details": [_detail_json(d) for d in status.details]}


def error_info(status: status_pb2.Status) -> error_details_pb2.ErrorInfo | None:
    """The first google.rpc.ErrorInfo among the details, if any."""
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info
    return None


@dataclass(frozen=True)
class ErrorShape:
    """One surface's error body: its ``aifarm.options.v1.error_body`` option, read once."""

    shape: int = Shape.ERROR_BODY_SHAPE_GOOGLE_RPC_STATUS
    codes: tuple[tuple[int, str], ...] = ()
    """(gRPC code number, document code) pairs."""
    default_code: str = "INTERNAL_ERROR"
    reason_codes: frozenset[str] = frozenset()
    # Where a surface begins is no part of its shape: services of one surface declare different prefixes.
    path_prefixes: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def of(cls, options: error_options_pb2.ErrorBodyOptions) -> ErrorShape:
        shape = options.shape or Shape.ERROR_BODY_SHAPE_GOOGLE_RPC_STATUS
        return cls(
            shape=shape,
            codes=tuple((int(c.code), c.name) for c in options.codes),
            default_code=options.default_code or "INTERNAL_ERROR",
            reason_codes=frozenset(options.reason_codes),
            path_prefixes=tuple(options.path_prefixes),
        )

    @property
    def name(self) -> str:
        """The shape's enum name without its prefix (``DETAIL``), for logs and generated names."""
        return Shape.Name(self.shape).removeprefix("ERROR_BODY_SHAPE_")

    def code_name(self, code: int, reason: str = "") -> str:
        """The document's string code: the servicer's ErrorInfo reason when it is one, else by gRPC code."""
        if reason and reason in self.reason_codes:
            return reason
        return dict(self.codes).get(code, self.default_code)

    def body(self, status: status_pb2.Status) -> dict[str, Any]:
        if self.shape == Shape.ERROR_BODY_SHAPE_DETAIL:
            return {"detail": status.message}
        if self.shape in (Shape.ERROR_BODY_SHAPE_ERROR_OBJECT, Shape.ERROR_BODY_SHAPE_SUCCESS_ENVELOPE):
            info = error_info(status)
            error = {
                "code": self.code_name(status.code, info.reason if info else ""),
                "message": status.message,
                # The documents show an object here: the ErrorInfo's metadata (its facts, all strings).
                "details": dict(info.metadata) if info else {},
            }
            if self.shape == Shape.ERROR_BODY_SHAPE_ERROR_OBJECT:
                return {"error": error}
            # gswarm's own clients read `detail` (ORIGINAL-CLIENTS.md), beside the document's envelope.
            return {"success": False, "data": None, "error": error, "detail": status.message}
        return status_json(status)


#: The core API's shape, and that of every service without the option.
CORE = ErrorShape()


def shape_of_service(service: ServiceDescriptor) -> ErrorShape:
    options = service.GetOptions()
    if not options.HasExtension(error_options_pb2.error_body):
        return CORE
    return ErrorShape.of(options.Extensions[error_options_pb2.error_body])


@functools.lru_cache(maxsize=None)
def _shape_of(service: str, pool: Any) -> ErrorShape:
    return shape_of_service(pool.FindServiceByName(service))


def shape_for(route: Route | None) -> ErrorShape:
    """The error shape of a route's service (the core one for no route)."""
    if route is None:
        return CORE
    return _shape_of(route.service, route.input.file.pool)


class ShapeConflict(ValueError):
    """Two surfaces declare the same path prefix with different error shapes."""


@dataclass(frozen=True)
class PathShapes:
    """The shape for a request path that matches no method: the longest declared prefix's."""

    prefixes: tuple[tuple[str, ErrorShape], ...]
    """(prefix, shape), longest prefix first."""

    @classmethod
    def of(cls, routes: Iterable[Route]) -> PathShapes:
        found: dict[str, tuple[ErrorShape, str]] = {}
        for route in routes:
            shape = shape_for(route)
            for prefix in shape.path_prefixes:
                other = found.setdefault(prefix, (shape, route.service))
                if other[0] != shape:
                    raise ShapeConflict(
                        f"path prefix {prefix!r} has two error shapes: {other[1]}'s and {route.service}'s;"
                        " give them the same aifarm.options.v1.error_body or different prefixes"
                    )
        ordered = sorted(found.items(), key=lambda item: -len(item[0]))
        return cls(tuple((prefix, shape) for prefix, (shape, _) in ordered))

    def for_path(self, raw_path: str) -> ErrorShape:
        return next((shape for prefix, shape in self.prefixes if raw_path.startswith(prefix)), CORE)


def error_payload(
    status: status_pb2.Status, overrides: Sequence[tuple[int, int]] = (), shape: ErrorShape = CORE
) -> tuple[int, bytes]:
    """HTTP status and JSON body for a gRPC status; ``overrides`` are a route's (gRPC code, HTTP status) pairs."""
    code = _BY_NUMBER.get(status.code, grpc.StatusCode.UNKNOWN)
    http = next((h for c, h in overrides if c == status.code), http_status(code))
    return http, dumps(shape.body(status))
