"""The client process's HTTP API (seeds/000, "Client Process API") and its lifetime."""

from __future__ import annotations

import asyncio
import hmac
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST
from yarl import URL

from agent.client_process.figures import LoadFigures
from agent.client_process.load import LoadRun, RunSettings
from agent.client_process.metrics import LoadMetrics
from agent.client_process.observers import Observer, Observers
from agent.client_process.service import RegistrationFailed, ServiceClient

log = structlog.get_logger(__name__)

#: The last pushes and report on SIGTERM get this long, then the process exits anyway.
FINAL_PUSH_SECONDS = 5.0
WILDCARD_HOSTS = ("", "0.0.0.0", "::", "*")


@dataclass(frozen=True)
class ProcessConfig:
    benchmark_id: int
    num_clients: int
    service_url: str = ""
    server_addr: str = ""
    host: str = "0.0.0.0"
    port: int = 9000
    advertise_host: str = ""
    requests_per_client: int = 100
    duration: float = 0.0
    request_timeout: float = 10.0
    report_interval: float = 10.0
    ready_file: Path | None = None
    api_key: str = ""
    register_timeout: float = 60.0

    def run_defaults(self) -> RunSettings:
        return RunSettings(target=self.server_addr, num_clients=self.num_clients,
                           requests_per_client=self.requests_per_client, duration=self.duration,
                           request_timeout=self.request_timeout)  # fmt: skip


def advertised_host(host: str, service_url: str) -> str:
    """The bound host unless it is a wildcard; else the address of the interface that routes
    to the service (a UDP connect sends nothing); else loopback."""
    if host not in WILDCARD_HOSTS:
        return host
    service = URL(service_url) if service_url else None
    if service is not None and service.host:
        try:
            family = socket.AF_INET6 if ":" in service.host else socket.AF_INET
            with socket.socket(family, socket.SOCK_DGRAM) as probe:
                probe.connect((service.host, service.port or 80))
                return probe.getsockname()[0]
        except OSError:
            pass
    return "127.0.0.1"


def listening_socket(host: str, port: int) -> socket.socket:
    """Bound here rather than by aiohttp, so that port 0's real port is known before serving."""
    bind_host = None if host in ("", "*") else host
    family, kind, proto, _, address = socket.getaddrinfo(bind_host, port, type=socket.SOCK_STREAM,
                                                         flags=socket.AI_PASSIVE)[0]  # fmt: skip
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(address)
    sock.listen(1024)
    sock.setblocking(False)
    return sock


def _http_address(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _write_ready_file(path: Path, address: str, port: int) -> None:
    # Renamed into place, so a reader never sees half a file.
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps({"address": address, "port": port}))
    os.replace(partial, path)


async def _optional_json(request: web.Request) -> Any:
    """The body as JSON, or {} when there is none (the original service sends ``/run`` bare)."""
    text = await request.text() if request.can_read_body else ""
    if not text.strip():
        return {}
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"the body is not JSON: {exc}") from None


