"""AI Factory client groups: benchmark load, one execution-backend job per group.

A group (a benchmark id) is one job of an `ExecutionBackend` (Slurm, or a task of aifarm's own
agents) that starts one client process with the group's number of load clients and time limit.
The process registers its address back (`connect`); `run` asks every registered process to start
its clients; observers (global) are handed to every process now and later, and each process
reports its figures here, so the results outlive the job. The backend's word on the job is read
back (`watch`): a job that ended (deleted, timed out, failed) leaves its group `ended` with why.
Groups and observers are kept in the store, so a controller restart keeps them and their jobs.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol
from urllib.parse import urlsplit

import structlog

from controller.domain.errors import AlreadyExists, InvalidArgument, NotFound, Unavailable
from controller.domain.types import Clock

log = structlog.get_logger(__name__)

DEFAULT_TIME_LIMIT_MINUTES = 5
MAX_TIME_LIMIT_MINUTES = 7 * 24 * 60
MAX_CLIENTS = 10_000
#: How often the backend is asked about the jobs of groups that have not ended.
WATCH_SECONDS = 2.0


class GroupState(enum.Enum):
    SUBMITTED = "submitted"
    #: A client process registered.
    RUNNING = "running"
    ENDED = "ended"


@dataclass(frozen=True)
class ClientGroup:
    benchmark_id: int
    num_clients: int
    time_limit_minutes: int
    server_addr: str
    created_at: float
    #: The backend's job: "slurm:42", "aifarm:aifactory-123-1a2b".
    job_id: str = ""
    state: GroupState = GroupState.SUBMITTED
    state_reason: str = ""
    client_addresses: tuple[str, ...] = ()
    #: The newest figures each client process reported, by its address, kept as sent.
    figures: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Observer:
    ip_address: str
    port: int
    update_preferences: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.ip_address}:{self.port}"

    def as_body(self) -> dict[str, Any]:
        """The body a client process's POST /observer takes."""
        return {"ip_address": self.ip_address, "port": str(self.port), "update_preferences": dict(self.update_preferences)}


@dataclass(frozen=True)
class ClientLaunch:
    """What a backend's job starts: one client process of the group."""

    benchmark_id: int
    num_clients: int
    time_limit_minutes: int
    server_addr: str
    #: Where the process registers and reports (the aifactory listener's /api/v1).
    service_url: str


@dataclass(frozen=True)
class JobStatus:
    ended: bool
    #: The backend's words ("RUNNING", "TIMEOUT", "CANCELLED", "task completed", ...).
    reason: str = ""


@dataclass(frozen=True)
class ProcessAnswer:
    """What a client process answered (status 0: it could not be reached; body: why)."""

    address: str
    status_code: int
    body: str

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 300


class ExecutionBackend(Protocol):
    """Where a group's job runs. Job ids are the backend's own; `ClientGroups` prefixes them with `name`."""

    name: str

    async def submit(self, launch: ClientLaunch) -> str:
        """Start the job; its id. Unavailable when the backend cannot take jobs now (and why)."""

    async def cancel(self, job_id: str) -> None:
        """End the job (nothing when it has ended already)."""

    async def status(self, job_id: str) -> JobStatus: ...


class ClientProcessCaller(Protocol):
    """How the controller reaches a client process (HTTP)."""

    async def post(self, address: str, path: str, body: Mapping[str, Any] | None) -> ProcessAnswer: ...


class ClientGroupStore(Protocol):
    async def put_group(self, group: ClientGroup) -> None: ...

    async def delete_group(self, benchmark_id: int) -> None: ...

    async def groups(self) -> list[ClientGroup]: ...

    async def put_observer(self, observer: Observer) -> None: ...

    async def observers(self) -> list[Observer]: ...


