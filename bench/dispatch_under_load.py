"""Dispatch throughput with and without REST clients on the gateway, side by side in one run.

    python bench/dispatch_under_load.py [--rest-clients 50] [--rounds 2] [--list-page-size 0]
                                        [--rest-calls list,create]
                                        [--agents 20] [--tasks 400] [--concurrency 32] [--agent-cores 4]
                                        [--hold 0] [--heartbeat-interval 2] [--controller-log-level info]
                                        [--timeout 600] [--keep]

Each round measures dispatch twice, each time on a fresh farm of real processes: a
controller (`aifarm controller`, fresh data directory, real SQLite) and the Python gateway
(`aifarm gateway`) in front of it; then the measurement of bench/dispatch.py (simulated
agents on AgentService.Connect, tasks submitted with CreateTask over gRPC, throughput from
the first submit to the last completion):

* unloaded: the gateway is up and idle;
* loaded: `--rest-clients` REST clients (bench/rest_load.py, a process of its own), each in a
  loop listing tasks (GET /v1/tasks) and creating one (POST /v1/tasks, a task no node can take),
  from before the first submit until after the last completion (--rest-calls list or create
  runs one half of that loop, to tell their costs apart).

The order alternates from round to round, so drift on a noisy machine hits both ways alike.
Printed: every measurement, then the median tasks/s of each way and the ratio loaded/unloaded
(issue 9: it should stay at 0.80 or more). The figures are this machine's: compare the ratio.
"""

from __future__ import annotations

import asyncio
import json
import select
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path[:0] = [str(BENCH), str(REPO), str(REPO / "gen" / "python")]

import psutil  # noqa: E402

import dispatch  # noqa: E402
import rest_load  # noqa: E402

#: Issue 9: dispatch under REST load keeps at least this share of its unloaded throughput.
TARGET_RATIO = 0.80


@dataclass(frozen=True)
class LoadConfig:
    """What this script adds to a dispatch measurement; each field is a flag."""

    #: Concurrent REST clients in the loaded measurement.
    rest_clients: int
    #: Rounds; each measures both ways.
    rounds: int
    #: page_size of the clients' GET /v1/tasks; 0 leaves the server's default.
    list_page_size: int
    #: What each client does in its loop: list then create (the issue's load), or one of them.
    rest_calls: tuple[str, ...]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cpu_seconds(proc: subprocess.Popen[bytes] | None) -> float:
    if proc is None or proc.poll() is not None:
        return 0.0
    times = psutil.Process(proc.pid).cpu_times()
    return times.user + times.system


def _stop(proc: subprocess.Popen[bytes] | None, timeout: float = 15.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@dataclass
class GatewayProcess:
    """`aifarm gateway` on a free port in front of the controller."""

    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    url: str = ""

    def start(self, controller: str, timeout: float = 30.0) -> str:
        port = _free_port()
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "cli.main", "gateway", "--controller", controller, "--http-port", f"main={port}",
                 "--http-port", "gswarm_host=0", "--http-port", "profiler=0", "--http-port", "aifactory=0", "--log-level", "warning"],
                stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
            )  # fmt: skip
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(f"{self.url}/v1/health", timeout=1).close()
                return self.url
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the gateway did not start:\n{self.log_path.read_text(errors='replace')}")
                time.sleep(0.1)


@dataclass
class RestLoad:
    """bench/rest_load.py in a process of its own."""

    proc: subprocess.Popen[bytes] | None = None

    def start(self, url: str, load: LoadConfig, timeout: float = 60.0) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(BENCH / "rest_load.py"), "--url", url, "--api-key", dispatch.API_KEY,
             "--clients", str(load.rest_clients), "--page-size", str(load.list_page_size), "--calls", ",".join(load.rest_calls)],
            stdout=subprocess.PIPE, cwd=REPO,
        )  # fmt: skip
        assert self.proc.stdout is not None
        # rest_load prints "ready" once every client has been answered; blocking is fine, nothing else runs yet.
        readable, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if readable else b""
        if line.strip() != b"ready":
            raise RuntimeError(f"the REST load did not start within {timeout:g} s (it said {line!r})")

    def stop(self) -> dict[str, object]:
        """SIGTERM; its summary (one JSON line)."""
        assert self.proc is not None and self.proc.stdout is not None
        self.proc.send_signal(signal.SIGTERM)
        out = self.proc.stdout.read()
        self.proc.wait(timeout=30)
        return json.loads(out.decode().strip().splitlines()[-1])


