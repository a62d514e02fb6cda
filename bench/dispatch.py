"""Dispatch throughput and latency of a real controller with many simulated agents.

    python bench/dispatch.py [--agents 50] [--tasks 2000] [--concurrency 32] [--agent-cores 4]
                             [--hold 0] [--heartbeat-interval 2] [--controller-log-level info]
                             [--timeout 600] [--keep] [--tls off|on|both] [--tls-rounds 2]

Starts a real controller (`python -m cli.main controller`, as `aifarm controller`) as a
subprocess on a free 127.0.0.1 port with a fresh temporary data directory (real SQLite in
WAL mode), then runs in this one asyncio process:

* `--agents` simulated agents, each a real client of `AgentService.Connect` with its own
  channel: a hello with capabilities (`--agent-cores` CPU cores, RAM, no GPUs), heartbeats
  at the interval the welcome sets, and for every assignment a RUNNING update at once and
  a COMPLETED update `--hold` seconds later, sequenced and acknowledged as the real agent's
  outbox does (agent/outbox.py, agent/reporter.py). Nothing is executed for a task.
* a client that submits `--tasks` script tasks through `TaskService.CreateTask`, with at
  most `--concurrency` calls in flight.

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


@dataclass
class Timeline:
    """When each task reached each stage, on this process's perf_counter clock."""

    expected: int
    submitted: dict[str, float] = field(default_factory=dict)
    answered: dict[str, float] = field(default_factory=dict)
    running: dict[str, float] = field(default_factory=dict)
    completed: dict[str, float] = field(default_factory=dict)
    all_completed: asyncio.Event = field(default_factory=asyncio.Event)

    def complete(self, task_id: str) -> None:
        if task_id not in self.submitted:
            return  # not one of ours (bench/dispatch_under_load.py's REST clients create tasks too)
        self.completed.setdefault(task_id, time.perf_counter())
        if len(self.completed) >= self.expected:
            self.all_completed.set()


# The controller ---------------------------------------------------------------


@dataclass
class ControllerProcess:
    """`aifarm controller` in a subprocess, on a port it picks itself (written to endpoints.json)."""

    data_dir: Path
    heartbeat_interval: float
    log_level: str
    extra_args: tuple[str, ...] = ()
    tls: bool = False
    proc: subprocess.Popen[bytes] | None = None
    address: str = ""
    #: With TLS: the farm CA's certificate and the agents' mutual-TLS address (from endpoints.json).
    ca_pem: bytes | None = None
    agent_address: str = ""

    @property
    def log_path(self) -> Path:
        return self.data_dir / "controller.log"

    def start(self, timeout: float = 30.0) -> str:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("API_KEYS", None)
        args = [
            sys.executable, "-m", "cli.main", "controller", "--data-dir", str(self.data_dir), "--grpc-port", "0",
            "--api-keys", API_KEY, "--agent-token", AGENT_TOKEN,
            "--heartbeat-interval", str(self.heartbeat_interval), "--log-level", self.log_level, *self.extra_args,
            *(["--tls", "--agent-port", "0"] if self.tls else []),
        ]  # fmt: skip
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=REPO, env=env)
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
        self._outgoing: asyncio.Queue[agent_service_pb2.ConnectRequest] = asyncio.Queue()
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
            )
        )

    async def _write(self, call: grpc.aio.StreamStreamCall, interval: float) -> None:
        """The one writer of the stream: queued updates as they come, a heartbeat every `interval`."""
        next_beat = 0.0
        while True:
            now = time.monotonic()
            if now >= next_beat:
                usage = node_pb2.NodeUsage(cpu_percent=1.0, memory_percent=1.0, memory_used_mb=128)
                await call.write(agent_service_pb2.ConnectRequest(heartbeat=agent_service_pb2.Heartbeat(usage=usage)))
                next_beat = now + interval
            try:
                message = await asyncio.wait_for(self._outgoing.get(), max(0.0, next_beat - time.monotonic()))
            except asyncio.TimeoutError:
                continue
            await call.write(message)
            while not self._outgoing.empty():
                await call.write(self._outgoing.get_nowait())

    async def _read(self, call: grpc.aio.StreamStreamCall) -> None:
        while (message := await call.read()) is not grpc.aio.EOF:
            kind = message.WhichOneof("message")
            if kind == "assignment":
                self._start(message.assignment)
            elif kind == "ack":
                self._acked(message.ack.seq)
        raise RuntimeError(f"{self.node_id}: the controller closed the stream")

    def _start(self, assignment: agent_service_pb2.Assignment) -> None:
        task_id, attempt = assignment.task.name.removeprefix("tasks/"), assignment.attempt
        self.timeline.running.setdefault(task_id, time.perf_counter())
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
        self._outgoing.put_nowait(agent_service_pb2.ConnectRequest(task_update=update))
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


