"""The agent's one stream to the controller: hello, heartbeats, replayed updates, and what comes down.

Dials out (works behind NAT), reconnects with exponential backoff and full
jitter, and on every new stream replays whatever the controller has not acked.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import time

import grpc
import structlog

from agent.capabilities import HostProbe
from agent.outbox import Outbox
from agent.supervisor import TaskSupervisor
from aifarm.v1 import agent_service_pb2 as pb
from aifarm.v1 import agent_service_pb2_grpc

log = structlog.get_logger(__name__)

AGENT_VERSION = "0.1.0"


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
        backoff_initial: float,
        backoff_max: float,
    ) -> None:
        self.stub = agent_service_pb2_grpc.AgentServiceStub(channel)
        self.metadata = metadata
        self.node_id = node_id
        self.labels = labels
        self.probe = probe
        self.outbox = outbox
        self.supervisor = supervisor
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        #: The cap in force: lowered once a welcome says how soon a silent node is lost.
        self.backoff_cap = backoff_max
        #: Set while a stream is up and welcomed (tests and `aifarm up` wait on it).
        self.connected = asyncio.Event()
        self._stopping = False

    def stop(self) -> None:
        """Reconnect no more. A flag, because grpc turns a cancelled read on a closing
        channel into an RpcError, which would otherwise just look like a lost stream."""
        self._stopping = True

    async def run(self) -> None:
        """Keep a stream up until stop()."""
        failures = 0
        while not self._stopping:
            started = time.monotonic()
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except grpc.aio.AioRpcError as exc:
                log.warning("controller stream ended", node_id=self.node_id, code=exc.code().name,
                            detail=exc.details())  # fmt: skip
                if exc.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
                    log.error("the controller refused this agent's token; pass the right one with --token "
                              "(it is in <controller data dir>/agent_token)")  # fmt: skip
            except Exception:
                if not self._stopping:  # a stream torn down by stop() is not a failure
                    log.exception("controller stream failed", node_id=self.node_id)
            self.connected.clear()
            if self._stopping:
                return
            # A stream that lived a while resets the backoff.
            failures = 0 if time.monotonic() - started > 30 else failures + 1
            delay = random.uniform(0, min(self.backoff_cap, self.backoff_initial * 2 ** min(failures, 16)))
            log.info("reconnecting", node_id=self.node_id, in_seconds=round(delay, 2), unacked=len(self.outbox))
            await asyncio.sleep(delay)

    def _hello(self) -> pb.ConnectRequest:
        return pb.ConnectRequest(
            hello=pb.Hello(
                node_id=self.node_id,
                hostname=socket.gethostname(),
                capabilities=self.probe.capabilities(),
                tasks=self.supervisor.known(),
                agent_version=AGENT_VERSION,
                labels=self.labels,
            )
        )

    async def _session(self) -> None:
        call = self.stub.Connect(metadata=self.metadata)
        try:
            await call.write(self._hello())
            first = await call.read()
            if first is grpc.aio.EOF or first.WhichOneof("message") != "welcome":
                raise RuntimeError("the controller did not answer the hello with a welcome")
            welcome = first.welcome
            # Retry several times within the node's TTL (the restart grace is meant to be no
            # shorter), or its running work is requeued while the agent sleeps.
            ttl = welcome.heartbeat_ttl_ms / 1000
            self.backoff_cap = min(self.backoff_max, max(self.backoff_initial, ttl / 4)) if ttl > 0 else self.backoff_max
            for stale in welcome.superseded:
                await self.supervisor.drop(stale.task_id, stale.attempt)
            log.info("connected to controller", node_id=self.node_id, reattached=len(welcome.reattached),
                     superseded=len(welcome.superseded), replaying=len(self.outbox))  # fmt: skip
            self.connected.set()
            writer = asyncio.create_task(self._write(call, welcome.heartbeat_interval_ms / 1000))
            try:
                await self._read(call)
            finally:
                writer.cancel()
                with contextlib.suppress(asyncio.CancelledError, grpc.aio.AioRpcError):
                    await writer
        finally:
            call.cancel()

    async def _write(self, call: grpc.aio.StreamStreamCall, interval: float) -> None:
        sent = 0
        next_beat = 0.0
        while True:
            for seq, message in self.outbox.after(sent):
                await call.write(message)
                sent = seq
            now = time.monotonic()
            if now >= next_beat:
                await call.write(pb.ConnectRequest(heartbeat=pb.Heartbeat(usage=self.probe.usage())))
                next_beat = now + interval
            await self.outbox.wait(max(0.0, next_beat - time.monotonic()))

    async def _read(self, call: grpc.aio.StreamStreamCall) -> None:
        while (message := await call.read()) is not grpc.aio.EOF:
            kind = message.WhichOneof("message")
            if kind == "assignment":
                self.supervisor.start(message.assignment)
            elif kind == "control":
                await self.supervisor.control(message.control)
            elif kind == "ack":
                self.outbox.ack(message.ack.seq)
        raise RuntimeError("the controller closed the stream")
