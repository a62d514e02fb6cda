"""The data pool (gswarm's data chunks): bytes kept on the farm's nodes, apart from its models.

A chunk's bytes live in its nodes' data stores (disk, dram or gpuN of each); this module keeps what
the farm knows of each chunk (type, format, size, sha256, metadata, access count) and where its
bytes are. Every change of the bytes is a model operation on the DATA pool pinned to its node, so
the scheduler's locks, retries and the agents' transfers (with their sha256 check on arrival) are
the ones models use: a create stages the given bytes with the controller and the node fetches them
(or fetches them itself from a URL), a move stays on the node, a transfer goes node to node. The
locations change when an operation completes, and each node's hello says what it really holds.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import structlog

from controller.domain.errors import DeadlineExceeded, FailedPrecondition, InvalidArgument, NotFound, Unavailable
from controller.domain.events import ChangeFeed
from controller.domain.model_operations import CompletedOperations
from controller.domain.registry import NodeRegistry
from controller.domain.task_actions import TaskActions
from controller.domain.task_book import TaskBook
from controller.domain.types import Clock, Priority, Resources, Task, TaskState
from controller.store.blob_store import BlobStore
from taskspec.errors import SpecError
from taskspec.model_operation import ModelOperationSpec, Operation, Pool, check_device, check_url

log = structlog.get_logger(__name__)

#: How long a create waits for its bytes to arrive before it answers DEADLINE_EXCEEDED (they still may).
CREATE_TIMEOUT_SECONDS = 120.0
DEFAULT_DEVICE = "dram"
URL_PREFIX = re.compile(r"^(https?|file)://", re.IGNORECASE)
#: The size of a chunk whose bytes came from a URL is known once they arrived (the task's "bytes" metric).
UNKNOWN_SIZE = -1


@dataclass(frozen=True)
class DataChunk:
    id: str
    chunk_type: str
    format: str
    #: Bytes; UNKNOWN_SIZE until the bytes of a URL arrived.
    size: int
    #: Hex; "" until the bytes of a URL arrived.
    sha256: str
    #: What the creator gave, kept as given.
    metadata: Mapping[str, Any]
    #: "node:device" where the bytes are.
    locations: tuple[str, ...]
    created_by: str
    created_at: float
    last_accessed: float = 0.0
    access_count: int = 0


@dataclass(frozen=True)
class ChunkView:
    """A chunk with what the queue says of it now."""

    chunk: DataChunk
    #: "node:device" an operation queued or running puts its bytes on.
    pending: tuple[str, ...] = ()
    #: The pending and running tasks that name it.
    references: tuple[str, ...] = ()


@dataclass(frozen=True)
class ChunkSource:
    """Where a new chunk's bytes come from: given (`data`), or a URL the node fetches."""

    data: bytes | None = None
    url: str = ""

    @classmethod
    def parse(cls, data: str, source: str) -> ChunkSource:
        """gswarm's `data` (base64, or a URL) or `source` (a URL, or an absolute path on the node)."""
        given = (data or source).strip()
        if not given:
            raise InvalidArgument("give the chunk's bytes as base64 `data`, or a URL or absolute path as `source`",
                                  reason="INVALID_REQUEST")  # fmt: skip
        if URL_PREFIX.match(given):
            return cls(url=_checked_url(given))
        if source and given.startswith("/"):
            return cls(url=_checked_url(Path(given).as_uri()))
        if source:
            raise InvalidArgument(f"source {given[:80]!r} is neither a URL nor an absolute path", reason="INVALID_REQUEST")
        try:
            return cls(data=base64.b64decode(given.replace("-", "+").replace("_", "/"), validate=True))
        except (binascii.Error, ValueError):
            raise InvalidArgument("data is not base64 (standard or URL-safe alphabet) nor an http(s):// or file:// URL",
                                  reason="INVALID_REQUEST") from None  # fmt: skip


class ChunkStore(Protocol):
    async def put(self, chunk: DataChunk) -> None:
        """Write the chunk whole (a new one, or a change)."""

    async def delete(self, chunk_id: str) -> None: ...

    async def all(self) -> list[DataChunk]:
        """Every chunk, oldest first."""


