"""The client process (seeds/000, "Client Process API" and "Monitor API") run for real, as a
subprocess, against small aiohttp servers started here: the target under load, observers,
and a stand-in for the client service (the real one is built separately), which only records
what the process sends it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
STATUS_KEYS = {"benchmark_id", "num_clients", "server_addr", "client_service_addr", "local_address", "created_at"}
API_KEY = "test-key"


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 10.0, what: str = "condition") -> Any:
    """`check()`'s first truthy value, polled until a deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.05)


@asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        await server.close()


@dataclass
class Target:
    """The server under load: counts requests; `fail_every` 2 answers 500 to every other one."""

    fail_every: int = 0
    delay: float = 0.0
    requests: int = 0

    def app(self) -> web.Application:
        async def handle(_: web.Request) -> web.Response:
            self.requests += 1
            n = self.requests
            if self.delay:
                await asyncio.sleep(self.delay)
            if self.fail_every and n % self.fail_every == 0:
                return web.Response(status=500, text="no")
            return web.Response(text="ok")

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handle)
        return app


@dataclass
class StandInService:
    """Stands in for the client service (not written yet): records connect and figures calls."""

    connect_status: int = 201
    connects: list[dict[str, Any]] = field(default_factory=list)
    figures: list[dict[str, Any]] = field(default_factory=list)
    authorizations: list[str] = field(default_factory=list)

    def app(self) -> web.Application:
        async def connect(request: web.Request) -> web.Response:
            self.authorizations.append(request.headers.get("Authorization", ""))
            self.connects.append({"benchmark_id": request.match_info["id"], **await request.json()})
            return web.json_response({"status": "registered"}, status=self.connect_status)

        async def figures(request: web.Request) -> web.Response:
            self.authorizations.append(request.headers.get("Authorization", ""))
            self.figures.append(await request.json())
            return web.json_response({"status": "ok"})

        app = web.Application()
        app.router.add_post("/api/v1/client-group/{id}/connect", connect)
        app.router.add_post("/api/v1/client-group/{id}/figures", figures)
        return app


@dataclass
class ObserverServer:
    pushes: list[dict[str, Any]] = field(default_factory=list)

    def app(self) -> web.Application:
        async def push(request: web.Request) -> web.Response:
            self.pushes.append(await request.json())
            return web.Response(text="ok")

        app = web.Application()
        app.router.add_post("/", push)
        return app


@dataclass
class Process:
    proc: asyncio.subprocess.Process
    url: str
    http: aiohttp.ClientSession

    async def get(self, path: str) -> Any:
        async with self.http.get(self.url + path) as answer:
            assert answer.status == 200
            return await (answer.json() if path != "/metrics" else answer.text())

    async def post(self, path: str, body: Any = None, raw: str | None = None) -> Any:
        async with self.http.post(self.url + path, json=body, data=raw) as answer:
            assert answer.status == 200
            return await answer.json()

    async def run_to_end(self, timeout: float = 15.0) -> dict[str, Any]:
        async def ended() -> dict[str, Any] | None:
            status = await self.get("/status")
            return status if status["figures"]["ended_at"] > 0 else None

        return await eventually(ended, timeout, "the run's end")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@asynccontextmanager
async def client_process(tmp_path: Path, *args: str, host: str = "127.0.0.1") -> AsyncIterator[Process]:
    """The process with `args`; SIGTERM at the end, which must exit 0."""
    ready = tmp_path / f"ready-{time.monotonic_ns()}.json"
    log = (tmp_path / "client-process.log").open("ab")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "agent.client_process", "--port", "0", "--host", host, "--ready-file", str(ready),
        *args, cwd=REPO, stdout=log, stderr=log, env={**os.environ, "AIFARM_API_KEY": API_KEY})  # fmt: skip
    try:
        async def is_ready() -> bool:
            assert proc.returncode is None, (tmp_path / "client-process.log").read_text()
            return ready.exists()

        await eventually(is_ready, 15, "the ready file")
        port = json.loads(ready.read_text())["port"]
        # The process was given a key: its POSTs take it (what the controller's fan-out sends).
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {API_KEY}"}) as http:
            yield Process(proc, f"http://127.0.0.1:{port}", http)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise
        finally:
            log.close()
        assert code == 0, (tmp_path / "client-process.log").read_text()