@dataclass(frozen=True)
class Measurement:
    round: int
    loaded: bool
    result: dispatch.Result
    load: dict[str, object] | None
    gateway_cpu_s: float
    load_cpu_s: float

    @property
    def tasks_per_s(self) -> float:
        return self.result.config.tasks / self.result.elapsed_s

    def lines(self) -> list[str]:
        way = f"with {self.load['clients']} REST clients" if self.load else "unloaded"
        out = [f"round {self.round}, {way}: {self.tasks_per_s:.1f} tasks/s", *self.result.lines()[1:]]
        cpu = f"  gateway CPU {self.gateway_cpu_s:.1f} s"
        if self.load:
            cpu += f", REST clients CPU {self.load_cpu_s:.1f} s"
            kinds = "; ".join(f"{kind} {_kind(self.load[kind])}" for kind in ("list", "create") if kind in self.load)
            problem = f" ({self.load['first_error']})" if self.load["errors"] else ""
            out.append(f"  REST load: {kinds}; errors {self.load['errors']}{problem}")
        out.append(cpu)
        return out


def _kind(summary: object) -> str:
    assert isinstance(summary, dict)
    return f"{summary['count']} ({summary['per_s']}/s, p50 {summary['p50_ms']} ms, p95 {summary['p95_ms']} ms)"


async def measure(config: dispatch.BenchConfig, load: LoadConfig, round_: int, loaded: bool) -> Measurement:
    """One dispatch measurement on a fresh controller and gateway, with or without the REST clients."""
    data_dir = Path(tempfile.mkdtemp(prefix="aifarm-bench-load-"))
    controller = dispatch.ControllerProcess(data_dir, config.heartbeat_interval, config.controller_log_level,
                                            config.controller_args)
    gateway = GatewayProcess(data_dir / "gateway.log")
    rest = RestLoad()
    ok = False
    try:
        controller.start()
        gateway.start(controller.address)
        if loaded:
            rest.start(gateway.url, load)
        cpu_before = _cpu_seconds(gateway.proc), _cpu_seconds(rest.proc)
        result = await dispatch.run_agents_and_tasks(config, controller)
        gateway_cpu, load_cpu = _cpu_seconds(gateway.proc) - cpu_before[0], _cpu_seconds(rest.proc) - cpu_before[1]
        summary = rest.stop() if loaded else None
        ok = True
        return Measurement(round_, loaded, result, summary, gateway_cpu, load_cpu)
    finally:
        _stop(rest.proc)
        _stop(gateway.proc)
        controller.stop()
        dispatch.clean_up(controller, data_dir, ok=ok, keep=config.keep)


async def bench(config: dispatch.BenchConfig, load: LoadConfig) -> list[Measurement]:
    measurements = []
    for round_ in range(1, load.rounds + 1):
        # Alternate which way goes first, so slow drift on a shared machine does not favour one.
        for loaded in (False, True) if round_ % 2 else (True, False):
            m = await measure(config, load, round_, loaded)
            print("\n".join(m.lines()), flush=True)
            measurements.append(m)
    return measurements


def summary(measurements: list[Measurement], load: LoadConfig) -> list[str]:
    unloaded = statistics.median(m.tasks_per_s for m in measurements if not m.loaded)
    loaded = statistics.median(m.tasks_per_s for m in measurements if m.loaded)
    ratio = loaded / unloaded
    verdict = "meets" if ratio >= TARGET_RATIO else "misses"
    return [
        f"command: {shlex.join(['python', *sys.argv])}",
        f"dispatch throughput, median of {load.rounds} round(s): unloaded {unloaded:.1f} tasks/s, "
        f"with {load.rest_clients} REST clients {loaded:.1f} tasks/s",
        f"loaded / unloaded = {ratio:.2f} ({verdict} the target of {TARGET_RATIO:.2f})",
    ]


def parse_args(argv: list[str] | None = None) -> tuple[dispatch.BenchConfig, LoadConfig]:
    parser = dispatch.build_parser(__doc__.splitlines()[0])
    # Smaller than dispatch.py's defaults: each round runs two farms, and the loaded one is slow.
    parser.set_defaults(agents=20, tasks=400)
    parser.add_argument("--rest-clients", type=int, default=50, help="concurrent REST clients when loaded (50)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds, each measuring both ways (2)")
    parser.add_argument("--list-page-size", type=int, default=0,
                        help="page_size of the clients' GET /v1/tasks; 0: the server's default")
    parser.add_argument("--rest-calls", type=rest_load.parse_calls, default=("list", "create"),
                        help="each REST client's loop: list,create (default), list or create (to tell their costs apart)")  # fmt: skip
    ns = parser.parse_args(argv)
    if ns.rest_clients < 1 or ns.rounds < 1:
        parser.error("--rest-clients and --rounds must be at least 1")
    load = LoadConfig(ns.rest_clients, ns.rounds, ns.list_page_size, ns.rest_calls)
    return dispatch.config_from(parser, ns), load


def main(argv: list[str] | None = None) -> None:
    config, load = parse_args(argv)
    print(f"dispatch under REST load: {config.agents} agents x {config.agent_cores} cores, {config.tasks} tasks "
          f"per measurement, {load.rest_clients} REST clients when loaded, {load.rounds} round(s)", flush=True)  # fmt: skip
    measurements = asyncio.run(bench(config, load))
    print("\n".join(summary(measurements, load)))


if __name__ == "__main__":
    main()
