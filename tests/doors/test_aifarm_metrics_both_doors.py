"""AI Farm's metrics endpoints (seeds/001) through the Python gateway and Envoy in front of one farm:
the documented keys, real figures (the agent's heartbeats, a task that ran), and the document's
error object with its string codes."""

from __future__ import annotations

import pytest

from both_doors import Doors

pytestmark = pytest.mark.slow

def test_system_metrics_count_the_agent_and_show_its_usage(both_doors: Doors) -> None:
    for answer in both_doors.ask("GET", "/api/metrics"):
        assert answer.status == 200, answer.describe()
        body = answer.body
        assert set(body) == {"clients", "tasks", "resources", "timestamp"}
        assert body["clients"] == {"total": 1, "active": 1}
        assert set(body["tasks"]) == {"total", "running", "completed", "failed"}
        assert all(isinstance(v, int) for v in body["tasks"].values())
        assert set(body["resources"]) == {"cpu_usage", "ram_usage", "gpu_usage"}
        # the agent's heartbeat reports the memory it sees in use: never 0 on a live host
        assert 0 < body["resources"]["ram_usage"] <= 100
        assert body["timestamp"].endswith("Z")


def test_an_unknown_task_is_the_documents_not_found_error_object(both_doors: Doors) -> None:
    for answer in both_doors.ask("GET", "/api/metrics/tasks/no-such-task"):
        assert answer.status == 404, answer.describe()
        error = answer.body["error"]
        assert error["code"] == "NOT_FOUND"
        assert "no-such-task" in error["message"]


def test_without_a_key_it_is_unauthorized(both_doors: Doors) -> None:
    for door in both_doors:
        reply = door.call("GET", "/api/metrics", key=None)
        assert reply.status_code == 401, reply.text
        assert reply.json()["error"]["code"] == "UNAUTHORIZED"
