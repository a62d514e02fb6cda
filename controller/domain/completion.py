"""Output models: the checkpoint of each completed task that names one is saved in the model registry.

This runs off the agents' streams (a copy of a large checkpoint must not hold up
a node's reports), from a queue fed by the TaskBook after each completion's
commit. A failure (the name already taken, a missing checkpoint, a full disk) is
reported on the task, in its state reason and its log, never swallowed. After a
restart, completed tasks whose model is missing are saved again.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import structlog

from controller.domain.errors import DomainError
from controller.domain.models import ModelRegistry
from controller.domain.store import Changes
from controller.domain.task_book import TaskBook, settled
from controller.domain.types import LogLine, Task, TaskState

log = structlog.get_logger(__name__)


class OutputModels:
    def __init__(self, book: TaskBook, models: ModelRegistry) -> None:
        self.book = book
        self.models = models
        self._queue: asyncio.Queue[Task] = asyncio.Queue()
        book.on_completed.append(self.submit)

    def submit(self, task: Task) -> None:
        if task.output_model:
            self._queue.put_nowait(task)

    async def resume(self) -> None:
        """Queue the completed tasks whose output model was never saved (the controller stopped first)."""
        for task in await self.book.store.completed_with_output_model():
            if await self.book.store.get_model(task.output_model) is None and self.models.has_checkpoint(task.id):
                self.submit(task)

    async def run(self) -> None:
        while True:
            task = await self._queue.get()
            try:
                await self.save(task)
            except Exception as exc:  # reported on the task; the loop goes on with the next
                log.exception("saving an output model failed", task_id=task.id, model=task.output_model)
                await self._report(task, str(exc))

    async def save(self, task: Task) -> None:
        try:
            await self.models.save_task_output(task)
        except DomainError as exc:
            await self._report(task, str(exc))

    async def _report(self, task: Task, error: str) -> None:
        message = f"completed, but its output model {task.output_model!r} was not saved: {error}"
        log.warning("output model not saved", task_id=task.id, model=task.output_model, error=error)
        book = self.book
        current = await book.store.get_task(task.id)
        line_no = await book.store.last_line_no(task.id, task.attempt) + 1
        async with book.changing():
            if current is None or current.state is not TaskState.COMPLETED or current.attempt != task.attempt:
                return  # deleted meanwhile
            if task.id in book.working:
                return  # restarted meanwhile
            line = LogLine(task.attempt, line_no, "system", message, book.clock())
            noted = replace(current, state_reason=message, update_time=book.clock(), artifacts=())
            done = book.stage(Changes(updated=[noted], logs=[(task.id, [line])]))
        await settled(done)