class ClientProcess:
    """One client group's process on a node."""

    def __init__(self, config: ProcessConfig) -> None:
        self.config = config
        self.created_at = time.time()
        self.metrics = LoadMetrics(config.benchmark_id)
        self.local_address = ""
        self._run: LoadRun | None = None
        self._run_task: asyncio.Task[None] | None = None
        self._no_run_yet = LoadFigures()
        # Made in serve(): aiohttp sessions belong to a running loop.
        self._load_session: aiohttp.ClientSession | None = None
        self._service: ServiceClient | None = None
        self._observers: Observers | None = None

    # --- the HTTP API -------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._key_check] if self.config.api_key else [])
        app.add_routes([web.post("/run", self._post_run), web.get("/status", self._get_status),
                        web.post("/observer", self._post_observer), web.get("/metrics", self._get_metrics)])  # fmt: skip
        return app

    @web.middleware
    async def _key_check(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """A process given a key (AIFARM_API_KEY) takes /run and /observer only with it: anyone else could
        aim its load clients at any target. GET /status and /metrics stay open to look at."""
        if request.method != "POST":
            return await handler(request)
        auth = request.headers.get("Authorization", "")
        presented = auth[7:].strip() if auth[:7].lower() == "bearer " else request.headers.get("X-API-Key", "")
        if not hmac.compare_digest(presented.encode(), self.config.api_key.encode()):
            return web.json_response({"detail": "missing or invalid API key: send 'Authorization: Bearer <key>'"},
                                     status=401)  # fmt: skip
        return await handler(request)

    async def _post_run(self, request: web.Request) -> web.Response:
        if self._run is not None and not self._run.done.is_set():
            return self._run_refused("a run is already going")
        try:
            body = await _optional_json(request)
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object")
            settings = self.config.run_defaults().overridden(body).checked()
        except ValueError as exc:
            return self._run_refused(str(exc))
        assert self._load_session is not None
        self._run = LoadRun(settings, self._load_session, self.metrics)
        self._run_task = asyncio.create_task(self._drive(self._run), name="load run")
        return web.json_response({"status": "started", "num_clients": settings.num_clients})

    @staticmethod
    def _run_refused(detail: str) -> web.Response:
        log.warning("run refused", detail=detail)
        # 200, as the document has it: the service's fan-out reads the status from the body.
        return web.json_response({"status": "error", "num_clients": 0, "detail": detail})

    async def _get_status(self, _: web.Request) -> web.Response:
        figures = self.figures()
        return web.json_response({
            "benchmark_id": self.config.benchmark_id,
            "num_clients": self.config.num_clients,
            "server_addr": self.config.server_addr,
            "client_service_addr": self.config.service_url,
            "local_address": self.local_address,
            "created_at": self.created_at,
            "running": figures.running,
            "figures": figures.to_json(),
        })  # fmt: skip

    async def _post_observer(self, request: web.Request) -> web.Response:
        try:
            observer = Observer.from_body(await _optional_json(request))
        except ValueError as exc:
            return web.json_response({"status": "error", "detail": str(exc)})
        assert self._observers is not None
        self._observers.add(observer)
        return web.json_response({"status": "observer_added"})

    async def _get_metrics(self, _: web.Request) -> web.Response:
        return web.Response(body=self.metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    # --- runs, pushes and reports -------------------------------------------------------

    def figures(self) -> LoadFigures:
        """The current run's figures, else the last one's, else zeros."""
        return self._run.figures if self._run is not None else self._no_run_yet

    def observer_push(self) -> dict[str, Any]:
        return {"benchmark_id": self.config.benchmark_id, "local_address": self.local_address,
                "figures": self.figures().to_json(), "time": time.time()}  # fmt: skip

    async def _drive(self, run: LoadRun) -> None:
        reporter = asyncio.create_task(self._report_while_running(run)) if self._service else None
        try:
            await run.run()
        finally:
            if reporter is not None:
                reporter.cancel()
        await self._announce_end()

    async def _report_while_running(self, run: LoadRun) -> None:
        assert self._service is not None
        while True:
            try:
                await asyncio.wait_for(run.done.wait(), self.config.report_interval)
                return  # the end's report is _announce_end's
            except TimeoutError:
                await self._service.report_figures(self.local_address, run.figures.to_json())

    async def _announce_end(self) -> None:
        """The figures once more to every observer and to the service, all at once."""
        calls = [self._observers.push_all()] if self._observers is not None else []
        if self._service is not None and self._run is not None:
            calls.append(self._service.report_figures(self.local_address, self._run.figures.to_json()))
        await asyncio.gather(*calls)

    # --- lifetime -----------------------------------------------------------------------

    async def serve(self, stop: asyncio.Event) -> int:
        """Listen, register, serve until `stop` is set; the exit code."""
        c = self.config
        sock = listening_socket(c.host, c.port)
        port = sock.getsockname()[1]
        self.local_address = _http_address(c.advertise_host or advertised_host(c.host, c.service_url), port)
        # The load clients' pool holds a connection per client; pushes and reports have their own,
        # so that a busy run never queues them.
        self._load_session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=max(c.num_clients, 1)))
        control_session = aiohttp.ClientSession()
        if c.service_url:
            self._service = ServiceClient(c.service_url, c.benchmark_id, control_session, c.api_key)
        self._observers = Observers(control_session, self.observer_push)
        runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await runner.setup()
        try:
            await web.SockSite(runner, sock).start()
            log.info("listening", local_address=self.local_address, port=port)
            if c.ready_file is not None:
                _write_ready_file(c.ready_file, self.local_address, port)
            return await self._register_then_wait(stop)
        finally:
            await self._shutdown()
            await runner.cleanup()
            await self._load_session.close()
            await control_session.close()

    async def _register_then_wait(self, stop: asyncio.Event) -> int:
        if self._service is not None:
            registration = asyncio.create_task(self._service.register(self.local_address, self.config.register_timeout))
            stopping = asyncio.create_task(stop.wait())
            await asyncio.wait({registration, stopping}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if not registration.done():
                registration.cancel()
                return 0
            try:
                registration.result()
            except RegistrationFailed as exc:
                log.error("registration failed", error=str(exc))
                return 1
        await stop.wait()
        return 0

    async def _shutdown(self) -> None:
        """Stop the clients, push and report the final figures (bounded), stop the observers."""
        if self._run_task is not None and not self._run_task.done():
            self._run_task.cancel()
            await asyncio.gather(self._run_task, return_exceptions=True)
        try:
            await asyncio.wait_for(self._announce_end(), FINAL_PUSH_SECONDS)
        except TimeoutError:
            log.warning("final figures not all delivered", within_seconds=FINAL_PUSH_SECONDS)
        if self._observers is not None:
            await self._observers.close()
        log.info("stopped", **{k: v for k, v in self.figures().to_json().items() if k in ("requests", "errors")})
