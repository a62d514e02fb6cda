"""Placement: a pure function from a snapshot of free capacity and a queue to decisions.

Order: priority class first (critical, high, normal, low), then age. A task
that does not fit now does not block smaller tasks behind it (backfill);
reasons say whether it waits for capacity or can never fit on any node.
Tasks of a concurrency group with a limit start only while the group has a
free slot, in that same order. A task pinned to a node (`Resources.node`) goes
there or waits; a task holding locks (`Resources.locks`) waits while another
placed task holds one of them.

Gangs (a distributed task of world_size N >= 2) are placed all-or-nothing: N
ranks on N distinct nodes, each fitting the per-rank resources, all in the same
pass, or none at all. Nothing is reserved for a gang that does not fit, so gangs
waiting for the same nodes can never hold parts of them and deadlock; the gang
first in priority order that fits whole takes its nodes.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Set
from dataclasses import dataclass, field

from controller.domain.types import Resources


@dataclass(frozen=True)
class GpuSlot:
    index: int
    memory_mb: int


@dataclass
class NodeCapacity:
    """A node's totals and what is in use; `place` updates the used figures."""

    node_id: str
    cpu_cores: float
    memory_mb: int
    gpus: tuple[GpuSlot, ...] = ()
    used_cpu: float = 0.0
    used_memory_mb: int = 0
    used_gpus: set[int] = field(default_factory=set)

    def free_gpus(self, min_memory_mb: int) -> list[GpuSlot]:
        return [g for g in self.gpus if g.index not in self.used_gpus and g.memory_mb >= min_memory_mb]

    def could_ever_fit(self, need: Resources) -> bool:
        gpus = [g for g in self.gpus if g.memory_mb >= need.gpu_memory_mb]
        return len(gpus) >= need.gpus and self.cpu_cores >= need.cpu_cores and self.memory_mb >= need.memory_mb

    def fits_now(self, need: Resources) -> bool:
        return (
            len(self.free_gpus(need.gpu_memory_mb)) >= need.gpus
            and self.cpu_cores - self.used_cpu >= need.cpu_cores - 1e-9
            and self.memory_mb - self.used_memory_mb >= need.memory_mb
        )

    def take(self, need: Resources) -> tuple[int, ...]:
        # Smallest sufficient GPUs first, so big ones stay free for big asks.
        chosen = sorted(self.free_gpus(need.gpu_memory_mb), key=lambda g: (g.memory_mb, g.index))[: need.gpus]
        self.used_gpus.update(g.index for g in chosen)
        self.used_cpu += need.cpu_cores
        self.used_memory_mb += need.memory_mb
        return tuple(sorted(g.index for g in chosen))


@dataclass(frozen=True)
class QueuedTask:
    task_id: str
    resources: Resources
    priority: int
    create_time: float
    #: Concurrency group; "" is in none.
    group: str = ""
    #: Ranks of a distributed task (a gang); 1 is an ordinary task. `resources` is per rank.
    world_size: int = 1


@dataclass(frozen=True)
class Placement:
    task_id: str
    node_id: str
    gpu_indices: tuple[int, ...]


@dataclass(frozen=True)
class GangPlacement:
    """A whole gang: `ranks[r]` is where rank r runs (rank 0 hosts the rendezvous), each on its own node."""

    task_id: str
    ranks: tuple[Placement, ...]

    @property
    def world_size(self) -> int:
        return len(self.ranks)


@dataclass
class Decisions:
    placements: list[Placement] = field(default_factory=list)
    #: Gangs placed whole in this pass (never in `placements`).
    gangs: list[GangPlacement] = field(default_factory=list)
    #: task_id -> why it stays pending.
    waiting: dict[str, str] = field(default_factory=dict)


def place(
    nodes: list[NodeCapacity], queue: list[QueuedTask], group_slots: Mapping[str, int] | None = None,
    held_locks: Set[str] = frozenset(),
) -> Decisions:
    """Decide which queued tasks go where. Mutates the nodes' used figures.

    ``group_slots``: free slots of each limited concurrency group (groups not
    named are unlimited); a task of a group with no free slot waits.
    ``held_locks``: the locks placed tasks hold now.
    """
    decisions = Decisions()
    slots = dict(group_slots or {})
    locks = set(held_locks)
    # Needs that fit no node, with the reason. Free capacity only shrinks during a pass, so a
    # later task with the same need waits too: a long queue costs one scan of the nodes per
    # distinct need, not one per task.
    unplaceable: dict[Resources, str] = {}
    #: The same for gangs, by (per-rank need, world size).
    unplaceable_gangs: dict[tuple[Resources, int], str] = {}
    free = _FreeIndex(nodes)
    for task in sorted(queue, key=lambda t: (-t.priority, t.create_time, t.task_id)):
        need = task.resources
        if task.group in slots and slots[task.group] <= 0:
            decisions.waiting[task.task_id] = f"waiting for a free slot of concurrency group {task.group!r}"
            continue
        if task.world_size > 1:
            key = (need, task.world_size)
            if key in unplaceable_gangs:
                decisions.waiting[task.task_id] = unplaceable_gangs[key]
                continue
            chosen = free.best_fits(need, task.world_size)
            if chosen is None:
                decisions.waiting[task.task_id] = unplaceable_gangs[key] = _why_gang_waits(nodes, need, task.world_size)
                continue
            ranks = tuple(Placement(task.task_id, nodes[i].node_id, free.take(i, need)) for i in chosen)
            decisions.gangs.append(GangPlacement(task.task_id, ranks))
            if task.group in slots:
                slots[task.group] -= 1
            continue
        if busy := [lock for lock in need.locks if lock in locks]:
            decisions.waiting[task.task_id] = f"waiting for {busy[0]}: another task is using it"
            continue
        if need in unplaceable:
            decisions.waiting[task.task_id] = unplaceable[need]
            continue
        node = free.pinned_fit(need) if need.node else free.best_fit(need)
        if node is None:
            decisions.waiting[task.task_id] = unplaceable[need] = _why_waiting(nodes, need)
            continue
        decisions.placements.append(Placement(task.task_id, nodes[node].node_id, free.take(node, need)))
        locks.update(need.locks)
        if task.group in slots:
            slots[task.group] -= 1
    return decisions


