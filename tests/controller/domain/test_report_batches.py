"""TaskReports.apply_reports: an agent's batch of reports is what the same reports one by one would do, in order."""

from __future__ import annotations

from controller.domain.task_reports import LogReport
from controller.domain.types import LogLine, MetricPoint, TaskResult, TaskState, TaskUpdate
from domain_parts import Parts, script


def line(attempt: int, no: int, text: str) -> LogLine:
    return LogLine(attempt, no, "stdout", text, 0.0)


async def assigned(parts: Parts, *task_ids: str) -> None:
    await parts.join("n1")
    await parts.actions.create_many([script(t) for t in task_ids])
    await parts.dispatcher.dispatch_once()
    assert all(parts.book.active[t].state is TaskState.ASSIGNED for t in task_ids)


async def test_a_batch_is_applied_in_order_in_one_commit() -> None:
    parts = await Parts.open()
    await assigned(parts, "a", "b")
    commits = parts.store.commits
    started = parts.clock() - 3
    await parts.reports.apply_reports("n1", [
        TaskUpdate("a", 1, TaskState.RUNNING, time=started),
        LogReport("a", 1, [line(1, 1, "before the end")]),
        TaskUpdate("a", 1, progress=0.5, metric=MetricPoint(1, 0, {"loss": 1.0}, started)),
        TaskUpdate("a", 1, TaskState.COMPLETED, result=TaskResult(exit_code=0)),
        # After its attempt ended: ignored, as it would be on its own.
        LogReport("a", 1, [line(1, 2, "after the end")]),
        TaskUpdate("a", 1, TaskState.RUNNING),
        TaskUpdate("b", 1, TaskState.RUNNING, time=started),
    ])  # fmt: skip
    assert parts.store.commits == commits + 1, "one commit for the batch"
    a = await parts.book.get("a")
    assert (a.state, a.start_time, a.progress, a.metrics) == (TaskState.COMPLETED, started, 1.0, {"loss": 1.0})
    assert [ln.text for ln in await parts.book.logs("a")] == ["before the end"]
    assert len(await parts.book.metrics("a")) == 1
    b = parts.book.active["b"]
    assert (b.state, b.start_time) == (TaskState.RUNNING, started)
    assert parts.book.wakeup.is_set(), "a task ended: its slot is free"


async def test_reports_of_another_node_or_attempt_are_skipped_and_the_rest_applied() -> None:
    parts = await Parts.open()
    await assigned(parts, "a", "b")
    await parts.reports.apply_reports("n1", [
        TaskUpdate("a", 2, TaskState.RUNNING),
        TaskUpdate("unknown", 1, TaskState.RUNNING),
        TaskUpdate("b", 1, TaskState.RUNNING),
    ])  # fmt: skip
    await parts.reports.apply_reports("n2", [TaskUpdate("b", 1, TaskState.COMPLETED)])
    assert parts.book.active["a"].state is TaskState.ASSIGNED
    assert parts.book.active["b"].state is TaskState.RUNNING


async def test_a_batch_that_ends_a_task_is_kept_across_a_restart() -> None:
    parts = await Parts.open()
    await assigned(parts, "a")
    await parts.reports.apply_reports("n1", [TaskUpdate("a", 1, TaskState.RUNNING),
                                             TaskUpdate("a", 1, TaskState.COMPLETED)])  # fmt: skip
    restarted = await parts.restart()
    task = await restarted.book.get("a")
    assert task.state is TaskState.COMPLETED and "a" not in restarted.book.active
    [record] = await restarted.book.attempts("a")
    assert (record.attempt, record.node_id, record.state) == (1, "n1", TaskState.COMPLETED)
