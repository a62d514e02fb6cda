"""State is committed before it is visible, and a failed or cancelled write leaves no trace (issue 9, item 1)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from controller.domain.store import Changes, StoreUnavailable
from controller.domain.types import NodeState, TaskAction, TaskResult, TaskState, TaskUpdate
from controller.store.memory_store import MemoryStore
from domain_parts import Parts, assignments, controls, drained, script


class GatedStore(MemoryStore):
    """A store whose next commit waits at a gate: a write in flight, for as long as a test needs."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.armed = False

    async def commit_all(self, batch: Sequence[Changes]) -> None:
        if self.armed:
            self.armed = False
            self.entered.set()
            await self.release.wait()
        await super().commit_all(batch)


async def running(parts: Parts, task_id: str = "t") -> None:
    await parts.join("n1")
    await parts.actions.create(script(task_id))
    await parts.run_on(task_id, "n1")


async def test_a_final_report_cancelled_mid_commit_still_lands_whole() -> None:
    """The node's stream reader is cancelled (the agent reconnected) while its final report is being written."""
    store = GatedStore()
    parts = await Parts.open(store)
    await running(parts)
    store.armed = True
    report = TaskUpdate("t", 1, state=TaskState.COMPLETED, result=TaskResult(exit_code=0))
    reader = asyncio.create_task(parts.reports.apply_update("n1", report))
    await store.entered.wait()
    reader.cancel()
    await asyncio.sleep(0)
    store.release.set()
    with pytest.raises(asyncio.CancelledError):
        await reader
    await parts.book.flush()  # the write goes on without the reader
    stored = await store.get_task("t")
    assert stored is not None and stored.state is TaskState.COMPLETED
    assert "t" not in parts.book.active, "memory agrees with the store"
    # The agent replays the report on its next stream: already applied, so it is stale (and acked).
    assert not await parts.reports.apply_update("n1", report)


async def test_a_failed_final_report_leaves_the_task_running_so_the_replay_applies() -> None:
    parts = await Parts.open()
    await running(parts)
    parts.store.fail_next_commits = 1
    report = TaskUpdate("t", 1, state=TaskState.COMPLETED)
    with pytest.raises(StoreUnavailable):
        await parts.reports.apply_update("n1", report)
    assert parts.book.active["t"].state is TaskState.RUNNING
    assert (await parts.store.get_task("t")).state is TaskState.RUNNING
    assert await parts.reports.apply_update("n1", report), "the agent's replay is not refused"
    assert (await parts.store.get_task("t")).state is TaskState.COMPLETED


async def test_a_failed_pass_places_nothing_and_bumps_no_attempt() -> None:
    parts = await Parts.open()
    session = await parts.join("n1")
    await parts.actions.create(script("t"))
    parts.store.fail_next_commits = 1
    with pytest.raises(StoreUnavailable):
        await parts.dispatcher.dispatch_once()
    task = parts.book.active["t"]
    assert (task.state, task.attempt, task.node_id) == (TaskState.PENDING, 0, "")
    assert assignments(drained(session)) == [], "nothing is sent for a placement that was not saved"
    await parts.dispatcher.dispatch_once()
    assert assignments(drained(session)) == [("t", 1)], "the next pass places it as attempt 1, not 2"
    assert (await parts.store.get_task("t")).attempt == 1


@pytest.mark.parametrize("verb", ["cancel", "stop"])
async def test_a_control_goes_to_the_node_only_once_its_state_is_saved(verb: str) -> None:
    parts = await Parts.open()
    await running(parts)
    drained(parts.sessions["n1"])
    parts.store.fail_next_commits = 1
    with pytest.raises(StoreUnavailable):
        await getattr(parts.actions, verb)("t")
    assert controls(drained(parts.sessions["n1"])) == [], f"no {verb} reached the node"
    assert parts.book.active["t"].state is TaskState.RUNNING and not parts.book.active["t"].stopping
    await getattr(parts.actions, verb)("t")
    action = TaskAction.CANCEL if verb == "cancel" else TaskAction.STOP
    assert controls(drained(parts.sessions["n1"])) == [("t", 1, action)]


async def test_a_failed_create_leaves_no_task() -> None:
    parts = await Parts.open()
    parts.store.fail_next_commits = 1
    with pytest.raises(StoreUnavailable):
        await parts.actions.create(script("t"))
    assert "t" not in parts.book.active and await parts.store.get_task("t") is None
    await parts.actions.create(script("t"))
    assert parts.book.active["t"].state is TaskState.PENDING


async def test_a_failed_liveness_write_keeps_the_node_and_its_work_until_the_next_check_succeeds() -> None:
    parts = await Parts.open(ttl=10)
    await running(parts)
    parts.clock.advance(11)
    parts.store.fail_next_commits = 1
    with pytest.raises(StoreUnavailable):
        await parts.liveness.check_once()
    assert parts.registry.nodes["n1"].state is NodeState.ONLINE, "not marked offline in memory alone"
    assert parts.book.active["t"].state is TaskState.RUNNING
    assert await parts.liveness.check_once() == ["n1"], "the node still expires on the next check"
    assert parts.registry.nodes["n1"].state is NodeState.OFFLINE
    assert parts.book.active["t"].state is TaskState.PENDING
    stored = await parts.store.get_task("t")
    assert (stored.state, stored.node_id) == (TaskState.PENDING, "")
    assert [n.state for n in await parts.store.all_nodes()] == [NodeState.OFFLINE]
