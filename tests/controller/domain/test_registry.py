"""NodeRegistry: sessions, heartbeat TTL, and the reconnect grace after a controller restart (a manual clock)."""

from __future__ import annotations

from controller.domain.registry import AckMessage, AgentSession, NodeRegistry
from controller.domain.types import Capabilities, Gpu, Node, NodeState, NodeUsage
from domain_parts import ManualClock

TTL = 10.0
GRACE = 30.0

# Builders -------------------------------------------------------------------


def registry(clock: ManualClock | None = None) -> NodeRegistry:
    return NodeRegistry(ttl_seconds=TTL, grace_seconds=GRACE, clock=clock or ManualClock())


def node(node_id: str = "n1", *, gpus: int = 0, state: NodeState = NodeState.ONLINE, **fields: object) -> Node:
    gpu_list = tuple(Gpu(i, f"GPU-{i}", "A100", 40_000) for i in range(gpus))
    caps = Capabilities(cpu_cores=8, memory_mb=16_384, gpus=gpu_list)
    return Node(node_id, capabilities=caps, state=state, **fields)  # type: ignore[arg-type]


def connect(reg: NodeRegistry, n: Node) -> AgentSession:
    """A join as NodeBook does it (minus the commit): admitted, then connected."""
    return reg.connect(reg.admitted(n))


def drain(session: AgentSession) -> list[object]:
    items = []
    while not session.outbox.empty():
        items.append(session.outbox.get_nowait())
    return items


# Sessions ---------------------------------------------------------------------


def test_a_connected_node_is_online_schedulable_and_reachable() -> None:
    reg = registry()
    session = connect(reg, node("n1", gpus=2))
    [capacity] = reg.schedulable()
    assert (capacity.node_id, capacity.cpu_cores, capacity.memory_mb) == ("n1", 8, 16_384)
    assert [(g.index, g.memory_mb) for g in capacity.gpus] == [(0, 40_000), (1, 40_000)]
    assert (capacity.used_cpu, capacity.used_memory_mb, capacity.used_gpus) == (0.0, 0, set())
    assert reg.send("n1", AckMessage(1)) and drain(session) == [AckMessage(1)]
    assert not reg.send("unknown", AckMessage(2))
    assert reg.online_count() == 1 and reg.online("n1") is reg.nodes["n1"] and reg.online("unknown") is None


def test_admitted_changes_nothing_until_the_node_is_connected() -> None:
    clock = ManualClock()
    reg = registry(clock)
    admitted = reg.admitted(node("n1", state=NodeState.OFFLINE, create_time=1.0, last_seen=2.0))
    assert (admitted.state, admitted.create_time, admitted.last_seen) == (NodeState.ONLINE, clock(), clock())
    assert reg.nodes == {} and reg.schedulable() == []


def test_a_reconnect_closes_the_previous_stream_and_keeps_the_creation_time() -> None:
    clock = ManualClock()
    reg = registry(clock)
    old = connect(reg, node("n1"))
    joined = clock()
    clock.advance(100)
    new = connect(reg, node("n1"))
    assert old.closed and drain(old) == [None], "the old stream is told to end"
    assert (reg.nodes["n1"].create_time, reg.nodes["n1"].last_seen) == (joined, clock())
    reg.disconnect(old)  # the old stream's handler finishing late must not drop the new one
    assert reg.send("n1", AckMessage(1)) and drain(new) == [AckMessage(1)]


def test_after_a_disconnect_the_node_stays_online_but_is_not_schedulable() -> None:
    reg = registry()
    reg.disconnect(connect(reg, node("n1")))
    assert reg.nodes["n1"].state is NodeState.ONLINE
    assert reg.schedulable() == [] and not reg.send("n1", AckMessage(1))


def test_a_polling_node_is_admitted_without_a_session() -> None:
    reg = registry()
    reg.admit(reg.admitted(node("p")))
    assert reg.online("p") is not None and reg.schedulable() == [], "nothing is pushed to a polling node"
    assert not reg.send("p", AckMessage(1))


def test_a_closed_session_queues_nothing_more() -> None:
    session = AgentSession("n1")
    session.close()
    session.close()
    session.send(AckMessage(1))
    assert drain(session) == [None]


# TTL ------------------------------------------------------------------------


