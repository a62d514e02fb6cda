"""Nodes joining and leaving: the hello handshake and the read side of nodes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import structlog

from controller.domain.errors import InvalidArgument, NotFound
from controller.domain.registry import AgentSession, NodeRegistry
from controller.domain.tasks import Reconciliation, TaskBook, validate_id
from controller.domain.types import Node, NodeState, Resources, TaskAttemptReport
from controller.store.db import Database
from controller.store.node_store import NodeStore

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class NodeView:
    """A node with what is placed on it, for reading."""

    node: Node
    allocated: Resources
    task_ids: list[str]


class NodeBook:
    def __init__(self, db: Database, store: NodeStore, registry: NodeRegistry, tasks: TaskBook) -> None:
        self.db = db
        self.store = store
        self.registry = registry
        self.tasks = tasks

    async def join(self, node: Node, reports: Sequence[TaskAttemptReport]) -> tuple[AgentSession, Reconciliation]:
        """An agent said hello: register it, open its session, reconcile its tasks."""
        if not node.id:
            raise InvalidArgument("hello needs a node_id")
        validate_id(node.id, "node id")
        session = self.registry.connect(node)
        async with self.db.write() as conn:
            await self.store.upsert(conn, node)
        reconciliation = await self.tasks.reconcile(node.id, reports)
        log.info("node joined", node_id=node.id, hostname=node.hostname, cpu_cores=node.capabilities.cpu_cores,
                 gpus=len(node.capabilities.gpus), tasks=len(reports))  # fmt: skip
        self.tasks.wakeup.set()
        return session, reconciliation

    def leave(self, session: AgentSession) -> None:
        self.registry.disconnect(session)
        log.info("node stream closed", node_id=session.node_id)

    def view(self, node_id: str) -> NodeView:
        node = self.registry.nodes.get(node_id)
        if node is None:
            raise NotFound(f"node {node_id!r} not found", reason="NODE_NOT_FOUND")
        placed = self.tasks.placed_on(node_id)
        allocated = Resources(
            gpus=sum(len(t.gpu_indices) for t in placed),
            cpu_cores=sum(t.resources.cpu_cores for t in placed),
            memory_mb=sum(t.resources.memory_mb for t in placed),
        )
        return NodeView(node, allocated, [t.id for t in placed])

    def list(self, state: NodeState | None = None) -> list[NodeView]:
        ids = sorted(n.id for n in self.registry.nodes.values() if state is None or n.state is state)
        return [self.view(i) for i in ids]
