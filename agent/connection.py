"""The agent's one stream to the controller: hello, heartbeats, replayed updates, and what comes down.

Dials out (works behind NAT), reconnects with exponential backoff and full
jitter, and on every new stream replays whatever the controller has not acked.

Each stream is one session: after the hello and the welcome, three routines run
in one task group: the reader (assignments, controls, acks), the writer (the
outbox) and the heartbeat. When any of them fails the group cancels the others
and the stream is closed, so there is never a stream left open that carries no
heartbeats (the controller would requeue the node's work behind its back); the
link then reconnects. Task attempts do not belong to a session: they run in the
process's task group (`TaskSupervisor`) and outlive reconnects.
"""

from __future__ import annotations

import asyncio
import socket
from typing import TYPE_CHECKING, Awaitable, Callable, Iterator

import grpc
import structlog

from agent.backoff import Backoff
from agent.capabilities import HostProbe
from agent.clock import Clock, LoopClock, sleep_unless
from agent.errors import LinkError
from agent.outbox import Outbox
from agent.supervisor import TaskSupervisor
from aifarm.v1 import agent_service_pb2 as pb
from aifarm.v1 import agent_service_pb2_grpc

if TYPE_CHECKING:
    from agent.local_api.server import LocalApi
    from agent.profiling.sampler import ProfilingSampler

log = structlog.get_logger(__name__)

AGENT_VERSION = "0.1.0"
#: A controller that has not answered the hello by then is treated as a failed stream.
WELCOME_TIMEOUT_SECONDS = 30.0
#: Heartbeat interval when a welcome names none.
DEFAULT_HEARTBEAT_SECONDS = 2.0
#: A ReportBatch frame stops growing at this size (the controller takes messages of a few MiB).
MAX_BATCH_BYTES = 1 << 20

Send = Callable[[pb.ConnectRequest], Awaitable[None]]


