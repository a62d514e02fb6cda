"""Dispatch throughput and latency of a real controller with many simulated agents.

    python bench/dispatch.py [--agents 50] [--tasks 2000] [--concurrency 32] [--agent-cores 4]
                             [--hold 0] [--heartbeat-interval 2] [--controller-log-level info]
                             [--submit auto|batch|single] [--batch-size 50] [--batch-concurrency 2]
                             [--idle 0] [--repo LABEL=PATH ...] [--rounds 1]
                             [--timeout 600] [--keep] [--tls off|on|both] [--tls-rounds 2]

Starts a real controller (`python -m cli.main controller`, as `aifarm controller`) as a
subprocess on a free 127.0.0.1 port with a fresh temporary data directory (real SQLite in
WAL mode), then runs in this one asyncio process:

* `--agents` simulated agents, each a real client of `AgentService.Connect` with its own
  channel: a hello with capabilities (`--agent-cores` CPU cores, RAM, no GPUs), heartbeats
  at the interval the welcome sets, and for every assignment a RUNNING update at once and
  a COMPLETED update `--hold` seconds later, sequenced and acknowledged as the real agent's
  outbox does (agent/outbox.py, agent/reporter.py). Nothing is executed for a task.
  To a controller whose welcome says it takes report batches, an agent sends what it has
  waiting as one ReportBatch, and it asks for assignment batches, as the real agent does;
  to an older controller it sends one update a message.
* a client that submits `--tasks` script tasks: with `--submit batch`, `TaskService.BatchCreateTasks`
  calls of `--batch-size` tasks, at most `--batch-concurrency` in flight; with `--submit single`,
  one `CreateTask` a task, at most `--concurrency` in flight; `auto` (the default) batches when
  the controller has BatchCreateTasks (a tree from before it does not) and says which it used.
* with `--idle N`, once that load is done: N tasks submitted one at a time through CreateTask
  on the idle farm, each after the previous completed; their submit->running is printed apart.

`--repo LABEL=PATH` (repeatable) runs the controller of the tree at PATH (its own code and
generated protos) rather than this one's; the trees take turns, `--rounds` times, each on a
fresh controller, and the medians are printed side by side with the ratio of the last to the
first: `--repo before=/tmp/before --repo after=. --rounds 2`.

Every time comes from one clock (`time.perf_counter`) in this process. A task is
*submitted* when its CreateTask call is sent, *running* when its agent sends RUNNING (which
it does on receiving the assignment), and *completed* when the controller acks the
COMPLETED update (it acks only what it committed). Printed: throughput (tasks from the
first submit to the last completion), submit throughput (CreateTask answers per second),
CreateTask latency, submit-to-running latency (p50/p95/p99/max), and the CPU seconds the
controller and this process spent, which tells whether either was saturated.

With `--tls on` the controller serves TLS (`--tls`): each simulated agent makes a key
and a CSR, registers over TLS with the join token, and holds its stream on the
mutual-TLS agent port with the certificate it got, as the real agent does; the client
calls over TLS. `--tls both` runs plaintext and TLS in turn, `--tls-rounds` times each
(a fresh controller every run), and prints the TLS/plaintext ratios of the medians.

Each task asks for nothing, so the controller gives it one CPU core: the farm runs
`agents x agent-cores` tasks at once. With `--hold 0` that is the same as "one in flight per
slot". A stream that breaks ends the run (the simulated agents do not reconnect).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import math
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import grpc
import psutil
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from google.protobuf import timestamp_pb2

from aifarm.v1 import (
    agent_service_pb2,
    agent_service_pb2_grpc,
    node_pb2,
    task_pb2,
    task_service_pb2,
    task_service_pb2_grpc,
)
from cli.log_config import LEVELS

REPO = Path(__file__).resolve().parent.parent
API_KEY = "bench-api-key"
AGENT_TOKEN = "bench-agent-token"
AGENT_MEMORY_MB = 16_384


@dataclass(frozen=True)
class BenchConfig:
    """What one run does; every field is a command-line flag."""

    #: Simulated agents, one Connect stream each.
    agents: int
    #: Tasks to submit.
    tasks: int
    #: CreateTask calls in flight at once.
    concurrency: int
    #: CPU cores each agent advertises (each task takes one).
    agent_cores: int
    #: Seconds between an agent's RUNNING and COMPLETED updates.
    hold: float
    #: Passed to the controller; the agents use what its welcome says.
    heartbeat_interval: float
    #: The controller's --log-level (its log goes to a file in the data dir).
    controller_log_level: str
    #: Give up after this many seconds from the first submit.
    timeout: float
    #: Keep the data directory (database and controller log) after the run.
    keep: bool
    #: More flags for `aifarm controller` (e.g. --api-share=1).
    controller_args: tuple[str, ...] = ()
    #: Serve TLS; the agents hold their streams with farm certificates (mutual TLS).
    tls: bool = False
    #: How tasks are submitted: batch (BatchCreateTasks), single (CreateTask), auto (batch when there).
    submit: str = "auto"
    #: Tasks per BatchCreateTasks call.
    batch_size: int = 50
    #: BatchCreateTasks calls in flight at once.
    batch_concurrency: int = 2
    #: Tasks submitted one at a time on the idle farm after the load (0: none).
    idle: int = 0
    #: The tree whose controller runs (its code and generated protos).
    repo: Path = field(default_factory=lambda: REPO)


@dataclass
class Timeline:
    """When each task reached each stage, on this process's perf_counter clock."""

    expected: int
    submitted: dict[str, float] = field(default_factory=dict)
    answered: dict[str, float] = field(default_factory=dict)
    running: dict[str, float] = field(default_factory=dict)
    completed: dict[str, float] = field(default_factory=dict)
    all_completed: asyncio.Event = field(default_factory=asyncio.Event)
    #: The tasks of the idle measurement: when each was submitted and when it ran.
    idle_submitted: dict[str, float] = field(default_factory=dict)
    idle_running: dict[str, float] = field(default_factory=dict)
    #: (stage, task id) -> set once the task reaches that stage (the idle measurement waits on them).
    _waiters: dict[tuple[str, str], asyncio.Event] = field(default_factory=dict)

    def run(self, task_id: str) -> None:
        now = time.perf_counter()
        if task_id in self.idle_submitted:
            self.idle_running.setdefault(task_id, now)
            self._reached("running", task_id)
            return
        self.running.setdefault(task_id, now)

    def complete(self, task_id: str) -> None:
        if task_id in self.idle_submitted:
            self._reached("completed", task_id)
            return
        if task_id not in self.submitted:
            return  # not one of ours (bench/dispatch_under_load.py's REST clients create tasks too)
        self.completed.setdefault(task_id, time.perf_counter())
        if len(self.completed) >= self.expected:
            self.all_completed.set()

    def reached(self, stage: str, task_id: str) -> asyncio.Event:
        return self._waiters.setdefault((stage, task_id), asyncio.Event())

    def _reached(self, stage: str, task_id: str) -> None:
        self.reached(stage, task_id).set()