async def test_it_registers_the_address_it_answers_on(tmp_path: Path) -> None:
    service = StandInService()
    async with serving(service.app()) as service_url:
        api = f"{service_url}/api/v1"
        # A wildcard listener: the address registered is the one facing the service (loopback here).
        async with client_process(tmp_path, "--benchmark-id", "123", "--num-clients", "3", "--service-url", api,
                                  "--server-addr", "http://ai-server:8000", host="0.0.0.0") as p:  # fmt: skip
            async def registered() -> bool:
                return bool(service.connects)

            await eventually(registered, 10, "the connect call")
            connect = service.connects[0]
            assert connect["benchmark_id"] == "123"
            address = connect["client_address"]
            assert address.startswith("http://127.0.0.1:")
            async with p.http.get(f"{address}/status") as answer:
                status = await answer.json()
            assert STATUS_KEYS <= status.keys()
            assert status["benchmark_id"] == 123
            assert status["num_clients"] == 3
            assert status["server_addr"] == "http://ai-server:8000"
            assert status["client_service_addr"] == api
            assert status["local_address"] == address
            assert isinstance(status["created_at"], float) and abs(status["created_at"] - time.time()) < 30
            assert status["running"] is False and status["figures"]["requests"] == 0
            assert service.authorizations == [f"Bearer {API_KEY}"]


async def test_it_exits_non_zero_when_the_service_never_accepts_it(tmp_path: Path) -> None:
    service = StandInService(connect_status=404)
    async with serving(service.app()) as service_url:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "agent.client_process", "--benchmark-id", "7", "--num-clients", "1", "--port", "0",
            "--host", "127.0.0.1", "--service-url", f"{service_url}/api/v1", "--register-timeout", "1.5",
            cwd=REPO, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)  # fmt: skip
        _, stderr = await asyncio.wait_for(proc.communicate(), 15)
        assert proc.returncode == 1
        assert b"could not register" in stderr
        assert len(service.connects) >= 2  # retried


async def test_a_run_sends_every_clients_requests_and_measures_them(tmp_path: Path) -> None:
    target = Target()
    async with serving(target.app()) as target_url:
        async with client_process(tmp_path, "--benchmark-id", "5", "--num-clients", "3", "--requests-per-client", "20",
                                  "--server-addr", f"{target_url}/predict") as p:  # fmt: skip
            async with aiohttp.ClientSession() as stranger:  # no key: anyone could aim the clients anywhere
                for path in ("/run", "/observer"):
                    async with stranger.post(p.url + path) as refused:
                        assert refused.status == 401
            assert target.requests == 0
            async with p.http.post(p.url + "/run") as answer:  # no body, as the original service sends it
                assert answer.status == 200
                assert await answer.json() == {"status": "started", "num_clients": 3}
            status = await p.run_to_end()
            assert target.requests == 60
            figures = status["figures"]
            assert figures["requests"] == 60 and figures["errors"] == 0
            assert figures["status_codes"] == {"200": 60}
            latency = figures["latency_ms"]
            assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"] <= latency["max"]
            assert figures["throughput_rps"] > 0 and figures["running"] is False
            assert figures["started_at"] <= figures["ended_at"]

            families = {f.name: f for f in text_string_to_metric_families(await p.get("/metrics"))}
            requests = {s.labels["outcome"]: s.value for s in families["aifactory_client_requests"].samples
                        if s.name == "aifactory_client_requests_total"}  # fmt: skip
            assert requests == {"ok": 60, "error": 0}
            count = [s for s in families["aifactory_client_request_latency_seconds"].samples if s.name.endswith("_count")]
            assert count[0].value == 60 and count[0].labels["benchmark_id"] == "5"
            assert families["aifactory_client_running"].samples[0].value == 0


async def test_error_answers_are_counted(tmp_path: Path) -> None:
    target = Target(fail_every=2)
    async with serving(target.app()) as target_url:
        async with client_process(tmp_path, "--benchmark-id", "6", "--num-clients", "2", "--requests-per-client", "10",
                                  "--server-addr", target_url) as p:  # fmt: skip
            assert (await p.post("/run"))["status"] == "started"
            figures = (await p.run_to_end())["figures"]
            assert figures["requests"] == 20 and figures["errors"] == 10
            assert figures["status_codes"] == {"200": 10, "500": 10}