class DataPool:
    """gswarm's data pool: the chunks the farm knows, whose bytes its nodes' data stores hold."""

    def __init__(self, store: ChunkStore, book: TaskBook, actions: TaskActions, registry: NodeRegistry,
                 staging: BlobStore, *, clock: Clock = time.time,
                 create_timeout: float = CREATE_TIMEOUT_SECONDS) -> None:  # fmt: skip
        self.store = store
        self.book = book
        self.actions = actions
        self.registry = registry
        #: The bytes of creates, kept until their node has them (the node fetches them as "data/ID").
        self.staging = staging
        self.clock = clock
        self.create_timeout = create_timeout
        self._chunks: dict[str, DataChunk] = {}
        self.completed = CompletedOperations(book, Pool.DATA, self.record)

    async def load(self) -> None:
        self._chunks = {c.id: c for c in await self.store.all()}

    # Reading ------------------------------------------------------------------------------------------

    def list(self, *, device: str = "", chunk_type: str = "") -> list[ChunkView]:
        """Oldest first; `device` matches a location whole ("node1:dram"), its node or its device."""
        chunks = [c for c in self._chunks.values() if (not chunk_type or c.chunk_type == chunk_type)
                  and (not device or any(device in (loc, *loc.split(":", 1)) for loc in c.locations))]  # fmt: skip
        return [self._view(c) for c in sorted(chunks, key=lambda c: (c.created_at, c.id))]

    async def get(self, chunk_id: str) -> ChunkView:
        """The chunk, counted as an access."""
        chunk = self._chunk(chunk_id)
        chunk = replace(chunk, access_count=chunk.access_count + 1, last_accessed=self.clock())
        await self._put(chunk)
        return self._view(chunk)

    def _chunk(self, chunk_id: str) -> DataChunk:
        chunk = self._chunks.get(chunk_id)
        if chunk is None:
            raise NotFound(f"data chunk {chunk_id!r} not found (GET /api/v1/data lists them)", reason="NOT_FOUND")
        return chunk

    def _view(self, chunk: DataChunk) -> ChunkView:
        working = self._operations(chunk.id)
        pending = tuple(dict.fromkeys(f"{t.resources.node}:{t.spec.target_device}" for t in working  # type: ignore[union-attr]
                                      if t.spec.operation is not Operation.DELETE))  # type: ignore[union-attr]  # fmt: skip
        return ChunkView(chunk, tuple(p for p in pending if p not in chunk.locations), tuple(t.id for t in working))

    def _operations(self, chunk_id: str) -> list[Task]:
        """The tasks not ended that change the chunk's bytes, oldest first."""
        return sorted((t for t in self.book.working.values() if not t.state.terminal and _names(t, chunk_id)),
                      key=lambda t: (t.create_time, t.id))  # fmt: skip

    async def read_staged(self, chunk_id: str) -> tuple[str, AsyncIterator[bytes]]:
        """The bytes a create staged (sha256, chunks): what its node fetches."""
        chunk = self._chunks.get(chunk_id)
        if chunk is None or not self.staging.exists(chunk_id):
            raise NotFound(f"data chunk {chunk_id!r} has no staged bytes", reason="NOT_FOUND")
        return chunk.sha256, self.staging.read(chunk_id)

    # Changing ------------------------------------------------------------------------------------------

    async def create(self, source: ChunkSource, *, device: str = "", chunk_type: str = "", format: str = "",
                     metadata: Mapping[str, Any] | None = None, created_by: str = "") -> tuple[ChunkView, Task]:  # fmt: skip
        """Put the bytes on a node (`device`: "dram", or "node:device") and answer once they are there."""
        node, target = self._placement(device or DEFAULT_DEVICE)
        chunk_id = f"chunk-{uuid.uuid4().hex[:12]}"
        size, sha256 = UNKNOWN_SIZE, ""
        if source.data is not None:
            staged = await self.staging.write((chunk_id,), _one(source.data))
            size, sha256 = staged.size_bytes, staged.sha256
        now = self.clock()
        meta = dict(metadata or {})
        chunk = DataChunk(chunk_id, chunk_type or "input", format or "tensor", size, sha256, meta, (),
                          created_by or str(meta.get("created_by") or "api"), now, now)  # fmt: skip
        await self._put(chunk)
        spec = ModelOperationSpec(Operation.DOWNLOAD, chunk_id, source_url=source.url, target_device=target,
                                  verify_checksum=True, sha256=sha256, pool=Pool.DATA)  # fmt: skip
        try:
            [task] = await self.actions.create_many([_task(f"data-create-{chunk_id}", node, spec,
                                                           f"create data chunk {chunk_id} on {node}:{target}")])  # fmt: skip
        except BaseException:
            await self._forget(chunk_id)
            raise
        log.info("data chunk creating", chunk_id=chunk_id, node_id=node, device=target, task_id=task.id, size=size)
        task = await self._ended(task.id)
        if task.state is not TaskState.COMPLETED:
            await self._forget(chunk_id)
            raise FailedPrecondition(f"the chunk's bytes did not reach {node}:{target} (task {task.id} "
                                     f"{task.state.value}): {task.result.error or task.state_reason}",
                                     reason="TASK_FAILED")  # fmt: skip
        await self.record(task)
        return self._view(self._chunk(chunk_id)), task

    def _placement(self, device: str) -> tuple[str, str]:
        node, _, target = device.rpartition(":")
        try:
            check_device(target)
        except SpecError as exc:
            raise InvalidArgument(str(exc), reason="INVALID_REQUEST") from None
        if node:
            if node not in self.registry.nodes:
                raise NotFound(f"node {node!r} not found", reason="NODE_NOT_FOUND")
            if self.registry.peer_point(node) is None:
                raise Unavailable(f"node {node!r} is not online with a data store; pick another node",
                                  reason="RESOURCE_UNAVAILABLE")  # fmt: skip
            self._check_has(node, target)
            return node, target
        holders = [n.id for n in self.registry.online_nodes()
                   if self.registry.peer_point(n.id) is not None and target in self._devices(n.id)]  # fmt: skip
        if not holders:
            raise Unavailable(f"no node with a data store and a {target} is online to hold the chunk: start an"
                              " agent (with its gswarm client API) first", reason="RESOURCE_UNAVAILABLE")  # fmt: skip
        load = {n: 0 for n in holders}
        for chunk in self._chunks.values():
            for loc in chunk.locations:
                if loc.partition(":")[0] in load:
                    load[loc.partition(":")[0]] += max(chunk.size, 0)
        return min(holders, key=lambda n: (load[n], n)), target

    def _devices(self, node: str) -> list[str]:
        return ["disk", "dram", *(f"gpu{g.index}" for g in self.registry.nodes[node].capabilities.gpus)]

    def _check_has(self, node: str, device: str) -> None:
        """Refused here, not on the node: a device the node does not report would only fail its task."""
        if device not in (devices := self._devices(node)):
            raise InvalidArgument(f"node {node!r} has no {device}: its devices are {', '.join(devices)}",
                                  reason="INVALID_REQUEST")  # fmt: skip

    async def _ended(self, task_id: str) -> Task:
        deadline = asyncio.get_running_loop().time() + self.create_timeout
        while True:
            change = self.book.feed.next_change(task_id)
            task = self.book.working.get(task_id) or await self.book.store.get_task(task_id)
            if task is not None and task.state.terminal:
                change.cancel()
                return task
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                change.cancel()
                raise DeadlineExceeded(f"the chunk's bytes are still on their way (task {task_id}); "
                                       f"GET /api/v1/queue/tasks/{task_id} follows it", reason="NETWORK_ERROR")  # fmt: skip
            await ChangeFeed.wait(change, remaining)

    async def move(self, chunk_id: str, target_device: str, *, node: str = "", source_device: str = "",
                   priority: Priority = Priority.NORMAL) -> Task:  # fmt: skip
        """Move the bytes to another device of a node that holds them."""
        chunk = self._chunk(chunk_id)
        target = _device(target_device, "target_device")
        held = [loc.split(":", 1) for loc in chunk.locations if loc.split(":", 1)[0] == node or not node]
        held = [(n, d) for n, d in held if d == source_device or (not source_device and d != target)]
        if not held:
            where = ", ".join(chunk.locations) or "nowhere yet"
            raise FailedPrecondition(f"chunk {chunk_id} has no copy to move to {target} (it is on {where}):"
                                     " give node and source_device of a copy", reason="CONFLICT")  # fmt: skip
        node, source = held[0]
        if source == target:
            raise InvalidArgument(f"chunk {chunk_id} is on {node}:{target} already", reason="INVALID_REQUEST")
        self._check_has(node, target)
        spec = ModelOperationSpec(Operation.MOVE, chunk_id, source_device=source, target_device=target,
                                  verify_checksum=True, sha256=chunk.sha256, pool=Pool.DATA)  # fmt: skip
        [task] = await self.actions.create_many([_task(f"data-move-{chunk_id}-{uuid.uuid4().hex[:6]}", node, spec,
                                                       f"move data chunk {chunk_id} to {node}:{target}", priority)])  # fmt: skip
        return task

    async def transfer(self, chunk_id: str, target_node: str, target_device: str = "", *, source: str = "",
                       delete_source: bool = False, priority: Priority = Priority.NORMAL) -> Task:  # fmt: skip
        """Copy the bytes to another node, node to node; with `delete_source`, the source's copy is deleted
        once they arrived (a delete that depends on the copy)."""
        chunk = self._chunk(chunk_id)
        target = _device(target_device or DEFAULT_DEVICE, "target_device")
        if target_node not in self.registry.nodes:
            raise NotFound(f"node {target_node!r} not found", reason="NODE_NOT_FOUND")
        self._check_has(target_node, target)
        others = [loc for loc in chunk.locations if loc.partition(":")[0] != target_node]
        if source and source not in others:
            raise FailedPrecondition(f"chunk {chunk_id} is not on {source} of another node (it is on "
                                     f"{', '.join(chunk.locations) or 'nowhere yet'})", reason="CONFLICT")  # fmt: skip
        if not (source := source or next(iter(others), "")):
            raise FailedPrecondition(f"chunk {chunk_id} is on no node but {target_node}: move it there instead",
                                     reason="CONFLICT")  # fmt: skip
        copy = _task(f"data-transfer-{chunk_id}-{uuid.uuid4().hex[:6]}", target_node,
                     ModelOperationSpec(Operation.COPY, chunk_id, source_device=source, target_device=target,
                                        verify_checksum=True, sha256=chunk.sha256, pool=Pool.DATA),
                     f"transfer data chunk {chunk_id} from {source} to {target_node}:{target}", priority)  # fmt: skip
        tasks = [copy]
        if delete_source:
            source_node, source_device = source.split(":", 1)
            tasks.append(_task(f"data-delete-{chunk_id}-{uuid.uuid4().hex[:6]}", source_node,
                               ModelOperationSpec(Operation.DELETE, chunk_id, source_device=source_device, pool=Pool.DATA),
                               f"delete data chunk {chunk_id} from {source} once transferred", priority,
                               depends_on=(copy.id,)))  # fmt: skip
        made = await self.actions.create_many(tasks)
        return made[0]

    async def delete(self, chunk_id: str, *, force: bool = False) -> tuple[list[str], list[str]]:
        """Forget the chunk and delete its bytes from every node (a delete task per copy, run when its node
        is online). Refused while tasks name it, unless `force`, which cancels them.
        (the cancelled tasks, the delete tasks)."""
        chunk = self._chunk(chunk_id)
        working = [t.id for t in self._operations(chunk_id)]
        if working and not force:
            raise FailedPrecondition(f"chunk {chunk_id} is named by pending or running tasks ({', '.join(working)}):"
                                     " wait for them, or delete with force=true to cancel them", reason="CONFLICT")  # fmt: skip
        for task_id in working:
            await self.actions.cancel(task_id, f"data chunk {chunk_id} deleted with force")
        deletes = [_task(f"data-delete-{chunk_id}-{uuid.uuid4().hex[:6]}", node,
                         ModelOperationSpec(Operation.DELETE, chunk_id, source_device=device, pool=Pool.DATA),
                         f"delete data chunk {chunk_id} from {node}:{device}")
                   for node, device in (loc.split(":", 1) for loc in chunk.locations)]  # fmt: skip
        if deletes:
            await self.actions.create_many(deletes)
        await self._forget(chunk_id)
        log.info("data chunk deleted", chunk_id=chunk_id, locations=list(chunk.locations), cancelled=working)
        return working, [t.id for t in deletes]

    async def _put(self, chunk: DataChunk) -> None:
        await self.store.put(chunk)
        self._chunks[chunk.id] = chunk

    async def _forget(self, chunk_id: str) -> None:
        await self.store.delete(chunk_id)
        self._chunks.pop(chunk_id, None)
        self.staging.delete(chunk_id)

    # Keeping the locations to what the nodes did -------------------------------------------------------

    async def record(self, task: Task) -> None:
        """A completed operation's effect on its chunk (recording one twice changes nothing)."""
        spec = task.spec
        assert isinstance(spec, ModelOperationSpec)
        chunk = self._chunks.get(spec.model)
        if chunk is None:
            return  # deleted meanwhile: its delete tasks remove the bytes
        node, locations = task.node_id or task.resources.node, list(chunk.locations)
        if spec.operation is not Operation.DELETE:
            locations.append(f"{node}:{spec.target_device}")
        if spec.operation is Operation.MOVE and not spec.keep_source:
            locations = [loc for loc in locations if loc != f"{node}:{spec.source_device}"]
        if spec.operation is Operation.DELETE:
            locations = [loc for loc in locations if loc.partition(":")[0] != node
                         or (spec.source_device and loc != f"{node}:{spec.source_device}")]  # fmt: skip
        changed = replace(chunk, locations=tuple(dict.fromkeys(locations)))
        if spec.operation is Operation.DOWNLOAD:
            changed = _arrived(changed, task)
            self.staging.delete(chunk.id)
        if changed != chunk:
            await self._put(changed)
            log.info("data chunk locations recorded", task_id=task.id, chunk_id=chunk.id, node_id=node,
                     operation=spec.operation.value, locations=list(changed.locations))  # fmt: skip

    async def reconcile(self, node_id: str, held: Sequence[tuple[str, str]]) -> None:
        """A node said which (chunk, device) it holds: its locations become exactly those."""
        wanted: dict[str, set[str]] = {}
        for chunk_id, device in held:
            wanted.setdefault(chunk_id, set()).add(f"{node_id}:{device}")
        for chunk in list(self._chunks.values()):
            mine = {loc for loc in chunk.locations if loc.partition(":")[0] == node_id}
            should = wanted.get(chunk.id, set())
            if mine != should:
                others = [loc for loc in chunk.locations if loc.partition(":")[0] != node_id]
                await self._put(replace(chunk, locations=(*others, *sorted(should))))
        if unknown := sorted(set(wanted) - set(self._chunks)):
            log.info("node holds data chunks the farm does not know; left as they are", node_id=node_id, chunks=unknown)


