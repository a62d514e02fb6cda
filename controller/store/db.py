"""The SQLite connection: WAL mode, migrations, and one write transaction at a time.

Every SQL statement of the controller lives in this package. A write is wrapped
in `Database.write()`, which serialises writers (aiosqlite has one connection,
so interleaved coroutines would otherwise share a transaction) and commits
before returning, so anything acknowledged to a client is on disk.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import AsyncIterator

import aiosqlite
import structlog

log = structlog.get_logger(__name__)

#: Each entry migrates from version i to i+1. Never edit one that has shipped.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE tasks (
        id TEXT PRIMARY KEY,
        request_id TEXT UNIQUE,
        display_name TEXT NOT NULL,
        kind TEXT NOT NULL,
        spec TEXT NOT NULL,
        resources TEXT NOT NULL,
        priority INTEGER NOT NULL,
        depends_on TEXT NOT NULL,
        time_limit_seconds INTEGER NOT NULL,
        max_retries INTEGER NOT NULL,
        labels TEXT NOT NULL,
        state TEXT NOT NULL,
        state_reason TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        failures INTEGER NOT NULL,
        node_id TEXT NOT NULL,
        gpu_indices TEXT NOT NULL,
        progress REAL NOT NULL,
        metrics TEXT NOT NULL,
        exit_code INTEGER NOT NULL,
        output_sha256 TEXT NOT NULL,
        error TEXT NOT NULL,
        create_time REAL NOT NULL,
        start_time REAL NOT NULL,
        end_time REAL NOT NULL,
        update_time REAL NOT NULL
    );
    CREATE INDEX tasks_state ON tasks(state);
    CREATE INDEX tasks_create_time ON tasks(create_time);
    CREATE TABLE task_logs (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        task_id TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        line_no INTEGER NOT NULL,
        stream TEXT NOT NULL,
        text TEXT NOT NULL,
        time REAL NOT NULL,
        UNIQUE (task_id, attempt, line_no)
    );
    CREATE TABLE task_metrics (
        task_id TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        epoch INTEGER NOT NULL,
        ord INTEGER NOT NULL,
        metric_values TEXT NOT NULL,
        time REAL NOT NULL,
        PRIMARY KEY (task_id, attempt, epoch)
    );
    CREATE TABLE artifacts (
        task_id TEXT NOT NULL,
        file_name TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        size_bytes INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        PRIMARY KEY (task_id, file_name)
    );
    CREATE TABLE nodes (
        id TEXT PRIMARY KEY,
        hostname TEXT NOT NULL,
        state TEXT NOT NULL,
        capabilities TEXT NOT NULL,
        labels TEXT NOT NULL,
        agent_version TEXT NOT NULL,
        create_time REAL NOT NULL,
        last_seen REAL NOT NULL
    );
    CREATE TABLE datasets (
        id TEXT PRIMARY KEY,
        format TEXT NOT NULL,
        size_bytes INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        description TEXT NOT NULL,
        create_time REAL NOT NULL
    );
    """,
    """
    ALTER TABLE tasks ADD COLUMN concurrency_group TEXT NOT NULL DEFAULT '';
    ALTER TABLE tasks ADD COLUMN output_model TEXT NOT NULL DEFAULT '';
    CREATE INDEX tasks_group ON tasks(concurrency_group, state);
    CREATE TABLE models (
        name TEXT PRIMARY KEY,
        size_bytes INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        source_task_id TEXT NOT NULL,
        create_time REAL NOT NULL
    );
    ALTER TABLE datasets ADD COLUMN sample_count INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE datasets ADD COLUMN dimensions TEXT NOT NULL DEFAULT '';
    """,
    """
    ALTER TABLE tasks ADD COLUMN held INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE task_attempts (
        task_id TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        node_id TEXT NOT NULL,
        state TEXT NOT NULL,
        start_time REAL NOT NULL,
        end_time REAL NOT NULL,
        exit_code INTEGER NOT NULL,
        output_sha256 TEXT NOT NULL,
        error TEXT NOT NULL,
        PRIMARY KEY (task_id, attempt)
    );
    """,
]


class Database:
    """One aiosqlite connection with serialised write transactions."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn
        self._write_lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path) -> Database:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(path, isolation_level=None)
        conn.row_factory = aiosqlite.Row
        await conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL is durable across process crashes in WAL mode; FULL adds an fsync per commit.
        await conn.execute("PRAGMA synchronous=NORMAL")
        await conn.execute("PRAGMA foreign_keys=ON")
        db = cls(conn)
        try:
            await db._migrate()
        except BaseException:
            await conn.close()
            raise
        return db

    async def _migrate(self) -> None:
        async with self.conn.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        version = int(row[0]) if row else 0
        if version > len(MIGRATIONS):
            raise RuntimeError(
                f"database schema version {version} is newer than this aifarm "
                f"({len(MIGRATIONS)}); upgrade aifarm or use another --data-dir"
            )
        for target, script in enumerate(MIGRATIONS[version:], start=version + 1):
            async with self.write() as conn:
                for statement in filter(str.strip, script.split(";")):
                    await conn.execute(statement)
                await conn.execute(f"PRAGMA user_version={target}")
            log.info("database migrated", version=target)

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[aiosqlite.Connection]:
        """A write transaction, committed on exit and rolled back on error."""
        async with self._write_lock:
            await self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                await self.conn.execute("ROLLBACK")
                raise
            await self.conn.execute("COMMIT")

    async def ping(self) -> bool:
        try:
            async with self.conn.execute("SELECT 1") as cur:
                return (await cur.fetchone()) is not None
        except Exception:  # noqa: BLE001 - health reports any failure as unhealthy
            return False

    async def close(self) -> None:
        await self.conn.close()
