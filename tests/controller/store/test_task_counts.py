"""Counts by state and a list's total stay exact through every change, and SQLite reads them
from its task_counts summary (kept by triggers), not by walking the tasks table: O(1) as it grows."""

from __future__ import annotations

import random
import sqlite3
from collections import Counter
from pathlib import Path

from controller.domain.store import Changes, Store, TaskQuery
from controller.domain.types import Task, TaskState
from controller.store import db as db_module
from controller.store.sqlite_store import SqliteStore
from store_contract_parts import TRAINING, ended, placed, task


async def _expect(store: Store, tasks: dict[str, Task]) -> None:
    states = Counter(t.state for t in tasks.values())
    assert await store.count_tasks_by_state() == {s: n for s, n in states.items() if n}
    for group in ("", "sessions"):
        for wanted in ((), (TaskState.PENDING,), (TaskState.COMPLETED, TaskState.FAILED)):
            expected = sum(1 for t in tasks.values()  # no group ("") is every group
                           if group in ("", t.concurrency_group) and (not wanted or t.state in wanted))
            page = await store.list_tasks(TaskQuery(concurrency_group=group, states=wanted, limit=3))
            assert page.total == expected, (group, wanted)
    assert (await store.list_tasks(TaskQuery(limit=1))).total == len(tasks)
    assert (await store.list_tasks(TaskQuery(node_id="n1"))).total == sum(1 for t in tasks.values() if t.node_id == "n1")


async def test_counts_and_totals_follow_creates_state_changes_respecs_and_deletes(store: Store) -> None:
    rng = random.Random(7)
    tasks: dict[str, Task] = {}
    created = [task(f"t{i}", float(i), **({"spec": TRAINING, "concurrency_group": "sessions"} if i % 3 == 0 else {}))
               for i in range(30)]  # fmt: skip
    await store.commit(Changes(created=created))
    tasks.update({t.id: t for t in created})
    await _expect(store, tasks)
    for _ in range(6):
        moved = [placed(t) if t.state is TaskState.PENDING else ended(t, rng.choice([TaskState.COMPLETED, TaskState.FAILED]))
                 for t in rng.sample(sorted(tasks.values(), key=lambda t: t.id), 8) if not t.state.terminal]  # fmt: skip
        moved_ids = {t.id for t in moved}
        same_state = [t for t in tasks.values() if t.id not in moved_ids][:3]  # rewritten, state kept: no count moves
        await store.commit(Changes(updated=[*moved, *same_state]))
        tasks.update({t.id: t for t in moved})
        await _expect(store, tasks)
    # Two versions of one task in one commit (a batch of reports) count once, in its last state.
    pending = next(t for t in tasks.values() if t.state is TaskState.PENDING)
    run = placed(pending)
    await store.commit(Changes(updated=[run, ended(run)]))
    tasks[pending.id] = ended(run)
    await _expect(store, tasks)
    gone = sorted(tasks)[:10]
    await store.commit(Changes(deleted=gone))
    for task_id in gone:
        del tasks[task_id]
    await _expect(store, tasks)


async def test_sqlite_counts_and_totals_read_the_summary_not_the_tasks(tmp_path: Path) -> None:
    path = tmp_path / "controller.db"
    store = await SqliteStore.open(path)
    try:
        await store.commit(Changes(created=[task(f"t{i}", float(i)) for i in range(20)]))
        statements: list[str] = []
        readers = store.db._all_readers
        for conn in readers:
            await conn.set_trace_callback(statements.append)
        await store.count_tasks_by_state()
        await store.list_tasks(TaskQuery(states=(TaskState.PENDING,), limit=5))
        await store.list_tasks(TaskQuery(concurrency_group="", limit=5))
        await store.list_tasks(TaskQuery(offset=100))  # past the last page: the total alone
        for conn in readers:
            await conn.set_trace_callback(None)
    finally:
        await store.close()
    counting = [s for s in statements if "COUNT(" in s.upper() or "SUM(" in s.upper()]
    assert len(counting) == 5 and all("task_counts" in s for s in counting), statements
    with sqlite3.connect(path) as conn:
        plans = [row[3] for s in counting for row in conn.execute("EXPLAIN QUERY PLAN " + s)]
    # A page walks an index in create_time order to its LIMIT; counting the table walked all of an index.
    assert not any(p == "SCAN tasks" or "COVERING INDEX tasks_" in p for p in plans), plans
    assert all("create_time" in p or "_time" in p for p in plans if " tasks " in f"{p} "), plans


async def test_a_database_from_before_the_summary_gets_its_counts_on_migration(tmp_path: Path) -> None:
    path = tmp_path / "controller.db"
    store = await SqliteStore.open(path)
    await store.commit(Changes(created=[ended(task(f"t{i}", float(i))) for i in range(5)] + [task("p", 9.0)]))
    await store.close()
    version = db_module.MIGRATIONS.index(db_module._task_counts)
    with sqlite3.connect(path) as conn:  # back to the schema before task_counts
        for name in ("task_counts_insert", "task_counts_delete", "task_counts_update"):
            conn.execute(f"DROP TRIGGER {name}")
        conn.execute("DROP TABLE task_counts")
        for column in ("world_size", "ranks"):  # added by the migrations after it
            conn.execute(f"ALTER TABLE tasks DROP COLUMN {column}")
        for column in ("model_type", "source_url", "metadata", "locations"):
            conn.execute(f"ALTER TABLE models DROP COLUMN {column}")
        for table in ("profiling_sessions", "profiling_frames", "data_chunks", "client_groups", "client_observers"):
            conn.execute(f"DROP TABLE {table}")
        conn.execute(f"PRAGMA user_version={version}")
    store = await SqliteStore.open(path)
    try:
        assert await store.count_tasks_by_state() == {TaskState.COMPLETED: 5, TaskState.PENDING: 1}
        assert (await store.list_tasks(TaskQuery())).total == 6
    finally:
        await store.close()
