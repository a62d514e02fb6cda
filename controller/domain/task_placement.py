"""Placing tasks: the scheduler's passes for streaming nodes, offers and claims for polling ones.

A pass takes the nodes' capacity and the queue from the working view under the
TaskBook's lock, so no other change interleaves with it; its assignments are
sent by the committer once they are on disk, in the order changes were
accepted, so a cancel can never reach a node before the assignment it cancels.
"""

from __future__ import annotations

import asyncio
import collections
from dataclasses import dataclass, field, replace

import structlog

from controller.domain.errors import FailedPrecondition, NotFound
from controller.domain.gang import rank_assignments
from controller.domain.registry import AssignMessage, NodeRegistry
from controller.domain.scheduler import GangPlacement, NodeCapacity, Placement, QueuedTask, place
from controller.domain.store import Changes
from controller.domain.task_book import TaskBook, settled
from controller.domain.types import Task, TaskRank, TaskState
from taskspec.model_operation import ModelOperationSpec

log = structlog.get_logger(__name__)

_DEAD = (TaskState.FAILED, TaskState.CANCELLED)


@dataclass
class DispatchLatency:
    """How long tasks waited from their creation to their placement: every placement since the
    start (count, sum) and the latest ones (for quantiles)."""

    count: int = 0
    total_seconds: float = 0.0
    recent: collections.deque[float] = field(default_factory=lambda: collections.deque(maxlen=1000))

    def record(self, seconds: float) -> None:
        self.count += 1
        self.total_seconds += seconds
        self.recent.append(seconds)

    def quantile(self, q: float) -> float:
        ordered = sorted(self.recent)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


