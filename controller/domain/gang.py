"""Gangs: the ranks of a distributed task, and the rendezvous each rank is told.

A gang placed by the scheduler (`scheduler.GangPlacement`) becomes one
`RankAssignment` per rank. All of them name the same rendezvous: rank 0's node
address and the port rank 0's agent reserved for it (from its hello), so every
rank's torch.distributed meets at ``tcp://master_addr:master_port``.
`TaskPlacement` turns each of the scheduler's `Decisions.gangs` into these.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from controller.domain.errors import FailedPrecondition
from controller.domain.scheduler import GangPlacement


@dataclass(frozen=True)
class RendezvousPoint:
    """Where a node's agent accepts a rank 0's rendezvous: its address and the port it reserved (0: none)."""

    address: str
    port: int


@dataclass(frozen=True)
class RankAssignment:
    task_id: str
    rank: int
    world_size: int
    node_id: str
    gpu_indices: tuple[int, ...]
    master_addr: str
    master_port: int


def _usable(point: RendezvousPoint | None) -> bool:
    return point is not None and bool(point.address) and 0 < point.port < 65536


def rank_assignments(gang: GangPlacement, points: Mapping[str, RendezvousPoint]) -> list[RankAssignment]:
    """Each rank's assignment, in rank order. Rank 0 goes to the first of the gang's nodes that offers a
    rendezvous (the others keep their order); FailedPrecondition when none does."""
    hosts = [p for p in gang.ranks if _usable(points.get(p.node_id))]
    if not hosts:
        raise FailedPrecondition(f"none of the nodes of task {gang.task_id!r} offers a rendezvous address and port"
                                 " for its rank 0", reason="NO_RENDEZVOUS")  # fmt: skip
    master = hosts[0]
    point = points[master.node_id]
    ordered = [master, *(p for p in gang.ranks if p is not master)]
    return [
        RankAssignment(gang.task_id, rank, gang.world_size, p.node_id, p.gpu_indices, point.address, point.port)
        for rank, p in enumerate(ordered)
    ]
