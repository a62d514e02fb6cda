"""gswarm's queue (seeds/002) with max_concurrent_tasks=1: one node with one slot. Model operations
start in the document's priority order (critical, high, normal, low; older first), a task whose
dependency failed ends DEPENDENCY_FAILED, and two operations on one model and device never run at
once (resource tracking), even with slots free."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests

from farm_processes import API_KEY, AgentProcess, Client, ControllerProcess, GatewayProcess, free_port, wait_for
from model_server import ModelServer, Route

pytestmark = pytest.mark.slow


class Farm:
    def __init__(self, root: Path, slots: int) -> None:
        self.controller = ControllerProcess(root / "controller", free_port(), extra=["--rate-limit-per-minute", "0"]).start()
        self.agent = AgentProcess(self.controller.address, root / "agent", ["--cpu-slots", str(slots)]).start()
        self.client = Client(self.controller.address)
        wait_for(lambda: len(self.client.online_nodes()) == 1, what="the agent to join")
        self.host = GatewayProcess(self.controller.address, root / "gateway.log").start()
        self.files = ModelServer({})

    def host_call(self, method: str, path: str, **kw: Any) -> requests.Response:
        return requests.request(method, self.host.gswarm_url + path, headers={"Authorization": f"Bearer {API_KEY}"},
                                timeout=30, **kw)  # fmt: skip

    def node_call(self, method: str, path: str, **kw: Any) -> requests.Response:
        return requests.request(method, self.agent.gswarm_url + path, headers={"Authorization": f"Bearer {API_KEY}"},
                                timeout=30, **kw)  # fmt: skip

    def model(self, name: str, body: bytes, *, trickle: float = 0.0, sha256: str | None = None) -> None:
        self.files.routes[f"/{name}"] = Route(body, "application/octet-stream", trickle_per_kib=trickle)
        reply = self.host_call("POST", "/api/v1/models", json={
            "model_name": name, "model_type": "blob", "model_size": len(body), "source_url": f"{self.files.url}/{name}",
            "metadata": {"sha256": sha256 if sha256 is not None else hashlib.sha256(body).hexdigest()}})  # fmt: skip
        assert reply.status_code == 201, reply.text

    def download(self, name: str, **body: Any) -> str:
        reply = self.node_call("POST", f"/api/v1/models/{name}/download", json={"verify_checksum": True, **body})
        assert reply.status_code == 200, reply.text
        return reply.json()["task_id"]

    def task(self, task_id: str) -> dict[str, Any]:
        return self.host_call("GET", f"/api/v1/queue/tasks/{task_id}").json()

    def ended(self, task_id: str, timeout: float = 90) -> dict[str, Any]:
        return wait_for(lambda: (t := self.task(task_id))["status"] in ("completed", "failed", "cancelled") and t,
                        timeout=timeout, what=f"task {task_id} to end")  # fmt: skip

    def stop(self) -> None:
        self.files.stop()
        self.host.stop()
        self.client.close()
        self.agent.stop()
        self.controller.kill()


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    f = Farm(tmp_path_factory.mktemp("gswarm-queue"), slots=1)
    yield f
    f.stop()


def test_operations_start_in_priority_order_and_a_failed_dependency_ends_its_dependents(farm: Farm) -> None:
    assert farm.host_call("GET", "/api/v1/queue").json()["config"]["max_concurrent_tasks"] == 1
    blob = b"x" * 64 * 1024
    farm.model("q-gate", blob, trickle=0.01)  # holds the one slot for about 0.6 s while the others queue
    for name in ("q-low", "q-normal", "q-high", "q-critical", "q-after"):
        farm.model(name, blob)
    farm.model("q-broken", blob, sha256="0" * 64)
    gate = farm.download("q-gate")
    wait_for(lambda: farm.task(gate)["status"] == "running", what="the gate download to run")
    queued = {name: farm.download(name, priority=priority) for name, priority in
              (("q-low", "low"), ("q-normal", "normal"), ("q-high", "high"), ("q-critical", "critical"))}  # fmt: skip
    broken = farm.download("q-broken", priority="low")
    after = farm.download("q-after", priority="critical", dependencies=[broken])
    positions = [farm.task(t)["status"] for t in queued.values()]
    assert positions == ["pending"] * 4
    started = {name: farm.ended(task_id)["started_at"] for name, task_id in queued.items()}
    assert sorted(started, key=started.__getitem__) == ["q-critical", "q-high", "q-normal", "q-low"], started
    failed = farm.ended(broken)
    assert failed["status"] == "failed" and failed["error_code"] == "TASK_FAILED", failed
    dependent = farm.ended(after)
    assert dependent["status"] == "failed" and dependent["error_code"] == "DEPENDENCY_FAILED", dependent
    assert dependent["dependencies"] == [broken] and dependent["started_at"] == 0, dependent


@pytest.fixture(scope="module")
def roomy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    f = Farm(tmp_path_factory.mktemp("gswarm-queue-roomy"), slots=4)
    yield f
    f.stop()


def test_two_operations_on_one_model_and_device_never_run_at_once(roomy: Farm) -> None:
    farm = roomy
    farm.model("q-shared", b"y" * 32 * 1024, trickle=0.01)
    first = farm.download("q-shared")
    wait_for(lambda: farm.task(first)["status"] == "running", what="the first download to run")
    second = farm.download("q-shared", priority="critical")
    reason = farm.client.get(f"tasks/{second}").state_reason
    assert "q-shared@" in reason and "another task is using it" in reason, reason
    done, then = farm.ended(first), farm.ended(second)
    assert done["status"] == then["status"] == "completed"
    assert then["started_at"] >= done["completed_at"], (done, then)
    # Another model on the same node runs beside it: the node had the slots.
    farm.model("q-other", b"z" * 32 * 1024, trickle=0.01)
    a, b = farm.download("q-shared"), farm.download("q-other")
    wait_for(lambda: farm.task(a)["status"] == farm.task(b)["status"] == "running", what="both to run at once")