class TaskPlacement:
    def __init__(self, book: TaskBook, registry: NodeRegistry) -> None:
        self.book = book
        self.registry = registry
        self.latency = DispatchLatency()

    async def schedule(self) -> list[AssignMessage]:
        """One pass: place what fits on the streaming nodes; their assignments go out once committed."""
        book = self.book
        async with book.changing():
            capacities = self._accounted(self.registry.schedulable())
            ready, changed = await self._ready_queue()
            decisions = place(capacities, ready, self._free_group_slots(), self._held_locks())
            waiting = dict(decisions.waiting)
            assigned = [self._assigned(book.working[p.task_id], p) for p in decisions.placements]
            sends = [(t.node_id, self._message(t)) for t in assigned]
            hosting = {t.node_id for t in book.working.values() if t.state.placed and t.ranks}
            for gang in decisions.gangs:
                placed = self._gang_assigned(book.working[gang.task_id], gang, hosting)
                if isinstance(placed, str):
                    waiting[gang.task_id] = placed
                    continue
                task, messages = placed
                assigned.append(task)
                sends += messages
            for task_id, why in waiting.items():
                if book.working[task_id].state_reason != why:
                    changed[task_id] = book.working[task_id].changed(state_reason=why)
            messages = [m for _, m in sends]
            done = book.stage(Changes(updated=[*changed.values(), *assigned]), sends)
        if assigned:
            book.note_node_traffic()
            now = book.clock()
            for task in assigned:
                self.latency.record(max(0.0, now - task.create_time))
        await settled(done)
        for task in assigned:  # debug: an info line per task cost more than placing it
            log.debug("task assigned", task_id=task.id, node_id=task.node_id, attempt=task.attempt)
        return messages

    async def offer(self, capacity: NodeCapacity, kinds: frozenset[str]) -> Task | None:
        """The task a polling node would get now; nothing is placed (tasks whose dependencies failed are ended)."""
        async with self.book.changing():
            placements, done = await self._pull_placements(capacity, kinds)
            offered = self.book.working[placements[0].task_id] if placements else None
        await settled(done)
        return offered

    async def claim(self, capacity: NodeCapacity, task_id: str, kinds: frozenset[str]) -> Task:
        """Assign `task_id` to a polling node, atomically: under the lock every placement takes,
        so a task is never given to two nodes. FailedPrecondition when it is no longer free for it."""
        book = self.book
        async with book.changing():
            placements, done = await self._pull_placements(capacity, kinds)
            placement = next((p for p in placements if p.task_id == task_id), None)
            if placement is not None:
                task = self._assigned(book.working[task_id], placement)
                done = book.stage(Changes(updated=[task]))
        await settled(done)
        if placement is None:
            if not await book.exists(task_id):
                raise NotFound(f"task {task_id!r} not found", reason="TASK_NOT_FOUND")
            raise FailedPrecondition(f"task {task_id!r} is not available to node {capacity.node_id}",
                                     reason="TASK_NOT_AVAILABLE")  # fmt: skip
        log.info("task claimed", task_id=task.id, node_id=task.node_id, attempt=task.attempt)
        return task

    async def _pull_placements(self, capacity: NodeCapacity, kinds: frozenset[str]) -> tuple[list[Placement], asyncio.Future[None]]:
        """What `place` gives one node now (inside `changing()`), and the commit of the dependency failures."""
        [capacity] = self._accounted([capacity])
        ready, changed = await self._ready_queue()
        done = self.book.stage(Changes(updated=list(changed.values())))
        ready = [q for q in ready if self.book.working[q.task_id].kind in kinds]
        return place([capacity], ready, self._free_group_slots(), self._held_locks()).placements, done

    def _accounted(self, capacities: list[NodeCapacity]) -> list[NodeCapacity]:
        """Fill in what placed tasks use of each node (a gang's resources on each of its ranks' nodes)."""
        by_id = {c.node_id: c for c in capacities}
        for task in self.book.working.values():
            if not task.state.placed:
                continue
            for node_id, gpus in task.placements():
                if node := by_id.get(node_id):
                    node.used_cpu += task.resources.cpu_cores
                    node.used_memory_mb += task.resources.memory_mb
                    node.used_gpus.update(gpus)
        return capacities

    def _gang_assigned(
        self, task: Task, gang: GangPlacement, hosting: set[str]
    ) -> tuple[Task, list[tuple[str, AssignMessage]]] | str:
        """A placed gang as one task whose ranks each get an assignment naming rank 0's rendezvous; why it
        waits instead when none of its nodes can host rank 0 now (a node hosts one gang's rank 0 at a time:
        its agent reserved one port). `hosting`: the nodes hosting one now, this one's added."""
        points = {n: p for n, p in self.registry.rendezvous_points().items() if n not in hosting}
        try:
            ranks = rank_assignments(gang, points)
        except FailedPrecondition as exc:
            return f"waiting for a node to host the rendezvous of its rank 0: {exc}"
        hosting.add(ranks[0].node_id)
        placed = self._assigned(task, Placement(task.id, ranks[0].node_id, ranks[0].gpu_indices)).changed(
            ranks=tuple(TaskRank(r.rank, r.node_id, r.gpu_indices) for r in ranks),
            state_reason=f"assigned as a gang of {len(ranks)} to nodes {', '.join(r.node_id for r in ranks)}",
        )
        messages = [(r.node_id, AssignMessage(placed, r.gpu_indices, r.rank, r.world_size, r.master_addr, r.master_port))
                    for r in ranks]  # fmt: skip
        return placed, messages

    def _message(self, task: Task) -> AssignMessage:
        """A one-node assignment; a model copy's names its source and carries the ticket the source checks."""
        source = None
        if isinstance(task.spec, ModelOperationSpec):
            point = self.registry.peer_point(task.spec.source_node)
            source = self.registry.peer_tickets.source(task.spec, task.id, task.attempt, task.node_id, point)
        return AssignMessage(task, task.gpu_indices, peer_source=source)

    def _held_locks(self) -> set[str]:
        return {lock for t in self.book.working.values() if t.state.placed for lock in t.resources.locks}

    def _free_group_slots(self) -> dict[str, int]:
        used = collections.Counter(
            t.concurrency_group for t in self.book.working.values() if t.state.placed and t.concurrency_group
        )
        return {group: limit - used[group] for group, limit in self.book.concurrency_limits.items()}

    def _assigned(self, task: Task, placement: Placement) -> Task:
        return task.changed(
            state=TaskState.ASSIGNED, state_reason=f"assigned to node {placement.node_id}",
            node_id=placement.node_id, gpu_indices=placement.gpu_indices, attempt=task.attempt + 1, progress=0.0,
            update_time=self.book.clock(),
        )  # fmt: skip

    async def _ready_queue(self) -> tuple[list[QueuedTask], dict[str, Task]]:
        """Pending tasks whose dependencies completed, and the changes of those that wait or can never run."""
        book = self.book
        pending = [t for t in book.working.values() if t.state is TaskState.PENDING and not t.held]
        dep_ids = {d for t in pending for d in t.depends_on}
        states = {d: book.working[d].state for d in dep_ids if d in book.working}
        states |= await book.store.task_states([d for d in dep_ids if d not in states])
        ready: list[QueuedTask] = []
        changed: dict[str, Task] = {}
        for task in pending:
            gone = [d for d in task.depends_on if d not in states]
            dead = [d for d in task.depends_on if states.get(d) in _DEAD]
            waiting = [d for d in task.depends_on if states.get(d) is not TaskState.COMPLETED]
            if gone or dead:
                why = f"dependency {gone[0]} was deleted" if gone else f"dependency {dead[0]} {states[dead[0]].value}"
                changed[task.id] = book.ended(task, TaskState.FAILED, why, result=replace(task.result, error=why))
            elif waiting:
                reason = f"waiting for dependencies: {', '.join(waiting)}"
                if task.state_reason != reason:
                    changed[task.id] = task.changed(state_reason=reason)
            else:
                ready.append(QueuedTask(task.id, task.resources, int(task.priority), task.create_time,
                                        task.concurrency_group, task.world_size))  # fmt: skip
        return ready, changed