# The controller ---------------------------------------------------------------


@dataclass
class ControllerProcess:
    """`aifarm controller` in a subprocess, on a port it picks itself (written to endpoints.json)."""

    data_dir: Path
    heartbeat_interval: float
    log_level: str
    extra_args: tuple[str, ...] = ()
    tls: bool = False
    #: The tree whose `aifarm controller` runs.
    repo: Path = REPO
    proc: subprocess.Popen[bytes] | None = None
    address: str = ""
    #: With TLS: the farm CA's certificate and the agents' mutual-TLS address (from endpoints.json).
    ca_pem: bytes | None = None
    agent_address: str = ""

    @property
    def log_path(self) -> Path:
        return self.data_dir / "controller.log"

    def start(self, timeout: float = 30.0) -> str:
        # The tree's own code and generated protos, before whatever is installed.
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": f"{self.repo}{os.pathsep}{self.repo / 'gen' / 'python'}"}
        env.pop("API_KEYS", None)
        args = [
            sys.executable, "-m", "cli.main", "controller", "--data-dir", str(self.data_dir), "--grpc-port", "0",
            "--api-keys", API_KEY, "--agent-token", AGENT_TOKEN,
            "--heartbeat-interval", str(self.heartbeat_interval), "--log-level", self.log_level, *self.extra_args,
            *(["--tls", "--agent-port", "0"] if self.tls else []),
        ]  # fmt: skip
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=self.repo, env=env)
        endpoints = self.data_dir / "endpoints.json"
        deadline = time.monotonic() + timeout
        while not endpoints.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the controller did not start:\n{self.log_tail()}")
            time.sleep(0.05)
        bound = json.loads(endpoints.read_text())
        self.address = bound["grpc"]
        if self.tls:
            self.ca_pem = Path(bound["ca_file"]).read_bytes()
            self.agent_address = bound["grpc_agents"]
        return self.address

    def channel(self, address: str | None = None, pair: tuple[bytes, bytes] | None = None) -> grpc.aio.Channel:
        """A channel to the controller (to `address`, default its gRPC port): TLS when it serves TLS."""
        address = address or self.address
        if self.ca_pem is None:
            return grpc.aio.insecure_channel(address)
        cert, key = pair or (None, None)
        credentials = grpc.ssl_channel_credentials(self.ca_pem, private_key=key, certificate_chain=cert)
        return grpc.aio.secure_channel(address, credentials)

    def cpu_seconds(self) -> float:
        assert self.proc is not None
        times = psutil.Process(self.proc.pid).cpu_times()
        return times.user + times.system

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM (the controller shuts down gracefully), then SIGKILL if it hangs."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


