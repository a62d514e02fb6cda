"""The loops that move work: placing pending tasks, and noticing lost nodes."""

from __future__ import annotations

import asyncio
import contextlib
import time

import structlog

from controller.domain.registry import NodeRegistry
from controller.domain.tasks import TaskBook
from controller.store.db import Database
from controller.store.node_store import NodeStore

log = structlog.get_logger(__name__)


class Dispatcher:
    """Runs a scheduling pass whenever something changed, and at least every `tick`."""

    def __init__(self, tasks: TaskBook, registry: NodeRegistry, *, tick_seconds: float = 1.0) -> None:
        self.tasks = tasks
        self.registry = registry
        self.tick_seconds = tick_seconds

    async def dispatch_once(self) -> int:
        messages = await self.tasks.schedule(self.registry.schedulable())
        for message in messages:
            if not self.registry.send(message.task.node_id, message):
                log.warning("node went away before its assignment was sent", node_id=message.task.node_id,
                            task_id=message.task.id)  # fmt: skip
        return len(messages)

    async def run(self) -> None:
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.tasks.wakeup.wait(), self.tick_seconds)
            self.tasks.wakeup.clear()
            try:
                await self.dispatch_once()
            except Exception:
                log.exception("scheduling pass failed; retrying on the next tick")


class LivenessMonitor:
    """Declares nodes lost after their heartbeat TTL (or restart grace) and requeues their work."""

    def __init__(self, registry: NodeRegistry, tasks: TaskBook, db: Database, nodes: NodeStore) -> None:
        self.registry = registry
        self.tasks = tasks
        self.db = db
        self.nodes = nodes

    async def check_once(self) -> None:
        now = time.time()
        for node in self.registry.expire(now):
            silent = now - node.last_seen
            log.warning("node lost", node_id=node.id, silent_seconds=round(silent, 1))
            async with self.db.write() as conn:
                await self.nodes.set_state(conn, node.id, node.state, node.last_seen)
            await self.tasks.requeue_node(node.id, f"node {node.id} lost (no heartbeat for {silent:.0f} s)")

    async def run(self) -> None:
        interval = max(0.05, self.registry.ttl_seconds / 4)
        while True:
            await asyncio.sleep(interval)
            try:
                await self.check_once()
            except Exception:
                log.exception("liveness check failed; retrying")
