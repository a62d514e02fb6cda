"""Group commit: changes accepted one by one are written in batches, in order, each batch one transaction.

Holding the task lock across a write made every report of every node wait in
line for the disk (and, under load, for the event loop between each statement).
Now a change is computed under the lock and handed here; the lock is released;
the committer writes everything waiting in one transaction, then publishes each
change and sends its messages, in the order they were accepted, and only then
tells each caller it is done. Nothing is visible, and no node hears of a change,
before it is on disk.

A batch that fails fails every change in it and every change queued behind it
(they were computed on top of it); the owner then rebuilds its working state
from what was committed. A taken key (a task id created twice) fails only the
change that took it, and the later changes, of that batch or queued behind it,
that touch its tasks (they were computed from the refused one: a placement of the
refused task would otherwise land on the committed task of that id). The rest
commit; the owner rebuilds its working state from what was committed plus
`unsettled()`, the changes still on their way, so none of them drops out of it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import structlog

from controller.domain.registry import DownMessage
from controller.domain.store import Changes, Conflict, Store, StoreUnavailable

log = structlog.get_logger(__name__)


@dataclass
class Staged:
    """A change accepted by its owner, waiting for the disk."""

    changes: Changes
    sends: Sequence[tuple[str, DownMessage]]
    done: asyncio.Future[None] = field(repr=False)

    def task_ids(self) -> set[str]:
        return {t.id for t in self.changes.tasks()} | set(self.changes.deleted)


class GroupCommitter:
    def __init__(
        self, store: Store, publish: Callable[[Staged], None], on_failure: Callable[[BaseException], None]
    ) -> None:
        self.store = store
        self._publish = publish
        self._on_failure = on_failure
        self._queue: list[Staged] = []
        #: The batch being written now (taken from the queue, not yet settled).
        self._writing: list[Staged] = []
        self._ready = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None

    def submit(self, changes: Changes, sends: Sequence[tuple[str, DownMessage]]) -> asyncio.Future[None]:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append(Staged(changes, sends, done))
        self._ready.set()
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run(), name="group-commit")
        return done

    async def close(self) -> None:
        if self._runner is not None:
            self._runner.cancel()
            try:
                await self._runner
            except asyncio.CancelledError:
                pass
        self._fail(self._take(), StoreUnavailable("the controller is shutting down"))

    def _take(self) -> list[Staged]:
        batch, self._queue = self._queue, []
        self._ready.clear()
        return batch

    async def _run(self) -> None:
        while True:
            await self._ready.wait()
            batch = self._writing = self._take()
            try:
                if batch:
                    await self._write(batch)
            finally:
                self._writing = []

    def unsettled(self) -> list[Staged]:
        """The changes accepted and not yet committed or refused, in the order they were accepted."""
        return [s for s in (*self._writing, *self._queue) if not s.done.done()]

    async def _write(self, batch: list[Staged]) -> None:
        segments = [c for c in merged(batch) if c]
        try:
            if segments:
                await self.store.commit_all(segments)
        except Conflict:
            await self._write_one_by_one(batch)
            return
        except BaseException as exc:  # the disk, or a cancellation at shutdown: nothing of it was written
            self._fail(batch + self._take(), _unavailable(exc))
            self._on_failure(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for staged in batch:
            self._settle(staged)

    async def _write_one_by_one(self, batch: list[Staged]) -> None:
        """Find the change that took a key: it fails alone, with the later ones that touch its tasks."""
        failed_tasks: set[str] = set()
        first_error: BaseException | None = None
        for staged in batch:
            try:
                if staged.task_ids() & failed_tasks:
                    raise StoreUnavailable(_ON_TOP_OF_REFUSED)
                await self.store.commit_all([staged.changes])
            except Exception as exc:
                failed_tasks |= staged.task_ids()
                first_error = first_error or exc
                self._fail([staged], exc if isinstance(exc, Conflict) else _unavailable(exc))
                if not isinstance(exc, Conflict):
                    self._fail(batch[batch.index(staged) + 1 :] + self._take(), _unavailable(exc))
                    break
                continue
            self._settle(staged)
        if first_error is not None:
            if failed_tasks:
                self._fail_queued_on_top_of(failed_tasks)
            self._on_failure(first_error)

    def _fail_queued_on_top_of(self, failed_tasks: set[str]) -> None:
        """Fail the queued changes that touch a task of a refused change (or of one failed for it).

        Run before the owner hears of the failure, with no await in between: everything
        queued by then may have been computed from the refused change; nothing after it is."""
        kept: list[Staged] = []
        for staged in self._queue:
            if staged.task_ids() & failed_tasks:
                failed_tasks |= staged.task_ids()
                self._fail([staged], StoreUnavailable(_ON_TOP_OF_REFUSED))
            else:
                kept.append(staged)
        self._queue = kept

    def _settle(self, staged: Staged) -> None:
        try:
            self._publish(staged)
        except Exception:  # a bug in a hook must not leave the caller waiting
            log.exception("publishing a committed change failed")
        if not staged.done.done():
            staged.done.set_result(None)

    @staticmethod
    def _fail(batch: list[Staged], exc: BaseException) -> None:
        for staged in batch:
            if not staged.done.done():
                staged.done.set_exception(exc)
                staged.done.exception()  # a caller that gave up waiting must not make asyncio complain


_ON_TOP_OF_REFUSED = "it changed a task whose change just before it was refused (a taken id); try again"


def _unavailable(exc: BaseException) -> StoreUnavailable:
    if isinstance(exc, StoreUnavailable):
        return exc
    return StoreUnavailable(f"the write failed: {exc}")


def merged(batch: Sequence[Staged]) -> list[Changes]:
    """Consecutive changes folded into as few as possible, keeping their order where it matters.

    The store applies one Changes' lists in a fixed order (deletes, creates, updates,
    respecifications, ...), so two changes fold only when that order cannot reorder them:
    several updates of one task do; an update then a respecification, a delete then
    anything, or two changes of one node, dataset or model do not.
    """
    out: list[Changes] = []
    seen_tasks: set[str] = set()
    strong: set[str] = set()
    others: set[tuple[str, str]] = set()
    for staged in batch:
        c = staged.changes
        touched = {t.id for t in c.tasks()} | set(c.deleted)
        mine_strong = {t.id for t in c.created} | {t.id for t in c.respecified} | set(c.deleted)
        mine_others = _other_keys(c)
        if not out or mine_strong & seen_tasks or strong & touched or mine_others & others:
            out.append(Changes())
            seen_tasks, others = set(), set()
            strong = set()
        _fold(out[-1], c)
        seen_tasks |= touched
        # A task created in this segment may still be updated in it (creates are applied first).
        strong |= {t.id for t in c.respecified} | set(c.deleted)
        others |= mine_others
    return out


def _other_keys(c: Changes) -> set[tuple[str, str]]:
    return (
        {("node", n.id) for n in c.nodes}
        | {("node", s.node_id) for s in c.node_states}
        | {("dataset", d.id) for d in c.new_datasets}
        | {("dataset", i) for i in c.deleted_datasets}
        | {("model", m.name) for m in c.new_models}
        | {("model", n) for n in c.deleted_models}
        | {("node", c.node_id) for c in c.credentials}
    )


def _fold(into: Changes, c: Changes) -> None:
    for name in Changes.__dataclass_fields__:
        getattr(into, name).extend(getattr(c, name))
