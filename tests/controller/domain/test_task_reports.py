"""TaskReports: what agents report about their attempts (states, progress, metrics, logs, artifacts)."""

from __future__ import annotations


from controller.domain.types import Artifact, LogLine, MetricPoint, Task, TaskResult, TaskState
from domain_parts import Parts, script


async def running(parts: Parts, task_id: str = "t", **fields: object) -> Task:
    if "n1" not in parts.sessions:
        await parts.join("n1")
    await parts.actions.create(script(task_id, **fields))
    return await parts.run_on(task_id, "n1")


async def test_reports_move_a_task_through_running_to_completed() -> None:
    parts = await Parts.open()
    started = parts.clock()
    task = await running(parts)
    assert (task.state, task.start_time, task.state_reason) == (TaskState.RUNNING, started, "running on node n1")
    parts.clock.advance(5)
    metric = MetricPoint(1, 0, {"loss": 0.5}, parts.clock())
    assert await parts.report("n1", "t", 1, progress=1.7, metric=metric)
    task = parts.book.active["t"]
    assert (task.progress, task.metrics, task.update_time) == (1.0, {"loss": 0.5}, parts.clock()), "progress is clamped"
    assert await parts.report("n1", "t", 1, progress=-3.0)
    assert parts.book.active["t"].progress == 0.0
    result = TaskResult(exit_code=0, output_sha256="ab" * 32)
    assert await parts.report("n1", "t", 1, TaskState.COMPLETED, result=result)

    assert "t" not in parts.book.active
    stored = await parts.book.get("t")
    assert (stored.state, stored.progress, stored.result, stored.start_time) == (
        TaskState.COMPLETED, 1.0, result, started)  # fmt: skip
    assert stored.end_time == parts.clock() and stored.state_reason == "completed"
    assert await parts.book.metrics("t") == [metric]


async def test_a_second_running_report_keeps_the_start_time() -> None:
    parts = await Parts.open()
    task = await running(parts)
    parts.clock.advance(10)
    await parts.report("n1", "t", 1, TaskState.RUNNING)
    assert parts.book.active["t"].start_time == task.start_time


async def test_reports_from_another_node_or_attempt_are_ignored() -> None:
    parts = await Parts.open()
    await running(parts)
    commits = parts.store.commits
    assert not await parts.report("n2", "t", 1, TaskState.COMPLETED)
    assert not await parts.report("n1", "t", 2, TaskState.COMPLETED)
    assert not await parts.report("n1", "unknown", 1, TaskState.COMPLETED)
    assert parts.store.commits == commits, "a stale report writes nothing"
    assert (await parts.book.get("t")).state is TaskState.RUNNING


async def test_a_failed_attempt_is_retried_with_a_new_attempt_number() -> None:
    parts = await Parts.open()
    await parts.join("n1")
    await parts.actions.create(script("t", max_retries=2))
    for attempt in (1, 2):
        task = await parts.run_on("t", "n1")
        assert task.attempt == attempt
        await parts.report("n1", "t", attempt, TaskState.FAILED, reason="boom")
        task = parts.book.active["t"]
        assert (task.state, task.failures, task.node_id, task.gpu_indices) == (TaskState.PENDING, attempt, "", ())
        assert task.state_reason == f"attempt {attempt} failed (boom); retry {attempt} of 2"

    await parts.run_on("t", "n1")
    assert not await parts.report("n1", "t", 1, TaskState.COMPLETED), "a superseded attempt"
    await parts.report("n1", "t", 3, TaskState.FAILED, result=TaskResult(exit_code=3, error="x"))
    stored = await parts.book.get("t")
    assert (stored.state, stored.attempt, stored.failures, stored.result.exit_code) == (TaskState.FAILED, 3, 2, 3)
    assert stored.state_reason == "x"


async def test_without_retries_a_failure_is_final() -> None:
    parts = await Parts.open()
    await running(parts)
    await parts.report("n1", "t", 1, TaskState.FAILED, reason="exit code 1")
    stored = await parts.book.get("t")
    assert (stored.state, stored.state_reason, stored.result.error) == (TaskState.FAILED, "exit code 1", "exit code 1")
    assert await parts.placement.schedule() == []


async def test_pause_and_cancel_reports_say_why() -> None:
    parts = await Parts.open()
    await running(parts)
    await parts.report("n1", "t", 1, TaskState.PAUSED)
    assert parts.book.active["t"].state_reason == "paused by user"
    await parts.report("n1", "t", 1, TaskState.CANCELLED, result=TaskResult(exit_code=-15))
    stored = await parts.book.get("t")
    assert (stored.state, stored.state_reason, stored.result.exit_code) == (TaskState.CANCELLED, "stopped", -15)


async def test_an_ending_report_wakes_the_dispatcher() -> None:
    parts = await Parts.open()
    await running(parts)
    parts.book.wakeup.clear()
    await parts.report("n1", "t", 1, progress=0.5)
    assert not parts.book.wakeup.is_set(), "progress frees nothing"
    await parts.report("n1", "t", 1, TaskState.COMPLETED)
    assert parts.book.wakeup.is_set()