# A simulated agent --------------------------------------------------------------


def _now() -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.GetCurrentTime()
    return ts


class SimAgent:
    """One node on the real wire protocol; its tasks report RUNNING at once and COMPLETED after `hold`."""

    def __init__(self, index: int, controller: ControllerProcess, cores: int, hold: float, timeline: Timeline) -> None:
        self.node_id = f"bench-node-{index:04d}"
        self.controller = controller
        self.cores = cores
        self.hold = hold
        self.timeline = timeline
        self.metadata = (("authorization", f"Bearer {AGENT_TOKEN}"),)
        self.welcomed = asyncio.Event()
        self._outgoing: asyncio.Queue[agent_service_pb2.TaskUpdate] = asyncio.Queue()
        #: The controller takes ReportBatch frames (its welcome says so).
        self.batches = False
        self._seq = 0
        #: seq of a COMPLETED update -> its task, until the controller acks it.
        self._final: OrderedDict[int, str] = OrderedDict()

    async def run(self) -> None:
        ctl = self.controller
        # A new node registers with the join token: over TLS it sends a CSR and holds its stream on the
        # mutual-TLS port with the certificate it gets; in plaintext it connects with the secret it is given.
        key, csr = _key_and_csr(self.node_id) if ctl.tls else (b"", b"")
        async with ctl.channel() as channel:
            registered = await agent_service_pb2_grpc.AgentServiceStub(channel).Register(
                agent_service_pb2.RegisterRequest(node_id=self.node_id, csr_pem=csr.decode()),
                metadata=self.metadata, timeout=60)  # fmt: skip
        if ctl.tls:
            self.metadata = ()
            channel = ctl.channel(ctl.agent_address, (registered.certificate_pem.encode(), key))
        else:
            self.metadata = (("authorization", f"Bearer {registered.node_secret}"),)
            channel = ctl.channel()
        async with channel:
            stub = agent_service_pb2_grpc.AgentServiceStub(channel)
            call = stub.Connect(metadata=self.metadata)
            try:
                await call.write(self._hello())
                first = await call.read()
                if first is grpc.aio.EOF or first.WhichOneof("message") != "welcome":
                    raise RuntimeError(f"{self.node_id}: no welcome in answer to the hello")
                self.batches = first.welcome.accepts_report_batches
                self.welcomed.set()
                writer = asyncio.create_task(self._write(call, first.welcome.heartbeat_interval_ms / 1000))
                try:
                    await self._read(call)
                finally:
                    writer.cancel()
            finally:
                call.cancel()

    def _hello(self) -> agent_service_pb2.ConnectRequest:
        return agent_service_pb2.ConnectRequest(
            hello=agent_service_pb2.Hello(
                node_id=self.node_id,
                hostname=self.node_id,
                capabilities=node_pb2.Capabilities(cpu_cores=self.cores, memory_mb=AGENT_MEMORY_MB, os="Linux"),
                agent_version="bench",
                labels={"bench": "dispatch"},
                accepts_assignment_batches=True,
            )
        )

    async def _write(self, call: grpc.aio.StreamStreamCall, interval: float) -> None:
        """The one writer of the stream: queued updates as they come (what waits in one ReportBatch when
        the controller takes them), a heartbeat every `interval`."""
        next_beat = 0.0
        while True:
            now = time.monotonic()
            if now >= next_beat:
                usage = node_pb2.NodeUsage(cpu_percent=1.0, memory_percent=1.0, memory_used_mb=128)
                await call.write(agent_service_pb2.ConnectRequest(heartbeat=agent_service_pb2.Heartbeat(usage=usage)))
                next_beat = now + interval
            try:
                update = await asyncio.wait_for(self._outgoing.get(), max(0.0, next_beat - time.monotonic()))
            except asyncio.TimeoutError:
                continue
            updates = [update]
            while not self._outgoing.empty():
                updates.append(self._outgoing.get_nowait())
            if self.batches:
                reports = [agent_service_pb2.Report(task_update=u) for u in updates]
                await call.write(agent_service_pb2.ConnectRequest(reports=agent_service_pb2.ReportBatch(reports=reports)))
                continue
            for u in updates:
                await call.write(agent_service_pb2.ConnectRequest(task_update=u))

    async def _read(self, call: grpc.aio.StreamStreamCall) -> None:
        while (message := await call.read()) is not grpc.aio.EOF:
            kind = message.WhichOneof("message")
            if kind == "assignment":
                self._start(message.assignment)
            elif kind == "assignments":
                for assignment in message.assignments.assignments:
                    self._start(assignment)
            elif kind == "ack":
                self._acked(message.ack.seq)
        raise RuntimeError(f"{self.node_id}: the controller closed the stream")

    def _start(self, assignment: agent_service_pb2.Assignment) -> None:
        task_id, attempt = assignment.task.name.removeprefix("tasks/"), assignment.attempt
        self.timeline.run(task_id)
        self._update(task_id, attempt, task_pb2.TASK_STATE_RUNNING)
        if self.hold > 0:
            asyncio.get_running_loop().call_later(self.hold, self._finish, task_id, attempt)
        else:
            self._finish(task_id, attempt)

    def _finish(self, task_id: str, attempt: int) -> None:
        seq = self._update(task_id, attempt, task_pb2.TASK_STATE_COMPLETED, progress=1.0, reason="completed",
                           result=task_pb2.TaskResult(exit_code=0))  # fmt: skip
        self._final[seq] = task_id

    def _update(self, task_id: str, attempt: int, state: int, **fields: object) -> int:
        self._seq += 1
        update = agent_service_pb2.TaskUpdate(seq=self._seq, task_id=task_id, attempt=attempt, state=state,
                                              time=_now(), **fields)  # type: ignore[arg-type]  # fmt: skip
        self._outgoing.put_nowait(update)
        return self._seq

    def _acked(self, seq: int) -> None:
        while self._final and next(iter(self._final)) <= seq:
            _, task_id = self._final.popitem(last=False)
            self.timeline.complete(task_id)


