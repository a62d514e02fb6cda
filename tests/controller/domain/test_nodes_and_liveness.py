"""NodeBook and the loops' single passes: joins, lost nodes, restarts and the reconnect grace."""

from __future__ import annotations

import pytest

from controller.domain.errors import InvalidArgument, NotFound
from controller.domain.store import StoreUnavailable
from controller.domain.types import NodeState, Resources, TaskAttemptReport, TaskState
from domain_parts import Parts, assignments, drained, node, script

TTL = 10.0


async def placed_on_n1(parts: Parts, task_id: str = "t", **fields: object) -> None:
    await parts.actions.create(script(task_id, **fields))
    await parts.run_on(task_id, "n1")


# Joining --------------------------------------------------------------------------


async def test_a_joined_node_is_stored_and_receives_assignments() -> None:
    parts = await Parts.open()
    session = await parts.join("n1")
    [stored] = await parts.store.all_nodes()
    assert (stored.id, stored.state, stored.create_time, stored.last_seen) == (
        "n1", NodeState.ONLINE, parts.clock(), parts.clock())  # fmt: skip
    await parts.actions.create(script("t", resources=Resources(gpus=1, memory_mb=512)))
    assert await parts.dispatcher.dispatch_once() == 1
    assert assignments(drained(session)) == [("t", 1)]
    view = parts.nodes.view("n1")
    assert view.task_ids == ["t"] and view.allocated == Resources(gpus=1, cpu_cores=1.0, memory_mb=512)
    assert [v.node.id for v in parts.nodes.list(NodeState.ONLINE)] == ["n1"]
    assert parts.nodes.list(NodeState.OFFLINE) == []
    assert await parts.dispatcher.dispatch_once() == 0, "nothing is assigned twice"


async def test_a_rejoin_keeps_the_first_join_time() -> None:
    parts = await Parts.open()
    await parts.join("n1")
    first = parts.clock()
    parts.clock.advance(100)
    await parts.join("n1", cpus=16)
    [stored] = await parts.store.all_nodes()
    assert (stored.create_time, stored.last_seen, stored.capabilities.cpu_cores) == (first, parts.clock(), 16)


@pytest.mark.parametrize("node_id", ["", "../n", "-n", "a b"])
async def test_a_join_with_a_bad_node_id_is_refused(node_id: str) -> None:
    parts = await Parts.open()
    with pytest.raises(InvalidArgument):
        await parts.nodes.join(node(node_id), [])
    assert parts.registry.nodes == {} and await parts.store.all_nodes() == []


async def test_a_join_whose_commit_fails_opens_no_session_and_requeues_nothing() -> None:
    parts = await Parts.open()
    await parts.join("n1")
    await placed_on_n1(parts)
    parts = await parts.restart()
    parts.store.fail_next_commits = 1
    with pytest.raises(StoreUnavailable):
        await parts.nodes.join(node("n1"), [])
    assert parts.registry.nodes["n1"].state is NodeState.RECONNECTING and parts.registry.schedulable() == []
    assert parts.book.active["t"].state is TaskState.RUNNING, "its work is not requeued in memory alone"


async def test_view_of_an_unknown_node_is_not_found() -> None:
    parts = await Parts.open()
    with pytest.raises(NotFound) as err:
        parts.nodes.view("nope")
    assert err.value.reason == "NODE_NOT_FOUND"


# Lost nodes -----------------------------------------------------------------------


async def test_a_silent_node_is_marked_offline_and_its_work_requeued_without_spending_a_retry() -> None:
    parts = await Parts.open(ttl=TTL)
    await parts.join("n1")
    await placed_on_n1(parts, resources=Resources(gpus=1), max_retries=0)
    parts.clock.advance(TTL - 1)
    assert await parts.liveness.check_once() == []
    parts.clock.advance(2)

    assert await parts.liveness.check_once() == ["n1"]
    assert [(n.id, n.state) for n in await parts.store.all_nodes()] == [("n1", NodeState.OFFLINE)]
    assert parts.sessions["n1"].closed and parts.registry.schedulable() == []
    task = await parts.book.get("t")
    assert (task.state, task.node_id, task.gpu_indices, task.attempt, task.failures) == (
        TaskState.PENDING, "", (), 1, 0)  # fmt: skip
    assert task.state_reason == "node n1 lost (no heartbeat for 11 s); attempt 1 requeued"
    assert await parts.liveness.check_once() == [], "a node is lost once"

    session = await parts.join("n2")
    await parts.dispatcher.dispatch_once()
    assert assignments(drained(session)) == [("t", 2)]
    assert not await parts.report("n1", "t", 1, TaskState.COMPLETED), "the lost attempt is stale"


async def test_heartbeats_keep_a_node_with_work_alive() -> None:
    parts = await Parts.open(ttl=TTL)
    await parts.join("n1")
    await placed_on_n1(parts)
    for _ in range(5):
        parts.clock.advance(TTL - 1)
        parts.registry.touch("n1")
        assert await parts.liveness.check_once() == []
    assert parts.book.active["t"].state is TaskState.RUNNING


async def test_a_node_lost_after_a_stop_was_asked_ends_the_task_cancelled() -> None:
    parts = await Parts.open(ttl=TTL)
    await parts.join("n1")
    await placed_on_n1(parts)
    await parts.actions.stop("t")
    parts.clock.advance(TTL + 1)
    await parts.liveness.check_once()
    stored = await parts.book.get("t")
    assert (stored.state, stored.state_reason) == (
        TaskState.CANCELLED, "stopped by user; its node was lost before it confirmed")  # fmt: skip
    assert "t" not in parts.book.active


