"""TaskBook features the documented job APIs stand on: held tasks, new specs, restart, delete,
and pulling nodes that claim work atomically (on a real SQLite file)."""

from __future__ import annotations

import asyncio
import pytest

from controller.domain.errors import FailedPrecondition, NotFound
from controller.domain.scheduler import NodeCapacity
from controller.domain.types import Priority, TaskResult, TaskSpec, TaskState
from test_task_book import Farm, farm, gpu_node, report, run_on, script  # noqa: F401 - the fixture

SCRIPTS = frozenset({"script"})


def cpu_node(node_id: str, cpu: float = 4) -> NodeCapacity:
    return NodeCapacity(node_id, cpu, 8192)


async def test_a_held_task_waits_until_its_spec_is_set(farm: Farm) -> None:
    await farm.book.create(script("job", held=True))
    assert await farm.book.schedule([gpu_node()]) == []
    assert "held" in farm.book.active["job"].state_reason
    await farm.book.set_spec("job", TaskSpec("script", '{"source": "print(2)"}'), time_limit_seconds=30)
    [assigned] = await farm.book.schedule([gpu_node()])
    assert assigned.task.spec.payload == '{"source": "print(2)"}' and assigned.task.time_limit_seconds == 30
    reopened = await farm.reopen()
    stored = await reopened.get("job")
    assert not stored.held and stored.spec.payload == '{"source": "print(2)"}' and stored.time_limit_seconds == 30


async def test_the_spec_of_a_placed_task_cannot_change(farm: Farm) -> None:
    await farm.book.create(script("t"))
    await run_on(farm.book, "t")
    with pytest.raises(FailedPrecondition):
        await farm.book.set_spec("t", TaskSpec("script", "{}"))


async def test_restart_runs_an_ended_task_as_a_new_attempt_and_keeps_the_record_of_each(farm: Farm) -> None:
    await farm.book.create(script("t"))
    with pytest.raises(FailedPrecondition):
        await farm.book.restart("t")
    task = await run_on(farm.book, "t")
    result = TaskResult(exit_code=0, output_sha256="aa")
    await farm.book.apply_update("n1", report(task, 1, TaskState.COMPLETED, result=result))
    restarted = await farm.book.restart("t")
    assert restarted.state is TaskState.PENDING and restarted.result == TaskResult() and restarted.end_time == 0
    task = await run_on(farm.book, "t", "n2")
    assert task.attempt == 2
    await farm.book.apply_update("n2", report(task, 2, TaskState.FAILED, result=TaskResult(exit_code=3, error="x")))
    records = await farm.book.store.attempts("t")
    assert [(r.attempt, r.node_id, r.state, r.exit_code, r.output_sha256) for r in records] == [
        (1, "n1", TaskState.COMPLETED, 0, "aa"), (2, "n2", TaskState.FAILED, 3, "")]  # fmt: skip


async def test_delete_cancels_a_placed_attempt_and_removes_everything(farm: Farm) -> None:
    await farm.book.create(script("t"))
    task = await run_on(farm.book, "t")
    await farm.book.delete("t")
    assert farm.wire.controls()[-1][1:3] == ("t", task.attempt)
    assert "t" not in farm.book.active and await farm.book.store.attempts("t") == []
    with pytest.raises(NotFound):
        await farm.book.get("t")
    with pytest.raises(NotFound):
        await farm.book.delete("t")


async def test_a_pulling_node_is_offered_what_the_scheduler_would_give_it(farm: Farm) -> None:
    assert await farm.book.offer(cpu_node("p"), SCRIPTS) is None
    await farm.book.create(script("low"))
    await farm.book.create(script("held", held=True))
    await farm.book.create(script("high", priority=Priority.HIGH))
    offered = await farm.book.offer(cpu_node("p"), SCRIPTS)
    assert offered is not None and offered.id == "high" and farm.book.active["high"].state is TaskState.PENDING
    assert await farm.book.offer(cpu_node("p"), frozenset({"training"})) is None


async def test_concurrent_claims_of_one_task_give_it_to_one_node(farm: Farm) -> None:
    await farm.book.create(script("t"))
    results = await asyncio.gather(
        *(farm.book.claim(cpu_node(f"p{i}"), "t", SCRIPTS) for i in range(5)), farm.book.schedule([gpu_node("s")]),
        return_exceptions=True,
    )  # fmt: skip
    claimed = [r for r in results[:5] if not isinstance(r, Exception)]
    streamed = results[5]
    assert len(claimed) + len(streamed) == 1, results
    assert all(isinstance(r, FailedPrecondition) for r in results[:5] if isinstance(r, Exception))
    assert farm.book.active["t"].attempt == 1


async def test_a_claim_respects_the_nodes_free_capacity(farm: Farm) -> None:
    await farm.book.create(script("a"))
    await farm.book.create(script("b"))
    await farm.book.claim(cpu_node("p", cpu=1), "a", SCRIPTS)
    with pytest.raises(FailedPrecondition):
        await farm.book.claim(cpu_node("p", cpu=1), "b", SCRIPTS)
    with pytest.raises(NotFound):
        await farm.book.claim(cpu_node("p"), "nope", SCRIPTS)


async def test_a_poll_fails_and_saves_tasks_whose_dependency_failed(farm: Farm) -> None:
    await farm.book.create(script("dep"))
    await farm.book.cancel("dep")
    await farm.book.create(script("after", depends_on=["dep"]))
    assert await farm.book.offer(cpu_node("p"), SCRIPTS) is None
    reopened = await farm.reopen()
    assert (await reopened.get("after")).state is TaskState.FAILED
