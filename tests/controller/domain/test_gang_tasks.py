"""A distributed task (a gang) through the domain: placed whole on distinct nodes with one rendezvous,
reported rank by rank as one task, and stopped and requeued together when a rank fails or its node is lost."""

from __future__ import annotations

import pytest

from controller.domain.errors import InvalidArgument
from controller.domain.registry import AssignMessage
from controller.domain.task_reports import LogReport
from controller.domain.types import LogLine, Resources, TaskAction, TaskState
from domain_parts import Parts, controls, drained, script, training


async def gang_of_three(parts: Parts, **fields: object) -> dict[str, AssignMessage]:
    """Three nodes (each offering a rendezvous port), a gang of 3 created and placed; node -> its assignment."""
    sessions = {n: await parts.join(n, gpus=0, cpus=4, rendezvous_port=29400 + i) for i, n in enumerate(("a", "b", "c"))}
    await parts.actions.create(training("g", world_size=3, resources=Resources(cpu_cores=2), **fields))
    await parts.dispatcher.dispatch_once()
    got = {n: [m for m in drained(s) if isinstance(m, AssignMessage)] for n, s in sessions.items()}
    assert all(len(ms) == 1 for ms in got.values()), got
    return {n: ms[0] for n, ms in got.items()}


async def run_all(parts: Parts, attempt: int = 1) -> None:
    for n in ("a", "b", "c"):
        assert await parts.report(n, "g", attempt, TaskState.RUNNING)


async def test_a_gang_is_placed_whole_with_one_rendezvous_on_rank_zero() -> None:
    parts = await Parts.open()
    assigned = await gang_of_three(parts)
    ranks = sorted((m.rank, m.world_size, m.master_addr, m.master_port) for m in assigned.values())
    master = next(m for m in assigned.values() if m.rank == 0)
    assert [r[0] for r in ranks] == [0, 1, 2] and {r[1] for r in ranks} == {3}
    assert {(r[2], r[3]) for r in ranks} == {(master.master_addr, master.master_port)}, "one rendezvous for all"
    task = parts.book.active["g"]
    assert (task.state, task.attempt, task.world_size) == (TaskState.ASSIGNED, 1, 3)
    assert task.node_id == task.ranks[0].node_id and sorted(task.node_ids) == ["a", "b", "c"]
    stored = await parts.store.get_task("g")
    assert stored.ranks == task.ranks, "the ranks are saved with the task"


async def test_a_gang_waits_whole_until_enough_nodes_fit() -> None:
    parts = await Parts.open()
    await parts.join("a", gpus=0, cpus=4, rendezvous_port=29400)
    await parts.join("b", gpus=0, cpus=4, rendezvous_port=29401)
    await parts.actions.create(training("g", world_size=3, resources=Resources(cpu_cores=2)))
    await parts.dispatcher.dispatch_once()
    task = parts.book.active["g"]
    assert task.state is TaskState.PENDING and not task.ranks
    assert "gang of 3" in task.state_reason and "only 2" in task.state_reason
    await parts.join("c", gpus=0, cpus=4)
    await parts.dispatcher.dispatch_once()
    assert parts.book.active["g"].state is TaskState.ASSIGNED


async def test_a_gang_runs_as_one_task_and_completes_when_every_rank_has() -> None:
    parts = await Parts.open()
    await gang_of_three(parts)
    assert await parts.report("a", "g", 1, TaskState.RUNNING)
    assert parts.book.active["g"].state is TaskState.ASSIGNED, "running once every rank runs"
    await run_all(parts)
    task = parts.book.active["g"]
    assert task.state is TaskState.RUNNING and "gang of 3" in task.state_reason
    rank0 = task.ranks[0].node_id
    for n in ("a", "b", "c"):
        assert await parts.report(n, "g", 1, progress=0.5 if n == rank0 else 0.25)
    assert parts.book.active["g"].progress == 0.25, "the gang is as far as its slowest rank"
    for n in ("a", "b", "c"):
        await parts.report(n, "g", 1, TaskState.COMPLETED)
    done = await parts.book.get("g")
    assert (done.state, done.progress) == (TaskState.COMPLETED, 1.0)
    assert [r.state for r in done.ranks] == [TaskState.COMPLETED] * 3


async def test_a_failing_rank_cancels_the_others_and_requeues_the_gang_with_a_retry_spent() -> None:
    parts = await Parts.open()
    await gang_of_three(parts, max_retries=1)
    await run_all(parts)
    assert await parts.report("b", "g", 1, TaskState.FAILED, reason="worker crashed")
    task = parts.book.active["g"]
    assert (task.state, task.failures, task.ranks) == (TaskState.PENDING, 1, ())
    assert "rank" in task.state_reason and "worker crashed" in task.state_reason
    for n in ("a", "c"):
        assert controls(drained(parts.sessions[n])) == [("g", 1, TaskAction.CANCEL)]
    assert not await parts.report("a", "g", 1, TaskState.CANCELLED), "the old attempt's ranks are stale now"
    await parts.dispatcher.dispatch_once()
    again = parts.book.active["g"]
    assert (again.state, again.attempt, len(again.ranks)) == (TaskState.ASSIGNED, 2, 3)


