"""aifarm.v1.AgentService: the per-node stream, dataset fetches and artifact uploads."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from dataclasses import replace
from typing import AsyncIterator

import grpc
import structlog

from aifarm.v1 import agent_service_pb2 as pb
from aifarm.v1 import agent_service_pb2_grpc
from controller.api.auth import Credentials
from controller.api.convert_common import resource_id, seconds
from controller.api.errors import abort, maps_domain_errors
from controller.api.node_caller import calling_node
from controller.api.node_convert import capabilities_from_proto, usage_from_proto
from controller.api.task_convert import (
    STATE_FROM_PROTO,
    STATE_TO_PROTO,
    artifact_to_proto,
    log_line_from_proto,
    task_to_proto,
    update_from_proto,
)
from controller.domain.artifacts import ArtifactShelf
from controller.domain.datasets import DatasetLibrary
from controller.domain.errors import DomainError, InvalidArgument
from controller.domain.gang import RendezvousPoint
from controller.domain.data_pool import DataPool
from controller.domain.peers import PeerPoint
from controller.domain.model_operations import ModelOperations
from controller.domain.models import ModelRegistry
from controller.domain.profiling import ProfilingSessions
from controller.domain.nodes import NodeBook
from controller.domain.registry import (
    AckMessage,
    AgentSession,
    AssignMessage,
    ControlMessage,
    DownMessage,
    ProfilingControlMessage,
)
from controller.domain.task_reports import LogReport, TaskReports
from controller.domain.types import Node, TaskAction, TaskAttemptReport, TaskState, TaskUpdate
from taskspec.model_operation import Pool, pool_of
from taskspec.proto import pool_from_proto

log = structlog.get_logger(__name__)

NODE_ID_METADATA = "x-aifarm-node-id"
ACTIONS = {a: pb.TaskAction.Value(f"TASK_ACTION_{a.name}") for a in TaskAction}
#: Most messages of a session's outbox turned into frames at once.
MAX_FRAMES_AT_ONCE = 1000
#: An AssignmentBatch frame stops growing at this size (a script may be 1 MiB).
MAX_BATCH_BYTES = 1 << 20


def _node_from_hello(hello: pb.Hello) -> Node:
    return Node(
        id=hello.node_id,
        hostname=hello.hostname,
        capabilities=capabilities_from_proto(hello.capabilities),
        labels=dict(hello.labels),
        agent_version=hello.agent_version,
    )


def _node_address(hello: pb.Hello, peer: str) -> str:
    """The address other nodes reach this one at: the one it names, else the one its stream comes from
    ("ipv4:10.0.0.5:4711" -> "10.0.0.5"); "" when neither is known."""
    if hello.rendezvous_address:
        return hello.rendezvous_address
    if peer.startswith(("ipv4:", "ipv6:")):
        return peer.split(":", 1)[1].rsplit(":", 1)[0].strip("[]")
    return ""


def _rendezvous(hello: pb.Hello, peer: str) -> RendezvousPoint | None:
    """Where the node hosts a gang's rank 0: the port it reserved; None when it offers no port."""
    address = _node_address(hello, peer)
    return RendezvousPoint(address, hello.rendezvous_port) if 0 < hello.rendezvous_port < 65536 and address else None


def _peer_point(hello: pb.Hello, peer: str) -> PeerPoint | None:
    """Where the node serves its models to other nodes (PeerService); None when it serves none."""
    address = _node_address(hello, peer)
    return PeerPoint(address, hello.peer_port) if 0 < hello.peer_port < 65536 and address else None


def _reports(hello: pb.Hello) -> list[TaskAttemptReport]:
    return [
        TaskAttemptReport(t.task_id, t.attempt, STATE_FROM_PROTO.get(t.state, TaskState.RUNNING)) for t in hello.tasks
    ]


