"""gateway.errors: the gRPC -> HTTP status table and the error bodies of each declared shape."""

from __future__ import annotations

import base64
import json

import grpc
import pytest
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

from aifarm.options.v1 import error_options_pb2
from gateway.errors import (
    CORE, DETAILS_KEY, HTTP_STATUS, ErrorShape, error_payload, http_status, make_status, status_json, status_of,
)  # fmt: skip

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


def _error_body(status: status_pb2.Status) -> dict:
    return CORE.body(status)


def test_core_error_body_is_google_rpc_status() -> None:
    status = make_status(grpc.StatusCode.NOT_FOUND, "task t1 not found", [_error_info()])
    detail = {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": "TASK_NOT_FOUND",
        "domain": "aifarm",
        "metadata": {"task": "t1"},
    }
    # Exactly Envoy's convert_grpc_status JSON: no keys of the documents' shapes.
    assert _error_body(status) == {"code": 5, "message": "task t1 not found", "details": [detail]}
    assert status_json(status) == _error_body(status)


def test_error_body_without_details() -> None:
    assert _error_body(make_status(grpc.StatusCode.INVALID_ARGUMENT, "")) == {"code": 3, "message": "", "details": []}


def test_error_body_with_unknown_detail_type() -> None:
    unknown = any_pb2.Any(type_url="type.googleapis.com/nowhere.Thing", value=b"\x08\x01")
    body = _error_body(make_status(grpc.StatusCode.INTERNAL, "x", [unknown]))
    assert body["details"] == [
        {"@type": "type.googleapis.com/nowhere.Thing", "value": base64.b64encode(b"\x08\x01").decode()}
    ]


Code = error_options_pb2.ErrorCodeName
Shape = error_options_pb2.ErrorBodyShape
#: Seed 001's codes, as its surface will declare them.
SEED_001 = error_options_pb2.ErrorBodyOptions(
    shape=Shape.ERROR_BODY_SHAPE_ERROR_OBJECT,
    codes=[Code(code=3, name="INVALID_REQUEST"), Code(code=16, name="UNAUTHORIZED"), Code(code=7, name="FORBIDDEN"),
           Code(code=5, name="NOT_FOUND"), Code(code=6, name="CONFLICT"), Code(code=14, name="SERVICE_UNAVAILABLE")],
    default_code="INTERNAL_ERROR",
)  # fmt: skip
#: gswarm's envelope with seed 002's codes, a servicer's reason (MODEL_NOT_FOUND) passed through.
SEED_002 = error_options_pb2.ErrorBodyOptions(
    shape=Shape.ERROR_BODY_SHAPE_SUCCESS_ENVELOPE,
    codes=[Code(code=5, name="NOT_FOUND"), Code(code=3, name="INVALID_REQUEST"), Code(code=12, name="NOT_IMPLEMENTED")],
    default_code="INTERNAL_ERROR",
    reason_codes=["MODEL_NOT_FOUND", "RESOURCE_UNAVAILABLE"],
)


def _info(reason: str, **metadata: str) -> any_pb2.Any:
    detail = any_pb2.Any()
    detail.Pack(error_details_pb2.ErrorInfo(reason=reason, domain="aifarm.dev", metadata=metadata))
    return detail


def test_detail_shape_is_fastapis() -> None:
    shape = ErrorShape.of(error_options_pb2.ErrorBodyOptions(shape=Shape.ERROR_BODY_SHAPE_DETAIL))
    status = make_status(grpc.StatusCode.NOT_FOUND, "Session 'x' not found", [_info("NOT_FOUND")])
    assert shape.body(status) == {"detail": "Session 'x' not found"}


@pytest.mark.parametrize(
    ("code", "name"),
    [(grpc.StatusCode.INVALID_ARGUMENT, "INVALID_REQUEST"), (grpc.StatusCode.UNAUTHENTICATED, "UNAUTHORIZED"),
     (grpc.StatusCode.PERMISSION_DENIED, "FORBIDDEN"), (grpc.StatusCode.NOT_FOUND, "NOT_FOUND"),
     (grpc.StatusCode.ALREADY_EXISTS, "CONFLICT"), (grpc.StatusCode.UNAVAILABLE, "SERVICE_UNAVAILABLE"),
     (grpc.StatusCode.INTERNAL, "INTERNAL_ERROR"), (grpc.StatusCode.DATA_LOSS, "INTERNAL_ERROR")],
)  # fmt: skip
def test_error_object_shape_names_the_documents_codes(code: grpc.StatusCode, name: str) -> None:
    status = make_status(code, "bad", [_info("SOMETHING_INTERNAL", task="t1")])
    # The servicer's own reason is not one of the document's codes: the gRPC code decides.
    assert ErrorShape.of(SEED_001).body(status) == {"error": {"code": name, "message": "bad", "details": {"task": "t1"}}}


def test_success_envelope_takes_a_servicers_reason_that_is_a_document_code() -> None:
    shape = ErrorShape.of(SEED_002)
    missing_model = make_status(grpc.StatusCode.NOT_FOUND, "no model m", [_info("MODEL_NOT_FOUND", model="m")])
    assert shape.body(missing_model) == {
        "success": False, "data": None, "error": {"code": "MODEL_NOT_FOUND", "message": "no model m", "details": {"model": "m"}},
        "detail": "no model m",
    }  # fmt: skip
    other = shape.body(make_status(grpc.StatusCode.NOT_FOUND, "no task"))
    assert other["error"] == {"code": "NOT_FOUND", "message": "no task", "details": {}}
    assert shape.body(make_status(grpc.StatusCode.UNIMPLEMENTED, "later"))["error"]["code"] == "NOT_IMPLEMENTED"


def test_error_payload_renders_the_shape_with_the_routes_status() -> None:
    shape = ErrorShape.of(SEED_001)
    status, body = error_payload(make_status(grpc.StatusCode.INVALID_ARGUMENT, "no"), ((3, 422),), shape)
    assert status == 422 and json.loads(body) == {"error": {"code": "INVALID_REQUEST", "message": "no", "details": {}}}


def test_error_payload_is_compact_json() -> None:
    status, body = error_payload(make_status(grpc.StatusCode.ALREADY_EXISTS, "déjà"))
    assert status == 409
    assert "déjà".encode() in body
    assert json.loads(body)["message"] == "déjà"


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
