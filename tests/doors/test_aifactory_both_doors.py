"""AI Factory Client Services (seeds/000) on the aifactory listener, through the Python gateway and
Envoy, on each execution backend: `slurm`, a real local Slurm cluster (two slurmd) where a group
is a batch job, and `aifarm`, where it is a task of the farm's real agent. Either way the job runs
the real client process, which registers back through the gateway; an observer (an HTTP server
here) receives its figures; `run` drives load at a target that counts requests, and the count
matches what the observer and the group's figures say; a controller restart keeps the group and
its job; delete ends the job (gone from squeue); a group with a time limit of one minute ends by
itself; and the documented errors (404, 409, 422, 500)."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from aifarm.v1 import task_pb2, task_service_pb2
from both_doors import Answer, Doors, assert_error, assert_same
from cli.slurm_cluster import LocalSlurmCluster, available
from conftest import Door
from envoy_process import EnvoyProcess
from farm_processes import AgentProcess, Client, ControllerProcess, GatewayProcess, free_port, wait_for

pytestmark = pytest.mark.slow

TIME_LIMITED = 400  # the group left to end by itself, checked last


class Recorder(ThreadingHTTPServer):
    """A target under load (counts its requests) or an observer (keeps what is pushed to it)."""

    def __init__(self) -> None:
        self.count = 0
        self.pushes: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: Recorder

    def _answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.server.lock:
            self.server.count += 1
            if body:
                self.server.pushes.append(json.loads(body))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


class Farm:
    """A controller on one backend, with one agent, the gateway and Envoy. Two groups run at once
    (two one-core slots, or two one-CPU Slurm nodes); a third one's job waits in the queue."""

    def __init__(self, root: Path, backend: str) -> None:
        self.root, self.backend = root, backend
        self.target, self.observer = Recorder(), Recorder()
        self.slurm: LocalSlurmCluster | None = None
        backend_args = ["--aifactory-backend", backend]
        if backend == "slurm":
            self.slurm = LocalSlurmCluster(root / "slurm", nodes=2, cpus_per_node=1).start()
            backend_args += ["--slurm-conf", str(self.slurm.conf)]
        aifactory_port = free_port()
        self.controller = ControllerProcess(root / "controller", free_port(), extra=[
            "--rate-limit-per-minute", "0", "--aifactory-url", f"http://127.0.0.1:{aifactory_port}/api/v1",
            *backend_args])  # fmt: skip
        self.controller.start()
        self.agent = AgentProcess(self.controller.address, root / "agent", extra=["--cpu-slots", "2"]).start()
        self.client = Client(self.controller.address)
        wait_for(lambda: len(self.client.online_nodes()) == 1, what="the agent to join")
        self.gateway = GatewayProcess(self.controller.address, root / "gateway.log", aifactory_port=aifactory_port).start()
        self.envoy = EnvoyProcess(root / "envoy", self.controller.address).start()
        self.doors = Doors(Door("gateway", self.gateway.aifactory_url), Door("envoy", self.envoy.aifactory_url))

    def job_running(self, job_id: str) -> bool:
        """What the backend itself says: Slurm's squeue, or the task in the core API."""
        backend, _, job = job_id.partition(":")
        assert backend == self.backend, job_id
        if self.slurm is not None:
            out = subprocess.run(["squeue", "-h", "-j", job, "-o", "%T"], env=self.slurm.env, capture_output=True,
                                 text=True, timeout=30)  # fmt: skip
            return out.stdout.strip() in ("RUNNING", "PENDING", "CONFIGURING", "COMPLETING")
        request = task_service_pb2.GetTaskRequest(name=f"tasks/{job}")
        state = self.client.tasks.GetTask(request, metadata=self.client.metadata, timeout=10).state
        return state in (task_pb2.TASK_STATE_PENDING, task_pb2.TASK_STATE_ASSIGNED, task_pb2.TASK_STATE_RUNNING)

    def restart_controller(self) -> None:
        self.controller.kill()
        self.controller.start()
        wait_for(lambda: len(self.client.online_nodes()) == 1, timeout=30, what="the agent to rejoin")

    def stop(self) -> None:
        self.gateway.stop()
        self.envoy.stop()
        self.client.close()
        self.agent.stop()
        self.controller.kill()
        if self.slurm is not None:
            self.slurm.stop()
        for server in (self.target, self.observer):
            server.shutdown()


