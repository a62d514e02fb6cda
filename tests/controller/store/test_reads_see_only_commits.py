"""Reads use their own read-only connections: they never see a write in progress nor wait behind it (issue 9, item 3)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from controller.domain.store import Changes, TaskQuery
from controller.domain.types import Task, TaskState
from controller.store import task_store
from controller.store.sqlite_store import SqliteStore
from taskspec.script import ScriptSpec

pytestmark = pytest.mark.asyncio(loop_scope="function")


def task(task_id: str) -> Task:
    return Task(id=task_id, spec=ScriptSpec(source="print(1)"), create_time=1.0, update_time=1.0)


async def test_a_read_during_an_uncommitted_write_sees_the_last_commit_and_does_not_wait(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "aifarm.db")
    try:
        await store.commit(Changes(created=[task("before")]))
        async with store.db.write() as conn:  # a transaction in flight on the write connection
            await task_store.insert(conn, [task("uncommitted")])
            reads = asyncio.gather(
                store.get_task("uncommitted"), store.list_tasks(TaskQuery()), store.count_tasks_by_state()
            )
            got, page, counts = await asyncio.wait_for(reads, 5)
            assert got is None
            assert [t.id for t in page.tasks] == ["before"] and page.total == 1
            assert counts == {TaskState.PENDING: 1}
        assert (await store.get_task("uncommitted")) is not None, "visible once committed"
    finally:
        await store.close()


async def test_a_rolled_back_write_was_never_visible(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "aifarm.db")
    try:
        with pytest.raises(RuntimeError):
            async with store.db.write() as conn:
                await task_store.insert(conn, [task("doomed")])
                assert await store.get_task("doomed") is None
                raise RuntimeError("the rest of the write failed")
        assert await store.get_task("doomed") is None
        assert (await store.list_tasks(TaskQuery())).total == 0
    finally:
        await store.close()


async def test_reads_cancelled_midway_leave_the_readers_usable(tmp_path: Path) -> None:
    """A caller that gives up (a REST client gone) must not leave a reader inside a read transaction;
    that once made the next list on that connection fail with 'cannot start a transaction within a transaction'."""
    store = await SqliteStore.open(tmp_path / "aifarm.db")
    try:
        await store.commit(Changes(created=[task(f"t{i}") for i in range(50)]))
        for delay_steps in range(12):
            reads = [asyncio.create_task(store.list_tasks(TaskQuery(limit=50))) for _ in range(8)]
            reads += [asyncio.create_task(store.get_task("t1")) for _ in range(4)]
            for _ in range(delay_steps):
                await asyncio.sleep(0)
            for read in reads:
                read.cancel()
            await asyncio.gather(*reads, return_exceptions=True)
        pages = await asyncio.gather(*(store.list_tasks(TaskQuery(limit=10, offset=5)) for _ in range(16)))
        assert all(p.total == 50 and len(p.tasks) == 10 for p in pages)
        assert (await store.list_tasks(TaskQuery(offset=500))).total == 50, "past the last page, still a total"
        assert (await store.get_task("t1")) is not None
    finally:
        await store.close()