def _key_and_csr(node_id: str) -> tuple[bytes, bytes]:
    """A fresh P-256 key and a CSR for it (PEM), as the real agent makes them."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, node_id)])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    pkcs8 = serialization.PrivateFormat.PKCS8
    return (key.private_bytes(serialization.Encoding.PEM, pkcs8, serialization.NoEncryption()),
            csr.public_bytes(serialization.Encoding.PEM))  # fmt: skip


# The submitting client ------------------------------------------------------------


def _create_request(index: int, prefix: str = "bench") -> task_service_pb2.CreateTaskRequest:
    script = task_pb2.ScriptSpec(source="print('bench')\n", entrypoint="main.py")
    return task_service_pb2.CreateTaskRequest(
        task_id=f"{prefix}-{index:06d}", task=task_pb2.Task(display_name=f"{prefix} {index}", script=script)
    )


METADATA = (("authorization", f"Bearer {API_KEY}"),)


async def submit_mode(stub: task_service_pb2_grpc.TaskServiceStub, config: BenchConfig) -> str:
    """"batch" or "single": what --submit asks, and for auto whether the controller has BatchCreateTasks
    (an empty batch is refused as invalid by one that has it, as unimplemented by one that does not)."""
    if config.submit == "single":
        return "single"
    try:
        await stub.BatchCreateTasks(task_service_pb2.BatchCreateTasksRequest(), metadata=METADATA, timeout=30)
    except grpc.aio.AioRpcError as exc:
        if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
            if config.submit == "batch":
                raise RuntimeError("--submit batch: this controller has no BatchCreateTasks") from None
            return "single"
        if exc.code() != grpc.StatusCode.INVALID_ARGUMENT:
            raise
    return "batch"


async def submit_all(stub: task_service_pb2_grpc.TaskServiceStub, config: BenchConfig, timeline: Timeline,
                     mode: str = "single") -> None:  # fmt: skip
    """Every task: one CreateTask each (`concurrency` workers), or BatchCreateTasks calls of `batch_size`
    (`batch_concurrency` workers), the workers pulling from one counter."""
    indices = iter(range(config.tasks))

    async def one_by_one() -> None:
        for index in indices:
            request = _create_request(index)
            timeline.submitted[request.task_id] = time.perf_counter()
            await stub.CreateTask(request, metadata=METADATA, timeout=120)
            timeline.answered[request.task_id] = time.perf_counter()

    async def in_batches() -> None:
        while chunk := [_create_request(i) for _, i in zip(range(config.batch_size), indices)]:
            sent = time.perf_counter()
            for request in chunk:
                timeline.submitted[request.task_id] = sent
            await stub.BatchCreateTasks(task_service_pb2.BatchCreateTasksRequest(requests=chunk), metadata=METADATA,
                                        timeout=120)  # fmt: skip
            answered = time.perf_counter()
            for request in chunk:
                timeline.answered[request.task_id] = answered

    if mode == "batch":
        await asyncio.gather(*(in_batches() for _ in range(config.batch_concurrency)))
    else:
        await asyncio.gather(*(one_by_one() for _ in range(config.concurrency)))


async def submit_idle(stub: task_service_pb2_grpc.TaskServiceStub, config: BenchConfig, timeline: Timeline) -> None:
    """`idle` tasks one at a time, each once the previous completed and the farm had a moment's rest."""
    for index in range(config.idle):
        await asyncio.sleep(0.02)
        request = _create_request(index, "idle")
        timeline.idle_submitted[request.task_id] = time.perf_counter()
        await stub.CreateTask(request, metadata=METADATA, timeout=60)
        await asyncio.wait_for(timeline.reached("running", request.task_id).wait(), 60)
        await asyncio.wait_for(timeline.reached("completed", request.task_id).wait(), 60)


