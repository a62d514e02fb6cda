"""Services (gswarm's Service Management): models served across the farm, each a serving task
pinned to its node. A deployment to a node that does not hold the model first downloads it there
(a model operation the service depends on), so a deploy never waits on bytes someone must move by hand.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from controller.domain.errors import FailedPrecondition, InvalidArgument, NotFound
from controller.domain.models import ModelRegistry
from controller.domain.registry import NodeRegistry
from controller.domain.task_actions import TaskActions
from controller.domain.task_book import TaskBook
from controller.domain.types import Model, Priority, Resources, Task
from taskspec.model_operation import ModelOperationSpec, Operation
from taskspec.serving import BUILT_IN_FRAMEWORK, SERVICE_CPU_CORES, ServingSpec

log = structlog.get_logger(__name__)

MAX_REPLICAS = 64
#: The devices a deployment serves from, best first, when the node holds the model on several.
SERVING_DEVICES = ("dram", "disk")


@dataclass(frozen=True)
class Deployment:
    services: tuple[str, ...]
    #: Downloads started for nodes that did not hold the model.
    downloads: tuple[str, ...]


class ModelServices:
    def __init__(self, book: TaskBook, actions: TaskActions, registry: NodeRegistry, models: ModelRegistry) -> None:
        self.book = book
        self.actions = actions
        self.registry = registry
        self.models = models

    def running(self, model: str = "") -> list[Task]:
        """Serving tasks that have not ended (of `model` only, when given), newest first."""
        tasks = [t for t in self.book.working.values()
                 if isinstance(t.spec, ServingSpec) and not t.state.terminal and (not model or t.spec.model == model)]
        return sorted(tasks, key=lambda t: (-t.create_time, t.id))  # fmt: skip

    async def deploy(self, model_name: str, nodes: Sequence[str], *, port: int = 0, replicas: int = 0,
                     framework: str = BUILT_IN_FRAMEWORK, config: dict | None = None) -> Deployment:  # fmt: skip
        """`replicas` services (default: one per node) spread over `nodes` in turn; the k-th replica on a
        node listens on `port` + k (0: any free port)."""
        model = await self.models.get(model_name)
        if not nodes:
            raise InvalidArgument("nodes is empty: name the nodes to serve the model on", reason="INVALID_REQUEST")
        if missing := [n for n in nodes if n not in self.registry.nodes]:
            raise NotFound(f"node {missing[0]!r} not found", reason="NODE_NOT_FOUND")
        count = replicas or len(nodes)
        if not 1 <= count <= MAX_REPLICAS:
            raise InvalidArgument(f"replicas must be 1 to {MAX_REPLICAS}, not {count}", reason="INVALID_REQUEST")
        if port and not 0 < port + (count - 1) // len(nodes) < 65536:
            raise InvalidArgument(f"port {port} leaves no room for {count} replicas", reason="INVALID_REQUEST")
        tasks: list[Task] = []
        downloads: dict[str, str] = {}
        for i in range(count):
            node = nodes[i % len(nodes)]
            device = _held_on(model, node)
            if device is None and node not in downloads:
                download = _task(f"download-{_stem(model.name)}-{uuid.uuid4().hex[:8]}", node,
                                 ModelOperationSpec(Operation.DOWNLOAD, model.name, target_device="disk"),
                                 f"download {model.name} to serve it", cpu_cores=1.0)  # fmt: skip
                downloads[node] = download.id
                tasks.append(download)
            spec = ServingSpec(model.name, device or "disk", port + i // len(nodes) if port else 0, framework,
                               dict(config or {}))  # fmt: skip
            after = (downloads[node],) if node in downloads else ()
            service_id = f"{_stem(model.name)}-{_stem(node)}-{spec.port or 'any'}-{uuid.uuid4().hex[:6]}"
            tasks.append(_task(service_id, node, spec, f"serve {model.name}", depends_on=after))
        made = await self.actions.create_many(tasks)
        services = tuple(t.id for t in made if isinstance(t.spec, ServingSpec))
        log.info("model deployed", model=model.name, nodes=list(nodes), services=len(services), downloads=len(downloads))
        return Deployment(services, tuple(downloads.values()))

    async def stop(self, service_id: str) -> Task:
        """Cancel a service's task; NotFound for no such service, FailedPrecondition once it has ended."""
        task = self.book.working.get(service_id) or await self.book.store.get_task(service_id)
        if task is None or not isinstance(task.spec, ServingSpec):
            raise NotFound(f"service {service_id!r} not found", reason="SERVICE_NOT_FOUND")
        if task.state.terminal:
            raise FailedPrecondition(f"service {service_id!r} has already ended ({task.state.value})",
                                     reason="SERVICE_ENDED")  # fmt: skip
        return await self.actions.cancel(service_id, "service stopped")

    async def delete_model(self, name: str, *, force: bool = False) -> list[str]:
        """Delete a model of the registry; with services of it running, FailedPrecondition unless `force`,
        which stops them first. The services stopped."""
        await self.models.get(name)
        running = [t.id for t in self.running(name)]
        if running and not force:
            raise FailedPrecondition(f"model {name!r} is served by {', '.join(running)}: stop them, or delete with"
                                     " force=true to stop them too", reason="MODEL_IN_USE")  # fmt: skip
        for service_id in running:
            await self.actions.cancel(service_id, f"model {name} deleted with force")
        await self.models.delete(name)
        return running


def _held_on(model: Model, node: str) -> str | None:
    held = {loc.device.partition(":")[2] for loc in model.locations if loc.device.partition(":")[0] == node}
    return next((d for d in SERVING_DEVICES if d in held), None)


def _stem(name: str) -> str:
    """A name as a part of a task id (gswarm's look like "llama-7b-node1-8080")."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", name)[:20]


def _task(task_id: str, node: str, spec: ModelOperationSpec | ServingSpec, display_name: str, *,
          depends_on: tuple[str, ...] = (), cpu_cores: float = SERVICE_CPU_CORES) -> Task:  # fmt: skip
    return Task(id=task_id, spec=spec, display_name=display_name, resources=Resources(cpu_cores=cpu_cores, node=node),
                priority=Priority.NORMAL, depends_on=depends_on)  # fmt: skip
