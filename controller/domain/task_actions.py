"""What users ask of tasks: create, cancel, stop, pause, resume, respecify, restart, delete.

Each validates at the door (nothing half-made is ever stored), changes a copy,
commits it through the TaskBook, and only then tells the node.
"""

from __future__ import annotations

import asyncio
import math
import re
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import TypeVar

import structlog

from controller.domain.errors import AlreadyExists, DomainError, FailedPrecondition, InvalidArgument, NotFound
from controller.domain.models import validate_model_name
from controller.domain.registry import to_every_node
from controller.domain.store import Changes, Conflict
from controller.domain.task_book import TaskBook, settled
from controller.domain.types import LogLine, Task, TaskAction, TaskResult, TaskSpec, TaskState, spec_kind
from taskspec.errors import SpecError

log = structlog.get_logger(__name__)

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
#: Resources of a task that asks for none: one core, so a node is not flooded.
DEFAULT_CPU_CORES = 1.0
MAX_LABELS_BYTES = 64 << 10
MAX_DISPLAY_NAME = 512
#: Ranks of a gang at most (one node each).
MAX_WORLD_SIZE = 256
#: What one node can offer at most (a task asking more could never run, and would not fit the compat shapes).
MAX_CPU_CORES = 100_000
MAX_GPUS = 1024
#: Most tasks a BatchCreateTasks takes (AIP-233 asks for a documented limit).
MAX_BATCH = 1000
T = TypeVar("T")
#: The attempt number of the controller's own notes in a task's log (agents' attempts start at 1).
NOTE_ATTEMPT = 0


def validate_id(value: str, what: str) -> str:
    if not ID_PATTERN.match(value):
        raise InvalidArgument(
            f"invalid {what} {value!r}: use 1-63 letters, digits, '-' or '_', starting with a letter or digit"
        )
    return value


def _where(index: int, batch: bool) -> str:
    return f"requests[{index}]: " if batch else ""


def _at(index: int, batch: bool, check: Callable[..., T], *args: object) -> T:
    """`check(*args)`; in a batch, its refusal names the request at fault."""
    try:
        return check(*args)
    except InvalidArgument as exc:
        if not batch:
            raise
        raise InvalidArgument(_where(index, batch) + str(exc), reason=exc.reason) from None


def _first_reason(task: Task) -> str:
    # A held task may say what it waits for (set by whoever holds it).
    return f"held: {task.state_reason or 'waiting for its spec to be set'}" if task.held else "waiting to be scheduled"


def _with(what: str, reason: str) -> str:
    return f"{what}: {reason.strip()}" if reason.strip() else what


def validate_spec(spec: TaskSpec) -> None:
    try:
        spec.validate()
    except SpecError as exc:
        raise InvalidArgument(str(exc), reason="INVALID_SPEC") from None


