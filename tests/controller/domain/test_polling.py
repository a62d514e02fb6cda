"""Nodes that pull work: TaskPlacement's offers and atomic claims, and PollingNodes on top of them."""

from __future__ import annotations

import asyncio

import pytest

from controller.domain.errors import FailedPrecondition, InvalidArgument, NotFound
from controller.domain.types import Capabilities, Node, NodeState, NodeUsage, Priority, TaskResult, TaskState
from domain_parts import Parts, assignments, capacity, drained, script, training

SCRIPTS = frozenset({"script"})
TTL = 10.0


def polling_node(node_id: str = "p", cpus: int = 4) -> Node:
    return Node(node_id, hostname=node_id, capabilities=Capabilities(cpu_cores=cpus, memory_mb=8192))


async def claimed(parts: Parts, task_id: str = "t", node_id: str = "p", **fields: object) -> None:
    if node_id not in parts.registry.nodes:
        await parts.polling.register(polling_node(node_id))
    await parts.actions.create(script(task_id, **fields))
    await parts.polling.claim(node_id, task_id)


# Offers and claims ------------------------------------------------------------------


async def test_a_pulling_node_is_offered_what_the_scheduler_would_give_it() -> None:
    parts = await Parts.open()
    assert await parts.placement.offer(capacity("p"), SCRIPTS) is None
    await parts.actions.create(script("low"))
    await parts.actions.create(script("held", held=True))
    await parts.actions.create(script("high", priority=Priority.HIGH))
    await parts.actions.create(training("train", priority=Priority.CRITICAL))
    offered = await parts.placement.offer(capacity("p"), SCRIPTS)
    assert offered is not None and offered.id == "high", "the most important script that is not held"
    assert parts.book.active["high"].state is TaskState.PENDING, "an offer places nothing"
    assert (await parts.placement.offer(capacity("p"), frozenset({"training"}))).id == "train"


async def test_concurrent_claims_of_one_task_give_it_to_one_node() -> None:
    parts = await Parts.open()
    session = await parts.join("s")
    await parts.actions.create(script("t"))
    results = await asyncio.gather(
        *(parts.placement.claim(capacity(f"p{i}"), "t", SCRIPTS) for i in range(5)), parts.placement.schedule(),
        return_exceptions=True,
    )  # fmt: skip
    claimed_by = [r.node_id for r in results[:5] if not isinstance(r, BaseException)]
    streamed = results[5]
    assert not isinstance(streamed, BaseException)
    assert len(claimed_by) + len(streamed) == 1, results
    assert all(isinstance(r, FailedPrecondition) and r.reason == "TASK_NOT_AVAILABLE"
               for r in results[:5] if isinstance(r, BaseException))  # fmt: skip
    task = parts.book.active["t"]
    assert (task.attempt, task.state) == (1, TaskState.ASSIGNED)
    assert task.node_id == (claimed_by[0] if claimed_by else "s")
    assert len(assignments(drained(session))) == len(streamed), "a claimed task is not also pushed"


async def test_a_claim_respects_the_nodes_free_capacity() -> None:
    parts = await Parts.open()
    await parts.actions.create(script("a"))
    await parts.actions.create(script("b"))
    claimed_task = await parts.placement.claim(capacity("p", cpu=1), "a", SCRIPTS)
    assert (claimed_task.state, claimed_task.node_id, claimed_task.attempt) == (TaskState.ASSIGNED, "p", 1)
    assert (await parts.store.get_task("a")).state is TaskState.ASSIGNED, "a claim is committed"
    with pytest.raises(FailedPrecondition):
        await parts.placement.claim(capacity("p", cpu=1), "b", SCRIPTS)
    with pytest.raises(NotFound):
        await parts.placement.claim(capacity("p"), "nope", SCRIPTS)


async def test_an_offer_fails_and_saves_tasks_whose_dependency_failed() -> None:
    parts = await Parts.open()
    await parts.actions.create(script("dep"))
    await parts.actions.cancel("dep")
    await parts.actions.create(script("after", depends_on=("dep",)))
    assert await parts.placement.offer(capacity("p"), SCRIPTS) is None
    parts = await parts.restart()
    assert (await parts.book.get("after")).state is TaskState.FAILED


# PollingNodes -----------------------------------------------------------------------


