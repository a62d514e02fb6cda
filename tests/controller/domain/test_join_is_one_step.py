"""A reconnecting node never runs a task twice: joining and reconciling are one step (issue 9, item 2)."""

from __future__ import annotations

import asyncio

from controller.domain.types import TaskAttemptReport, TaskState
from domain_parts import Parts, assignments, drained, node, script
from test_commit_before_visible import GatedStore


async def test_a_pass_during_a_join_places_nothing_on_the_node_until_it_has_joined() -> None:
    store = GatedStore()
    parts = await Parts.open(store)
    await parts.actions.create(script("t"))
    store.armed = True
    joining = asyncio.create_task(parts.nodes.join(node("n1"), []))
    await store.entered.wait()  # the join is being committed: the node is not schedulable yet
    passing = asyncio.create_task(parts.dispatcher.dispatch_once())
    store.release.set()
    session, _ = await joining
    assert await passing == 0, "the pass in the gap placed nothing"
    await parts.dispatcher.dispatch_once()
    assert assignments(drained(session)) == [("t", 1)]
    assert parts.book.active["t"].attempt == 1 and parts.book.active["t"].state is TaskState.ASSIGNED


async def test_a_reconnect_reporting_its_attempt_keeps_it_and_a_pass_meanwhile_adds_nothing() -> None:
    store = GatedStore()
    parts = await Parts.open(store)
    await parts.join("n1")
    await parts.actions.create(script("t"))
    await parts.run_on("t", "n1")
    store.armed = True
    rejoin = asyncio.create_task(parts.nodes.join(node("n1"), [TaskAttemptReport("t", 1, TaskState.RUNNING)]))
    await store.entered.wait()
    passing = asyncio.create_task(parts.dispatcher.dispatch_once())
    store.release.set()
    session, reconciliation = await rejoin
    await passing
    assert [r.task_id for r in reconciliation.reattached] == ["t"]
    assert assignments(drained(session)) == [], "attempt 1 is reattached, never assigned again"
    assert (parts.book.active["t"].state, parts.book.active["t"].attempt) == (TaskState.RUNNING, 1)


async def test_a_reconnect_without_its_attempt_requeues_it_in_the_same_commit_as_the_join() -> None:
    parts = await Parts.open()
    await parts.join("n1")
    await parts.actions.create(script("t"))
    await parts.run_on("t", "n1")
    commits = parts.store.commits
    session, reconciliation = await parts.nodes.join(node("n1"), [])
    assert parts.store.commits == commits + 1, "node and requeued work in one commit"
    assert reconciliation.reattached == []
    assert parts.book.active["t"].state is TaskState.PENDING
    await parts.dispatcher.dispatch_once()
    assert assignments(drained(session)) == [("t", 2)]
