"""The controller's composition root: builds the domain, the store and the gRPC server."""

from __future__ import annotations

import asyncio
import contextlib
import time

import grpc
import structlog
from google.protobuf import descriptor_pool
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from aifarm.compat.servermgmt.v1 import (
    dataset_service_pb2 as sm_dataset_pb2,
    dataset_service_pb2_grpc as sm_dataset_grpc,
    health_service_pb2 as sm_health_pb2,
    health_service_pb2_grpc as sm_health_grpc,
    model_service_pb2 as sm_model_pb2,
    model_service_pb2_grpc as sm_model_grpc,
    system_service_pb2 as sm_system_pb2,
    system_service_pb2_grpc as sm_system_grpc,
    training_service_pb2 as sm_training_pb2,
    training_service_pb2_grpc as sm_training_grpc,
)
from aifarm.compat.shelby.v1 import (
    agent_service_pb2 as sh_agent_pb2,
    agent_service_pb2_grpc as sh_agent_grpc,
    frontend_service_pb2 as sh_frontend_pb2,
    frontend_service_pb2_grpc as sh_frontend_grpc,
    job_service_pb2 as sh_job_pb2,
    job_service_pb2_grpc as sh_job_grpc,
)
from aifarm.v1 import (
    agent_service_pb2,
    agent_service_pb2_grpc,
    dataset_service_pb2,
    dataset_service_pb2_grpc,
    model_service_pb2,
    model_service_pb2_grpc,
    node_service_pb2,
    node_service_pb2_grpc,
    system_service_pb2,
    system_service_pb2_grpc,
    task_service_pb2,
    task_service_pb2_grpc,
)
from controller.api.agent_servicer import AgentServicer
from controller.api.auth import AuthInterceptor, Credentials, agent_methods, open_methods
from controller.api.compat.servermgmt.dataset_servicer import DatasetServicer as SmDatasetServicer
from controller.api.compat.servermgmt.health_servicer import HealthServicer as SmHealthServicer
from controller.api.compat.servermgmt.model_servicer import ModelServicer as SmModelServicer
from controller.api.compat.servermgmt.system_servicer import SystemServicer as SmSystemServicer
from controller.api.compat.servermgmt.training_servicer import SESSION_GROUP, TrainingServicer as SmTrainingServicer
from controller.api.compat.shelby.agent_servicer import AgentServicer as ShAgentServicer
from controller.api.compat.shelby.frontend_servicer import FrontendServicer as ShFrontendServicer
from controller.api.compat.shelby.job_servicer import JobServicer as ShJobServicer
from controller.api.request_id import RequestIdInterceptor
from controller.api.dataset_servicer import DatasetServicer
from controller.api.model_servicer import ModelServicer
from controller.api.node_servicer import NodeServicer
from controller.api.system_servicer import SystemServicer
from controller.api.task_servicer import TaskServicer
from controller.config import ControllerConfig
from controller.credentials import load_credentials
from controller.domain.artifacts import ArtifactShelf
from controller.domain.datasets import DatasetLibrary
from controller.domain.dispatch import Dispatcher, LivenessMonitor
from controller.domain.events import ChangeFeed
from controller.domain.models import ModelRegistry
from controller.domain.nodes import NodeBook
from controller.domain.polling import PollingNodes
from controller.domain.registry import NodeRegistry
from controller.domain.tasks import TaskBook
from controller.store.blob_store import BlobStore
from controller.host_probe import HostProbe
from controller.store.dataset_store import DatasetStore
from controller.store.db import Database
from controller.store.model_store import ModelStore
from controller.store.node_store import NodeStore
from controller.store.task_store import TaskStore

log = structlog.get_logger(__name__)

SERVICE_NAMES = [
    task_service_pb2.DESCRIPTOR.services_by_name["TaskService"].full_name,
    node_service_pb2.DESCRIPTOR.services_by_name["NodeService"].full_name,
    dataset_service_pb2.DESCRIPTOR.services_by_name["DatasetService"].full_name,
    model_service_pb2.DESCRIPTOR.services_by_name["ModelService"].full_name,
    system_service_pb2.DESCRIPTOR.services_by_name["SystemService"].full_name,
    agent_service_pb2.DESCRIPTOR.services_by_name["AgentService"].full_name,
    *(
        service.full_name
        for module in (sm_health_pb2, sm_training_pb2, sm_system_pb2, sm_model_pb2, sm_dataset_pb2,
                       sh_job_pb2, sh_frontend_pb2, sh_agent_pb2)
        for service in module.DESCRIPTOR.services_by_name.values()
    ),
]


