"""gRPC status -> HTTP status and error body.

The table is the one Envoy and grpc-gateway v2 share (DESIGN, Wire shapes).
The body is the ``google.rpc.Status`` JSON Envoy prints with
``convert_grpc_status``, plus the keys the documents' own clients read:
``detail`` (FastAPI style), ``error: {code, message, details}`` and ``success: false``.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

import grpc
from google.protobuf import any_pb2, json_format
from google.rpc import status_pb2

from gateway.transcode import dumps

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
        return json_format.MessageToDict(detail, preserving_proto_field_name=True)
    except (TypeError, KeyError, json_format.Error):
        # Type not in the descriptor pool: print it as Envoy would an unknown Any.
        return {"@type": detail.type_url, "value": base64.b64encode(detail.value).decode()}


def error_body(status: status_pb2.Status) -> dict[str, Any]:
    details = [_detail_json(d) for d in status.details]
    return {
        "code": status.code,
        "message": status.message,
        "details": details,
        "detail": status.message,
        "error": {"code": status.code, "message": status.message, "details": details},
        "success": False,
    }


def error_payload(status: status_pb2.Status, overrides: Sequence[tuple[int, int]] = ()) -> tuple[int, bytes]:
    """HTTP status and JSON body for a gRPC status; ``overrides`` are a route's (gRPC code, HTTP status) pairs."""
    code = _BY_NUMBER.get(status.code, grpc.StatusCode.UNKNOWN)
    http = next((h for c, h in overrides if c == status.code), http_status(code))
    return http, dumps(error_body(status))
