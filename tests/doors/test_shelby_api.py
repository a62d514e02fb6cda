"""ShelbyCompute (seeds/003) through both doors, following the document's examples.

Jobs are script tasks run by the farm's streaming agent. Where Envoy differs: its
error body is google.rpc.Status only (`message`, no `detail`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from conftest import Door, Farm
from farm_processes import wait_for
from tiny_wheel import build_wheel

pytestmark = pytest.mark.slow

# Prints lines a while apart, so they can be seen arriving, and writes an output file.
SCRIPT = """\
import time
for i in range(4):
    print(f"epoch {i + 1}/4", flush=True)
    time.sleep(0.4)
with open("model.bin", "wb") as f:
    f.write(b"weights" * 100)
print("done")
"""
MODEL = b"weights" * 100


def _ok(reply: requests.Response) -> Any:
    assert reply.status_code == 200, reply.text
    return reply.json()


def _error(door: Door, reply: requests.Response, status: int, words: str) -> dict:
    """The documented error: the status and {"detail": "..."}, through both doors (aifarm.options.v1.error_body)."""
    assert reply.status_code == status, reply.text
    body = reply.json()
    # ShelbyCompute's paths answer {"detail"}; the core API's (/v1, asked to check) google.rpc.Status.
    assert set(body) in ({"detail"}, {"code", "message", "details"}), body
    text = body.get("detail", body.get("message"))
    assert words.lower() in text.lower(), body
    return body


def output_hash(files: dict[str, bytes]) -> str:
    """The script runner's documented output hash: path, NUL, 8-byte size, content, in path order."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + len(files[name]).to_bytes(8, "big") + files[name])
    return digest.hexdigest()


def create(door: Door, **body: Any) -> str:
    body = {"datasetName": "MNIST Dataset", "datasetUrl": "https://example.com/mnist", **body}
    reply = _ok(door.call("POST", "/api/jobs/create", json=body))
    assert reply["success"] is True and reply["status"] == "pending"
    return reply["jobId"]


def upload(door: Door, job_id: str, script: str = SCRIPT, **body: Any) -> dict:
    return _ok(door.call("POST", "/api/jobs/upload-script", json={"jobId": job_id, "script": script, **body}))


def job(door: Door, job_id: str) -> dict:
    return _ok(door.call("GET", f"/api/frontend/jobs/{job_id}"))


def wait_status(door: Door, job_id: str, *statuses: str, timeout: float = 60) -> dict:
    return wait_for(lambda: (j := job(door, job_id))["status"] in statuses and j, timeout=timeout, interval=0.1,
                    what=f"job {job_id} to be {'/'.join(statuses)}")  # fmt: skip


def test_a_job_runs_its_uploaded_script_and_is_restarted_and_deleted(door: Door, farm: Farm) -> None:
    job_id = f"job-{uuid.uuid4().hex[:8]}"
    assert create(door, jobId=job_id, datasetHash="abc", runtimeMinutesEstimate=30,
                  meta={"description": "Custom training job"}) == job_id  # fmt: skip
    held = job(door, job_id)
    assert held["status"] == "pending" and held["meta"] == {"description": "Custom training job"}
    assert held["assignedNode"] is None and held["startedAt"] is None and held["modelHash"] is None
    assert held["datasetName"] == "MNIST Dataset" and held["datasetUrl"] == "https://example.com/mnist"
    assert held["metadata"]["stateReason"] == "held: waiting for its script (POST /api/jobs/upload-script)"
    # the job is a task of the core API
    task = _ok(door.call("GET", f"/v1/tasks/{job_id}"))
    assert task["state"] == "TASK_STATE_PENDING" and "script" in task

    reply = upload(door, job_id, requirements="", entrypoint="train.py")
    assert reply["success"] is True and reply["scriptHash"] == hashlib.sha256(SCRIPT.encode()).hexdigest()
    # log lines arrive while it runs
    seen = wait_for(lambda: (j := job(door, job_id))["status"] == "assigned" and j["logs"]
                    and any("epoch" in e["line"] for e in j["logs"]) and j, timeout=60, interval=0.1,
                    what="log lines while the job runs")  # fmt: skip
    assert seen["assignedNode"] == farm.agent.node_id and seen["finishedAt"] is None
    live = _ok(door.call("GET", f"/api/frontend/logs/{job_id}"))
    assert live["jobId"] == job_id and all(set(e) == {"line", "timestamp"} for e in live["logs"])

    done = wait_status(door, job_id, "finished", "failed")
    assert done["status"] == "finished", done
    assert done["modelHash"] == output_hash({"model.bin": MODEL})
    assert done["duration"] >= 1.2 and done["finishedAt"] >= done["startedAt"] >= done["createdAt"]
    assert done["metadata"]["exitCode"] == 0 and done["metadata"]["attempt"] == 1
    lines = [e["line"] for e in done["logs"]]
    assert [ln for ln in lines if ln.startswith("epoch")] == [f"epoch {i}/4" for i in range(1, 5)] and "done" in lines
    created, script, attempt = done["provenance"]
    assert created["event"] == "created" and created["datasetHash"] == "abc"
    assert script["scriptHash"] == reply["scriptHash"] and script["entrypoint"] == "train.py"
    assert attempt["attempt"] == 1 and attempt["nodeId"] == farm.agent.node_id
    assert attempt["exitCode"] == 0 and attempt["modelHash"] == done["modelHash"]
    tail = _ok(door.call("GET", f"/api/frontend/logs/{job_id}", params={"limit": 2}))["logs"]
    assert [e["line"] for e in tail] == lines[-2:]

    finished = _ok(door.call("GET", "/api/frontend/jobs", params={"status": "finished", "limit": 1000}))
    assert job_id in [j["jobId"] for j in finished["jobs"]] and finished["count"] == len(finished["jobs"])
    assert all(j["status"] == "finished" for j in finished["jobs"])
    assert _ok(door.call("GET", "/api/frontend/jobs", params={"limit": 1}))["count"] == 1

    restarted = _ok(door.call("POST", f"/api/frontend/jobs/{job_id}/restart"))
    assert restarted["success"] is True and restarted["status"] == "pending"
    again = wait_status(door, job_id, "finished", "failed")
    assert again["status"] == "finished" and again["metadata"]["attempt"] == 2
    assert [p["attempt"] for p in again["provenance"] if p["event"] == "attempt"] == [1, 2]
    assert again["modelHash"] == done["modelHash"]

    assert _ok(door.call("DELETE", f"/api/frontend/jobs/{job_id}"))["success"] is True
    _error(door, door.call("GET", f"/api/frontend/jobs/{job_id}"), 404, "not found")
    _error(door, door.call("GET", f"/v1/tasks/{job_id}"), 404, "not found")