def _names(task: Task, chunk_id: str) -> bool:
    spec = task.spec
    return isinstance(spec, ModelOperationSpec) and spec.pool is Pool.DATA and spec.model == chunk_id


def _arrived(chunk: DataChunk, task: Task) -> DataChunk:
    """A chunk whose bytes came from a URL learns their size and sha256 from the task that fetched them."""
    size = chunk.size if chunk.size != UNKNOWN_SIZE else int(task.metrics.get("bytes", UNKNOWN_SIZE))
    return replace(chunk, size=size, sha256=chunk.sha256 or task.result.output_sha256)


def _device(device: str, what: str) -> str:
    try:
        return check_device(device, what)
    except SpecError as exc:
        raise InvalidArgument(str(exc), reason="INVALID_REQUEST") from None


def _checked_url(url: str) -> str:
    try:
        return check_url(url)
    except SpecError as exc:
        raise InvalidArgument(str(exc), reason="INVALID_REQUEST") from None


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


def _task(task_id: str, node: str, spec: ModelOperationSpec, display_name: str, priority: Priority = Priority.NORMAL,
          *, depends_on: tuple[str, ...] = ()) -> Task:  # fmt: skip
    return Task(id=task_id, spec=spec, display_name=display_name, resources=Resources(cpu_cores=1.0, node=node),
                priority=priority, depends_on=depends_on)  # fmt: skip
