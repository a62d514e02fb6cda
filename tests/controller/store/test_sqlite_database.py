"""SQLite only: migrations by PRAGMA user_version, WAL, one serialised writer, read-only readers, durability."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import aiosqlite
import pytest

from controller.domain.store import Changes, StoreUnavailable, TaskQuery
from controller.store import db as db_module
from controller.store.db import MIGRATIONS, Database
from controller.store.sqlite_store import SqliteStore
from store_contract_parts import dataset, every_field, line, model, node, stored_node, task

pytestmark = pytest.mark.asyncio(loop_scope="function")

# Builders -------------------------------------------------------------------


def peek(path: Path, sql: str) -> list[tuple]:
    """Run a query on a second, independent connection: it sees only committed data."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


async def scalar(db: Database, sql: str) -> object:
    async with db.writer.execute(sql) as cur:
        return (await cur.fetchone())[0]


def new_threads_left(before: set[threading.Thread]) -> list[threading.Thread]:
    """Threads started since `before` that are still alive after a moment to finish."""
    for thread in set(threading.enumerate()) - before:
        thread.join(timeout=1.0)
    return [t for t in set(threading.enumerate()) - before if t.is_alive()]


async def add_dataset(db: Database, dataset_id: str) -> None:
    async with db.write() as conn:
        await conn.execute("INSERT INTO datasets (id, format, size_bytes, sha256, description, create_time)"
                           " VALUES (?, 'csv', 0, '', '', 0)", (dataset_id,))  # fmt: skip


# Migrations -------------------------------------------------------------------


async def test_a_new_database_is_migrated_to_the_latest_version_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "farm.db"
    db = await Database.open(path)
    try:
        assert await scalar(db, "PRAGMA user_version") == len(MIGRATIONS)
        assert await scalar(db, "PRAGMA journal_mode") == "wal"
        tables = {row[0] for row in peek(path, "SELECT name FROM sqlite_master")}
        assert {"tasks", "task_logs", "task_metrics", "task_attempts", "artifacts", "nodes", "datasets",
                "models"} <= tables  # fmt: skip
        assert await db.ping()
    finally:
        await db.close()
    assert not await db.ping()


async def test_reopening_keeps_data_and_does_not_migrate_again(tmp_path: Path) -> None:
    path = tmp_path / "farm.db"
    db = await Database.open(path)
    await add_dataset(db, "kept")
    await db.close()
    for _ in range(2):
        db = await Database.open(path)  # re-running the first migration would fail: the tables exist
        assert await scalar(db, "PRAGMA user_version") == len(MIGRATIONS)
        assert await scalar(db, "SELECT id FROM datasets") == "kept"
        await db.close()


async def test_a_later_migration_is_applied_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "farm.db"
    await (await Database.open(path)).close()
    calls: list[int] = []

    async def python_step(conn: aiosqlite.Connection) -> None:
        calls.append(1)
        await conn.execute("INSERT INTO extra VALUES (2)")

    extra = "CREATE TABLE extra (x INTEGER); INSERT INTO extra VALUES (1)"
    monkeypatch.setattr(db_module, "MIGRATIONS", [*MIGRATIONS, extra, python_step])
    for _ in range(2):
        db = await Database.open(path)
        assert await scalar(db, "PRAGMA user_version") == len(MIGRATIONS) + 2
        assert await scalar(db, "SELECT SUM(x) FROM extra") == 3
        await db.close()
    assert calls == [1]


async def _refused_open(path: Path, error: type[BaseException]) -> None:
    threads = set(threading.enumerate())
    with pytest.raises(error):
        await Database.open(path)
    assert new_threads_left(threads) == [], "the connections of a failed open are closed"


async def test_a_failing_migration_leaves_the_previous_version_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "farm.db"
    await (await Database.open(path)).close()
    monkeypatch.setattr(db_module, "MIGRATIONS", [*MIGRATIONS, "CREATE TABLE half (x); CREATE TABLE tasks (y)"])
    await _refused_open(path, sqlite3.OperationalError)
    assert peek(path, "PRAGMA user_version") == [(len(MIGRATIONS),)]
    assert peek(path, "SELECT name FROM sqlite_master WHERE name='half'") == []


async def test_a_failing_python_migration_is_rolled_back_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "farm.db"
    store = await SqliteStore.open(path)
    await store.commit(Changes(created=[task("t")]))
    await store.close()

    async def broken(conn: aiosqlite.Connection) -> None:
        await conn.execute("UPDATE tasks SET display_name='half-migrated'")
        raise ValueError("a bad row")

    monkeypatch.setattr(db_module, "MIGRATIONS", [*MIGRATIONS, broken])
    await _refused_open(path, ValueError)
    assert peek(path, "SELECT display_name FROM tasks") == [("",)]
    assert peek(path, "PRAGMA user_version") == [(len(MIGRATIONS),)]


