"""Nodes joining and leaving: the hello handshake, lost nodes, and the read side of nodes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import structlog

from controller.domain.errors import InvalidArgument, NotFound
from controller.domain.gang import RendezvousPoint
from controller.domain.peers import PeerPoint
from controller.domain.node_identity import NodeIdentities
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
    #: When its credential was revoked; 0 while it may join.
    revoke_time: float = 0.0


class NodeBook:
    def __init__(self, registry: NodeRegistry, book: TaskBook, reports: TaskReports, identities: NodeIdentities) -> None:
        self.registry = registry
        self.book = book
        self.reports = reports
        self.identities = identities

    async def join(
        self, node: Node, reports: Sequence[TaskAttemptReport], rendezvous: RendezvousPoint | None = None,
        peer: PeerPoint | None = None,
    ) -> tuple[AgentSession, Reconciliation]:
        """An agent said hello: reconcile its tasks and commit that with the node, and only then open its
        session. Its previous stream is closed first, so no pass places work on the node in between.
        `rendezvous`: where it hosts a gang's rank 0, if it offers to; `peer`: where it serves its models to
        other nodes, if it does."""
        if not node.id:
            raise InvalidArgument("hello needs a node_id")
        validate_id(node.id, "node id")
        async with self.book.changing():
            self.registry.retire_session(node.id)
            admitted = self.registry.admitted(node)
            reconciliation, lost = self.reports.reconcile(node.id, reports)
            done = self.book.stage(Changes(updated=lost.tasks, nodes=[admitted]), lost.sends)
        await settled(done)
        session = self.registry.connect(admitted, rendezvous, peer)
        log.info("node joined", node_id=node.id, hostname=node.hostname, cpu_cores=node.capabilities.cpu_cores,
                 gpus=len(node.capabilities.gpus), tasks=len(reports), requeued=len(lost.tasks))  # fmt: skip
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
            silent = now - candidate.last_seen
            reason = f"node {candidate.id} lost (no heartbeat for {silent:.0f} s)"
            # Checked again under the lock: it may have come back while we waited.
            if await self._take_offline(candidate.id, reason, lambda: self.registry.is_expired(candidate.id, now)):
                log.warning("node lost", node_id=candidate.id, silent_seconds=round(silent, 1))
                lost_nodes.append(candidate.id)
        return lost_nodes

    async def revoke(self, node_id: str) -> NodeView:
        """End the node's credential; its stream is closed and its work requeued at once."""
        await self.identities.revoke(node_id)
        if node_id in self.registry.nodes:
            self.registry.retire_session(node_id, "node revoked")
            await self._take_offline(node_id, f"node {node_id} revoked", lambda: True)
        return self.view(node_id)

    async def _take_offline(self, node_id: str, reason: str, still: Callable[[], bool]) -> bool:
        """Fence the node, commit its requeued work and offline state, then mark it offline; False when
        `still()` says no under the lock. A failed commit unfences it, so a later call tries again."""
        async with self.book.changing():
            node = self.registry.nodes[node_id]
            if not still():
                return False
            self.registry.fence(node_id)
            lost = self.reports.lost_with(node_id, reason)
            state = NodeStateChange(node_id, NodeState.OFFLINE, node.last_seen)
            done = self.book.stage(Changes(updated=lost.tasks, node_states=[state]), lost.sends)
        try:
            await settled(done)
        except BaseException:
            self.registry.unfence(node_id)
            raise
        offline = self.registry.mark_offline(node_id)
        self.book.wake()
        return offline

    def view(self, node_id: str) -> NodeView:
        node = self.registry.nodes.get(node_id)
        if node is None:
            raise NotFound(f"node {node_id!r} not found", reason="NODE_NOT_FOUND")
        placed = self.book.placed_on(node_id)
        allocated = Resources(
            gpus=sum(len(gpus) for t in placed for n, gpus in t.placements() if n == node_id),
            cpu_cores=sum(t.resources.cpu_cores for t in placed),
            memory_mb=sum(t.resources.memory_mb for t in placed),
        )
        credential = self.identities.credential(node_id)
        return NodeView(node, allocated, [t.id for t in placed], credential.revoke_time if credential else 0.0)

    def list(self, state: NodeState | None = None) -> list[NodeView]:
        ids = sorted(n.id for n in self.registry.nodes.values() if state is None or n.state is state)
        return [self.view(i) for i in ids]
