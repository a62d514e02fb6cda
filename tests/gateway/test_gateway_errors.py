"""gateway.errors: the gRPC -> HTTP status table and the error body."""

from __future__ import annotations

import base64
import json

import grpc
import pytest
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

from gateway.errors import DETAILS_KEY, HTTP_STATUS, error_body, error_payload, http_status, make_status, status_of

# DESIGN, Wire shapes: the table Envoy and grpc-gateway v2 share.
TABLE = {
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


def test_table_covers_every_code() -> None:
    assert set(HTTP_STATUS) == set(grpc.StatusCode) == set(TABLE)


@pytest.mark.parametrize(("code", "http"), list(TABLE.items()), ids=[c.name for c in TABLE])
def test_status_table_row(code: grpc.StatusCode, http: int) -> None:
    assert http_status(code) == http
    status, body = error_payload(make_status(code, f"{code.name} happened"))
    assert status == http
    assert json.loads(body)["code"] == code.value[0]


def test_unknown_numeric_code_is_500() -> None:
    status, body = error_payload(status_pb2.Status(code=42, message="odd"))
    assert status == 500
    assert json.loads(body)["code"] == 42


def _error_info() -> any_pb2.Any:
    detail = any_pb2.Any()
    detail.Pack(error_details_pb2.ErrorInfo(reason="TASK_NOT_FOUND", domain="aifarm", metadata={"task": "t1"}))
    return detail


def test_error_body_shape() -> None:
    status = make_status(grpc.StatusCode.NOT_FOUND, "task t1 not found", [_error_info()])
    body = error_body(status)
    detail = {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": "TASK_NOT_FOUND",
        "domain": "aifarm",
        "metadata": {"task": "t1"},
    }
    assert body == {
        "code": 5,
        "message": "task t1 not found",
        "details": [detail],
        "detail": "task t1 not found",
        "error": {"code": 5, "message": "task t1 not found", "details": [detail]},
        "success": False,
    }


def test_error_body_without_details() -> None:
    body = error_body(make_status(grpc.StatusCode.INVALID_ARGUMENT, ""))
    assert body["details"] == [] and body["error"]["details"] == []
    assert body["message"] == body["detail"] == ""
    assert body["success"] is False


def test_error_body_with_unknown_detail_type() -> None:
    unknown = any_pb2.Any(type_url="type.googleapis.com/nowhere.Thing", value=b"\x08\x01")
    body = error_body(make_status(grpc.StatusCode.INTERNAL, "x", [unknown]))
    assert body["details"] == [
        {"@type": "type.googleapis.com/nowhere.Thing", "value": base64.b64encode(b"\x08\x01").decode()}
    ]


def test_error_payload_is_compact_json() -> None:
    status, body = error_payload(make_status(grpc.StatusCode.ALREADY_EXISTS, "déjà"))
    assert status == 409
    assert "déjà".encode() in body
    assert json.loads(body)["error"]["message"] == "déjà"


def _rpc_error(code: grpc.StatusCode, details: str, trailing: tuple[tuple[str, str | bytes], ...] = ()) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(*trailing), details=details)


def test_status_of_plain_error() -> None:
    status = status_of(_rpc_error(grpc.StatusCode.PERMISSION_DENIED, "no"))
    assert status == status_pb2.Status(code=7, message="no")


def test_status_of_reads_the_details_trailer() -> None:
    sent = status_pb2.Status(code=99, message="ignored", details=[_error_info()])
    error = _rpc_error(grpc.StatusCode.NOT_FOUND, "missing", ((DETAILS_KEY, sent.SerializeToString()),))
    status = status_of(error)
    # grpc-status and grpc-message are authoritative; the trailer adds the details.
    assert (status.code, status.message) == (5, "missing")
    assert list(status.details) == [_error_info()]


def test_status_of_survives_a_garbled_trailer() -> None:
    error = _rpc_error(grpc.StatusCode.UNAVAILABLE, "down", ((DETAILS_KEY, b"\xff\xff\xff"),))
    assert status_of(error) == status_pb2.Status(code=14, message="down")


def test_status_of_without_message() -> None:
    status = status_of(_rpc_error(grpc.StatusCode.INTERNAL, ""))
    assert (status.code, status.message) == (13, "")
