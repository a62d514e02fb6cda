"""What a REST door costs over direct gRPC, measured side by side in one run.

    python bench/rest_overhead.py [--requests 2000] [--concurrency 16] [--rounds 3] [--tls]

Starts a real controller (fresh data dir, real SQLite), the Python gateway
(`aifarm gateway`) and Envoy with the config `gateway.envoy` writes, all on
127.0.0.1. Then, for the same calls (GetTask, ListTasks of 20, CreateTask), it
measures through each door:

- latency: one request at a time, p50 and p99 in milliseconds;
- throughput: requests per second with --concurrency requests in flight.

With --tls a second farm runs beside the first, the same three doors with TLS
everywhere: the controller with --tls, gRPC direct verifying its certificate,
the gateway serving HTTPS and speaking TLS to the controller, Envoy likewise
(its config from gateway.envoy with EnvoyTls). Each TLS door is reported beside
its plaintext twin ("TLS/plain").

Doors take turns within each round, so background noise on a shared machine
hits all of them alike; compare the ratios, not the absolute numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import grpc

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "gen" / "python")]

from aifarm.v1 import task_pb2, task_service_pb2, task_service_pb2_grpc  # noqa: E402
from gateway.envoy import EnvoyTls, write_envoy_config  # noqa: E402

API_KEY = "bench-key"
AUTH = (("authorization", f"Bearer {API_KEY}"),)
HEADERS = {"Authorization": f"Bearer {API_KEY}"}
# Placed never (no node has 64 GPUs): creating it costs the API path only.
NEW_TASK = {"display_name": "bench", "script": {"source": "print(1)"}, "resources": {"gpus": 64}}

Call = Callable[[], Awaitable[None]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(
    url: str, proc: subprocess.Popen[bytes], timeout: float = 30, context: ssl.SSLContext | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[:3]} exited with {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=1, context=context).close()
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer in {timeout} s")


@dataclass
class Farm:
    """The controller and both doors, as processes; with ``tls``, TLS on every hop."""

    work: Path
    tls: bool = False
    grpc_port: int = field(default_factory=free_port)
    gateway_port: int = field(default_factory=free_port)
    envoy_port: int = field(default_factory=free_port)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def _spawn(self, args: list[str], log: str) -> subprocess.Popen[bytes]:
        out = (self.work / log).open("wb")
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
        self.procs.append(proc)
        return proc

    @property
    def pki(self) -> Path:
        return self.work / "data" / "pki"

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    def ssl_context(self) -> ssl.SSLContext | None:
        """What REST clients verify the doors' certificate with (the farm CA)."""
        return ssl.create_default_context(cafile=str(self.pki / "ca.crt")) if self.tls else None

    def channel(self) -> grpc.aio.Channel:
        target = f"127.0.0.1:{self.grpc_port}"
        if not self.tls:
            return grpc.aio.insecure_channel(target)
        return grpc.aio.secure_channel(target, grpc.ssl_channel_credentials((self.pki / "ca.crt").read_bytes()))

    def start(self) -> Farm:
        aifarm = [sys.executable, "-m", "cli.main"]
        target = f"127.0.0.1:{self.grpc_port}"
        tls_args = ["--tls", "--agent-port", "0"] if self.tls else []
        ctl = self._spawn([*aifarm, "controller", "--data-dir", str(self.work / "data"), "--grpc-port",
                           str(self.grpc_port), "--profiler-grpc-port", "0", "--api-keys", API_KEY, "--log-level", "warning",
                           *tls_args],
                          "controller.log")  # fmt: skip
        endpoints = self.work / "data" / "endpoints.json"
        deadline = time.monotonic() + 30
        while not endpoints.exists():  # the controller's certificate is on disk once it serves
            if ctl.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the controller did not start (see {self.work / 'controller.log'})")
            time.sleep(0.05)
        doors_tls = []
        envoy_tls = None
        if self.tls:
            ca, cert, key = self.pki / "ca.crt", self.pki / "server.crt", self.pki / "server.key"
            doors_tls = ["--controller-ca", str(ca), "--tls-cert", str(cert), "--tls-key", str(key)]
            envoy_tls = EnvoyTls.from_files(ca, cert, key)
        gw = self._spawn([*aifarm, "gateway", "--controller", target, "--http-port", f"main={self.gateway_port}",
                          "--http-port", "gswarm_host=0", "--http-port", "profiler=0", "--http-port", "aifactory=0",
                          "--log-level", "warning", *doors_tls], "gateway.log")  # fmt: skip
        config = write_envoy_config(self.work / "envoy", target, {"main": ("127.0.0.1", self.envoy_port)},
                                    tls=envoy_tls)  # fmt: skip
        base_id = str((os.getpid() + (1 if self.tls else 0)) % 60000)
        envoy = self._spawn(["envoy", "-c", str(config), "--log-level", "warn", "--base-id", base_id], "envoy.log")
        wait_http(f"{self.scheme}://127.0.0.1:{self.gateway_port}/v1/health", gw, context=self.ssl_context())
        wait_http(f"{self.scheme}://127.0.0.1:{self.envoy_port}/v1/health", envoy, context=self.ssl_context())
        assert ctl.poll() is None, "controller exited"
        return self

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


def grpc_calls(stub: task_service_pb2_grpc.TaskServiceStub, task_name: str) -> dict[str, Call]:
    get = task_service_pb2.GetTaskRequest(name=task_name)
    lst = task_service_pb2.ListTasksRequest(page_size=20)
    new = task_service_pb2.CreateTaskRequest(
        task=task_pb2.Task(display_name="bench", script=task_pb2.ScriptSpec(source="print(1)"),
                           resources={"gpus": 64})  # fmt: skip
    )

    async def get_task() -> None:
        await stub.GetTask(get, metadata=AUTH)

    async def list_tasks() -> None:
        await stub.ListTasks(lst, metadata=AUTH)

    async def create_task() -> None:
        await stub.CreateTask(new, metadata=AUTH)

    return {"GetTask": get_task, "ListTasks": list_tasks, "CreateTask": create_task}


