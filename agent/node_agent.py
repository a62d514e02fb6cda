"""The agent's composition root: one process per node, one supervisor of its parts.

`run()` builds everything and runs it in one task group: the controller link
(whose every session is a task group of its own: reader, writer, heartbeat) and
the task attempts' jobs. Attempts outlive a session; if the link itself fails,
the group ends the attempts too and `run()` raises, rather than leave the node
running work it can no longer report.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, AsyncIterator

import grpc
import structlog

from agent.backoff import Backoff
from agent.capabilities import HostProbe
from agent.channel import open_channel
from agent.clock import Clock, LoopClock
from agent.config import AgentConfig
from agent.connection import ControllerLink
from agent.credentials import CredentialFiles, NodeCredential, RegistrationRefused, register
from agent.errors import AgentError, TransferError
from agent.identity import node_id as load_node_id
from agent.models.local_store import LocalModelStore
from gateway.listeners import host_port, loopback_for
from agent.outbox import Outbox
from agent.profiling.sampler import ProfilingSampler
from agent.private_files import private_directory
from agent.rendezvous_port import RendezvousPort
from agent.runners.child_registry import ChildRegistry
from agent.runners.process import children_watched_by_pidfds
from agent.supervisor import TaskSupervisor
from aifarm.v1 import agent_service_pb2 as pb
from aifarm.v1 import agent_service_pb2_grpc
from taskspec.model_operation import Pool

if TYPE_CHECKING:
    from agent.local_api.server import LocalApi

log = structlog.get_logger(__name__)

CHUNK = 1 << 20
_OPTIONS = [
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.max_receive_message_length", 256 << 20),
]
NODE_ID_METADATA = "x-aifarm-node-id"


class NodeAgent:
    """Start with `run()`; `shutdown()` is safe to call twice."""

    def __init__(self, config: AgentConfig, *, clock: Clock | None = None) -> None:
        self.config = config
        self.clock = clock or LoopClock()
        private_directory(config.data_dir)  # the node's credential, every task's environment and output
        self.node_id = load_node_id(config.data_dir)
        #: On disk: what the controller has not acked survives a crash and is replayed by the next run.
        self.outbox = Outbox.open(config.data_dir / "outbox.log")
        self._channel: grpc.aio.Channel | None = None
        self._link: ControllerLink | None = None
        self._supervisor: TaskSupervisor | None = None
        self._rendezvous: RendezvousPort | None = None
        self._local_api: LocalApi | None = None
        self._sampler: ProfilingSampler | None = None
        self._controller_calls: grpc.aio.Channel | None = None
        self._stopped = False
        self._credential = NodeCredential()
        #: Set while a stream is up and welcomed (tests and `aifarm up` wait on it).
        self.connected = asyncio.Event()
        #: Set once the node-local API listens (or is known not to be served): `local_urls` is final then.
        self.local_api_ready = asyncio.Event()

    def _metadata(self) -> tuple[tuple[str, str], ...]:
        return (*self._credential.metadata(), (NODE_ID_METADATA, self.node_id))

    async def _load_or_register(self, channel: grpc.aio.Channel) -> NodeCredential:
        """The node's own credential: from its data directory, or registered now with the join token."""
        files = CredentialFiles(self.config.data_dir)
        if (known := files.load()) is not None:
            return known
        cfg = self.config
        try:
            # With TLS the node asks for a certificate (mutual TLS from then on); without, for a node secret.
            credential = await register(channel, self.node_id, cfg.token, want_certificate=cfg.ca_pem is not None,
                                        backoff=Backoff(cfg.backoff_initial_seconds, cfg.backoff_max_seconds),
                                        clock=self.clock)  # fmt: skip
        except RegistrationRefused as exc:
            raise AgentError(f"the controller refused to admit node {self.node_id}: {exc}") from None
        files.save(credential)
        return credential

    async def run(self) -> None:
        if self._stopped:
            return
        with children_watched_by_pidfds():
            await self._run()

    async def _run(self) -> None:
        cfg = self.config
        self._channel = open_channel(
            cfg.controller,
            cfg.ca_pem,
            options=_OPTIONS,
        )
        self._credential = await self._load_or_register(self._channel)
        if self._credential.client_pair is not None:
            # A node holding a farm certificate talks to the controller's mutual-TLS port from now on.
            await self._channel.close()
            self._channel = open_channel(cfg.mtls_address, cfg.ca_pem, self._credential.client_pair, options=_OPTIONS)
        stub = agent_service_pb2_grpc.AgentServiceStub(self._channel)
        probe = HostProbe(cpu_limit=cfg.cpu_cores, cpu_slots=cfg.cpu_slots, memory_limit_mb=cfg.memory_mb,
                          disk_path=cfg.data_dir,
                          node_id=self.node_id, clock=self.clock,
                          nvml_retry_seconds=cfg.nvml_retry_seconds)  # fmt: skip
        await self._start_local_api(probe)
        self.local_api_ready.set()
        api = self._local_api
        store, data_store, services = (api.store, api.data_store, api.services) if api is not None else (None, None, None)
        self._supervisor = TaskSupervisor(
            cfg.data_dir / "work", self.outbox, lambda name: self._fetch_dataset(stub, name),
            lambda task_id, attempt, path: self._upload(stub, task_id, attempt, path), clock=self.clock,
            children=ChildRegistry(cfg.data_dir / "children"), fetch_model=lambda name: self._fetch_model(stub, name),
            node_id=self.node_id, model_store=store, services=services, data_store=data_store,
        )  # fmt: skip
        self._rendezvous = RendezvousPort(cfg.rendezvous_port)
        self._sampler = ProfilingSampler(probe.gpus, self.outbox, self.node_id)
        self._link = ControllerLink(
            self._channel, self._metadata(), self.node_id, cfg.labels, probe, self.outbox, self._supervisor,
            backoff=Backoff(cfg.backoff_initial_seconds, cfg.backoff_max_seconds), clock=self.clock,
            connected=self.connected, rendezvous_address=cfg.rendezvous_address, rendezvous_port=self._rendezvous.port,
            local_api=self._local_api, sampler=self._sampler,
        )  # fmt: skip
        log.info("agent starting", node_id=self.node_id, controller=cfg.controller, data_dir=str(cfg.data_dir))
        try:
            async with asyncio.TaskGroup() as process:
                self._supervisor.attach(process)
                process.create_task(self._link.run(), name="controller link")
        except BaseExceptionGroup as group:
            log.error("agent failed", node_id=self.node_id, error=str(group.exceptions[0]))
            raise group.exceptions[0] from None

    async def _start_local_api(self, probe: HostProbe) -> None:
        """The node's model and data stores and gswarm's client API on them, when configured."""
        cfg = self.config
        if cfg.gswarm_client is None:
            return
        from agent.local_api.server import LocalApi

        store, data_store = (LocalModelStore(cfg.data_dir, self.node_id, gpu_count=lambda: len(probe.gpus.describe()),
                                             pool=pool) for pool in (Pool.MODELS, Pool.DATA))  # fmt: skip
        for each in (store, data_store):
            each.clear_parts()
            await each.restore()
        # Calls made for the node-local API's callers go to the controller's user port with their own key.
        self._controller_calls = open_channel(cfg.controller, cfg.ca_pem, options=_OPTIONS)
        host, port = cfg.gswarm_client
        self._local_api = LocalApi(host=host, http_port=port, store=store, data_store=data_store, probe=probe,
                                   controller=self._controller_calls, node_id=self.node_id)  # fmt: skip
        await self._local_api.start()

    @property
    def local_urls(self) -> dict[str, str]:
        """The node-local REST listeners bound (endpoints.json's "agents"), once running."""
        return dict(self._local_api.urls) if self._local_api is not None else {}

    @property
    def local_grpc(self) -> str:
        """HOST:PORT of the node-local gRPC server, once running ("" when none is served)."""
        api = self._local_api
        return "" if api is None else host_port(loopback_for(api.host), api.peer_port)

    async def _fetch_dataset(self, stub: agent_service_pb2_grpc.AgentServiceStub, name: str) -> Path:
        """Download a dataset once into the node's cache, checking its sha256."""
        dataset_id = name.removeprefix("datasets/")
        cache = self.config.data_dir / "datasets"
        cache.mkdir(parents=True, exist_ok=True)
        target, tmp = cache / dataset_id, cache / f".{dataset_id}.part"
        digest, expected, fmt = hashlib.sha256(), "", ""
        with tmp.open("wb") as f:
            async for chunk in stub.FetchDataset(pb.FetchDatasetRequest(name=name), metadata=self._metadata()):
                expected = expected or chunk.sha256
                fmt = fmt or chunk.format
                digest.update(chunk.chunk)
                f.write(chunk.chunk)
        if expected and digest.hexdigest() != expected:
            tmp.unlink(missing_ok=True)
            raise TransferError(f"dataset {name} arrived corrupted (sha256 mismatch)")
        if fmt and not dataset_id.endswith(f".{fmt}"):
            # The loader reads the format from the suffix; an id like "my_dataset" has none.
            target = cache / f"{dataset_id}.{fmt}"
        tmp.replace(target)
        return target

    async def _fetch_model(self, stub: agent_service_pb2_grpc.AgentServiceStub, name: str) -> Path:
        """Download a model of the registry for this attempt, checking its sha256 (models change
        name but never content, yet are small and rarely reused: no cache, one file per fetch)."""
        folder = self.config.data_dir / "models"
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{uuid.uuid4().hex}.part"
        digest, expected = hashlib.sha256(), ""
        try:
            with tmp.open("wb") as f:
                async for chunk in stub.FetchModel(pb.FetchModelRequest(name=name), metadata=self._metadata()):
                    expected = expected or chunk.sha256
                    digest.update(chunk.chunk)
                    f.write(chunk.chunk)
            if expected and digest.hexdigest() != expected:
                raise TransferError(f"model {name} arrived corrupted (sha256 mismatch)")
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        target = folder / f"{digest.hexdigest()}.pt"
        tmp.replace(target)
        return target

    async def _upload(self, stub: agent_service_pb2_grpc.AgentServiceStub, task_id: str, attempt: int, path: Path) -> str:
        async def requests() -> AsyncIterator[pb.UploadArtifactRequest]:
            yield pb.UploadArtifactRequest(header=pb.ArtifactHeader(task_id=task_id, attempt=attempt, file_name=path.name))
            with path.open("rb") as f:
                while chunk := f.read(CHUNK):
                    yield pb.UploadArtifactRequest(chunk=chunk)

        response = await stub.UploadArtifact(requests(), metadata=self._metadata())
        return response.artifact.name

    async def shutdown(self) -> None:
        """Close the stream first, then end the attempts: the controller requeues a departed
        node's work, and a cancellation reported on the way out would end it instead."""
        if self._stopped:
            return
        self._stopped = True
        if self._link is not None:
            self._link.stop()
        if self._sampler is not None:
            self._sampler.stop()
        if self._supervisor is not None:
            await self._supervisor.shutdown()
        self.outbox.close()  # what is still unacked stays in its file for the next run
        if self._rendezvous is not None:
            self._rendezvous.close()
        if self._local_api is not None:
            await self._local_api.stop()
            await self._local_api.store.holders.close()
            await self._local_api.data_store.holders.close()
        if self._controller_calls is not None:
            with contextlib.suppress(Exception):
                await self._controller_calls.close()
        if self._channel is not None:
            with contextlib.suppress(Exception):
                await self._channel.close()
        log.info("agent stopped", node_id=self.node_id)
