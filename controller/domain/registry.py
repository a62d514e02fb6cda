"""NodeRegistry: the nodes, their live sessions, and heartbeat liveness (in memory).

Heartbeats only touch memory; the store sees a node when it registers and when
its coarse state changes (online, reconnecting, offline).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import structlog

from controller.domain.scheduler import GpuSlot, NodeCapacity
from controller.domain.types import Node, NodeState, NodeUsage, Task, TaskAction

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class AssignMessage:
    task: Task
    gpu_indices: tuple[int, ...]


@dataclass(frozen=True)
class ControlMessage:
    task_id: str
    attempt: int
    action: TaskAction


@dataclass(frozen=True)
class AckMessage:
    seq: int


DownMessage = AssignMessage | ControlMessage | AckMessage


@dataclass
class AgentSession:
    """One live Connect stream. The API layer drains `outbox` onto the wire."""

    node_id: str
    outbox: asyncio.Queue[DownMessage | None] = field(default_factory=asyncio.Queue)
    closed: bool = False

    def send(self, message: DownMessage) -> None:
        if not self.closed:
            self.outbox.put_nowait(message)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.outbox.put_nowait(None)


class NodeRegistry:
    def __init__(self, *, ttl_seconds: float, grace_seconds: float) -> None:
        self.ttl_seconds = ttl_seconds
        self.grace_seconds = grace_seconds
        self.nodes: dict[str, Node] = {}
        self._sessions: dict[str, AgentSession] = {}
        #: Nodes known from before a restart: deadline to reconnect by.
        self._grace_until: dict[str, float] = {}

    def load(self, nodes: list[Node], now: float) -> None:
        """Nodes from the store after a restart: online ones get a grace period."""
        for node in nodes:
            if node.state is NodeState.ONLINE:
                node.state = NodeState.RECONNECTING
                self._grace_until[node.id] = now + self.grace_seconds
            self.nodes[node.id] = node

    def connect(self, node: Node) -> AgentSession:
        """Register a node from its hello; a previous stream of the same node is closed."""
        self._admit(node)
        session = AgentSession(node.id)
        self._sessions[node.id] = session
        return session

    def register_pulling(self, node: Node) -> Node:
        """Register a node that polls for work instead of holding a stream (its liveness is its calls).

        The dispatcher pushes nothing to it; it takes work through `TaskBook.claim`.
        """
        self._admit(node)
        return node

    def _admit(self, node: Node) -> None:
        """The node is online now; a previous stream of it is closed, its first join kept."""
        if (old := self._sessions.pop(node.id, None)) is not None:
            log.warning("node reconnected; closing its previous stream", node_id=node.id)
            old.close()
        known = self.nodes.get(node.id)
        if known is not None:
            node.create_time = known.create_time
        node.state, node.last_seen = NodeState.ONLINE, time.time()
        self.nodes[node.id] = node
        self._grace_until.pop(node.id, None)

    def online(self, node_id: str) -> Node | None:
        """The node when it is online, else None."""
        node = self.nodes.get(node_id)
        return node if node is not None and node.state is NodeState.ONLINE else None

    def capacity(self, node: Node) -> NodeCapacity:
        """A node's totals, nothing used yet (the task book fills that in)."""
        return NodeCapacity(
            node_id=node.id,
            cpu_cores=node.capabilities.cpu_cores,
            memory_mb=node.capabilities.memory_mb,
            gpus=tuple(GpuSlot(g.index, g.memory_mb) for g in node.capabilities.gpus),
        )

    def disconnect(self, session: AgentSession) -> None:
        """The stream ended. The node stays online until its TTL, so a quick reconnect costs nothing."""
        session.close()
        if self._sessions.get(session.node_id) is session:
            del self._sessions[session.node_id]

    def heartbeat(self, node_id: str, usage: NodeUsage) -> None:
        node = self.nodes.get(node_id)
        if node is not None:
            node.usage, node.last_seen = usage, time.time()

    def touch(self, node_id: str) -> None:
        if (node := self.nodes.get(node_id)) is not None:
            node.last_seen = time.time()

    def send(self, node_id: str, message: DownMessage) -> bool:
        session = self._sessions.get(node_id)
        if session is None:
            return False
        session.send(message)
        return True

    def expire(self, now: float) -> list[Node]:
        """Mark nodes past their TTL (or restart grace) offline and return them."""
        lost = []
        for node in self.nodes.values():
            if node.state is NodeState.ONLINE and now - node.last_seen > self.ttl_seconds:
                lost.append(node)
            elif node.state is NodeState.RECONNECTING and now > self._grace_until.get(node.id, 0):
                lost.append(node)
        for node in lost:
            node.state = NodeState.OFFLINE
            self._grace_until.pop(node.id, None)
            if (session := self._sessions.pop(node.id, None)) is not None:
                session.close()
        return lost

    def schedulable(self) -> list[NodeCapacity]:
        """Capacity of nodes that are online with a live stream (usage is filled in by the caller)."""
        return [
            self.capacity(node)
            for node in self.nodes.values()
            if node.state is NodeState.ONLINE and node.id in self._sessions
        ]

    def online_count(self) -> int:
        return sum(1 for n in self.nodes.values() if n.state is NodeState.ONLINE)

    def close_all(self) -> None:
        for session in list(self._sessions.values()):
            session.close()
        self._sessions.clear()