def _create_request(index: int) -> task_service_pb2.CreateTaskRequest:
    script = task_pb2.ScriptSpec(source="print('bench')\n", entrypoint="main.py")
    return task_service_pb2.CreateTaskRequest(
        task_id=f"bench-{index:06d}", task=task_pb2.Task(display_name=f"bench {index}", script=script)
    )


async def submit_all(stub: task_service_pb2_grpc.TaskServiceStub, config: BenchConfig, timeline: Timeline) -> None:
    """CreateTask for every task, `concurrency` workers pulling from one counter."""
    metadata = (("authorization", f"Bearer {API_KEY}"),)
    indices = iter(range(config.tasks))

    async def worker() -> None:
        for index in indices:
            request = _create_request(index)
            timeline.submitted[request.task_id] = time.perf_counter()
            await stub.CreateTask(request, metadata=metadata, timeout=120)
            timeline.answered[request.task_id] = time.perf_counter()

    await asyncio.gather(*(worker() for _ in range(config.concurrency)))


async def count_completed(stub: task_service_pb2_grpc.TaskServiceStub) -> int:
    """What the controller's store says, as a cross-check of the acks."""
    request = task_service_pb2.ListTasksRequest(page_size=1, states=[task_pb2.TASK_STATE_COMPLETED])
    response = await stub.ListTasks(request, metadata=(("authorization", f"Bearer {API_KEY}"),), timeout=30)
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

    @classmethod
    def from_timeline(cls, config: BenchConfig, t: Timeline, stored: int, cpu: tuple[float, float]) -> Result:
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
        )

    def lines(self) -> list[str]:
        c = self.config

        def spread(values: list[float]) -> str:
            marks = [f"p{p} {percentile(values, p):.1f}" for p in (50, 95, 99)]
            return f"{'  '.join(marks)}  max {max(values):.1f} ms"

        rows = [
            ("command", self.command),
            ("agents", f"{c.agents} x {c.agent_cores} cores = {c.agents * c.agent_cores} slots"),
            ("tasks", f"{c.tasks} (hold {c.hold:g} s, submit concurrency {c.concurrency}, "
                      f"{self.stored_completed} completed in the store)"),
            ("throughput", f"{c.tasks / self.elapsed_s:.1f} tasks/s ({self.elapsed_s:.2f} s, first submit to last "
                           "completion)"),
            ("submit throughput", f"{c.tasks / self.submit_s:.1f} tasks/s ({self.submit_s:.2f} s for every CreateTask)"),
            ("CreateTask latency", spread(self.submit_ms)),
            ("submit->running", spread(self.to_running_ms)),
            ("CPU", f"controller {self.controller_cpu_s:.1f} s, bench {self.bench_cpu_s:.1f} s "
                    f"(of {self.elapsed_s:.1f} s wall, {os.cpu_count()} cores)"),
        ]  # fmt: skip
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

            me = psutil.Process()
            cpu_before = controller.cpu_seconds(), sum(me.cpu_times()[:2])
            goal = asyncio.gather(submit_all(stub, config, timeline), timeline.all_completed.wait())
            await _first_of(goal, agent_jobs, timeout=config.timeout, what="every task to complete",
                            progress=lambda: _progress(timeline))  # fmt: skip
            cpu = controller.cpu_seconds() - cpu_before[0], sum(me.cpu_times()[:2]) - cpu_before[1]
            stored = await count_completed(stub)
        return Result.from_timeline(config, timeline, stored, cpu)
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
                                   config.controller_args, tls=config.tls)  # fmt: skip
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
    return parser