class ClientGroups:
    def __init__(self, store: ClientGroupStore, backends: Mapping[str, ExecutionBackend], backend: str,
                 caller: ClientProcessCaller, *, service_url: str, default_target: str = "",
                 clock: Clock = time.time) -> None:  # fmt: skip
        if backend not in backends:
            raise ValueError(f"no execution backend {backend!r}: there are {', '.join(sorted(backends))}")
        self.store = store
        self.backends = backends
        #: The backend new groups go to (`--aifactory-backend`).
        self.backend = backend
        self.caller = caller
        self.service_url = service_url.rstrip("/")
        self.default_target = default_target
        self.clock = clock
        self._groups: dict[int, ClientGroup] = {}
        self._observers: dict[str, Observer] = {}
        #: Creates and deletes of one id wait for each other (a job is submitted once).
        self._lock = asyncio.Lock()

    async def load(self) -> None:
        self._groups = {g.benchmark_id: g for g in await self.store.groups()}
        self._observers = {o.key: o for o in await self.store.observers()}

    # Reading ---------------------------------------------------------------------------------------

    def get(self, benchmark_id: int) -> ClientGroup:
        group = self._groups.get(benchmark_id)
        if group is None:
            raise NotFound("Benchmark id not found")
        return group

    def list(self) -> list[ClientGroup]:
        return sorted(self._groups.values(), key=lambda g: (g.created_at, g.benchmark_id))

    def observers(self) -> list[Observer]:
        return list(self._observers.values())

    # Changing --------------------------------------------------------------------------------------

    async def create(self, benchmark_id: int, num_clients: int | None, time_limit_minutes: int | None = None,
                     server_addr: str = "") -> ClientGroup:  # fmt: skip
        """Submit the group's job; the group is kept only once the backend took it."""
        launch = self._launch(benchmark_id, num_clients, time_limit_minutes, server_addr)
        async with self._lock:
            if benchmark_id in self._groups:
                raise AlreadyExists("Group already exists")
            backend = self.backends[self.backend]
            job = await backend.submit(launch)
            group = ClientGroup(benchmark_id, launch.num_clients, launch.time_limit_minutes, launch.server_addr,
                                self.clock(), job_id=f"{backend.name}:{job}")  # fmt: skip
            await self._put(group)
        log.info("client group created", benchmark_id=benchmark_id, job_id=group.job_id, num_clients=group.num_clients)
        return group

    def _launch(self, benchmark_id: int, num_clients: int | None, time_limit: int | None, server_addr: str) -> ClientLaunch:
        if benchmark_id < 0:
            raise InvalidArgument(f"benchmark_id must be 0 or more, not {benchmark_id}")
        if num_clients is None:
            raise InvalidArgument("num_clients is required: how many load clients the group runs")
        if not 1 <= num_clients <= MAX_CLIENTS:
            raise InvalidArgument(f"num_clients must be 1 to {MAX_CLIENTS}, not {num_clients}")
        limit = DEFAULT_TIME_LIMIT_MINUTES if time_limit is None else time_limit
        if not 1 <= limit <= MAX_TIME_LIMIT_MINUTES:
            raise InvalidArgument(f"time_limit must be 1 to {MAX_TIME_LIMIT_MINUTES} minutes, not {limit}")
        target = server_addr or self.default_target
        if target:
            _check_url(target, "server_addr")
        return ClientLaunch(benchmark_id, num_clients, limit, target, self.service_url)

    async def delete(self, benchmark_id: int) -> ClientGroup:
        """End the group's job and forget the group."""
        async with self._lock:
            group = self.get(benchmark_id)
            backend_name, _, job = group.job_id.partition(":")
            if group.state is not GroupState.ENDED and (backend := self.backends.get(backend_name)) is not None:
                await backend.cancel(job)
            await self.store.delete_group(benchmark_id)
            self._groups.pop(benchmark_id, None)
        log.info("client group deleted", benchmark_id=benchmark_id, job_id=group.job_id)
        return group

    async def connect(self, benchmark_id: int, address: str) -> ClientGroup:
        """A client process of the group registered; it is handed every observer."""
        _check_url(address, "client_address")
        address = address.rstrip("/")
        group = self.get(benchmark_id)
        if address not in group.client_addresses:
            group = replace(group, client_addresses=(*group.client_addresses, address))
        if group.state is GroupState.SUBMITTED:
            group = replace(group, state=GroupState.RUNNING)
        await self._put(group)
        log.info("client process registered", benchmark_id=benchmark_id, client_address=address)
        for observer in self._observers.values():
            await self._give(address, observer)
        return group

    async def run(self, benchmark_id: int, options: Mapping[str, Any] | None = None) -> list[ProcessAnswer]:
        """POST /run to every registered client process of the group, at once."""
        group = self.get(benchmark_id)
        if not group.client_addresses:
            raise Unavailable(f"client group {benchmark_id} has no registered client process yet ({group.state.value}"
                              f"{': ' + group.state_reason if group.state_reason else ''}): wait for its job to start")  # fmt: skip
        answers = await asyncio.gather(*(self.caller.post(a, "/run", options) for a in group.client_addresses))
        if not any(a.ok for a in answers):
            raise Unavailable("Unexpected error while running client group: "
                              + "; ".join(f"{a.address}: {a.status_code or a.body}" for a in answers))  # fmt: skip
        return list(answers)

    async def add_observer(self, ip_address: str, port: Any, update_preferences: Mapping[str, Any]) -> Observer:
        """Kept, and handed to every registered client process of the groups that have not ended."""
        observer = Observer(_host(ip_address), _port(port), dict(update_preferences))
        await self.store.put_observer(observer)
        self._observers[observer.key] = observer
        addresses = [a for g in self._groups.values() if g.state is not GroupState.ENDED for a in g.client_addresses]
        await asyncio.gather(*(self._give(a, observer) for a in addresses))
        log.info("observer added", observer=observer.key, client_processes=len(addresses))
        return observer

    async def _give(self, address: str, observer: Observer) -> None:
        answer = await self.caller.post(address, "/observer", observer.as_body())
        if not answer.ok:  # the process may be gone; a new one is given every observer when it connects
            log.warning("a client process did not take an observer", client_address=address, observer=observer.key,
                        status_code=answer.status_code, body=answer.body[:200])  # fmt: skip

    async def report_figures(self, benchmark_id: int, address: str, figures: Mapping[str, Any]) -> None:
        group = self.get(benchmark_id)
        address = address.rstrip("/")
        if address not in group.client_addresses:
            raise InvalidArgument(f"{address!r} is not a registered client process of group {benchmark_id}: connect first")
        await self._put(replace(group, figures={**group.figures, address: dict(figures)}))

    async def _put(self, group: ClientGroup) -> None:
        await self.store.put_group(group)
        self._groups[group.benchmark_id] = group

    # The backends' word on the jobs ------------------------------------------------------------------

    async def watch_once(self) -> None:
        for group in [g for g in self._groups.values() if g.state is not GroupState.ENDED]:
            backend_name, _, job = group.job_id.partition(":")
            backend = self.backends.get(backend_name)
            if backend is None:
                continue  # a backend this controller was not started with: left as it is
            try:
                status = await backend.status(job)
            except Unavailable as exc:
                log.warning("a client group's job could not be read back", benchmark_id=group.benchmark_id, error=str(exc))
                continue
            current = self._groups.get(group.benchmark_id)
            if status.ended and current is not None and current.state is not GroupState.ENDED:
                await self._put(replace(current, state=GroupState.ENDED, state_reason=status.reason))
                log.info("client group's job ended", benchmark_id=group.benchmark_id, job_id=group.job_id,
                         reason=status.reason)  # fmt: skip

    async def watch(self, interval: float = WATCH_SECONDS) -> None:
        while True:
            await self.watch_once()
            await asyncio.sleep(interval)


def _check_url(url: str, what: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidArgument(f"{what} {url[:200]!r} is not an http(s):// URL with a host")


def _host(text: str) -> str:
    host = text.strip()
    if not host or len(host) > 253 or any(c in host for c in "/ @?#"):
        raise InvalidArgument(f"ip_address {text[:100]!r} is not a host name or address")
    return host


def _port(value: Any) -> int:
    try:
        port = int(str(value).strip())
    except ValueError:
        raise InvalidArgument(f"port {str(value)[:20]!r} is not a number") from None
    if not 1 <= port <= 65535:
        raise InvalidArgument(f"port {port} is not 1 to 65535")
    return port