def test_a_node_is_lost_after_its_ttl_without_heartbeats() -> None:
    clock = ManualClock()
    reg = registry(clock)
    session = connect(reg, node("n1"))
    seen = reg.nodes["n1"].last_seen
    assert reg.expired(seen + TTL - 0.1) == [] and reg.expired(seen + TTL) == []
    [lost] = reg.expired(seen + TTL + 0.1)
    assert lost.id == "n1" and lost.state is NodeState.ONLINE, "nothing changes until mark_offline"
    assert not reg.mark_offline("n1"), "only a fenced node is marked offline"
    reg.fence("n1")
    assert reg.schedulable() == [], "nothing more is placed on a node being declared lost"
    assert reg.mark_offline("n1") and reg.nodes["n1"].state is NodeState.OFFLINE
    assert session.closed and reg.schedulable() == [] and reg.online_count() == 0
    assert reg.expired(seen + 10 * TTL) == [], "a node is lost once"
    assert not reg.is_expired("unknown", seen + 10 * TTL)


def test_heartbeats_keep_a_node_alive_and_record_usage() -> None:
    clock = ManualClock()
    reg = registry(clock)
    connect(reg, node("n1"))
    clock.advance(TTL - 1)
    reg.heartbeat("n1", NodeUsage(cpu_percent=42.0))
    clock.advance(TTL - 1)
    assert reg.expired(clock()) == []
    assert reg.nodes["n1"].usage.cpu_percent == 42.0
    reg.touch("n1")
    clock.advance(TTL - 1)
    assert reg.expired(clock()) == []
    clock.advance(2)
    assert [n.id for n in reg.expired(clock())] == ["n1"]
    reg.heartbeat("ghost", NodeUsage())  # unknown nodes are ignored
    reg.touch("ghost")
    assert "ghost" not in reg.nodes


# Restart grace ----------------------------------------------------------------


def test_after_a_restart_online_nodes_get_a_grace_period_to_reconnect() -> None:
    clock = ManualClock(5000.0)
    reg = registry(clock)
    long_ago = 1000.0
    reg.load([node("n1", last_seen=long_ago), node("off", state=NodeState.OFFLINE, last_seen=long_ago)])
    assert reg.nodes["n1"].state is NodeState.RECONNECTING
    assert reg.nodes["off"].state is NodeState.OFFLINE
    assert reg.schedulable() == [] and reg.online_count() == 0 and reg.online("n1") is None
    assert reg.expired(5000.0 + GRACE - 1) == [], "not lost during the grace, however old its last beat"
    [lost] = reg.expired(5000.0 + GRACE + 1)
    assert lost.id == "n1"
    reg.fence("n1")
    assert reg.mark_offline("n1")
    assert reg.nodes["n1"].state is NodeState.OFFLINE and reg.expired(5000.0 + 10 * GRACE) == []


def test_a_node_that_reconnects_within_the_grace_is_online_again() -> None:
    clock = ManualClock()
    reg = registry(clock)
    reg.load([node("n1", create_time=100.0)])
    clock.advance(GRACE / 2)
    connect(reg, node("n1", create_time=999.0))
    n1 = reg.nodes["n1"]
    assert n1.state is NodeState.ONLINE and n1.create_time == 100.0
    assert [c.node_id for c in reg.schedulable()] == ["n1"]
    # From now on its heartbeat TTL applies (shorter than the grace).
    assert reg.expired(n1.last_seen + TTL + 1) == [n1]


def test_a_fence_that_is_lifted_or_overtaken_by_a_rejoin_marks_nothing_offline() -> None:
    reg = registry()
    connect(reg, node("n1"))
    reg.fence("n1")
    reg.unfence("n1")  # the write of its loss failed
    assert [c.node_id for c in reg.schedulable()] == ["n1"] and not reg.mark_offline("n1")
    reg.fence("n1")
    session = connect(reg, node("n1"))  # it rejoined while its loss was being written
    assert not reg.mark_offline("n1"), "it is back"
    assert reg.nodes["n1"].state is NodeState.ONLINE and not session.closed
    assert [c.node_id for c in reg.schedulable()] == ["n1"]


def test_close_all_ends_every_stream() -> None:
    reg = registry()
    sessions = [connect(reg, node(f"n{i}")) for i in range(3)]
    reg.close_all()
    assert all(s.closed for s in sessions) and reg.schedulable() == []
