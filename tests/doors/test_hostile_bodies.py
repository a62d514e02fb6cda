"""Hostile JSON bodies through both doors: a clear 4xx in the usual error body, never a 500, nothing kept.

Before the fix, the Python gateway answered a body nested 100,000 levels deep on POST /v1/tasks
(body: "task") with a 500 (a RecursionError), and a google.protobuf.Struct nested 34-48 levels,
which its JSON parser accepted but the controller's wire decoder could not, with another (UNKNOWN).
"""

from __future__ import annotations

import uuid

import pytest
import requests

from conftest import Door

DEEP = 100_000
JSON = {"Content-Type": "application/json"}


def _objects(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


def _arrays(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def _refused(door: Door, reply: requests.Response, status: int) -> dict:
    """The error body of an INVALID_ARGUMENT in the surface's shape, the same keys from both doors:
    google.rpc.Status on the core API, {"detail"} on the documents' (aifarm.options.v1.error_body)."""
    assert reply.status_code == status, reply.text[:500]
    assert reply.headers["Content-Type"].startswith("application/json")
    body = reply.json()
    if "detail" in body:
        assert set(body) == {"detail"} and body["detail"], body
        return {"code": 3, "message": body["detail"], "details": []}
    assert set(body) == {"code", "message", "details"} and body["code"] == 3 and body["message"], body
    return body


def _task_count(door: Door) -> int:
    reply = door.call("GET", "/v1/tasks", params={"page_size": 1})
    assert reply.status_code == 200, reply.text
    return int(reply.headers["x-total-count"])


# POST /v1/tasks has body "task"; POST /v1/tasks/{id}:cancel has body "*".
CORE_BODIES = {
    "an object nested 100,000 deep": ("/v1/tasks", b'{"display_name":"x","script":{"source":"print(1)"},"labels":'
                                      + _objects(DEEP) + b"}"),
    "an array nested 100,000 deep": ("/v1/tasks", b'{"display_name":' + _arrays(DEEP) + b"}"),
    "the whole body nested 100,000 deep": ("/v1/tasks", _arrays(DEEP)),
    "a whole body nested 100,000 deep on a custom verb": ("/v1/tasks/nope:cancel", _objects(DEEP)),
    "an integer of 100,000 digits": ("/v1/tasks", b'{"script":{"source":"print(1)"},"max_retries":'
                                     + b"9" * DEEP + b"}"),
    "an exponent past a double": ("/v1/tasks", b'{"script":{"source":"print(1)"},"max_retries":1e999999}'),
    "NaN unquoted": ("/v1/tasks", b'{"script":{"source":"print(1)"},"max_retries":NaN}'),
    "not UTF-8": ("/v1/tasks", b'{"display_name":"\xff\xfe","script":{"source":"print(1)"}}'),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CORE_BODIES))
def test_a_hostile_core_body_is_a_400(door: Door, case: str) -> None:
    path, body = CORE_BODIES[case]
    before = _task_count(door)
    _refused(door, door.call("POST", path, data=body, headers=JSON), 400)
    assert _task_count(door) == before, "a refused body created a task"


def _job(meta: bytes = b"{}", **fields: bytes) -> bytes:
    """A ShelbyCompute CreateJob body (body: "*", with a google.protobuf.Struct `meta`)."""
    extra = b"".join(b',"%s":%s' % (k.encode(), v) for k, v in fields.items())
    return b'{"jobId":"%s","datasetName":"d","meta":%s%s}' % (uuid.uuid4().hex[:12].encode(), meta, extra)


# The document answers 422 to a malformed body (the method's error_statuses), through both doors.
SHELBY_BODIES = {
    "meta nested 100,000 deep": _job(_objects(DEEP)),
    "meta arrays nested 100,000 deep": _job(b'{"a":' + _arrays(DEEP) + b"}"),
    "an integer in meta past a double": _job(b'{"n":' + b"9" * 400 + b"}"),
    "1e999999 into a double": _job(runtimeMinutesEstimate=b"1e999999"),
    "Infinity unquoted in meta": _job(b'{"n":Infinity}'),
}


@pytest.mark.parametrize("case", list(SHELBY_BODIES))
def test_a_hostile_body_on_a_struct_field_is_the_documents_422(door: Door, case: str) -> None:
    before = _task_count(door)
    _refused(door, door.call("POST", "/api/jobs/create", data=SHELBY_BODIES[case], headers=JSON), 422)
    assert _task_count(door) == before


@pytest.mark.parametrize("depth", [34, 48])
def test_a_struct_too_deep_for_the_wire_decoder_is_refused_not_a_500(door: Door, depth: int) -> None:
    """Deep enough for a JSON parser, too deep for protobuf's decoder (100 messages; three per Struct level).

    Envoy's transcoder accepts JSON up to about 64 levels and sends it on; the controller's
    RequestDecodingInterceptor answers the undecodable request INVALID_ARGUMENT (not UNKNOWN).
    """
    before = _task_count(door)
    reply = door.call("POST", "/api/jobs/create", data=_job(_objects(depth)), headers=JSON)
    assert reply.status_code < 500, reply.text[:300]
    _refused(door, reply, 422)
    assert _task_count(door) == before


def test_the_door_still_serves_after_hostile_bodies(door: Door) -> None:
    for _ in range(3):
        door.call("POST", "/v1/tasks", data=_arrays(DEEP), headers=JSON)
    assert door.call("GET", "/v1/health").status_code == 200
    created = door.call("POST", "/v1/tasks", json={"script": {"source": "print(1)"}, "resources": {"gpus": 64}})
    assert created.status_code == 201, created.text