async def count_completed(stub: task_service_pb2_grpc.TaskServiceStub) -> int:
    """What the controller's store says, as a cross-check of the acks."""
    request = task_service_pb2.ListTasksRequest(page_size=1, states=[task_pb2.TASK_STATE_COMPLETED])
    response = await stub.ListTasks(request, metadata=METADATA, timeout=30)
    return response.total_size


# Results ---------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile of `values` (sorted or not)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


@dataclass(frozen=True)
class Result:
    config: BenchConfig
    command: str
    elapsed_s: float
    submit_s: float
    submit_ms: list[float]
    to_running_ms: list[float]
    stored_completed: int
    controller_cpu_s: float
    bench_cpu_s: float
    #: "batch" (BatchCreateTasks) or "single" (CreateTask).
    mode: str = "single"
    #: Submit->running of the idle measurement's tasks.
    idle_ms: list[float] = field(default_factory=list)
    #: Who ran: the tree's label and the transport.
    label: str = ""

    @classmethod
    def from_timeline(cls, config: BenchConfig, t: Timeline, stored: int, cpu: tuple[float, float],
                      mode: str = "single") -> Result:  # fmt: skip
        first_submit = min(t.submitted.values())
        return cls(
            config=config,
            command=shlex.join(["python", *sys.argv]),
            elapsed_s=max(t.completed.values()) - first_submit,
            submit_s=max(t.answered.values()) - first_submit,
            submit_ms=[(t.answered[k] - t.submitted[k]) * 1000 for k in t.answered],
            to_running_ms=[(t.running[k] - t.submitted[k]) * 1000 for k in t.submitted],
            stored_completed=stored,
            controller_cpu_s=cpu[0],
            bench_cpu_s=cpu[1],
            mode=mode,
            idle_ms=[(t.idle_running[k] - t.idle_submitted[k]) * 1000 for k in t.idle_running],
        )

    def lines(self) -> list[str]:
        c = self.config

        def spread(values: list[float]) -> str:
            marks = [f"p{p} {percentile(values, p):.1f}" for p in (50, 95, 99)]
            return f"{'  '.join(marks)}  max {max(values):.1f} ms"

        rows = [
            ("command", self.command),
            ("agents", f"{c.agents} x {c.agent_cores} cores = {c.agents * c.agent_cores} slots"),
            ("tasks", f"{c.tasks} (hold {c.hold:g} s, {self.stored_completed} completed in the store)"),
            ("throughput", f"{c.tasks / self.elapsed_s:.1f} tasks/s ({self.elapsed_s:.2f} s, first submit to last "
                           "completion)"),
            ("submit mode", f"BatchCreateTasks of {c.batch_size}, {c.batch_concurrency} in flight" if self.mode == "batch"
                            else f"CreateTask, {c.concurrency} in flight"),
            ("submit throughput", f"{c.tasks / self.submit_s:.1f} tasks/s ({self.submit_s:.2f} s for every create)"),
            ("CreateTask latency" if self.mode == "single" else "batch latency", spread(self.submit_ms)),
            ("submit->running", spread(self.to_running_ms)),
            ("CPU", f"controller {self.controller_cpu_s:.1f} s ({self.controller_cpu_s / c.tasks * 1000:.2f} ms a task), "
                    f"bench {self.bench_cpu_s:.1f} s (of {self.elapsed_s:.1f} s wall, {os.cpu_count()} cores)"),
        ]  # fmt: skip
        if self.idle_ms:
            rows.append(("idle submit->running", f"{spread(self.idle_ms)} ({len(self.idle_ms)} tasks one at a time)"))
        width = max(len(name) for name, _ in rows)
        return [f"  {name:<{width}}  {value}" for name, value in rows]


