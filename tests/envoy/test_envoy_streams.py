"""How Envoy frames a server stream (GET /v1/{parent=tasks/*}/logs:stream), pinned down
against a scripted upstream so that every case, mid-stream errors included, is exact."""

from __future__ import annotations

import json
import threading
import time
from concurrent import futures
from typing import Iterator

import grpc
import pytest
from envoy_http import connect

from aifarm.v1 import task_pb2, task_service_pb2_grpc
from envoy_process import EnvoyProcess

LINES = [task_pb2.LogLine(seq=1, text="one"), task_pb2.LogLine(seq=2, text="two")]


class ScriptedTasks(task_service_pb2_grpc.TaskServiceServicer):
    """StreamTaskLogs by task id: 'ok' streams two lines, 'broken' fails after them,
    'missing' fails before any. The second line waits until the test has read the first."""

    def __init__(self) -> None:
        self.first_read = threading.Event()

    def StreamTaskLogs(self, request, context):  # noqa: N802 (gRPC's name)
        if request.parent == "tasks/missing":
            context.abort(grpc.StatusCode.NOT_FOUND, "no such task")
        context.send_initial_metadata((("x-stream-note", "hello"),))
        yield LINES[0]
        self.first_read.wait(timeout=10)
        yield LINES[1]
        if request.parent == "tasks/broken":
            context.abort(grpc.StatusCode.DATA_LOSS, "broke mid-stream")


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[str, ScriptedTasks]]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    tasks = ScriptedTasks()
    task_service_pb2_grpc.add_TaskServiceServicer_to_server(tasks, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}", tasks
    server.stop(grace=None)


@pytest.fixture(scope="module")
def envoy(upstream: tuple[str, ScriptedTasks], tmp_path_factory: pytest.TempPathFactory) -> Iterator[EnvoyProcess]:
    proxy = EnvoyProcess(tmp_path_factory.mktemp("envoy_streams"), upstream[0]).start()
    yield proxy
    proxy.stop()


def open_stream(envoy: EnvoyProcess, task: str, accept: str | None = None):
    conn = connect(envoy.url)
    # A key, as every client sends: Envoy answers 401 itself to a request with no credential header.
    headers = {"Authorization": "Bearer scripted", **({"Accept": accept} if accept else {})}
    conn.request("GET", f"/v1/tasks/{task}/logs:stream", headers=headers)
    return conn, conn.getresponse()


def expected(line: task_pb2.LogLine) -> dict:
    """proto3 JSON with proto names and zero values, as the transcoder prints it."""
    return {"seq": line.seq, "attempt": 0, "stream": "LOG_STREAM_UNSPECIFIED", "text": line.text}


@pytest.fixture(autouse=True)
def _rearm(upstream: tuple[str, ScriptedTasks]) -> None:
    upstream[1].first_read.clear()


def test_a_stream_is_newline_delimited_json_sent_as_it_comes(envoy, upstream) -> None:
    conn, response = open_stream(envoy, "ok")
    assert response.status == 200
    assert response.headers["content-type"] == "application/json"  # not application/x-ndjson
    assert response.headers["transfer-encoding"] == "chunked"
    assert response.headers["x-stream-note"] == "hello"  # initial metadata -> headers
    # the first line arrives while the upstream still holds the second (up to 10 s)
    started = time.monotonic()
    assert json.loads(response.readline()) == expected(LINES[0])
    assert time.monotonic() - started < 5
    upstream[1].first_read.set()
    assert [json.loads(line) for line in response.read().splitlines()] == [expected(LINES[1])]
    conn.close()


def test_text_event_stream_clients_get_server_sent_events(envoy, upstream) -> None:
    upstream[1].first_read.set()
    conn, response = open_stream(envoy, "ok", accept="text/event-stream")
    assert response.status == 200 and response.headers["content-type"] == "text/event-stream"
    body = response.read().decode()
    assert body == "".join(f"data: {json.dumps(expected(ln), separators=(',', ':'))}\n\n" for ln in LINES)
    conn.close()


def test_an_error_before_the_first_message_keeps_its_status(envoy) -> None:
    for accept in (None, "text/event-stream"):
        conn, response = open_stream(envoy, "missing", accept)
        assert response.status == 404 and response.headers["content-type"] == "application/json"
        assert json.loads(response.read()) == {"code": 5, "message": "no such task", "details": []}
        conn.close()


def test_an_error_after_output_is_lost_over_http_1_1(envoy, upstream) -> None:
    """Envoy ends the chunked body cleanly and drops the status trailers: over HTTP/1.1 the
    client cannot tell a failed stream from a finished one (the Python gateway adds an
    ``{"error": ...}`` line). Over HTTP/2 the trailers carry grpc-status and grpc-message."""
    upstream[1].first_read.set()
    conn, response = open_stream(envoy, "broken")
    assert response.status == 200
    assert [json.loads(line) for line in response.read().splitlines()] == [expected(ln) for ln in LINES]
    conn.close()
