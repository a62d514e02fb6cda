"""The controller's domain, wired once: every part built from a store and the settings, nothing global.

The composition root (controller.server) builds a `Farm` and hands it to the
servicers of every surface; tests build one on the memory store.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from controller.domain.artifacts import ArtifactShelf
from controller.domain.completion import OutputModels
from controller.domain.client_group_tasks import TaskBackend
from controller.domain.client_groups import ClientGroups, ClientProcessCaller, ExecutionBackend
from controller.domain.data_pool import DataPool
from controller.domain.datasets import DatasetLibrary
from controller.domain.dispatch import Dispatcher, LivenessMonitor
from controller.domain.events import ChangeFeed
from controller.domain.model_operations import ModelOperations
from controller.domain.model_services import ModelServices
from controller.domain.models import ModelRegistry
from controller.domain.profiling import ProfilingSessions
from controller.domain.node_identity import CertificateSigner, NodeIdentities
from controller.domain.nodes import NodeBook
from controller.domain.polling import PollingNodes
from controller.domain.registry import NodeRegistry
from controller.domain.store import Store
from controller.domain.task_actions import TaskActions
from controller.domain.task_book import TaskBook
from controller.domain.task_placement import TaskPlacement
from controller.domain.task_reports import TaskReports
from controller.domain.types import Clock
from controller.store.blob_store import BlobStore


@dataclass(frozen=True)
class FarmSettings:
    files_dir: Path
    models_dir: Path
    #: None: datasets live under files_dir/datasets.
    datasets_dir: Path | None = None
    max_upload_bytes: int = 1 << 30
    node_ttl_seconds: float = 10.0
    restart_grace_seconds: float = 30.0
    concurrency_limits: Mapping[str, int] | None = None
    #: Profiling frames older than this are deleted (sessions keep their rows); 0 keeps them all.
    profiling_retention_seconds: float = 7 * 86400
    #: Where client processes reach AI Factory's client service (the aifactory listener's /api/v1).
    aifactory_url: str = ""
    #: The execution backend new client groups go to.
    aifactory_backend: str = "aifarm"
    #: Where client groups send their load when a create names no server_addr.
    aifactory_target: str = ""
    #: Given to the client processes aifarm's own agents run, to register and report.
    aifactory_api_key: str = ""


@dataclass
class TaskParts:
    """Nodes and tasks, wired: everything of the domain that needs no files."""

    registry: NodeRegistry
    identities: NodeIdentities
    book: TaskBook
    actions: TaskActions
    placement: TaskPlacement
    reports: TaskReports
    nodes: NodeBook
    polling: PollingNodes
    dispatcher: Dispatcher
    liveness: LivenessMonitor

    @classmethod
    async def open(
        cls, store: Store, *, node_ttl_seconds: float, restart_grace_seconds: float,
        concurrency_limits: Mapping[str, int] | None = None, clock: Clock = time.time,
        signer: CertificateSigner | None = None,
    ) -> TaskParts:  # fmt: skip
        """Build them and load the nodes and active tasks from the store."""
        registry = NodeRegistry(ttl_seconds=node_ttl_seconds, grace_seconds=restart_grace_seconds, clock=clock)
        registry.load(await store.all_nodes())
        book = TaskBook(store, ChangeFeed(), registry.send, concurrency_limits=concurrency_limits, clock=clock)
        await book.load()
        identities = NodeIdentities(store, signer=signer, clock=clock)
        await identities.load()
        placement, reports = TaskPlacement(book, registry), TaskReports(book)
        nodes = NodeBook(registry, book, reports, identities)
        return cls(
            registry=registry, identities=identities, book=book, actions=TaskActions(book), placement=placement, reports=reports,
            nodes=nodes, polling=PollingNodes(registry, book, placement, reports), dispatcher=Dispatcher(book, placement),
            liveness=LivenessMonitor(nodes),
        )  # fmt: skip


@dataclass
class Farm(TaskParts):
    store: Store
    datasets: DatasetLibrary
    models: ModelRegistry
    artifacts: ArtifactShelf
    output_models: OutputModels
    model_operations: ModelOperations
    services: ModelServices
    profiling: ProfilingSessions
    data_pool: DataPool
    client_groups: ClientGroups

    @classmethod
    async def open(cls, store: Store, settings: FarmSettings, *, process_caller: ClientProcessCaller,  # type: ignore[override]
                   job_backends: Mapping[str, ExecutionBackend] | None = None, clock: Clock = time.time,
                   signer: CertificateSigner | None = None) -> Farm:  # fmt: skip
        """Build every part and load the state from the store. `job_backends`: the client groups'
        execution backends besides aifarm's own tasks (Slurm); `process_caller` reaches their processes."""
        s = settings
        parts = await TaskParts.open(store, node_ttl_seconds=s.node_ttl_seconds, clock=clock,
                                     restart_grace_seconds=s.restart_grace_seconds,
                                     concurrency_limits=s.concurrency_limits, signer=signer)  # fmt: skip
        files = BlobStore(s.files_dir, max_bytes=s.max_upload_bytes)
        if s.datasets_dir is not None:
            datasets = DatasetLibrary(store, BlobStore(s.datasets_dir, max_bytes=s.max_upload_bytes), ())
        else:
            datasets = DatasetLibrary(store, files)
        await datasets.ensure_builtin()
        models = ModelRegistry(store, BlobStore(s.models_dir, max_bytes=s.max_upload_bytes), files)
        output_models = OutputModels(parts.book, models)
        await output_models.resume()
        model_operations = ModelOperations(parts.book, parts.registry, models)
        parts.actions.preparers.append(model_operations.prepare)
        profiling = ProfilingSessions(store.profiling(), parts.registry, clock=clock,
                                      retention_seconds=s.profiling_retention_seconds)  # fmt: skip
        await profiling.load()
        data_pool = DataPool(store.data_chunks(), parts.book, parts.actions, parts.registry,
                             BlobStore(s.files_dir / "data-staging", max_bytes=s.max_upload_bytes), clock=clock)  # fmt: skip
        await data_pool.load()
        backends = {**(job_backends or {}), "aifarm": TaskBackend(parts.book, parts.actions, api_key=s.aifactory_api_key)}
        client_groups = ClientGroups(store.client_groups(), backends, s.aifactory_backend, process_caller,
                                     service_url=s.aifactory_url, default_target=s.aifactory_target, clock=clock)  # fmt: skip
        await client_groups.load()
        return cls(**vars(parts), store=store, datasets=datasets, models=models,
                   artifacts=ArtifactShelf(parts.book, parts.reports, files), output_models=output_models,
                   model_operations=model_operations,
                   services=ModelServices(parts.book, parts.actions, parts.registry, models),
                   profiling=profiling, data_pool=data_pool, client_groups=client_groups)  # fmt: skip

    def loops(self) -> dict[str, Callable[[], Awaitable[None]]]:
        """The background loops the controller runs and watches, by name."""
        return {"dispatcher": self.dispatcher.run, "liveness": self.liveness.run, "output-models": self.output_models.run,
                "model-locations": self.model_operations.completed.run, "profiling-retention": self.profiling.run,
                "data-locations": self.data_pool.completed.run, "client-groups": self.client_groups.watch}
