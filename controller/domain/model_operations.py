"""Model operations (gswarm's node-local storage) and services in the farm: checked and completed before they are
queued, and the registry's locations kept to what they did.

An operation is a task pinned to its node. Before it is stored, its model must exist and its source
be known; it gets the sha256 to check from the registry, and locks on the model's devices it
touches, so two operations on one model and device never run at once (the scheduler holds them).
When one completes, the model's locations change to match: the bytes arrived on the target device,
left the source one. Each node's hello says what it holds (`reconcile`), so after a restart of
either side the locations are where the bytes really are.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace

import structlog

from controller.domain.errors import FailedPrecondition, InvalidArgument, NotFound
from controller.domain.models import ModelRegistry
from controller.domain.registry import NodeRegistry
from controller.domain.task_book import TaskBook
from controller.domain.types import LOCATION_READY, ModelLocation, Task
from taskspec.model_operation import ModelOperationSpec, Operation, Pool, lock_name
from taskspec.serving import ServingSpec

log = structlog.get_logger(__name__)


def expected_sha256(model_sha256: str, metadata: dict) -> str:
    """The sha256 the registry knows for a model: its own bytes', else the one its metadata gives."""
    if model_sha256:
        return model_sha256
    for key in ("sha256", "checksum"):
        value = metadata.get(key)
        if isinstance(value, str) and len(digest := value.lower().removeprefix("sha256:")) == 64:
            return digest
    return ""


class CompletedOperations:
    """The completed model operations of one pool, each applied (`record`) in the order they completed:
    what keeps the registry's locations, or the data pool's, to what the nodes did."""

    def __init__(self, book: TaskBook, pool: Pool, record: Callable[[Task], Awaitable[None]]) -> None:
        self.pool = pool
        self.record = record
        self._done: asyncio.Queue[Task] = asyncio.Queue()
        book.on_completed.append(self._submit)

    def _submit(self, task: Task) -> None:
        if isinstance(task.spec, ModelOperationSpec) and task.spec.pool is self.pool:
            self._done.put_nowait(task)

    async def run(self) -> None:
        while True:
            task = await self._done.get()
            try:
                await self.record(task)
            except Exception:  # the next hello of the node reconciles what this missed
                log.exception("recording an operation's locations failed", task_id=task.id, pool=self.pool.value)


class ModelOperations:
    def __init__(self, book: TaskBook, registry: NodeRegistry, models: ModelRegistry) -> None:
        self.registry = registry
        self.models = models
        self.completed = CompletedOperations(book, Pool.MODELS, self.record)

    async def prepare(self, task: Task) -> Task:
        """The operation as it will be queued: its source and checksum filled in, its locks held.
        A service is checked the same way: its node and its model must exist. An operation on the data
        pool (controller.domain.data_pool, which fills in its own sources and checksums) gets its locks."""
        spec = task.spec
        if not isinstance(spec, (ModelOperationSpec, ServingSpec)):
            return task
        node = task.resources.node
        if not node:
            raise InvalidArgument(f"a {task.kind} task runs on one node: set resources.node", reason="INVALID_REQUEST")
        if node not in self.registry.nodes:
            raise NotFound(f"node {node!r} not found", reason="NODE_NOT_FOUND")
        if isinstance(spec, ServingSpec):
            await self.models.get(spec.model)
            return task
        if spec.pool is Pool.MODELS:
            spec = await self._completed_spec(spec, node)
        return task.changed(spec=spec, resources=replace(task.resources, locks=self._locks(spec, node)))

    async def _completed_spec(self, spec: ModelOperationSpec, node: str) -> ModelOperationSpec:
        model = await self.models.get(spec.model)
        source_url = spec.source_url
        if spec.operation is Operation.DOWNLOAD and not source_url and not model.has_content:
            if not model.source_url:
                raise FailedPrecondition(f"model {spec.model!r} has neither bytes in the registry nor a source_url:"
                                         " give source_url", reason="MODEL_NOT_IN_REGISTRY")  # fmt: skip
            source_url = model.source_url
        if spec.operation is Operation.COPY:
            self._check_copy_source(spec, node, [loc.device for loc in model.locations])
        sha256 = spec.sha256 or (expected_sha256(model.sha256, model.metadata) if spec.verify_checksum else "")
        return replace(spec, source_url=source_url, sha256=sha256)

    def _locks(self, spec: ModelOperationSpec, node: str) -> tuple[str, ...]:
        """The devices of the item the operation touches."""
        if spec.operation is Operation.DELETE:
            gpus = [f"gpu{g.index}" for g in self.registry.nodes[node].capabilities.gpus]
            devices = [spec.source_device] if spec.source_device else ["disk", "dram", *gpus]
            locks = [lock_name(spec.item, node, device) for device in devices]
        else:
            locks = [lock_name(spec.item, node, spec.target_device)]
        if spec.operation is Operation.MOVE:
            locks.append(lock_name(spec.item, node, spec.source_device))
        if spec.operation is Operation.COPY:
            locks.append(lock_name(spec.item, *spec.source_device.split(":", 1)))
        return tuple(dict.fromkeys(locks))

    def _check_copy_source(self, spec: ModelOperationSpec, node: str, locations: Sequence[str]) -> None:
        if spec.source_node == node:
            raise InvalidArgument(f"source_device {spec.source_device!r} is on the target node itself: move it instead")
        if spec.source_node not in self.registry.nodes:
            raise NotFound(f"node {spec.source_node!r} not found", reason="NODE_NOT_FOUND")
        if spec.source_device not in locations:
            raise FailedPrecondition(f"model {spec.model!r} is not on {spec.source_device} (its locations: "
                                     f"{', '.join(locations) or 'none'})", reason="MODEL_NOT_FOUND")  # fmt: skip

    async def record(self, task: Task) -> None:
        spec = task.spec
        assert isinstance(spec, ModelOperationSpec)
        node, op = task.node_id, spec.operation
        try:
            if op in (Operation.DOWNLOAD, Operation.COPY, Operation.MOVE):
                await self.models.add_location(spec.model, ModelLocation(f"{node}:{spec.target_device}", LOCATION_READY))
            if op is Operation.MOVE and not spec.keep_source:
                await self._forget(spec.model, [f"{node}:{spec.source_device}"])
            if op is Operation.DELETE:
                model = await self.models.get(spec.model)
                devices = [f"{node}:{spec.source_device}"] if spec.source_device else [
                    loc.device for loc in model.locations if loc.device.partition(":")[0] == node]
                await self._forget(spec.model, devices)
        except NotFound:
            return  # the model was deleted meanwhile
        log.info("model locations recorded", task_id=task.id, model=spec.model, node_id=node, operation=op.value)

    async def _forget(self, model: str, devices: Sequence[str]) -> None:
        for device in devices:
            try:
                await self.models.remove_location(model, device)
            except NotFound as exc:
                if exc.reason != "LOCATION_NOT_FOUND":
                    raise

    async def reconcile(self, node_id: str, held: Sequence[tuple[str, str]]) -> None:
        """A node said which (model, device) it holds: its locations in the registry become exactly those."""
        wanted: dict[str, set[str]] = {}
        for model, device in held:
            wanted.setdefault(model, set()).add(f"{node_id}:{device}")
        for model in await self.models.list():
            mine = {loc.device for loc in model.locations if loc.device.partition(":")[0] == node_id}
            should = wanted.get(model.name, set())
            for device in mine - should:
                await self._forget(model.name, [device])
            for device in sorted(should - mine):
                await self.models.add_location(model.name, ModelLocation(device, LOCATION_READY))