# The run ---------------------------------------------------------------------------


async def run_agents_and_tasks(config: BenchConfig, controller: ControllerProcess) -> Result:
    timeline = Timeline(expected=config.tasks)
    agents = [SimAgent(i, controller, config.agent_cores, config.hold, timeline) for i in range(config.agents)]
    agent_jobs = [asyncio.create_task(a.run(), name=a.node_id) for a in agents]
    try:
        async with controller.channel() as channel:
            stub = task_service_pb2_grpc.TaskServiceStub(channel)
            joined = asyncio.gather(*(a.welcomed.wait() for a in agents))
            await _first_of(joined, agent_jobs, timeout=60, what="every agent to be welcomed")

            mode = await submit_mode(stub, config)
            me = psutil.Process()
            cpu_before = controller.cpu_seconds(), sum(me.cpu_times()[:2])
            goal = asyncio.gather(submit_all(stub, config, timeline, mode), timeline.all_completed.wait())
            await _first_of(goal, agent_jobs, timeout=config.timeout, what="every task to complete",
                            progress=lambda: _progress(timeline))  # fmt: skip
            cpu = controller.cpu_seconds() - cpu_before[0], sum(me.cpu_times()[:2]) - cpu_before[1]
            stored = await count_completed(stub)
            if config.idle:
                await _first_of(submit_idle(stub, config, timeline), agent_jobs, timeout=config.timeout,  # type: ignore[arg-type]
                                what="the idle measurement")  # fmt: skip
        return Result.from_timeline(config, timeline, stored, cpu, mode)
    finally:
        for job in agent_jobs:
            job.cancel()
        await asyncio.gather(*agent_jobs, return_exceptions=True)


async def _first_of(
    goal: asyncio.Future[object], agent_jobs: list[asyncio.Task[None]], *, timeout: float, what: str,
    progress: Callable[[], str] | None = None,
) -> None:  # fmt: skip
    """Wait for `goal`; fail at once if an agent's stream ends first (with its error), or after `timeout`."""
    goal = asyncio.ensure_future(goal)
    finished, _ = await asyncio.wait([goal, *agent_jobs], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    if goal in finished:
        goal.result()  # raises what the goal raised
        return
    goal.cancel()
    detail = f" ({progress()})" if progress else ""
    for job in finished:
        raise RuntimeError(f"{job.get_name()} stopped while waiting for {what}{detail}") from job.exception()
    raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}{detail}")


def _progress(t: Timeline) -> str:
    return f"{len(t.answered)} submitted, {len(t.running)} running, {len(t.completed)} completed"


