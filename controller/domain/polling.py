"""Nodes that poll for work over plain requests instead of holding an AgentService stream.

A polling node is a node of the registry like any other: its liveness is its
calls (after the TTL it is lost and its work requeued by the liveness monitor),
and it takes tasks from the same queue as streaming agents. It is offered a
task by `offer` and takes it with `claim`, which places it under the task book's
lock, so a task is never run by two nodes. It runs script tasks only.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace

import structlog

from controller.domain.errors import FailedPrecondition, NotFound, PermissionDenied
from controller.domain.registry import NodeRegistry
from controller.domain.store import Changes, NodeStateChange
from controller.domain.task_actions import validate_id
from controller.domain.task_book import TaskBook
from controller.domain.task_placement import TaskPlacement
from controller.domain.task_reports import TaskReports
from controller.domain.types import LogLine, Node, NodeState, NodeUsage, Task, TaskResult, TaskState, TaskUpdate

log = structlog.get_logger(__name__)

#: What a polling node runs.
POLLED_KINDS = frozenset({"script"})


class PollingNodes:
    def __init__(self, registry: NodeRegistry, book: TaskBook, placement: TaskPlacement, reports: TaskReports) -> None:
        self.registry = registry
        self.book = book
        self.placement = placement
        self.reports = reports

    async def register(self, node: Node) -> Node:
        """Register or re-register a node; an attempt it had is left to the TTL or its next report."""
        node = replace(node, id=validate_id(node.id, "node id") if node.id else f"node-{uuid.uuid4().hex[:12]}")
        node = self.registry.admitted(node)
        await self.book.commit(Changes(nodes=[node]))
        self.registry.admit(node)
        log.info("polling node registered", node_id=node.id, cpu_cores=node.capabilities.cpu_cores)
        return node

    async def beat(self, node_id: str, usage: NodeUsage | None = None) -> Node:
        """The node is alive (and, when given, this busy). A node lost to its TTL comes back online."""
        node = self.registry.nodes.get(node_id)
        if node is None:
            raise NotFound(f"node {node_id!r} is not registered", reason="NODE_NOT_FOUND")
        was = node.state
        if usage is not None:
            self.registry.heartbeat(node_id, usage)
        else:
            self.registry.touch(node_id)
        if was is not NodeState.ONLINE:
            await self.book.commit(Changes(node_states=[NodeStateChange(node_id, NodeState.ONLINE, node.last_seen)]))
            self.registry.admit(node)
            node.state = NodeState.ONLINE
        await self._end_overdue(node_id)
        return node

    async def _end_overdue(self, node_id: str) -> None:
        """Fail attempts on the node that outran their time limit by more than the heartbeat TTL.

        A streaming agent enforces the limit itself; a polling agent is told through its next
        stream-log (`cancelled`) and its finish is refused.
        """
        now = self.registry.clock()
        for task in self.book.placed_on(node_id):
            limit = task.time_limit_seconds
            if limit and task.start_time and now - task.start_time > limit + self.registry.ttl_seconds:
                error = f"time limit of {limit} s exceeded (ended by the controller)"
                log.warning("polling node's attempt overran its time limit", task_id=task.id, node_id=node_id)
                await self.reports.apply_update(node_id, TaskUpdate(task.id, task.attempt, state=TaskState.FAILED,
                                                                  result=TaskResult(exit_code=-1, error=error),
                                                                  reason=error))  # fmt: skip

    async def offer(self, node_id: str) -> Task | None:
        node = await self.beat(node_id)
        return await self.placement.offer(self.registry.capacity(node), POLLED_KINDS)

    async def claim(self, node_id: str, task_id: str) -> Task:
        node = await self.beat(node_id)
        return await self.placement.claim(self.registry.capacity(node), task_id, POLLED_KINDS)

    def current(self, node_id: str, task_id: str, attempt: int = 0) -> Task | None:
        """The task when `attempt` (0: any) of it is placed on the node now, else None."""
        task = self.book.active.get(task_id)
        if task is None or task.node_id != node_id or not task.state.placed:
            return None
        if attempt and task.attempt != attempt:
            return None
        return task

    def placed_node(self, task_id: str) -> str | None:
        """The node the task is placed on now (ShelbyCompute's agent names no node in some calls), else None."""
        task = self.book.active.get(task_id)
        return task.node_id if task is not None and task.state.placed and task.node_id else None

    async def require_placed_node(self, task_id: str) -> str:
        """The node the task is placed on; NotFound for an unknown task, FailedPrecondition for one placed nowhere."""
        node_id = self.placed_node(task_id)
        if node_id is not None:
            return node_id
        if not await self.book.exists(task_id):
            raise NotFound(f"job {task_id!r} not found", reason="JOB_NOT_FOUND")
        raise FailedPrecondition(f"job {task_id!r} is placed on no node: ack it first (POST /api/jobs/ack), or name"
                                 " the node (nodeId)", reason="NOT_PLACED")  # fmt: skip

    async def started(self, node_id: str, task_id: str) -> None:
        """The node began running its attempt (it fetched the script or printed a line)."""
        task = self.current(node_id, task_id)
        if task is not None and task.state is TaskState.ASSIGNED:
            update = TaskUpdate(task_id, task.attempt, state=TaskState.RUNNING, time=self.registry.clock())
            await self.reports.apply_update(node_id, update)

    async def fetch_script(self, node_id: str, task_id: str, *, only_if_placed: bool) -> Task:
        """The task whose script the node fetches; it counts as running on the node from now.

        With `only_if_placed` (nodes proved by their credentials) the script and its environment
        go only to the node the task is placed on.
        """
        task = await self.book.get(task_id)
        if only_if_placed and self.current(node_id, task_id) is None:
            raise PermissionDenied(f"job {task_id!r} is not placed on node {node_id!r}", reason="NOT_RUNNING_HERE")
        await self.started(node_id, task_id)
        return task

    async def append_logs(self, node_id: str, task_id: str, attempt: int, texts: Sequence[str], first_line_no: int) -> bool:
        """Store lines of the node's attempt; False (nothing stored) when it no longer runs there."""
        task = self.current(node_id, task_id, attempt)
        if task is None:
            return False
        await self.beat(node_id)
        await self.started(node_id, task_id)
        if first_line_no <= 0:
            first_line_no = await self.book.last_line_no(task_id, task.attempt) + 1
        now = self.registry.clock()
        lines = [LogLine(task.attempt, first_line_no + i, "stdout", text, now) for i, text in enumerate(texts)]
        return await self.reports.append_logs(node_id, task_id, task.attempt, lines)

    async def finish(self, node_id: str, task_id: str, attempt: int, result: TaskResult) -> Task:
        """The node's attempt ended: exit code 0 completes the task, anything else fails it."""
        task = self.current(node_id, task_id, attempt)
        if task is None:
            if not await self.book.exists(task_id):
                raise NotFound(f"task {task_id!r} not found", reason="TASK_NOT_FOUND")
            raise FailedPrecondition(f"task {task_id!r} is not running on node {node_id} (attempt {attempt or 'current'})",
                                     reason="NOT_RUNNING_HERE")  # fmt: skip
        await self.beat(node_id)
        await self.started(node_id, task_id)
        state = TaskState.COMPLETED if result.exit_code == 0 else TaskState.FAILED
        if state is TaskState.FAILED and not result.error:
            result = replace(result, error=f"exited with code {result.exit_code}")
        if state is TaskState.FAILED:
            # The node's words end the log too, where people read first.
            await self.append_logs(node_id, task_id, task.attempt, [f"[aifarm] the run failed: {result.error}"], 0)
        update = TaskUpdate(task_id, task.attempt, state=state, result=result, reason=result.error,
                            time=self.registry.clock())  # fmt: skip
        await self.reports.apply_update(node_id, update)
        return await self.book.get(task_id)
