"""Every kind of worker drawing from one queue at once: two WebSocket workers (seeds/001), one
ShelbyCompute polling agent (seeds/003, its documented agent API) and one streaming aifarm agent.

Twenty script tasks are submitted together. Each run appends one line to a shared ledger: the
streaming agent and the polling agent really run the task's script (which appends it); the
WebSocket workers, written here and running no code, append it themselves before their result.
One WebSocket worker takes a task and goes silent: its task is requeued and completes elsewhere
as attempt 2. In the end every task is COMPLETED, is in the ledger exactly once, and the
controller's record (attempt, node) agrees with the ledger.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests

from conftest import Worker, WsFarm, start_ws_farm
from farm_processes import AGENT_TOKEN, AgentProcess, wait_for

pytestmark = pytest.mark.slow

TASKS = 20
TERMINAL = {"TASK_STATE_COMPLETED", "TASK_STATE_FAILED", "TASK_STATE_CANCELLED"}

# Appends "label task-id attempt runner cwd" to the ledger. The streaming agent sets AIFARM_TASK_ID
# and AIFARM_ATTEMPT; the polling agent below sets them too, and names itself in LEDGER_RUNNER.
SCRIPT = """\
import os, time
with open({ledger!r}, "a") as f:
    f.write(" ".join([{label!r}, os.environ.get("AIFARM_TASK_ID", "?"), os.environ.get("AIFARM_ATTEMPT", "?"),
                      os.environ.get("LEDGER_RUNNER", "agent"), os.getcwd()]) + "\\n")
time.sleep(0.3)
print("ran", {label!r})
"""


def _ok(reply: requests.Response) -> Any:
    assert reply.status_code == 200, f"{reply.request.method} {reply.url}: {reply.status_code} {reply.text}"
    return reply.json()


def _hmac(key: str, message: str) -> str:
    return hmac.new(key.encode(), message.encode(), hashlib.sha256).hexdigest()


class Poller:
    """A ShelbyCompute polling agent written against the documented agent API (as in
    tests/doors/test_shelby_agents.py): register, heartbeat, poll, signed ack, fetch the script,
    run it, stream its log, finish. Runs in a thread until stopped; an error there is kept."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.node_id = f"poll-{uuid.uuid4().hex[:8]}"
        self.key = secrets.token_hex(16)
        self.ran: list[tuple[str, int]] = []
        self.lost_acks = 0
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="poller")

    def call(self, method: str, path: str, **kw: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {AGENT_TOKEN}", "X-Node-Signature": _hmac(self.key, self.node_id)}
        return requests.request(method, self.base_url + path, headers=headers, timeout=10, **kw)

    def post(self, path: str, body: dict[str, Any]) -> requests.Response:
        return self.call("POST", path, json={"nodeId": self.node_id, **body})

    def start(self) -> Poller:
        specs = {"cpuCount": 2, "totalRAM_GB": 4.0, "os": "Linux", "platform": "test", "cpuUsage": 5.0}
        _ok(self.call("POST", "/api/nodes/register", json={"nodeId": self.node_id, "specs": specs,
                                                           "handshakeKey": self.key}))  # fmt: skip
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        assert not self._thread.is_alive(), "the poller did not stop"

    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                _ok(self.post("/api/nodes/heartbeat", {"specs": {"cpuUsage": 10.0, "ramUsage": 20.0}}))
                offered = _ok(self.call("GET", "/api/jobs/poll", params={"nodeId": self.node_id}))["jobs"]
                if not offered:
                    time.sleep(0.05)
                    continue
                job_id = offered[0]["jobId"]
                ack = self.post("/api/jobs/ack", {"jobId": job_id, "signature": _hmac(self.key, job_id)})
                if ack.status_code == 400:  # another node took it first
                    self.lost_acks += 1
                    continue
                self._run(job_id, _ok(ack)["attempt"])
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc

    def _run(self, job_id: str, attempt: int) -> None:
        script = _ok(self.call("GET", "/api/jobs/fetch-script", params={"jobId": job_id, "nodeId": self.node_id}))
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / script["entrypoint"]).write_text(script["script"])
            env = {**script["env"], "PATH": "/usr/bin:/bin", "AIFARM_TASK_ID": job_id, "AIFARM_ATTEMPT": str(attempt),
                   "LEDGER_RUNNER": f"poller:{self.node_id}"}  # fmt: skip
            proc = subprocess.run([sys.executable, script["entrypoint"]], cwd=tmp, capture_output=True, text=True,
                                  env=env, timeout=30)  # fmt: skip
        if lines := proc.stdout.splitlines():
            _ok(self.post("/api/jobs/stream-log", {"jobId": job_id, "attempt": attempt, "lines": lines, "lineNo": 1}))
        _ok(self.post("/api/jobs/finish", {"jobId": job_id, "attempt": attempt, "exitCode": proc.returncode,
                                           "modelHash": "", "error": proc.stderr[-500:]}))  # fmt: skip
        self.ran.append((job_id, attempt))