def _require_slurm() -> None:
    problem = available()
    if problem is None and os.geteuid() != 0:
        problem = "the local Slurm cluster's daemons run as root, and this user is not root"
    if problem is None:
        return
    if os.environ.get("CI") == "true":  # CI installs Slurm (.ci/run): a missing one there is a bug
        pytest.fail(f"CI=true and {problem}", pytrace=False)
    pytest.skip(problem)


@pytest.fixture(scope="module", params=["slurm", "aifarm"])
def farm(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    if request.param == "slurm":
        _require_slurm()
    # Short: the Slurm cluster's socket paths must stay under 108 bytes.
    (root := tmp_path_factory.mktemp(f"af-{request.param}") / "f").mkdir()
    (root / "envoy").mkdir()
    farm = Farm(root, request.param)
    try:
        yield farm
    finally:
        farm.stop()


def _ok(answer: Answer, status: int = 200) -> dict[str, Any]:
    assert answer.status == status, answer.describe()
    return answer.body


def _registered(farm: Farm, benchmark_id: int, timeout: float = 60) -> str:
    def address() -> str:
        info = Answer.of("gateway", farm.doors.gateway.call("GET", f"/api/v1/client-group/{benchmark_id}")).body["info"]
        return info["client_address"]

    return wait_for(address, timeout=timeout, what=f"group {benchmark_id}'s client process to register")


def test_a_group_registers_takes_an_observer_runs_load_and_survives_a_controller_restart(farm: Farm) -> None:
    time_limited = _ok(Answer.of("envoy", farm.doors.envoy.call("POST", f"/api/v1/client-group/{TIME_LIMITED}", json={
        "num_clients": 1, "time_limit": 1, "server_addr": farm.target.url})), 201)  # fmt: skip
    assert time_limited == {"status": "created", "benchmark_id": TIME_LIMITED, "num_clients": 1,
                            "job_id": time_limited["job_id"]}  # fmt: skip
    created = _ok(Answer.of("gateway", farm.doors.gateway.call("POST", "/api/v1/client-group/123", json={
        "num_clients": 3, "time_limit": 10, "server_addr": farm.target.url})), 201)  # fmt: skip
    assert (created["status"], created["benchmark_id"], created["num_clients"]) == ("created", 123, 3)
    assert created["job_id"].startswith(f"{farm.backend}:")
    wait_for(lambda: farm.job_running(created["job_id"]), timeout=30, what="the group's job in the backend's queue")

    address = _registered(farm, 123)
    group = assert_same(farm.doors.ask("GET", "/api/v1/client-group/123"))
    assert group["benchmark_id"] == 123 and isinstance(group["info"]["created_at"], float)
    assert (group["info"]["num_clients"], group["info"]["state"]) == (3, "running")
    status = requests.get(f"{address}/status", timeout=10).json()
    assert (status["benchmark_id"], status["num_clients"], status["server_addr"]) == (123, 3, farm.target.url)
    assert status["local_address"] == address and status["client_service_addr"].endswith("/api/v1")
    assert requests.post(f"{address}/run", timeout=10).status_code == 401, "only the controller may start its load"

    added = Answer.of("gateway", farm.doors.gateway.call("POST", "/api/v1/observer", json={
        "ip_address": "127.0.0.1", "port": str(farm.observer.server_address[1]),
        "update_preferences": {"frequency": "200ms", "format": "json"}}))  # fmt: skip
    assert _ok(added) == {"status": "observer_added"}
    wait_for(lambda: farm.observer.pushes, timeout=20, what="the observer's first push")

    farm.restart_controller()  # the group, its job and its process outlive the controller
    assert farm.job_running(created["job_id"])
    assert _ok(Answer.of("envoy", farm.doors.envoy.call("GET", "/api/v1/client-group/123")))["info"]["client_address"] == address

    ran = _ok(Answer.of("envoy", farm.doors.envoy.call("POST", "/api/v1/client-group/123/run")))
    assert ran == {"status": "dispatched", "benchmark_id": 123, "results": [
        {"client_process": address, "status_code": 200, "body": ran["results"][0]["body"]}]}  # fmt: skip
    assert json.loads(ran["results"][0]["body"]) == {"status": "started", "num_clients": 3}
    wanted = 3 * 100  # the client process's default: 100 requests a client

    def finished() -> dict[str, Any] | None:
        figures = requests.get(f"{address}/status", timeout=10).json()["figures"]
        return figures if figures["requests"] == wanted and not figures["running"] else None

    wait_for(finished, timeout=60, what="the run to finish")
    assert farm.target.count == wanted
    wait_for(lambda: any(p["figures"]["requests"] == wanted and not p["figures"]["running"]
                         for p in list(farm.observer.pushes)), timeout=20, what="the observer to see the whole run")  # fmt: skip

    def reported() -> dict[str, Any] | None:
        info = _ok(Answer.of("gateway", farm.doors.gateway.call("GET", "/api/v1/client-group/123")))["info"]
        figures = info["figures"].get(address)
        return figures if figures and figures["requests"] == wanted and not figures["running"] else None

    figures = wait_for(reported, timeout=30, what="the group's figures to say the whole run")
    assert figures["errors"] == 0 and figures["latency_ms"]["p50"] <= figures["latency_ms"]["p99"]

    # The core API shows the same group and figures.
    core = Doors(Door("gateway", farm.gateway.url), Door("envoy", farm.envoy.url))
    group = assert_same(core.ask("GET", "/v1/clientGroups/123"))
    assert (group["name"], group["state"], group["client_addresses"]) == ("clientGroups/123", "STATE_RUNNING", [address])
    assert group["figures"] == [{"client_address": address, "figures": figures}]
    listed = assert_same(core.ask("GET", "/v1/clientGroups"))["client_groups"]
    assert [g["benchmark_id"] for g in listed] == [TIME_LIMITED, 123]

    # The time-limited group runs a load too: its figures must outlive its job (the last test).
    limited = _registered(farm, TIME_LIMITED)
    [result] = _ok(Answer.of("gateway", farm.doors.gateway.call("POST", f"/api/v1/client-group/{TIME_LIMITED}/run",
                                                                json={"options": {"requests_per_client": 7}})))["results"]  # fmt: skip
    assert result["client_process"] == limited and json.loads(result["body"])["status"] == "started", result


def test_the_listener_has_its_own_documentation(farm: Farm) -> None:
    spec = requests.get(f"{farm.gateway.aifactory_url}/openapi.json", timeout=10).json()
    assert {"/api/v1/client-group/{benchmark_id}", "/api/v1/client-group/{benchmark_id}/run",
            "/api/v1/client-group/{benchmark_id}/connect", "/api/v1/observer"} <= set(spec["paths"])  # fmt: skip
    assert not any(path.startswith("/v1/") for path in spec["paths"]), "only this listener's surface"
    for page in ("/docs", "/redoc"):
        assert requests.get(f"{farm.gateway.aifactory_url}{page}", timeout=10).status_code == 200, page


def test_the_documented_errors(farm: Farm) -> None:
    assert assert_error(farm.doors.ask("GET", "/api/v1/client-group/999"), 404) == ["Benchmark id not found"] * 2
    assert_error(farm.doors.ask("POST", "/api/v1/client-group/999/run"), 404)
    assert_error(farm.doors.ask("POST", "/api/v1/client-group/999/connect", json={"client_address": "http://h:1"}), 404)
    assert_error(farm.doors.ask("DELETE", "/api/v1/client-group/999"), 404)
    assert assert_error(farm.doors.ask("POST", "/api/v1/client-group/123", json={"num_clients": 1}), 409) == [
        "Group already exists"] * 2  # fmt: skip
    for body in ({}, {"num_clients": 0}, {"num_clients": 2, "time_limit": 0}, {"num_clients": 2, "server_addr": "x"}):
        assert_error(farm.doors.ask("POST", "/api/v1/client-group/500", json=body), 422)
    assert_error(farm.doors.ask("POST", "/api/v1/client-group/123/connect", json={"client_address": "nowhere"}), 422)
    refused = assert_same(farm.doors.ask("POST", "/api/v1/observer", json={"ip_address": "127.0.0.1", "port": "eighty"}))
    assert refused["status"] == "error"
    assert_error(farm.doors.ask("GET", "/api/v1/client-group/123", key=None), 401)
    # An original client process sends no key: not taken unless --open-legacy aifactory-clients.
    assert_error(farm.doors.ask("POST", "/api/v1/client-group/123/connect", json={"client_address": "http://h:1"},
                                key=None), 401)  # fmt: skip

    # Both slots are taken (groups 123 and 400): this group's job waits, so nothing registers but a dead
    # address, and the fan-out fails.
    _ok(Answer.of("gateway", farm.doors.gateway.call("POST", "/api/v1/client-group/300", json={"num_clients": 1})), 201)
    _ok(Answer.of("gateway", farm.doors.gateway.call("POST", "/api/v1/client-group/300/connect",
                                                     json={"client_address": f"http://127.0.0.1:{free_port()}"})), 201)  # fmt: skip
    [detail, _] = assert_error(farm.doors.ask("POST", "/api/v1/client-group/300/run"), 500)
    assert detail.startswith("Unexpected error while running client group")
    assert _ok(Answer.of("envoy", farm.doors.envoy.call("DELETE", "/api/v1/client-group/300"))) == {
        "status": "deleted", "benchmark_id": 300}  # fmt: skip


def test_delete_ends_the_job_and_a_time_limit_ends_a_group_by_itself(farm: Farm) -> None:
    address = _registered(farm, 123)
    job = _ok(Answer.of("gateway", farm.doors.gateway.call("GET", "/api/v1/client-group/123")))["info"]["job_id"]
    assert _ok(Answer.of("gateway", farm.doors.gateway.call("DELETE", "/api/v1/client-group/123"))) == {
        "status": "deleted", "benchmark_id": 123}  # fmt: skip
    assert_error(farm.doors.ask("GET", "/api/v1/client-group/123"), 404)
    wait_for(lambda: not farm.job_running(job), timeout=30, what="the group's job to end (gone from squeue)")
    wait_for(lambda: not _answers(address), timeout=30, what="the client process to end")

    def ended() -> dict[str, Any] | None:
        info = _ok(Answer.of("envoy", farm.doors.envoy.call("GET", f"/api/v1/client-group/{TIME_LIMITED}")))["info"]
        return info if info["state"] == "ended" else None

    info = wait_for(ended, timeout=180, what="the one-minute group to end by itself")
    assert ("TIMEOUT" if farm.backend == "slurm" else "time limit") in info["state_reason"], info
    assert time.time() - info["created_at"] >= 55
    assert not farm.job_running(info["job_id"])
    core = Doors(Door("gateway", farm.gateway.url), Door("envoy", farm.envoy.url))
    group = assert_same(core.ask("GET", f"/v1/clientGroups/{TIME_LIMITED}"))
    assert group["state"] == "STATE_ENDED" and group["state_reason"] == info["state_reason"]
    [reported] = group["figures"]
    assert reported["figures"]["requests"] == 7 and not reported["figures"]["running"], "the results outlive the job"
    assert [a.status for a in core.ask("GET", "/v1/clientGroups/123")] == [404, 404], "deleted"
    assert [a.status for a in core.ask("GET", "/v1/clientGroups/abc")] == [400, 400]


def _answers(address: str) -> bool:
    try:
        requests.get(f"{address}/status", timeout=2)
        return True
    except requests.RequestException:
        return False


def test_a_slurm_that_is_down_is_a_clear_error_at_create(farm: Farm) -> None:
    if farm.slurm is None:
        pytest.skip("the aifarm backend needs no Slurm")
    farm.slurm.stop()
    started = time.monotonic()
    [detail] = assert_error([Answer.of("gateway", farm.doors.gateway.call("POST", "/api/v1/client-group/600",
                                                                           json={"num_clients": 1}))], 503)  # fmt: skip
    assert "sbatch" in detail and time.monotonic() - started < 30, detail
    assert_error(farm.doors.ask("GET", "/api/v1/client-group/600"), 404)  # nothing kept
