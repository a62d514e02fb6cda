"""Idle memory of a farm's processes, and REST throughput of one gateway worker against N, side by side.

    flock /tmp/bench.lock python bench/memory.py [--repo after=. --repo before=/tmp/before]
        [--workers 1,N] [--idle 5] [--duration 8] [--connections 32] [--threads 2] [--tasks 20] [--no-slurm]

For each repository (``--repo LABEL=PATH``; the first is the tree under test) and each worker
count (``--workers``; a tree whose `aifarm up` has no ``--gateway-workers`` runs once, as it
is), a real `aifarm up` on 127.0.0.1 with free ports and a fresh data directory. After
``--idle`` seconds: RSS and USS (psutil; USS is what the process alone holds) of every process
of the farm, named by what it runs. Then ``--tasks`` scripts are run to completion (so that the
list read has rows) and wrk loads ``GET /health`` (no database) and ``GET /v1/tasks`` (a page
read from SQLite) for ``--duration`` seconds each: req/s, p50 and p99, and the answers that were
not 2xx. Slurm's slurmctld and slurmd (bench/vs_slurm.py's local cluster) are measured idle
too, for comparison, unless ``--no-slurm`` or they are not installed.

The farm's first start makes its built-in dataset (numpy, in the controller), so the controller
is measured again after a restart on the same data directory: what a farm that has run holds.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
API_KEY = "bench-key"


@dataclass(frozen=True)
class Memory:
    what: str
    rss_mb: float
    uss_mb: float


@dataclass(frozen=True)
class Load:
    duration: int
    connections: int
    threads: int


@dataclass
class Run:
    label: str
    workers: int | None
    memory: list[Memory] = field(default_factory=list)
    restarted: list[Memory] = field(default_factory=list)
    rest: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.label if self.workers is None else f"{self.label}, {self.workers} worker{'s' * (self.workers > 1)}"


def _role(proc: psutil.Process, up_pid: int) -> str:
    argv = proc.cmdline()
    if "cli.part_process" in argv:
        return argv[argv.index("cli.part_process") + 1]
    if proc.pid == up_pid:
        return "aifarm up"
    module = argv[argv.index("-m") + 1] if "-m" in argv else Path(argv[0]).name if argv else "?"
    return f"{module} (child of {_role(proc.parent(), up_pid)})" if proc.parent() else module


def measure(pid: int) -> list[Memory]:
    up = psutil.Process(pid)
    out = []
    for proc in [up, *up.children(recursive=True)]:
        try:
            info = proc.memory_full_info()
            out.append(Memory(_role(proc, pid), info.rss / 2**20, info.uss / 2**20))
        except psutil.Error:
            continue
    return out


class Farm:
    def __init__(self, repo: Path, work: Path, workers: int | None) -> None:
        self.repo, self.work, self.workers = repo, work, workers
        self.data = work / "farm"
        self.proc: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        env = {**os.environ, "PYTHONPATH": f"{self.repo}{os.pathsep}{self.repo / 'gen' / 'python'}",
               "PYTHONUNBUFFERED": "1"}  # fmt: skip
        for name in ("API_KEYS", "AIFARM_DATA_DIR", "API_PORT", "API_HOST"):
            env.pop(name, None)
        return env

    def start(self) -> dict:
        (self.data / "endpoints.json").unlink(missing_ok=True)
        args = [sys.executable, "-m", "cli.main", "up", "--data-dir", str(self.data), "--websocket-port", "0", "--grpc-port", "0",
                "--http-port", "main=0", "--api-keys", API_KEY, "--log-level", "warning"]  # fmt: skip
        if self.workers is not None:
            args += ["--gateway-workers", str(self.workers)]
        with (self.work / "up.log").open("ab") as log:
            self.proc = subprocess.Popen(args, cwd=self.repo, env=self.env(), stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while not (self.data / "endpoints.json").exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"aifarm up did not start; see {self.work / 'up.log'}")
            time.sleep(0.1)
        return json.loads((self.data / "endpoints.json").read_text())

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _request(url: str, method: str = "GET", body: dict | None = None) -> dict:
    req = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body is not None else None,
                                 headers={"X-API-Key": API_KEY, "Content-Type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(req, timeout=30) as reply:
        return json.loads(reply.read() or b"{}")


def run_tasks(rest: str, count: int, timeout: float = 120) -> None:
    """``count`` scripts run to completion on the local agent, so that the list read has rows."""
    for i in range(count):
        _request(f"{rest}/v1/tasks", "POST", {"display_name": f"bench-{i}", "script": {"source": "pass"}})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = _request(f"{rest}/v1/tasks?page_size={count}&states=TASK_STATE_COMPLETED").get("tasks", [])
        if len(done) >= count:
            return
        time.sleep(0.5)
    raise RuntimeError(f"{count} scripts did not complete in {timeout:g} s")


_UNIT = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(text: str) -> float:
    """A wrk duration ("812.00us", "12.5ms", "1.02s", "1.00m") in milliseconds."""
    found = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if found is None:
        raise ValueError(f"wrk printed a duration this bench does not read: {text!r}")
    return float(found.group(1)) * _UNIT[found.group(2)]


def run_wrk(url: str, load: Load) -> dict[str, float]:
    cmd = ["wrk", "-t", str(load.threads), "-c", str(load.connections), "-d", f"{load.duration}s", "--latency",
           "--timeout", "10s", "-H", f"X-API-Key: {API_KEY}", url]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=load.duration + 60).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    # The latency distribution's lines, not the "+/- Stdev" column (which can end in "50%" too).
    p50, p99 = re.search(r"^\s+50%\s+(\S+)$", out, re.M), re.search(r"^\s+99%\s+(\S+)$", out, re.M)
    if not (rps and p50 and p99):
        raise RuntimeError(f"wrk printed no summary for {url}:\n{out}")
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {"rps": float(rps.group(1)), "p50": _ms(p50.group(1)), "p99": _ms(p99.group(1)),
            "bad": int(bad.group(1)) if bad else 0,
            "socket_errors": sum(map(int, errors.groups())) if errors else 0}  # fmt: skip


def has_workers_flag(repo: Path) -> bool:
    return "--gateway-workers" in (repo / "cli" / "run_commands.py").read_text()


ENDPOINTS = {"GET /health": "/health", "GET /v1/tasks (SQLite page)": "/v1/tasks?page_size=20"}


def bench_farm(label: str, repo: Path, workers: int | None, args: argparse.Namespace, load: Load) -> Run:
    run = Run(label, workers)
    work = Path(tempfile.mkdtemp(prefix=f"aifarm-memory-{label}-"))
    farm = Farm(repo, work, workers)
    try:
        endpoints = farm.start()
        time.sleep(args.idle)
        run.memory = measure(farm.proc.pid)  # type: ignore[union-attr]
        rest = endpoints["http"]["main"]
        run_tasks(rest, args.tasks)
        for name, path in ENDPOINTS.items():
            run.rest[name] = run_wrk(rest + path, load)
            print(f"# {run.name}: {name}: {run.rest[name]['rps']:.0f} req/s", flush=True)
        farm.stop()
        farm.start()
        time.sleep(args.idle)
        run.restarted = measure(farm.proc.pid)  # type: ignore[union-attr]
    finally:
        farm.stop()
        shutil.rmtree(work, ignore_errors=True)
    return run


def slurm_memory(idle: float) -> list[Memory]:
    sys.path.insert(0, str(HERE))
    from vs_slurm import SlurmCluster  # bench/vs_slurm.py: munged, slurmctld and one slurmd of this run's

    cluster = SlurmCluster(Path(tempfile.mkdtemp(prefix="aifarm-memory-slurm-")), slots=os.cpu_count() or 1)
    try:
        cluster.start()
        time.sleep(idle)
        out = []
        for name in ("slurmctld", "slurmd"):
            info = psutil.Process(cluster.procs[name].pid).memory_full_info()
            out.append(Memory(name, info.rss / 2**20, info.uss / 2**20))
        return out
    finally:
        cluster.stop()
        shutil.rmtree(cluster.root, ignore_errors=True)


def print_tables(command: str, runs: list[Run], slurm: list[Memory], load: Load) -> None:
    print(f"\n$ {command}\n")
    print("Idle memory (MB) of each process, a fresh farm / after a restart on its data directory:\n")
    print("| farm | process | RSS | USS | RSS after restart | USS after restart |")
    print("|---|---|---|---|---|---|")
    for run in runs:
        again = {m.what: m for m in run.restarted}
        for m in run.memory:
            r = again.get(m.what)
            later = f"{r.rss_mb:.1f} | {r.uss_mb:.1f}" if r else "- | -"
            print(f"| {run.name} | {m.what} | {m.rss_mb:.1f} | {m.uss_mb:.1f} | {later} |")
    for m in slurm:
        print(f"| Slurm | {m.what} | {m.rss_mb:.1f} | {m.uss_mb:.1f} | | |")
    base = runs[-1] if len(runs) > 1 and runs[-1].workers is None else None
    print(f"\nREST through the Python gateway, wrk -t{load.threads} -c{load.connections} -d{load.duration}s"
          f"{f' (ratio: against {base.name})' if base else ''}:\n")  # fmt: skip
    print("| endpoint | farm | req/s | p50 ms | p99 ms | not 2xx | ratio req/s |")
    print("|---|---|---|---|---|---|---|")
    for name in ENDPOINTS:
        for run in runs:
            r = run.rest[name]
            ratio = f"{r['rps'] / base.rest[name]['rps']:.2f}x" if base and base.rest[name]["rps"] else ""
            bad = int(r["bad"] + r["socket_errors"])
            print(f"| {name} | {run.name} | {r['rps']:.0f} | {r['p50']:.1f} | {r['p99']:.1f} | {bad} | {ratio} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repo", action="append", metavar="LABEL=PATH",
                   help="a tree to run (repeatable; default after=<this repo>)")
    p.add_argument("--workers", default=f"1,{len(os.sched_getaffinity(0))}",
                   help="gateway worker counts to run, comma-separated (default: 1 and one per core)")
    p.add_argument("--idle", type=float, default=5.0, help="seconds a farm idles before it is measured")
    p.add_argument("--duration", type=int, default=8, help="seconds of wrk per endpoint")
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--tasks", type=int, default=20, help="scripts run first, so that the list read has rows")
    p.add_argument("--no-slurm", action="store_true", help="do not start Slurm to compare")
    args = p.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not on PATH: apt-get install wrk")
    repos = [(label, Path(path).resolve()) for label, _, path in (r.partition("=") for r in args.repo or ["after=."])]
    load = Load(args.duration, args.connections, args.threads)
    runs = []
    for label, repo in repos:
        for workers in [int(w) for w in args.workers.split(",")] if has_workers_flag(repo) else [None]:
            runs.append(bench_farm(label, repo, workers, args, load))
    slurm: list[Memory] = []
    if not args.no_slurm and all(shutil.which(t) for t in ("munged", "slurmctld", "slurmd")) and os.geteuid() == 0:
        slurm = slurm_memory(args.idle)
    print_tables(shlex.join(["python", "bench/memory.py", *sys.argv[1:]]), runs, slurm, load)


if __name__ == "__main__":
    main()