class ControllerLink:
    def __init__(
        self,
        channel: grpc.aio.Channel,
        metadata: tuple[tuple[str, str], ...],
        node_id: str,
        labels: dict[str, str],
        probe: HostProbe,
        outbox: Outbox,
        supervisor: TaskSupervisor,
        *,
        backoff: Backoff,
        clock: Clock | None = None,
        connected: asyncio.Event | None = None,
        rendezvous_address: str = "",
        rendezvous_port: int = 0,
        local_api: LocalApi | None = None,
        sampler: ProfilingSampler | None = None,
    ) -> None:
        self.stub = agent_service_pb2_grpc.AgentServiceStub(channel)
        self.metadata = metadata
        self.node_id = node_id
        self.labels = labels
        self.probe = probe
        self.outbox = outbox
        self.supervisor = supervisor
        self.backoff = backoff
        #: Offered in the hello for hosting a gang's rank 0 (port 0: none).
        self.rendezvous = (rendezvous_address, rendezvous_port)
        #: The node-local API: its peer port and models go in each hello, its ticket key comes in each welcome.
        self.local_api = local_api
        #: Samples while the controller says so (ConnectResponse.profiling).
        self.sampler = sampler
        self.clock = clock or LoopClock()
        self._log = log.bind(node_id=node_id)
        #: Set while a stream is up and welcomed (tests and `aifarm up` wait on it).
        self.connected = connected if connected is not None else asyncio.Event()
        self._stopping = asyncio.Event()
        self._session_job: asyncio.Task[None] | None = None

    def stop(self) -> None:
        """Reconnect no more, and end the stream that is up now."""
        self._stopping.set()
        if self._session_job is not None:
            self._session_job.cancel()

    async def run(self) -> None:
        """Keep a stream up until stop()."""
        while not self._stopping.is_set():
            started = self.clock.monotonic()
            self._session_job = asyncio.create_task(self._session(), name=f"session {self.node_id}")
            try:
                await self._session_job
            except asyncio.CancelledError:
                me = asyncio.current_task()
                if not self._stopping.is_set() or (me is not None and me.cancelling()):
                    raise  # run() itself was cancelled, not just the session by stop()
            except grpc.aio.AioRpcError as exc:
                self._log.warning("controller stream ended", code=exc.code().name, detail=exc.details())
                if exc.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
                    self._log.error("the controller refused this node's credential (revoked, or from another farm);"
                                    " a revoked node cannot join again: start the agent with a new --data-dir to"
                                    " register as a new node (join token from --token-file or AIFARM_AGENT_TOKEN)")  # fmt: skip
            except Exception as exc:  # noqa: BLE001 - any failed session is recovered by reconnecting
                if not self._stopping.is_set():  # a stream torn down by stop() is not a failure
                    self._log.warning("controller stream failed", error=str(exc), error_type=type(exc).__name__)
            finally:
                self._session_job = None
                self.connected.clear()
            if self._stopping.is_set():
                return
            delay = self.backoff.next_delay(self.clock.monotonic() - started)
            self._log.info("reconnecting", in_seconds=round(delay, 2), unacked=len(self.outbox))
            await sleep_unless(self.clock, delay, self._stopping)

    def _hello(self) -> pb.ConnectRequest:
        return pb.ConnectRequest(
            hello=pb.Hello(
                node_id=self.node_id,
                hostname=socket.gethostname(),
                capabilities=self.probe.capabilities(),
                tasks=self.supervisor.known(),
                agent_version=AGENT_VERSION,
                labels=self.labels,
                accepts_assignment_batches=True,
                rendezvous_address=self.rendezvous[0],
                rendezvous_port=self.rendezvous[1],
                peer_port=self.local_api.peer_port if self.local_api else 0,
                held_models=self.local_api.held_models() if self.local_api else (),
                samples_profiling=self.sampler is not None,
            )
        )

    async def _session(self) -> None:
        call = self.stub.Connect(metadata=self.metadata)
        try:
            welcome = await self._handshake(call)
            send = _serialized(call)
            try:
                async with asyncio.TaskGroup() as session:
                    session.create_task(self._routine("reader", self._read(call)))
                    session.create_task(self._routine("writer", self._write(send, welcome.accepts_report_batches)))
                    session.create_task(self._routine("heartbeat", self._beat(send, welcome.heartbeat_interval_ms)))
            except BaseExceptionGroup as group:
                # The routine that failed first; the others were cancelled because of it.
                raise group.exceptions[0] from None
        finally:
            call.cancel()

    async def _handshake(self, call: grpc.aio.StreamStreamCall) -> pb.Welcome:
        async with asyncio.timeout(WELCOME_TIMEOUT_SECONDS):
            await call.write(self._hello())
            first = await call.read()
        if first is grpc.aio.EOF or first.WhichOneof("message") != "welcome":
            raise LinkError("the controller did not answer the hello with a welcome")
        welcome = first.welcome
        self.backoff.fit_ttl(welcome.heartbeat_ttl_ms / 1000)
        if self.local_api is not None:
            self.local_api.peer_key.value = welcome.peer_ticket_key
        for stale in welcome.superseded:
            await self.supervisor.drop(stale.task_id, stale.attempt)
        self._log.info("connected to controller", reattached=len(welcome.reattached),
                       superseded=len(welcome.superseded), replaying=len(self.outbox))  # fmt: skip
        self.connected.set()
        return welcome

    async def _routine(self, name: str, body: Awaitable[None]) -> None:
        try:
            await body
        except asyncio.CancelledError:
            raise
        except grpc.aio.AioRpcError:
            raise  # the stream itself broke; run() says how
        except Exception as exc:
            # A LinkError says all there is to say; anything else is a bug worth its traceback.
            self._log.warning("session routine failed", routine=name, error=str(exc), error_type=type(exc).__name__,
                              exc_info=not isinstance(exc, LinkError))  # fmt: skip
            raise

    async def _read(self, call: grpc.aio.StreamStreamCall) -> None:
        while (message := await call.read()) is not grpc.aio.EOF:
            kind = message.WhichOneof("message")
            if kind == "assignment":
                self.supervisor.start(message.assignment)
            elif kind == "assignments":
                for assignment in message.assignments.assignments:
                    self.supervisor.start(assignment)
            elif kind == "control":
                self.supervisor.control(message.control)
            elif kind == "ack":
                self.outbox.ack(message.ack.seq)
            elif kind == "profiling" and self.sampler is not None:
                self.sampler.apply(message.profiling)
        raise LinkError("the controller closed the stream")

    async def _write(self, send: Send, batches: bool) -> None:
        """Send the outbox in order: first what is unacked from before, then what is put as it comes.

        To a controller that takes report batches, what waits goes in ReportBatch frames (one commit
        and one ack each on the controller, not one per message); to an older one, one by one."""
        sent = 0
        while True:
            waiting = self.outbox.after(sent)
            for frame in report_frames(waiting) if batches else (m for _, m in waiting):
                await send(frame)
            if waiting:
                sent = waiting[-1][0]
            await self.outbox.wait()

    async def _beat(self, send: Send, interval_ms: int) -> None:
        interval = interval_ms / 1000 or DEFAULT_HEARTBEAT_SECONDS
        while True:
            await send(pb.ConnectRequest(heartbeat=pb.Heartbeat(usage=self.probe.usage())))
            await self.clock.sleep(interval)


def report_frames(messages: list[tuple[int, pb.ConnectRequest]]) -> Iterator[pb.ConnectRequest]:
    """Outbox messages (task updates, log batches) in order, as ReportBatch frames of at most
    MAX_BATCH_BYTES (a single larger message goes alone)."""
    batch, size = pb.ReportBatch(), 0
    for _, message in messages:
        kind = message.WhichOneof("message")
        report = pb.Report(**{kind: getattr(message, kind)})
        if batch.reports and size + report.ByteSize() > MAX_BATCH_BYTES:
            yield pb.ConnectRequest(reports=batch)
            batch, size = pb.ReportBatch(), 0
        batch.reports.append(report)
        size += report.ByteSize()
    if batch.reports:
        yield pb.ConnectRequest(reports=batch)


def _serialized(call: grpc.aio.StreamStreamCall) -> Send:
    """One write at a time on `call`: gRPC allows a single send in flight per stream."""
    lock = asyncio.Lock()

    async def send(message: pb.ConnectRequest) -> None:
        async with lock:
            await call.write(message)

    return send