async def test_watchers_hear_of_a_change_after_it_is_committed() -> None:
    parts = await Parts.open()
    await running(parts)
    change = parts.book.feed.next_change("t")
    await parts.report("n1", "t", 1, progress=0.5)
    assert change.done() and (await parts.store.get_task("t")).progress == 0.5


# Logs ------------------------------------------------------------------------


async def test_log_lines_of_unknown_attempts_are_dropped_and_replays_are_harmless() -> None:
    parts = await Parts.open()
    await running(parts)
    line = LogLine(1, 1, "stdout", "hello", 1.0)
    change = parts.book.feed.next_change("t")
    assert await parts.reports.append_logs("n1", "t", 1, [line])
    assert change.done(), "followers of the log are woken"
    assert await parts.reports.append_logs("n1", "t", 1, [line])
    assert not await parts.reports.append_logs("n1", "t", 2, [LogLine(2, 1, "stdout", "from the future", 1.0)])
    assert not await parts.reports.append_logs("n1", "t", 0, [LogLine(0, 1, "stdout", "from before", 1.0)])
    assert not await parts.reports.append_logs("n1", "nope", 1, [line])
    assert [ln.text for ln in await parts.book.logs("t")] == ["hello"]
    assert await parts.book.last_line_no("t", 1) == 1


async def test_a_node_adds_lines_only_to_its_own_running_attempt() -> None:
    """Not to an earlier attempt, not to an ended task, not to another node's attempt (issue 10)."""
    parts = await Parts.open()
    await parts.join("n1")
    await parts.join("n2")
    await parts.actions.create(script("t", max_retries=1))
    await parts.dispatcher.dispatch_once()
    first = parts.book.active["t"].node_id
    other = "n2" if first == "n1" else "n1"
    await parts.report(first, "t", 1, TaskState.RUNNING)
    assert not await parts.reports.append_logs(other, "t", 1, [LogLine(1, 1, "stdout", "forged", 1.0)])
    assert await parts.reports.append_logs(first, "t", 1, [LogLine(1, 1, "stdout", "mine", 1.0)])
    await parts.report(first, "t", 1, TaskState.FAILED)
    assert not await parts.reports.append_logs(first, "t", 1, [LogLine(1, 2, "stderr", "after the attempt", 1.0)])
    await parts.dispatcher.dispatch_once()
    second = parts.book.active["t"].node_id
    await parts.report(second, "t", 2, TaskState.COMPLETED)
    assert not await parts.reports.append_logs(second, "t", 2, [LogLine(2, 1, "stdout", "after the end", 2.0)])
    assert [(ln.attempt, ln.text) for ln in await parts.book.logs("t")] == [(1, "mine")]


# Artifacts ----------------------------------------------------------------------


async def test_an_artifact_is_recorded_only_for_the_nodes_current_attempt() -> None:
    parts = await Parts.open()
    await running(parts)
    artifact = Artifact("t", "out.txt", 1, 3, "ab" * 32)
    assert await parts.reports.add_artifact("n1", artifact)
    assert not await parts.reports.add_artifact("n2", Artifact("t", "other.txt", 1, 3, ""))
    assert not await parts.reports.add_artifact("n1", Artifact("t", "stale.txt", 2, 3, ""))
    assert (await parts.book.get("t")).artifacts == (artifact,)
    await parts.report("n1", "t", 1, TaskState.COMPLETED)
    assert not await parts.reports.add_artifact("n1", Artifact("t", "late.txt", 1, 3, "")), "the attempt ended"


# Completion hooks -----------------------------------------------------------------


async def test_completion_hooks_run_once_with_the_completed_task_after_its_commit() -> None:
    parts = await Parts.open()
    seen: list[tuple[str, TaskState, int, bool]] = []
    parts.book.on_completed.append(
        lambda task: seen.append((task.id, task.state, parts.store.commits, task.id in parts.book.active)))
    await running(parts, "done")
    await running(parts, "failed")
    commits = parts.store.commits
    assert await parts.report("n1", "done", 1, TaskState.COMPLETED)
    assert not await parts.report("n1", "done", 1, TaskState.COMPLETED)
    assert await parts.report("n1", "failed", 1, TaskState.FAILED)
    assert seen == [("done", TaskState.COMPLETED, commits + 1, False)], "once, committed and published"


async def test_a_failing_completion_hook_does_not_fail_the_committed_report() -> None:
    parts = await Parts.open()

    def broken(task: Task) -> None:
        raise RuntimeError("hook failure is logged, not raised")

    parts.book.on_completed.append(broken)
    await running(parts, "done")
    assert await parts.report("n1", "done", 1, TaskState.COMPLETED)
    assert (await parts.book.get("done")).state is TaskState.COMPLETED and "done" not in parts.book.active


async def test_a_failing_completion_hook_does_not_stop_the_hooks_after_it() -> None:
    parts = await Parts.open()
    seen: list[str] = []

    def broken(task: Task) -> None:
        raise RuntimeError("hook failure is logged, not raised")

    parts.book.on_completed += [broken, lambda task: seen.append(task.id)]
    await running(parts, "done")
    assert await parts.report("n1", "done", 1, TaskState.COMPLETED)
    assert seen == ["done"]