async def test_a_database_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "farm.db"
    await (await Database.open(path)).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={len(MIGRATIONS) + 1}")
    conn.close()
    await _refused_open(path, RuntimeError)
    with pytest.raises(RuntimeError, match="newer than this aifarm.*--data-dir"):
        await Database.open(path)


# Writes and reads -----------------------------------------------------------------------


async def test_a_commit_is_on_disk_when_it_returns(tmp_path: Path) -> None:
    path = tmp_path / "farm.db"
    store = await SqliteStore.open(path)
    try:
        await store.commit(Changes(created=[task("t")], new_datasets=[dataset("a.csv")]))
        assert peek(path, "SELECT id, state FROM tasks") == [("t", "pending")]
        assert peek(path, "SELECT id FROM datasets") == [("a.csv",)]
    finally:
        await store.close()


async def test_everything_committed_reads_back_the_same_after_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "farm.db"
    store = await SqliteStore.open(path)
    full = every_field()
    await store.commit(Changes(created=[full, task("other", 1.0)], logs=[("full", [line(2, 1)])], nodes=[node("n1")],
                               new_datasets=[dataset("d.csv")], new_models=[model("m")]))  # fmt: skip

    async def everything() -> tuple[object, ...]:
        return await store.list_tasks(TaskQuery(summary=False)), await store.logs("full"), await store.attempts("full")

    before = await everything()
    await store.close()

    store = await SqliteStore.open(path)
    try:
        assert await store.get_task("full") == full
        assert await everything() == before
        assert [stored_node(n) for n in await store.all_nodes()] == [stored_node(node("n1"))]
        assert await store.get_dataset("d.csv") == dataset("d.csv") and await store.get_model("m") == model("m")
    finally:
        await store.close()


async def test_a_failing_write_is_rolled_back_and_the_next_one_works(tmp_path: Path) -> None:
    path = tmp_path / "farm.db"
    db = await Database.open(path)
    try:
        with pytest.raises(sqlite3.IntegrityError):
            async with db.write() as conn:
                await conn.execute("INSERT INTO datasets (id, format, size_bytes, sha256, description, create_time)"
                                   " VALUES ('half', 'csv', 0, '', '', 0)")  # fmt: skip
                await conn.execute("INSERT INTO datasets (id, format, size_bytes, sha256, description, create_time)"
                                   " VALUES ('half', 'csv', 0, '', '', 0)")  # fmt: skip
        assert await scalar(db, "SELECT COUNT(*) FROM datasets") == 0
        await add_dataset(db, "next")
        assert peek(path, "SELECT id FROM datasets") == [("next",)]
    finally:
        await db.close()


async def test_concurrent_writers_are_serialised_and_all_committed(tmp_path: Path) -> None:
    path = tmp_path / "farm.db"
    db = await Database.open(path)
    await add_dataset(db, "counter")

    async def increment() -> None:
        # A read-modify-write with awaits in between: interleaved, increments would be lost.
        async with db.write() as conn:
            async with conn.execute("SELECT size_bytes FROM datasets WHERE id='counter'") as cur:
                value = (await cur.fetchone())[0]
            await asyncio.sleep(0)
            await conn.execute("UPDATE datasets SET size_bytes=? WHERE id='counter'", (value + 1,))

    try:
        await asyncio.gather(*(increment() for _ in range(100)), *(add_dataset(db, f"d{i}") for i in range(100)))
        assert peek(path, "SELECT size_bytes FROM datasets WHERE id='counter'") == [(100,)]
        assert peek(path, "SELECT COUNT(*) FROM datasets") == [(101,)]
    finally:
        await db.close()


async def test_readers_cannot_write(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "farm.db")
    try:
        with pytest.raises(sqlite3.OperationalError, match="readonly|read-only|query_only"):
            async with db.read() as conn:
                await conn.execute("INSERT INTO datasets (id, format, size_bytes, sha256, description, create_time)"
                                   " VALUES ('x', 'csv', 0, '', '', 0)")  # fmt: skip
        assert await db.ping(), "the reader went back to the pool in working order"
    finally:
        await db.close()


async def test_a_commit_on_a_closed_store_is_unavailable_and_pings_fail(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "farm.db")
    await store.close()
    with pytest.raises(StoreUnavailable):
        await store.commit(Changes(created=[task("t")]))
    assert not await store.ping()