@pytest.fixture
def mixed_farm(tmp_path: Path) -> Iterator[WsFarm]:
    # No rate limit: the poller calls far more often than 60 times a minute.
    (tmp_path / "farm").mkdir()
    yield from start_ws_farm(tmp_path / "farm", ["--rate-limit-per-minute", "0"])


def _node_state(farm: WsFarm, node_id: str) -> str:
    reply = farm.rest("GET", f"/v1/nodes/{node_id}")
    return reply.json().get("state", "") if reply.status_code == 200 else ""


async def _ws_worker_loop(worker: Worker, ledger: Path, stop: asyncio.Event, ran: list[tuple[str, int]]) -> None:
    """Ask for a task, "run" it (append to the ledger), report progress and completion, until stopped."""
    while not stop.is_set():
        await worker.send("task_request", timestamp="2024-11-04T12:00:00Z")
        while True:
            try:
                message = await worker.recv("task", timeout=0.5)
                break
            except TimeoutError:
                if stop.is_set():
                    return
        task_id, attempt = message["data"]["id"], message["data"]["attempt"]
        with ledger.open("a") as f:
            f.write(f"- {task_id} {attempt} ws:{worker.client_id} -\n")
        await asyncio.sleep(0.2)
        await worker.send("task_progress", task_id=task_id, progress=50.0, metrics={"loss": 0.5})
        await worker.send("task_result", task_id=task_id, status="completed", metrics={"final_loss": 0.1})
        ack = await worker.recv("task_result_ack", timeout=15)
        assert ack["task_id"] == task_id and ack["received"] is True
        ran.append((task_id, attempt))


