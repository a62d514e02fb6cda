"""The controller's domain on the memory store with a manual clock: no I/O, no sleeps.

Tests build a `Parts` (what `controller.domain.farm.Farm` wires, minus the file
stores) and drive it directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from controller.domain.farm import TaskParts
from controller.domain.gang import RendezvousPoint
from controller.domain.registry import AgentSession, AssignMessage, ControlMessage, DownMessage
from controller.domain.scheduler import GpuSlot, NodeCapacity
from controller.domain.types import (
    Capabilities,
    Gpu,
    Node,
    Resources,
    Task,
    TaskAction,
    TaskAttemptReport,
    TaskState,
    TaskUpdate,
)
from controller.store.memory_store import MemoryStore
from taskspec.script import ScriptSpec
from taskspec.training import SyntheticData, TrainingConfig, TrainingSpec


class ManualClock:
    """Time that moves only when a test says so."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Parts(TaskParts):
    store: MemoryStore
    clock: ManualClock
    sessions: dict[str, AgentSession] = field(default_factory=dict)

    @classmethod
    async def open(cls, store: MemoryStore | None = None, clock: ManualClock | None = None, *, ttl: float = 10.0,  # type: ignore[override]
                   grace: float = 30.0, limits: dict[str, int] | None = None) -> Parts:  # fmt: skip
        """Everything wired as the controller wires it, on `store` (a fresh one by default); pass the same
        store to simulate a restart."""
        store = store if store is not None else MemoryStore()
        clock = clock or ManualClock()
        parts = await TaskParts.open(store, node_ttl_seconds=ttl, restart_grace_seconds=grace,
                                     concurrency_limits=limits, clock=clock)  # fmt: skip
        return cls(**vars(parts), store=store, clock=clock)

    async def join(self, node_id: str, *reports: TaskAttemptReport, gpus: int = 1, cpus: int = 8,
                   rendezvous_port: int = 0) -> AgentSession:  # fmt: skip
        """A streaming node; with `rendezvous_port`, one that hosts a gang's rank 0 at 10.0.0.<n>:port."""
        point = RendezvousPoint(f"10.0.0.{len(self.sessions) + 1}", rendezvous_port) if rendezvous_port else None
        session, _ = await self.nodes.join(node(node_id, gpus=gpus, cpus=cpus), list(reports), point)
        self.sessions[node_id] = session
        return session

    async def run_on(self, task_id: str, node_id: str) -> Task:
        """Place the task (a pass) and have its node report it running."""
        await self.dispatcher.dispatch_once()
        task = self.book.active[task_id]
        assert (task.state, task.node_id) == (TaskState.ASSIGNED, node_id), task
        assert await self.report(node_id, task_id, task.attempt, TaskState.RUNNING)
        return self.book.active[task_id]

    async def report(self, node_id: str, task_id: str, attempt: int, state: TaskState | None = None,
                     **fields: object) -> bool:  # fmt: skip
        """An agent's report on `attempt`, stamped with the manual clock; False when it was stale."""
        update = TaskUpdate(task_id, attempt, state=state, time=self.clock(), **fields)  # type: ignore[arg-type]
        return await self.reports.apply_update(node_id, update)

    async def restart(self, *, grace: float | None = None) -> Parts:
        """A new controller on the same store and clock: this one's writes end and its streams close."""
        await self.book.close()
        self.registry.close_all()
        return await Parts.open(self.store, self.clock, ttl=self.registry.ttl_seconds,
                                grace=self.registry.grace_seconds if grace is None else grace,
                                limits=self.book.concurrency_limits)  # fmt: skip


def script(task_id: str = "", source: str = "print(1)", **fields: object) -> Task:
    return Task(id=task_id, spec=ScriptSpec(source=source), **fields)  # type: ignore[arg-type]


def training(task_id: str = "", *, epochs: int = 1, **fields: object) -> Task:
    spec = TrainingSpec(TrainingConfig(architecture="mlp", epochs=epochs), synthetic=SyntheticData(samples=64))
    return Task(id=task_id, spec=spec, **fields)  # type: ignore[arg-type]


def node(node_id: str, *, gpus: int = 1, cpus: int = 8, memory_mb: int = 16_384) -> Node:
    caps = Capabilities(cpu_cores=cpus, memory_mb=memory_mb,
                        gpus=tuple(Gpu(i, f"GPU-{node_id}-{i}", "Test GPU", 16_000) for i in range(gpus)))  # fmt: skip
    return Node(id=node_id, hostname=node_id, capabilities=caps)


def capacity(node_id: str, *, cpu: float = 4, memory_mb: int = 8192, gpus: int = 0) -> NodeCapacity:
    """What a polling node offers (nothing used yet; placement accounts for its placed tasks)."""
    return NodeCapacity(node_id, cpu, memory_mb, tuple(GpuSlot(i, 16_000) for i in range(gpus)))


def drained(session: AgentSession) -> list[DownMessage]:
    """What was queued on a session's stream so far."""
    out = []
    while not session.outbox.empty():
        message = session.outbox.get_nowait()
        if message is not None:
            out.append(message)
    return out


def assignments(messages: list[DownMessage]) -> list[tuple[str, int]]:
    return [(m.task.id, m.task.attempt) for m in messages if isinstance(m, AssignMessage)]


def controls(messages: list[DownMessage]) -> list[tuple[str, int, TaskAction]]:
    return [(m.task_id, m.attempt, m.action) for m in messages if isinstance(m, ControlMessage)]


__all__ = ["ManualClock", "Parts", "Resources", "assignments", "capacity", "controls", "drained", "node", "script",
           "training"]
