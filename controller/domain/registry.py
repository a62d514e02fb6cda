"""NodeRegistry: the nodes, their live sessions, and heartbeat liveness (in memory).

Heartbeats only touch memory; the store sees a node when it registers and when
its coarse state changes (online, reconnecting, offline). Changes that the store
must see first are split in two: `admitted`/`expired` say what would change,
and `connect`/`admit`/`mark_offline` make it so once the caller has committed.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field, replace

import structlog

from controller.domain.gang import RendezvousPoint
from controller.domain.peers import PeerPoint, PeerSource, PeerTickets
from controller.domain.scheduler import GpuSlot, NodeCapacity
from controller.domain.types import Clock, Node, NodeState, NodeUsage, Task, TaskAction

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class AssignMessage:
    task: Task
    gpu_indices: tuple[int, ...]
    #: A gang's rank: which, of how many, and where the ranks meet (rank 0's rendezvous).
    rank: int = 0
    world_size: int = 1
    master_addr: str = ""
    master_port: int = 0
    #: A model copy: where the source node serves the bytes, with the ticket it checks.
    peer_source: PeerSource | None = None


@dataclass(frozen=True)
class ControlMessage:
    task_id: str
    attempt: int
    action: TaskAction


@dataclass(frozen=True)
class AckMessage:
    seq: int


@dataclass(frozen=True)
class ProfilingControlMessage:
    """Whether and how a node samples (controller.domain.profiling)."""

    enabled: bool
    sampling_frequency_ms: int = 0
    enable_nvlink: bool = False
    enable_bandwidth: bool = False


DownMessage = AssignMessage | ControlMessage | AckMessage | ProfilingControlMessage


def to_every_node(task: Task, action: TaskAction) -> list[tuple[str, ControlMessage]]:
    """`action` for each node of the task's current attempt (every rank of a gang)."""
    return [(node_id, ControlMessage(task.id, task.attempt, action)) for node_id in task.node_ids]


@dataclass
class AgentSession:
    """One live Connect stream. The API layer drains `outbox` onto the wire."""

    node_id: str
    outbox: asyncio.Queue[DownMessage | None] = field(default_factory=asyncio.Queue)
    closed: bool = False
    #: Where the node hosts a gang's rank 0 (from its hello); None when it offers none.
    rendezvous: RendezvousPoint | None = None
    #: Where the node serves its models to other nodes (from its hello); None when it serves none.
    peer: PeerPoint | None = None
    #: It samples when asked (controller.domain.profiling sends it ProfilingControlMessage).
    samples_profiling: bool = False

    def send(self, message: DownMessage) -> None:
        if not self.closed:
            self.outbox.put_nowait(message)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.outbox.put_nowait(None)


