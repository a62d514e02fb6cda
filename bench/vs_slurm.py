"""Trivial work through aifarm's real agent beside a local Slurm cluster, measured in one run.

    flock /tmp/bench.lock python bench/vs_slurm.py [--tasks 500] [--rounds 2] [--slots 32]
        [--repo before=/tmp/before --repo after=.] [--kind auto|script] [--no-slurm]
        [--slurm-scheduler-parameters PARAMS] [--profile-agent DIR] [--keep]

Starts, in fresh temporary directories:

* a local Slurm cluster (Debian's slurm-wlm, as DESIGN's Toolchain section says;
  cli/slurm_cluster.py's LocalSlurmCluster with one node): its own
  munged on its own socket, `slurmctld -D` and one `slurmd -D` with `CPUs=--slots`
  (oversubscribed: `SlurmdParameters=config_overrides`), cons_tres with CR_CPU, no accounting,
  `SchedulerParameters=batch_sched_delay=0` (`--slurm-scheduler-parameters`: with Slurm's
  default of 3 s it starts a wave of jobs every 3 s, less than half as fast); otherwise Slurm's
  defaults. Needs root.
* per `--repo NAME=PATH` (default: this tree as "after"), an aifarm farm of that tree: its real
  controller (`aifarm controller`, SQLite in WAL mode) and its real agent (`aifarm agent`) as
  processes on 127.0.0.1, the agent advertising `--slots` CPU cores (`--cpu-slots`; a tree without
  that option advertises the machine's cores).

Each round puts the same `--tasks` trivial jobs on every system, in an order that rotates from
round to round: on Slurm `sbatch --wrap true` (four submitters in parallel); on aifarm a
`command` task running `true` (a tree without the command kind: a script task `pass`), all
created by `BatchCreateTasks` calls of 100 where the tree has it, else by CreateTask calls, 32
in flight. Each job asks for one CPU, so both run `--slots` at once. A round's time runs from
its first submit until the system says every job ended: Slurm's `squeue -t all` and aifarm's
ListTasks total of ended tasks are polled every 100 ms; for aifarm the round ends at the last
end_time its controller recorded (Slurm keeps EndTime to the second only, so its figure carries up
to 100 ms of polling, under 1 % of its rounds). A job that did not complete is reported. Printed per round and system: jobs/s, seconds, and submit->running p50/p99
(aifarm: from the create call to the task's start_time; Slurm: SubmitTime to StartTime, which
Slurm keeps to the second) and the CPU time of each system's processes a job (with the
children they reaped: the agent's tasks, slurmd's job steps; not the submitting clients); then
the medians, their ratios to Slurm, and the idle RSS of slurmctld, slurmd and every farm's
controller and agent, before the first round and after the last. After the rounds, `--idle`
jobs (20) go one at a time to each idle system, each printing the time it starts (`date
+%s.%N`; a script prints time.time()): submit to that instant, p50/p99, to the microsecond on
both. `--kind script` runs script
`pass` on every farm, to compare trees on scripts.

`--profile-agent DIR` first runs one more round per farm, not counted, with py-spy recording its
agent (`DIR/<name>-agent.raw`; summarise with `python /tmp/tools/prof.py FILE '' 60`).
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dispatch import AGENT_TOKEN, API_KEY, ControllerProcess  # noqa: E402

from cli.slurm_cluster import LocalSlurmCluster, available  # noqa: E402

from aifarm.v1 import task_pb2, task_service_pb2, task_service_pb2_grpc  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
ENDED = (task_pb2.TASK_STATE_COMPLETED, task_pb2.TASK_STATE_FAILED, task_pb2.TASK_STATE_CANCELLED)
METADATA = (("authorization", f"Bearer {API_KEY}"),)
BATCH = 100
IN_FLIGHT = 32
SBATCH_SUBMITTERS = 4
#: Seconds between the looks at whether a round has ended (on both systems).
POLL_SECONDS = 0.1
#: A round that has not ended after this many seconds ends the run.
ROUND_TIMEOUT = 180.0
#: Slurm's job states before a job has ended.
UNFINISHED = frozenset({"PENDING", "CONFIGURING", "RUNNING", "COMPLETING"})
#: Slurm at its best on short jobs: batch jobs are scheduled when submitted and when slots free,
#: not up to `batch_sched_delay` (3 s by default) later.
SLURM_SCHEDULER_PARAMETERS = "batch_sched_delay=0"


@dataclass
class RoundResult:
    system: str
    round: int
    jobs: int
    seconds: float
    completed: int
    #: Seconds from submit to running, one per job (where the system says).
    to_running: list[float] = field(default_factory=list)
    #: What the figures mean, when it needs saying.
    note: str = ""
    #: CPU seconds each of the system's processes spent on the round (their reaped children included).
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def jobs_per_s(self) -> float:
        return self.jobs / self.seconds if self.seconds else 0.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen | None, timeout: float = 15.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _cpu_seconds(pid: int) -> float:
    """CPU time of the process and of its children it has waited for."""
    t = psutil.Process(pid).cpu_times()
    return t.user + t.system + t.children_user + t.children_system


def _cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {name: after[name] - before[name] for name in before}


def _rss_mib(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / (1 << 20)


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


# Slurm --------------------------------------------------------------------------


class SlurmCluster(LocalSlurmCluster):
    """cli.slurm_cluster's cluster with one node of `slots` CPUs, and the bench's rounds on it."""

    def __init__(self, root: Path, slots: int, scheduler_parameters: str = "") -> None:
        super().__init__(root, nodes=1, cpus_per_node=slots, scheduler_parameters=scheduler_parameters)

    def start(self, timeout: float = 30.0) -> SlurmCluster:
        missing = available()
        if missing:
            raise SystemExit(f"{missing}, or pass --no-slurm")
        if os.geteuid() != 0:
            raise SystemExit("the local Slurm cluster runs its daemons as root: run as root, or pass --no-slurm")
        super().start(timeout)
        return self

    def _daemons(self) -> dict[str, int]:
        """slurmctld's and the one slurmd's pids, under the names the figures print."""
        return {"slurmctld": self.procs["slurmctld"].pid, "slurmd": self.procs[self.node_names[0]].pid}

    def run_round(self, number: int, jobs: int) -> RoundResult:
        name = f"r{number}"
        argv = ["sbatch", "-Q", f"--job-name={name}", "--output=/dev/null", "--wrap", "true"]
        cpu = self.cpu()
        start = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(SBATCH_SUBMITTERS) as pool:
            answers = list(pool.map(lambda _: subprocess.run(argv, capture_output=True, env=self.env), range(jobs)))
        refused = [a for a in answers if a.returncode != 0]
        if refused:
            raise RuntimeError(f"sbatch refused {len(refused)} jobs: {refused[0].stderr.decode(errors='replace')}")
        while True:
            states = self._states(name)
            if len(states) >= jobs and not any(s in UNFINISHED for s in states):
                break
            if time.perf_counter() - start > ROUND_TIMEOUT:
                raise RuntimeError(f"Slurm did not end round {number} in {ROUND_TIMEOUT:g} s: {states.count('COMPLETED')}"
                                   f" of {jobs} completed")  # fmt: skip
            time.sleep(POLL_SECONDS)
        seconds = time.perf_counter() - start
        cpu = _cpu_delta(cpu, self.cpu())
        times = subprocess.run(["squeue", "-h", "-t", "all", "-n", name, "-o", "%V|%S"], capture_output=True, text=True,
                               env=self.env).stdout.split()  # fmt: skip
        to_running = []
        for line in times:
            submitted, _, started = line.partition("|")
            if started not in ("N/A", ""):
                to_running.append(_slurm_time(started) - _slurm_time(submitted))
        return RoundResult("slurm", number, jobs, seconds, states.count("COMPLETED"), to_running,
                           note="Slurm keeps submit and start times to the second", cpu=cpu)  # fmt: skip

    def idle_latencies(self, jobs: int) -> list[float]:
        """Seconds from sbatch to the job's own first instant (it prints the time), one job at a time."""
        out = self.root / "idle.out"
        found = []
        for i in range(jobs):
            name = f"idle{i}"
            submitted = time.time()
            subprocess.run(["sbatch", "-Q", f"--job-name={name}", f"--output={out}", "--wrap", "date +%s.%N"],
                           check=True, capture_output=True, env=self.env)  # fmt: skip
            deadline = time.monotonic() + ROUND_TIMEOUT
            while any(s in UNFINISHED for s in self._states(name)) or not self._states(name):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"Slurm's idle job {name} did not end")
                time.sleep(0.02)
            found.append(float(out.read_text().split()[0]) - submitted)
        return found

    def _states(self, name: str) -> list[str]:
        out = subprocess.run(["squeue", "-h", "-t", "all", "-n", name, "-o", "%T"], capture_output=True, text=True,
                             env=self.env)  # fmt: skip
        return out.stdout.split()

    def rss(self) -> dict[str, float]:
        return {name: _rss_mib(pid) for name, pid in self._daemons().items()}

    def cpu(self) -> dict[str, float]:
        """slurmd's includes the job steps it reaped (slurmstepd and the jobs); sbatch's are not counted."""
        return {name: _cpu_seconds(pid) for name, pid in self._daemons().items()}


