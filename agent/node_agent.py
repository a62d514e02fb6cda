"""The agent's composition root: one process per node, one supervisor of its parts."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from pathlib import Path
from typing import AsyncIterator

import grpc
import structlog

from agent.capabilities import HostProbe
from agent.config import AgentConfig
from agent.connection import ControllerLink
from agent.identity import node_id as load_node_id
from agent.outbox import Outbox
from agent.supervisor import TaskSupervisor
from aifarm.v1 import agent_service_pb2 as pb
from aifarm.v1 import agent_service_pb2_grpc

log = structlog.get_logger(__name__)

CHUNK = 1 << 20
NODE_ID_METADATA = "x-aifarm-node-id"


class NodeAgent:
    """Start with `run()`; `shutdown()` is safe to call twice."""

    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self.node_id = load_node_id(config.data_dir)
        self.outbox = Outbox()
        self._channel: grpc.aio.Channel | None = None
        self._link: ControllerLink | None = None
        self._supervisor: TaskSupervisor | None = None
        self._stopped = False

    @property
    def connected(self) -> asyncio.Event:
        assert self._link is not None, "run() first"
        return self._link.connected

    def _metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.config.token}"), (NODE_ID_METADATA, self.node_id))

    async def run(self) -> None:
        cfg = self.config
        self._channel = grpc.aio.insecure_channel(
            cfg.controller,
            options=[
                ("grpc.keepalive_time_ms", 10_000),
                ("grpc.keepalive_timeout_ms", 5_000),
                ("grpc.keepalive_permit_without_calls", 1),
                ("grpc.max_receive_message_length", 256 << 20),
            ],
        )
        stub = agent_service_pb2_grpc.AgentServiceStub(self._channel)
        self._supervisor = TaskSupervisor(
            cfg.data_dir / "work", self.outbox, lambda name: self._fetch_dataset(stub, name),
            lambda task_id, attempt, path: self._upload(stub, task_id, attempt, path),
        )  # fmt: skip
        probe = HostProbe(cpu_limit=cfg.cpu_cores, memory_limit_mb=cfg.memory_mb)
        self._link = ControllerLink(
            self._channel, self._metadata(), self.node_id, cfg.labels, probe, self.outbox, self._supervisor,
            backoff_initial=cfg.backoff_initial_seconds, backoff_max=cfg.backoff_max_seconds,
        )  # fmt: skip
        log.info("agent starting", node_id=self.node_id, controller=cfg.controller, data_dir=str(cfg.data_dir))
        await self._link.run()

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
            raise IOError(f"dataset {name} arrived corrupted (sha256 mismatch)")
        if fmt and not dataset_id.endswith(f".{fmt}"):
            # The loader reads the format from the suffix; an id like "my_dataset" has none.
            target = cache / f"{dataset_id}.{fmt}"
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
        if self._stopped:
            return
        self._stopped = True
        if self._link is not None:
            self._link.stop()
        if self._supervisor is not None:
            await self._supervisor.shutdown()
        if self._channel is not None:
            with contextlib.suppress(Exception):
                await self._channel.close()
        log.info("agent stopped", node_id=self.node_id)