def test_a_duplicate_job_id_is_refused(door: Door) -> None:
    job_id = create(door)
    assert job_id.startswith("job-")
    _error(door, door.call("POST", "/api/jobs/create", json={"jobId": job_id, "datasetName": "x"}), 400, "already exists")
    _ok(door.call("DELETE", f"/api/frontend/jobs/{job_id}"))


def test_a_failing_script_and_one_over_its_time_end_with_a_clear_status(door: Door) -> None:
    failing = create(door)
    upload(door, failing, "import sys\nprint('about to fail')\nsys.exit(3)\n")
    slow = create(door, runtimeMinutesEstimate=0.03)  # 1.8 s
    upload(door, slow, "import time\nprint('start', flush=True)\ntime.sleep(60)\n", entrypoint="slow.py")
    failed = wait_status(door, failing, "finished", "failed")
    assert failed["status"] == "failed" and failed["metadata"]["exitCode"] == 3
    assert "code 3" in failed["metadata"]["error"] and "about to fail" in [e["line"] for e in failed["logs"]]
    over = wait_status(door, slow, "finished", "failed", timeout=30)
    assert over["status"] == "failed" and "time limit" in over["metadata"]["error"], over
    assert over["duration"] < 15
    restarted = _ok(door.call("POST", f"/api/frontend/jobs/{failing}/restart"))
    assert restarted["status"] == "pending"
    assert wait_status(door, failing, "failed")["metadata"]["attempt"] == 2
    for job_id in (failing, slow):
        _ok(door.call("DELETE", f"/api/frontend/jobs/{job_id}"))


def test_malformed_bodies_and_unknown_ids_get_the_documented_errors(door: Door) -> None:
    before = _ok(door.call("GET", "/api/frontend/jobs", params={"limit": 1000}))["count"]
    bad = door.call("POST", "/api/jobs/create", data=b"{not json", headers={"Content-Type": "application/json"})
    assert bad.status_code == 422, bad.text
    _error(door, door.call("POST", "/api/jobs/create", json={"datasetUrl": "https://x"}), 422, "datasetName")
    _error(door, door.call("POST", "/api/jobs/create", json={"jobId": "../evil", "datasetName": "x"}), 422, "invalid")
    _error(door, door.call("POST", "/api/jobs/create", json={"datasetName": "x", "runtimeMinutesEstimate": -1}),
           422, "runtimeMinutesEstimate")  # fmt: skip
    assert door.call("POST", "/api/jobs/create", json={"datasetName": 5, "meta": "no"}).status_code == 422
    assert _ok(door.call("GET", "/api/frontend/jobs", params={"limit": 1000}))["count"] == before
    job_id = create(door)
    _error(door, door.call("POST", "/api/jobs/upload-script", json={"jobId": job_id}), 422, "script")
    _error(door, door.call("POST", "/api/jobs/upload-script", json={"jobId": job_id, "script": "x",
                                                                    "entrypoint": "../x.py"}), 422, "entrypoint")  # fmt: skip
    _error(door, door.call("POST", f"/api/frontend/jobs/{job_id}/restart"), 400, "only an ended")
    _ok(door.call("DELETE", f"/api/frontend/jobs/{job_id}"))
    _error(door, door.call("GET", "/api/frontend/jobs", params={"status": "bogus"}), 422, "unknown status")
    for method, path in [("GET", "/api/frontend/jobs/nope"), ("DELETE", "/api/frontend/jobs/nope"),
                         ("POST", "/api/frontend/jobs/nope/restart"), ("GET", "/api/frontend/logs/nope")]:  # fmt: skip
        _error(door, door.call(method, path), 404, "'nope' not found")
    _error(door, door.call("POST", "/api/jobs/upload-script", json={"jobId": "nope", "script": "x"}), 404, "not found")
    _error(door, door.call("GET", "/api/frontend/jobs", key=None), 401, "API key")


