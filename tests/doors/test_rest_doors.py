"""The same REST calls through both doors: the Python gateway and Envoy.

Where Envoy cannot match the Python gateway, the test says so where it branches:
- Envoy's error body is the google.rpc.Status JSON only; the gateway adds the keys
  older clients read (`detail`, `error`, `success`).
- Envoy does not serve /openapi.json, /docs and /redoc.
- Envoy labels newline-delimited streams application/json (the gateway: application/x-ndjson),
  and an error after a stream has started is lost over HTTP/1.1 (tests/envoy/test_envoy_streams.py).
"""

from __future__ import annotations

import json
import uuid

import pytest

from conftest import MAX_BODY_BYTES, UPLOAD_LIMIT_BYTES, Door, Farm, start_door
from farm_processes import AGENT_TOKEN, free_port, wait_for
from controller.api.auth import open_methods
from gateway.descriptors import find_services, import_generated
from gateway.listeners import by_name
from gateway.routes import RouteTable

# A task that can never be placed stays pending: something to list, get and cancel.
UNPLACEABLE = {"display_name": "waits", "script": {"source": "print(1)"}, "resources": {"gpus": 64}}


def _create(door: Door, task: dict, **params: str) -> dict:
    reply = door.call("POST", "/v1/tasks", json=task, params=params)
    assert reply.status_code == 201, reply.text
    return reply.json()


def _state(door: Door, name: str) -> str:
    return door.call("GET", f"/v1/{name}").json()["state"]


def _error(reply, status: int, code: int, reason: str | None = None) -> dict:
    assert reply.status_code == status, reply.text
    body = reply.json()
    assert body["code"] == code and body["message"]
    if reason is not None:
        assert [d.get("reason") for d in body["details"]] == [reason], body
    return body


def test_create_prints_proto_names_and_zero_values(door: Door) -> None:
    task = _create(door, UNPLACEABLE)
    assert task["name"].startswith("tasks/")
    assert task["state"] == "TASK_STATE_PENDING"
    # proto field names, zero values printed (not camelCase, not omitted)
    assert task["display_name"] == "waits" and task["attempt"] == 0 and task["max_retries"] == 0
    assert task["resources"]["gpus"] == 64 and task["resources"]["memory_mb"] == 0
    assert door.call("GET", f"/v1/{task['name']}").json()["name"] == task["name"]


def test_batch_create_through_the_custom_verb_is_all_or_nothing(door: Door) -> None:
    run = uuid.uuid4().hex[:8]
    bad = {"requests": [{"task_id": f"b0-{run}", "task": UNPLACEABLE},
                        {"task_id": f"b1-{run}", "task": {"script": {"source": "print(1)", "entrypoint": "../x.py"}}}]}
    body = _error(door.call("POST", "/v1/tasks:batchCreate", json=bad), 400, 3)
    assert body["message"].startswith("requests[1]: "), body
    assert door.call("GET", f"/v1/tasks/b0-{run}").status_code == 404, "a refused batch creates nothing"
    good = {"requests": [{"task_id": f"b{i}-{run}", "task": UNPLACEABLE} for i in range(3)]}
    reply = door.call("POST", "/v1/tasks:batchCreate", json=good)
    assert reply.status_code == 200, reply.text
    assert [t["name"] for t in reply.json()["tasks"]] == [f"tasks/b{i}-{run}" for i in range(3)]
    assert all(_state(door, f"tasks/b{i}-{run}") == "TASK_STATE_PENDING" for i in range(3))


def test_list_pages_with_total_count_header(door: Door) -> None:
    names = {_create(door, UNPLACEABLE)["name"] for _ in range(3)}
    first = door.call("GET", "/v1/tasks", params={"page_size": 2, "states": "TASK_STATE_PENDING"})
    assert first.status_code == 200
    total = int(first.headers["x-total-count"])
    assert total >= 3
    page = first.json()
    assert len(page["tasks"]) == 2 and page["next_page_token"]
    seen = [t["name"] for t in page["tasks"]]
    while page["next_page_token"]:
        page = door.call("GET", "/v1/tasks", params={"page_size": 2, "page_token": page["next_page_token"],
                                                       "states": "TASK_STATE_PENDING"}).json()  # fmt: skip
        seen += [t["name"] for t in page["tasks"]]
    assert len(seen) == total and names <= set(seen)


