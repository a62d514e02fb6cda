"""The Store contract for several versions of one task in one commit (a batch of an agent's reports):
the last is what is stored, and every attempt they name keeps its record."""

from __future__ import annotations

from dataclasses import replace

from controller.domain.store import Changes, Store
from controller.domain.types import TaskState
from store_contract_parts import ended, placed, task


async def test_the_last_version_of_a_task_in_a_commit_is_stored(store: Store) -> None:
    t = task("t")
    await store.commit(Changes(created=[t]))
    assigned = placed(t, state=TaskState.ASSIGNED)
    running = replace(assigned, state=TaskState.RUNNING, progress=0.5)
    done = ended(running, progress=1.0)
    await store.commit(Changes(updated=[assigned, running, done]))
    stored = await store.get_task("t")
    assert stored is not None and (stored.state, stored.progress, stored.end_time) == (
        TaskState.COMPLETED, 1.0, done.end_time)  # fmt: skip
    assert [(a.attempt, a.state) for a in await store.attempts("t")] == [(1, TaskState.COMPLETED)]


async def test_an_attempt_that_ended_and_a_retry_placed_in_one_commit_keep_both_records(store: Store) -> None:
    t = task("t")
    first = placed(t)
    await store.commit(Changes(created=[t], updated=[first]))
    failed = ended(first, TaskState.FAILED)
    requeued = replace(failed, state=TaskState.PENDING, node_id="")
    second = placed(requeued, node_id="n2")
    await store.commit(Changes(updated=[failed, requeued, second]))
    stored = await store.get_task("t")
    assert stored is not None and (stored.state, stored.attempt, stored.node_id) == (TaskState.RUNNING, 2, "n2")
    assert [(a.attempt, a.node_id, a.state) for a in await store.attempts("t")] == [
        (1, "n1", TaskState.FAILED), (2, "n2", TaskState.RUNNING)]  # fmt: skip