def _slurm_time(text: str) -> float:
    return time.mktime(time.strptime(text, "%Y-%m-%dT%H:%M:%S"))


# aifarm -------------------------------------------------------------------------


@dataclass
class Farm:
    """One tree's controller and agent."""

    name: str
    repo: Path
    root: Path
    slots: int
    controller: ControllerProcess | None = None
    agent: subprocess.Popen | None = None
    channel: grpc.aio.Channel | None = None
    has_command: bool = False
    has_slots: bool = False
    has_batch: bool = True
    ended_before: int = 0

    def start(self, kind: str = "auto") -> None:
        has = "CommandSpec" in (self.repo / "gen/python/aifarm/v1/task_pb2.py").read_text()
        self.has_command = has and kind != "script"
        self.has_slots = "--cpu-slots" in (self.repo / "cli/run_commands.py").read_text()
        self.root.mkdir(parents=True)
        self.controller = ControllerProcess(self.root / "controller", heartbeat_interval=2.0, log_level="warning",
                                            repo=self.repo)  # fmt: skip
        self.controller.data_dir.mkdir()
        address = self.controller.start()
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "AIFARM_AGENT_TOKEN": AGENT_TOKEN,
               "PYTHONPATH": f"{self.repo}{os.pathsep}{self.repo / 'gen' / 'python'}"}  # fmt: skip
        slots = ["--cpu-slots", str(self.slots)] if self.has_slots else []
        if "--gswarm-client-port" in (self.repo / "cli/run_commands.py").read_text():
            slots += ["--gswarm-client-port", "0", "--listen-host", "127.0.0.1"]  # free ports, as the rest
        with (self.root / "agent.log").open("ab") as log:
            self.agent = subprocess.Popen(
                [sys.executable, "-m", "cli.main", "agent", "--controller", address, "--data-dir",
                 str(self.root / "agent"), "--log-level", "warning", *slots],
                stdout=log, stderr=subprocess.STDOUT, cwd=self.repo, env=env,
            )  # fmt: skip
        self.channel = grpc.aio.insecure_channel(address)

    async def wait_online(self, timeout: float = 60.0) -> int:
        """The CPU cores the agent advertises, once it is online."""
        from aifarm.v1 import node_service_pb2, node_service_pb2_grpc

        stub = node_service_pb2_grpc.NodeServiceStub(self.channel)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            nodes = (await stub.ListNodes(node_service_pb2.ListNodesRequest(state=1), metadata=METADATA)).nodes
            if nodes:
                return nodes[0].capabilities.cpu_cores
            if self.agent is not None and self.agent.poll() is not None:
                break
            await asyncio.sleep(0.1)
        log = (self.root / "agent.log").read_text(errors="replace")[-3000:]
        raise RuntimeError(f"the {self.name} agent did not come online:\n{log}")

    def task(self) -> task_pb2.Task:
        if self.has_command:
            return task_pb2.Task(command=task_pb2.CommandSpec(argv=["true"]))
        return task_pb2.Task(script=task_pb2.ScriptSpec(source="pass\n", entrypoint="main.py"))

    @property
    def kind(self) -> str:
        return "command `true`" if self.has_command else "script `pass`"

    async def run_round(self, number: int, jobs: int) -> RoundResult:
        stub = task_service_pb2_grpc.TaskServiceStub(self.channel)
        requests = [task_service_pb2.CreateTaskRequest(task=self.task(), task_id=f"r{number}-{i}") for i in range(jobs)]
        sent: dict[str, float] = {}
        cpu = self.cpu()
        start, start_wall = time.perf_counter(), time.time()
        await self._submit(stub, requests, sent)
        while (ended := await self._ended(stub)) < self.ended_before + jobs:
            if time.perf_counter() - start > ROUND_TIMEOUT:
                raise RuntimeError(f"{self.name} did not end round {number} in {ROUND_TIMEOUT:g} s:"
                                   f" {ended - self.ended_before} of {jobs} ended")  # fmt: skip
            await asyncio.sleep(POLL_SECONDS)
        cpu = _cpu_delta(cpu, self.cpu())
        self.ended_before = ended
        tasks = await self._round_tasks(stub, f"r{number}-")
        # The round ends when the controller recorded the last end (its end_time, this machine's clock),
        # not at the poll that saw it.
        seconds = max(t.end_time.ToNanoseconds() / 1e9 for t in tasks) - start_wall
        completed = [t for t in tasks if t.state == task_pb2.TASK_STATE_COMPLETED]
        failed = [t for t in tasks if t.state != task_pb2.TASK_STATE_COMPLETED]
        to_running = [t.start_time.ToNanoseconds() / 1e9 - sent[t.name.removeprefix("tasks/")] for t in completed
                      if t.start_time.seconds]  # fmt: skip
        note = f"{len(failed)} not completed, e.g. {failed[0].result.error or failed[0].state_reason}" if failed else ""
        return RoundResult(self.name, number, jobs, seconds, len(completed), to_running, note, cpu)

    async def _submit(self, stub, requests: list[task_service_pb2.CreateTaskRequest], sent: dict[str, float]) -> None:
        if self.has_batch:
            try:
                batches = [requests[i : i + BATCH] for i in range(0, len(requests), BATCH)]
                for batch in batches:
                    now = time.time()
                    sent.update((r.task_id, now) for r in batch)
                    await stub.BatchCreateTasks(task_service_pb2.BatchCreateTasksRequest(requests=batch),
                                                metadata=METADATA, timeout=60)  # fmt: skip
                return
            except grpc.aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.UNIMPLEMENTED or sent.keys() - {r.task_id for r in requests[:BATCH]}:
                    raise
                self.has_batch = False  # an older controller: one call a task
        limit = asyncio.Semaphore(IN_FLIGHT)

        async def create(request: task_service_pb2.CreateTaskRequest) -> None:
            async with limit:
                sent[request.task_id] = time.time()
                await stub.CreateTask(request, metadata=METADATA, timeout=60)

        await asyncio.gather(*(create(r) for r in requests))

    async def idle_latencies(self, jobs: int) -> list[float]:
        """Seconds from CreateTask to the job's own first instant (it prints the time), one job at a time."""
        stub = task_service_pb2_grpc.TaskServiceStub(self.channel)
        found = []
        for i in range(jobs):
            if self.has_command:
                task = task_pb2.Task(command=task_pb2.CommandSpec(argv=["date", "+%s.%N"]))
            else:
                task = task_pb2.Task(script=task_pb2.ScriptSpec(source="import time\nprint(f'{time.time():.6f}')\n",
                                                                entrypoint="main.py"))  # fmt: skip
            submitted = time.time()
            created = await stub.CreateTask(task_service_pb2.CreateTaskRequest(task=task, task_id=f"idle-{i}"),
                                            metadata=METADATA, timeout=60)  # fmt: skip
            deadline = time.monotonic() + ROUND_TIMEOUT
            while (await stub.GetTask(task_service_pb2.GetTaskRequest(name=created.name), metadata=METADATA)).state \
                    not in ENDED:  # fmt: skip
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.name}'s idle job {created.name} did not end")
                await asyncio.sleep(0.01)
            logs = await stub.ListTaskLogs(task_service_pb2.ListTaskLogsRequest(parent=created.name), metadata=METADATA)
            printed = [line.text for line in logs.lines if line.stream == task_pb2.LOG_STREAM_STDOUT]
            found.append(float(printed[0]) - submitted)
        self.ended_before += jobs
        return found

    async def _ended(self, stub) -> int:
        answer = await stub.ListTasks(task_service_pb2.ListTasksRequest(page_size=1, states=ENDED), metadata=METADATA)
        return answer.total_size

    async def _round_tasks(self, stub, prefix: str) -> list[task_pb2.Task]:
        tasks, token = [], ""
        while True:
            page = await stub.ListTasks(task_service_pb2.ListTasksRequest(page_size=1000, page_token=token),
                                        metadata=METADATA)  # fmt: skip
            tasks += [t for t in page.tasks if t.name.startswith(f"tasks/{prefix}")]
            token = page.next_page_token
            if not token:
                return tasks

    def rss(self) -> dict[str, float]:
        assert self.controller is not None and self.controller.proc is not None and self.agent is not None
        return {"controller": _rss_mib(self.controller.proc.pid), "agent": _rss_mib(self.agent.pid)}

    def cpu(self) -> dict[str, float]:
        """The agent's includes its tasks' processes (it waits for them) and its keeper's none."""
        assert self.controller is not None and self.controller.proc is not None and self.agent is not None
        return {"controller": _cpu_seconds(self.controller.proc.pid), "agent": _cpu_seconds(self.agent.pid)}

    async def stop(self) -> None:
        if self.channel is not None:
            await self.channel.close()
        _stop(self.agent)
        if self.controller is not None:
            self.controller.stop()


