"""`place` finds each task's node by bisection in an index of free capacity; its choices are those of
testing every node per task (the best fit, the first of equals), on random farms and queues."""

from __future__ import annotations

import copy
import random

import pytest

from controller.domain.scheduler import Decisions, GpuSlot, NodeCapacity, Placement, QueuedTask, place
from controller.domain.types import Resources


def every_node_tested(nodes: list[NodeCapacity], queue: list[QueuedTask]) -> Decisions:
    """The reference: for each task in order, the fitting node that leaves the least free, by a scan."""
    decisions = Decisions()
    for task in sorted(queue, key=lambda t: (-t.priority, t.create_time, t.task_id)):
        need = task.resources
        fits = [n for n in nodes if n.fits_now(need)]
        if not fits:
            decisions.waiting[task.task_id] = "waits"
            continue
        best = min(fits, key=lambda n: (len(n.free_gpus(0)) - need.gpus, n.cpu_cores - n.used_cpu - need.cpu_cores,
                                        n.memory_mb - n.used_memory_mb))  # fmt: skip
        decisions.placements.append(Placement(task.task_id, best.node_id, best.take(need)))
    return decisions


def random_farm(rng: random.Random) -> tuple[list[NodeCapacity], list[QueuedTask]]:
    nodes = []
    for i in range(rng.randint(1, 30)):
        gpus = tuple(GpuSlot(g, rng.choice((8_000, 16_000, 40_000))) for g in range(rng.choice((0, 0, 1, 2, 4))))
        n = NodeCapacity(f"n{i}", rng.choice((1, 2, 4, 8, 16)), rng.choice((2048, 8192, 16384)), gpus)
        n.used_cpu = rng.choice((0, 0, 0.5, 1, 2)) if n.cpu_cores > 2 else 0.0
        nodes.append(n)
    queue = [
        QueuedTask(f"t{j}", Resources(rng.choice((0, 0, 0, 1, 2)), rng.choice((0, 0, 10_000, 20_000)),
                                      rng.choice((0.5, 1, 1, 2, 4)), rng.choice((0, 0, 1024, 4096))),
                   rng.randint(1, 4), 1000.0 + rng.randint(0, 50))
        for j in range(rng.randint(0, 120))
    ]  # fmt: skip
    return nodes, queue


@pytest.mark.parametrize("seed", range(200))
def test_the_index_places_as_testing_every_node_would(seed: int) -> None:
    nodes, queue = random_farm(random.Random(seed))
    expected = every_node_tested(copy.deepcopy(nodes), queue)
    got = place(nodes, queue)
    assert got.placements == expected.placements
    assert set(got.waiting) == set(expected.waiting)