class TaskActions:
    def __init__(self, book: TaskBook) -> None:
        self.book = book
        #: Checks and completions of a kind that needs more of the farm than tasks (model operations
        #: need the model registry), applied to each new task after its own validation.
        self.preparers: list[Callable[[Task], Awaitable[Task]]] = []

    async def create(self, task: Task) -> Task:
        """Validate, check the id is free (in the store and among the changes on their way), commit."""
        return (await self._create([task], batch=False))[0]

    async def create_many(self, tasks: Sequence[Task]) -> list[Task]:
        """Create every task or none, in one commit: a refusal names the index of the first task at fault
        ("requests[3]: ..."). A task may depend on one earlier in the batch; a task whose request id was
        seen before is answered with the task it created then."""
        if not tasks:
            raise InvalidArgument("a batch needs at least one request")
        if len(tasks) > MAX_BATCH:
            raise InvalidArgument(f"a batch holds at most {MAX_BATCH} requests, not {len(tasks)}; split it")
        return await self._create(tasks, batch=True)

    async def _create(self, tasks: Sequence[Task], *, batch: bool) -> list[Task]:
        book = self.book
        validated = [_at(i, batch, self._validated, t) for i, t in enumerate(tasks)]
        for prepare in self.preparers:
            validated = [await self._prepared(i, batch, prepare, t) for i, t in enumerate(validated)]
        ids: dict[str, int] = {}
        request_ids: set[str] = set()
        for i, task in enumerate(validated):
            if task.id in ids:
                raise InvalidArgument(f"requests[{i}]: task id {task.id!r} is also that of requests[{ids[task.id]}]")
            if task.request_id in request_ids:
                raise InvalidArgument(f"requests[{i}]: request id {task.request_id!r} appears twice in the batch")
            ids[task.id] = i
            request_ids |= {task.request_id} if task.request_id else set()
        # Tasks created before with the same request id are answered as they are (a retry).
        earlier = {t.request_id: e for t in validated
                   if t.request_id and (e := await book.store.task_by_request_id(t.request_id))}  # fmt: skip
        new = [t for t in validated if t.request_id not in earlier]
        deps = await self._known_dependencies(new, batch)
        # Asked first, though the commit would refuse a taken id too: a refused commit rebuilds the working
        # view (group_commit), which a duplicate id should not cost.
        if taken := await book.store.task_states([t.id for t in new]):
            first = min(ids[i] for i in taken)
            raise AlreadyExists(_where(first, batch) + f"task {validated[first].id!r} already exists", reason="TASK_EXISTS")
        now = book.clock()
        new = [t.changed(depends_on=deps[t.id], state=TaskState.PENDING, state_reason=_first_reason(t),
                       create_time=now, update_time=now) for t in new]  # fmt: skip
        concurrent: set[str] = set()  # request ids a concurrent create is committing now: answered with its task
        async with book.changing():
            if in_book := [t for t in new if t.id in book.working]:
                raise AlreadyExists(_where(ids[in_book[0].id], batch) + f"task {in_book[0].id!r} already exists",
                                    reason="TASK_EXISTS")  # fmt: skip
            wanted = {t.request_id for t in new if t.request_id}
            if wanted:
                concurrent = {t.request_id for t in book.working.values() if t.request_id in wanted}
            staged = [t for t in new if t.request_id not in concurrent]
            done = book.stage(Changes(created=staged))
        try:
            await settled(done)
        except Conflict:
            if batch:
                raise AlreadyExists("a task id or request id of the batch was taken meanwhile; nothing was created",
                                    reason="TASK_EXISTS") from None  # fmt: skip
            if new[0].request_id:
                return [await self._by_request_id(new[0].request_id)]
            raise AlreadyExists(f"task {new[0].id!r} already exists", reason="TASK_EXISTS") from None
        for request_id in concurrent:
            earlier[request_id] = await self._by_request_id(request_id)
        made = {t.id: t for t in staged}
        for task in staged:  # debug: an info line per task was a tenth of a create's cost under load
            log.debug("task created", task_id=task.id, kind=task.kind, priority=task.priority.name)
        if staged:
            book.wake()
        return [earlier[t.request_id] if t.request_id in earlier else made[t.id] for t in validated]

    @staticmethod
    async def _prepared(index: int, batch: bool, prepare: Callable[[Task], Awaitable[Task]], task: Task) -> Task:
        try:
            return await prepare(task)
        except DomainError as exc:
            if not batch:
                raise
            raise type(exc)(_where(index, batch) + str(exc), reason=exc.reason) from None

    async def _by_request_id(self, request_id: str) -> Task:
        for _ in range(100):  # the other create's commit is at most a batch away
            if (existing := await self.book.store.task_by_request_id(request_id)) is not None:
                return existing
            await asyncio.sleep(0.01)
        raise AlreadyExists(f"a task with request id {request_id!r} is being created; try again", reason="TASK_EXISTS")

    def _validated(self, task: Task) -> Task:
        task = task.changed(id=validate_id(task.id, "task id") if task.id else uuid.uuid4().hex[:16])
        if not task.held:  # a held task gets its full spec later, through set_spec, which validates it
            validate_spec(task.spec)
        r = task.resources
        if min(r.gpus, r.gpu_memory_mb, r.cpu_cores, r.memory_mb) < 0:
            raise InvalidArgument("resources must not be negative")
        if not (math.isfinite(r.cpu_cores) and r.cpu_cores <= MAX_CPU_CORES and r.gpus <= MAX_GPUS):
            raise InvalidArgument(f"resources ask for {r.cpu_cores} CPU cores and {r.gpus} GPUs: at most "
                                  f"{MAX_CPU_CORES} cores and {MAX_GPUS} GPUs on one node")  # fmt: skip
        if r.cpu_cores == 0:
            task = task.changed(resources=replace(r, cpu_cores=DEFAULT_CPU_CORES))
        if task.time_limit_seconds < 0 or task.max_retries < 0:
            raise InvalidArgument("time_limit_seconds and max_retries must not be negative")
        if task.max_retries > 100:
            raise InvalidArgument("max_retries is at most 100")
        if task.output_model:
            validate_model_name(task.output_model)
        if not 1 <= task.world_size <= MAX_WORLD_SIZE:
            raise InvalidArgument(f"world_size must be 1 to {MAX_WORLD_SIZE}, not {task.world_size}")
        if task.world_size > 1 and r.node:
            raise InvalidArgument("a gang runs on world_size distinct nodes: it cannot be pinned to resources.node")
        if r.node:
            validate_id(r.node, "resources.node")
        if len(r.locks) > 16 or any(not lock or len(lock) > 256 for lock in r.locks):
            raise InvalidArgument("resources.locks holds at most 16 names of 1 to 256 characters")
        if task.world_size > 1 and task.kind != "training":
            raise InvalidArgument(f"world_size {task.world_size} needs a training task: a gang's ranks train one "
                                  f"model together with torch.distributed (this is a {task.kind} task)")  # fmt: skip
        if task.concurrency_group and not ID_PATTERN.match(task.concurrency_group):
            raise InvalidArgument(f"invalid concurrency_group {task.concurrency_group!r}")
        if len(task.display_name) > MAX_DISPLAY_NAME:
            raise InvalidArgument(f"display_name is at most {MAX_DISPLAY_NAME} characters")
        size = sum(len(k) + len(v) for k, v in (*task.labels.items(), *task.compat_metadata.items()))
        if size > MAX_LABELS_BYTES:
            raise InvalidArgument(f"labels total {size} characters; at most {MAX_LABELS_BYTES}")
        if len(task.depends_on) > 1000:
            raise InvalidArgument("a task depends on at most 1000 others")
        return task

    async def _known_dependencies(self, tasks: Sequence[Task], batch: bool) -> dict[str, tuple[str, ...]]:
        """Each task's dependencies, checked: known tasks, or tasks earlier in the batch (so never a cycle)."""
        deps = {t.id: tuple(_at(i, batch, validate_id, d, "dependency") for d in dict.fromkeys(t.depends_on))
                for i, t in enumerate(tasks)}  # fmt: skip
        outside = {d for ds in deps.values() for d in ds} - set(deps) - set(self.book.working)
        known = set(await self.book.store.task_states(list(outside))) if outside else set()
        before: set[str] = set()
        for i, task in enumerate(tasks):
            if task.id in deps[task.id]:
                raise InvalidArgument(_where(i, batch) + "a task cannot depend on itself")
            if missing := [d for d in deps[task.id] if d not in known and d not in self.book.working and d not in before]:
                raise InvalidArgument(_where(i, batch) + f"depends_on names unknown tasks: {', '.join(missing)}",
                                      reason="UNKNOWN_DEPENDENCY")  # fmt: skip
            before.add(task.id)
        return deps

    # Each action takes the user's `reason`, kept in the task's history: a note in its log
    # (see `_note`) and, where the action sets one, in its state reason.

    async def cancel(self, task_id: str, reason: str = "") -> Task:
        return await self._end_by_user(task_id, _with("cancelled by user", reason))

    async def stop(self, task_id: str, reason: str = "") -> Task:
        """Graceful: a running task is asked to stop and reports cancelled itself; anything else is cancelled."""
        book = self.book
        async with book.changing():
            task = await self._working_or_raise(task_id, "stop")
            if task.state in (TaskState.RUNNING, TaskState.PAUSED):
                why = _with("stopping: asked to stop by user", reason)
                stopping = replace(task, stopping=True, state_reason=why, update_time=book.clock())
                done = book.stage(Changes(updated=[stopping], logs=self._note(task_id, why)),
                                  to_every_node(task, TaskAction.STOP))  # fmt: skip
            else:
                done = None
        if done is None:
            return await self._end_by_user(task_id, _with("stopped by user", reason))
        await settled(done)
        return stopping

    async def _end_by_user(self, task_id: str, reason: str) -> Task:
        book = self.book
        async with book.changing():
            task = await self._working_or_raise(task_id, "cancel")
            ended = book.ended(task, TaskState.CANCELLED, reason)
            sends = to_every_node(task, TaskAction.CANCEL) if task.state.placed else []
            done = book.stage(Changes(updated=[ended], logs=self._note(task_id, reason)), sends)
        await settled(done)
        log.info("task cancelled", task_id=task_id, reason=reason)
        book.wake()
        return ended

    async def pause(self, task_id: str, reason: str = "") -> Task:
        return await self._control(task_id, TaskAction.PAUSE, TaskState.RUNNING, reason)

    async def resume(self, task_id: str, reason: str = "") -> Task:
        return await self._control(task_id, TaskAction.RESUME, TaskState.PAUSED, reason)

    async def _control(self, task_id: str, action: TaskAction, required: TaskState, reason: str = "") -> Task:
        """Pause and resume change no state here: the agent reports the state once the work has changed."""
        book = self.book
        async with book.changing():
            task = await self._working_or_raise(task_id, action.value)
            if task.state is not required:
                raise FailedPrecondition(
                    f"cannot {action.value} task {task_id!r}: it is {task.state.value}, not {required.value}",
                    reason="TASK_STATE",
                )
            for node_id, message in to_every_node(task, action):
                if not book.send(node_id, message):
                    raise FailedPrecondition(f"node {node_id!r} of task {task_id!r} is not connected; try again")
            done = book.stage(Changes(logs=self._note(task_id, _with(f"{action.value} asked by user", reason))))
        await settled(done)
        return task

    def _note(self, task_id: str, text: str) -> list[tuple[str, list[LogLine]]]:
        """A line of the controller's in the task's log. Notes are numbered by their time in
        microseconds: unique without reading the last number (agents' lines are per attempt)."""
        now = self.book.clock()
        return [(task_id, [LogLine(NOTE_ATTEMPT, int(now * 1_000_000), "system", text, now)])]

    async def set_spec(self, task_id: str, spec: TaskSpec, *, time_limit_seconds: int | None = None) -> Task:
        """Replace what a task runs and release its hold; not while an attempt of it is placed.

        A pending task is scheduled with the new spec; an ended one keeps its state until restarted.
        """
        validate_spec(spec)
        book = self.book
        async with book.changing():
            task = await book.latest(task_id)
            if task is None:
                raise NotFound(f"task {task_id!r} not found", reason="TASK_NOT_FOUND")
            if task.state.placed:
                raise FailedPrecondition(f"task {task_id!r} is {task.state.value}; its spec cannot change now",
                                         reason="TASK_STATE")  # fmt: skip
            if task.kind != spec_kind(spec):
                raise FailedPrecondition(f"task {task_id!r} is a {task.kind} task; its kind cannot change",
                                         reason="TASK_KIND")  # fmt: skip
            limit = task.time_limit_seconds if time_limit_seconds is None else time_limit_seconds
            reason = "waiting to be scheduled" if task.state is TaskState.PENDING else task.state_reason
            changed = replace(task, spec=spec, held=False, update_time=book.clock(), time_limit_seconds=limit,
                              state_reason=reason, artifacts=())  # fmt: skip
            done = book.stage(Changes(respecified=[changed]))
        await settled(done)
        book.wake()
        return changed

    async def restart(self, task_id: str) -> Task:
        """Run an ended task again; its next placement is a new attempt (the old ones stay in its history)."""
        book = self.book
        async with book.changing():
            task = await book.latest(task_id)
            if task is None:
                raise NotFound(f"task {task_id!r} not found", reason="TASK_NOT_FOUND")
            if not task.state.terminal:
                raise FailedPrecondition(f"task {task_id!r} is {task.state.value}; only an ended task can be restarted",
                                         reason="TASK_STATE")  # fmt: skip
            restarted = replace(
                task, state=TaskState.PENDING, state_reason="restarted; waiting to be scheduled", node_id="",
                gpu_indices=(), ranks=(), progress=0.0, failures=0, result=TaskResult(), metrics={}, start_time=0.0,
                end_time=0.0, update_time=book.clock(), artifacts=(),
            )  # fmt: skip
            done = book.stage(Changes(updated=[restarted]))
        await settled(done)
        log.info("task restarted", task_id=task_id, attempts_so_far=task.attempt)
        book.wake()
        return restarted

    async def delete(self, task_id: str) -> None:
        """Remove a task and what it recorded; a placed attempt is cancelled on its node."""
        book = self.book
        async with book.changing():
            task = await book.latest(task_id)
            if task is None:
                raise NotFound(f"task {task_id!r} not found", reason="TASK_NOT_FOUND")
            sends = to_every_node(task, TaskAction.CANCEL) if task.state.placed else []
            done = book.stage(Changes(deleted=[task_id]), sends)
        await settled(done)
        log.info("task deleted", task_id=task_id)
        book.wake()

    async def _working_or_raise(self, task_id: str, verb: str) -> Task:
        task = self.book.working.get(task_id)
        if task is not None:
            return task
        if not await self.book.exists(task_id):
            raise NotFound(f"task {task_id!r} not found", reason="TASK_NOT_FOUND")
        raise FailedPrecondition(f"cannot {verb} task {task_id!r}: it has already ended", reason="TASK_ENDED")
