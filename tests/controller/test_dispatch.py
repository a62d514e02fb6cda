"""The loops' single passes (Dispatcher, LivenessMonitor) with NodeBook joins, on a real SQLite file."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import AsyncIterator

import pytest_asyncio

from controller.domain.dispatch import Dispatcher, LivenessMonitor
from controller.domain.events import ChangeFeed
from controller.domain.nodes import NodeBook
from controller.domain.registry import AgentSession, AssignMessage, NodeRegistry
from controller.domain.tasks import TaskBook
from controller.domain.types import (
    Capabilities,
    Gpu,
    Node,
    NodeState,
    Resources,
    Task,
    TaskAttemptReport,
    TaskSpec,
    TaskState,
    TaskUpdate,
)
from controller.store.db import Database
from controller.store.node_store import NodeStore
from controller.store.task_store import TaskStore

# Builders -------------------------------------------------------------------


class Controller:
    """The domain as the server wires it, minus gRPC; `restart` reopens everything from the file."""

    def __init__(self, path: Path, *, ttl: float = 10.0, grace: float = 30.0) -> None:
        self.path, self.ttl, self.grace = path, ttl, grace

    async def start(self) -> Controller:
        self.db = await Database.open(self.path)
        self.node_store = NodeStore(self.db)
        self.registry = NodeRegistry(ttl_seconds=self.ttl, grace_seconds=self.grace)
        self.registry.load(await self.node_store.all(), time.time())
        self.tasks = TaskBook(self.db, TaskStore(self.db), ChangeFeed(), self.registry.send)
        await self.tasks.load()
        self.nodes = NodeBook(self.db, self.node_store, self.registry, self.tasks)
        self.dispatcher = Dispatcher(self.tasks, self.registry)
        self.liveness = LivenessMonitor(self.registry, self.tasks, self.db, self.node_store)
        return self

    async def restart(self, *, grace: float) -> Controller:
        self.registry.close_all()
        await self.db.close()
        self.grace = grace
        return await self.start()

    async def join(self, node_id: str, *reports: TaskAttemptReport, gpus: int = 1) -> AgentSession:
        caps = Capabilities(cpu_cores=4, memory_mb=8192, gpus=tuple(Gpu(i, f"u{i}", "T4", 16_000) for i in range(gpus)))
        session, _ = await self.nodes.join(Node(node_id, hostname=node_id, capabilities=caps), reports)
        return session


def script(task_id: str, **fields) -> Task:
    return Task(id=task_id, spec=TaskSpec("script", "{}"), **fields)


def assignments(session: AgentSession) -> list[tuple[str, int]]:
    out = []
    while not session.outbox.empty():
        message = session.outbox.get_nowait()
        if isinstance(message, AssignMessage):
            out.append((message.task.id, message.task.attempt))
    return out


@pytest_asyncio.fixture(loop_scope="function")
async def controller(tmp_path: Path) -> AsyncIterator[Controller]:
    c = await Controller(tmp_path / "controller.db").start()
    yield c
    await c.db.close()


# Tests ------------------------------------------------------------------------


async def test_a_joined_node_is_stored_and_receives_assignments(controller: Controller) -> None:
    session = await controller.join("n1")
    assert [(n.id, n.state) for n in await controller.node_store.all()] == [("n1", NodeState.ONLINE)]
    await controller.tasks.create(script("t", resources=Resources(gpus=1, memory_mb=512)))
    assert await controller.dispatcher.dispatch_once() == 1
    assert assignments(session) == [("t", 1)]
    view = controller.nodes.view("n1")
    assert view.task_ids == ["t"] and view.allocated == Resources(gpus=1, cpu_cores=1.0, memory_mb=512)
    assert await controller.dispatcher.dispatch_once() == 0, "nothing is assigned twice"


async def test_a_silent_node_is_marked_offline_and_its_work_requeued(controller: Controller) -> None:
    await controller.join("n1")
    await controller.tasks.create(script("t"))
    await controller.dispatcher.dispatch_once()
    controller.registry.nodes["n1"].last_seen = time.time() - controller.ttl - 1

    await controller.liveness.check_once()
    assert [(n.id, n.state) for n in await controller.node_store.all()] == [("n1", NodeState.OFFLINE)]
    task = await controller.tasks.get("t")
    assert (task.state, task.node_id, task.attempt) == (TaskState.PENDING, "", 1)
    assert task.state_reason.startswith("node n1 lost (no heartbeat for ")

    session = await controller.join("n2")
    await controller.dispatcher.dispatch_once()
    assert assignments(session) == [("t", 2)]


async def test_after_a_restart_a_returning_node_keeps_its_work_and_a_missing_one_loses_it(
    controller: Controller,
) -> None:
    await controller.join("back", gpus=1)
    await controller.join("gone", gpus=1)
    for task_id in ("a", "b"):
        await controller.tasks.create(script(task_id, resources=Resources(gpus=1)))
    await controller.dispatcher.dispatch_once()
    on = {t.node_id: t for t in controller.tasks.active.values()}
    for node_id, task in on.items():
        await controller.tasks.apply_update(node_id, TaskUpdate(task.id, 1, state=TaskState.RUNNING))

    await controller.restart(grace=0.3)
    assert {n.state for n in controller.registry.nodes.values()} == {NodeState.RECONNECTING}
    await controller.liveness.check_once()
    assert {t.state for t in controller.tasks.active.values()} == {TaskState.RUNNING}, "nothing lost in the grace"

    kept = on["back"].id
    await controller.join("back", TaskAttemptReport(kept, 1, TaskState.RUNNING))
    await asyncio.sleep(0.3)  # the grace runs out
    await controller.liveness.check_once()

    assert (await controller.tasks.get(kept)).state is TaskState.RUNNING
    lost = await controller.tasks.get(on["gone"].id)
    assert (lost.state, lost.node_id) == (TaskState.PENDING, "")
    assert controller.registry.nodes["gone"].state is NodeState.OFFLINE
