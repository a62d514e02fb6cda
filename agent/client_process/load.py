"""The load clients: ``num_clients`` asyncio tasks sending requests to the target server."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, replace
from typing import Any

import aiohttp
import structlog
from yarl import URL

from agent.client_process.figures import LoadFigures
from agent.client_process.metrics import LoadMetrics

log = structlog.get_logger(__name__)

#: After a request that got no answer, a client waits this long, so that a target that
#: refuses connections is not hammered in a hot loop (and the latency list stays small).
ERROR_PAUSE_SECONDS = 0.05
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")
_UNSET = object()


def _check_target(target: str) -> str:
    url = URL(target)
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"the target must be an http(s) URL, not {target!r}")
    return target


@dataclass(frozen=True)
class RunSettings:
    """What one run does; the command line gives the defaults, a ``/run`` body may override them."""

    target: str
    num_clients: int
    requests_per_client: int
    duration: float
    request_timeout: float
    method: str = "GET"
    payload: Any = None

    def overridden(self, body: dict[str, Any]) -> RunSettings:
        """These settings with a ``/run`` body's keys applied; ValueError says what is wrong."""
        unknown = set(body) - {"server_addr", "requests_per_client", "duration", "method", "path", "payload"}
        if unknown:
            raise ValueError(f"unknown keys: {', '.join(sorted(unknown))}")
        changes: dict[str, Any] = {}
        if "server_addr" in body:
            changes["target"] = _string(body, "server_addr")
        if "path" in body:  # appended to the (possibly overridden) server address
            base = changes.get("target", self.target)
            changes["target"] = base.rstrip("/") + "/" + _string(body, "path").lstrip("/")
        if "requests_per_client" in body:
            value = body["requests_per_client"]
            # 7.0 is 7: a body that went through a protobuf Struct has only doubles.
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or value < 1:
                raise ValueError("requests_per_client must be an integer >= 1")
            changes["requests_per_client"] = int(value)
        if "duration" in body:
            value = body["duration"]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError("duration must be a number of seconds >= 0")
            changes["duration"] = float(value)
        payload = body.get("payload", _UNSET)
        if payload is not _UNSET:
            changes["payload"] = payload
            changes["method"] = "POST"  # a payload is sent as a JSON body, unless a method is given
        if "method" in body:
            method = _string(body, "method").upper()
            if method not in METHODS:
                raise ValueError(f"method must be one of {', '.join(METHODS)}")
            changes["method"] = method
        return replace(self, **changes)

    def checked(self) -> RunSettings:
        """ValueError when there is nothing to send requests to."""
        if not self.target:
            raise ValueError("no target: start the process with --server-addr or POST /run {\"server_addr\": ...}")
        _check_target(self.target)
        return self


def _string(body: dict[str, Any], key: str) -> str:
    value = body[key]
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a string")
    return value


class LoadRun:
    """One run: its clients share the process's session (one connection pool for all)."""

    def __init__(self, settings: RunSettings, session: aiohttp.ClientSession, metrics: LoadMetrics) -> None:
        self.settings = settings
        self.figures = LoadFigures.started()
        self.done = asyncio.Event()
        self._session = session
        self._metrics = metrics
        self._timeout = aiohttp.ClientTimeout(total=settings.request_timeout)
        self._failures_logged = 0

    async def run(self) -> LoadFigures:
        """Every client to its end; cancelling this cancels them all, and the figures still end."""
        self._metrics.set_running(True)
        log.info("run started", target=self.settings.target, num_clients=self.settings.num_clients,
                 requests_per_client=self.settings.requests_per_client, duration=self.settings.duration)  # fmt: skip
        try:
            async with asyncio.TaskGroup() as clients:
                for _ in range(self.settings.num_clients):
                    clients.create_task(self._client())
        finally:
            self.figures.end()
            self._metrics.set_running(False)
            self.done.set()
            log.info("run ended", requests=self.figures.requests, errors=self.figures.errors)
        return self.figures

    async def _client(self) -> None:
        loop = asyncio.get_running_loop()
        if self.settings.duration > 0:
            deadline = loop.time() + self.settings.duration
            while loop.time() < deadline:
                await self._one_request()
        else:
            for _ in range(self.settings.requests_per_client):
                await self._one_request()

    async def _one_request(self) -> None:
        s = self.settings
        started = time.perf_counter()
        try:
            async with self._session.request(s.method, s.target, json=s.payload, timeout=self._timeout) as answer:
                await answer.read()  # the whole answer counts, and the connection goes back to the pool
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            self.figures.add_failure()
            self._metrics.observe(False, None)
            self._log_failure(exc)
            await asyncio.sleep(ERROR_PAUSE_SECONDS)
            return
        elapsed = time.perf_counter() - started
        self.figures.add_answer(answer.status, elapsed * 1000)
        self._metrics.observe(200 <= answer.status < 300, elapsed)

    def _log_failure(self, exc: BaseException) -> None:
        # The first few at warning: a dead target would otherwise flood the log.
        self._failures_logged += 1
        if self._failures_logged <= 3:
            log.warning("request failed", target=self.settings.target, error=repr(exc))