async def bench(config: BenchConfig) -> Result:
    data_dir = Path(tempfile.mkdtemp(prefix="aifarm-bench-dispatch-"))
    controller = ControllerProcess(data_dir, config.heartbeat_interval, config.controller_log_level,
                                   config.controller_args, tls=config.tls, repo=config.repo)  # fmt: skip
    ok = False
    try:
        controller.start()
        result = await run_agents_and_tasks(config, controller)
        ok = True
        return result
    finally:
        controller.stop()
        clean_up(controller, data_dir, ok=ok, keep=config.keep)


def clean_up(controller: ControllerProcess, data_dir: Path, *, ok: bool, keep: bool) -> None:
    """After a run: the controller's log when it failed; the data directory removed unless kept or failed."""
    if not ok:
        print(f"controller log (last lines of {controller.log_path}):\n{controller.log_tail()}", file=sys.stderr)
    if keep or not ok:
        print(f"data directory kept: {data_dir}", file=sys.stderr)
    else:
        shutil.rmtree(data_dir, ignore_errors=True)


def build_parser(description: str = __doc__.splitlines()[0]) -> argparse.ArgumentParser:
    """The flags of one dispatch measurement (bench/dispatch_under_load.py adds its own)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--agents", type=int, default=50, help="simulated agents (default 50)")
    parser.add_argument("--tasks", type=int, default=2000, help="tasks to submit (default 2000)")
    parser.add_argument("--concurrency", type=int, default=32, help="CreateTask calls in flight (default 32)")
    parser.add_argument("--agent-cores", type=int, default=4, help="CPU cores per agent; a task takes one (default 4)")
    parser.add_argument("--hold", type=float, default=0.0, help="seconds a task stays running (default 0)")
    parser.add_argument("--heartbeat-interval", type=float, default=2.0, help="controller's heartbeat interval (2)")
    parser.add_argument("--controller-log-level", default="info", choices=LEVELS,
                        help="controller --log-level (default info)")  # fmt: skip
    parser.add_argument("--timeout", type=float, default=600.0, help="give up after this many seconds (600)")
    parser.add_argument("--keep", action="store_true", help="keep the data directory and controller log")
    parser.add_argument("--controller-arg", dest="controller_args", action="append", default=[], metavar="FLAG",
                        help="a flag for `aifarm controller`, e.g. --controller-arg=--api-share=1 (repeatable)")
    parser.add_argument("--submit", choices=("auto", "batch", "single"), default="auto",
                        help="BatchCreateTasks (batch), CreateTask (single), or batch where the controller has it (auto)")
    parser.add_argument("--batch-size", type=int, default=50, help="tasks per BatchCreateTasks (default 50)")
    parser.add_argument("--batch-concurrency", type=int, default=2, help="BatchCreateTasks calls in flight (default 2)")
    return parser


def config_from(parser: argparse.ArgumentParser, ns: argparse.Namespace) -> BenchConfig:
    if min(ns.agents, ns.tasks, ns.concurrency, ns.agent_cores, ns.batch_size, ns.batch_concurrency) < 1:
        parser.error("--agents, --tasks, --concurrency, --agent-cores, --batch-size and --batch-concurrency must be"
                     " at least 1")
    # Flags a parser does not have (bench/dispatch_under_load.py has no --tls) keep their defaults.
    fields = {name: getattr(ns, name) for name in BenchConfig.__dataclass_fields__ if hasattr(ns, name)}
    return BenchConfig(**{**fields, "controller_args": tuple(fields["controller_args"])})


@dataclass(frozen=True)
class Variant:
    """One side of a comparison: a tree and a transport."""

    label: str
    repo: Path
    tls: bool


def parse_args(argv: list[str] | None = None) -> tuple[BenchConfig, list[Variant], int]:
    """The run's config, the sides to compare (one when nothing is compared) and the rounds of each."""
    parser = build_parser()
    parser.add_argument("--tls", choices=("off", "on", "both"), default="off",
                        help="TLS: off (plaintext), on (TLS and mutual TLS for the agents), or both in turn (off)")
    parser.add_argument("--tls-rounds", type=int, default=2, help="with --tls both: runs of each (default 2)")
    parser.add_argument("--repo", action="append", default=[], metavar="LABEL=PATH",
                        help="run the controller of the tree at PATH; repeat to compare trees side by side")
    parser.add_argument("--rounds", type=int, default=0, help="runs of each side (default 1; --tls-rounds with --tls both)")
    parser.add_argument("--idle", type=int, default=0, help="then submit this many tasks one at a time, idle (0)")
    ns = parser.parse_args(argv)
    if ns.tls_rounds < 1 or ns.rounds < 0 or ns.idle < 0:
        parser.error("--tls-rounds must be at least 1, --rounds and --idle not negative")
    repos = []
    for spec in ns.repo:
        label, _, path = spec.partition("=")
        if not label or not path or not (Path(path) / "cli" / "main.py").exists():
            parser.error(f"--repo {spec!r}: give LABEL=PATH, PATH a tree with cli/main.py")
        repos.append((label, Path(path).resolve()))
    transports = {"off": [False], "on": [True], "both": [False, True]}[ns.tls]
    sides = repos or [("", REPO)]
    variants = [Variant(", ".join(filter(None, (label, ("TLS" if tls else "plaintext") if len(transports) > 1 or not
                                                  repos else ""))), repo, tls)
                for label, repo in sides for tls in transports]  # fmt: skip
    rounds = ns.rounds or (ns.tls_rounds if ns.tls == "both" else 1)
    ns.tls = False
    return config_from(parser, ns), variants, rounds


