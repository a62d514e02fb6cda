"""ShelbyCompute's own polling agent, unmodified in what it sends, against aifarm through both doors.

`OriginalAgent` speaks exactly the calls and fields of Godzilaa/DecentralizedCompute's
`provider-agent/agent.py` (../shared/ORIGINAL-CLIENTS.md): no token and no signature header
(it cannot send them), a random nodeId and handshakeKey, acks signed hex HMAC-SHA256(handshakeKey,
jobId), one stream-log call per line with the snake_case `job_id` and no nodeId, fetch-script
without a nodeId, usage as `cpu_percent`/`ram_percent`/`ts`, and a finish with no exit code
(a run without a model file sends `modelHash: ""` and `metadata: {"error": "no_model"}`). It runs
the fetched script as `train.py` with its output in `output/`, as the original's container does.
The controller runs with `--open-legacy shelby-agents`; its doors listen on every address so
that a call from this machine's non-loopback address can be seen refused.
"""

from __future__ import annotations

import hashlib
import hmac
import platform
import secrets
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests

from conftest import Door, start_door
from farm_processes import API_KEY, ControllerProcess, GatewayProcess, free_port, wait_for

pytestmark = pytest.mark.slow

#: What ShelbyCompute's document and agents know a job's status as.
DOCUMENT_STATUSES = {"pending", "assigned", "finished", "failed"}

# Writes a model file, as a training script does; waits first, so it is seen running.
TRAINS = """\
import os, time
print("loading data", flush=True)
time.sleep(2)
os.makedirs("output", exist_ok=True)
with open("output/model.bin", "wb") as f:
    f.write(b"weights" * 64)
print("saved model", flush=True)
"""
# Exits 0 but writes no model: the original reports modelHash "" and metadata.error.
NO_MODEL = "print('trained nothing')\n"
# Fails outright.
EXITS_3 = "import sys\nprint('boom', flush=True)\nsys.exit(3)\n"


class OriginalAgent:
    """ShelbyCompute's provider agent: its calls, bodies and queries, and nothing else (no headers)."""

    def __init__(self, base_url: str, work: Path) -> None:
        self.base_url = base_url
        self.work = work
        self.node_id = str(uuid.uuid4())
        self.handshake_key = secrets.token_hex(16)
        self.seen: list[requests.Response] = []

    def _post(self, path: str, payload: dict) -> requests.Response:
        reply = requests.post(f"{self.base_url}{path}", json=payload, timeout=10)
        self.seen.append(reply)
        return reply

    def _get(self, path: str, params: dict) -> requests.Response:
        reply = requests.get(f"{self.base_url}{path}", params=params, timeout=10)
        self.seen.append(reply)
        return reply

    def register(self) -> requests.Response:
        specs = {"cpuUsage": 3.5, "ramUsage": 41.0, "totalRAM_GB": 15.6, "os": platform.system(),
                 "platform": platform.platform(), "processor": platform.processor() or "x86_64"}  # fmt: skip
        return self._post("/api/nodes/register", {"nodeId": self.node_id, "specs": specs, "containerSupported": True,
                                                  "handshakeKey": self.handshake_key})  # fmt: skip

    def heartbeat(self) -> requests.Response:
        return self._post("/api/nodes/heartbeat", {"nodeId": self.node_id})

    def poll(self) -> requests.Response:
        return self._get("/api/jobs/poll", {"nodeId": self.node_id})

    def usage(self, job_id: str) -> None:
        self._post("/api/usage-report", {"nodeId": self.node_id, "jobId": job_id, "cpu_percent": 55.0,
                                         "ram_percent": 47.5, "ts": int(time.time())})  # fmt: skip

    def handle(self, job: dict) -> None:
        """The original's handle_job: ack (signed), fetch the script, run it, stream, report, finish."""
        job_id = job["jobId"]
        signature = hmac.new(self.handshake_key.encode(), job_id.encode(), hashlib.sha256).hexdigest()
        self._post("/api/jobs/ack", {"nodeId": self.node_id, "jobId": job_id, "signature": signature})
        script = self._get("/api/jobs/fetch-script", {"jobId": job_id}).json()
        job_dir = self.work / job_id
        (job_dir / "output").mkdir(parents=True)
        (job_dir / "train.py").write_text(script["script"])
        start = time.time()
        proc = subprocess.Popen([sys.executable, "train.py"], cwd=job_dir, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)  # fmt: skip
        self.usage(job_id)
        assert proc.stdout is not None
        for raw in iter(proc.stdout.readline, ""):
            if line := raw.rstrip("\n"):
                self._post("/api/jobs/stream-log", {"job_id": job_id, "line": line})
        rc = proc.wait()
        self.usage(job_id)
        outputs = list((job_dir / "output").glob("*"))
        duration = int(time.time() - start)
        if outputs:
            model = max(outputs, key=lambda p: p.stat().st_size)
            self._finish(job_id, hashlib.sha256(model.read_bytes()).hexdigest(), model.stat().st_size, duration,
                         {"datasetName": job.get("datasetName"), "datasetUrl": job.get("datasetUrl")})  # fmt: skip
        else:  # the original passes its exit code where the size goes when there is no model
            self._finish(job_id, "", rc or 0, duration, {"error": "no_model"})

    def _finish(self, job_id: str, model_hash: str, size: int, duration: int, metadata: dict) -> None:
        self._post("/api/jobs/finish", {"nodeId": self.node_id, "jobId": job_id, "modelHash": model_hash,
                                        "modelSizeBytes": size, "metadata": metadata, "durationSeconds": duration})

    def refused(self) -> list[str]:
        return [f"{r.request.method} {r.url}: {r.status_code} {r.text}" for r in self.seen if r.status_code != 200]