def rest_calls(
    session: aiohttp.ClientSession, base: str, task_name: str, context: ssl.SSLContext | None = None
) -> dict[str, Call]:
    body = json.dumps(NEW_TASK).encode()
    verify: ssl.SSLContext | bool = context if context is not None else True

    async def call(method: str, path: str, expect: int, data: bytes | None = None) -> None:
        async with session.request(method, base + path, data=data, headers=HEADERS, ssl=verify) as reply:
            await reply.read()
            if reply.status != expect:
                raise RuntimeError(f"{method} {base}{path}: HTTP {reply.status}")

    async def get_task() -> None:
        await call("GET", f"/v1/{task_name}", 200)

    async def list_tasks() -> None:
        await call("GET", "/v1/tasks?page_size=20", 200)

    async def create_task() -> None:
        await call("POST", "/v1/tasks", 201, body)

    return {"GetTask": get_task, "ListTasks": list_tasks, "CreateTask": create_task}


@dataclass
class Result:
    latencies_ms: list[float] = field(default_factory=list)
    rps: list[float] = field(default_factory=list)


async def measure_latency(call: Call, n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        await call()
        out.append((time.perf_counter() - start) * 1000)
    return out


async def measure_throughput(call: Call, n: int, concurrency: int) -> float:
    remaining = n

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await call()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return n / (time.perf_counter() - start)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def seed(stub: task_service_pb2_grpc.TaskServiceStub) -> str:
    """Tasks for ListTasks to page through; the name of one for GetTask."""
    for _ in range(40):
        created = await stub.CreateTask(task_service_pb2.CreateTaskRequest(
            task=task_pb2.Task(script=task_pb2.ScriptSpec(source="print(1)"), resources={"gpus": 64})),
            metadata=AUTH)  # fmt: skip
    return created.name


async def run(args: argparse.Namespace, farms: list[Farm]) -> dict[tuple[str, str], Result]:
    channels = [farm.channel() for farm in farms]
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=args.concurrency)) as session:
        doors: dict[str, dict[str, Call]] = {}
        for farm, channel in zip(farms, channels):
            stub = task_service_pb2_grpc.TaskServiceStub(channel)
            name = await seed(stub)
            suffix, context = (" (TLS)", farm.ssl_context()) if farm.tls else ("", None)
            doors[f"gRPC direct{suffix}"] = grpc_calls(stub, name)
            doors[f"Python gateway{suffix}"] = rest_calls(session, f"{farm.scheme}://127.0.0.1:{farm.gateway_port}",
                                                          name, context)  # fmt: skip
            doors[f"Envoy{suffix}"] = rest_calls(session, f"{farm.scheme}://127.0.0.1:{farm.envoy_port}", name, context)
        results: dict[tuple[str, str], Result] = {}
        for door, calls in doors.items():  # warm up connections and caches
            for call in calls.values():
                await measure_latency(call, 50)
        for rnd in range(args.rounds):
            for method in ("GetTask", "ListTasks", "CreateTask"):
                for door, calls in doors.items():
                    result = results.setdefault((method, door), Result())
                    result.latencies_ms += await measure_latency(calls[method], args.requests // 4)
                    result.rps.append(await measure_throughput(calls[method], args.requests, args.concurrency))
            print(f"round {rnd + 1}/{args.rounds} done", file=sys.stderr)
    for channel in channels:
        await channel.close()
    return results


def report(results: dict[tuple[str, str], Result], args: argparse.Namespace) -> None:
    """One row per call and door: latency, throughput, throughput against direct gRPC without TLS; a TLS door
    also against its plaintext twin (TLS/plain: req/s, and p50 latency)."""
    print(f"\ncommand: python bench/rest_overhead.py --requests {args.requests} "
          f"--concurrency {args.concurrency} --rounds {args.rounds}{' --tls' if args.tls else ''}")  # fmt: skip
    twin = f" {'TLS/plain req/s':>15} {'TLS/plain p50':>13}" if args.tls else ""
    print(f"{'call':<11} {'door':<21} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8} {'vs gRPC':>8}{twin}")
    for (method, door), result in results.items():
        rps = statistics.median(result.rps)
        base = statistics.median(results[(method, "gRPC direct")].rps)
        p50 = percentile(result.latencies_ms, 50)
        line = (f"{method:<11} {door:<21} {p50:>8.2f} {percentile(result.latencies_ms, 99):>8.2f} {rps:>8.0f} "
                f"{rps / base:>7.2f}x")  # fmt: skip
        plain = results.get((method, door.removesuffix(" (TLS)")))
        if door.endswith(" (TLS)") and plain is not None:
            ratio = rps / statistics.median(plain.rps)
            line += f" {ratio:>14.2f}x {p50 / percentile(plain.latencies_ms, 50):>12.2f}x"
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per throughput sample")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight for throughput")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; doors take turns within each")
    parser.add_argument("--tls", action="store_true",
                        help="also a farm with TLS on every hop, its doors beside their plaintext twins")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="aifarm-bench-") as tmp:
        farms = [Farm(Path(tmp) / "plain")]
        if args.tls:
            farms.append(Farm(Path(tmp) / "tls", tls=True))
        try:
            for farm in farms:
                farm.work.mkdir()
                farm.start()
            report(asyncio.run(run(args, farms)), args)
        finally:
            for farm in farms:
                farm.stop()


if __name__ == "__main__":
    main()
