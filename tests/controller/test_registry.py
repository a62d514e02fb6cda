"""NodeRegistry: sessions, heartbeat TTL, and the reconnect grace after a controller restart."""

from __future__ import annotations

import time

from controller.domain.registry import AckMessage, NodeRegistry
from controller.domain.types import Capabilities, Gpu, Node, NodeState, NodeUsage

TTL = 10.0
GRACE = 30.0

# Builders -------------------------------------------------------------------


def registry() -> NodeRegistry:
    return NodeRegistry(ttl_seconds=TTL, grace_seconds=GRACE)


def node(node_id: str = "n1", *, gpus: int = 0, state: NodeState = NodeState.ONLINE, **fields) -> Node:
    gpu_list = tuple(Gpu(i, f"GPU-{i}", "A100", 40_000) for i in range(gpus))
    caps = Capabilities(cpu_cores=8, memory_mb=16_384, gpus=gpu_list)
    return Node(node_id, capabilities=caps, state=state, **fields)


def drain(session) -> list:
    items = []
    while not session.outbox.empty():
        items.append(session.outbox.get_nowait())
    return items


# Sessions ---------------------------------------------------------------------


def test_a_connected_node_is_online_schedulable_and_reachable() -> None:
    reg = registry()
    session = reg.connect(node("n1", gpus=2))
    [capacity] = reg.schedulable()
    assert (capacity.node_id, capacity.cpu_cores, capacity.memory_mb) == ("n1", 8, 16_384)
    assert [(g.index, g.memory_mb) for g in capacity.gpus] == [(0, 40_000), (1, 40_000)]
    assert reg.send("n1", AckMessage(1)) and drain(session) == [AckMessage(1)]
    assert not reg.send("unknown", AckMessage(2))
    assert reg.online_count() == 1


def test_a_reconnect_closes_the_previous_stream_and_keeps_the_creation_time() -> None:
    reg = registry()
    old = reg.connect(node("n1", create_time=100.0))
    new = reg.connect(node("n1", create_time=200.0))
    assert old.closed and drain(old) == [None], "the old stream is told to end"
    assert reg.nodes["n1"].create_time == 100.0
    reg.disconnect(old)  # the old stream's handler finishing late must not drop the new one
    assert reg.send("n1", AckMessage(1)) and drain(new) == [AckMessage(1)]


def test_after_a_disconnect_the_node_stays_online_but_is_not_schedulable() -> None:
    reg = registry()
    reg.disconnect(reg.connect(node("n1")))
    assert reg.nodes["n1"].state is NodeState.ONLINE
    assert reg.schedulable() == [] and not reg.send("n1", AckMessage(1))


# TTL ------------------------------------------------------------------------


def test_a_node_is_lost_after_its_ttl_without_heartbeats() -> None:
    reg = registry()
    session = reg.connect(node("n1"))
    seen = reg.nodes["n1"].last_seen
    assert reg.expire(seen + TTL - 0.1) == []
    [lost] = reg.expire(seen + TTL + 0.1)
    assert lost.id == "n1" and lost.state is NodeState.OFFLINE
    assert session.closed and reg.schedulable() == []
    assert reg.expire(seen + 10 * TTL) == [], "a node is lost once"


def test_heartbeats_keep_a_node_alive_and_record_usage() -> None:
    reg = registry()
    reg.connect(node("n1"))
    reg.nodes["n1"].last_seen = time.time() - TTL - 5
    reg.heartbeat("n1", NodeUsage(cpu_percent=42.0))
    assert reg.expire(time.time()) == []
    assert reg.nodes["n1"].usage.cpu_percent == 42.0
    reg.nodes["n1"].last_seen = time.time() - TTL - 5
    reg.touch("n1")
    assert reg.expire(time.time()) == []
    reg.heartbeat("ghost", NodeUsage())  # unknown nodes are ignored


# Restart grace ----------------------------------------------------------------


def test_after_a_restart_online_nodes_get_a_grace_period_to_reconnect() -> None:
    reg = registry()
    long_ago = 1000.0
    reg.load([node("n1", last_seen=long_ago), node("off", state=NodeState.OFFLINE, last_seen=long_ago)], now=5000.0)
    assert reg.nodes["n1"].state is NodeState.RECONNECTING
    assert reg.nodes["off"].state is NodeState.OFFLINE
    assert reg.schedulable() == [] and reg.online_count() == 0
    assert reg.expire(5000.0 + GRACE - 1) == [], "not lost during the grace, however old its last beat"
    [lost] = reg.expire(5000.0 + GRACE + 1)
    assert lost.id == "n1" and lost.state is NodeState.OFFLINE


def test_a_node_that_reconnects_within_the_grace_is_online_again() -> None:
    reg = registry()
    reg.load([node("n1", create_time=100.0)], now=time.time())
    reg.connect(node("n1", create_time=999.0))
    n1 = reg.nodes["n1"]
    assert n1.state is NodeState.ONLINE and n1.create_time == 100.0
    assert [c.node_id for c in reg.schedulable()] == ["n1"]
    # From now on its heartbeat TTL applies (shorter than the grace).
    assert reg.expire(n1.last_seen + TTL + 1) == [n1]


def test_close_all_ends_every_stream() -> None:
    reg = registry()
    sessions = [reg.connect(node(f"n{i}")) for i in range(3)]
    reg.close_all()
    assert all(s.closed for s in sessions) and reg.schedulable() == []