@pytest.fixture(scope="module")
def controller(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControllerProcess]:
    root = tmp_path_factory.mktemp("legacy")
    proc = ControllerProcess(root / "controller", free_port(), extra=["--open-legacy", "shelby-agents"]).start()
    yield proc
    proc.kill()


@pytest.fixture(scope="module", params=["gateway", "envoy"])
def door(request: pytest.FixtureRequest, controller: ControllerProcess,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[Door]:  # fmt: skip
    work = tmp_path_factory.mktemp(request.param)
    if request.param == "gateway":
        proc: Any = GatewayProcess(controller.address, work / "gateway.log", extra=["--host", "0.0.0.0", "--insecure"])
    else:
        from envoy_process import EnvoyProcess

        proc = EnvoyProcess(work, controller.address, host="0.0.0.0")
    proc.start()
    yield Door(request.param, proc.url)
    proc.stop()


def own_address() -> str | None:
    """This machine's address on its default route (not loopback), or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.254", 9))  # UDP: nothing is sent
        except OSError:
            return None
        address = s.getsockname()[0]
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def _ok(reply: requests.Response) -> Any:
    assert reply.status_code == 200, reply.text
    return reply.json()


def new_job(door: Door, name: str, script: str) -> str:
    job_id = _ok(door.call("POST", "/api/jobs/create", json={"datasetName": name, "datasetUrl": f"https://d/{name}"}))["jobId"]
    _ok(door.call("POST", "/api/jobs/upload-script", json={"jobId": job_id, "script": script}))
    return job_id


def job(door: Door, job_id: str) -> dict:
    return _ok(door.call("GET", f"/api/frontend/jobs/{job_id}"))


def core_state(door: Door, job_id: str) -> str:
    return _ok(door.call("GET", f"/v1/tasks/{job_id}"))["state"]


def test_the_original_agent_completes_a_job_a_failing_job_and_one_that_exits_non_zero(door: Door, tmp_path: Path) -> None:
    agent = OriginalAgent(door.url, tmp_path)
    assert _ok(agent.register()) and _ok(agent.heartbeat())
    empty = _ok(agent.poll())
    assert "job" in empty and empty["job"] is None
    trains, no_model, exits_3 = (new_job(door, n, s) for n, s in
                                 (("trains", TRAINS), ("no-model", NO_MODEL), ("exits-3", EXITS_3)))  # fmt: skip
    ours = {trains, no_model, exits_3}

    def run() -> None:
        handled = 0
        while handled < 3:
            agent.heartbeat()
            offered = agent.poll().json().get("job")
            if offered:
                agent.handle(offered)
                handled += 1
            else:
                time.sleep(0.1)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    # While the first runs on the agent (core RUNNING) it is "assigned" everywhere ShelbyCompute looks.
    wait_for(lambda: core_state(door, trains) == "TASK_STATE_RUNNING", timeout=30, what="the job to run")
    assert job(door, trains)["status"] == "assigned"
    assigned = _ok(door.call("GET", "/api/frontend/jobs", params={"status": "assigned", "limit": 1000}))["jobs"]
    assert trains in [j["jobId"] for j in assigned]
    stats = _ok(door.call("GET", "/api/frontend/dashboard"))["jobStats"]
    assert set(stats) == DOCUMENT_STATUSES | {"total"} and stats["assigned"] >= 1
    worker.join(timeout=90)
    assert not worker.is_alive(), "the agent did not get through its three jobs"
    assert agent.refused() == [], "every call of the original agent is answered 200"

    done = job(door, trains)
    assert done["status"] == "finished", done
    assert done["modelHash"] == hashlib.sha256(b"weights" * 64).hexdigest() and done["assignedNode"] == agent.node_id
    assert [e["line"] for e in done["logs"]] == ["loading data", "saved model"]
    for failing, printed in ((no_model, "trained nothing"), (exits_3, "boom")):
        ended = job(door, failing)
        assert ended["status"] == "failed" and ended["metadata"]["error"] == "no_model", ended
        assert [e["line"] for e in ended["logs"]] == [printed, "[aifarm] the run failed: no_model"]
        assert core_state(door, failing) == "TASK_STATE_FAILED"

    # Only the document's statuses, in lists, filters and counts.
    listed = _ok(door.call("GET", "/api/frontend/jobs", params={"limit": 1000}))["jobs"]
    assert {j["status"] for j in listed} <= DOCUMENT_STATUSES
    failed = _ok(door.call("GET", "/api/frontend/jobs", params={"status": "failed", "limit": 1000}))["jobs"]
    assert {no_model, exits_3} <= {j["jobId"] for j in failed}
    for unknown in ("running", "cancelled"):
        assert door.call("GET", "/api/frontend/jobs", params={"status": unknown}).status_code == 422
    dashboard = _ok(door.call("GET", "/api/frontend/dashboard"))
    assert set(dashboard["jobStats"]) == DOCUMENT_STATUSES | {"total"}
    assert {j["status"] for j in dashboard["recentJobs"]} <= DOCUMENT_STATUSES
    node = next(n for n in _ok(door.call("GET", "/api/frontend/nodes"))["nodes"] if n["nodeId"] == agent.node_id)
    assert node["specs"]["processor"] and node["specs"]["totalRAM_GB"] == 15.6
    for job_id in ours:
        _ok(door.call("DELETE", f"/api/frontend/jobs/{job_id}"))


def test_the_original_agent_is_refused_from_an_address_that_is_not_trusted(door: Door, tmp_path: Path) -> None:
    address = own_address()
    if address is None:
        pytest.skip("this machine has no address besides loopback to call from")
    far = OriginalAgent(door.url.replace("127.0.0.1", address), tmp_path)
    refused = far.register()
    assert refused.status_code == 401, refused.text
    # what the client says of itself is not believed: the door puts its socket's address last
    spoofed = requests.post(f"{far.base_url}/api/nodes/register", headers={"X-Forwarded-For": "127.0.0.1"},
                            json={"nodeId": far.node_id, "handshakeKey": far.handshake_key}, timeout=10)  # fmt: skip
    assert spoofed.status_code == 401, spoofed.text
    near = OriginalAgent(door.url, tmp_path)
    assert near.register().status_code == 200


def test_without_the_opt_in_the_original_agent_is_refused_at_register(door: Door, tmp_path: Path) -> None:
    plain = ControllerProcess(tmp_path / "plain", free_port()).start()
    (work := tmp_path / door.name).mkdir()
    proc = start_door(door.name, work, plain.address)
    try:
        reply = OriginalAgent(proc.url, tmp_path).register()
        assert reply.status_code == 401, reply.text
        assert requests.get(f"{proc.url}/api/frontend/jobs", headers={"X-API-Key": API_KEY}, timeout=10).ok
    finally:
        proc.stop()
        plain.kill()