def test_cancel_through_a_custom_verb(door: Door) -> None:
    task = _create(door, UNPLACEABLE)
    reply = door.call("POST", f"/v1/{task['name']}:cancel", json={})
    assert reply.status_code == 200, reply.text
    assert reply.json()["state"] == "TASK_STATE_CANCELLED"
    assert _state(door, task["name"]) == "TASK_STATE_CANCELLED"
    # cancelling twice is refused as a failed precondition, and changes nothing
    _error(door.call("POST", f"/v1/{task['name']}:cancel", json={}), 400, 9)


def test_restart_and_delete_a_task(door: Door) -> None:
    task = _create(door, UNPLACEABLE)
    assert door.call("POST", f"/v1/{task['name']}:cancel", json={}).status_code == 200
    restarted = door.call("POST", f"/v1/{task['name']}:restart", json={})
    assert restarted.status_code == 200, restarted.text
    assert restarted.json()["state"] == "TASK_STATE_PENDING"
    _error(door.call("POST", f"/v1/{task['name']}:restart", json={}), 400, 9, "TASK_STATE")
    deleted = door.call("DELETE", f"/v1/{task['name']}")
    assert deleted.status_code == 204 and deleted.content == b""
    _error(door.call("GET", f"/v1/{task['name']}"), 404, 5, "TASK_NOT_FOUND")
    _error(door.call("DELETE", f"/v1/{task['name']}"), 404, 5, "TASK_NOT_FOUND")


def test_lists_leave_script_bodies_out_unless_the_full_view_is_asked(door: Door) -> None:
    task = _create(door, {**UNPLACEABLE, "script": {"source": "print('a body')", "env": {"TOKEN": "secret"}}})
    listed = door.call("GET", "/v1/tasks", params={"page_size": 1000}).json()["tasks"]
    mine = next(t for t in listed if t["name"] == task["name"])
    assert mine["script"]["source"] == "" and mine["script"]["env"] == {} and mine["script"]["entrypoint"] == "main.py"
    full = door.call("GET", "/v1/tasks", params={"page_size": 50, "view": "TASK_VIEW_FULL"}).json()["tasks"]
    mine = next(t for t in full if t["name"] == task["name"])
    assert mine["script"]["source"] == "print('a body')" and mine["script"]["env"] == {"TOKEN": "secret"}
    assert door.call("GET", f"/v1/{task['name']}").json()["script"]["source"] == "print('a body')"


def test_follow_a_log_stream(door: Door) -> None:
    source = "import time\nfor i in range(5):\n    print('tick', i, flush=True)\n    time.sleep(0.2)\n"
    task = _create(door, {"script": {"source": source}})
    with door.call("GET", f"/v1/{task['name']}/logs:stream", params={"follow": "true"}, stream=True) as reply:
        assert reply.status_code == 200
        lines = [json.loads(line) for line in _json_lines(door, reply)]
    texts = [ln["text"] for ln in lines if ln["stream"] == "LOG_STREAM_STDOUT"]
    assert texts == [f"tick {i}" for i in range(5)]
    assert _state(door, task["name"]) == "TASK_STATE_COMPLETED"


def _json_lines(door: Door, reply) -> list[str]:
    """The messages of a server stream: NDJSON from both doors."""
    return [line for line in reply.iter_lines(decode_unicode=True) if line.strip()]


def test_server_sent_events_on_request(door: Door) -> None:
    task = _create(door, {"script": {"source": "print('one')\nprint('two')\n"}})
    headers = {"Accept": "text/event-stream"}
    with door.call("GET", f"/v1/{task['name']}/logs:stream", params={"follow": "true"}, headers=headers,
                   stream=True) as reply:  # fmt: skip
        assert reply.headers["Content-Type"].startswith("text/event-stream")
        events = [json.loads(line[len("data: "):]) for line in reply.iter_lines(decode_unicode=True)
                  if line.startswith("data: ")]  # fmt: skip
    assert [e["text"] for e in events if e["stream"] == "LOG_STREAM_STDOUT"] == ["one", "two"]


def test_upload_download_and_delete_bytes(door: Door) -> None:
    dataset_id = f"d{uuid.uuid4().hex[:8]}.csv"
    content = b"x,y,label\n" + b"".join(b"%d,%d,%d\n" % (i, i * 2, i % 2) for i in range(200))
    created = door.call("POST", "/v1/datasets", params={"dataset_id": dataset_id}, data=content,
                        headers={"Content-Type": "text/csv"})  # fmt: skip
    assert created.status_code == 201, created.text
    assert created.json()["size_bytes"] in (len(content), str(len(content)))

    download = door.call("GET", f"/v1/datasets/{dataset_id}:download")
    assert download.status_code == 200 and download.content == content
    assert download.headers["Content-Type"].startswith("text/csv")

    _error(door.call("POST", "/v1/datasets", params={"dataset_id": dataset_id}, data=content,
                     headers={"Content-Type": "text/csv"}), 409, 6, "DATASET_EXISTS")  # fmt: skip

    deleted = door.call("DELETE", f"/v1/datasets/{dataset_id}")
    assert deleted.status_code == 204 and deleted.content == b""
    _error(door.call("GET", f"/v1/datasets/{dataset_id}"), 404, 5, "DATASET_NOT_FOUND")


