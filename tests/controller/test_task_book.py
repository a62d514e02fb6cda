"""TaskBook, the task state machine, on a real SQLite file."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import AsyncIterator

import pytest
import pytest_asyncio

from controller.domain.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from controller.domain.events import ChangeFeed
from controller.domain.registry import AssignMessage, ControlMessage, DownMessage
from controller.domain.scheduler import GpuSlot, NodeCapacity
from controller.domain.tasks import TaskBook
from controller.domain.types import (
    LogLine,
    MetricPoint,
    Priority,
    Resources,
    Task,
    TaskAction,
    TaskAttemptReport,
    TaskResult,
    TaskSpec,
    TaskState,
    TaskUpdate,
)
from controller.store.db import Database
from controller.store.task_store import TaskStore

# Builders -------------------------------------------------------------------


class Wire:
    """Stands in for the agents' streams: records what the book sends to each node."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, DownMessage]] = []
        self.disconnected: set[str] = set()

    def send(self, node_id: str, message: DownMessage) -> bool:
        if node_id in self.disconnected:
            return False
        self.sent.append((node_id, message))
        return True

    def controls(self) -> list[tuple[str, str, int, TaskAction]]:
        return [(n, m.task_id, m.attempt, m.action) for n, m in self.sent if isinstance(m, ControlMessage)]