class Controller:
    """Start with `start()`, stop with `shutdown()` (safe to call twice)."""

    def __init__(self, config: ControllerConfig) -> None:
        self.config = config
        self.credentials: Credentials | None = None
        self.address = ""
        self._server: grpc.aio.Server | None = None
        self._db: Database | None = None
        self._loops: list[asyncio.Task[None]] = []
        self._registry: NodeRegistry | None = None
        self._stopped = False

    async def start(self) -> str:
        cfg = self.config
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
        self.credentials = load_credentials(cfg)
        db = self._db = await Database.open(cfg.db_path)
        task_store, node_store = TaskStore(db), NodeStore(db)
        blobs = BlobStore(cfg.data_dir / "files", max_bytes=cfg.max_upload_mb << 20)
        registry = self._registry = NodeRegistry(ttl_seconds=cfg.node_ttl_seconds, grace_seconds=cfg.restart_grace_seconds)
        registry.load(await node_store.all(), time.time())
        limits = {SESSION_GROUP: 1, **dict(cfg.concurrency_limits)}
        tasks = TaskBook(db, task_store, ChangeFeed(), registry.send, concurrency_limits=limits)
        await tasks.load()
        nodes = NodeBook(db, node_store, registry, tasks)
        if cfg.datasets_dir is not None:
            datasets = DatasetLibrary(db, DatasetStore(db), BlobStore(cfg.datasets_dir, max_bytes=blobs.max_bytes), ())
        else:
            datasets = DatasetLibrary(db, DatasetStore(db), blobs)
        await datasets.ensure_builtin()
        artifacts = ArtifactShelf(tasks, blobs)
        models = ModelRegistry(db, ModelStore(db), BlobStore(cfg.model_dir, max_bytes=blobs.max_bytes), blobs)
        tasks.on_completed.append(models.save_task_output)

        max_message = cfg.max_message_mb << 20
        server = self._server = grpc.aio.server(
            interceptors=[RequestIdInterceptor(), AuthInterceptor(self.credentials, *_marked_paths())],
            options=[
                ("grpc.max_receive_message_length", max_message),
                ("grpc.max_send_message_length", max_message),
                # Agents keep one long stream; let their keepalive pings through.
                ("grpc.http2.min_ping_interval_without_data_ms", 5000),
                ("grpc.keepalive_permit_without_calls", 1),
            ],
        )
        task_service_pb2_grpc.add_TaskServiceServicer_to_server(TaskServicer(tasks, artifacts), server)
        node_service_pb2_grpc.add_NodeServiceServicer_to_server(NodeServicer(nodes), server)
        dataset_service_pb2_grpc.add_DatasetServiceServicer_to_server(DatasetServicer(datasets), server)
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelServicer(models), server)
        system_service_pb2_grpc.add_SystemServiceServicer_to_server(
            SystemServicer(db, task_store, registry, time.time()), server
        )
        agent_service_pb2_grpc.add_AgentServiceServicer_to_server(
            AgentServicer(nodes, datasets, artifacts, heartbeat_interval_ms=int(cfg.heartbeat_interval_seconds * 1000)),
            server,
        )
        sm_health_grpc.add_HealthServiceServicer_to_server(SmHealthServicer(db), server)
        sm_training_grpc.add_TrainingServiceServicer_to_server(SmTrainingServicer(tasks, datasets), server)
        sm_system_grpc.add_SystemServiceServicer_to_server(SmSystemServicer(HostProbe(cfg.data_dir)), server)
        sm_model_grpc.add_ModelServiceServicer_to_server(SmModelServicer(models, cfg.data_dir), server)
        sm_dataset_grpc.add_DatasetServiceServicer_to_server(SmDatasetServicer(datasets, cfg.data_dir), server)
        sh_job_grpc.add_JobServiceServicer_to_server(ShJobServicer(tasks), server)
        sh_frontend_grpc.add_FrontendServiceServicer_to_server(ShFrontendServicer(db, task_store, registry), server)
        sh_agent_grpc.add_AgentServiceServicer_to_server(
            ShAgentServicer(PollingNodes(db, node_store, registry, tasks),
                            heartbeat_interval_seconds=cfg.heartbeat_interval_seconds),
            server,
        )  # fmt: skip
        health_servicer = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        reflection.enable_server_reflection([*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME], server)
        port = server.add_insecure_port(f"{cfg.host}:{cfg.grpc_port}")
        if port == 0:
            raise OSError(f"cannot bind the gRPC port {cfg.host}:{cfg.grpc_port}; is another controller running?")
        await server.start()
        for name in ["", *SERVICE_NAMES]:
            await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
        self.address = f"{cfg.host}:{port}"
        self._loops = [
            asyncio.create_task(Dispatcher(tasks, registry).run(), name="dispatcher"),
            asyncio.create_task(LivenessMonitor(registry, tasks, db, node_store).run(), name="liveness"),
        ]
        log.info("controller serving", grpc=self.address, data_dir=str(cfg.data_dir), tasks_active=len(tasks.active))
        return self.address

    async def wait(self) -> None:
        if self._server is not None:
            await self._server.wait_for_termination()

    async def shutdown(self, grace: float = 2.0) -> None:
        if self._stopped:
            return
        self._stopped = True
        for loop in self._loops:
            loop.cancel()
        for loop in self._loops:
            with contextlib.suppress(asyncio.CancelledError):
                await loop
        if self._registry is not None:
            self._registry.close_all()
        if self._server is not None:
            await self._server.stop(grace)
        if self._db is not None:
            await self._db.close()
        log.info("controller stopped")


def _marked_paths() -> tuple[frozenset[str], frozenset[str]]:
    """The methods open to all, and those only agents may call, from the protos' auth options."""
    pool = descriptor_pool.Default()
    services = [pool.FindServiceByName(name) for name in SERVICE_NAMES]
    return open_methods(services), agent_methods(services)