def main(argv: list[str] | None = None) -> None:
    config, variants, rounds = parse_args(argv)
    if len(variants) == 1 and rounds == 1:
        v = variants[0]
        result = asyncio.run(bench(dataclasses.replace(config, tls=v.tls, repo=v.repo)))
        print(f"dispatch benchmark ({v.label})")
        print("\n".join(result.lines()))
        return
    runs: dict[str, list[Result]] = {v.label: [] for v in variants}
    for rnd in range(rounds):
        # In turn, so that noise on a shared machine hits every side alike; each round starts with another side.
        for v in variants[rnd % len(variants):] + variants[: rnd % len(variants)]:
            result = asyncio.run(bench(dataclasses.replace(config, tls=v.tls, repo=v.repo)))
            runs[v.label].append(result)
            print(f"round {rnd + 1}/{rounds}, {v.label} ({v.repo})", flush=True)
            print("\n".join(result.lines()), flush=True)
    print(comparison(runs))


def comparison(runs: dict[str, list[Result]]) -> str:
    """Medians of every side and the ratio of the last to the first."""

    def median(results: list[Result], value: Callable[[Result], float]) -> float:
        values = [v for v in map(value, results) if not math.isnan(v)]
        return statistics.median(values) if values else math.nan

    rows = [
        ("throughput (tasks/s)", lambda r: r.config.tasks / r.elapsed_s),
        ("submit throughput (tasks/s)", lambda r: r.config.tasks / r.submit_s),
        ("create call p50 (ms)", lambda r: percentile(r.submit_ms, 50)),
        ("submit->running p50 (ms)", lambda r: percentile(r.to_running_ms, 50)),
        ("submit->running p99 (ms)", lambda r: percentile(r.to_running_ms, 99)),
        ("idle submit->running p50 (ms)", lambda r: percentile(r.idle_ms, 50) if r.idle_ms else math.nan),
        ("idle submit->running p99 (ms)", lambda r: percentile(r.idle_ms, 99) if r.idle_ms else math.nan),
        ("controller CPU per task (ms)", lambda r: r.controller_cpu_s / r.config.tasks * 1000),
        ("bench CPU per task (ms)", lambda r: r.bench_cpu_s / r.config.tasks * 1000),
    ]
    labels = list(runs)
    first, last = labels[0], labels[-1]
    modes = "; ".join(f"{label}: {', '.join(sorted({r.mode for r in runs[label]}))}" for label in labels)
    width = max(12, *(len(label) for label in labels))
    lines = [f"{last} vs {first}, medians of {len(runs[first])} run(s) each (submit mode: {modes}):",
             f"  {'':<30} " + " ".join(f"{label:>{width}}" for label in labels) + f" {last + '/' + first:>{width}}"]  # fmt: skip
    for name, value in rows:
        figures = [median(runs[label], value) for label in labels]
        if all(math.isnan(f) for f in figures):
            continue
        ratio = figures[-1] / figures[0] if figures[0] else math.nan
        lines.append(f"  {name:<30} " + " ".join(f"{f:>{width}.2f}" for f in figures) + f" {ratio:>{width - 1}.2f}x")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