def _report_from_proto(report: pb.Report) -> TaskUpdate | LogReport | None:
    """A report of a batch in the domain's words; None (dropped, with a warning) when malformed."""
    if report.HasField("log_batch"):
        batch = report.log_batch
        return LogReport(batch.task_id, batch.attempt, [log_line_from_proto(ln, batch.attempt) for ln in batch.lines])
    try:
        return update_from_proto(report.task_update)
    except DomainError as exc:
        log.warning("dropping a malformed task update", task_id=report.task_update.task_id, error=str(exc))
        return None


def _seq(report: pb.Report) -> int:
    return getattr(report, report.WhichOneof("report") or "task_update").seq


def _frames_of(batch: pb.ProfilingBatch) -> list[tuple[float, bytes]]:
    """(time, encoded frame) of a node's batch; the node is the stream's, never what a frame says."""
    frames = []
    for frame in batch.frames:
        frame.ClearField("node")
        frames.append((seconds(frame.time), frame.SerializeToString()))
    return frames


def _attempts(reports: list[TaskAttemptReport]) -> list[pb.TaskAttempt]:
    return [pb.TaskAttempt(task_id=r.task_id, attempt=r.attempt, state=STATE_TO_PROTO[r.state]) for r in reports]


def _assignment(message: AssignMessage) -> pb.Assignment:
    source = message.peer_source
    return pb.Assignment(task=task_to_proto(message.task), attempt=message.task.attempt, gpu_indices=message.gpu_indices,
                         rank=message.rank, world_size=message.world_size, master_addr=message.master_addr,
                         master_port=message.master_port,
                         peer_source=pb.PeerSource(address=source.address, ticket=source.ticket) if source else None)  # fmt: skip


def _down_to_proto(message: DownMessage) -> pb.ConnectResponse:
    if isinstance(message, AssignMessage):
        return pb.ConnectResponse(assignment=_assignment(message))
    if isinstance(message, ProfilingControlMessage):
        return pb.ConnectResponse(profiling=pb.ProfilingControl(
            enabled=message.enabled, sampling_frequency_ms=message.sampling_frequency_ms,
            enable_nvlink_profiling=message.enable_nvlink, enable_bandwidth_profiling=message.enable_bandwidth))  # fmt: skip
    if isinstance(message, ControlMessage):
        return pb.ConnectResponse(
            control=pb.TaskControl(task_id=message.task_id, attempt=message.attempt, action=ACTIONS[message.action])
        )
    return pb.ConnectResponse(ack=pb.Ack(seq=message.seq))


async def _waiting(outbox: asyncio.Queue[DownMessage | None]) -> tuple[list[DownMessage], bool]:
    """What a session's outbox holds now, once it holds something; and whether the session closed."""
    messages: list[DownMessage] = []
    item = await outbox.get()
    while item is not None:
        messages.append(item)
        if outbox.empty() or len(messages) >= MAX_FRAMES_AT_ONCE:
            return messages, False
        item = outbox.get_nowait()
    return messages, True


def _frames(messages: list[DownMessage], batches: bool) -> Iterator[pb.ConnectResponse]:
    """The messages in order, with fewer frames: a run of acks is its last (acks are cumulative), and
    for an agent that takes batches a run of assignments goes in AssignmentBatch frames of at most
    MAX_BATCH_BYTES. Each frame costs a write on the stream and a read on the agent."""
    for kind, run in itertools.groupby(messages, type):
        if kind is AckMessage:
            yield pb.ConnectResponse(ack=pb.Ack(seq=max(m.seq for m in run)))  # type: ignore[attr-defined]
        elif kind is AssignMessage and batches:
            frame, size = pb.AssignmentBatch(), 0
            for message in run:
                one = _assignment(message)  # type: ignore[arg-type]
                if frame.assignments and size + one.ByteSize() > MAX_BATCH_BYTES:
                    yield pb.ConnectResponse(assignments=frame)
                    frame, size = pb.AssignmentBatch(), 0
                frame.assignments.append(one)
                size += one.ByteSize()
            yield pb.ConnectResponse(assignments=frame)
        else:
            yield from map(_down_to_proto, run)