class Farm:
    """A database file, a TaskBook on it, and the wire it sends on; `reopen` simulates a restart."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.wire = Wire()

    async def open(self) -> Farm:
        self.db = await Database.open(self.path)
        self.book = TaskBook(self.db, TaskStore(self.db), ChangeFeed(), self.wire.send)
        await self.book.load()
        return self

    async def reopen(self) -> TaskBook:
        await self.db.close()
        await self.open()
        return self.book


def script(task_id: str = "", **fields) -> Task:
    return Task(id=task_id, spec=TaskSpec("script", '{"code": "print(1)"}'), **fields)


def gpu_node(node_id: str = "n1", *, gpus: int = 2, cpu: float = 8, mem: int = 16_384) -> NodeCapacity:
    return NodeCapacity(node_id, cpu, mem, tuple(GpuSlot(i, 16_000) for i in range(gpus)))


def report(task: Task | str, attempt: int, state: TaskState | None = None, **fields) -> TaskUpdate:
    task_id = task if isinstance(task, str) else task.id
    return TaskUpdate(task_id, attempt, state=state, **fields)


async def run_on(book: TaskBook, task_id: str, node_id: str = "n1") -> Task:
    """Place the task on `node_id` (if a pass has not already) and have the agent report it running."""
    if book.active[task_id].state is TaskState.PENDING:
        await book.schedule([gpu_node(node_id)])
    task = book.active[task_id]
    assert (task.state, task.node_id) == (TaskState.ASSIGNED, node_id)
    assert await book.apply_update(node_id, report(task_id, task.attempt, TaskState.RUNNING))
    return task


def committed_row(path: Path, task_id: str) -> sqlite3.Row | None:
    """Read a task through a second, independent connection: only committed data is visible."""
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute("SELECT * FROM tasks WHERE id=?", (task_id,)).fetchone()
    finally:
        conn.close()


@pytest_asyncio.fixture(loop_scope="function")
async def farm(tmp_path: Path) -> AsyncIterator[Farm]:
    f = await Farm(tmp_path / "controller.db").open()
    yield f
    await f.db.close()


# Create -----------------------------------------------------------------------


async def test_create_stores_a_pending_task_with_defaults(farm: Farm) -> None:
    task = await farm.book.create(script("train-1", priority=Priority.HIGH))
    assert task.state is TaskState.PENDING and task.attempt == 0
    assert task.resources.cpu_cores == 1.0, "a task that asks for nothing gets one core"
    stored = await farm.book.get("train-1")
    assert (stored.state, stored.priority, stored.resources) == (TaskState.PENDING, Priority.HIGH, task.resources)
    assert farm.book.wakeup.is_set()


async def test_create_without_an_id_generates_one(farm: Farm) -> None:
    a, b = await farm.book.create(script()), await farm.book.create(script())
    assert a.id and b.id and a.id != b.id


async def test_an_acknowledged_create_is_committed(farm: Farm) -> None:
    await farm.book.create(script("t"))
    row = committed_row(farm.path, "t")
    assert row is not None and row["state"] == "pending"


@pytest.mark.parametrize(
    "task",
    [
        Task(id="t", spec=TaskSpec("", "{}")),
        Task(id="t", spec=TaskSpec("nonsense", "{}")),
        script("../etc"),
        script("-starts-with-dash"),
        script("t", resources=Resources(gpus=-1)),
        script("t", max_retries=101),
        script("t", time_limit_seconds=-5),
        script("t", output_model="../weights"),
        script("t", concurrency_group="no spaces"),
    ],
)
async def test_invalid_tasks_are_refused_and_nothing_is_stored(farm: Farm, task: Task) -> None:
    with pytest.raises(InvalidArgument):
        await farm.book.create(task)
    assert farm.book.active == {}
    assert (await farm.book.store.list(states=[], node_id="", offset=0, limit=10))[1] == 0


async def test_a_task_id_can_be_used_once(farm: Farm) -> None:
    await farm.book.create(script("dup"))
    with pytest.raises(AlreadyExists) as err:
        await farm.book.create(script("dup"))
    assert err.value.reason == "TASK_EXISTS"


async def test_a_repeated_request_id_returns_the_first_task(farm: Farm) -> None:
    first = await farm.book.create(script(request_id="req-1"))
    again = await farm.book.create(script(request_id="req-1", display_name="a retry of the same call"))
    assert again.id == first.id and again.display_name == ""
    assert (await farm.book.store.list(states=[], node_id="", offset=0, limit=10))[1] == 1


async def test_concurrent_creates_with_one_request_id_make_one_task(farm: Farm) -> None:
    tasks = await asyncio.gather(*(farm.book.create(script(request_id="req-1")) for _ in range(5)))
    assert len({t.id for t in tasks}) == 1
    assert (await farm.book.store.list(states=[], node_id="", offset=0, limit=10))[1] == 1


async def test_get_of_an_unknown_task_is_not_found(farm: Farm) -> None:
    with pytest.raises(NotFound) as err:
        await farm.book.get("nope")
    assert err.value.reason == "TASK_NOT_FOUND"


# Scheduling and reports -------------------------------------------------------


async def test_schedule_assigns_attempt_one_and_persists_it(farm: Farm) -> None:
    await farm.book.create(script("t", resources=Resources(gpus=1)))
    [message] = await farm.book.schedule([gpu_node("n1")])
    assert isinstance(message, AssignMessage)
    assert (message.task.id, message.task.node_id, message.task.attempt, message.gpu_indices) == ("t", "n1", 1, (0,))
    stored = await farm.book.get("t")
    assert (stored.state, stored.node_id, stored.attempt, stored.gpu_indices) == (TaskState.ASSIGNED, "n1", 1, (0,))


async def test_placed_tasks_hold_their_resources_across_passes(farm: Farm) -> None:
    await farm.book.create(script("a", resources=Resources(gpus=1)))
    await farm.book.schedule([gpu_node(gpus=1)])
    await farm.book.create(script("b", resources=Resources(gpus=1)))
    assert await farm.book.schedule([gpu_node(gpus=1)]) == []
    assert farm.book.active["b"].state_reason == "waiting for free capacity (1 GPU, 1 CPU cores)"

    await farm.book.apply_update("n1", report("a", 1, TaskState.COMPLETED))
    [message] = await farm.book.schedule([gpu_node(gpus=1)])
    assert (message.task.id, message.gpu_indices) == ("b", (0,))


async def test_reports_move_a_task_through_running_to_completed(farm: Farm) -> None:
    await farm.book.create(script("t"))
    task = await run_on(farm.book, "t")
    assert task.state is TaskState.RUNNING and task.start_time > 0
    metric = MetricPoint(1, 0, {"loss": 0.5}, 1.0)
    assert await farm.book.apply_update("n1", report("t", 1, progress=1.7, metric=metric))
    assert task.progress == 1.0 and task.metrics == {"loss": 0.5}
    result = TaskResult(exit_code=0, output_sha256="ab" * 32)
    assert await farm.book.apply_update("n1", report("t", 1, TaskState.COMPLETED, result=result))

    assert "t" not in farm.book.active
    stored = await farm.book.get("t")
    assert (stored.state, stored.progress, stored.result) == (TaskState.COMPLETED, 1.0, result)
    assert await farm.book.store.metrics("t") == [metric]


async def test_reports_from_another_node_or_attempt_are_ignored(farm: Farm) -> None:
    await farm.book.create(script("t"))
    await run_on(farm.book, "t", "n1")
    assert not await farm.book.apply_update("n2", report("t", 1, TaskState.COMPLETED))
    assert not await farm.book.apply_update("n1", report("t", 2, TaskState.COMPLETED))
    assert not await farm.book.apply_update("n1", report("unknown", 1, TaskState.COMPLETED))
    assert (await farm.book.get("t")).state is TaskState.RUNNING


async def test_a_failed_attempt_is_retried_with_a_new_attempt_number(farm: Farm) -> None:
    await farm.book.create(script("t", max_retries=2))
    for attempt in (1, 2):
        task = await run_on(farm.book, "t")
        assert task.attempt == attempt
        await farm.book.apply_update("n1", report("t", attempt, TaskState.FAILED, reason="boom"))
        assert (task.state, task.failures, task.node_id) == (TaskState.PENDING, attempt, "")
        assert task.state_reason == f"attempt {attempt} failed (boom); retry {attempt} of 2"

    await run_on(farm.book, "t")
    assert not await farm.book.apply_update("n1", report("t", 1, TaskState.COMPLETED)), "a superseded attempt"
    await farm.book.apply_update("n1", report("t", 3, TaskState.FAILED, result=TaskResult(exit_code=3, error="x")))
    stored = await farm.book.get("t")
    assert (stored.state, stored.attempt, stored.failures, stored.result.exit_code) == (TaskState.FAILED, 3, 2, 3)


async def test_without_retries_a_failure_is_final(farm: Farm) -> None:
    await farm.book.create(script("t"))
    await run_on(farm.book, "t")
    await farm.book.apply_update("n1", report("t", 1, TaskState.FAILED, reason="exit code 1"))
    stored = await farm.book.get("t")
    assert (stored.state, stored.state_reason, stored.result.error) == (TaskState.FAILED, "exit code 1", "exit code 1")
    assert await farm.book.schedule([gpu_node()]) == []


async def test_log_lines_of_unknown_attempts_are_dropped_and_replays_are_harmless(farm: Farm) -> None:
    await farm.book.create(script("t"))
    await run_on(farm.book, "t")
    line = LogLine(1, 0, "stdout", "hello", 1.0)
    await farm.book.append_logs("t", 1, [line])
    await farm.book.append_logs("t", 1, [line])
    await farm.book.append_logs("t", 2, [LogLine(2, 0, "stdout", "from the future", 1.0)])
    assert [ln.text for ln in await farm.book.store.logs("t")] == ["hello"]


# Dependencies -----------------------------------------------------------------


async def test_a_task_waits_for_its_dependencies_to_complete(farm: Farm) -> None:
    await farm.book.create(script("a"))
    await farm.book.create(script("b", depends_on=["a", "a"]))
    assert [m.task.id for m in await farm.book.schedule([gpu_node()])] == ["a"]
    assert farm.book.active["b"].depends_on == ["a"]
    assert farm.book.active["b"].state_reason == "waiting for dependencies: a"

    await farm.book.apply_update("n1", report("a", 1, TaskState.COMPLETED))
    assert [m.task.id for m in await farm.book.schedule([gpu_node()])] == ["b"]


@pytest.mark.parametrize("ending", [TaskState.FAILED, TaskState.CANCELLED])
async def test_a_task_fails_when_a_dependency_cannot_complete(farm: Farm, ending: TaskState) -> None:
    await farm.book.create(script("a"))
    await farm.book.create(script("b", depends_on=["a"]))
    await run_on(farm.book, "a")
    await farm.book.apply_update("n1", report("a", 1, ending))
    assert await farm.book.schedule([gpu_node()]) == []
    b = await farm.book.get("b")
    assert (b.state, b.state_reason, b.result.error) == (TaskState.FAILED, f"dependency a {ending.value}",
                                                         f"dependency a {ending.value}")  # fmt: skip
    assert "b" not in farm.book.active


async def test_dependencies_must_name_existing_other_tasks(farm: Farm) -> None:
    with pytest.raises(InvalidArgument) as err:
        await farm.book.create(script("b", depends_on=["ghost"]))
    assert err.value.reason == "UNKNOWN_DEPENDENCY"
    with pytest.raises(InvalidArgument):
        await farm.book.create(script("self", depends_on=["self"]))
    with pytest.raises(InvalidArgument):
        await farm.book.create(script("c", depends_on=["../x"]))


# User actions -----------------------------------------------------------------


async def test_cancel_a_pending_task_sends_nothing(farm: Farm) -> None:
    await farm.book.create(script("t"))
    task = await farm.book.cancel("t")
    assert (task.state, task.state_reason) == (TaskState.CANCELLED, "cancelled by user")
    assert farm.wire.sent == [] and "t" not in farm.book.active
    assert committed_row(farm.path, "t")["state"] == "cancelled"


async def test_cancel_a_running_task_tells_its_node(farm: Farm) -> None:
    await farm.book.create(script("t"))
    await run_on(farm.book, "t")
    await farm.book.cancel("t")
    assert farm.wire.controls() == [("n1", "t", 1, TaskAction.CANCEL)]
    assert (await farm.book.get("t")).state is TaskState.CANCELLED
    assert not await farm.book.apply_update("n1", report("t", 1, TaskState.COMPLETED)), "the attempt has ended"


async def test_actions_on_an_ended_task_fail_with_task_ended(farm: Farm) -> None:
    await farm.book.create(script("t"))
    await farm.book.cancel("t")
    for action in (farm.book.cancel, farm.book.stop, farm.book.pause, farm.book.resume):
        with pytest.raises(FailedPrecondition) as err:
            await action("t")
        assert err.value.reason == "TASK_ENDED"


async def test_actions_on_an_unknown_task_are_not_found(farm: Farm) -> None:
    for action in (farm.book.cancel, farm.book.stop, farm.book.pause, farm.book.resume):
        with pytest.raises(NotFound) as err:
            await action("nope")
        assert err.value.reason == "TASK_NOT_FOUND"


async def test_pause_and_resume_are_asked_of_the_node_and_confirmed_by_its_report(farm: Farm) -> None:
    await farm.book.create(script("t"))
    await run_on(farm.book, "t")
    assert (await farm.book.pause("t")).state is TaskState.RUNNING, "paused only once the agent says so"
    await farm.book.apply_update("n1", report("t", 1, TaskState.PAUSED))
    await farm.book.resume("t")
    assert farm.wire.controls() == [("n1", "t", 1, TaskAction.PAUSE), ("n1", "t", 1, TaskAction.RESUME)]
    await farm.book.apply_update("n1", report("t", 1, TaskState.RUNNING))
    assert (await farm.book.get("t")).state is TaskState.RUNNING


async def test_pause_and_resume_need_the_right_state(farm: Farm) -> None:
    await farm.book.create(script("t"))
    with pytest.raises(FailedPrecondition) as err:
        await farm.book.pause("t")
    assert err.value.reason == "TASK_STATE"
    await run_on(farm.book, "t")
    with pytest.raises(FailedPrecondition) as err:
        await farm.book.resume("t")
    assert err.value.reason == "TASK_STATE"
    assert farm.wire.sent[1:] == [], "only the assignment went out"


async def test_pause_on_a_disconnected_node_is_refused(farm: Farm) -> None:
    await farm.book.create(script("t"))
    await run_on(farm.book, "t")
    farm.wire.disconnected.add("n1")
    with pytest.raises(FailedPrecondition):
        await farm.book.pause("t")


async def test_stop_asks_a_running_task_and_waits_for_its_report(farm: Farm) -> None:
    await farm.book.create(script("t"))
    await run_on(farm.book, "t")
    task = await farm.book.stop("t")
    assert (task.state, task.state_reason) == (TaskState.RUNNING, "stopping: asked to stop by user")
    assert farm.wire.controls() == [("n1", "t", 1, TaskAction.STOP)]
    await farm.book.apply_update("n1", report("t", 1, TaskState.CANCELLED))
    assert (await farm.book.get("t")).state is TaskState.CANCELLED


async def test_stop_of_a_task_not_yet_running_cancels_it(farm: Farm) -> None:
    await farm.book.create(script("pending"))
    assert (await farm.book.stop("pending")).state_reason == "stopped by user"
    await farm.book.create(script("assigned"))
    await farm.book.schedule([gpu_node()])
    assert (await farm.book.stop("assigned")).state is TaskState.CANCELLED
    assert farm.wire.controls() == [("n1", "assigned", 1, TaskAction.CANCEL)]


# Nodes lost and restarts ------------------------------------------------------


async def test_a_lost_node_sends_its_work_back_without_spending_a_retry(farm: Farm) -> None:
    await farm.book.create(script("t", resources=Resources(gpus=1)))
    await run_on(farm.book, "t", "n1")
    [lost] = await farm.book.requeue_node("n1", "node n1 lost")
    assert (lost.state, lost.node_id, lost.gpu_indices, lost.failures) == (TaskState.PENDING, "", (), 0)
    assert lost.state_reason == "node n1 lost; attempt 1 requeued"
    assert committed_row(farm.path, "t")["state"] == "pending"

    [again] = await farm.book.schedule([gpu_node("n2")])
    assert (again.task.node_id, again.task.attempt) == ("n2", 2)
    assert not await farm.book.apply_update("n1", report("t", 1, TaskState.COMPLETED)), "the lost attempt is stale"


async def test_state_survives_reopening_the_database(farm: Farm) -> None:
    await farm.book.create(script("done"))
    await farm.book.create(script("running", resources=Resources(gpus=2, memory_mb=512), max_retries=1))
    await farm.book.create(script("waiting", depends_on=["running"]))
    await run_on(farm.book, "done")
    await farm.book.apply_update("n1", report("done", 1, TaskState.COMPLETED, result=TaskResult(exit_code=0)))
    await run_on(farm.book, "running")

    book = await farm.reopen()
    assert set(book.active) == {"running", "waiting"}
    running = book.active["running"]
    assert (running.state, running.node_id, running.attempt, running.gpu_indices) == (
        TaskState.RUNNING, "n1", 1, (0, 1))  # fmt: skip
    assert running.resources == Resources(gpus=2, memory_mb=512, cpu_cores=1.0)
    assert book.active["waiting"].depends_on == ["running"]
    assert (await book.get("done")).state is TaskState.COMPLETED
    # The reloaded placement still holds its GPUs: nothing else fits on n1.
    await book.create(script("more", resources=Resources(gpus=1)))
    assert await book.schedule([gpu_node("n1")]) == []


async def test_reconcile_after_restart_reattaches_what_the_agent_still_runs(farm: Farm) -> None:
    for task_id in ("kept", "forgotten", "retried"):
        await farm.book.create(script(task_id, max_retries=1))
        await run_on(farm.book, task_id)
    await farm.book.apply_update("n1", report("retried", 1, TaskState.FAILED))
    await run_on(farm.book, "retried")  # now attempt 2

    book = await farm.reopen()
    reports = [
        TaskAttemptReport("kept", 1, TaskState.RUNNING),
        TaskAttemptReport("retried", 1, TaskState.RUNNING),
    ]
    result = await book.reconcile("n1", reports)
    assert [r.task_id for r in result.reattached] == ["kept"]
    assert [r.task_id for r in result.superseded] == ["retried"]
    assert book.active["kept"].state is TaskState.RUNNING and book.active["kept"].attempt == 1
    for task_id in ("forgotten", "retried"):
        task = await book.get(task_id)
        assert task.state is TaskState.PENDING and task.node_id == ""
    assert book.active["forgotten"].state_reason == "node n1 reconnected without attempt 1; requeued"
    # A reattached attempt keeps reporting as before.
    assert await book.apply_update("n1", report("kept", 1, TaskState.COMPLETED))


async def test_reconcile_from_another_node_does_not_steal_tasks(farm: Farm) -> None:
    await farm.book.create(script("t"))
    await run_on(farm.book, "t", "n1")
    result = await farm.book.reconcile("n2", [TaskAttemptReport("t", 1, TaskState.RUNNING)])
    assert result.reattached == [] and [r.task_id for r in result.superseded] == ["t"]
    assert farm.book.active["t"].node_id == "n1" and farm.book.active["t"].state is TaskState.RUNNING


# Concurrency limits -------------------------------------------------------------


async def test_a_concurrency_limit_keeps_the_rest_of_its_group_pending_in_order(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "limits.db")
    try:
        wire = Wire()
        book = TaskBook(db, TaskStore(db), ChangeFeed(), wire.send, concurrency_limits={"sessions": 1})
        first = await book.create(script("first", concurrency_group="sessions"))
        second = await book.create(script("second", concurrency_group="sessions"))
        free = await book.create(script("free"))
        assert book.free_group_slots("sessions") == -1
        assert [t.id for t in book.queue("sessions")] == ["first", "second"]
        await book.schedule([gpu_node("n1")])
        assert book.active["first"].state is TaskState.ASSIGNED and book.active["free"].state is TaskState.ASSIGNED
        assert book.active["second"].state is TaskState.PENDING
        assert "concurrency group 'sessions'" in book.active["second"].state_reason
        # the slot frees when the first one ends; the group's order holds
        await book.apply_update("n1", report(first, 1, TaskState.COMPLETED))
        await book.schedule([gpu_node("n1")])
        assert book.active["second"].state is TaskState.ASSIGNED
        assert (await book.get("second")).concurrency_group == "sessions"  # persisted
        assert free.concurrency_group == "" and second.id == "second"
    finally:
        await db.close()


async def test_completion_hooks_run_with_the_completed_task(farm: Farm) -> None:
    seen: list[str] = []

    async def hook(task: Task) -> None:
        seen.append(task.id)

    async def broken(task: Task) -> None:
        raise RuntimeError("hook failure is logged, not raised")

    farm.book.on_completed += [broken, hook]
    task = await farm.book.create(script("done"))
    await run_on(farm.book, task.id)
    assert await farm.book.apply_update("n1", report(task, 1, TaskState.COMPLETED))
    assert seen == ["done"]