async def test_register_admits_a_node_without_a_stream_and_stores_it() -> None:
    parts = await Parts.open()
    named = await parts.polling.register(polling_node("p"))
    unnamed = await parts.polling.register(Node(""))
    assert named.id == "p" and unnamed.id.startswith("node-")
    assert {n.id for n in await parts.store.all_nodes()} == {"p", unnamed.id}
    assert parts.registry.online("p") is not None and parts.registry.schedulable() == []
    with pytest.raises(InvalidArgument):
        await parts.polling.register(Node("../p"))


async def test_a_beat_of_an_unknown_node_is_not_found() -> None:
    parts = await Parts.open()
    with pytest.raises(NotFound) as err:
        await parts.polling.offer("ghost")
    assert err.value.reason == "NODE_NOT_FOUND"


async def test_a_polling_node_lost_to_its_ttl_comes_back_with_its_next_call() -> None:
    parts = await Parts.open(ttl=TTL)
    await claimed(parts)
    parts.clock.advance(TTL + 1)
    assert await parts.liveness.check_once() == ["p"]
    assert parts.book.active["t"].state is TaskState.PENDING, "its work went back to the queue"
    assert await parts.polling.offer("p") is not None
    assert parts.registry.nodes["p"].state is NodeState.ONLINE
    assert [n.state for n in await parts.store.all_nodes()] == [NodeState.ONLINE]


async def test_a_beat_records_usage() -> None:
    parts = await Parts.open()
    await parts.polling.register(polling_node("p"))
    await parts.polling.beat("p", NodeUsage(cpu_percent=12.5))
    assert parts.registry.nodes["p"].usage.cpu_percent == 12.5


async def test_a_claimed_task_runs_logs_and_completes() -> None:
    parts = await Parts.open()
    await claimed(parts)
    assert parts.polling.current("p", "t", 1) is not None and parts.polling.current("p", "t", 2) is None
    assert await parts.polling.append_logs("p", "t", 1, ["one", "two"], 0)
    assert parts.book.active["t"].state is TaskState.RUNNING, "a printed line means it started"
    assert await parts.polling.append_logs("p", "t", 1, ["three"], 0), "numbered after the last stored line"
    assert await parts.polling.append_logs("p", "t", 1, ["two again"], 2), "a replay of line 2 is ignored"
    assert [(ln.line_no, ln.text) for ln in await parts.book.logs("t")] == [(1, "one"), (2, "two"), (3, "three")]
    done = await parts.polling.finish("p", "t", 1, TaskResult(exit_code=0))
    assert done.state is TaskState.COMPLETED
    assert not await parts.polling.append_logs("p", "t", 1, ["late"], 0)


async def test_a_nonzero_exit_fails_the_task_and_finish_checks_the_attempt() -> None:
    parts = await Parts.open()
    await claimed(parts)
    with pytest.raises(FailedPrecondition) as err:
        await parts.polling.finish("p", "t", 2, TaskResult(exit_code=0))
    assert err.value.reason == "NOT_RUNNING_HERE"
    with pytest.raises(NotFound):
        await parts.polling.finish("p", "nope", 1, TaskResult())
    failed = await parts.polling.finish("p", "t", 0, TaskResult(exit_code=2))
    assert (failed.state, failed.result.error, failed.state_reason) == (
        TaskState.FAILED, "exited with code 2", "exited with code 2")  # fmt: skip
    with pytest.raises(FailedPrecondition):
        await parts.polling.finish("p", "t", 1, TaskResult(exit_code=0))


async def test_polling_nodes_are_offered_scripts_only() -> None:
    parts = await Parts.open()
    await parts.polling.register(polling_node("p"))
    await parts.actions.create(training("train"))
    assert await parts.polling.offer("p") is None
    with pytest.raises(FailedPrecondition):
        await parts.polling.claim("p", "train")


async def test_an_attempt_that_overruns_its_time_limit_is_failed_by_the_next_call() -> None:
    parts = await Parts.open(ttl=TTL)
    await claimed(parts, time_limit_seconds=60)
    await parts.polling.started("p", "t")
    assert parts.book.active["t"].start_time == parts.clock()
    parts.clock.advance(60 + TTL - 1)
    await parts.polling.beat("p")
    assert parts.book.active["t"].state is TaskState.RUNNING, "within the limit and the TTL's slack"
    parts.clock.advance(2)
    await parts.polling.beat("p")
    stored = await parts.book.get("t")
    assert (stored.state, stored.result.exit_code) == (TaskState.FAILED, -1)
    assert stored.result.error == "time limit of 60 s exceeded (ended by the controller)"
