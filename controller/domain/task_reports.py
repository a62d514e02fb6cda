"""What agents report about their attempts, and what happens to attempts when their node comes or goes.

An agent's report names its attempt; a report from an attempt that is no
longer current is ignored. A node lost with work on it sends that work back to
pending without spending a retry (unless the user had asked it to stop).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import structlog

from controller.domain.registry import ControlMessage
from controller.domain.store import Changes
from controller.domain.task_book import TaskBook, settled
from controller.domain.types import (
    Artifact,
    LogLine,
    Task,
    TaskAction,
    TaskAttemptReport,
    TaskResult,
    TaskState,
    TaskUpdate,
)

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


@dataclass
class Requeued:
    """Attempts sent back to pending (or ended) as nodes come and go, and the cancels their other
    ranks' nodes must get (a gang is never left running in part)."""

    tasks: list[Task] = field(default_factory=list)
    sends: list[tuple[str, ControlMessage]] = field(default_factory=list)


class TaskReports:
    def __init__(self, book: TaskBook) -> None:
        self.book = book

    async def apply_reports(self, node_id: str, reports: Sequence[TaskUpdate | LogReport]) -> int:
        """Apply an agent's reports in their order, as one change (stale ones ignored: a report names an
        attempt, and only the node's current attempt counts); how many were applied."""
        book = self.book
        book.note_node_traffic()
        changes = Changes()
        sends: list[tuple[str, ControlMessage]] = []
        applied, wake = 0, False
        async with book.changing():
            # Each report sees what the earlier ones of the batch did to its task.
            mine: dict[str, Task] = {}
            for report in reports:
                current = mine.get(report.task_id) or book.working.get(report.task_id)
                if current is None or not current.runs_on(node_id) or current.attempt != report.attempt \
                        or not current.state.placed:  # fmt: skip
                    _log_stale(report, node_id, current)
                    continue
                applied += 1
                if isinstance(report, LogReport):
                    changes.logs.append((report.task_id, _rank_lines(current, node_id, report.lines)))
                    continue
                changed, down = self._applied(current, report, node_id)
                mine[current.id] = changed
                changes.updated.append(changed)
                sends += down
                if report.metric is not None and _speaks_for_gang(current, node_id):
                    changes.metrics.append((current.id, report.metric))
                wake |= not changed.state.placed
            done = book.stage(changes, sends)
        await settled(done)
        if wake:
            book.wake()
        return applied

    async def apply_update(self, node_id: str, update: TaskUpdate) -> bool:
        """Apply an agent's report; False (and nothing changes) when it is stale."""
        return await self.apply_reports(node_id, [update]) == 1

    async def append_logs(self, node_id: str, task_id: str, attempt: int, lines: Sequence[LogLine]) -> bool:
        """Store lines of the node's running attempt (a replay is harmless); False, and nothing stored, when the
        attempt is not placed on that node now (another node's, superseded, or ended)."""
        return await self.apply_reports(node_id, [LogReport(task_id, attempt, lines)]) == 1

    def _applied(self, task: Task, update: TaskUpdate, node_id: str) -> tuple[Task, list[tuple[str, ControlMessage]]]:
        if task.ranks:
            return self._applied_to_rank(task, update, node_id)
        fields: dict[str, object] = {"update_time": self.book.clock()}
        if update.progress is not None:
            fields["progress"] = _fraction(update.progress)
        if update.metric is not None:
            fields["metrics"] = dict(update.metric.values)
        task = task.changed(**fields)
        return (self._transition(task, update) if update.state is not None else task), []

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
            return self._failed(task, update.result or TaskResult(error=update.reason), f"attempt {task.attempt}")
        return task

    def _failed(self, task: Task, result: TaskResult, what: str) -> Task:
        """A failed attempt: requeued while retries remain (and no stop was asked), else ended."""
        if task.failures < task.max_retries and not task.stopping:
            retry = task.changed(failures=task.failures + 1)
            return self.book.requeued(retry, f"{what} failed ({result.error}); retry {retry.failures}"
                                             f" of {task.max_retries}")  # fmt: skip
        return self.book.ended(task, TaskState.FAILED, result.error or "failed", result=result)

    async def add_artifact(self, node_id: str, artifact: Artifact) -> bool:
        """Record an uploaded file of the node's current attempt; False (nothing recorded) otherwise."""
        book = self.book
        async with book.changing():
            if book.placed(artifact.task_id, node_id, artifact.attempt, working=True) is None:
                return False
            done = book.stage(Changes(artifacts=[artifact]))
        await settled(done)
        return True

    # Gangs: one task, a rank on each of its nodes ------------------------------------------

    def _applied_to_rank(
        self, task: Task, update: TaskUpdate, node_id: str
    ) -> tuple[Task, list[tuple[str, ControlMessage]]]:
        """A rank's report. The gang runs once every rank runs, pauses once all have paused, completes once
        all completed (with rank 0's result); a rank that fails, or ends unasked, fails the whole attempt:
        the other ranks are cancelled and the gang is requeued together (a retry spent) or fails."""
        rank = task.rank_on(node_id)
        assert rank is not None  # runs_on checked it
        fields: dict[str, object] = {}
        if update.progress is not None:
            fields["progress"] = _fraction(update.progress)
        if update.metric is not None:
            fields["metrics"] = dict(update.metric.values)
        if update.state is not None:
            fields["state"] = update.state
        ranks = tuple(replace(r, **fields) if r is rank else r for r in task.ranks)  # type: ignore[arg-type]
        gang = task.changed(ranks=ranks, update_time=self.book.clock(), progress=min(r.progress for r in ranks),
                            metrics=dict(ranks[0].metrics) or task.metrics)  # fmt: skip
        if rank.rank == 0 and update.result is not None:
            gang = gang.changed(result=update.result)  # what the gang's result will be
        states = {r.state for r in ranks}
        new = update.state
        if new is TaskState.FAILED or (new is TaskState.CANCELLED and not task.stopping):
            error = (update.result.error if update.result else "") or update.reason or new.value
            others = [(r.node_id, ControlMessage(task.id, task.attempt, TaskAction.CANCEL))
                      for r in ranks if r is not rank and not r.state.terminal]  # fmt: skip
            log.warning("gang rank failed; stopping the other ranks", task_id=task.id, node_id=node_id,
                        rank=rank.rank, attempt=task.attempt, error=error)  # fmt: skip
            what = f"rank {rank.rank} of attempt {task.attempt} (node {node_id})"
            return self._failed(gang, TaskResult(error=f"rank {rank.rank}: {error}"), what), others
        if states == {TaskState.COMPLETED}:
            return self.book.ended(gang, TaskState.COMPLETED, "completed", progress=1.0), []
        if task.stopping and all(s.terminal for s in states):
            return self.book.ended(gang, TaskState.CANCELLED, update.reason or "stopped"), []
        if states == {TaskState.PAUSED}:
            return gang.changed(state=TaskState.PAUSED, state_reason=update.reason or "paused by user"), []
        if new is TaskState.RUNNING and task.state is not TaskState.RUNNING and TaskState.ASSIGNED not in states \
                and TaskState.PAUSED not in states:  # fmt: skip
            start = update.time if task.state is TaskState.ASSIGNED else task.start_time
            where = ", ".join(r.node_id for r in ranks)
            return gang.changed(state=TaskState.RUNNING, start_time=start,
                                state_reason=f"running as a gang of {len(ranks)} on nodes {where}"), []  # fmt: skip
        return gang, []

    # Nodes coming and going (the caller is inside `changing()` and stages the result) ----------

    def lost_with(self, node_id: str, reason: str) -> Requeued:
        """The attempts placed on a lost node, requeued (or ended, when a stop was asked)."""
        lost = Requeued()
        for task in self.book.placed_on(node_id, working=True):
            self._lost(task, node_id, f"{reason}; attempt {task.attempt} requeued", lost)
        return lost

    def _lost(self, task: Task, node_id: str, reason: str, into: Requeued) -> None:
        into.sends += [(n, ControlMessage(task.id, task.attempt, TaskAction.CANCEL)) for n in task.node_ids if n != node_id]
        if task.stopping:
            into.tasks.append(self.book.ended(task, TaskState.CANCELLED,
                                              "stopped by user; its node was lost before it confirmed"))  # fmt: skip
            return
        log.warning("task requeued", task_id=task.id, node_id=node_id, attempt=task.attempt, reason=reason)
        into.tasks.append(self.book.requeued(task, reason))

    def reconcile(self, node_id: str, reports: Sequence[TaskAttemptReport]) -> tuple[Reconciliation, Requeued]:
        """Match what a (re)connecting agent runs against what we think it runs; the lost ones, requeued."""
        reattached, superseded = [], []
        for report in reports:
            if self.book.placed(report.task_id, node_id, report.attempt, working=True) is not None:
                reattached.append(report)
            else:
                superseded.append(report)
        kept = {(r.task_id, r.attempt) for r in reattached}
        lost = Requeued()
        for task in self.book.placed_on(node_id, working=True):
            if (task.id, task.attempt) not in kept:
                self._lost(task, node_id, f"node {node_id} reconnected without attempt {task.attempt}; requeued", lost)
        if reattached:
            log.info("tasks reattached", node_id=node_id, tasks=[r.task_id for r in reattached])
        return Reconciliation(reattached, superseded), lost


