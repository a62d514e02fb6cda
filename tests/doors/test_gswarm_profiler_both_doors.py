"""gswarm's profiler HTTP control API (seeds/002, Profiler APIs) on the profiler listener and on
main, through the Python gateway and Envoy: start, status, clients, latest metrics, the sessions
list its own client reads ({"sessions": [{name, active, start_time, frames}]}), stop; the
document's error envelope with its codes."""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from both_doors import Answer, Doors, assert_envelope_error
from conftest import Door, Farm, start_door
from farm_processes import wait_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def doors(farm: Farm, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Doors, Doors]]:
    """(the profiler listener, main) through both doors."""
    procs = {kind: start_door(kind, tmp_path_factory.mktemp(kind), farm.controller.address) for kind in ("gateway", "envoy")}
    yield (Doors(*(Door(kind, proc.profiler_url) for kind, proc in procs.items())),
           Doors(*(Door(kind, proc.url) for kind, proc in procs.items())))  # fmt: skip
    for proc in procs.values():
        proc.stop()


def _same(answers: tuple[Answer, Answer], status: int = 200) -> dict[str, Any]:
    for answer in answers:
        assert answer.status == status, answer.describe()
    return answers[0].body


def test_a_session_is_started_seen_and_stopped_as_the_document_says(doors: tuple[Doors, Doors], farm: Farm) -> None:
    profiler, main = doors
    idle = _same(profiler.ask("GET", "/status"))
    assert idle == {"is_profiling": False, "active_sessions": [], "connected_clients": 1,
                    "enable_bandwidth_profiling": False, "enable_nvlink_profiling": False, "sampling_frequency_ms": 1000}
    started = profiler.gateway.call("POST", "/profiling/start", json={"name": "doc-run", "sampling_frequency_ms": 200})
    assert started.status_code == 200 and started.json()["success"] is True, started.text
    assert_envelope_error(profiler.ask("POST", "/profiling/start", json={"name": "doc-run"}), 409, "CONFLICT")

    status = wait_for(lambda: (s := profiler.envoy.call("GET", "/status").json())["active_sessions"][0]["frames_collected"]
                      and s, timeout=15, what="frames collected")  # fmt: skip
    assert status["is_profiling"] is True and status["sampling_frequency_ms"] == 200 and status["connected_clients"] == 1
    assert status["active_sessions"][0]["name"] == "doc-run" and status["active_sessions"][0]["start_time"].endswith("Z")
    for answers in (profiler.ask("GET", "/clients"), main.ask("GET", "/clients")):
        clients = _same(answers)["clients"]
        assert [(c["client_id"], c["status"]) for c in clients] == [(farm.agent.node_id, "healthy")], clients
        assert set(clients[0]) == {"client_id", "hostname", "gpus", "last_update", "status"}
    latest = _same(profiler.ask("GET", "/metrics/latest"))["metrics"]
    assert latest[0]["client_id"] == farm.agent.node_id and 0 <= latest[0]["cpu_percent"] <= 100, latest
    assert 0 < latest[0]["memory_percent"] < 100 and latest[0]["gpus"] == []

    listed = _same(profiler.ask("GET", "/profiling/sessions"))["sessions"]
    assert listed[0]["name"] == "doc-run" and listed[0]["active"] is True and listed[0]["frames"] >= 1, listed
    assert isinstance(listed[0]["frames"], int)

    stopped = main.envoy.call("POST", "/profiling/stop", json={"name": "doc-run"})
    assert stopped.status_code == 200 and stopped.json()["data"] == {"stopped": ["doc-run"]}, stopped.text
    assert_envelope_error(profiler.ask("POST", "/profiling/stop", json={"name": "doc-run"}), 409, "CONFLICT")
    assert _same(profiler.ask("GET", "/status"))["is_profiling"] is False
    after = _same(profiler.ask("GET", "/profiling/sessions"))["sessions"]
    assert after[0]["active"] is False and after[0]["end_time"].endswith("Z")


def test_stop_without_a_name_stops_every_active_session(doors: tuple[Doors, Doors]) -> None:
    profiler, _ = doors
    for name in ("all-a", "all-b"):
        assert profiler.gateway.call("POST", "/profiling/start", json={"name": name}).status_code == 200
    stopped = profiler.envoy.call("POST", "/profiling/stop", json={})
    assert sorted(stopped.json()["data"]["stopped"]) == ["all-a", "all-b"], stopped.text
    nothing = profiler.gateway.call("POST", "/profiling/stop", json={})
    assert nothing.status_code == 200 and nothing.json()["data"] == {"stopped": []}


@pytest.mark.parametrize(("path", "body", "status", "code"), [
    ("/profiling/start", {}, 400, "INVALID_REQUEST"),
    ("/profiling/start", {"name": "../x"}, 400, "INVALID_REQUEST"),
    ("/profiling/start", {"name": "fast", "sampling_frequency_ms": 10}, 400, "INVALID_REQUEST"),
    ("/profiling/stop", {"name": "never-started"}, 404, "NOT_FOUND"),
])  # fmt: skip
def test_bad_requests_have_the_documents_codes(doors: tuple[Doors, Doors], path: str, body: dict, status: int,
                                               code: str) -> None:  # fmt: skip
    assert_envelope_error(doors[0].ask("POST", path, json=body), status, code)


def test_metrics_and_a_sessions_report_through_both_doors(doors: tuple[Doors, Doors], farm: Farm) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    profiler, main = doors
    for answer in main.ask("GET", "/metrics"):
        assert answer.status == 200 and answer.content_type.startswith("text/plain"), answer.describe()
        families = {f.name: f for f in text_string_to_metric_families(answer.content.decode())}
        assert [s.labels["node"] for s in families["aifarm_node_up"].samples] == [farm.agent.node_id]
    assert profiler.gateway.call("POST", "/profiling/start", json={"name": "doors-report", "sampling_frequency_ms": 100}).ok
    wait_for(lambda: profiler.gateway.call("GET", "/profiling/sessions").json()["sessions"][0]["frames"] >= 3,
             what="frames")  # fmt: skip
    assert profiler.gateway.call("POST", "/profiling/stop", json={"name": "doors-report"}).ok
    for answer in main.ask("GET", "/v1/profilingSessions/doors-report/report", params={"format": "png"}):
        assert answer.status == 200 and answer.content_type == "image/png" and answer.content[:8] == b"\x89PNG\r\n\x1a\n"
    reports = [a.body for a in main.ask("GET", "/v1/profilingSessions/doors-report/report")]
    assert reports[0] == reports[1] and reports[0]["session"]["frames"] >= 3
