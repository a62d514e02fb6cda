"""The SQLite connections: WAL mode, migrations, one writer, and read-only readers.

Every SQL statement of the controller lives in this package. Writes go through
`Database.write()`, which serialises writers on the one write connection and
commits before returning, so anything acknowledged to a client is on disk.
Reads go through `Database.read()`, which lends one of a few read-only
connections: in WAL mode each statement sees the last committed snapshot, never
a write in progress, and never waits behind one. Every read is one statement, so
it is one snapshot without a transaction a cancelled caller could leave open.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import AsyncIterator

import aiosqlite
import structlog

log = structlog.get_logger(__name__)

#: Read-only connections; each has its own thread, so this many reads run at once.
READERS = 4


async def _specs_as_domain_json(conn: aiosqlite.Connection) -> None:
    """Migration 4, in Python: task specs were stored as the core proto's JSON; store the domain's own.

    Also moves ShelbyCompute's fields out of the user's labels into compat_metadata.
    """
    from controller.store.spec_json import legacy_spec_to_json

    async with conn.execute("SELECT id, kind, spec, labels FROM tasks") as cur:
        rows = await cur.fetchall()
    updates = []
    for row in rows:
        labels = json.loads(row["labels"])
        compat = {}
        if "dataset_name" in labels and "runtime_minutes_estimate" in labels:
            compat = {k: labels.pop(k) for k in _SHELBY_LABELS if k in labels}
        updates.append((legacy_spec_to_json(row["kind"], row["spec"]), json.dumps(labels), json.dumps(compat), row["id"]))
    await conn.executemany("UPDATE tasks SET spec=?, labels=?, compat_metadata=? WHERE id=?", updates)


_SHELBY_LABELS = ("dataset_name", "dataset_url", "dataset_hash", "meta", "runtime_minutes_estimate")


#: Counts of tasks by group and state, kept by the database itself in the transaction that changes a
#: task (never stale): the dashboards' counts and a list's total cost O(groups x states), not a walk of
#: an index of the whole table. A state update that keeps the state fires nothing.
_TASK_COUNTS = (
    """CREATE TABLE task_counts (
        concurrency_group TEXT NOT NULL,
        state TEXT NOT NULL,
        n INTEGER NOT NULL,
        PRIMARY KEY (concurrency_group, state)
    ) WITHOUT ROWID""",
    "INSERT INTO task_counts SELECT concurrency_group, state, COUNT(*) FROM tasks GROUP BY concurrency_group, state",
    """CREATE TRIGGER task_counts_insert AFTER INSERT ON tasks BEGIN
        INSERT INTO task_counts VALUES (NEW.concurrency_group, NEW.state, 1)
            ON CONFLICT (concurrency_group, state) DO UPDATE SET n = n + 1;
    END""",
    """CREATE TRIGGER task_counts_delete AFTER DELETE ON tasks BEGIN
        UPDATE task_counts SET n = n - 1 WHERE concurrency_group = OLD.concurrency_group AND state = OLD.state;
    END""",
    """CREATE TRIGGER task_counts_update AFTER UPDATE OF state, concurrency_group ON tasks
    WHEN OLD.state IS NOT NEW.state OR OLD.concurrency_group IS NOT NEW.concurrency_group BEGIN
        UPDATE task_counts SET n = n - 1 WHERE concurrency_group = OLD.concurrency_group AND state = OLD.state;
        INSERT INTO task_counts VALUES (NEW.concurrency_group, NEW.state, 1)
            ON CONFLICT (concurrency_group, state) DO UPDATE SET n = n + 1;
    END""",
)


async def _task_counts(conn: aiosqlite.Connection) -> None:
    """Migration 9, in Python: its triggers hold semicolons, which the SQL steps split on."""
    for statement in _TASK_COUNTS:
        await conn.execute(statement)


Migration = str | Callable[[aiosqlite.Connection], Awaitable[None]]


#: Each entry migrates from version i to i+1: SQL statements, or a Python step. Never edit one that has shipped.
MIGRATIONS: list[Migration] = [
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
    """
    ALTER TABLE tasks ADD COLUMN compat_metadata TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE tasks ADD COLUMN stopping INTEGER NOT NULL DEFAULT 0;
    """,
    _specs_as_domain_json,
    """
    CREATE INDEX tasks_output_model ON tasks(state, output_model) WHERE output_model != '';
    """,
    """
    CREATE TABLE node_credentials (
        node_id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        digest TEXT NOT NULL,
        key TEXT NOT NULL,
        create_time REAL NOT NULL,
        revoke_time REAL NOT NULL
    );
    CREATE INDEX node_credentials_digest ON node_credentials(digest);
    """,
    # A filtered list walks its filter's index in create_time order and stops at the page,
    # instead of sorting every match (O(page), not O(table)).
    """
    CREATE INDEX tasks_group_time ON tasks(concurrency_group, create_time);
    CREATE INDEX tasks_state_time ON tasks(state, create_time);
    """,
    _task_counts,
    # Gangs: a distributed task's ranks and where each of its current attempt runs.
    """
    ALTER TABLE tasks ADD COLUMN world_size INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE tasks ADD COLUMN ranks TEXT NOT NULL DEFAULT '[]';
    """,
    # gswarm's registry: a model may be registered by name before any bytes are in the registry.
    """
    ALTER TABLE models ADD COLUMN model_type TEXT NOT NULL DEFAULT '';
    ALTER TABLE models ADD COLUMN source_url TEXT NOT NULL DEFAULT '';
    ALTER TABLE models ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE models ADD COLUMN locations TEXT NOT NULL DEFAULT '[]';
    """,
    # 14: profiling sessions, and the one stream of frames they are windows over.
    """
    CREATE TABLE profiling_sessions (
        id TEXT PRIMARY KEY,
        sampling_frequency_ms INTEGER NOT NULL,
        report_metrics TEXT NOT NULL,
        nodes TEXT NOT NULL,
        enable_nvlink INTEGER NOT NULL,
        enable_bandwidth INTEGER NOT NULL,
        start_time REAL NOT NULL,
        end_time REAL NOT NULL
    );
    CREATE TABLE profiling_frames (
        node_id TEXT NOT NULL,
        time REAL NOT NULL,
        frame BLOB NOT NULL
    );
    CREATE INDEX profiling_frames_by_time ON profiling_frames (time);
    """,
    # 15: a frame is stored once: a batch the agent sends again (its ack was lost) adds nothing.
    """
    CREATE UNIQUE INDEX profiling_frames_once ON profiling_frames (node_id, time);
    """,
    # 16: gswarm's data pool: what the farm knows of each chunk whose bytes its nodes keep.
    """
    CREATE TABLE data_chunks (
        id TEXT PRIMARY KEY,
        chunk_type TEXT NOT NULL,
        format TEXT NOT NULL,
        size INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        metadata TEXT NOT NULL,
        locations TEXT NOT NULL,
        created_by TEXT NOT NULL,
        created_at REAL NOT NULL,
        last_accessed REAL NOT NULL,
        access_count INTEGER NOT NULL
    );
    """,
    # 17: AI Factory's client groups (one execution-backend job each) and their global observers.
    """
    CREATE TABLE client_groups (
        benchmark_id INTEGER PRIMARY KEY,
        num_clients INTEGER NOT NULL,
        time_limit_minutes INTEGER NOT NULL,
        server_addr TEXT NOT NULL,
        created_at REAL NOT NULL,
        job_id TEXT NOT NULL,
        state TEXT NOT NULL,
        state_reason TEXT NOT NULL,
        client_addresses TEXT NOT NULL,
        figures TEXT NOT NULL
    );
    CREATE TABLE client_observers (
        key TEXT PRIMARY KEY,
        ip_address TEXT NOT NULL,
        port INTEGER NOT NULL,
        update_preferences TEXT NOT NULL
    );
    """,
]


class Database:
    """One write connection with serialised transactions, and a pool of read-only connections."""

    def __init__(self, writer: aiosqlite.Connection, readers: list[aiosqlite.Connection]) -> None:
        self.writer = writer
        self._write_lock = asyncio.Lock()
        self._readers: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        self._all_readers = readers
        for reader in readers:
            self._readers.put_nowait(reader)

    @classmethod
    async def open(cls, path: Path, *, readers: int = READERS) -> Database:
        path.parent.mkdir(parents=True, exist_ok=True)
        writer = await aiosqlite.connect(path, isolation_level=None)
        writer.row_factory = aiosqlite.Row
        opened: list[aiosqlite.Connection] = []
        try:
            await writer.execute("PRAGMA journal_mode=WAL")
            # NORMAL is durable across process crashes in WAL mode; FULL adds an fsync per commit.
            await writer.execute("PRAGMA synchronous=NORMAL")
            await writer.execute("PRAGMA foreign_keys=ON")
            await _migrate(writer)
            for _ in range(readers):
                reader = await aiosqlite.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
                opened.append(reader)
                reader.row_factory = aiosqlite.Row
                await reader.execute("PRAGMA query_only=ON")
        except BaseException:
            for conn in (*opened, writer):
                await conn.close()
            raise
        return cls(writer, opened)

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[aiosqlite.Connection]:
        """A write transaction, committed on exit and rolled back on error."""
        async with self._write_lock:
            await self.writer.execute("BEGIN IMMEDIATE")
            try:
                yield self.writer
            except BaseException:
                await self.writer.execute("ROLLBACK")
                raise
            await self.writer.execute("COMMIT")

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[aiosqlite.Connection]:
        """A read-only connection of the pool; each statement on it sees one committed snapshot."""
        conn = await self._readers.get()
        try:
            yield conn
        finally:
            self._readers.put_nowait(conn)

    async def ping(self) -> bool:
        try:
            async with self.read() as conn:
                return bool(await conn.execute_fetchall("SELECT 1"))
        except Exception:  # noqa: BLE001 - health reports any failure as unhealthy
            return False

    async def close(self) -> None:
        for conn in (*self._all_readers, self.writer):
            await conn.close()


async def _migrate(conn: aiosqlite.Connection) -> None:
    async with conn.execute("PRAGMA user_version") as cur:
        row = await cur.fetchone()
    version = int(row[0]) if row else 0
    if version > len(MIGRATIONS):
        raise RuntimeError(
            f"database schema version {version} is newer than this aifarm "
            f"({len(MIGRATIONS)}); upgrade aifarm or use another --data-dir"
        )
    for target, step in enumerate(MIGRATIONS[version:], start=version + 1):
        await conn.execute("BEGIN IMMEDIATE")
        try:
            if isinstance(step, str):
                for statement in filter(str.strip, step.split(";")):
                    await conn.execute(statement)
            else:
                await step(conn)
            await conn.execute(f"PRAGMA user_version={target}")
        except BaseException:
            await conn.execute("ROLLBACK")
            raise
        await conn.execute("COMMIT")
        log.info("database migrated", version=target)
