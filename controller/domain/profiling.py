"""Profiling sessions: named windows over the farm's one sampling stream.

While any session is active, every node samples at the highest frequency an active session asks
for (the smallest `sampling_frequency_ms`) and sends its frames up its stream; none active, nobody
samples. Frames are stored once, by node and time; a session is the frames of its nodes between
its start and its end, so sessions overlap freely and cost nothing but their row. A frame is kept
as the bytes the node sent (aifarm.v1.ProfilingFrame): the domain never looks inside.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import structlog

from controller.domain.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from controller.domain.registry import NodeRegistry, ProfilingControlMessage
from controller.domain.types import Clock

log = structlog.get_logger(__name__)

SESSION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
DEFAULT_FREQUENCY_MS = 1000
MIN_FREQUENCY_MS = 100
MAX_FREQUENCY_MS = 60_000
MAX_FRAMES_A_PAGE = 10_000
#: How often frames past the retention are deleted.
PRUNE_SECONDS = 600.0


@dataclass(frozen=True)
class ProfilingSession:
    id: str
    sampling_frequency_ms: int = DEFAULT_FREQUENCY_MS
    report_metrics: tuple[str, ...] = ()
    #: Node ids; empty: every node.
    nodes: tuple[str, ...] = ()
    enable_nvlink: bool = False
    enable_bandwidth: bool = False
    start_time: float = 0.0
    #: 0 while active.
    end_time: float = 0.0

    @property
    def active(self) -> bool:
        return not self.end_time


@dataclass(frozen=True)
class Sampling:
    """What a set of sessions asks the nodes for together: the fastest rate, and every extra figure one asks."""

    sampling_frequency_ms: int = DEFAULT_FREQUENCY_MS
    enable_nvlink: bool = False
    enable_bandwidth: bool = False

    @classmethod
    def of(cls, sessions: Sequence[ProfilingSession]) -> Sampling:
        if not sessions:
            return cls()
        return cls(min(s.sampling_frequency_ms for s in sessions), any(s.enable_nvlink for s in sessions),
                   any(s.enable_bandwidth for s in sessions))  # fmt: skip


@dataclass(frozen=True)
class Frame:
    node_id: str
    time: float
    #: The encoded aifarm.v1.ProfilingFrame the node sent.
    payload: bytes


class ProfilingStore(Protocol):
    async def add_session(self, session: ProfilingSession) -> bool:
        """Store a new session; False when its id is taken."""

    async def end_session(self, session_id: str, end_time: float) -> None: ...

    async def sessions(self) -> list[ProfilingSession]:
        """Newest first."""

    async def add_frames(self, frames: Sequence[Frame]) -> None: ...

    async def frames(self, session: ProfilingSession, *, after: tuple[float, int] = (0.0, 0),
                     limit: int = 1000) -> list[tuple[int, Frame]]:  # fmt: skip
        """(position, frame) of the session's frames after `after` (time, position), oldest first."""

    async def count_frames(self, session: ProfilingSession) -> int: ...

    async def delete_frames_before(self, moment: float) -> int:
        """Delete frames measured before `moment`; how many."""