@maps_domain_errors
class AgentServicer(agent_service_pb2_grpc.AgentServiceServicer):
    def __init__(
        self, nodes: NodeBook, reports: TaskReports, datasets: DatasetLibrary, artifacts: ArtifactShelf,
        credentials: Credentials, *, heartbeat_interval_ms: int, models: ModelRegistry,
        model_operations: ModelOperations, profiling: ProfilingSessions, data_pool: DataPool,
    ) -> None:  # fmt: skip
        self.models = models
        self.data_pool = data_pool
        self.model_operations = model_operations
        self.profiling = profiling
        self.nodes = nodes
        self.identities = nodes.identities
        self.credentials = credentials
        self.reports = reports
        self.datasets = datasets
        self.artifacts = artifacts
        self.heartbeat_interval_ms = heartbeat_interval_ms

    async def Register(self, request: pb.RegisterRequest, context: grpc.aio.ServicerContext) -> pb.RegisterResponse:
        issued = await self.identities.register(request.node_id, request.csr_pem.encode())
        return pb.RegisterResponse(
            node_id=issued.node_id, certificate_pem=issued.certificate_pem.decode(), ca_pem=issued.ca_pem.decode(),
            node_secret=issued.node_secret,
        )  # fmt: skip

    async def Connect(
        self, request_iterator: AsyncIterator[pb.ConnectRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.ConnectResponse]:
        first = await anext(aiter(request_iterator), None)
        if first is None or first.WhichOneof("message") != "hello":
            raise InvalidArgument("the first message on AgentService.Connect must be a hello")
        # The node is who its credential says; a hello naming another node is refused.
        node_id = await calling_node(context, self.identities, self.credentials, claimed=first.hello.node_id)
        node = replace(_node_from_hello(first.hello), id=node_id)
        hello, peer = first.hello, context.peer()
        session, reconciliation = await self.nodes.join(node, _reports(hello), _rendezvous(hello, peer), _peer_point(hello, peer))
        if hello.peer_port:  # a node with a model store (and a data store) says what it holds
            held = {pool: [(m.model, m.device) for m in hello.held_models if pool_from_proto(m.pool) is pool]
                    for pool in Pool}  # fmt: skip
            await self.model_operations.reconcile(node_id, held[Pool.MODELS])
            await self.data_pool.reconcile(node_id, held[Pool.DATA])
        yield pb.ConnectResponse(
            welcome=pb.Welcome(
                heartbeat_interval_ms=self.heartbeat_interval_ms,
                heartbeat_ttl_ms=int(self.nodes.registry.ttl_seconds * 1000),
                reattached=_attempts(reconciliation.reattached),
                superseded=_attempts(reconciliation.superseded),
                accepts_report_batches=True,
                peer_ticket_key=self.nodes.registry.peer_tickets.key_for(node_id),
            )
        )
        if hello.samples_profiling:
            session.samples_profiling = True
            yield _down_to_proto(self.profiling.control_for(node_id))  # on or off, whatever it was before
        batches = first.hello.accepts_assignment_batches
        reader = asyncio.create_task(self._read(session, request_iterator))
        try:
            closed = False
            while not closed:
                messages, closed = await _waiting(session.outbox)
                for frame in _frames(messages, batches):
                    yield frame
        finally:
            reader.cancel()
            self.nodes.leave(session)

    async def _read(self, session: AgentSession, requests: AsyncIterator[pb.ConnectRequest]) -> None:
        node_id = session.node_id
        bound = log.bind(node_id=node_id)
        try:
            async for message in requests:
                self.nodes.registry.touch(node_id)
                await self._handle(session, message)
        except asyncio.CancelledError:
            raise
        except grpc.aio.AioRpcError as exc:
            bound.info("agent stream broke", code=exc.code().name)
        except Exception:
            # The write was not acknowledged, so the agent replays it on its next stream.
            bound.exception("failed to handle an agent message; closing the stream")
        finally:
            session.close()

    async def _handle(self, session: AgentSession, message: pb.ConnectRequest) -> None:
        kind = message.WhichOneof("message")
        node_id = session.node_id
        if kind == "heartbeat":
            self.nodes.registry.heartbeat(node_id, usage_from_proto(message.heartbeat.usage))
            return
        if kind == "task_update":
            try:
                await self.reports.apply_update(node_id, update_from_proto(message.task_update))
            except DomainError as exc:
                log.warning("dropping a malformed task update", node_id=node_id, error=str(exc))
            session.send(AckMessage(message.task_update.seq))
            return
        if kind == "log_batch":
            batch = message.log_batch
            lines = [log_line_from_proto(ln, batch.attempt) for ln in batch.lines]
            await self.reports.append_logs(node_id, batch.task_id, batch.attempt, lines)
            session.send(AckMessage(batch.seq))
            return
        if kind == "profiling":
            await self.profiling.ingest(node_id, _frames_of(message.profiling))
            session.send(AckMessage(message.profiling.seq))
            return
        if kind == "reports":
            # One commit and one ack for the lot; the same as the reports one by one, in order.
            reports = message.reports.reports
            await self.profiling.ingest(node_id, [f for r in reports if r.HasField("profiling")
                                                  for f in _frames_of(r.profiling)])  # fmt: skip
            if tasks := [r for r in reports if not r.HasField("profiling")]:
                await self.reports.apply_reports(node_id, [r for r in map(_report_from_proto, tasks) if r])
            if reports:
                session.send(AckMessage(max(_seq(r) for r in reports)))
            return
        log.warning("ignoring an unexpected message on the agent stream", node_id=node_id, kind=kind)

    async def FetchDataset(
        self, request: pb.FetchDatasetRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.FetchDatasetResponse]:
        await calling_node(context, self.identities, self.credentials)  # any admitted node may read datasets
        dataset, chunks = await self.datasets.read(resource_id(request.name, "datasets"))
        async for chunk, first in _with_first(chunks):
            yield pb.FetchDatasetResponse(
                chunk=chunk, sha256=dataset.sha256 if first else "", format=dataset.format if first else ""
            )

    async def FetchModel(
        self, request: pb.FetchModelRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.FetchModelResponse]:
        await calling_node(context, self.identities, self.credentials)  # any admitted node may read models
        pool, chunk_id = pool_of(request.name)
        if pool is Pool.DATA:  # the bytes a data chunk's create staged
            sha256, chunks = await self.data_pool.read_staged(chunk_id)
        else:
            model, chunks = await self.models.read(resource_id(request.name, "models"))
            sha256 = model.sha256
        async for chunk, first in _with_first(chunks):
            yield pb.FetchModelResponse(chunk=chunk, sha256=sha256 if first else "")

    async def UploadArtifact(
        self, request_iterator: AsyncIterator[pb.UploadArtifactRequest], context: grpc.aio.ServicerContext
    ) -> pb.UploadArtifactResponse:
        claimed = dict(context.invocation_metadata()).get(NODE_ID_METADATA, "")
        node_id = await calling_node(context, self.identities, self.credentials, claimed=claimed)
        first = await anext(aiter(request_iterator), None)
        if first is None or first.WhichOneof("message") != "header" or not node_id:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT,
                        f"send a header first, with the {NODE_ID_METADATA} metadata set", "BAD_UPLOAD")  # fmt: skip
        header = first.header

        async def chunks() -> AsyncIterator[bytes]:
            async for message in request_iterator:
                yield message.chunk

        artifact = await self.artifacts.upload(node_id, header.task_id, header.attempt, header.file_name, chunks())
        return pb.UploadArtifactResponse(artifact=artifact_to_proto(artifact))


async def _with_first(chunks: AsyncIterator[bytes]) -> AsyncIterator[tuple[bytes, bool]]:
    """Each chunk of a download and whether it is the first, which carries the file's facts;
    an empty file is one empty first chunk, so that the facts are always sent."""
    first = True
    async for chunk in chunks:
        yield chunk, first
        first = False
    if first:
        yield b"", True
