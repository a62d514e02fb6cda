"""ShelbyCompute's polling agents (seeds/003, "Core API Endpoints (for agents)") beside a streaming
aifarm agent, through both doors: both kinds take jobs from one queue and no job runs twice.

`PollingAgent` is a minimal agent written against the documented agent API only.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from conftest import Door, Farm
from farm_processes import AGENT_TOKEN, wait_for

pytestmark = pytest.mark.slow


def _ok(reply: requests.Response) -> Any:
    assert reply.status_code == 200, reply.text
    return reply.json()


def output_hash(root: Path, exclude: str) -> str:
    digest, found = hashlib.sha256(), False
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name != exclude):
        rel, data = path.relative_to(root).as_posix(), path.read_bytes()
        digest.update(rel.encode() + b"\0" + len(data).to_bytes(8, "big") + data)
        found = True
    return digest.hexdigest() if found else ""


def hmac_hex(key: str, message: str) -> str:
    return hmac.new(key.encode(), message.encode(), hashlib.sha256).hexdigest()


class PollingAgent:
    """Registers with a handshake key of its own, heartbeats, polls, acks (signed), fetches the script,
    runs it, streams its log, finishes; every call for its node carries the node's signature."""

    def __init__(self, door: Door, name: str, cpus: int = 2) -> None:
        self.door = door
        self.node_id = f"poll-{name}-{uuid.uuid4().hex[:6]}"
        self.handshake_key = secrets.token_hex(16)
        self.cpus = cpus
        self.ran: list[str] = []
        self.lost_acks = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def call(self, method: str, path: str, **kw: Any) -> requests.Response:
        """Agents use the join token, and prove their node with its handshake key."""
        headers = {"X-Node-Signature": hmac_hex(self.handshake_key, self.node_id), **kw.pop("headers", {})}
        return self.door.call(method, path, key=AGENT_TOKEN, headers=headers, **kw)

    def post(self, path: str, body: dict) -> requests.Response:
        return self.call("POST", path, json={"nodeId": self.node_id, **body})

    def ack(self, job_id: str) -> requests.Response:
        return self.post("/api/jobs/ack", {"jobId": job_id, "signature": hmac_hex(self.handshake_key, job_id)})

    def register(self) -> dict:
        specs = {"cpuCount": self.cpus, "totalRAM_GB": 4.0, "os": "Linux", "platform": "test", "cpuUsage": 5.0}
        body = {"nodeId": self.node_id, "specs": specs, "handshakeKey": self.handshake_key}
        return _ok(self.call("POST", "/api/nodes/register", json=body))

    def start(self) -> PollingAgent:
        self.register()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def _run(self) -> None:
        while not self._stop.is_set():
            _ok(self.post("/api/nodes/heartbeat", {"specs": {"cpuUsage": 10.0, "ramUsage": 20.0}}))
            offered = _ok(self.call("GET", "/api/jobs/poll", params={"nodeId": self.node_id}))["jobs"]
            if not offered:
                time.sleep(0.05)
                continue
            ack = self.ack(offered[0]["jobId"])
            if ack.status_code == 400:  # another agent took it first
                self.lost_acks += 1
                continue
            self.run_job(_ok(ack))

    def run_job(self, ack: dict) -> None:
        job_id, attempt = ack["jobId"], ack["attempt"]
        script = _ok(self.call("GET", "/api/jobs/fetch-script", params={"jobId": job_id, "nodeId": self.node_id}))
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            (work / script["entrypoint"]).write_text(script["script"])
            proc = subprocess.run([sys.executable, script["entrypoint"]], cwd=work, capture_output=True, text=True,
                                  env={**script["env"], "PATH": "/usr/bin:/bin"}, timeout=60)  # fmt: skip
            lines = proc.stdout.splitlines()
            if lines:
                _ok(self.post("/api/jobs/stream-log", {"jobId": job_id, "attempt": attempt, "lines": lines, "lineNo": 1}))
            _ok(self.post("/api/usage-report", {"cpuUsage": 50.0, "ramUsage": 30.0, "jobId": job_id}))
            finish = {"jobId": job_id, "attempt": attempt, "exitCode": proc.returncode,
                      "modelHash": output_hash(work, script["entrypoint"])}  # fmt: skip
            _ok(self.post("/api/jobs/finish", finish))
        self.ran.append(job_id)


def create_job(door: Door, script: str, **create: Any) -> str:
    job_id = _ok(door.call("POST", "/api/jobs/create", json={"datasetName": "shared", **create}))["jobId"]
    _ok(door.call("POST", "/api/jobs/upload-script", json={"jobId": job_id, "script": script}))
    return job_id


