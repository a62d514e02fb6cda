"""TaskBook: the tasks, as committed, and the one way to change them.

States: pending -> assigned -> running <-> paused -> completed | failed | cancelled.

Two views of the tasks that are not terminal:
- `active` is what the store holds: reads, and everything shown to users, come from it;
- `working` is `active` plus the changes accepted but not yet on disk: whoever changes
  tasks reads and updates it, under `lock`, inside `changing()`.

A change is computed under the lock from `working`, handed to the group committer
with `stage`, and the lock is released; the caller then awaits the commit. The
committer writes waiting changes in batches, in order, and only then moves them
into `active`, wakes watchers, runs hooks and sends the nodes their messages. So
nothing is visible, and no node hears of a change, before it is saved; a failed
write leaves no trace (the working view is rebuilt at the next `changing()` from
`active` plus the changes still on their way, which the committer kept or failed
to their callers); and a caller cancelled while it waits (a stream reader cancelled
by a reconnect) cannot interrupt the write.

The operations live by concern: `task_actions` (what users ask), `task_placement`
(the scheduler's passes and polling nodes' claims), `task_reports` (what agents
report, nodes coming and going).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import TypeVar

import structlog

from controller.domain.errors import NotFound
from controller.domain.events import ChangeFeed
from controller.domain.group_commit import GroupCommitter, Staged
from controller.domain.registry import DownMessage
from controller.domain.store import Changes, Store, StoreUnavailable, TaskPage, TaskQuery
from controller.domain.types import AttemptRecord, Clock, LogLine, MetricPoint, Task, TaskState

log = structlog.get_logger(__name__)

#: Sends a message down a node's stream; False when the node has no live stream.
Sender = Callable[[str, DownMessage], bool]
Sends = Sequence[tuple[str, DownMessage]]
T = TypeVar("T")


async def settled(done: asyncio.Future[None]) -> None:
    """Wait for a staged change to be on disk; a cancelled waiter leaves the write alone."""
    await asyncio.shield(done)


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
        #: Non-terminal tasks as committed.
        self.active: dict[str, Task] = {}
        #: Non-terminal tasks as accepted (committed or on their way): what changes are computed from.
        self.working: dict[str, Task] = {}
        #: Every task touched by a change not yet committed, as that change leaves it (None: deleted).
        #: It answers for tasks that just ended or went, which `working` no longer holds and the store
        #: does not show yet.
        self.in_flight: dict[str, Task | None] = {}
        #: Serialises the computing of changes (never held across a write).
        self.lock = asyncio.Lock()
        #: Set whenever something may make a placement possible.
        self.wakeup = asyncio.Event()
        #: Called with each task that completed, after the commit that completed it (controller.domain.completion).
        self.on_completed: list[Callable[[Task], None]] = []
        #: Called with the id of each deleted task, after its commit (its files are removed there).
        self.on_deleted: list[Callable[[str], None]] = []
        self._committer = GroupCommitter(store, self._publish, self._failed)
        self._broken = False
        self._node_traffic_at = float("-inf")

    async def load(self) -> None:
        self.active = {t.id: t for t in await self.store.active_tasks()}
        self.working = dict(self.active)

    async def close(self) -> None:
        await self._committer.close()

    # Changing -----------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def changing(self) -> AsyncIterator[None]:
        """Hold the lock to compute a change; after a failed write the working view is rebuilt first:
        what is committed, then each change still on its way, in order (those the failure touched were
        failed to their callers; the others will commit, so the scheduler must see them)."""
        async with self.lock:
            if self._broken:
                self.working = dict(self.active)
                self.in_flight.clear()
                for staged in self._committer.unsettled():
                    self._accept(staged.changes)
                self._broken = False
                log.warning("rebuilt the working view of tasks from the store after a failed write")
            yield

    def stage(self, changes: Changes, sends: Sends = ()) -> asyncio.Future[None]:
        """Accept a change (inside `changing()`): `working` has it at once; await the result with `settled`
        after leaving `changing()`. Raises StoreUnavailable while a failed write is not yet cleaned up."""
        if self._broken:
            raise StoreUnavailable("an earlier write failed; try again")
        if not changes and not sends:
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            done.set_result(None)  # nothing to write: an idle pass costs no transaction
            return done
        self._accept(changes)
        return self._committer.submit(changes, sends)

    def _accept(self, changes: Changes) -> None:
        """Apply a change to the working view, as accepted but not yet committed."""
        for task_id in changes.deleted:
            self.working.pop(task_id, None)
            self.in_flight[task_id] = None
        for task in changes.tasks():
            if task.state.terminal:
                self.working.pop(task.id, None)
            else:
                self.working[task.id] = task
            self.in_flight[task.id] = task

    async def latest(self, task_id: str) -> Task | None:
        """A task as the last accepted change leaves it (None: unknown or deleted). Inside `changing()`,
        for the changes that may meet a task outside `working` (restart, respecify, delete)."""
        if task_id in self.in_flight:
            return self.in_flight[task_id]
        if task_id in self.working:
            return self.working[task_id]
        return await self.store.get_task(task_id)

    async def commit(self, changes: Changes, sends: Sends = ()) -> None:
        """Stage and wait: for a change that reads nothing it changes (a create, log lines)."""
        async with self.changing():
            done = self.stage(changes, sends)
        await settled(done)

    async def flush(self) -> None:
        """Wait until every change accepted so far is committed (or refused)."""
        done = self._committer.submit(Changes(), ())
        try:
            await settled(done)
        except StoreUnavailable:
            pass

    def _publish(self, staged: Staged) -> None:
        changes = staged.changes
        completed = [t for t in changes.tasks() if t.state is TaskState.COMPLETED and t.id in self.active]
        for task_id in changes.deleted:
            self.active.pop(task_id, None)
            if task_id in self.in_flight and self.in_flight[task_id] is None:
                del self.in_flight[task_id]
        for task in changes.tasks():
            if task.state.terminal:
                self.active.pop(task.id, None)
            else:
                self.active[task.id] = task
            if self.in_flight.get(task.id) is task:
                del self.in_flight[task.id]
        for task_id in {*(t.id for t in changes.tasks()), *changes.deleted, *(i for i, _ in changes.logs)}:
            self.feed.publish(task_id)
        for node_id, message in staged.sends:
            if not self.send(node_id, message):
                log.info("node has no live stream; it learns of the change when it reconnects", node_id=node_id)
        for task in completed:
            for hook in self.on_completed:
                _run_hook(hook, task, task.id)
        for task_id in changes.deleted:
            for deleted in self.on_deleted:
                _run_hook(deleted, task_id, task_id)

    def _failed(self, exc: BaseException) -> None:
        log.error("a write of task changes failed; those changes and the ones behind them were refused",
                  error=str(exc))  # fmt: skip
        self._broken = True

    def wake(self) -> None:
        """Ask for a scheduling pass soon."""
        self.wakeup.set()

    def note_node_traffic(self) -> None:
        """A node reported, or work was placed: the API yields to the nodes for a moment (controller.api.admission)."""
        self._node_traffic_at = time.monotonic()

    def nodes_busy(self, window_seconds: float = 0.05) -> bool:
        return time.monotonic() - self._node_traffic_at < window_seconds

    # Reads ----------------------------------------------------------------------------

    async def get(self, task_id: str) -> Task:
        task = await self.store.get_task(task_id)
        if task is None:
            raise NotFound(f"task {task_id!r} not found", reason="TASK_NOT_FOUND")
        return task

    async def exists(self, task_id: str) -> bool:
        return task_id in self.working or bool(await self.store.task_states([task_id]))

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

    def placed_on(self, node_id: str, *, working: bool = False) -> list[Task]:
        """Attempts placed on the node, as committed (or in the working view)."""
        tasks = self.working if working else self.active
        return [t for t in tasks.values() if t.state.placed and t.runs_on(node_id)]

    def placed(self, task_id: str, node_id: str, attempt: int, *, working: bool = False) -> Task | None:
        """The task when `attempt` of it is placed on `node_id` (as committed, or in the working view), else None."""
        task = (self.working if working else self.active).get(task_id)
        if task is None or task.attempt != attempt or not task.state.placed or not task.runs_on(node_id):
            return None
        return task

    # Building blocks of changes ------------------------------------------------------------

    def ended(self, task: Task, state: TaskState, reason: str, **fields: object) -> Task:
        now = self.clock()
        return task.changed(state=state, state_reason=reason, end_time=now, update_time=now, stopping=False, **fields)

    def requeued(self, task: Task, reason: str) -> Task:
        return task.changed(state=TaskState.PENDING, state_reason=reason, node_id="", gpu_indices=(), ranks=(),
                            progress=0.0, stopping=False, update_time=self.clock())  # fmt: skip


def _run_hook(hook: Callable[[T], None], arg: T, task_id: str) -> None:
    """A failing hook is logged; the others still run."""
    try:
        hook(arg)
    except Exception:
        log.exception("a task hook failed", task_id=task_id, hook=getattr(hook, "__qualname__", repr(hook)))
