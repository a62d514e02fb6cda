"""Database: migrations by PRAGMA user_version, and serialised, committed write transactions."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest

from controller.store import db as db_module
from controller.store.db import MIGRATIONS, Database

# Builders -------------------------------------------------------------------


def peek(path: Path, sql: str) -> list[tuple]:
    """Run a query on a second, independent connection: it sees only committed data."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


async def scalar(db: Database, sql: str) -> object:
    async with db.conn.execute(sql) as cur:
        return (await cur.fetchone())[0]


def new_threads_left(before: set[threading.Thread]) -> list[threading.Thread]:
    """Threads started since `before` that are still alive after a moment to finish."""
    for thread in set(threading.enumerate()) - before:
        thread.join(timeout=1.0)
    return [t for t in set(threading.enumerate()) - before if t.is_alive()]


async def add_dataset(db: Database, dataset_id: str) -> None:
    async with db.write() as conn:
        await conn.execute(
            "INSERT INTO datasets (id, format, size_bytes, sha256, description, create_time)"
            " VALUES (?, 'csv', 0, '', '', 0)",
            (dataset_id,),
        )


# Migrations -------------------------------------------------------------------


async def test_a_new_database_is_migrated_to_the_latest_version_in_wal_mode(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "sub" / "farm.db")
    try:
        assert await scalar(db, "PRAGMA user_version") == len(MIGRATIONS)
        assert await scalar(db, "PRAGMA journal_mode") == "wal"
        tables = {row[0] for row in peek(tmp_path / "sub" / "farm.db", "SELECT name FROM sqlite_master")}
        assert {"tasks", "task_logs", "task_metrics", "artifacts", "nodes", "datasets"} <= tables
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
    extra = "CREATE TABLE extra (x INTEGER); INSERT INTO extra VALUES (1)"
    monkeypatch.setattr(db_module, "MIGRATIONS", [*MIGRATIONS, extra])
    for _ in range(2):
        db = await Database.open(path)
        assert await scalar(db, "PRAGMA user_version") == len(MIGRATIONS) + 1
        assert await scalar(db, "SELECT COUNT(*) FROM extra") == 1
        await db.close()


async def test_a_failing_migration_leaves_the_previous_version_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "farm.db"
    await (await Database.open(path)).close()
    monkeypatch.setattr(db_module, "MIGRATIONS", [*MIGRATIONS, "CREATE TABLE half (x); CREATE TABLE tasks (y)"])
    threads = set(threading.enumerate())
    with pytest.raises(sqlite3.OperationalError):
        await Database.open(path)
    assert new_threads_left(threads) == [], "the connection of a failed open is closed"
    assert peek(path, "PRAGMA user_version") == [(len(MIGRATIONS),)]
    assert peek(path, "SELECT name FROM sqlite_master WHERE name='half'") == []


async def test_a_database_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "farm.db"
    await (await Database.open(path)).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={len(MIGRATIONS) + 1}")
    conn.close()
    threads = set(threading.enumerate())
    with pytest.raises(RuntimeError, match="newer than this aifarm"):
        await Database.open(path)
    assert new_threads_left(threads) == [], "the connection of a refused open is closed"


# Writes -----------------------------------------------------------------------


async def test_a_write_is_committed_when_the_block_exits(tmp_path: Path) -> None:
    path = tmp_path / "farm.db"
    db = await Database.open(path)
    try:
        await add_dataset(db, "a")
        assert peek(path, "SELECT id FROM datasets") == [("a",)]
    finally:
        await db.close()


async def test_a_failing_write_is_rolled_back_and_the_next_one_works(tmp_path: Path) -> None:
    path = tmp_path / "farm.db"
    db = await Database.open(path)
    try:
        with pytest.raises(sqlite3.IntegrityError):
            async with db.write() as conn:
                await conn.execute("INSERT INTO datasets (id, format, size_bytes, sha256, description, create_time) VALUES ('half', 'csv', 0, '', '', 0)")
                await conn.execute("INSERT INTO datasets (id, format, size_bytes, sha256, description, create_time) VALUES ('half', 'csv', 0, '', '', 0)")
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