# The run ------------------------------------------------------------------------


def _profile(pid: int, path: Path) -> subprocess.Popen:
    return subprocess.Popen(["py-spy", "record", "-p", str(pid), "--format", "raw", "-r", "250", "-o", str(path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip


def _end_profile(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


async def run(args: argparse.Namespace) -> list[RoundResult]:
    root = Path(tempfile.mkdtemp(prefix="vs_slurm-"))
    slurm = None if args.no_slurm else SlurmCluster(root / "slurm", args.slots, args.slurm_scheduler_parameters)
    farms = [Farm(name, path.resolve(), root / name, args.slots) for name, path in args.repos]
    results: list[RoundResult] = []
    try:
        if slurm is not None:
            (root / "slurm").mkdir()
            slurm.start()
        for farm in farms:
            farm.start(args.kind)
        for farm in farms:
            cores = await farm.wait_online()
            print(f"{farm.name}: {farm.repo}, {farm.kind}, the agent advertises {cores} CPU cores"
                  + ("" if farm.has_slots else " (this tree has no --cpu-slots)"), flush=True)  # fmt: skip
        await asyncio.sleep(1.0)  # idle, for the RSS figures
        rss = {**(slurm.rss() if slurm else {}), **{f"{f.name} {k}": v for f in farms for k, v in f.rss().items()}}
        if args.profile_agent:
            args.profile_agent.mkdir(parents=True, exist_ok=True)
            for farm in farms:  # a round of its own: py-spy slows what it samples
                assert farm.agent is not None
                profiler = _profile(farm.agent.pid, args.profile_agent / f"{farm.name}-agent.raw")
                await asyncio.sleep(0.5)
                result = await farm.run_round(0, args.tasks)
                _end_profile(profiler)
                print(f"{_row(result)} (profiled, not counted)", flush=True)
        systems: list[object] = ([slurm] if slurm else []) + farms
        for number in range(1, args.rounds + 1):
            shift = (number - 1) % len(systems)
            for system in systems[shift:] + systems[:shift]:
                if isinstance(system, SlurmCluster):
                    result = await asyncio.to_thread(system.run_round, number, args.tasks)
                else:
                    result = await system.run_round(number, args.tasks)
                results.append(result)
                print(_row(result), flush=True)
        idle: dict[str, list[float]] = {}
        for system in systems if args.idle else ():
            if isinstance(system, SlurmCluster):
                seen = await asyncio.to_thread(system.idle_latencies, args.idle)
            else:
                seen = await system.idle_latencies(args.idle)  # type: ignore[attr-defined]
            idle[_name(system)] = seen
            print(f"idle {_name(system):>8}: submit->the job's first instant p50 {_percentile(seen, 0.5) * 1000:.0f} ms,"
                  f" p99 {_percentile(seen, 0.99) * 1000:.0f} ms ({args.idle} jobs one at a time)", flush=True)
        await asyncio.sleep(1.0)
        after = {**(slurm.rss() if slurm else {}), **{f"{f.name} {k}": v for f in farms for k, v in f.rss().items()}}
        _summary(results, rss, after, idle)
    finally:
        for farm in farms:
            await farm.stop()
        if slurm is not None:
            slurm.stop()
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return results


def _name(system: object) -> str:
    return "slurm" if isinstance(system, SlurmCluster) else system.name  # type: ignore[attr-defined]


def _row(r: RoundResult) -> str:
    p50, p99 = _percentile(r.to_running, 0.5), _percentile(r.to_running, 0.99)
    latency = f"submit->running p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms" if r.to_running else "-"
    done = "" if r.completed == r.jobs else f", only {r.completed} of {r.jobs} completed"
    cpu = ", ".join(f"{name} {seconds * 1000 / r.jobs:.1f}" for name, seconds in r.cpu.items())
    return (f"round {r.round} {r.system:>8}: {r.jobs_per_s:7.1f} jobs/s ({r.jobs} in {r.seconds:.2f} s{done}),"
            f" {latency}; CPU ms a job: {cpu}" + (f" [{r.note}]" if r.note else ""))  # fmt: skip


def _summary(results: list[RoundResult], rss: dict[str, float], rss_after: dict[str, float],
             idle: dict[str, list[float]]) -> None:  # fmt: skip
    names = list(dict.fromkeys(r.system for r in results))
    medians = {n: statistics.median(r.jobs_per_s for r in results if r.system == n) for n in names}
    print("\nmedian jobs/s: " + ", ".join(f"{n} {m:.1f}" for n, m in medians.items()))
    base = medians.get("slurm")
    for n in names:
        if n != "slurm" and base:
            print(f"  {n} / slurm: {medians[n] / base:.1f}x")
    if "before" in medians and "after" in medians:
        print(f"  after / before: {medians['after'] / medians['before']:.1f}x")
    print("idle RSS before the rounds: " + ", ".join(f"{k} {v:.0f} MiB" for k, v in rss.items()))
    print("idle RSS after the rounds:  " + ", ".join(f"{k} {v:.0f} MiB" for k, v in rss_after.items()))
    print("json: " + json.dumps({"medians": medians, "rss_mib": rss, "rss_mib_after": rss_after,
                                 "idle_ms": {n: [round(_percentile(v, q) * 1000, 1) for q in (0.5, 0.99)]
                                             for n, v in idle.items()},
                                 "rounds": [{"system": r.system, "round": r.round, "jobs_per_s": round(r.jobs_per_s, 1),
                                             "completed": r.completed} for r in results]}))  # fmt: skip


def _repo(text: str) -> tuple[str, Path]:
    name, sep, path = text.partition("=")
    if not sep or not name or not Path(path).is_dir():
        raise argparse.ArgumentTypeError(f"--repo takes NAME=PATH to a tree, got {text!r}")
    return name, Path(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=500, help="Jobs per round and system.")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--slots", type=int, default=32,
                        help="CPUs of the Slurm node and CPU slots of each agent (jobs run at once).")
    parser.add_argument("--repo", dest="repos", action="append", type=_repo, metavar="NAME=PATH",
                        help="A tree to run a farm of (repeatable); default after=this tree.")
    parser.add_argument("--slurm-scheduler-parameters", default=SLURM_SCHEDULER_PARAMETERS, metavar="PARAMS",
                        help="slurm.conf's SchedulerParameters ('' for Slurm's defaults, which start the next"
                             " jobs up to 3 s after a slot frees: about 12 jobs/s here, against 28 with the default).")
    parser.add_argument("--idle", type=int, default=20, metavar="N",
                        help="Then N jobs one at a time on each system: submit to the job's first instant (0: none).")
    parser.add_argument("--kind", choices=("auto", "script"), default="auto",
                        help="aifarm's job: auto (command `true` where the tree has the kind, else script `pass`)"
                             " or script (script `pass` everywhere, to compare trees on scripts).")
    parser.add_argument("--no-slurm", action="store_true", help="Only the farms.")
    parser.add_argument("--profile-agent", type=Path, metavar="DIR", help="py-spy each agent during its first round.")
    parser.add_argument("--keep", action="store_true", help="Keep the temporary directory (logs, databases).")
    args = parser.parse_args()
    args.repos = args.repos or [("after", REPO)]
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
