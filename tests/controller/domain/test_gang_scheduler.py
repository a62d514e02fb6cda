"""Gang (all-or-nothing) placement in the pure scheduler: N ranks on N distinct nodes, or none."""

from __future__ import annotations

import pytest

from controller.domain.errors import FailedPrecondition
from controller.domain.gang import RendezvousPoint, rank_assignments
from controller.domain.scheduler import Decisions, GpuSlot, NodeCapacity, QueuedTask, place
from controller.domain.types import Priority, Resources


def node(node_id: str, *, cpu: float = 4, mem: int = 8_192, gpus: tuple[int, ...] = ()) -> NodeCapacity:
    return NodeCapacity(node_id, cpu, mem, tuple(GpuSlot(i, m) for i, m in enumerate(gpus)))


def gang(task_id: str, world_size: int, *, cpu: float = 2, gpus: int = 0, mem: int = 0,
         priority: Priority = Priority.NORMAL, created: float = 1000.0, group: str = "") -> QueuedTask:  # fmt: skip
    return QueuedTask(task_id, Resources(gpus, 0, cpu, mem), int(priority), created, group, world_size)


def single(task_id: str, *, cpu: float = 2, created: float = 1000.0) -> QueuedTask:
    return QueuedTask(task_id, Resources(0, 0, cpu, 0), int(Priority.NORMAL), created)


def gang_nodes(decisions: Decisions) -> dict[str, list[str]]:
    return {g.task_id: [p.node_id for p in g.ranks] for g in decisions.gangs}


def test_a_gang_takes_n_distinct_nodes_in_one_pass() -> None:
    nodes = [node("a"), node("b"), node("c")]
    decisions = place(nodes, [gang("g", 3)])
    [placed] = decisions.gangs
    assert placed.world_size == 3 and sorted(p.node_id for p in placed.ranks) == ["a", "b", "c"]
    assert all(p.task_id == "g" for p in placed.ranks)
    assert decisions.placements == [] and decisions.waiting == {}
    assert [n.used_cpu for n in nodes] == [2, 2, 2]


def test_never_two_ranks_on_one_node_even_when_it_has_room() -> None:
    nodes = [node("big", cpu=64), node("small")]
    decisions = place(nodes, [gang("g", 3)])
    assert decisions.gangs == []
    assert "3 distinct nodes" in decisions.waiting["g"] and "only 2 online nodes can" in decisions.waiting["g"]
    assert [n.used_cpu for n in nodes] == [0, 0]  # nothing reserved


def test_a_gang_that_does_not_fit_whole_reserves_nothing() -> None:
    nodes = [node("a"), node("b", cpu=1), node("c")]  # b is too small for a rank
    decisions = place(nodes, [gang("g", 3), single("s", cpu=4)])
    assert decisions.gangs == [] and "g" in decisions.waiting
    assert decisions.placements[0].task_id == "s"  # the single task backfills what the gang left untouched
    assert sum(n.used_cpu for n in nodes) == 4


def test_busy_nodes_make_the_gang_wait_for_capacity_not_forever() -> None:
    nodes = [node("a"), node("b"), node("c")]
    nodes[2].used_cpu = 3.5
    decisions = place(nodes, [gang("g", 3)])
    assert decisions.gangs == []
    assert decisions.waiting["g"].startswith("waiting for 3 nodes free at once") and "2 free now" in decisions.waiting["g"]
    nodes[2].used_cpu = 0
    assert gang_nodes(place(nodes, [gang("g", 3)])) == {"g": ["a", "b", "c"]}


def test_two_gangs_competing_for_the_same_nodes_never_deadlock() -> None:
    """Each of two 3-gangs could take part of 4 nodes; the older takes 3 whole, the other waits holding nothing,
    and runs once the first is done."""
    nodes = [node(n) for n in "abcd"]
    queue = [gang("old", 3, cpu=3, created=1.0), gang("new", 3, cpu=3, created=2.0)]
    first = place(nodes, queue)
    assert list(gang_nodes(first)) == ["old"] and "new" in first.waiting
    assert sorted(n.used_cpu for n in nodes) == [0, 3, 3, 3]
    after = [node(n) for n in "abcd"]  # "old" finished: its nodes are free again
    second = place(after, [queue[1]])
    assert list(gang_nodes(second)) == ["new"]


def test_priority_decides_which_gang_goes_first() -> None:
    nodes = [node(n) for n in "ab"]
    decisions = place(nodes, [gang("low", 2, cpu=4, created=1.0, priority=Priority.LOW),
                              gang("crit", 2, cpu=4, created=5.0, priority=Priority.CRITICAL)])  # fmt: skip
    assert list(gang_nodes(decisions)) == ["crit"] and "low" in decisions.waiting


def test_gangs_of_gpu_ranks_get_a_gpu_on_each_node() -> None:
    nodes = [node("cpu-only", cpu=16), node("g1", gpus=(16_000,)), node("g2", gpus=(16_000, 16_000))]
    decisions = place(nodes, [gang("g", 2, gpus=1, cpu=1)])
    [placed] = decisions.gangs
    assert sorted(p.node_id for p in placed.ranks) == ["g1", "g2"]
    assert all(len(p.gpu_indices) == 1 for p in placed.ranks)


def test_a_gang_uses_one_slot_of_its_concurrency_group() -> None:
    nodes = [node(n) for n in "abcd"]
    queue = [gang("g1", 2, cpu=1, created=1.0, group="q"), gang("g2", 2, cpu=1, created=2.0, group="q")]
    decisions = place(nodes, queue, {"q": 1})
    assert list(gang_nodes(decisions)) == ["g1"] and "concurrency group" in decisions.waiting["g2"]


def test_no_nodes_at_all() -> None:
    decisions = place([], [gang("g", 2)])
    assert "no node is online" in decisions.waiting["g"]


def test_world_size_one_is_an_ordinary_task() -> None:
    decisions = place([node("a")], [gang("t", 1)])
    assert decisions.gangs == [] and [p.task_id for p in decisions.placements] == ["t"]


# Rank assignments -------------------------------------------------------------


def test_every_rank_is_told_rank_0s_address_and_reserved_port() -> None:
    [placed] = place([node("a"), node("b"), node("c")], [gang("g", 3)]).gangs
    points = {n: RendezvousPoint(f"10.0.0.{i}", 29500 + i) for i, n in enumerate("abc")}
    ranks = rank_assignments(placed, points)
    assert [r.rank for r in ranks] == [0, 1, 2] and {r.world_size for r in ranks} == {3}
    assert [r.node_id for r in ranks] == [p.node_id for p in placed.ranks]
    master = points[ranks[0].node_id]
    assert {(r.master_addr, r.master_port) for r in ranks} == {(master.address, master.port)}


def test_rank_0_goes_to_a_node_that_offers_a_rendezvous() -> None:
    [placed] = place([node("a"), node("b")], [gang("g", 2)]).gangs
    first, second = (p.node_id for p in placed.ranks)
    ranks = rank_assignments(placed, {second: RendezvousPoint("10.0.0.2", 29501), first: RendezvousPoint("", 0)})
    assert [(r.rank, r.node_id) for r in ranks] == [(0, second), (1, first)]
    assert ranks[1].master_addr == "10.0.0.2" and ranks[1].master_port == 29501
    with pytest.raises(FailedPrecondition):
        rank_assignments(placed, {})