class _FreeIndex:
    """The nodes ordered by what they have free: (free GPUs, free CPU, free memory, position).

    Best fit keeps GPU nodes for GPU work, then leaves the least capacity idle: the fitting node with
    the least free, the first of equals. In this order that is the first node that fits from where
    the free GPUs and CPU reach the need, found by bisection, not by testing every node per task.
    """

    def __init__(self, nodes: list[NodeCapacity]) -> None:
        self._nodes = nodes
        self._keys = sorted(self._key(i) for i in range(len(nodes)))

    def _key(self, i: int) -> tuple[int, float, int, int]:
        n = self._nodes[i]
        return (len(n.free_gpus(0)), n.cpu_cores - n.used_cpu, n.memory_mb - n.used_memory_mb, i)

    def best_fit(self, need: Resources) -> int | None:
        """The position of the node to place `need` on, or None when none fits now."""
        keys, cpu = self._keys, need.cpu_cores - 1e-9
        at = bisect.bisect_left(keys, (need.gpus, cpu))
        while at < len(keys):
            gpus, free_cpu, _, i = keys[at]
            if free_cpu < cpu:  # the first of the next GPU count: skip to its nodes with CPU enough
                at = bisect.bisect_left(keys, (gpus, cpu), at)
                continue
            if self._nodes[i].fits_now(need):
                return i
            at += 1
        return None

    def pinned_fit(self, need: Resources) -> int | None:
        """The position of the node `need` is pinned to, when it is here and fits now."""
        i = next((i for i, n in enumerate(self._nodes) if n.node_id == need.node), None)
        return i if i is not None and self._nodes[i].fits_now(need) else None

    def best_fits(self, need: Resources, count: int) -> list[int] | None:
        """The positions of `count` distinct nodes that each fit `need` now, best fit first; None when
        fewer fit. Placing on one node changes no other, so any `count` fitting nodes fit together."""
        keys, cpu = self._keys, need.cpu_cores - 1e-9
        found: list[int] = []
        at = bisect.bisect_left(keys, (need.gpus, cpu))
        while at < len(keys) and len(found) < count:
            gpus, free_cpu, _, i = keys[at]
            if free_cpu < cpu:
                at = bisect.bisect_left(keys, (gpus, cpu), at)
                continue
            if self._nodes[i].fits_now(need):
                found.append(i)
            at += 1
        return found if len(found) == count else None

    def take(self, i: int, need: Resources) -> tuple[int, ...]:
        """Place `need` on node `i`; its GPUs."""
        del self._keys[bisect.bisect_left(self._keys, self._key(i))]
        gpus = self._nodes[i].take(need)
        bisect.insort(self._keys, self._key(i))
        return gpus


def describe(need: Resources) -> str:
    parts = []
    if need.gpus:
        per_gpu = f" with {need.gpu_memory_mb} MiB each" if need.gpu_memory_mb else ""
        parts.append(f"{need.gpus} GPU{'s' if need.gpus != 1 else ''}{per_gpu}")
    if need.cpu_cores:
        parts.append(f"{need.cpu_cores:g} CPU cores")
    if need.memory_mb:
        parts.append(f"{need.memory_mb} MiB RAM")
    return ", ".join(parts) or "no resources"


def _why_waiting(nodes: list[NodeCapacity], need: Resources) -> str:
    if not nodes:
        return "no node is online"
    if need.node:
        pinned = [n for n in nodes if n.node_id == need.node]
        if not pinned:
            return f"waiting for node {need.node} to be online"
        if not pinned[0].could_ever_fit(need):
            return f"node {need.node} can never fit {describe(need)}"
        return f"waiting for free capacity on node {need.node} ({describe(need)})"
    if not any(n.could_ever_fit(need) for n in nodes):
        most_gpus = max(len(n.gpus) for n in nodes)
        most_cpu = max(n.cpu_cores for n in nodes)
        most_mem = max(n.memory_mb for n in nodes)
        return (
            f"no online node can fit {describe(need)}: the largest have {most_gpus} GPUs,"
            f" {most_cpu:g} CPU cores, {most_mem} MiB RAM"
        )
    return f"waiting for free capacity ({describe(need)})"


def _why_gang_waits(nodes: list[NodeCapacity], need: Resources, world_size: int) -> str:
    able = sum(1 for n in nodes if n.could_ever_fit(need))
    if able < world_size:
        online = "no node is online" if not nodes else f"only {able} online node{'s' if able != 1 else ''} can"
        return f"gang of {world_size} needs {world_size} distinct nodes that can fit {describe(need)}: {online}"
    free = sum(1 for n in nodes if n.fits_now(need))
    return (f"waiting for {world_size} nodes free at once for a gang of {world_size} ({describe(need)} each;"
            f" {free} free now)")
