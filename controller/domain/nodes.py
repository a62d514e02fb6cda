"""Nodes joining and leaving: the hello handshake, lost nodes, and the read side of nodes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from controller.domain.errors import InvalidArgument, NotFound
from controller.domain.registry import AgentSession, NodeRegistry
from controller.domain.store import Changes, NodeStateChange
from controller.domain.task_actions import validate_id
from controller.domain.task_book import TaskBook, settled
from controller.domain.task_reports import Reconciliation, TaskReports
from controller.domain.types import Node, NodeState, Resources, TaskAttemptReport

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class NodeView:
    """A node with what is placed on it, for reading."""

    node: Node
    allocated: Resources
    task_ids: list[str]


class NodeBook:
    def __init__(self, registry: NodeRegistry, book: TaskBook, reports: TaskReports) -> None:
        self.registry = registry
        self.book = book
        self.reports = reports

    async def join(self, node: Node, reports: Sequence[TaskAttemptReport]) -> tuple[AgentSession, Reconciliation]:
        """An agent said hello: reconcile its tasks and commit that with the node, and only then open its
        session. Its previous stream is closed first, so no pass places work on the node in between."""
        if not node.id:
            raise InvalidArgument("hello needs a node_id")
        validate_id(node.id, "node id")
        async with self.book.changing():
            self.registry.retire_session(node.id)
            admitted = self.registry.admitted(node)
            reconciliation, lost = self.reports.reconcile(node.id, reports)
            done = self.book.stage(Changes(updated=lost, nodes=[admitted]))
        await settled(done)
        session = self.registry.connect(admitted)
        log.info("node joined", node_id=node.id, hostname=node.hostname, cpu_cores=node.capabilities.cpu_cores,
                 gpus=len(node.capabilities.gpus), tasks=len(reports), requeued=len(lost))  # fmt: skip
        self.book.wake()
        return session, reconciliation

    def leave(self, session: AgentSession) -> None:
        self.registry.disconnect(session)
        log.info("node stream closed", node_id=session.node_id)

    async def expire(self, now: float | None = None) -> list[str]:
        """Declare nodes lost after their TTL (or restart grace): commit their state and requeued work, then
        mark them offline. A failed commit changes nothing; the next check tries again."""
        now = self.registry.clock() if now is None else now
        lost_nodes = []
        for candidate in self.registry.expired(now):
            async with self.book.changing():
                node = self.registry.nodes[candidate.id]
                if not self.registry.is_expired(node.id, now):
                    continue  # it came back while we waited for the lock
                self.registry.fence(node.id)
                silent = now - node.last_seen
                log.warning("node lost", node_id=node.id, silent_seconds=round(silent, 1))
                lost = self.reports.lost_with(node.id, f"node {node.id} lost (no heartbeat for {silent:.0f} s)")
                state = NodeStateChange(node.id, NodeState.OFFLINE, node.last_seen)
                done = self.book.stage(Changes(updated=lost, node_states=[state]))
            try:
                await settled(done)
            except BaseException:
                self.registry.unfence(node.id)
                raise
            if self.registry.mark_offline(node.id):
                lost_nodes.append(node.id)
            self.book.wake()
        return lost_nodes

    def view(self, node_id: str) -> NodeView:
        node = self.registry.nodes.get(node_id)
        if node is None:
            raise NotFound(f"node {node_id!r} not found", reason="NODE_NOT_FOUND")
        placed = self.book.placed_on(node_id)
        allocated = Resources(
            gpus=sum(len(t.gpu_indices) for t in placed),
            cpu_cores=sum(t.resources.cpu_cores for t in placed),
            memory_mb=sum(t.resources.memory_mb for t in placed),
        )
        return NodeView(node, allocated, [t.id for t in placed])

    def list(self, state: NodeState | None = None) -> list[NodeView]:
        ids = sorted(n.id for n in self.registry.nodes.values() if state is None or n.state is state)
        return [self.view(i) for i in ids]
