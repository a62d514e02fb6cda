"""What agents report about their attempts, and what happens to attempts when their node comes or goes.

An agent's report names its attempt; a report from an attempt that is no
longer current is ignored. A node lost with work on it sends that work back to
pending without spending a retry (unless the user had asked it to stop).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from controller.domain.store import Changes
from controller.domain.task_book import TaskBook, settled
from controller.domain.types import Artifact, LogLine, Task, TaskAttemptReport, TaskResult, TaskState, TaskUpdate

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Reconciliation:
    reattached: list[TaskAttemptReport]
    superseded: list[TaskAttemptReport]


@dataclass(frozen=True)
class LogReport:
    """Lines an agent reports for one attempt (one TaskLogBatch)."""

    task_id: str
    attempt: int
    lines: Sequence[LogLine]


class TaskReports:
    def __init__(self, book: TaskBook) -> None:
        self.book = book

    async def apply_reports(self, node_id: str, reports: Sequence[TaskUpdate | LogReport]) -> None:
        """Apply an agent's reports in their order, as one change: what `apply_update` and `append_logs`
        would do one by one (stale ones ignored), for one commit rather than one each."""
        book = self.book
        book.note_node_traffic()
        changes = Changes()
        wake = False
        async with book.changing():
            # Each report sees what the earlier ones of the batch did to its task.
            mine: dict[str, Task] = {}
            for report in reports:
                current = mine.get(report.task_id) or book.working.get(report.task_id)
                if current is None or current.node_id != node_id or current.attempt != report.attempt \
                        or not current.state.placed:  # fmt: skip
                    # The words of the reports one by one (apply_update, append_logs).
                    if isinstance(report, LogReport):
                        log.warning("ignoring log lines for an attempt not running on this node",
                                    task_id=report.task_id, node_id=node_id, attempt=report.attempt)  # fmt: skip
                    else:
                        log.info("ignoring report from a superseded attempt", task_id=report.task_id, node_id=node_id,
                                 attempt=report.attempt, current_attempt=current.attempt if current else None)  # fmt: skip
                    continue
                if isinstance(report, LogReport):
                    changes.logs.append((report.task_id, report.lines))
                    continue
                mine[current.id] = changed = self._applied(current, report)
                changes.updated.append(changed)
                if report.metric is not None:
                    changes.metrics.append((current.id, report.metric))
                wake |= not changed.state.placed
            done = book.stage(changes)
        await settled(done)
        if wake:
            book.wake()

    async def apply_update(self, node_id: str, update: TaskUpdate) -> bool:
        """Apply an agent's report; False (and nothing changes) when it is stale."""
        book = self.book
        book.note_node_traffic()
        async with book.changing():
            task = book.placed(update.task_id, node_id, update.attempt, working=True)
            if task is None:
                current = book.working.get(update.task_id)
                log.info("ignoring report from a superseded attempt", task_id=update.task_id, node_id=node_id,
                         attempt=update.attempt, current_attempt=current.attempt if current else None)  # fmt: skip
                return False
            changed = self._applied(task, update)
            metrics = [(task.id, update.metric)] if update.metric is not None else []
            done = book.stage(Changes(updated=[changed], metrics=metrics))
        await settled(done)
        if not changed.state.placed:
            book.wake()
        return True

    def _applied(self, task: Task, update: TaskUpdate) -> Task:
        fields: dict[str, object] = {"update_time": self.book.clock()}
        if update.progress is not None:
            fields["progress"] = min(max(update.progress, 0.0), 1.0)
        if update.metric is not None:
            fields["metrics"] = dict(update.metric.values)
        task = task.changed(**fields)
        return self._transition(task, update) if update.state is not None else task

    def _transition(self, task: Task, update: TaskUpdate) -> Task:
        new, book = update.state, self.book
        if new is TaskState.RUNNING:
            start = update.time if task.state is TaskState.ASSIGNED else task.start_time
            return task.changed(state=TaskState.RUNNING, start_time=start,
                                state_reason=update.reason or f"running on node {task.node_id}")  # fmt: skip
        if new is TaskState.PAUSED:
            return task.changed(state=TaskState.PAUSED, state_reason=update.reason or "paused by user")
        if new is TaskState.COMPLETED:
            return book.ended(task, TaskState.COMPLETED, update.reason or "completed", progress=1.0,
                              result=update.result or TaskResult())  # fmt: skip
        if new is TaskState.CANCELLED:
            return book.ended(task, TaskState.CANCELLED, update.reason or "stopped", result=update.result or TaskResult())
        if new is TaskState.FAILED:
            result = update.result or TaskResult(error=update.reason)
            if task.failures < task.max_retries and not task.stopping:
                retry = task.changed(failures=task.failures + 1)
                return book.requeued(retry, f"attempt {task.attempt} failed ({result.error}); retry {retry.failures}"
                                            f" of {task.max_retries}")  # fmt: skip
            return book.ended(task, TaskState.FAILED, result.error or "failed", result=result)
        return task

    async def append_logs(self, node_id: str, task_id: str, attempt: int, lines: Sequence[LogLine]) -> bool:
        """Store lines of the node's running attempt (a replay is harmless); False, and nothing stored, when the
        attempt is not placed on that node now (another node's, superseded, or ended)."""
        book = self.book
        async with book.changing():
            if book.placed(task_id, node_id, attempt, working=True) is None:
                log.warning("ignoring log lines for an attempt not running on this node", task_id=task_id,
                            node_id=node_id, attempt=attempt)  # fmt: skip
                return False
            book.note_node_traffic()
            done = book.stage(Changes(logs=[(task_id, lines)]))
        await settled(done)
        return True

    async def add_artifact(self, node_id: str, artifact: Artifact) -> bool:
        """Record an uploaded file of the node's current attempt; False (nothing recorded) otherwise."""
        book = self.book
        async with book.changing():
            if book.placed(artifact.task_id, node_id, artifact.attempt, working=True) is None:
                return False
            done = book.stage(Changes(artifacts=[artifact]))
        await settled(done)
        return True

    # Nodes coming and going (the caller is inside `changing()` and stages the result) ----------

    def lost_with(self, node_id: str, reason: str) -> list[Task]:
        """The attempts placed on a lost node, requeued (or ended, when a stop was asked)."""
        return [self._lost(t, f"{reason}; attempt {t.attempt} requeued") for t in self.book.placed_on(node_id, working=True)]

    def _lost(self, task: Task, reason: str) -> Task:
        if task.stopping:
            return self.book.ended(task, TaskState.CANCELLED, "stopped by user; its node was lost before it confirmed")
        log.warning("task requeued", task_id=task.id, node_id=task.node_id, attempt=task.attempt, reason=reason)
        return self.book.requeued(task, reason)

    def reconcile(self, node_id: str, reports: Sequence[TaskAttemptReport]) -> tuple[Reconciliation, list[Task]]:
        """Match what a (re)connecting agent runs against what we think it runs; the lost ones, requeued."""
        reattached, superseded = [], []
        for report in reports:
            if self.book.placed(report.task_id, node_id, report.attempt, working=True) is not None:
                reattached.append(report)
            else:
                superseded.append(report)
        kept = {(r.task_id, r.attempt) for r in reattached}
        lost = [
            self._lost(t, f"node {node_id} reconnected without attempt {t.attempt}; requeued")
            for t in self.book.placed_on(node_id, working=True)
            if (t.id, t.attempt) not in kept
        ]
        if reattached:
            log.info("tasks reattached", node_id=node_id, tasks=[r.task_id for r in reattached])
        return Reconciliation(reattached, superseded), lost
