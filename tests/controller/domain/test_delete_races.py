"""A delete on its way to the store, and a change of the same task accepted behind it.

The working view cannot tell "deleted, not yet committed" from "ended": whoever
then falls back to the store (which still has the task) acts on a task that is
about to disappear. Memory and the store must still agree afterwards.
"""

from __future__ import annotations

import asyncio


from controller.domain.types import LogLine, TaskState
from domain_parts import Parts, script
from taskspec.script import ScriptSpec


async def agree(parts: Parts, task_id: str) -> None:
    stored = await parts.store.get_task(task_id)
    assert (task_id in parts.book.active) == (stored is not None and not stored.state.terminal), (
        f"memory has {parts.book.active.get(task_id)}, the store {stored}")  # fmt: skip


async def test_a_restart_behind_a_delete_leaves_no_ghost() -> None:
    parts = await Parts.open()
    await parts.join("n1")
    await parts.actions.create(script("t"))
    await parts.actions.cancel("t")
    await asyncio.gather(parts.actions.delete("t"), parts.actions.restart("t"), return_exceptions=True)
    await agree(parts, "t")
    if await parts.store.get_task("t") is None:
        assert await parts.dispatcher.dispatch_once() == 0, "a deleted task is never placed"


async def test_a_new_spec_behind_a_delete_leaves_no_ghost() -> None:
    parts = await Parts.open()
    await parts.join("n1")
    await parts.actions.create(script("t", held=True))
    await asyncio.gather(parts.actions.delete("t"), parts.actions.set_spec("t", ScriptSpec(source="print(2)")),
                         return_exceptions=True)  # fmt: skip
    await agree(parts, "t")
    if await parts.store.get_task("t") is None:
        assert await parts.dispatcher.dispatch_once() == 0, "a deleted task is never placed"


async def test_late_log_lines_behind_a_delete_are_not_kept_for_the_next_task_of_that_id() -> None:
    parts = await Parts.open()
    await parts.join("n1")
    await parts.actions.create(script("t"))
    await parts.run_on("t", "n1")
    await parts.report("n1", "t", 1, TaskState.COMPLETED)
    late = [LogLine(1, 1, "stdout", "flushed after the end", 1.0)]
    await asyncio.gather(parts.actions.delete("t"), parts.reports.append_logs("n1", "t", 1, late))
    await parts.actions.create(script("t"))
    assert await parts.book.logs("t") == []


async def test_a_second_delete_or_a_cancel_behind_a_delete_changes_nothing_more() -> None:
    parts = await Parts.open()
    await parts.actions.create(script("t"))
    await asyncio.gather(parts.actions.delete("t"), parts.actions.cancel("t"), parts.actions.delete("t"),
                         return_exceptions=True)  # fmt: skip
    await agree(parts, "t")
    assert await parts.store.get_task("t") is None
