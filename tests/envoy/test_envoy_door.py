"""A real controller behind a real Envoy running the generated config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import grpc
import pytest
from envoy_http import Reply, call, connect
from grpc_health.v1 import health_pb2, health_pb2_grpc

from aifarm.v1 import system_service_pb2, system_service_pb2_grpc
from envoy_process import EnvoyProcess
from farm_processes import ControllerProcess, free_port

MAX_BODY = 64 * 1024
MAX_UPLOAD = 2 * 1024 * 1024  # over Envoy's 1 MiB default buffer, so that limit shows if it slips back
#: The controller's upload limit (--max-upload-mb): streamed uploads pass Envoy unbuffered, and this is
#: the limit that answers 413. Above MAX_UPLOAD (Envoy's unary response limit), so that a download over
#: that limit can be stored.
STORE_LIMIT = 2 * MAX_UPLOAD
TASK = {"display_name": "waits", "script": {"source": "print(1)", "entrypoint": "main.py"}, "resources": {"gpus": 64}}


@pytest.fixture(scope="module")
def envoy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EnvoyProcess]:
    root = tmp_path_factory.mktemp("envoy_door")
    controller = ControllerProcess(root / "controller", free_port(), extra=["--max-upload-mb", str(STORE_LIMIT >> 20)]).start()
    proxy = EnvoyProcess(root / "envoy", controller.address, max_body_bytes=MAX_BODY, max_upload_bytes=MAX_UPLOAD)
    try:
        yield proxy.start()
    finally:
        proxy.stop()
        controller.kill()


def status_body(reply: Reply, http_status: int, code: int, reason: str | None = None) -> dict:
    """The google.rpc.Status JSON: exactly code, message and details (convert_grpc_status)."""
    assert reply.status == http_status, reply.body
    assert reply.headers["content-type"] == "application/json"
    body = reply.json()
    assert set(body) == {"code", "message", "details"} and body["code"] == code and body["message"], body
    if reason is not None:
        assert [(d["@type"], d["reason"]) for d in body["details"]] == [
            ("type.googleapis.com/google.rpc.ErrorInfo", reason)
        ], body
    return body


def total(envoy: EnvoyProcess) -> int:
    return int(call(envoy.url, "GET", "/v1/tasks?page_size=1").headers["x-total-count"])


def test_health_answers_without_a_key(envoy: EnvoyProcess) -> None:
    reply = call(envoy.url, "GET", "/v1/health", key=None)
    assert reply.status == 200 and reply.json()["status"] == "healthy"


def test_create_answers_201_with_proto_names_and_zero_values(envoy: EnvoyProcess) -> None:
    reply = call(envoy.url, "POST", "/v1/tasks", TASK, headers={"X-Request-Id": "envoy-create-1"})
    assert reply.status == 201, reply.body
    task = reply.json()
    assert task["name"].startswith("tasks/") and task["display_name"] == "waits"
    assert task["attempt"] == 0 and task["max_retries"] == 0 and task["resources"]["memory_mb"] == 0
    assert task["node"] == "" and task["depends_on"] == [] and task["state"] == "TASK_STATE_PENDING"
    assert reply.headers["x-request-id"] == "envoy-create-1"  # initial metadata -> headers
    assert call(envoy.url, "GET", f"/v1/{task['name']}").json()["name"] == task["name"]


def test_errors_are_google_rpc_status_json_with_error_info(envoy: EnvoyProcess) -> None:
    status_body(call(envoy.url, "GET", "/v1/tasks/no-such-task"), 404, 5, "TASK_NOT_FOUND")
    status_body(call(envoy.url, "GET", "/v1/tasks", key=None), 401, 16, "UNAUTHENTICATED")
    status_body(call(envoy.url, "GET", "/v1/tasks", key="wrong"), 401, 16, "UNAUTHENTICATED")
    assert call(envoy.url, "GET", "/v1/tasks", key=None, headers={"X-API-Key": "test-api-key"}).status == 200


def test_envoys_own_errors_are_status_json_too(envoy: EnvoyProcess) -> None:
    # local_reply_config: without it these are text/plain
    body = status_body(call(envoy.url, "GET", "/v1/no/such/route"), 404, 5)
    # worded as the Python gateway words it (gateway.envoy._door_messages)
    assert body == {"code": 5, "message": "no method is bound to GET /v1/no/such/route", "details": []}
    json_type = {"Content-Type": "application/json"}
    status_body(call(envoy.url, "POST", "/v1/tasks", b"{not json", headers=json_type), 400, 3)
    status_body(call(envoy.url, "GET", "/v1/tasks?page_size=many"), 400, 3)
    status_body(call(envoy.url, "GET", "/openapi.json"), 404, 5)  # the docs live on the Python gateway only


def test_a_body_field_contradicting_the_path_is_refused(envoy: EnvoyProcess) -> None:
    task, other = (call(envoy.url, "POST", "/v1/tasks", TASK).json()["name"] for _ in range(2))
    body = status_body(call(envoy.url, "POST", f"/v1/{task}:cancel", {"name": other}), 400, 3)
    assert "name" in body["message"], body
    states = {call(envoy.url, "GET", f"/v1/{name}").json()["state"] for name in (task, other)}
    assert states == {"TASK_STATE_PENDING"}  # without reject_binding_body_field_collisions: other is cancelled
    assert call(envoy.url, "POST", f"/v1/{task}:cancel", {"name": task}).json()["state"] == "TASK_STATE_CANCELLED"


def test_unknown_query_parameters_are_ignored_and_list_sends_x_total_count(envoy: EnvoyProcess) -> None:
    call(envoy.url, "POST", "/v1/tasks", TASK)
    reply = call(envoy.url, "GET", "/v1/tasks?page_size=1&no_such_field=x&a.b.c=1")
    assert reply.status == 200, reply.body
    assert len(reply.json()["tasks"]) == 1 and int(reply.headers["x-total-count"]) >= 1


def test_dataset_upload_201_download_and_delete_204_without_a_body(envoy: EnvoyProcess) -> None:
    content = b"x,y\n" + b"".join(b"%d,%d\n" % (i, i * i) for i in range(100))
    csv = {"Content-Type": "text/csv"}
    created = call(envoy.url, "POST", "/v1/datasets?dataset_id=x.csv", content, headers=csv)
    assert created.status == 201, created.body
    assert created.json()["name"] == "datasets/x.csv" and created.json()["size_bytes"] == str(len(content))
    download = call(envoy.url, "GET", "/v1/datasets/x.csv:download")
    assert download.status == 200 and download.body == content
    assert download.headers["content-type"].startswith("text/csv")

    conn = connect(envoy.url)
    deleted = call(conn, "DELETE", "/v1/datasets/x.csv")
    assert deleted.status == 204 and deleted.body == b""
    assert deleted.headers["content-length"] is None and deleted.headers["content-type"] is None
    # the transcoder's "{}" must not be left on the connection for the next reply to trip on
    status_body(call(conn, "GET", "/v1/datasets/x.csv"), 404, 5, "DATASET_NOT_FOUND")
    conn.close()


def test_bodies_over_the_limits_get_413_and_change_nothing(envoy: EnvoyProcess) -> None:
    before = total(envoy)
    big = json.dumps({**TASK, "display_name": "#" * MAX_BODY}).encode()
    body = status_body(call(envoy.url, "POST", "/v1/tasks", big), 413, 8)
    assert body["message"] == f"request body is larger than {MAX_BODY} bytes"
    # sent in chunks it is refused all the same (the transcoder's own limit alone lets that through)
    status_body(call(envoy.url, "POST", "/v1/tasks", iter([big[i : i + 8192] for i in range(0, len(big), 8192)]),
                     headers={"Content-Type": "application/json"}), 413, 8)  # fmt: skip
    # whitespace is body too: only the byte count matters, as in the Python gateway
    padded = json.dumps(TASK).encode()[:-1] + b" " * MAX_BODY + b"}"
    status_body(call(envoy.url, "POST", "/v1/tasks", padded, headers={"Content-Type": "application/json"}), 413, 8)
    assert total(envoy) == before
    exact = json.dumps(TASK).encode()[:-1]
    exact += b" " * (MAX_BODY - len(exact) - 1) + b"}"
    assert len(exact) == MAX_BODY
    assert call(envoy.url, "POST", "/v1/tasks", exact, headers={"Content-Type": "application/json"}).status == 201


def test_uploads_have_the_larger_limit_and_come_back_whole(envoy: EnvoyProcess) -> None:
    csv = {"Content-Type": "text/csv"}
    content = b"".join(b"%063d\n" % i for i in range(STORE_LIMIT // 64))
    assert len(content) == STORE_LIMIT
    assert call(envoy.url, "POST", "/v1/datasets?dataset_id=full.csv", content, headers=csv).status == 201
    # a response over 1 MiB, Envoy's default buffer
    download = call(envoy.url, "GET", "/v1/datasets/full.csv:download")
    assert download.status == 200 and download.body == content
    # the controller refuses it as it streams in (RESOURCE_EXHAUSTED), the method's error_statuses make it 413
    status_body(call(envoy.url, "POST", "/v1/datasets?dataset_id=big.csv", content + b"x", headers=csv), 413, 8)
    status_body(call(envoy.url, "GET", "/v1/datasets/big.csv"), 404, 5)
    # sent in pieces it is refused all the same, and nothing is kept
    pieces = iter([content[i : i + 100_000] for i in range(0, len(content), 100_000)] + [b"x"])
    status_body(call(envoy.url, "POST", "/v1/datasets?dataset_id=big.csv", pieces, headers=csv), 413, 8)
    status_body(call(envoy.url, "GET", "/v1/datasets/big.csv"), 404, 5)


def test_a_download_over_the_response_limit_streams_through(envoy: EnvoyProcess) -> None:
    """Downloads are HttpBody streams: Envoy writes them as they come, never holding them
    whole, so one larger than max_response_body_size (the upload limit) passes."""
    from google.api import httpbody_pb2

    from aifarm.v1 import dataset_service_pb2
    from farm_processes import Client

    content = b"".join(b"%063d\n" % i for i in range(3 * MAX_UPLOAD // 2 // 64))
    assert len(content) > MAX_UPLOAD
    client = Client(envoy.controller_address)  # straight to the controller: REST would refuse the upload
    try:
        body = httpbody_pb2.HttpBody(content_type="text/csv", data=content)
        first = dataset_service_pb2.CreateDatasetRequest(dataset_id="huge.csv", content=body)
        client.datasets.CreateDataset(iter([first]), metadata=client.metadata, timeout=30)
    finally:
        client.close()
    download = call(envoy.url, "GET", "/v1/datasets/huge.csv:download")
    assert download.status == 200 and download.body == content
    assert download.headers["content-type"].startswith("text/csv")
    status_body(call(envoy.url, "GET", "/v1/datasets/nothing.csv:download"), 404, 5, "DATASET_NOT_FOUND")


def test_grpc_through_the_rest_port_reaches_only_the_listeners_services(envoy: EnvoyProcess) -> None:
    with grpc.insecure_channel(envoy.url.removeprefix("http://")) as channel:
        system = system_service_pb2_grpc.SystemServiceStub(channel)
        assert system.GetHealth(system_service_pb2.GetHealthRequest(), timeout=10).status == "healthy"
        with pytest.raises(grpc.RpcError) as err:
            health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
        assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_a_controller_that_is_down_is_503_unavailable(tmp_path: Path) -> None:
    proxy = EnvoyProcess(tmp_path, f"127.0.0.1:{free_port()}").start()
    try:
        body = status_body(call(proxy.url, "GET", "/v1/tasks"), 503, 14)
        assert "upstream connect error" in body["message"]
    finally:
        proxy.stop()
