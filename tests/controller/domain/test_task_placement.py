"""TaskPlacement's passes for streaming nodes: what is placed, what waits and why, dependencies, groups."""

from __future__ import annotations

import pytest

from controller.domain.registry import AssignMessage
from controller.domain.types import Resources, TaskAttemptReport, TaskState
from domain_parts import Parts, assignments, drained, script


async def test_a_pass_assigns_attempt_one_commits_it_then_sends_it() -> None:
    parts = await Parts.open()
    session = await parts.join("n1", gpus=1)
    await parts.actions.create(script("t", resources=Resources(gpus=1)))
    [message] = await parts.placement.schedule()
    assert isinstance(message, AssignMessage)
    assert (message.task.id, message.task.node_id, message.task.attempt, message.gpu_indices) == ("t", "n1", 1, (0,))
    assert message.task.state_reason == "assigned to node n1"
    stored = await parts.book.get("t")
    assert (stored.state, stored.node_id, stored.attempt, stored.gpu_indices) == (TaskState.ASSIGNED, "n1", 1, (0,))
    assert drained(session) == [message]
    assert await parts.dispatcher.dispatch_once() == 0, "nothing is assigned twice"


async def test_placed_tasks_hold_their_resources_across_passes() -> None:
    parts = await Parts.open()
    session = await parts.join("n1", gpus=1)
    await parts.actions.create(script("a", resources=Resources(gpus=1)))
    await parts.dispatcher.dispatch_once()
    await parts.actions.create(script("b", resources=Resources(gpus=1)))
    assert await parts.placement.schedule() == []
    assert parts.book.active["b"].state_reason == "waiting for free capacity (1 GPU, 1 CPU cores)"
    assert (await parts.store.get_task("b")).state_reason == parts.book.active["b"].state_reason, "the reason is saved"

    await parts.report("n1", "a", 1, TaskState.COMPLETED)
    [message] = await parts.placement.schedule()
    assert (message.task.id, message.gpu_indices) == ("b", (0,))
    assert assignments(drained(session)) == [("a", 1), ("b", 1)]


async def test_a_pass_without_nodes_says_so() -> None:
    parts = await Parts.open()
    await parts.actions.create(script("t"))
    assert await parts.placement.schedule() == []
    assert parts.book.active["t"].state_reason == "no node is online"


async def test_a_node_without_a_stream_gets_nothing() -> None:
    parts = await Parts.open()
    parts.nodes.leave(await parts.join("n1"))
    await parts.actions.create(script("t"))
    assert await parts.placement.schedule() == []
    assert parts.book.active["t"].state is TaskState.PENDING


async def test_an_unchanged_reason_is_not_written_again() -> None:
    parts = await Parts.open()
    await parts.actions.create(script("t"))
    await parts.placement.schedule()
    commits = parts.store.commits
    await parts.placement.schedule()
    assert parts.store.commits == commits, "a pass that changes nothing commits nothing"


async def test_held_tasks_are_not_placed() -> None:
    parts = await Parts.open()
    await parts.join("n1")
    await parts.actions.create(script("held", held=True))
    assert await parts.placement.schedule() == []
    assert parts.book.active["held"].state_reason.startswith("held")


# Dependencies -----------------------------------------------------------------


async def test_a_task_waits_for_its_dependencies_to_complete() -> None:
    parts = await Parts.open()
    await parts.join("n1")
    await parts.actions.create(script("a"))
    await parts.actions.create(script("b", depends_on=("a",)))
    assert [m.task.id for m in await parts.placement.schedule()] == ["a"]
    assert parts.book.active["b"].state_reason == "waiting for dependencies: a"

    await parts.report("n1", "a", 1, TaskState.COMPLETED)
    assert [m.task.id for m in await parts.placement.schedule()] == ["b"]


async def test_a_dependency_that_completed_before_a_restart_still_counts() -> None:
    parts = await Parts.open()
    await parts.join("n1")
    await parts.actions.create(script("a"))
    await parts.actions.create(script("b", depends_on=("a",)))
    await parts.run_on("a", "n1")
    await parts.report("n1", "a", 1, TaskState.COMPLETED)
    parts = await parts.restart()
    await parts.join("n1")
    assert [m.task.id for m in await parts.placement.schedule()] == ["b"], "read from the store, not memory"


@pytest.mark.parametrize("ending", [TaskState.FAILED, TaskState.CANCELLED])
async def test_a_task_fails_when_a_dependency_cannot_complete(ending: TaskState) -> None:
    parts = await Parts.open()
    await parts.join("n1")
    await parts.actions.create(script("a"))
    await parts.actions.create(script("b", depends_on=("a",)))
    await parts.run_on("a", "n1")
    await parts.report("n1", "a", 1, ending)
    assert await parts.placement.schedule() == []
    b = await parts.book.get("b")
    why = f"dependency a {ending.value}"
    assert (b.state, b.state_reason, b.result.error, b.end_time) == (TaskState.FAILED, why, why, parts.clock())
    assert "b" not in parts.book.active


async def test_a_task_fails_when_a_dependency_is_deleted() -> None:
    parts = await Parts.open()
    await parts.actions.create(script("a"))
    await parts.actions.create(script("b", depends_on=("a",)))
    await parts.actions.delete("a")
    await parts.placement.schedule()
    b = await parts.book.get("b")
    assert (b.state, b.state_reason) == (TaskState.FAILED, "dependency a was deleted")


# Concurrency limits -------------------------------------------------------------


async def test_a_concurrency_limit_keeps_the_rest_of_its_group_pending_in_order() -> None:
    parts = await Parts.open(limits={"sessions": 1})
    await parts.join("n1")
    book = parts.book
    await parts.actions.create(script("first", concurrency_group="sessions"))
    parts.clock.advance(1)
    await parts.actions.create(script("second", concurrency_group="sessions"))
    free = await parts.actions.create(script("free"))
    assert book.free_group_slots("sessions") == -1, "pending ones ahead count too"
    assert book.free_group_slots("unlimited") > 1000
    assert [t.id for t in book.queue("sessions")] == ["first", "second"]
    await parts.placement.schedule()
    assert book.active["first"].state is TaskState.ASSIGNED and book.active["free"].state is TaskState.ASSIGNED
    assert book.active["second"].state is TaskState.PENDING
    assert book.active["second"].state_reason == "waiting for a free slot of concurrency group 'sessions'"
    # The slot frees when the first one ends; the group's order holds.
    await parts.report("n1", "first", 1, TaskState.COMPLETED)
    await parts.placement.schedule()
    assert book.active["second"].state is TaskState.ASSIGNED
    assert (await book.get("second")).concurrency_group == "sessions", "the group is stored"
    assert free.concurrency_group == ""


async def test_a_group_slot_is_held_by_a_running_task_across_a_restart() -> None:
    parts = await Parts.open(limits={"g": 1})
    await parts.join("n1")
    await parts.actions.create(script("a", concurrency_group="g"))
    await parts.run_on("a", "n1")
    parts = await parts.restart()
    await parts.join("n1", TaskAttemptReport("a", 1, TaskState.RUNNING))
    await parts.actions.create(script("b", concurrency_group="g"))
    assert await parts.placement.schedule() == []
    assert parts.book.active["b"].state_reason == "waiting for a free slot of concurrency group 'g'"