def config_from(parser: argparse.ArgumentParser, ns: argparse.Namespace) -> BenchConfig:
    if min(ns.agents, ns.tasks, ns.concurrency, ns.agent_cores) < 1:
        parser.error("--agents, --tasks, --concurrency and --agent-cores must be at least 1")
    # Flags a parser does not have (bench/dispatch_under_load.py has no --tls) keep their defaults.
    fields = {name: getattr(ns, name) for name in BenchConfig.__dataclass_fields__ if hasattr(ns, name)}
    return BenchConfig(**{**fields, "controller_args": tuple(fields["controller_args"])})


def parse_args(argv: list[str] | None = None) -> tuple[BenchConfig, str, int]:
    """The run's config, the --tls mode (off, on, both) and --tls-rounds."""
    parser = build_parser()
    parser.add_argument("--tls", choices=("off", "on", "both"), default="off",
                        help="TLS: off (plaintext), on (TLS and mutual TLS for the agents), or both in turn (off)")
    parser.add_argument("--tls-rounds", type=int, default=2, help="with --tls both: runs of each (default 2)")
    ns = parser.parse_args(argv)
    if ns.tls_rounds < 1:
        parser.error("--tls-rounds must be at least 1")
    mode, ns.tls = ns.tls, ns.tls == "on"
    return config_from(parser, ns), mode, ns.tls_rounds


def main(argv: list[str] | None = None) -> None:
    config, mode, rounds = parse_args(argv)
    if mode != "both":
        result = asyncio.run(bench(config))
        print(f"dispatch benchmark ({'TLS' if config.tls else 'plaintext'})")
        print("\n".join(result.lines()))
        return
    runs: dict[bool, list[Result]] = {False: [], True: []}
    for rnd in range(rounds):
        for tls in (False, True):  # in turn, so that noise on a shared machine hits both alike
            result = asyncio.run(bench(dataclasses.replace(config, tls=tls)))
            runs[tls].append(result)
            print(f"round {rnd + 1}/{rounds}, {'TLS' if tls else 'plaintext'}")
            print("\n".join(result.lines()))
    print(tls_comparison(runs[False], runs[True]))


def tls_comparison(plain: list[Result], tls: list[Result]) -> str:
    """Medians of both sides and their ratio (TLS / plaintext)."""

    def median(results: list[Result], value: Callable[[Result], float]) -> float:
        return statistics.median(value(r) for r in results)

    rows = [
        ("throughput (tasks/s)", lambda r: r.config.tasks / r.elapsed_s),
        ("submit throughput (tasks/s)", lambda r: r.config.tasks / r.submit_s),
        ("CreateTask p50 (ms)", lambda r: percentile(r.submit_ms, 50)),
        ("submit->running p50 (ms)", lambda r: percentile(r.to_running_ms, 50)),
        ("submit->running p99 (ms)", lambda r: percentile(r.to_running_ms, 99)),
        ("controller CPU per task (ms)", lambda r: r.controller_cpu_s / r.config.tasks * 1000),
    ]
    lines = [f"TLS vs plaintext, medians of {len(plain)} runs each:",
             f"  {'':<30} {'plaintext':>10} {'TLS':>10} {'TLS/plain':>10}"]  # fmt: skip
    for name, value in rows:
        a, b = median(plain, value), median(tls, value)
        lines.append(f"  {name:<30} {a:>10.1f} {b:>10.1f} {b / a:>9.2f}x")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
