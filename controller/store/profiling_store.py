"""Profiling sessions and frames in SQLite (schema 14). A frame is kept as its node, its time and its
encoded bytes: the store never looks inside, and a session is a query over time and nodes."""

from __future__ import annotations

import json
from collections.abc import Sequence

from controller.domain.profiling import Frame, ProfilingSession
from controller.store.db import Database

_COLUMNS = "id, sampling_frequency_ms, report_metrics, nodes, enable_nvlink, enable_bandwidth, start_time, end_time"


def _session(row: Sequence) -> ProfilingSession:
    return ProfilingSession(id=row[0], sampling_frequency_ms=row[1], report_metrics=tuple(json.loads(row[2])),
                            nodes=tuple(json.loads(row[3])), enable_nvlink=bool(row[4]), enable_bandwidth=bool(row[5]),
                            start_time=row[6], end_time=row[7])  # fmt: skip


def _window(session: ProfilingSession) -> tuple[str, list[object]]:
    """The WHERE clause of a session's frames, and its parameters."""
    clause, params = "time >= ?", [session.start_time]
    if session.end_time:
        clause += " AND time <= ?"
        params.append(session.end_time)
    if session.nodes:
        clause += f" AND node_id IN ({','.join('?' * len(session.nodes))})"
        params.extend(session.nodes)
    return clause, params


class SqliteProfilingStore:
    """Implements controller.domain.profiling.ProfilingStore."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def add_session(self, session: ProfilingSession) -> bool:
        """False when the id is taken."""
        async with self.db.write() as conn:
            cur = await conn.execute(f"INSERT OR IGNORE INTO profiling_sessions ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?)", (
                session.id, session.sampling_frequency_ms, json.dumps(list(session.report_metrics)),
                json.dumps(list(session.nodes)), int(session.enable_nvlink), int(session.enable_bandwidth),
                session.start_time, session.end_time))  # fmt: skip
            return cur.rowcount == 1

    async def end_session(self, session_id: str, end_time: float) -> None:
        async with self.db.write() as conn:
            await conn.execute("UPDATE profiling_sessions SET end_time = ? WHERE id = ?", (end_time, session_id))

    async def sessions(self) -> list[ProfilingSession]:
        async with self.db.read() as conn:
            rows = await conn.execute_fetchall(f"SELECT {_COLUMNS} FROM profiling_sessions ORDER BY start_time DESC, id")
        return [_session(r) for r in rows]

    async def add_frames(self, frames: Sequence[Frame]) -> None:
        async with self.db.write() as conn:
            # OR IGNORE: a batch replayed after a lost ack holds frames already here (node and time say so).
            await conn.executemany("INSERT OR IGNORE INTO profiling_frames (node_id, time, frame) VALUES (?, ?, ?)",
                                   [(f.node_id, f.time, f.payload) for f in frames])  # fmt: skip

    async def frames(self, session: ProfilingSession, *, after: tuple[float, int] = (0.0, 0), limit: int = 1000) -> list[tuple[int, Frame]]:
        """(rowid, frame) of the session's frames after `after` (time, rowid), oldest first."""
        clause, params = _window(session)
        async with self.db.read() as conn:
            rows = await conn.execute_fetchall(
                f"SELECT rowid, node_id, time, frame FROM profiling_frames WHERE {clause} AND (time, rowid) > (?, ?)"
                " ORDER BY time, rowid LIMIT ?", (*params, *after, limit))  # fmt: skip
        return [(r[0], Frame(r[1], r[2], bytes(r[3]))) for r in rows]

    async def count_frames(self, session: ProfilingSession) -> int:
        clause, params = _window(session)
        async with self.db.read() as conn:
            rows = await conn.execute_fetchall(f"SELECT COUNT(*) FROM profiling_frames WHERE {clause}", params)
        return int(rows[0][0])

    async def delete_frames_before(self, moment: float) -> int:
        async with self.db.write() as conn:
            cur = await conn.execute("DELETE FROM profiling_frames WHERE time < ?", (moment,))
            return cur.rowcount