def _fraction(value: float) -> float:
    return min(max(value, 0.0), 1.0)


def _speaks_for_gang(task: Task, node_id: str) -> bool:
    """Whether the node's metric points are the task's series: its only node's, or a gang's rank 0
    (a gang's epoch figures are already averaged over the ranks)."""
    return not task.ranks or task.ranks[0].node_id == node_id


def _rank_lines(task: Task, node_id: str, lines: Sequence[LogLine]) -> Sequence[LogLine]:
    """A gang rank's lines, marked with the rank and numbered apart from the other ranks' (each rank
    numbers its own from 1; line r of n ranks becomes n * line + r, so replays still match)."""
    rank = task.rank_on(node_id) if task.ranks else None
    if rank is None:
        return lines
    n = len(task.ranks)
    return [replace(ln, line_no=ln.line_no * n + rank.rank, text=f"[rank {rank.rank}] {ln.text}") for ln in lines]


def _log_stale(report: TaskUpdate | LogReport, node_id: str, current: Task | None) -> None:
    if isinstance(report, LogReport):
        log.warning("ignoring log lines for an attempt not running on this node",
                    task_id=report.task_id, node_id=node_id, attempt=report.attempt)  # fmt: skip
    else:
        log.info("ignoring report from a superseded attempt", task_id=report.task_id, node_id=node_id,
                 attempt=report.attempt, current_attempt=current.attempt if current else None)  # fmt: skip
