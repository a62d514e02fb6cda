"""Profiling frames in SQLite (schema 14): a session is a window over them by time and nodes, pages
walk it in order, and frames past the retention are deleted while the sessions stay."""

from __future__ import annotations

from pathlib import Path

from controller.domain.profiling import Frame, ProfilingSession, ProfilingSessions
from controller.domain.registry import NodeRegistry
from controller.store.sqlite_store import SqliteStore


async def test_a_session_is_its_window_and_old_frames_are_pruned(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "aifarm.db")
    now = [1000.0]
    try:
        sessions = ProfilingSessions(store.profiling(), NodeRegistry(ttl_seconds=10, grace_seconds=10),
                                     clock=lambda: now[0], retention_seconds=100)  # fmt: skip
        both = await sessions.start(ProfilingSession("both"))
        only_a = await sessions.start(ProfilingSession("only-a", nodes=("a",)))
        await sessions.ingest("a", [(1000.0 + i, f"a{i}".encode()) for i in range(5)])
        await sessions.ingest("b", [(1000.5 + i, f"b{i}".encode()) for i in range(5)])
        await sessions.ingest("a", [(999.0, b"before")])  # measured before the sessions began
        await sessions.ingest("a", [(1000.0 + i, f"a{i}".encode()) for i in range(5)])  # a replay after a lost ack
        assert await sessions.count(both) == 10 and await sessions.count(only_a) == 5
        page = await sessions.frames(both, limit=4)
        rest = await sessions.frames(both, after=(page[-1][1].time, page[-1][0]), limit=100)
        assert [f.payload for _, f in page + rest] == [b"a0", b"b0", b"a1", b"b1", b"a2", b"b2", b"a3", b"b3", b"a4", b"b4"]
        assert [f.payload for f in await sessions.all_frames(only_a)] == [b"a0", b"a1", b"a2", b"a3", b"a4"]
        now[0] = 1000.0 + 5
        stopped = await sessions.stop("both")
        await sessions.ingest("b", [(2000.0, b"after")])
        assert await sessions.count(stopped) == 10, "a stopped session holds only its window"
        assert sessions.latest()["b"].payload == b"after"

        now[0] = 1102.5  # retention 100 s: frames before 1002.5 go
        assert await sessions.prune() == 6  # 999, a0 1000, b0 1000.5, a1 1001, b1 1001.5, a2 1002
        assert await sessions.count(stopped) == 5 and (await sessions.get("both")).end_time == 1005.0
    finally:
        await store.close()