def claim_one(door: Door, agent: PollingAgent, script: str, **create: Any) -> tuple[str, requests.Response]:
    """A job the polling agent acked: the streaming agent races for each, so submit until it wins one."""
    for _ in range(30):
        job_id = create_job(door, script, **create)
        offered = _ok(agent.call("GET", "/api/jobs/poll", params={"nodeId": agent.node_id}))["jobs"]
        if offered and offered[0]["jobId"] == job_id and (ack := agent.ack(job_id)).ok:
            return job_id, ack
    pytest.skip("the streaming agent took every job first")


def job(door: Door, job_id: str) -> dict:
    return _ok(door.call("GET", f"/api/frontend/jobs/{job_id}"))


def test_polling_and_streaming_agents_share_the_queue_and_run_each_job_once(door: Door, farm: Farm, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.txt"
    script = (f"import os, time\nwith open({str(ledger)!r}, 'a') as f:\n    f.write(os.environ['JOB_ID'] + '\\n')\n"
              "time.sleep(0.3)\nopen('out.txt', 'w').write(os.environ['JOB_ID'])\nprint('ran', os.environ['JOB_ID'])\n")  # fmt: skip
    pollers = [PollingAgent(door, f"a{i}").start() for i in range(2)]
    try:
        nodes = _ok(door.call("GET", "/api/frontend/nodes"))["nodes"]
        mine = [n for n in nodes if n["nodeId"] in {p.node_id for p in pollers}]
        assert len(mine) == 2 and all(n["status"] == "active" and n["specs"]["totalRAM_GB"] == 4.0 for n in mine)
        jobs = [create_job(door, script) for _ in range(24)]
        done = wait_for(lambda: all(job(door, i)["status"] in ("finished", "failed") for i in jobs) and True,
                        timeout=120, interval=0.3, what="every job to end")  # fmt: skip
        assert done
    finally:
        for p in pollers:
            p.stop()
    ran = ledger.read_text().split()
    failed = {j: job(door, j) for j in jobs if j not in ran}
    assert sorted(ran) == sorted(jobs), f"every job ran exactly once; not run: {failed}"
    by_pollers = [j for p in pollers for j in p.ran]
    assert by_pollers and len(by_pollers) < len(jobs), "both kinds of agent took jobs"
    for job_id in jobs:
        detail = job(door, job_id)
        assert detail["status"] == "finished", detail
        assert detail["metadata"]["attempt"] == 1 and f"ran {job_id}" in [e["line"] for e in detail["logs"]]
        expected = hashlib.sha256(b"out.txt\0" + len(job_id).to_bytes(8, "big") + job_id.encode()).hexdigest()
        assert detail["modelHash"] == expected
        polled = job_id in by_pollers
        assert (detail["assignedNode"] in {p.node_id for p in pollers}) == polled
    for job_id in jobs:
        _ok(door.call("DELETE", f"/api/frontend/jobs/{job_id}"))


def test_a_silent_polling_agent_loses_its_job_to_requeue(door: Door, farm: Farm) -> None:
    silent = PollingAgent(door, "silent", cpus=64)
    silent.register()
    job_id, ack = claim_one(door, silent, "print('second try')")
    attempt = ack.json()["attempt"]
    assert job(door, job_id)["assignedNode"] == silent.node_id
    # silence: no heartbeat for the TTL (2.5 s) -> the node is lost, the job runs again elsewhere
    again = wait_for(lambda: (j := job(door, job_id))["status"] == "finished" and j, timeout=30, interval=0.2,
                     what="the job to be requeued and run by the streaming agent")  # fmt: skip
    assert again["assignedNode"] == farm.agent.node_id and again["metadata"]["attempt"] == attempt + 1
    node = next(n for n in _ok(door.call("GET", "/api/frontend/nodes"))["nodes"] if n["nodeId"] == silent.node_id)
    assert node["status"] == "offline" and node["lastSeenAgo"] >= 2
    # the silent agent's late report is refused and changes nothing
    late = silent.post("/api/jobs/finish", {"jobId": job_id, "attempt": attempt, "exitCode": 1})
    assert late.status_code == 400, late.text
    assert job(door, job_id)["status"] == "finished"
    logged = silent.post("/api/jobs/stream-log", {"jobId": job_id, "attempt": attempt, "line": "late"})
    assert _ok(logged)["cancelled"] is True


def test_a_polling_agent_that_overruns_the_time_bound_is_told_to_stop(door: Door) -> None:
    agent = PollingAgent(door, "slow")
    agent.register()
    job_id, ack = claim_one(door, agent, "import time\ntime.sleep(600)\n", runtimeMinutesEstimate=0.01)  # 1 s
    attempt = ack.json()["attempt"]
    _ok(agent.call("GET", "/api/jobs/fetch-script", params={"jobId": job_id, "nodeId": agent.node_id}))
    assert job(door, job_id)["status"] == "assigned"  # the document's word for running on a node
    assert _ok(door.call("GET", f"/v1/tasks/{job_id}"))["state"] == "TASK_STATE_RUNNING"

    def told_to_stop() -> bool:
        reply = _ok(agent.post("/api/jobs/stream-log", {"jobId": job_id, "attempt": attempt, "line": "still going"}))
        return reply["cancelled"]

    wait_for(told_to_stop, timeout=20, interval=0.3, what="the controller to end the overdue attempt")
    ended = job(door, job_id)
    assert ended["status"] == "failed" and "time limit" in ended["metadata"]["error"], ended
    assert agent.post("/api/jobs/finish", {"jobId": job_id, "attempt": attempt, "exitCode": 0}).status_code == 400


def test_agent_calls_refuse_unknown_nodes_and_jobs(door: Door) -> None:
    agent = PollingAgent(door, "x")
    assert agent.call("GET", "/api/jobs/poll", params={"nodeId": "never-registered"}).status_code == 404
    assert agent.call("POST", "/api/nodes/heartbeat", json={"nodeId": "never-registered"}).status_code == 404
    assert agent.call("POST", "/api/nodes/heartbeat", json={}).status_code == 422
    agent.register()
    assert agent.ack("nope").status_code == 404
    assert agent.post("/api/jobs/finish", {"jobId": "nope", "exitCode": 0}).status_code == 404
    assert agent.call("GET", "/api/jobs/fetch-script", params={"jobId": "nope", "nodeId": agent.node_id}).status_code == 404
    bad = agent.call("POST", "/api/nodes/register", data=b"{", headers={"Content-Type": "application/json"})
    assert bad.status_code == 422


def test_the_agent_api_takes_the_agent_token_and_nothing_else(door: Door) -> None:
    agent = PollingAgent(door, "auth")
    agent.register()
    poll = ("GET", "/api/jobs/poll")
    assert door.call(*poll, params={"nodeId": agent.node_id}).status_code == 403  # an API key is not an agent
    assert door.call(*poll, key=None, params={"nodeId": agent.node_id}).status_code == 401
    assert door.call(*poll, key="wrong", params={"nodeId": agent.node_id}).status_code == 401
    assert agent.call(*poll, params={"nodeId": agent.node_id}).status_code == 200
    assert agent.call("GET", "/api/frontend/jobs").status_code == 403  # and an agent is not a user


def test_a_polling_node_id_belongs_to_the_holder_of_its_handshake_key(door: Door) -> None:
    """Issue 10: once a node id is admitted, only the holder of its credential can use it."""
    agent = PollingAgent(door, "owner")
    agent.register()
    impostor = PollingAgent(door, "impostor")
    impostor.node_id = agent.node_id  # the same id, another key
    taken = impostor.call("POST", "/api/nodes/register",
                          json={"nodeId": agent.node_id, "handshakeKey": impostor.handshake_key})  # fmt: skip
    assert taken.status_code == 403, taken.text
    for reply in (
        impostor.call("GET", "/api/jobs/poll", params={"nodeId": agent.node_id}),
        impostor.post("/api/nodes/heartbeat", {}),
        impostor.ack("any-job"),
        agent.post("/api/jobs/ack", {"jobId": "any-job", "signature": "00" * 32}),
    ):
        assert reply.status_code == 403 and "not proved" in reply.text, reply.text
    unsigned = door.call("GET", "/api/jobs/poll", key=AGENT_TOKEN, params={"nodeId": agent.node_id})
    assert unsigned.status_code == 403
    assert agent.call("GET", "/api/jobs/poll", params={"nodeId": agent.node_id}).status_code == 200
    assert _ok(agent.call("POST", "/api/nodes/register", json={"nodeId": agent.node_id,
                                                                "handshakeKey": agent.handshake_key}))["success"]
    short = PollingAgent(door, "short")
    refused = short.call("POST", "/api/nodes/register", json={"nodeId": short.node_id, "handshakeKey": "abc"})
    assert refused.status_code == 422 and "handshakeKey" in refused.text