async def test_observers_get_growing_figures_and_a_dead_one_blocks_nothing(tmp_path: Path) -> None:
    target, observer = Target(delay=0.005), ObserverServer()
    async with serving(target.app()) as target_url, serving(observer.app()) as observer_url:
        async with client_process(tmp_path, "--benchmark-id", "8", "--num-clients", "2", "--duration", "1.5",
                                  "--server-addr", target_url) as p:  # fmt: skip
            dead = {"ip_address": "127.0.0.1", "port": free_port(), "update_preferences": {"frequency": "100ms"}}
            assert await p.post("/observer", dead) == {"status": "observer_added"}
            port = observer_url.rsplit(":", 1)[1]  # a string, as the document has it
            good = {"ip_address": "127.0.0.1", "port": port, "update_preferences": {"frequency": "200ms", "format": "json"}}
            assert await p.post("/observer", good) == {"status": "observer_added"}
            assert (await p.post("/run"))["status"] == "started"
            status = await p.run_to_end(10)

            async def final_push() -> bool:
                return any(not push["figures"]["running"] and push["figures"]["requests"] for push in observer.pushes)

            await eventually(final_push, 5, "the push at the run's end")
            during = [push["figures"]["requests"] for push in observer.pushes if push["figures"]["running"]]
            assert len(during) >= 3 and during == sorted(during) and during[-1] > during[0]
            last = observer.pushes[-1]
            assert last["benchmark_id"] == 8 and last["local_address"] == status["local_address"]
            assert isinstance(last["time"], float)
            assert last["figures"]["requests"] == status["figures"]["requests"] == target.requests


async def test_refused_runs_and_malformed_observers(tmp_path: Path) -> None:
    async with client_process(tmp_path, "--benchmark-id", "9", "--num-clients", "2") as p:
        refused = await p.post("/run")
        assert refused["status"] == "error" and refused["num_clients"] == 0 and "target" in refused["detail"]
        for body, raw in [(None, "not json"), ({"port": "80"}, None), ({"ip_address": "h", "port": "x"}, None),
                          ({"ip_address": "h", "port": 80, "update_preferences": {"frequency": "soon"}}, None)]:
            answer = await p.post("/observer", body, raw)
            assert answer["status"] == "error" and answer["detail"]

    target = Target(delay=0.01)
    async with serving(target.app()) as target_url:
        async with client_process(tmp_path, "--benchmark-id", "9", "--num-clients", "2", "--duration", "30",
                                  "--server-addr", target_url) as p:  # fmt: skip
            assert (await p.post("/run")) == {"status": "started", "num_clients": 2}
            again = await p.post("/run")
            assert again["status"] == "error" and again["num_clients"] == 0 and "already" in again["detail"]
            assert (await p.get("/status"))["running"] is True
        # SIGTERM stopped the 30 s run at once, and the process exited 0 (checked on leaving).


async def test_a_run_body_overrides_the_defaults(tmp_path: Path) -> None:
    target = Target()
    async with serving(target.app()) as target_url:
        async with client_process(tmp_path, "--benchmark-id", "10", "--num-clients", "2") as p:
            body = {"server_addr": target_url, "path": "/v1/infer", "requests_per_client": 4, "payload": {"x": 1}}
            assert (await p.post("/run", body))["status"] == "started"
            assert (await p.run_to_end())["figures"]["requests"] == 8 == target.requests


async def test_figures_are_reported_to_the_service(tmp_path: Path) -> None:
    target, service = Target(delay=0.005), StandInService()
    async with serving(target.app()) as target_url, serving(service.app()) as service_url:
        async with client_process(tmp_path, "--benchmark-id", "11", "--num-clients", "2", "--duration", "1",
                                  "--report-interval", "0.2", "--server-addr", target_url,
                                  "--service-url", f"{service_url}/api/v1") as p:  # fmt: skip
            async def registered() -> bool:
                return bool(service.connects)

            await eventually(registered, 10, "the connect call")
            assert (await p.post("/run"))["status"] == "started"
            status = await p.run_to_end(10)

            async def final_report() -> bool:
                return any(not r["figures"]["running"] for r in service.figures)

            await eventually(final_report, 5, "the report at the run's end")
            assert any(r["figures"]["running"] for r in service.figures)  # reports while running, too
            final = [r for r in service.figures if not r["figures"]["running"]][-1]
            assert final["client_address"] == status["local_address"]
            assert final["figures"]["requests"] == status["figures"]["requests"] == target.requests
            assert set(service.authorizations) == {f"Bearer {API_KEY}"}