class NodeRegistry:
    def __init__(self, *, ttl_seconds: float, grace_seconds: float, clock: Clock = time.time) -> None:
        self.ttl_seconds = ttl_seconds
        self.grace_seconds = grace_seconds
        self.clock = clock
        self.nodes: dict[str, Node] = {}
        self._sessions: dict[str, AgentSession] = {}
        #: Nodes known from before a restart: deadline to reconnect by.
        self._grace_until: dict[str, float] = {}
        #: Nodes being declared lost: nothing more is placed on them while that is written.
        self._fenced: set[str] = set()
        #: Signs the tickets of model copies between nodes; each node gets its key in its Welcome.
        self.peer_tickets = PeerTickets()

    def load(self, nodes: list[Node]) -> None:
        """Nodes from the store after a restart: online ones get a grace period."""
        now = self.clock()
        for node in nodes:
            if node.state is NodeState.ONLINE:
                node.state = NodeState.RECONNECTING
                self._grace_until[node.id] = now + self.grace_seconds
            self.nodes[node.id] = node

    def admitted(self, node: Node) -> Node:
        """The node as it will be once admitted (online now, its first join kept); nothing changes yet."""
        known = self.nodes.get(node.id)
        return replace(node, state=NodeState.ONLINE, last_seen=self.clock(),
                       create_time=known.create_time if known is not None else self.clock())  # fmt: skip

    def connect(self, node: Node, rendezvous: RendezvousPoint | None = None, peer: PeerPoint | None = None) -> AgentSession:
        """Admit a node that holds a stream (from `admitted`, after its commit); a previous stream is closed."""
        self.admit(node)
        session = AgentSession(node.id, rendezvous=rendezvous, peer=peer)
        self._sessions[node.id] = session
        return session

    def admit(self, node: Node) -> None:
        """The node is online (from `admitted`, after its commit); a previous stream of it is closed.

        A node that polls for work rather than streaming is admitted without a session:
        the dispatcher pushes nothing to it; it takes work through claims.
        """
        self.retire_session(node.id)
        self.nodes[node.id] = node
        self._grace_until.pop(node.id, None)

    def retire_session(self, node_id: str, why: str = "node reconnected") -> None:
        """Close the node's stream, if it has one: nothing more is placed on it through that stream.

        A node rejoining while it was being declared lost is no longer fenced: it is back.
        """
        self._fenced.discard(node_id)
        if (old := self._sessions.pop(node_id, None)) is not None:
            log.warning(f"{why}; closing its stream", node_id=node_id)
            old.close()

    def fence(self, node_id: str) -> None:
        """Place nothing more on the node (it is being declared lost); `unfence` if that fails."""
        self._fenced.add(node_id)

    def unfence(self, node_id: str) -> None:
        self._fenced.discard(node_id)

    def online(self, node_id: str) -> Node | None:
        """The node when it is online, else None."""
        node = self.nodes.get(node_id)
        return node if node is not None and node.state is NodeState.ONLINE else None

    def capacity(self, node: Node) -> NodeCapacity:
        """A node's totals, nothing used yet (the placement fills that in)."""
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
            node.usage, node.last_seen = usage, self.clock()

    def touch(self, node_id: str) -> None:
        if (node := self.nodes.get(node_id)) is not None:
            node.last_seen = self.clock()

    def send(self, node_id: str, message: DownMessage) -> bool:
        session = self._sessions.get(node_id)
        if session is None:
            return False
        session.send(message)
        return True

    def expired(self, now: float) -> list[Node]:
        """Nodes past their TTL (or restart grace); nothing changes until `mark_offline`."""
        return [node for node in self.nodes.values() if self.is_expired(node.id, now)]

    def is_expired(self, node_id: str, now: float) -> bool:
        node = self.nodes.get(node_id)
        if node is None:
            return False
        if node.state is NodeState.ONLINE:
            return now - node.last_seen > self.ttl_seconds
        return node.state is NodeState.RECONNECTING and now > self._grace_until.get(node.id, 0)

    def mark_offline(self, node_id: str) -> bool:
        """The fenced node is lost (after its commit): offline, its stream closed. False when it rejoined meanwhile."""
        if node_id not in self._fenced:
            return False
        self._fenced.discard(node_id)
        node = self.nodes[node_id]
        node.state = NodeState.OFFLINE
        self._grace_until.pop(node_id, None)
        if (session := self._sessions.pop(node_id, None)) is not None:
            session.close()
        return True

    def schedulable(self) -> list[NodeCapacity]:
        """Capacity of nodes that are online with a live stream."""
        return [
            self.capacity(node)
            for node in self.nodes.values()
            if node.state is NodeState.ONLINE and node.id in self._sessions and node.id not in self._fenced
        ]

    def rendezvous_points(self) -> dict[str, RendezvousPoint]:
        """Where each streaming node offers a gang's rendezvous (nodes that offer none are left out)."""
        return {n: s.rendezvous for n, s in self._sessions.items() if s.rendezvous is not None}

    def sampling_nodes(self) -> list[str]:
        """The streaming nodes that sample when asked."""
        return [n for n, s in self._sessions.items() if s.samples_profiling]

    def peer_point(self, node_id: str) -> PeerPoint | None:
        """Where a streaming node serves its models to other nodes (None: offline, or it serves none)."""
        session = self._sessions.get(node_id)
        return session.peer if session is not None else None

    def online_nodes(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.state is NodeState.ONLINE]

    def online_count(self) -> int:
        return len(self.online_nodes())

    def close_all(self) -> None:
        for session in list(self._sessions.values()):
            session.close()
        self._sessions.clear()