def test_requirements_are_installed_in_an_environment_reused_when_identical(door: Door, tmp_path: Path) -> None:
    name = f"aifarm_probe_{door.name}"
    wheel = build_wheel(tmp_path, name, "installed for the job")
    script = f"import sys, {name}\nprint({name}.VALUE)\nprint('prefix', sys.prefix)\n"
    first, second = create(door), create(door)
    upload(door, first, script, requirements=f"{wheel}\n")
    one = wait_status(door, first, "finished", "failed", timeout=120)
    assert one["status"] == "finished", one
    upload(door, second, script, requirements=str(wheel))
    two = wait_status(door, second, "finished", "failed", timeout=120)
    assert two["status"] == "finished", two
    lines_one, lines_two = ([e["line"] for e in j["logs"]] for j in (one, two))
    assert "installed for the job" in lines_one and "installed for the job" in lines_two
    prefix = next(ln for ln in lines_one if ln.startswith("prefix "))
    assert prefix in lines_two, "identical requirements share one environment"
    assert any("Successfully installed" in ln for ln in lines_one)
    assert any("reusing" in ln for ln in lines_two) and not any("Successfully installed" in ln for ln in lines_two)
    assert importlib.util.find_spec(name) is None, "installed only inside the job's environment"
    script_record = next(p for p in one["provenance"] if p["event"] == "script")
    assert script_record["requirementsHash"] == hashlib.sha256(f"{wheel}\n".encode()).hexdigest()

    broken = create(door)
    upload(door, broken, "print('never runs')\n", requirements=str(tmp_path / "missing-1.0-py3-none-any.whl"))
    failed = wait_status(door, broken, "finished", "failed", timeout=120)
    assert failed["status"] == "failed" and "could not install the requirements" in failed["metadata"]["error"]
    lines = [e["line"] for e in failed["logs"]]
    assert any(ln.startswith("pip: ") for ln in lines) and "never runs" not in lines
    for job_id in (first, second, broken):
        _ok(door.call("DELETE", f"/api/frontend/jobs/{job_id}"))


def test_dashboard_health_and_nodes_are_real(door: Door, farm: Farm) -> None:
    before = _ok(door.call("GET", "/api/frontend/dashboard"))
    assert set(before["jobStats"]) == {"pending", "assigned", "finished", "failed", "total"}  # the document's only
    assert before["activeNodes"] >= 1 and abs(before["timestamp"] - time.time()) < 60
    job_id = create(door)
    after = _ok(door.call("GET", "/api/frontend/dashboard"))
    assert after["jobStats"]["total"] == before["jobStats"]["total"] + 1
    assert after["jobStats"]["pending"] == before["jobStats"]["pending"] + 1
    assert after["recentJobs"][0]["jobId"] == job_id and len(after["recentJobs"]) <= 10
    assert isinstance(after["jobStats"]["total"], int)

    health = _ok(door.call("GET", "/api/frontend/system/health"))
    assert health["status"] == "healthy" and health["database"] == "healthy" and health["activeNodes"] >= 1
    assert health["jobQueue"]["pending"] >= 1 and set(health["jobQueue"]) >= {"pending", "running", "completed"}
    _ok(door.call("DELETE", f"/api/frontend/jobs/{job_id}"))

    nodes = _ok(door.call("GET", "/api/frontend/nodes"))
    assert nodes["count"] == len(nodes["nodes"])
    node = next(n for n in nodes["nodes"] if n["nodeId"] == farm.agent.node_id)
    assert node["status"] == "active" and 0 <= node["lastSeenAgo"] <= 5 and abs(node["lastSeen"] - time.time()) < 10
    specs = node["specs"]
    assert specs["totalRAM_GB"] > 0 and specs["os"] == "Linux" and specs["platform"] and specs["cpuCount"] >= 1
    assert 0 <= specs["cpuUsage"] <= 100 and 0 < specs["ramUsage"] <= 100
