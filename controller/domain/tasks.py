"""TaskBook: the task state machine, with every change committed before it is visible.

States: pending -> assigned -> running <-> paused -> completed | failed | cancelled.
Each placement starts a new attempt; an agent's report names its attempt, and
a report from an attempt that is no longer current is ignored. A node lost
with work on it sends that work back to pending without spending a retry.
"""

from __future__ import annotations

import asyncio
import collections
import re
import time
import uuid
from dataclasses import dataclass, replace
from typing import Awaitable, Callable, Mapping, Sequence

import structlog

from controller.domain.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from controller.domain.events import ChangeFeed
from controller.domain.models import validate_model_name
from controller.domain.registry import AssignMessage, ControlMessage, DownMessage
from controller.domain.scheduler import NodeCapacity, Placement, QueuedTask, place
from controller.domain.types import (
    Artifact,
    LogLine,
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

log = structlog.get_logger(__name__)

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
KNOWN_KINDS = frozenset({"script", "training"})
#: Resources of a task that asks for none: one core, so a node is not flooded.
DEFAULT_CPU_CORES = 1.0

Sender = Callable[[str, DownMessage], bool]


@dataclass(frozen=True)
class Reconciliation:
    reattached: list[TaskAttemptReport]
    superseded: list[TaskAttemptReport]


def validate_id(value: str, what: str) -> str:
    if not ID_PATTERN.match(value):
        raise InvalidArgument(
            f"invalid {what} {value!r}: use 1-63 letters, digits, '-' or '_', starting with a letter or digit"
        )
    return value


class TaskBook:
    def __init__(
        self,
        db: Database,
        store: TaskStore,
        feed: ChangeFeed,
        send: Sender,
        *,
        concurrency_limits: Mapping[str, int] | None = None,
    ) -> None:
        self.db = db
        self.store = store
        self.feed = feed
        self._send = send
        #: Concurrency group -> most tasks of it placed at once; groups not named are unlimited.
        self.concurrency_limits = dict(concurrency_limits or {})
        #: Called (outside the lock) with each task that completed; failures are logged.
        self.on_completed: list[Callable[[Task], Awaitable[None]]] = []
        #: Non-terminal tasks, the scheduler's working set (mirrors the store).
        self.active: dict[str, Task] = {}
        #: Serialises every mutation, so read-modify-write never interleaves.
        self.lock = asyncio.Lock()
        #: Set whenever something may make a placement possible.
        self.wakeup = asyncio.Event()

    async def load(self) -> None:
        self.active = {t.id: t for t in await self.store.active()}

    # Reads --------------------------------------------------------------------

    async def get(self, task_id: str) -> Task:
        task = await self.store.get(task_id)
        if task is None:
            raise NotFound(f"task {task_id!r} not found", reason="TASK_NOT_FOUND")
        return task

    def free_group_slots(self, group: str) -> int:
        """Slots of a concurrency group not taken by placed tasks or by pending ones ahead (large when unlimited)."""
        limit = self.concurrency_limits.get(group)
        if limit is None:
            return 1 << 30
        taken = sum(1 for t in self.active.values() if t.concurrency_group == group)
        return limit - taken

    def queue(self, group: str) -> list[Task]:
        """Pending tasks of a concurrency group in the order the scheduler takes them."""
        pending = [t for t in self.active.values() if t.concurrency_group == group and t.state is TaskState.PENDING]
        return sorted(pending, key=lambda t: (-int(t.priority), t.create_time, t.id))

    def placed_on(self, node_id: str) -> list[Task]:
        return [t for t in self.active.values() if t.node_id == node_id and t.state.placed]

    # User actions -------------------------------------------------------------

    async def create(self, task: Task) -> Task:
        if task.request_id and (existing := await self.store.get_by_request_id(task.request_id)):
            return existing
        task.id = validate_id(task.id, "task id") if task.id else uuid.uuid4().hex[:16]
        self._validate_new(task)
        async with self.lock:
            # Again under the lock: a concurrent create with the same request id may have won.
            if task.request_id and (existing := await self.store.get_by_request_id(task.request_id)):
                return existing
            await self._check_dependencies(task)
            if task.id in self.active or await self.store.get(task.id):
                raise AlreadyExists(f"task {task.id!r} already exists", reason="TASK_EXISTS")
            now = time.time()
            task.create_time = task.update_time = now
            task.state = TaskState.PENDING
            # A held task may say what it waits for (set by whoever holds it).
            held_reason = f"held: {task.state_reason or 'waiting for its spec to be set'}"
            task.state_reason = held_reason if task.held else "waiting to be scheduled"
            async with self.db.write() as conn:
                await self.store.insert(conn, task)
            self.active[task.id] = task
        log.info("task created", task_id=task.id, kind=task.spec.kind, priority=task.priority.name)
        self._changed(task)
        return task

    def _validate_new(self, task: Task) -> None:
        if task.spec.kind not in KNOWN_KINDS:
            raise InvalidArgument("task needs a spec: set exactly one of 'script' or 'training'")
        r = task.resources
        if min(r.gpus, r.gpu_memory_mb, r.cpu_cores, r.memory_mb) < 0:
            raise InvalidArgument("resources must not be negative")
        if r.cpu_cores == 0:
            task.resources = replace(r, cpu_cores=DEFAULT_CPU_CORES)
        if task.time_limit_seconds < 0 or task.max_retries < 0:
            raise InvalidArgument("time_limit_seconds and max_retries must not be negative")
        if task.max_retries > 100:
            raise InvalidArgument("max_retries is at most 100")
        if task.output_model:
            validate_model_name(task.output_model)
        if task.concurrency_group and not ID_PATTERN.match(task.concurrency_group):
            raise InvalidArgument(f"invalid concurrency_group {task.concurrency_group!r}")

    async def _check_dependencies(self, task: Task) -> None:
        deps = [validate_id(d, "dependency") for d in dict.fromkeys(task.depends_on)]
        if task.id in deps:
            raise InvalidArgument("a task cannot depend on itself")
        known = await self.store.states(deps)
        if missing := [d for d in deps if d not in known]:
            raise InvalidArgument(f"depends_on names unknown tasks: {', '.join(missing)}", reason="UNKNOWN_DEPENDENCY")
        task.depends_on = deps

    async def cancel(self, task_id: str) -> Task:
        return await self._end_by_user(task_id, TaskAction.CANCEL, "cancelled by user")

    async def stop(self, task_id: str) -> Task:
        """Graceful: a placed task is asked to stop and reports cancelled itself."""
        async with self.lock:
            task = await self._active_or_raise(task_id, "stop")
            if task.state is TaskState.RUNNING or task.state is TaskState.PAUSED:
                self._send(task.node_id, ControlMessage(task.id, task.attempt, TaskAction.STOP))
                task.state_reason = "stopping: asked to stop by user"
                await self._save([task])
                self._changed(task)
                return task
        return await self._end_by_user(task_id, TaskAction.CANCEL, "stopped by user")

    async def _end_by_user(self, task_id: str, action: TaskAction, reason: str) -> Task:
        async with self.lock:
            task = await self._active_or_raise(task_id, action.value)
            if task.state.placed:
                self._send(task.node_id, ControlMessage(task.id, task.attempt, action))
            self._finish(task, TaskState.CANCELLED, reason)
            await self._save([task])
        log.info("task cancelled", task_id=task_id, reason=reason)
        self._changed(task)
        return task

    async def set_spec(self, task_id: str, spec: TaskSpec, *, time_limit_seconds: int | None = None) -> Task:
        """Replace what a task runs and release its hold; not while an attempt of it is placed.

        A pending task is scheduled with the new spec; an ended one keeps its state until restarted.
        """
        if spec.kind not in KNOWN_KINDS:
            raise InvalidArgument(f"unknown task kind {spec.kind!r}")
        async with self.lock:
            task = self.active.get(task_id) or await self.get(task_id)
            if task.state.placed:
                raise FailedPrecondition(f"task {task_id!r} is {task.state.value}; its spec cannot change now",
                                         reason="TASK_STATE")  # fmt: skip
            task.spec, task.held, task.update_time = spec, False, time.time()
            if time_limit_seconds is not None:
                task.time_limit_seconds = time_limit_seconds
            if task.state is TaskState.PENDING:
                task.state_reason = "waiting to be scheduled"
            await self._save([task])
        self._changed(task)
        return task

    async def restart(self, task_id: str) -> Task:
        """Run an ended task again; its next placement is a new attempt."""
        async with self.lock:
            task = await self.get(task_id)
            if not task.state.terminal:
                raise FailedPrecondition(f"task {task_id!r} is {task.state.value}; only an ended task can be restarted",
                                         reason="TASK_STATE")  # fmt: skip
            task.state, task.state_reason = TaskState.PENDING, "restarted; waiting to be scheduled"
            task.node_id, task.gpu_indices, task.progress, task.failures = "", (), 0.0, 0
            task.result, task.metrics, task.start_time, task.end_time = TaskResult(), {}, 0.0, 0.0
            task.update_time = time.time()
            await self._save([task])
            self.active[task.id] = task
        log.info("task restarted", task_id=task_id, attempts_so_far=task.attempt)
        self._changed(task)
        return task

    async def delete(self, task_id: str) -> None:
        """Remove a task and what it recorded; a placed attempt is cancelled on its node first."""
        async with self.lock:
            task = self.active.get(task_id) or await self.get(task_id)
            if task.state.placed:
                self._send(task.node_id, ControlMessage(task.id, task.attempt, TaskAction.CANCEL))
            async with self.db.write() as conn:
                await self.store.delete(conn, task_id)
            self.active.pop(task_id, None)
        log.info("task deleted", task_id=task_id)
        self._changed(task)

    async def pause(self, task_id: str) -> Task:
        return await self._control(task_id, TaskAction.PAUSE, TaskState.RUNNING)

    async def resume(self, task_id: str) -> Task:
        return await self._control(task_id, TaskAction.RESUME, TaskState.PAUSED)

    async def _control(self, task_id: str, action: TaskAction, required: TaskState) -> Task:
        async with self.lock:
            task = await self._active_or_raise(task_id, action.value)
            if task.state is not required:
                raise FailedPrecondition(
                    f"cannot {action.value} task {task_id!r}: it is {task.state.value}, not {required.value}",
                    reason="TASK_STATE",
                )
            if not self._send(task.node_id, ControlMessage(task.id, task.attempt, action)):
                raise FailedPrecondition(f"node {task.node_id!r} of task {task_id!r} is not connected; try again")
            return task

    async def _active_or_raise(self, task_id: str, verb: str) -> Task:
        task = self.active.get(task_id)
        if task is not None:
            return task
        if not await self.store.states([task_id]):
            raise NotFound(f"task {task_id!r} not found", reason="TASK_NOT_FOUND")
        raise FailedPrecondition(f"cannot {verb} task {task_id!r}: it has already ended", reason="TASK_ENDED")

    # Scheduling ---------------------------------------------------------------

    async def schedule(self, capacities: list[NodeCapacity]) -> list[AssignMessage]:
        """Place what fits, persist the placements, and return what to send where."""
        async with self.lock:
            self._account(capacities)
            ready, changed = await self._ready_queue()
            decisions = place(capacities, ready, self._free_group_slots())
            now = time.time()
            for task_id, reason in decisions.waiting.items():
                if self.active[task_id].state_reason != reason:
                    self.active[task_id].state_reason = reason
                    changed.append(self.active[task_id])
            messages = [self._assign(p, now) for p in decisions.placements]
            changed += [m.task for m in messages]
            await self._save(changed)
        for task in changed:
            self._changed(task, wake=False)
        return messages

    def _account(self, capacities: list[NodeCapacity]) -> None:
        """Fill in what placed tasks use of each node."""
        by_id = {c.node_id: c for c in capacities}
        for task in self.active.values():
            if task.state.placed and (node := by_id.get(task.node_id)):
                node.used_cpu += task.resources.cpu_cores
                node.used_memory_mb += task.resources.memory_mb
                node.used_gpus.update(task.gpu_indices)

    async def offer(self, capacity: NodeCapacity, kinds: frozenset[str]) -> Task | None:
        """The task a pulling node (one that polls rather than streams) would get now; nothing changes.

        Same order and fit as the scheduler's, among tasks of the kinds the node runs.
        """
        async with self.lock:
            placements = await self._pull_placements(capacity, kinds)
        return replace(self.active[placements[0].task_id]) if placements else None

    async def claim(self, capacity: NodeCapacity, task_id: str, kinds: frozenset[str]) -> Task:
        """Assign `task_id` to a pulling node, atomically: under the lock that every placement takes,
        so a task is never given to two nodes. FailedPrecondition when it is no longer free for it."""
        async with self.lock:
            placements = await self._pull_placements(capacity, kinds)
            placement = next((p for p in placements if p.task_id == task_id), None)
            if placement is None:
                task = self.active.get(task_id)
                if task is None and not await self.store.states([task_id]):
                    raise NotFound(f"task {task_id!r} not found", reason="TASK_NOT_FOUND")
                raise FailedPrecondition(f"task {task_id!r} is not available to node {capacity.node_id}",
                                         reason="TASK_NOT_AVAILABLE")  # fmt: skip
            message = self._assign(placement, time.time())
            await self._save([message.task])
        self._changed(message.task, wake=False)
        return message.task

    async def _pull_placements(self, capacity: NodeCapacity, kinds: frozenset[str]) -> list[Placement]:
        """What `place` gives one node now (the caller holds the lock); tasks whose dependencies
        failed are failed and saved, as in a scheduling pass."""
        self._account([capacity])
        ready, changed = await self._ready_queue()
        if changed:
            await self._save(changed)
            for task in changed:
                self._changed(task, wake=False)
        ready = [q for q in ready if self.active[q.task_id].spec.kind in kinds]
        return place([capacity], ready, self._free_group_slots()).placements

    def _free_group_slots(self) -> dict[str, int]:
        used = collections.Counter(
            t.concurrency_group for t in self.active.values() if t.state.placed and t.concurrency_group
        )
        return {group: limit - used[group] for group, limit in self.concurrency_limits.items()}

    def _assign(self, placement: Placement, now: float) -> AssignMessage:
        task = self.active[placement.task_id]
        task.state, task.state_reason = TaskState.ASSIGNED, f"assigned to node {placement.node_id}"
        task.node_id, task.gpu_indices = placement.node_id, placement.gpu_indices
        task.attempt += 1
        task.progress, task.update_time = 0.0, now
        log.info("task assigned", task_id=task.id, node_id=task.node_id, attempt=task.attempt)
        return AssignMessage(replace(task), placement.gpu_indices)

    async def _ready_queue(self) -> tuple[list[QueuedTask], list[Task]]:
        """Pending tasks whose dependencies completed; fails those whose dependencies cannot."""
        pending = [t for t in self.active.values() if t.state is TaskState.PENDING]
        dep_ids = {d for t in pending for d in t.depends_on}
        states = {d: self.active[d].state for d in dep_ids if d in self.active}
        states |= await self.store.states([d for d in dep_ids if d not in states])
        ready, changed = [], []
        for task in pending:
            if task.held:
                continue
            dead = [d for d in task.depends_on if states.get(d) in (TaskState.FAILED, TaskState.CANCELLED)]
            waiting = [d for d in task.depends_on if states.get(d) is not TaskState.COMPLETED]
            if dead:
                self._finish(task, TaskState.FAILED, f"dependency {dead[0]} {states[dead[0]].value}")
                task.result.error = task.state_reason
                changed.append(task)
            elif waiting:
                reason = f"waiting for dependencies: {', '.join(waiting)}"
                if task.state_reason != reason:
                    task.state_reason = reason
                    changed.append(task)
            else:
                ready.append(
                    QueuedTask(task.id, task.resources, int(task.priority), task.create_time, task.concurrency_group)
                )
        return ready, changed

    # Agent reports ------------------------------------------------------------

    async def apply_update(self, node_id: str, update: TaskUpdate) -> bool:
        """Apply an agent's report; False (and nothing changes) when it is stale."""
        async with self.lock:
            task = self.active.get(update.task_id)
            if task is None or task.node_id != node_id or task.attempt != update.attempt or not task.state.placed:
                log.info(
                    "ignoring report from a superseded attempt",
                    task_id=update.task_id, node_id=node_id, attempt=update.attempt,
                    current_attempt=task.attempt if task else None,
                )  # fmt: skip
                return False
            if update.progress is not None:
                task.progress = min(max(update.progress, 0.0), 1.0)
            if update.metric is not None:
                task.metrics = dict(update.metric.values)
            if update.state is not None:
                self._transition(task, update)
            task.update_time = time.time()
            async with self.db.write() as conn:
                if update.metric is not None:
                    await self.store.add_metric(conn, task.id, update.metric)
                await self.store.save_many(conn, [task])
        self._changed(task, wake=not task.state.placed)
        if task.state is TaskState.COMPLETED:
            await self._notify_completed(task)
        return True

    async def _notify_completed(self, task: Task) -> None:
        for hook in self.on_completed:
            try:
                await hook(task)
            except Exception:
                log.exception("completion hook failed", task_id=task.id, hook=getattr(hook, "__qualname__", repr(hook)))

    def _transition(self, task: Task, update: TaskUpdate) -> None:
        new = update.state
        if new is TaskState.RUNNING:
            if task.state is TaskState.ASSIGNED:
                task.start_time = update.time
            task.state, task.state_reason = TaskState.RUNNING, update.reason or f"running on node {task.node_id}"
        elif new is TaskState.PAUSED:
            task.state, task.state_reason = TaskState.PAUSED, update.reason or "paused by user"
        elif new is TaskState.COMPLETED:
            task.result = update.result or TaskResult()
            task.progress = 1.0
            self._finish(task, TaskState.COMPLETED, update.reason or "completed")
        elif new is TaskState.CANCELLED:
            task.result = update.result or TaskResult()
            self._finish(task, TaskState.CANCELLED, update.reason or "stopped")
        elif new is TaskState.FAILED:
            result = update.result or TaskResult(error=update.reason)
            if task.failures < task.max_retries:
                task.failures += 1
                self._requeue(task, f"attempt {task.attempt} failed ({result.error}); retry {task.failures}"
                              f" of {task.max_retries}")  # fmt: skip
            else:
                task.result = result
                self._finish(task, TaskState.FAILED, result.error or "failed")

    def _finish(self, task: Task, state: TaskState, reason: str) -> None:
        task.state, task.state_reason = state, reason
        task.end_time = task.update_time = time.time()
        self.active.pop(task.id, None)

    def _requeue(self, task: Task, reason: str) -> None:
        task.state, task.state_reason = TaskState.PENDING, reason
        task.node_id, task.gpu_indices, task.progress = "", (), 0.0
        task.update_time = time.time()

    async def append_logs(self, task_id: str, attempt: int, lines: Sequence[LogLine]) -> None:
        """Store lines (a replay is harmless); lines of earlier attempts are history and kept."""
        task = self.active.get(task_id) or await self.store.get(task_id)
        if task is None or attempt > task.attempt:
            log.warning("ignoring log lines for an unknown task attempt", task_id=task_id, attempt=attempt)
            return
        async with self.db.write() as conn:
            await self.store.append_logs(conn, task_id, lines)
        self.feed.publish(task_id)

    async def add_artifact(self, node_id: str, artifact: Artifact) -> bool:
        task = self.active.get(artifact.task_id)
        if task is None or task.node_id != node_id or task.attempt != artifact.attempt:
            return False
        await self.store.put_artifact(artifact)
        return True

    # Nodes coming and going ---------------------------------------------------

    async def requeue_node(self, node_id: str, reason: str) -> list[Task]:
        async with self.lock:
            lost = self.placed_on(node_id)
            for task in lost:
                self._requeue(task, f"{reason}; attempt {task.attempt} requeued")
            await self._save(lost)
        for task in lost:
            log.warning("task requeued", task_id=task.id, node_id=node_id, attempt=task.attempt)
            self._changed(task)
        return lost

    async def reconcile(self, node_id: str, reports: Sequence[TaskAttemptReport]) -> Reconciliation:
        """Match what a (re)connecting agent runs against what we think it runs."""
        async with self.lock:
            reattached, superseded = [], []
            for report in reports:
                task = self.active.get(report.task_id)
                if task and task.node_id == node_id and task.attempt == report.attempt and task.state.placed:
                    reattached.append(report)
                else:
                    superseded.append(report)
            kept = {(r.task_id, r.attempt) for r in reattached}
            lost = [t for t in self.placed_on(node_id) if (t.id, t.attempt) not in kept]
            for task in lost:
                self._requeue(task, f"node {node_id} reconnected without attempt {task.attempt}; requeued")
            await self._save(lost)
        for task in lost:
            self._changed(task)
        if reattached:
            log.info("tasks reattached", node_id=node_id, tasks=[r.task_id for r in reattached])
        return Reconciliation(reattached, superseded)

    # Plumbing -----------------------------------------------------------------

    async def _save(self, tasks: list[Task]) -> None:
        if tasks:
            async with self.db.write() as conn:
                await self.store.save_many(conn, tasks)

    def _changed(self, task: Task, *, wake: bool = True) -> None:
        self.feed.publish(task.id)
        if wake:
            self.wakeup.set()