class ProfilingSessions:
    def __init__(self, store: ProfilingStore, registry: NodeRegistry, *, clock: Clock = time.time,
                 retention_seconds: float = 0.0) -> None:  # fmt: skip
        self.store = store
        self.registry = registry
        self.clock = clock
        #: Frames older than this are deleted by `run` (0: kept for ever).
        self.retention_seconds = retention_seconds
        #: The active sessions, by id (loaded at start: they survive a restart).
        self._active: dict[str, ProfilingSession] = {}
        #: Each node's newest frame since this controller started (gswarm's /metrics/latest).
        self._latest: dict[str, Frame] = {}
        #: gswarm's head-wide toggles (SetNVLinkProfiling, SetBandwidthProfiling): the figures the
        #: sessions started through its profiler service ask for.
        self.default_nvlink = False
        self.default_bandwidth = False

    async def load(self) -> None:
        self._active = {s.id: s for s in await self.store.sessions() if s.active}

    async def start(self, session: ProfilingSession) -> ProfilingSession:
        session_id = session.id or uuid.uuid4().hex[:12]
        if not SESSION_ID.match(session_id):
            raise InvalidArgument(f"invalid session name {session_id!r}: use 1-63 letters, digits, '-', '_' or '.'")
        frequency = session.sampling_frequency_ms or DEFAULT_FREQUENCY_MS
        if not MIN_FREQUENCY_MS <= frequency <= MAX_FREQUENCY_MS:
            raise InvalidArgument(f"sampling_frequency_ms must be {MIN_FREQUENCY_MS} to {MAX_FREQUENCY_MS}, not {frequency}")
        if len(session.report_metrics) > 64 or len(session.nodes) > 10_000:
            raise InvalidArgument("a session names at most 64 report_metrics and 10000 nodes")
        started = replace(session, id=session_id, sampling_frequency_ms=frequency, start_time=self.clock(), end_time=0.0)
        if not await self.store.add_session(started):
            raise AlreadyExists(f"profiling session {session_id!r} already exists", reason="SESSION_EXISTS")
        self._active[session_id] = started
        log.info("profiling session started", session=session_id, frequency_ms=frequency, nodes=len(session.nodes))
        self._tell_nodes()
        return started

    async def stop(self, session_id: str) -> ProfilingSession:
        session = await self.get(session_id)
        if not session.active:
            raise FailedPrecondition(f"profiling session {session_id!r} has already stopped", reason="SESSION_STOPPED")
        stopped = replace(session, end_time=self.clock())
        await self.store.end_session(session_id, stopped.end_time)
        self._active.pop(session_id, None)
        log.info("profiling session stopped", session=session_id)
        self._tell_nodes()
        return stopped

    async def get(self, session_id: str) -> ProfilingSession:
        if (session := self._active.get(session_id)) is not None:
            return session
        found = next((s for s in await self.store.sessions() if s.id == session_id), None)
        if found is None:
            raise NotFound(f"profiling session {session_id!r} not found", reason="SESSION_NOT_FOUND")
        return found

    async def list(self, *, active_only: bool = False) -> list[ProfilingSession]:
        if active_only:
            return sorted(self._active.values(), key=lambda s: (-s.start_time, s.id))
        return await self.store.sessions()

    def active(self) -> list[ProfilingSession]:
        """The active sessions, oldest first."""
        return sorted(self._active.values(), key=lambda s: (s.start_time, s.id))

    def sampling(self) -> Sampling:
        """What the active sessions ask for together."""
        return Sampling.of(self.active())

    async def frames(self, session: ProfilingSession, *, after: tuple[float, int] = (0.0, 0),
                     limit: int = 1000) -> list[tuple[int, Frame]]:  # fmt: skip
        if not 0 < limit <= MAX_FRAMES_A_PAGE:
            raise InvalidArgument(f"page_size is 1 to {MAX_FRAMES_A_PAGE}, not {limit}")
        return await self.store.frames(session, after=after, limit=limit)

    async def all_frames(self, session: ProfilingSession) -> list[Frame]:
        """Every frame of a session, oldest first (for its report; a page at a time from the store)."""
        frames: list[Frame] = []
        after = (0.0, 0)
        while page := await self.store.frames(session, after=after, limit=MAX_FRAMES_A_PAGE):
            frames += [f for _, f in page]
            after = (page[-1][1].time, page[-1][0])
        return frames

    async def count(self, session: ProfilingSession) -> int:
        return await self.store.count_frames(session)

    async def ingest(self, node_id: str, frames: Sequence[tuple[float, bytes]]) -> None:
        """A node's frames; kept whether or not a session wants them now (a late batch after a stop
        still belongs to the window it was measured in)."""
        if not frames:
            return
        kept = [Frame(node_id, t, payload) for t, payload in frames]
        await self.store.add_frames(kept)
        newest = max(kept, key=lambda f: f.time)
        if node_id not in self._latest or newest.time >= self._latest[node_id].time:
            self._latest[node_id] = newest

    def latest(self) -> dict[str, Frame]:
        """Each node's newest frame, by node id."""
        return dict(self._latest)

    async def stop_all(self) -> list[ProfilingSession]:
        return [await self.stop(session_id) for session_id in list(self._active)]

    async def prune(self) -> int:
        """Delete the frames older than the retention (the sessions keep their rows); how many went."""
        if not self.retention_seconds:
            return 0
        deleted = await self.store.delete_frames_before(self.clock() - self.retention_seconds)
        if deleted:
            log.info("old profiling frames deleted", frames=deleted, retention_seconds=self.retention_seconds)
        return deleted

    async def run(self) -> None:
        """Prune every PRUNE_SECONDS; a failed pass is tried again on the next."""
        while True:
            try:
                await self.prune()
            except Exception:  # noqa: BLE001 - logged; frames stay until the next pass
                log.exception("pruning profiling frames failed; retrying later")
            await asyncio.sleep(PRUNE_SECONDS)

    def control_for(self, node_id: str) -> ProfilingControlMessage:
        """What `node_id` should sample now: the fastest rate of the active sessions that record it."""
        mine = [s for s in self._active.values() if not s.nodes or node_id in s.nodes]
        if not mine:
            return ProfilingControlMessage(enabled=False)
        wanted = Sampling.of(mine)
        return ProfilingControlMessage(enabled=True, sampling_frequency_ms=wanted.sampling_frequency_ms,
                                       enable_nvlink=wanted.enable_nvlink, enable_bandwidth=wanted.enable_bandwidth)  # fmt: skip

    def _tell_nodes(self) -> None:
        for node_id in self.registry.sampling_nodes():
            self.registry.send(node_id, self.control_for(node_id))
