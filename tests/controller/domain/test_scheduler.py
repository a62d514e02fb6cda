"""The scheduler as a pure function: a snapshot of nodes and a queue in, decisions out."""

from __future__ import annotations

from controller.domain.scheduler import Decisions, GpuSlot, NodeCapacity, QueuedTask, describe, place
from controller.domain.types import Priority, Resources

# Builders -------------------------------------------------------------------


def node(node_id: str, *, cpu: float = 8, mem: int = 16_384, gpus: tuple[int, ...] = ()) -> NodeCapacity:
    """A node; `gpus` lists each GPU's memory in MiB (index = position)."""
    return NodeCapacity(node_id, cpu, mem, tuple(GpuSlot(i, m) for i, m in enumerate(gpus)))


def job(
    task_id: str,
    *,
    gpus: int = 0,
    gpu_mem: int = 0,
    cpu: float = 1,
    mem: int = 0,
    priority: Priority = Priority.NORMAL,
    created: float = 1000.0,
) -> QueuedTask:
    return QueuedTask(task_id, Resources(gpus, gpu_mem, cpu, mem), int(priority), created)


def where(decisions: Decisions) -> dict[str, str]:
    """task id -> node id of every placement."""
    return {p.task_id: p.node_id for p in decisions.placements}


def gpus_of(decisions: Decisions, task_id: str) -> tuple[int, ...]:
    return next(p.gpu_indices for p in decisions.placements if p.task_id == task_id)


# Fit ------------------------------------------------------------------------


def test_a_gpu_task_goes_to_the_node_with_enough_gpus() -> None:
    d = place([node("one-gpu", gpus=(16_000,)), node("four-gpus", gpus=(16_000,) * 4)], [job("t", gpus=2)])
    assert where(d) == {"t": "four-gpus"}
    assert len(gpus_of(d, "t")) == 2


def test_gpu_memory_is_a_per_gpu_requirement() -> None:
    n = node("mixed", gpus=(8_000, 8_000, 40_000))
    d = place([n], [job("big", gpus=1, gpu_mem=16_000)])
    assert gpus_of(d, "big") == (2,)
    d = place([node("mixed", gpus=(8_000, 8_000, 40_000))], [job("two-big", gpus=2, gpu_mem=16_000)])
    assert d.placements == []
    assert d.waiting["two-big"].startswith("no online node can fit 2 GPUs with 16000 MiB each")


def test_cpu_cores_are_not_overbooked() -> None:
    d = place([node("n", cpu=4)], [job("a", cpu=3, created=1), job("b", cpu=3, created=2)])
    assert where(d) == {"a": "n"}
    assert d.waiting["b"] == "waiting for free capacity (3 CPU cores)"


def test_fractional_cores_share_a_core() -> None:
    d = place([node("n", cpu=1)], [job("a", cpu=0.5), job("b", cpu=0.5), job("c", cpu=0.5)])
    assert set(where(d)) == {"a", "b"}
    assert "c" in d.waiting


def test_ram_is_not_overbooked() -> None:
    d = place([node("n", mem=4096)], [job("a", mem=3000, created=1), job("b", mem=3000, created=2)])
    assert where(d) == {"a": "n"}
    assert d.waiting["b"] == "waiting for free capacity (1 CPU cores, 3000 MiB RAM)"


def test_resources_already_in_use_are_respected() -> None:
    n = node("n", cpu=8, mem=8192, gpus=(16_000, 16_000))
    n.used_gpus, n.used_cpu, n.used_memory_mb = {0}, 6.0, 0
    d = place([n], [job("gpu", gpus=1), job("cpu", cpu=4)])
    assert gpus_of(d, "gpu") == (1,)
    assert "cpu" in d.waiting


def test_place_records_what_it_took_so_a_second_pass_does_not_double_book() -> None:
    n = node("n", cpu=4, mem=4096, gpus=(16_000,))
    place([n], [job("a", gpus=1, cpu=2, mem=1000)])
    assert (n.used_gpus, n.used_cpu, n.used_memory_mb) == ({0}, 2.0, 1000)
    assert place([n], [job("b", gpus=1)]).placements == []


# Order ----------------------------------------------------------------------


def test_priority_classes_come_before_age() -> None:
    queue = [
        job("low", priority=Priority.LOW, created=1),
        job("normal", priority=Priority.NORMAL, created=2),
        job("high", priority=Priority.HIGH, created=3),
        job("critical", priority=Priority.CRITICAL, created=4),
    ]
    d = place([node("n", cpu=100)], queue)
    assert [p.task_id for p in d.placements] == ["critical", "high", "normal", "low"]
    # With room for one, the most important wins even though it is the youngest.
    assert where(place([node("n", cpu=1)], queue)) == {"critical": "n"}


def test_within_a_class_the_oldest_goes_first() -> None:
    queue = [job("young", created=30), job("old", created=10), job("middle", created=20)]
    d = place([node("n", cpu=2)], queue)
    assert [p.task_id for p in d.placements] == ["old", "middle"]
    assert list(d.waiting) == ["young"]


# Best fit and backfill --------------------------------------------------------


def test_best_fit_prefers_the_node_that_leaves_least_idle() -> None:
    nodes = [node("four", gpus=(16_000,) * 4), node("one", gpus=(16_000,))]
    assert where(place(nodes, [job("t", gpus=1)])) == {"t": "one"}
    nodes = [node("big", cpu=64), node("small", cpu=4)]
    assert where(place(nodes, [job("t", cpu=2)])) == {"t": "small"}