async def test_a_lost_node_requeues_the_whole_gang_without_spending_a_retry() -> None:
    parts = await Parts.open()
    await gang_of_three(parts)
    await run_all(parts)
    for n in ("a", "b"):
        parts.registry.touch(n)
    parts.clock.advance(parts.registry.ttl_seconds + 1)
    for n in ("a", "b"):
        parts.registry.touch(n)
    assert await parts.nodes.expire() == ["c"]
    task = parts.book.active["g"]
    assert (task.state, task.failures) == (TaskState.PENDING, 0)
    for n in ("a", "b"):
        assert ("g", 1, TaskAction.CANCEL) in controls(drained(parts.sessions[n]))


async def test_pause_and_stop_reach_every_rank() -> None:
    parts = await Parts.open()
    await gang_of_three(parts)
    await run_all(parts)
    await parts.actions.pause("g")
    for n in ("a", "b", "c"):
        assert controls(drained(parts.sessions[n])) == [("g", 1, TaskAction.PAUSE)]
    for n in ("a", "b"):
        await parts.report(n, "g", 1, TaskState.PAUSED)
    assert parts.book.active["g"].state is TaskState.RUNNING, "paused once every rank is"
    await parts.report("c", "g", 1, TaskState.PAUSED)
    assert parts.book.active["g"].state is TaskState.PAUSED
    await parts.actions.stop("g")
    for n in ("a", "b", "c"):
        assert controls(drained(parts.sessions[n])) == [("g", 1, TaskAction.STOP)]
        await parts.report(n, "g", 1, TaskState.CANCELLED)
    assert (await parts.book.get("g")).state is TaskState.CANCELLED


async def test_a_rank_zero_host_serves_one_gang_at_a_time() -> None:
    parts = await Parts.open()
    await parts.join("a", gpus=0, cpus=8, rendezvous_port=29400)
    await parts.join("b", gpus=0, cpus=8)
    for g in ("g1", "g2"):
        await parts.actions.create(training(g, world_size=2, resources=Resources(cpu_cores=2)))
    await parts.dispatcher.dispatch_once()
    first, second = parts.book.active["g1"], parts.book.active["g2"]
    assert first.state is TaskState.ASSIGNED and first.node_id == "a"
    assert second.state is TaskState.PENDING and "rendezvous" in second.state_reason


async def test_gang_logs_are_marked_by_rank_and_kept_apart() -> None:
    parts = await Parts.open()
    await gang_of_three(parts)
    for n in ("a", "b", "c"):
        await parts.reports.apply_reports(n, [LogReport("g", 1, [LogLine(1, 1, "stdout", "hello", 0.0)])])
    lines = await parts.book.logs("g")
    assert sorted(ln.text for ln in lines) == ["[rank 0] hello", "[rank 1] hello", "[rank 2] hello"]


async def test_a_gang_must_be_a_training_task() -> None:
    parts = await Parts.open()
    with pytest.raises(InvalidArgument, match="needs a training task"):
        await parts.actions.create(script("s", world_size=2))
    with pytest.raises(InvalidArgument, match="world_size must be 1 to"):
        await parts.actions.create(training("t", world_size=0))


async def test_two_gangs_wanting_the_same_nodes_never_split_them_and_both_finish() -> None:
    """Three nodes of one slot each and two gangs of two: the first is placed whole, the second holds
    nothing while it waits (no node half-taken by each, the deadlock of partial placement), and is
    placed whole once the first has ended."""
    parts = await Parts.open()
    for i, n in enumerate(("a", "b", "c")):
        await parts.join(n, gpus=0, cpus=2, rendezvous_port=29400 + i)
    for g in ("g1", "g2"):
        await parts.actions.create(training(g, world_size=2, resources=Resources(cpu_cores=2)))
    await parts.dispatcher.dispatch_once()
    first, second = parts.book.active["g1"], parts.book.active["g2"]
    assert first.state is TaskState.ASSIGNED and len(set(first.node_ids)) == 2
    assert second.state is TaskState.PENDING and not second.ranks and not second.node_ids
    for n in first.node_ids:
        await parts.report(n, "g1", 1, TaskState.COMPLETED)
    await parts.dispatcher.dispatch_once()
    second = parts.book.active["g2"]
    assert second.state is TaskState.ASSIGNED and len(set(second.node_ids)) == 2
