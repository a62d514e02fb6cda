"""TaskActions, what users ask of tasks: create, cancel, stop, pause, resume, set_spec, restart, delete."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from controller.domain.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from controller.domain.store import TaskQuery
from controller.domain.task_actions import NOTE_ATTEMPT
from controller.domain.types import Priority, Resources, Task, TaskAction, TaskResult, TaskState
from domain_parts import Parts, controls, drained, script, training
from taskspec.script import ScriptSpec
from taskspec.training import TrainingConfig, TrainingSpec

ALL = TaskQuery(limit=100)


async def stored_count(parts: Parts) -> int:
    return (await parts.store.list_tasks(ALL)).total


# Create -----------------------------------------------------------------------


async def test_create_commits_a_pending_task_with_defaults() -> None:
    parts = await Parts.open()
    task = await parts.actions.create(script("train-1", priority=Priority.HIGH))
    assert (task.state, task.attempt, task.state_reason) == (TaskState.PENDING, 0, "waiting to be scheduled")
    assert task.resources.cpu_cores == 1.0, "a task that asks for nothing gets one core"
    assert task.create_time == task.update_time == parts.clock()
    stored = await parts.store.get_task("train-1")
    assert stored is not None, "committed before create returns"
    assert (stored.state, stored.priority, stored.resources) == (TaskState.PENDING, Priority.HIGH, task.resources)
    assert parts.book.active["train-1"] == task and parts.book.wakeup.is_set()


async def test_create_without_an_id_generates_one() -> None:
    parts = await Parts.open()
    a, b = await parts.actions.create(script()), await parts.actions.create(script())
    assert a.id and b.id and a.id != b.id


@pytest.mark.parametrize(
    "task",
    [
        script("t", source=""),
        Task(id="t", spec=ScriptSpec(source="x", entrypoint="../evil.py")),
        Task(id="t", spec=ScriptSpec(source="x", entrypoint="run")),  # no interpreter can be inferred
        Task(id="t", spec=TrainingSpec(TrainingConfig(architecture="mlp", epochs=1))),  # no data
        Task(id="t", spec=TrainingSpec(TrainingConfig(architecture="transformer", epochs=1), dataset="d.csv")),
        script("../etc"),
        script("-starts-with-dash"),
        script("t", resources=Resources(gpus=-1)),
        script("t", resources=Resources(cpu_cores=float("nan"))),
        script("t", resources=Resources(cpu_cores=2.0**31)),  # an int32 (AI Farm's min_cpu_cores) no more holds it
        script("t", resources=Resources(gpus=5000)),
        script("t", max_retries=101),
        script("t", time_limit_seconds=-5),
        script("t", output_model="../weights"),
        script("t", concurrency_group="no spaces"),
        script("t", display_name="x" * 513),
        script("t", labels={"k": "v" * (64 << 10)}),
    ],
)
async def test_invalid_tasks_are_refused_and_nothing_is_stored(task: Task) -> None:
    parts = await Parts.open()
    with pytest.raises(InvalidArgument):
        await parts.actions.create(task)
    assert parts.book.active == {} and await stored_count(parts) == 0


async def test_an_invalid_spec_names_its_reason() -> None:
    parts = await Parts.open()
    with pytest.raises(InvalidArgument) as err:
        await parts.actions.create(script("t", source=""))
    assert err.value.reason == "INVALID_SPEC" and "source is empty" in str(err.value)


async def test_a_task_id_can_be_used_once() -> None:
    parts = await Parts.open()
    await parts.actions.create(script("dup"))
    with pytest.raises(AlreadyExists) as err:
        await parts.actions.create(script("dup"))
    assert err.value.reason == "TASK_EXISTS"
    await parts.actions.cancel("dup")
    with pytest.raises(AlreadyExists):  # an ended task keeps its id
        await parts.actions.create(script("dup"))


async def test_a_repeated_request_id_returns_the_first_task() -> None:
    parts = await Parts.open()
    first = await parts.actions.create(script(request_id="req-1"))
    again = await parts.actions.create(script(request_id="req-1", display_name="a retry of the same call"))
    assert again.id == first.id and again.display_name == ""
    assert await stored_count(parts) == 1


async def test_concurrent_creates_with_one_request_id_make_one_task() -> None:
    parts = await Parts.open()
    tasks = await asyncio.gather(*(parts.actions.create(script(request_id="req-1")) for _ in range(5)))
    assert len({t.id for t in tasks}) == 1
    assert await stored_count(parts) == 1


async def test_get_of_an_unknown_task_is_not_found() -> None:
    parts = await Parts.open()
    with pytest.raises(NotFound) as err:
        await parts.book.get("nope")
    assert err.value.reason == "TASK_NOT_FOUND"


async def test_dependencies_must_name_existing_other_tasks() -> None:
    parts = await Parts.open()
    with pytest.raises(InvalidArgument) as err:
        await parts.actions.create(script("b", depends_on=("ghost",)))
    assert err.value.reason == "UNKNOWN_DEPENDENCY"
    with pytest.raises(InvalidArgument):
        await parts.actions.create(script("self", depends_on=("self",)))
    with pytest.raises(InvalidArgument):
        await parts.actions.create(script("c", depends_on=("../x",)))
    await parts.actions.create(script("a"))
    await parts.actions.cancel("a")
    ok = await parts.actions.create(script("d", depends_on=("a", "a")))
    assert ok.depends_on == ("a",), "an ended task is a known dependency; repeats are dropped"


# Cancel and stop ----------------------------------------------------------------


async def test_cancel_a_pending_task_sends_nothing() -> None:
    parts = await Parts.open()
    session = await parts.join("n1")
    await parts.actions.create(script("t", resources=Resources(gpus=2)))  # does not fit n1: stays pending
    task = await parts.actions.cancel("t")
    assert (task.state, task.state_reason, task.end_time) == (TaskState.CANCELLED, "cancelled by user", parts.clock())
    assert drained(session) == [] and "t" not in parts.book.active
    assert (await parts.store.get_task("t")).state is TaskState.CANCELLED


async def test_cancel_a_running_task_tells_its_node() -> None:
    parts = await Parts.open()
    await parts.join("n1")
    await parts.actions.create(script("t"))
    await parts.run_on("t", "n1")
    await parts.actions.cancel("t")
    assert controls(drained(parts.sessions["n1"])) == [("t", 1, TaskAction.CANCEL)]
    assert (await parts.book.get("t")).state is TaskState.CANCELLED
    assert not await parts.report("n1", "t", 1, TaskState.COMPLETED), "the attempt has ended"


async def test_actions_on_an_ended_task_fail_with_task_ended() -> None:
    parts = await Parts.open()
    await parts.actions.create(script("t"))
    await parts.actions.cancel("t")
    a = parts.actions
    for action in (a.cancel, a.stop, a.pause, a.resume):
        with pytest.raises(FailedPrecondition) as err:
            await action("t")
        assert err.value.reason == "TASK_ENDED"


async def test_actions_on_an_unknown_task_are_not_found() -> None:
    parts = await Parts.open()
    a = parts.actions
    for action in (a.cancel, a.stop, a.pause, a.resume, a.restart, a.delete):
        with pytest.raises(NotFound) as err:
            await action("nope")
        assert err.value.reason == "TASK_NOT_FOUND"
    with pytest.raises(NotFound):
        await a.set_spec("nope", ScriptSpec(source="x"))


async def test_stop_asks_a_running_task_and_waits_for_its_report() -> None:
    parts = await Parts.open()
    await parts.join("n1")
    await parts.actions.create(script("t"))
    await parts.run_on("t", "n1")
    task = await parts.actions.stop("t")
    assert (task.state, task.stopping) == (TaskState.RUNNING, True)
    assert task.state_reason == "stopping: asked to stop by user"
    assert (await parts.store.get_task("t")).stopping, "the stop is committed"
    assert controls(drained(parts.sessions["n1"])) == [("t", 1, TaskAction.STOP)]
    await parts.report("n1", "t", 1, TaskState.CANCELLED)
    stored = await parts.book.get("t")
    assert (stored.state, stored.stopping) == (TaskState.CANCELLED, False)


async def test_a_stopped_task_that_fails_is_not_retried() -> None:
    parts = await Parts.open()
    await parts.join("n1")
    await parts.actions.create(script("t", max_retries=3))
    await parts.run_on("t", "n1")
    await parts.actions.stop("t")
    await parts.report("n1", "t", 1, TaskState.FAILED, reason="killed")
    stored = await parts.book.get("t")
    assert (stored.state, stored.failures) == (TaskState.FAILED, 0)


async def test_stop_of_a_task_not_yet_running_cancels_it() -> None:
    parts = await Parts.open()
    session = await parts.join("n1")
    await parts.actions.create(script("assigned"))
    await parts.dispatcher.dispatch_once()
    await parts.actions.create(script("pending", resources=Resources(gpus=4)))
    assert (await parts.actions.stop("pending")).state_reason == "stopped by user"
    assert (await parts.actions.stop("assigned")).state is TaskState.CANCELLED
    assert controls(drained(session)) == [("assigned", 1, TaskAction.CANCEL)]


# Pause and resume -----------------------------------------------------------------


async def test_pause_and_resume_are_asked_of_the_node_and_confirmed_by_its_report() -> None:
    parts = await Parts.open()
    await parts.join("n1")
    await parts.actions.create(script("t"))
    await parts.run_on("t", "n1")
    paused = await parts.actions.pause("t", reason="the rack is hot")
    assert paused.state is TaskState.RUNNING, "paused only once the agent says so"
    assert (await parts.book.get("t")).state is TaskState.RUNNING, "asking changes no state"
    notes = [line for line in await parts.store.logs("t") if line.attempt == NOTE_ATTEMPT]
    assert [n.text for n in notes] == ["pause asked by user: the rack is hot"], "the reason is in the task's history"
    await parts.report("n1", "t", 1, TaskState.PAUSED)
    assert (await parts.book.get("t")).state is TaskState.PAUSED
    await parts.actions.resume("t")
    assert controls(drained(parts.sessions["n1"])) == [("t", 1, TaskAction.PAUSE), ("t", 1, TaskAction.RESUME)]
    await parts.report("n1", "t", 1, TaskState.RUNNING)
    assert (await parts.book.get("t")).state is TaskState.RUNNING


async def test_pause_and_resume_need_the_right_state() -> None:
    parts = await Parts.open()
    session = await parts.join("n1")
    await parts.actions.create(script("t"))
    with pytest.raises(FailedPrecondition) as err:
        await parts.actions.pause("t")
    assert err.value.reason == "TASK_STATE"
    await parts.run_on("t", "n1")
    drained(session)
    with pytest.raises(FailedPrecondition) as err:
        await parts.actions.resume("t")
    assert err.value.reason == "TASK_STATE"
    assert drained(session) == [], "nothing went out"


async def test_pause_on_a_disconnected_node_is_refused() -> None:
    parts = await Parts.open()
    session = await parts.join("n1")
    await parts.actions.create(script("t"))
    await parts.run_on("t", "n1")
    parts.nodes.leave(session)
    with pytest.raises(FailedPrecondition, match="not connected"):
        await parts.actions.pause("t")


# Set spec, restart, delete ----------------------------------------------------------


async def test_a_held_task_waits_until_its_spec_is_set_and_keeps_it_across_a_restart() -> None:
    parts = await Parts.open()
    await parts.join("n1")
    held = await parts.actions.create(script("job", source="", held=True))  # a held spec is checked when set
    assert held.state_reason == "held: waiting for its spec to be set"
    assert await parts.dispatcher.dispatch_once() == 0
    new = ScriptSpec(source="print(2)")
    changed = await parts.actions.set_spec("job", new, time_limit_seconds=30)
    assert (changed.held, changed.state_reason) == (False, "waiting to be scheduled")
    await parts.dispatcher.dispatch_once()
    assigned = parts.book.active["job"]
    assert (assigned.state, assigned.spec, assigned.time_limit_seconds) == (TaskState.ASSIGNED, new, 30)
    restarted = await parts.restart()
    stored = await restarted.book.get("job")
    assert (stored.held, stored.spec, stored.time_limit_seconds) == (False, new, 30)


async def test_a_held_task_may_say_what_it_waits_for() -> None:
    parts = await Parts.open()
    held = await parts.actions.create(script("job", held=True, state_reason="waiting for the upload"))
    assert held.state_reason == "held: waiting for the upload"


async def test_set_spec_validates_and_keeps_the_kind() -> None:
    parts = await Parts.open()
    await parts.actions.create(script("t", held=True))
    with pytest.raises(InvalidArgument):
        await parts.actions.set_spec("t", ScriptSpec(source=""))
    with pytest.raises(FailedPrecondition) as err:
        await parts.actions.set_spec("t", training().spec)
    assert err.value.reason == "TASK_KIND"
    assert parts.book.active["t"].held, "a refused spec changes nothing"


async def test_the_spec_of_a_placed_task_cannot_change() -> None:
    parts = await Parts.open()
    await parts.join("n1")
    await parts.actions.create(script("t"))
    await parts.run_on("t", "n1")
    with pytest.raises(FailedPrecondition) as err:
        await parts.actions.set_spec("t", ScriptSpec(source="print(3)"))
    assert err.value.reason == "TASK_STATE"


async def test_restart_runs_an_ended_task_as_a_new_attempt_and_keeps_the_record_of_each() -> None:
    parts = await Parts.open()
    n1 = await parts.join("n1")
    await parts.actions.create(script("t"))
    with pytest.raises(FailedPrecondition) as err:
        await parts.actions.restart("t")
    assert err.value.reason == "TASK_STATE"
    await parts.run_on("t", "n1")
    await parts.report("n1", "t", 1, TaskState.COMPLETED, result=TaskResult(exit_code=0, output_sha256="aa"))
    restarted = await parts.actions.restart("t")
    assert (restarted.state, restarted.result, restarted.end_time, restarted.progress) == (
        TaskState.PENDING, TaskResult(), 0.0, 0.0)  # fmt: skip
    assert parts.book.active["t"] == restarted and parts.book.wakeup.is_set()
    parts.nodes.leave(n1)
    await parts.join("n2")
    task = await parts.run_on("t", "n2")
    assert task.attempt == 2
    assert not await parts.report("n1", "t", 1, TaskState.COMPLETED), "attempt 1 is history"
    await parts.report("n2", "t", 2, TaskState.FAILED, result=TaskResult(exit_code=3, error="x"))
    records = await parts.book.attempts("t")
    assert [(r.attempt, r.node_id, r.state, r.exit_code, r.output_sha256) for r in records] == [
        (1, "n1", TaskState.COMPLETED, 0, "aa"), (2, "n2", TaskState.FAILED, 3, "")]  # fmt: skip


async def test_delete_cancels_a_placed_attempt_and_removes_everything() -> None:
    parts = await Parts.open()
    await parts.join("n1")
    deleted: list[str] = []
    parts.book.on_deleted.append(deleted.append)
    await parts.actions.create(script("t"))
    task = await parts.run_on("t", "n1")
    drained(parts.sessions["n1"])
    await parts.actions.delete("t")
    assert controls(drained(parts.sessions["n1"])) == [("t", task.attempt, TaskAction.CANCEL)]
    assert "t" not in parts.book.active and await parts.book.attempts("t") == [] and deleted == ["t"]
    with pytest.raises(NotFound):
        await parts.book.get("t")
    with pytest.raises(NotFound):
        await parts.actions.delete("t")
    assert (await parts.actions.create(script("t"))).attempt == 0, "its id is free again"


async def test_delete_of_an_ended_task_sends_nothing() -> None:
    parts = await Parts.open()
    session = await parts.join("n1")
    await parts.actions.create(script("t"))
    await parts.actions.cancel("t")
    await parts.actions.delete("t")
    assert drained(session) == [] and await parts.store.get_task("t") is None


async def test_a_spec_is_never_changed_by_a_state_update() -> None:
    """Every change after create writes state only; the spec read back is the one created."""
    parts = await Parts.open()
    await parts.join("n1")
    spec = ScriptSpec(source="print('big')", requirements="numpy", env={"A": "1"})
    await parts.actions.create(replace(script("t"), spec=spec))
    await parts.run_on("t", "n1")
    await parts.report("n1", "t", 1, TaskState.COMPLETED)
    assert (await parts.book.get("t")).spec == spec