def test_cpu_work_keeps_off_gpu_nodes() -> None:
    nodes = [node("gpu", cpu=4, gpus=(16_000,)), node("cpu-only", cpu=64)]
    assert where(place(nodes, [job("t", cpu=2)])) == {"t": "cpu-only"}


def test_within_a_node_the_smallest_sufficient_gpus_are_taken() -> None:
    d = place([node("n", gpus=(80_000, 16_000, 24_000))], [job("t", gpus=1, gpu_mem=10_000)])
    assert gpus_of(d, "t") == (1,)


def test_backfill_a_small_task_runs_while_a_bigger_more_important_one_cannot() -> None:
    n = node("n", gpus=(16_000, 16_000))
    n.used_gpus = {0}
    queue = [job("big", gpus=2, priority=Priority.CRITICAL, created=1), job("small", gpus=1, priority=Priority.LOW)]
    d = place([n], queue)
    assert where(d) == {"small": "n"}
    assert d.waiting["big"] == "waiting for free capacity (2 GPUs, 1 CPU cores)"


# Reasons ----------------------------------------------------------------------


def test_reason_when_no_node_is_online() -> None:
    assert place([], [job("t")]).waiting == {"t": "no node is online"}


def test_reason_when_no_node_could_ever_fit() -> None:
    nodes = [node("a", cpu=8, mem=1024, gpus=(16_000,) * 4), node("b", cpu=32, mem=65_536)]
    d = place(nodes, [job("t", gpus=8)])
    assert d.waiting["t"] == (
        "no online node can fit 8 GPUs, 1 CPU cores: the largest have 4 GPUs, 32 CPU cores, 65536 MiB RAM"
    )
    assert "no online node can fit" in place(nodes, [job("t", cpu=33)]).waiting["t"]
    assert "no online node can fit" in place(nodes, [job("t", mem=100_000)]).waiting["t"]


def test_describe_names_each_resource() -> None:
    assert describe(Resources(2, 16_000, 4, 1024)) == "2 GPUs with 16000 MiB each, 4 CPU cores, 1024 MiB RAM"
    assert describe(Resources(gpus=1)) == "1 GPU"
    assert describe(Resources()) == "no resources"


# Concurrency groups -----------------------------------------------------------


def test_a_group_without_free_slots_waits_in_order_while_others_go_on() -> None:
    queue = [
        QueuedTask("s1", Resources(cpu_cores=1), 2, 1.0, "sessions"),
        QueuedTask("s2", Resources(cpu_cores=1), 2, 2.0, "sessions"),
        QueuedTask("s3", Resources(cpu_cores=1), 2, 3.0, "sessions"),
        QueuedTask("other", Resources(cpu_cores=1), 2, 4.0),
    ]
    d = place([node("n", cpu=8)], queue, {"sessions": 1})
    assert set(where(d)) == {"s1", "other"}
    assert "concurrency group 'sessions'" in d.waiting["s2"] and "s3" in d.waiting


def test_group_slots_count_down_within_one_pass_and_unlimited_groups_are_not_bounded() -> None:
    queue = [QueuedTask(f"t{i}", Resources(cpu_cores=1), 2, float(i), "g") for i in range(4)]
    assert set(where(place([node("n", cpu=8)], queue, {"g": 2}))) == {"t0", "t1"}
    assert set(where(place([node("n", cpu=8)], queue, {"g": 0}))) == set()
    assert len(where(place([node("n", cpu=8)], queue, {"other": 1}))) == 4


# Pinned nodes and locks (model operations) ------------------------------------


def pinned(task_id: str, node_id: str, *, locks: tuple[str, ...] = (), created: float = 1000.0,
           priority: Priority = Priority.NORMAL) -> QueuedTask:  # fmt: skip
    return QueuedTask(task_id, Resources(cpu_cores=1, node=node_id, locks=locks), int(priority), created)


def test_a_pinned_task_goes_to_its_node_or_waits_for_it() -> None:
    nodes = [node("a", cpu=8), node("b", cpu=1)]
    decisions = place(nodes, [pinned("t1", "b"), pinned("t2", "b", created=1001), pinned("t3", "gone")])
    assert where(decisions) == {"t1": "b"}
    assert decisions.waiting["t2"] == "waiting for free capacity on node b (1 CPU cores)"
    assert decisions.waiting["t3"] == "waiting for node gone to be online"


def test_tasks_sharing_a_lock_never_run_at_once_even_with_room() -> None:
    nodes = [node("a", cpu=8)]
    decisions = place(nodes, [pinned("t1", "a", locks=("m@a:disk",)), pinned("t2", "a", locks=("m@a:disk",), created=1001),
                              pinned("t3", "a", locks=("other@a:disk",), created=1002)])  # fmt: skip
    assert where(decisions) == {"t1": "a", "t3": "a"}
    assert decisions.waiting["t2"] == "waiting for m@a:disk: another task is using it"


def test_a_lock_held_by_a_placed_task_keeps_the_next_one_waiting() -> None:
    decisions = place([node("a")], [pinned("t2", "a", locks=("m@a:disk",))], held_locks={"m@a:disk"})
    assert where(decisions) == {} and "m@a:disk" in decisions.waiting["t2"]