def _large_csv() -> bytes:
    """About 3.4 MB: many 256 KiB messages, well within the upload limit."""
    return b"x,y,label\n" + b"".join(b"%d,%d,%d\n" % (i, i * 7 % 1000, i % 2) for i in range(300_000))


def test_a_large_download_streams_through_unchanged(door: Door) -> None:
    dataset_id = f"big{uuid.uuid4().hex[:8]}.csv"
    content = _large_csv()
    created = door.call("POST", "/v1/datasets", params={"dataset_id": dataset_id}, data=content,
                        headers={"Content-Type": "text/csv"})  # fmt: skip
    assert created.status_code == 201, created.text
    with door.call("GET", f"/v1/datasets/{dataset_id}:download", stream=True) as reply:
        assert reply.status_code == 200
        assert reply.headers["Content-Type"].startswith("text/csv")
        received = b"".join(reply.iter_content(64 * 1024))
    assert received == content
    # a download is never framed as SSE, whatever the client accepts
    sse = door.call("GET", f"/v1/datasets/{dataset_id}:download", headers={"Accept": "text/event-stream"})
    assert sse.status_code == 200 and sse.content == content
    assert door.call("DELETE", f"/v1/datasets/{dataset_id}").status_code == 204


def _pieces(data: bytes, size: int = 100_000):
    """A body without Content-Length (chunked), as a client streaming a file sends it."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


def test_a_large_upload_streams_in_and_comes_back_unchanged(door: Door) -> None:
    """About 5 MB each: many messages of the client stream (each door cuts the body in pieces)."""
    import numpy as np

    dataset_id = f"up{uuid.uuid4().hex[:8]}.csv"
    content = b"x,y,label\n" + b"".join(b"%d,%d,%d\n" % (i, i * 7 % 1000, i % 2) for i in range(440_000))
    assert len(content) > 5_000_000
    created = door.call("POST", "/v1/datasets", params={"dataset_id": dataset_id, "description": "streamed"},
                        data=content, headers={"Content-Type": "text/csv"})  # fmt: skip
    assert created.status_code == 201, created.text
    assert created.json()["size_bytes"] == str(len(content)) and created.json()["description"] == "streamed"
    download = door.call("GET", f"/v1/datasets/{dataset_id}:download")
    assert download.status_code == 200 and download.content == content
    assert door.call("DELETE", f"/v1/datasets/{dataset_id}").status_code == 204

    model_id = f"m{uuid.uuid4().hex[:8]}"
    weights = np.random.default_rng(11).bytes(5 * 2**20 + 4321)
    created = door.call("POST", "/v1/models", params={"model_id": model_id}, data=_pieces(weights),
                        headers={"Content-Type": "application/octet-stream"})  # fmt: skip
    assert created.status_code == 201, created.text
    assert created.json()["size_bytes"] == str(len(weights))
    assert door.call("GET", f"/v1/models/{model_id}:download").content == weights
    assert door.call("DELETE", f"/v1/models/{model_id}").status_code == 204


def test_an_upload_over_the_limit_is_413_and_keeps_nothing(door: Door) -> None:
    import numpy as np

    exact = np.random.default_rng(12).bytes(UPLOAD_LIMIT_BYTES)
    at_limit = f"m{uuid.uuid4().hex[:8]}"
    created = door.call("POST", "/v1/models", params={"model_id": at_limit}, data=exact,
                        headers={"Content-Type": "application/octet-stream"})  # fmt: skip
    assert created.status_code == 201, created.text
    assert door.call("GET", f"/v1/models/{at_limit}:download").content == exact
    assert door.call("DELETE", f"/v1/models/{at_limit}").status_code == 204

    over = exact + b"x" * (1 << 20)
    model_id, dataset_id = f"m{uuid.uuid4().hex[:8]}", f"d{uuid.uuid4().hex[:8]}.csv"
    _error(door.call("POST", "/v1/models", params={"model_id": model_id}, data=over,
                     headers={"Content-Type": "application/octet-stream"}), 413, 8)  # fmt: skip
    _error(door.call("GET", f"/v1/models/{model_id}"), 404, 5, "MODEL_NOT_FOUND")
    # without Content-Length too: the limit is counted as the body streams in
    _error(door.call("POST", "/v1/datasets", params={"dataset_id": dataset_id}, data=_pieces(over),
                     headers={"Content-Type": "text/csv"}), 413, 8)  # fmt: skip
    _error(door.call("GET", f"/v1/datasets/{dataset_id}"), 404, 5, "DATASET_NOT_FOUND")
    # and the name is free: nothing was half-kept
    created = door.call("POST", "/v1/models", params={"model_id": model_id}, data=b"small",
                        headers={"Content-Type": "application/octet-stream"})  # fmt: skip
    assert created.status_code == 201, created.text
    assert door.call("DELETE", f"/v1/models/{model_id}").status_code == 204


def test_a_download_of_something_unknown_is_a_404_with_the_json_error(door: Door) -> None:
    for path, reason in [("/v1/datasets/nothing.csv:download", "DATASET_NOT_FOUND"),
                         ("/v1/models/nothing:download", "MODEL_NOT_FOUND")]:  # fmt: skip
        reply = door.call("GET", path)
        assert reply.headers["Content-Type"].startswith("application/json")
        _error(reply, 404, 5, reason)


def test_a_download_is_a_stream_of_chunks_over_grpc(farm: Farm) -> None:
    from aifarm.v1 import dataset_service_pb2
    from controller.api.http_body import CHUNK_BYTES
    from google.api import httpbody_pb2

    dataset_id = f"grpc{uuid.uuid4().hex[:8]}.csv"
    content = _large_csv()
    client = farm.client
    client.datasets.CreateDataset(
        iter([dataset_service_pb2.CreateDatasetRequest(dataset_id=dataset_id,
                                                       content=httpbody_pb2.HttpBody(content_type="text/csv", data=content))]),
        metadata=client.metadata, timeout=30,
    )  # fmt: skip
    request = dataset_service_pb2.DownloadDatasetRequest(name=f"datasets/{dataset_id}")
    messages = list(client.datasets.DownloadDataset(request, metadata=client.metadata, timeout=30))
    assert len(messages) == -(-len(content) // CHUNK_BYTES) > 3
    assert all(len(m.data) == CHUNK_BYTES for m in messages[:-1])
    assert messages[0].content_type == "text/csv" and not any(m.content_type for m in messages[1:])
    assert b"".join(m.data for m in messages) == content


def test_errors_carry_status_and_details(door: Door) -> None:
    body = _error(door.call("GET", "/v1/tasks/no-such-task"), 404, 5, "TASK_NOT_FOUND")
    # The core API's shape through both doors: google.rpc.Status and nothing more.
    assert set(body) == {"code", "message", "details"}, body
    if door.name == "envoy":
        # Envoy's convert_grpc_status prints google.rpc.Status and nothing more.
        assert set(body) == {"code", "message", "details"}

    _error(door.call("POST", "/v1/tasks", data=b"{not json", headers={"Content-Type": "application/json"}), 400, 3)
    _error(door.call("GET", "/v1/tasks", params={"page_size": "many"}), 400, 3)
    _error(door.call("POST", "/v1/tasks", json={"script": {}}), 400, 3)
    _error(door.call("GET", "/v1/tasks", key=None), 401, 16, "UNAUTHENTICATED")
    _error(door.call("GET", "/v1/tasks", key="wrong"), 401, 16, "UNAUTHENTICATED")
    _error(door.call("GET", "/v1/tasks", key=AGENT_TOKEN), 403, 7, "PERMISSION_DENIED")
    task_id = f"t{uuid.uuid4().hex[:8]}"
    _create(door, UNPLACEABLE, task_id=task_id)
    _error(door.call("POST", "/v1/tasks", json=UNPLACEABLE, params={"task_id": task_id}), 409, 6)


def test_headers_become_metadata_and_back(door: Door) -> None:
    reply = door.call("GET", "/v1/tasks", params={"page_size": 1}, headers={"X-Request-Id": "trace-42"})
    assert reply.status_code == 200
    assert reply.headers["x-request-id"] == "trace-42"
    assert int(reply.headers["x-total-count"]) >= 0
    # the API key travels as metadata either way
    assert door.call("GET", "/v1/tasks", key=None, headers={"X-API-Key": "test-api-key"}).status_code == 200


def test_unknown_query_parameters_are_ignored(door: Door) -> None:
    reply = door.call("GET", "/v1/tasks", params={"page_size": 1, "no_such_field": "x", "a.b.c": "1"})
    assert reply.status_code == 200 and len(reply.json()["tasks"]) <= 1


def test_an_oversized_body_is_refused_with_413(door: Door) -> None:
    before = int(door.call("GET", "/v1/tasks").headers["x-total-count"])
    big = {"script": {"source": "#" * (MAX_BODY_BYTES + 1024)}}
    reply = door.call("POST", "/v1/tasks", json=big)
    assert reply.status_code == 413
    assert int(door.call("GET", "/v1/tasks").headers["x-total-count"]) == before


def _protected_routes() -> list[tuple[str, str]]:
    import_generated()
    services = by_name()["main"].services
    table = RouteTable.for_services(find_services(services))
    open_paths = open_methods(find_services(services))
    assert {"/aifarm.v1.SystemService/GetHealth", "/aifarm.compat.servermgmt.v1.HealthService/GetHealth"} <= open_paths
    calls = []
    for route in table.routes:
        if route.grpc_path in open_paths:
            continue
        path = "/" + "/".join(s.literal or "x" for s in route.template.segments)
        calls.append((route.http_method, path + (f":{route.template.verb}" if route.template.verb else "")))
    return calls


def test_every_protected_route_needs_a_key_while_health_and_docs_stay_open(door: Door) -> None:
    routes = _protected_routes()
    assert len(routes) >= 15
    for method, path in routes:
        for key in (None, "wrong-key"):
            reply = door.call(method, path, key=key, json={} if method in ("POST", "PUT", "PATCH") else None)
            assert reply.status_code == 401, (method, path, key, reply.text)
    assert door.call("GET", "/v1/health", key=None).json()["status"] == "healthy"
    assert door.call("GET", "/health", key=None).json()["status"] == "healthy"
    if door.name == "envoy":
        return  # Envoy serves only the API; the documentation lives on the Python gateway
    for path in ("/openapi.json", "/docs", "/redoc"):
        assert door.call("GET", path, key=None).status_code == 200, path


@pytest.mark.parametrize("kind", ["gateway", "envoy"])
def test_a_door_whose_controller_is_down_answers_503(kind: str, tmp_path) -> None:
    proc = start_door(kind, tmp_path, f"127.0.0.1:{free_port()}")
    try:
        reply = Door(kind, proc.url).call("GET", "/v1/tasks")
        _error(reply, 503, 14)
    finally:
        proc.stop()


def test_health_reports_the_agent(door: Door, farm: Farm) -> None:
    health = wait_for(lambda: (h := door.call("GET", "/v1/health", key=None).json())["nodes_online"] == 1 and h,
                      what="health to count the agent")  # fmt: skip
    assert health["status"] == "healthy"


def test_a_body_naming_another_resource_than_the_path_is_refused(door: Door) -> None:
    task, other = _create(door, UNPLACEABLE), _create(door, UNPLACEABLE)
    _error(door.call("POST", f"/v1/{task['name']}:cancel", json={"name": other["name"]}), 400, 3)
    assert _state(door, task["name"]) == _state(door, other["name"]) == "TASK_STATE_PENDING"
    same = door.call("POST", f"/v1/{task['name']}:cancel", json={"name": task["name"]})
    assert same.status_code == 200 and same.json()["state"] == "TASK_STATE_CANCELLED"


def test_profiling_sessions_through_the_core_routes(door: Door) -> None:
    name = f"rest-{door.name}-{uuid.uuid4().hex[:6]}"
    created = door.call("POST", "/v1/profilingSessions", params={"profiling_session_id": name},
                        json={"sampling_frequency_ms": 100})  # fmt: skip
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["name"] == f"profilingSessions/{name}" and body["active"] is True and int(body["frame_count"]) == 0
    frames = wait_for(lambda: door.call("GET", f"/v1/profilingSessions/{name}/frames").json()["frames"],
                      timeout=15, what="frames through the door")  # fmt: skip
    assert frames[0]["node"].startswith("nodes/") and 0 <= frames[0]["cpu_percent"] <= 100
    listed = door.call("GET", "/v1/profilingSessions", params={"active_only": "true"}).json()["profiling_sessions"]
    assert name in {s["name"].split("/")[1] for s in listed}
    stopped = door.call("POST", f"/v1/profilingSessions/{name}:stop", json={})
    assert stopped.status_code == 200 and stopped.json()["active"] is False, stopped.text
    assert door.call("POST", f"/v1/profilingSessions/{name}:stop", json={}).status_code == 400
    assert door.call("GET", "/v1/profilingSessions/no-such-session").status_code == 404