async def test_mixed_workers_run_every_task_exactly_once_and_a_silent_workers_task_moves(
    mixed_farm: WsFarm, workers: list[Worker], tmp_path: Path
) -> None:
    farm = mixed_farm
    ledger = tmp_path / "ledger.txt"
    ledger.touch()
    started = time.monotonic()

    agent = AgentProcess(farm.controller.address, tmp_path / "agent", ["--cpu-slots", "2"]).start()
    poller: Poller | None = None
    stop = asyncio.Event()
    busy_task: asyncio.Task[None] | None = None
    try:
        agent_id = await asyncio.to_thread(lambda: agent.node_id)
        poller = Poller(farm.gateway.url).start()
        silent = await Worker.connect(farm.ws_url, f"silent-{uuid.uuid4().hex[:8]}")
        busy = await Worker.connect(farm.ws_url, f"busy-{uuid.uuid4().hex[:8]}")
        workers.extend([silent, busy])
        for w in (silent, busy):
            await w.send("heartbeat", system_info={"cpu_cores": 1, "cpu_usage": 5.0, "ram_usage": 10.0})
            await w.recv("heartbeat_ack")
        for node in (agent_id, poller.node_id, silent.client_id, busy.client_id):
            await asyncio.to_thread(wait_for, lambda n=node: _node_state(farm, n) == "NODE_STATE_ONLINE",
                                    timeout=20, what=f"node {node} to be online")  # fmt: skip

        # The silent worker asks first, so it holds a task of the batch when it goes quiet.
        await silent.send("task_request", timestamp="2024-11-04T12:00:00Z")
        ws_ran: list[tuple[str, int]] = []
        busy_task = asyncio.create_task(_ws_worker_loop(busy, ledger, stop, ws_ran))

        labels = [f"t{i:02d}" for i in range(TASKS)]

        def submit(label: str) -> str:
            return farm.create_script_task(SCRIPT.format(ledger=str(ledger), label=label), name=label)

        def submit_all() -> dict[str, str]:
            with ThreadPoolExecutor(max_workers=TASKS) as pool:  # all at once
                return dict(zip(pool.map(submit, labels), labels))

        submitted = time.monotonic()
        label_of = await asyncio.to_thread(submit_all)
        assert len(label_of) == TASKS

        given = await silent.recv("task", timeout=20)
        frozen_id = given["data"]["id"]
        assert frozen_id in label_of and given["data"]["attempt"] == 1
        silent.freeze()  # never appends, never reports: its pings go unanswered

        def all_ended() -> dict[str, dict[str, Any]] | None:
            tasks = {t: farm.task(t) for t in label_of}
            return tasks if all(t["state"] in TERMINAL for t in tasks.values()) else None

        tasks = await asyncio.to_thread(wait_for, all_ended, timeout=45, interval=0.3, what="every task to end")
        ended = time.monotonic()
        await asyncio.sleep(1.5)  # a late duplicate run would show in the ledger now
        stop.set()
        await asyncio.wait_for(busy_task, timeout=15)
        busy_task = None
        assert poller.error is None, f"the poller failed: {poller.error!r}"
        silent_state = await asyncio.to_thread(_node_state, farm, silent.client_id)
    finally:
        stop.set()
        if busy_task is not None:
            busy_task.cancel()
            await asyncio.gather(busy_task, return_exceptions=True)
        if poller is not None:
            await asyncio.to_thread(poller.stop)
        await asyncio.to_thread(agent.stop)

    # -- the ledger: one line per run ------------------------------------------------------------
    lines = [line.split(" ", 4) for line in ledger.read_text().splitlines() if line.strip()]
    runs: dict[str, list[tuple[int, str, str]]] = {}
    for label, task_id, attempt, runner, cwd in lines:
        if runner.startswith("ws:"):
            label = label_of.get(task_id, "?")
        assert task_id in label_of and label_of[task_id] == label, f"a ledger line for no task of ours: {lines}"
        runs.setdefault(task_id, []).append((int(attempt), runner, cwd))
    twice = {t: r for t, r in runs.items() if len(r) > 1}
    never = sorted(set(label_of) - set(runs))
    assert not twice, f"tasks run more than once: {twice}"
    assert not never, f"tasks never run: {[(t, tasks[t]['state'], tasks[t].get('node')) for t in never]}"

    # -- the controller agrees -------------------------------------------------------------------
    kinds: set[str] = set()
    for task_id, task in tasks.items():
        (attempt, runner, cwd), = runs[task_id]
        assert task["state"] == "TASK_STATE_COMPLETED", task
        assert task["attempt"] == attempt, (task, runs[task_id])
        node = task["node"].removeprefix("nodes/")
        if runner == "agent":
            kinds.add("agent")
            assert node == agent_id and Path(cwd).is_relative_to(tmp_path / "agent"), (task, runs[task_id])
        elif runner.startswith("poller:"):
            kinds.add("poller")
            assert node == poller.node_id == runner.removeprefix("poller:"), (task, runs[task_id])
        else:
            kinds.add("websocket")
            assert node == busy.client_id == runner.removeprefix("ws:"), (task, runs[task_id])
        if task_id != frozen_id:
            assert attempt == 1, (task, runs[task_id])
    assert kinds == {"agent", "poller", "websocket"}, f"kinds that ran tasks: {kinds}"
    assert sorted(ws_ran + poller.ran) == sorted((t, a) for t, rs in runs.items() for a, r, _ in rs if r != "agent")

    # -- the silent worker's task: requeued, run once elsewhere as attempt 2 -----------------------
    frozen = tasks[frozen_id]
    assert frozen["attempt"] == 2 and frozen["node"].removeprefix("nodes/") != silent.client_id, frozen
    assert [a for a, _, _ in runs[frozen_id]] == [2]
    assert silent_state != "NODE_STATE_ONLINE"

    print(f"\nsubmitted->all ended {ended - submitted:.1f} s, test {time.monotonic() - started:.1f} s;"
          f" frozen {frozen_id} -> {runs[frozen_id][0][1]};"
          f" runs by agent/poller/ws: {sum(r == 'agent' for rs in runs.values() for _, r, _ in rs)}/"
          f"{len(poller.ran)}/{len(ws_ran)}; poller lost acks: {poller.lost_acks}")
