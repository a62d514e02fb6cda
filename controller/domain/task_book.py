"""TaskBook: the tasks, as committed, and the one way to change them.

States: pending -> assigned -> running <-> paused -> completed | failed | cancelled.

Every change follows one rule, in `commit`: the new values are written to the
store first and only then replace the old ones in memory (and wake watchers),
so nothing is visible that was not saved, and a failed write leaves no trace.
A commit runs to its end even when the caller is cancelled (a stream reader
cancelled by a reconnect), because stopping between the write and the publish
would leave memory and the store disagreeing. Changes are made under `lock`,
so read-modify-write never interleaves.

The operations live by concern: `task_actions` (what users ask), `task_placement`
(the scheduler's passes and polling nodes' claims), `task_reports` (what agents
report, nodes coming and going).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from typing import TypeVar

import structlog

from controller.domain.errors import NotFound
from controller.domain.events import ChangeFeed
from controller.domain.registry import DownMessage
from controller.domain.store import Changes, Store, TaskPage, TaskQuery
from controller.domain.types import AttemptRecord, Clock, LogLine, MetricPoint, Task, TaskState

log = structlog.get_logger(__name__)

#: Sends a message down a node's stream; False when the node has no live stream.
Sender = Callable[[str, DownMessage], bool]
T = TypeVar("T")


async def run_to_end(work: Awaitable[T]) -> T:
    """Await `work` to its end even if the caller is cancelled meanwhile; then re-raise the cancellation."""
    job = asyncio.ensure_future(work)
    cancelled = False
    while True:
        try:
            result = await asyncio.shield(job)
            break
        except asyncio.CancelledError:
            if job.done():
                if job.cancelled():
                    raise
                result = job.result()
                cancelled = True
                break
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    return result


class TaskBook:
    def __init__(
        self,
        store: Store,
        feed: ChangeFeed,
        send: Sender,
        *,
        concurrency_limits: Mapping[str, int] | None = None,
        clock: Clock = time.time,
    ) -> None:
        self.store = store
        self.feed = feed
        self.send = send
        self.clock = clock
        #: Concurrency group -> most tasks of it placed at once; groups not named are unlimited.
        self.concurrency_limits = dict(concurrency_limits or {})
        #: Non-terminal tasks as committed: the scheduler's working set.
        self.active: dict[str, Task] = {}
        #: Serialises every change.
        self.lock = asyncio.Lock()
        #: Set whenever something may make a placement possible.
        self.wakeup = asyncio.Event()
        #: Called with each task that completed, after the commit that completed it (controller.domain.completion).
        self.on_completed: list[Callable[[Task], None]] = []
        #: Called with the id of each deleted task, after its commit (its files are removed there).
        self.on_deleted: list[Callable[[str], None]] = []

    async def load(self) -> None:
        self.active = {t.id: t for t in await self.store.active_tasks()}

    # Changing -----------------------------------------------------------------------

    async def commit(self, changes: Changes) -> None:
        """Write `changes` atomically, then publish their tasks. The caller holds `lock`."""
        if changes:
            await run_to_end(self._commit_and_publish(changes))

    async def _commit_and_publish(self, changes: Changes) -> None:
        await self.store.commit(changes)
        completed = [t for t in changes.tasks() if t.state is TaskState.COMPLETED and t.id in self.active]
        for task in changes.tasks():
            if task.state.terminal:
                self.active.pop(task.id, None)
            else:
                self.active[task.id] = task
        for task_id in changes.deleted:
            self.active.pop(task_id, None)
        for task_id in {*(t.id for t in changes.tasks()), *changes.deleted, *(i for i, _ in changes.logs)}:
            self.feed.publish(task_id)
        for task in completed:
            for hook in self.on_completed:
                hook(task)

    def wake(self) -> None:
        """Ask for a scheduling pass soon."""
        self.wakeup.set()

    # Reads ----------------------------------------------------------------------------

    async def get(self, task_id: str) -> Task:
        task = await self.store.get_task(task_id)
        if task is None:
            raise NotFound(f"task {task_id!r} not found", reason="TASK_NOT_FOUND")
        return task

    async def exists(self, task_id: str) -> bool:
        return task_id in self.active or bool(await self.store.task_states([task_id]))

    async def list(self, query: TaskQuery) -> TaskPage:
        return await self.store.list_tasks(query)

    async def logs(self, task_id: str, *, after_seq: int = 0, limit: int = 1000, tail: int = 0) -> list[LogLine]:
        return await self.store.logs(task_id, after_seq=after_seq, limit=limit, tail=tail)

    async def last_line_no(self, task_id: str, attempt: int) -> int:
        return await self.store.last_line_no(task_id, attempt)

    async def metrics(self, task_id: str) -> list[MetricPoint]:
        return await self.store.metrics(task_id)

    async def attempts(self, task_id: str) -> list[AttemptRecord]:
        return await self.store.attempts(task_id)

    async def count_by_state(self) -> dict[TaskState, int]:
        return await self.store.count_tasks_by_state()

    async def healthy(self) -> bool:
        return await self.store.ping()

    def free_group_slots(self, group: str) -> int:
        """Slots of a concurrency group not taken by placed tasks or by pending ones ahead (large when unlimited)."""
        limit = self.concurrency_limits.get(group)
        if limit is None:
            return 1 << 30
        return limit - sum(1 for t in self.active.values() if t.concurrency_group == group)

    def queue(self, group: str) -> list[Task]:
        """Pending tasks of a concurrency group in the order the scheduler takes them."""
        pending = [t for t in self.active.values() if t.concurrency_group == group and t.state is TaskState.PENDING]
        return sorted(pending, key=lambda t: (-int(t.priority), t.create_time, t.id))

    def placed_on(self, node_id: str) -> list[Task]:
        return [t for t in self.active.values() if t.node_id == node_id and t.state.placed]

    def placed(self, task_id: str, node_id: str, attempt: int) -> Task | None:
        """The task when `attempt` of it is placed on `node_id` now, else None."""
        task = self.active.get(task_id)
        if task is None or task.node_id != node_id or task.attempt != attempt or not task.state.placed:
            return None
        return task

    # Building blocks of changes ------------------------------------------------------------

    def ended(self, task: Task, state: TaskState, reason: str, **fields: object) -> Task:
        now = self.clock()
        return replace(task, state=state, state_reason=reason, end_time=now, update_time=now, stopping=False, **fields)  # type: ignore[arg-type]

    def requeued(self, task: Task, reason: str) -> Task:
        return replace(task, state=TaskState.PENDING, state_reason=reason, node_id="", gpu_indices=(), progress=0.0,
                        stopping=False, update_time=self.clock())  # fmt: skip

    def sends(self, messages: Sequence[tuple[str, DownMessage]]) -> None:
        """Send after a commit: a node only hears of a change that was saved."""
        for node_id, message in messages:
            if not self.send(node_id, message):
                log.info("node has no live stream; it learns of the change when it reconnects", node_id=node_id)