# Restarts ---------------------------------------------------------------------------


async def test_state_survives_a_restart() -> None:
    parts = await Parts.open()
    await parts.join("n1", gpus=2)
    await parts.actions.create(script("done"))
    await parts.actions.create(script("running", resources=Resources(gpus=2, memory_mb=512), max_retries=1))
    await parts.actions.create(script("waiting", depends_on=("running",)))
    await parts.run_on("done", "n1")
    await parts.report("n1", "done", 1, TaskState.COMPLETED)
    await parts.run_on("running", "n1")

    parts = await parts.restart()
    assert set(parts.book.active) == {"running", "waiting"}
    running = parts.book.active["running"]
    assert (running.state, running.node_id, running.attempt, running.gpu_indices) == (
        TaskState.RUNNING, "n1", 1, (0, 1))  # fmt: skip
    assert running.resources == Resources(gpus=2, memory_mb=512, cpu_cores=1.0)
    assert parts.book.active["waiting"].depends_on == ("running",)
    assert (await parts.book.get("done")).state is TaskState.COMPLETED
    # The agent comes back with its attempt; the reloaded placement still holds its GPUs.
    await parts.join("n1", TaskAttemptReport("running", 1, TaskState.RUNNING), gpus=2)
    await parts.actions.create(script("more", resources=Resources(gpus=1)))
    assert await parts.placement.schedule() == []
    assert parts.book.active["more"].state_reason.startswith("waiting for free capacity")


async def test_reconcile_after_restart_reattaches_what_the_agent_still_runs() -> None:
    parts = await Parts.open()
    await parts.join("n1", cpus=8)
    for task_id in ("kept", "forgotten", "retried"):
        await placed_on_n1(parts, task_id, max_retries=1)
    await parts.report("n1", "retried", 1, TaskState.FAILED)
    await parts.run_on("retried", "n1")  # now attempt 2

    parts = await parts.restart()
    reports = [TaskAttemptReport("kept", 1, TaskState.RUNNING), TaskAttemptReport("retried", 1, TaskState.RUNNING)]
    session, result = await parts.nodes.join(node("n1"), reports)
    assert [r.task_id for r in result.reattached] == ["kept"]
    assert [r.task_id for r in result.superseded] == ["retried"]
    kept = parts.book.active["kept"]
    assert (kept.state, kept.attempt) == (TaskState.RUNNING, 1)
    for task_id in ("forgotten", "retried"):
        task = await parts.book.get(task_id)
        assert (task.state, task.node_id) == (TaskState.PENDING, "")
    assert parts.book.active["forgotten"].state_reason == "node n1 reconnected without attempt 1; requeued"
    assert parts.book.active["retried"].failures == 1, "a requeue spends no retry"
    # A reattached attempt keeps reporting as before.
    assert await parts.report("n1", "kept", 1, TaskState.COMPLETED)
    assert assignments(drained(session)) == []


async def test_reconcile_from_another_node_does_not_steal_tasks() -> None:
    parts = await Parts.open()
    await parts.join("n1")
    await placed_on_n1(parts)
    _, result = await parts.nodes.join(node("n2"), [TaskAttemptReport("t", 1, TaskState.RUNNING)])
    assert result.reattached == [] and [r.task_id for r in result.superseded] == ["t"]
    assert (parts.book.active["t"].node_id, parts.book.active["t"].state) == ("n1", TaskState.RUNNING)


async def test_after_a_restart_a_returning_node_keeps_its_work_and_a_missing_one_loses_it() -> None:
    parts = await Parts.open(ttl=TTL, grace=30)
    await parts.join("back")
    await parts.join("gone")
    for task_id in ("a", "b"):
        await parts.actions.create(script(task_id, resources=Resources(gpus=1)))
    await parts.dispatcher.dispatch_once()
    on = {t.node_id: t for t in parts.book.active.values()}
    assert set(on) == {"back", "gone"}
    for node_id, task in on.items():
        await parts.report(node_id, task.id, 1, TaskState.RUNNING)

    parts = await parts.restart(grace=30)
    assert {n.state for n in parts.registry.nodes.values()} == {NodeState.RECONNECTING}
    parts.clock.advance(TTL + 5)  # past the TTL but inside the grace
    assert await parts.liveness.check_once() == []
    assert {t.state for t in parts.book.active.values()} == {TaskState.RUNNING}, "nothing lost in the grace"

    kept = on["back"].id
    await parts.join("back", TaskAttemptReport(kept, 1, TaskState.RUNNING))
    parts.clock.advance(30 - TTL)  # the grace runs out
    parts.registry.touch("back")  # while the returned node keeps beating
    assert await parts.liveness.check_once() == ["gone"]

    assert (await parts.book.get(kept)).state is TaskState.RUNNING
    lost = await parts.book.get(on["gone"].id)
    assert (lost.state, lost.node_id) == (TaskState.PENDING, "")
    assert parts.registry.nodes["gone"].state is NodeState.OFFLINE
    assert {n.id: n.state for n in await parts.store.all_nodes()} == {"back": NodeState.ONLINE,
                                                                      "gone": NodeState.OFFLINE}  # fmt: skip
