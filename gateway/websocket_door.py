"""AI Farm's WebSocket worker protocol (seeds/001), as another door onto AgentService.

Each WebSocket connection becomes one node session over gRPC: the worker's Client-ID is the
node id, the door registers it (AgentService.Register, with the credential the worker
presented) and holds its AgentService.Connect stream. So liveness, attempts, requeues and
exactly-once stay the controller's: a dropped socket is a closed stream, a lost node's work is
requeued as a new attempt by the controller, and a superseded attempt is what its Welcome says.

Authentication. The handshake's `Authorization: Bearer <agent token>` goes to Register as the
join token (as the REST door passes keys through), with the worker's address in
x-forwarded-for. Without one (tolgatasci/ai-farm's client sends only Client-ID), Register is let
through only under the legacy-open group "aifarm-workers" (`--open-legacy aifarm-workers` on the
controller, from loopback or a --trusted-network). Register answers a node secret for a new id, or
ALREADY_EXISTS for an admitted one, which still proves the credential was accepted (the auth check
comes before the servicer); the door then connects with the secret it got at admission, kept
in its state file (gateway.websocket_state; `aifarm up` keeps it in the data directory) or,
without one, in this process only. A Client-ID whose secret the door does not hold (admitted
through another gateway, or before a restart without a state file) is refused with 1008;
revoking the node lets it be admitted again.

Liveness. The door pings the socket (aiohttp's heartbeat) and beats upstream while pongs come
back, because the original client sends its own `heartbeat` only after 30 s of silence; a worker
that stops answering has its socket closed, its stream ends, and the controller's TTL does the rest.
`heartbeat` messages feed usage (and are answered `heartbeat_ack` once handled: forwarded when a
beat is due upstream, at most once per controller heartbeat interval).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import ssl
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import structlog
from aiohttp import WSCloseCode, WSMsgType, web

from aifarm.v1 import agent_service_pb2 as pb
from aifarm.v1 import agent_service_pb2_grpc, task_pb2
from gateway import websocket_messages as wm
from gateway.listeners import WEBSOCKET_PORT, served_url
from gateway.websocket_state import SecretFile

log = structlog.get_logger(__name__)

#: The listener's name in endpoints.json ("websocket": {"aifarm": url}).
LISTENER_NAME = "aifarm"
#: The legacy-open group that admits workers sending no credential (controller --open-legacy).
LEGACY_GROUP = "aifarm-workers"
#: How long the door waits for a first frame (its system information makes the node's capabilities).
FIRST_FRAME_SECONDS = 10.0
WELCOME_SECONDS = 15.0
#: Socket pings: a worker that leaves one unanswered for half this long is gone.
DEFAULT_PING_SECONDS = 5.0
#: Largest frame taken from a worker (a result with a long error log fits).
MAX_FRAME_BYTES = 4 * 1024 * 1024
_NODE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
_AGENT_VERSION = "aifarm-websocket-door/1"


class _Close(Exception):
    """End the connection with this close code (after `frame`, when given)."""

    def __init__(self, code: int, reason: str, frame: dict[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.frame = frame


@dataclass
class _Known:
    """What the door remembers of one Client-ID across its connections (this process only)."""

    secret: str = ""
    #: Attempts given to the worker and not yet acknowledged as ended: reported in the next Hello,
    #: so a worker that reconnects within the TTL keeps its task (the controller reattaches it).
    attempts: dict[str, int] = field(default_factory=dict)
    #: Log lines sent per attempt, so a reconnect continues their numbering.
    lines: dict[tuple[str, int], int] = field(default_factory=dict)
    live: WorkerSession | None = None


class WebSocketDoor:
    """The AI Farm WebSocket listener: ``await start()`` returns its URL; ``shutdown()`` is safe twice."""

    def __init__(
        self, channel: grpc.aio.Channel, host: str = "0.0.0.0", port: int = WEBSOCKET_PORT, *,
        ssl_context: ssl.SSLContext | None = None, ping_seconds: float = DEFAULT_PING_SECONDS, state_file: Path | None = None,
    ) -> None:  # fmt: skip
        self._stub = agent_service_pb2_grpc.AgentServiceStub(channel)
        self._host, self._port = host, port
        self._ssl = ssl_context
        self.ping_seconds = ping_seconds
        self._runner: web.AppRunner | None = None
        self._state = SecretFile(state_file) if state_file is not None else None
        self._known: dict[str, _Known] = {}
        self.url = ""

    async def start(self) -> str:
        if self._state is not None:
            self._known = {client_id: _Known(secret=secret) for client_id, secret in self._state.load().items()}
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._connection)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, self._port, reuse_address=True, ssl_context=self._ssl).start()
        self.url = served_url("wss" if self._ssl else "ws", self._host, *self._runner.addresses[0][:2])
        log.info("websocket.listening", listener=LISTENER_NAME, url=self.url)
        return self.url

    async def shutdown(self) -> None:
        for known in list(self._known.values()):
            if known.live is not None:
                await known.live.close(WSCloseCode.GOING_AWAY, "the gateway is shutting down")
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    @property
    def connected(self) -> int:
        """Workers with a live session (the benchmark reads it)."""
        return sum(1 for k in self._known.values() if k.live is not None)

    async def _connection(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=self.ping_seconds, max_msg_size=MAX_FRAME_BYTES)
        await ws.prepare(request)
        client_id = request.headers.get("Client-ID", "").strip()
        peer = request.remote or ""
        bound = log.bind(node_id=client_id, peer=peer)
        try:
            if not _NODE_ID.match(client_id):
                raise _Close(WSCloseCode.POLICY_VIOLATION, "send a Client-ID header: letters, digits, '-', '_'"
                                                           " (at most 63)")  # fmt: skip
            known = self._known.setdefault(client_id, _Known())
            await self._admit(client_id, known, _forwarded(request, peer))
            first = await _first_frame(ws)
            if known.live is not None:
                await known.live.close(WSCloseCode.POLICY_VIOLATION, "replaced by a newer connection of this Client-ID")
            session = WorkerSession(self._stub, ws, client_id, known, peer)
            known.live = session
            try:
                await session.run(first)
            finally:
                if known.live is session:
                    known.live = None
        except _Close as close:
            bound.info("websocket.closing", code=int(close.code), reason=close.reason)
            await _close(ws, close)
        except Exception:
            bound.exception("websocket.failed")
            await _close(ws, _Close(WSCloseCode.INTERNAL_ERROR, "the door failed on this connection; its log says why"))
        return ws

    async def _admit(self, client_id: str, known: _Known, metadata: list[tuple[str, str]]) -> None:
        """Register the Client-ID with the worker's credential; _Close(1008) when the controller refuses it."""
        try:
            reply = await self._stub.Register(pb.RegisterRequest(node_id=client_id), metadata=metadata, timeout=15)
        except grpc.aio.AioRpcError as exc:
            code = exc.code()
            if code is grpc.StatusCode.ALREADY_EXISTS:
                return  # admitted before, and this credential would have admitted it: connect as it
            if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED,
                        grpc.StatusCode.INVALID_ARGUMENT):  # fmt: skip
                raise _Close(WSCloseCode.POLICY_VIOLATION, _short(exc.details() or code.name)) from None
            raise _Close(WSCloseCode.TRY_AGAIN_LATER, f"the controller is not answering ({code.name})") from None
        known.secret = reply.node_secret
        known.attempts.clear()
        if self._state is not None:
            self._state.save({k: v.secret for k, v in self._known.items() if v.secret})
        log.info("websocket.worker_admitted", node_id=client_id)


def _forwarded(request: web.Request, peer: str) -> list[tuple[str, str]]:
    """The worker's credential as the controller reads it, and its address (x-forwarded-for)."""
    metadata = [("x-forwarded-for", peer)] if peer else []
    auth = request.headers.get("Authorization", "")
    if auth.isascii() and auth.isprintable() and auth.strip():
        metadata.append(("authorization", auth.strip()))
    return metadata


async def _first_frame(ws: web.WebSocketResponse) -> dict[str, Any] | None:
    """The first message, or None when none comes within FIRST_FRAME_SECONDS."""
    try:
        msg = await ws.receive(timeout=FIRST_FRAME_SECONDS)
    except asyncio.TimeoutError:
        return None
    if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
        raise _Close(WSCloseCode.OK, "the worker closed")
    return _parsed(msg)


def _parsed(msg: Any) -> dict[str, Any]:
    if msg.type is not WSMsgType.TEXT:
        raise _Close(WSCloseCode.UNSUPPORTED_DATA, "frames must be JSON text")
    try:
        return wm.parse_frame(msg.data)
    except wm.BadMessage as exc:
        raise _Close(WSCloseCode.UNSUPPORTED_DATA, str(exc)) from None


async def _close(ws: web.WebSocketResponse, close: _Close) -> None:
    if ws.closed:
        return
    with contextlib.suppress(Exception):
        if close.frame is not None:
            await ws.send_json(close.frame)
        await ws.close(code=close.code, message=close.reason.encode()[:120])


def _short(text: str) -> str:
    return text if len(text) <= 120 else text[:117] + "..."


class WorkerSession:
    """One worker connection as one AgentService.Connect stream."""

    def __init__(
        self, stub: agent_service_pb2_grpc.AgentServiceStub, ws: web.WebSocketResponse, client_id: str,
        known: _Known, peer: str,
    ) -> None:  # fmt: skip
        self.stub = stub
        self.ws = ws
        self.node_id = client_id
        self.known = known
        self.peer = peer
        self.log = log.bind(node_id=client_id)
        self._call: grpc.aio.StreamStreamCall | None = None
        self._seq = itertools.count(1)
        self._up_lock = asyncio.Lock()
        self._down_lock = asyncio.Lock()
        #: Assignments placed on the node and not yet given (a worker gets one per task_request).
        self._queue: deque[pb.Assignment] = deque()
        self._wants_task = False
        #: The assignment of each attempt given in this session (init_distributed reads it).
        self._given: dict[str, pb.Assignment] = {}
        #: Attempts the controller said are superseded, for a clear refusal of their late messages.
        self._stale: dict[str, int] = {}
        #: task_result updates sent and not yet acknowledged: seq -> task id.
        self._results: dict[int, str] = {}
        #: The last progress sent per task (an update without one must not reset it).
        self._progress: dict[str, float] = {}
        self._caps = wm.capabilities(None)
        self._usage = wm.usage(None, self._caps)
        self._interval = 2.0
        self._last_up = 0.0

    # -- the session -------------------------------------------------------------------------------

    async def run(self, first: dict[str, Any] | None) -> None:
        typed = first is not None and "type" in first
        info = None if first is None else (first.get("system_info") if typed else first)
        self._caps = wm.capabilities(info if isinstance(info, dict) else None)
        self._usage = wm.usage(info if isinstance(info, dict) else None, self._caps)
        metadata = [("x-forwarded-for", self.peer)] if self.peer else []
        if self.known.secret:
            metadata.append(("authorization", f"Bearer {self.known.secret}"))
        self._call = self.stub.Connect(metadata=metadata)
        jobs: list[asyncio.Task[None]] = []
        try:
            await self._hello(info if isinstance(info, dict) else None)
            # Three routines; the first to end (the socket closed, the stream ended, a close to send)
            # ends the session, and its exception is the close the worker gets.
            jobs = [asyncio.create_task(self._from_worker(first if typed else None), name=f"ws {self.node_id}"),
                    asyncio.create_task(self._from_controller(), name=f"stream {self.node_id}"),
                    asyncio.create_task(self._beat(), name=f"beat {self.node_id}")]  # fmt: skip
            done, _ = await asyncio.wait(jobs, return_when=asyncio.FIRST_COMPLETED)
            for job in done:
                if (exc := job.exception()) is not None:
                    raise exc
        finally:
            for job in jobs:
                job.cancel()
            await asyncio.gather(*jobs, return_exceptions=True)
            self._call.cancel()
            self.log.info("websocket.session_ended", running=sorted(self.known.attempts))

    async def close(self, code: int, reason: str) -> None:
        """End this session from outside (a newer connection, shutdown)."""
        await _close(self.ws, _Close(code, reason))
        if self._call is not None:
            self._call.cancel()

    async def _hello(self, info: dict[str, Any] | None) -> None:
        assert self._call is not None
        running = [pb.TaskAttempt(task_id=t, attempt=a, state=task_pb2.TASK_STATE_RUNNING)
                   for t, a in self.known.attempts.items()]  # fmt: skip
        address, port = wm.rendezvous_offer(self.peer)
        hello = pb.Hello(node_id=self.node_id, hostname=wm.hostname(info, self.peer or self.node_id),
                         capabilities=self._caps, tasks=running, agent_version=_AGENT_VERSION,
                         labels={"aifarm.dev/door": "websocket"}, accepts_assignment_batches=True,
                         rendezvous_address=address, rendezvous_port=port)  # fmt: skip
        try:
            async with asyncio.timeout(WELCOME_SECONDS):
                await self._call.write(pb.ConnectRequest(hello=hello))
                first = await self._call.read()
        except grpc.aio.AioRpcError as exc:
            raise self._refusal(exc) from None
        except asyncio.TimeoutError:
            raise _Close(WSCloseCode.TRY_AGAIN_LATER, "the controller did not welcome this worker") from None
        if first is grpc.aio.EOF or first.WhichOneof("message") != "welcome":
            raise _Close(WSCloseCode.TRY_AGAIN_LATER, "the controller did not welcome this worker")
        welcome = first.welcome
        self._interval = (welcome.heartbeat_interval_ms or 2000) / 1000
        for stale in welcome.superseded:
            # Its attempt was requeued while the worker was away: what it still says of it is refused.
            self.known.attempts.pop(stale.task_id, None)
            self._stale[stale.task_id] = stale.attempt
        self.log.info("websocket.worker_connected", reattached=[a.task_id for a in welcome.reattached],
                      superseded=[a.task_id for a in welcome.superseded], cpu_cores=self._caps.cpu_cores,
                      memory_mb=self._caps.memory_mb, gpus=len(self._caps.gpus))  # fmt: skip

    def _refusal(self, exc: grpc.aio.AioRpcError) -> _Close:
        if exc.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
            reason = ("this Client-ID was admitted through another gateway process or before this one restarted;"
                      " its node credential is not here" if not self.known.secret else exc.details() or "refused")  # fmt: skip
            self.log.warning("websocket.session_refused", code=exc.code().name, detail=exc.details())
            return _Close(WSCloseCode.POLICY_VIOLATION, _short(reason))
        return _Close(WSCloseCode.TRY_AGAIN_LATER, f"the controller stream failed ({exc.code().name})")

    # -- sending ------------------------------------------------------------------------------------

    async def _up(self, request: pb.ConnectRequest) -> None:
        assert self._call is not None
        async with self._up_lock:  # gRPC allows one write in flight per stream
            await self._call.write(request)
        self._last_up = asyncio.get_running_loop().time()

    async def _down(self, frame: dict[str, Any]) -> None:
        async with self._down_lock:
            await self.ws.send_json(frame)

    async def _update(self, update: pb.TaskUpdate, lines: list[str] | None = None, *, result: bool = False) -> int:
        """Send one attempt's update (after its log lines, in one batch: one commit, one ack); its seq.

        The controller takes every update's progress as the attempt's progress, so one that says
        none carries the last one sent. A `result` is noted for its task_result_ack before it is
        written, since the ack may be read before this returns."""
        key = update.task_id
        if not update.progress:
            update.progress = self._progress.get(key, 0.0)
        self._progress[key] = update.progress
        update.time.GetCurrentTime()
        batch = self._log_batch(update.task_id, update.attempt, lines) if lines else None
        update.seq = next(self._seq)
        if result:
            self._results[update.seq] = update.task_id
        if batch is None:
            await self._up(pb.ConnectRequest(task_update=update))
            return update.seq
        await self._up(pb.ConnectRequest(reports=pb.ReportBatch(reports=[pb.Report(log_batch=batch),
                                                                         pb.Report(task_update=update)])))  # fmt: skip
        return update.seq

    def _log_batch(self, task_id: str, attempt: int, lines: list[str]) -> pb.TaskLogBatch:
        key = (task_id, attempt)
        start = self.known.lines.get(key, 0)
        self.known.lines[key] = start + len(lines)
        return pb.TaskLogBatch(seq=next(self._seq), task_id=task_id, attempt=attempt, lines=[
            task_pb2.LogLine(seq=start + i, attempt=attempt, stream=task_pb2.LOG_STREAM_SYSTEM, text=text)
            for i, text in enumerate(lines, start=1)
        ])  # fmt: skip

    # -- from the controller ------------------------------------------------------------------------

    async def _from_controller(self) -> None:
        assert self._call is not None
        try:
            while (frame := await self._call.read()) is not grpc.aio.EOF:
                kind = frame.WhichOneof("message")
                if kind == "assignment":
                    self._queue.append(frame.assignment)
                elif kind == "assignments":
                    self._queue.extend(frame.assignments.assignments)
                elif kind == "control":
                    await self._control(frame.control)
                elif kind == "ack":
                    await self._acked(frame.ack.seq)
                await self._give()
        except grpc.aio.AioRpcError as exc:
            if exc.code() is grpc.StatusCode.CANCELLED:
                return
            raise self._refusal(exc) from None
        raise _Close(WSCloseCode.GOING_AWAY, "the controller ended this worker's session (lost, or replaced)")

    async def _give(self) -> None:
        """The next queued assignment, to a worker that asked for one."""
        if not self._wants_task or not self._queue:
            return
        assignment = self._queue.popleft()
        task_id = assignment.task.name.removeprefix("tasks/")
        self._wants_task = False
        self._given[task_id] = assignment
        self.known.attempts[task_id] = assignment.attempt
        self._stale.pop(task_id, None)
        await self._down(wm.task_message(assignment, wm.rendezvous(assignment)))
        await self._update(pb.TaskUpdate(task_id=task_id, attempt=assignment.attempt, state=task_pb2.TASK_STATE_RUNNING,
                                         reason=f"running on WebSocket worker {self.node_id}"))  # fmt: skip
        self.log.info("websocket.task_given", task_id=task_id, attempt=assignment.attempt)

    async def _control(self, control: pb.TaskControl) -> None:
        task_id = control.task_id
        queued = next((a for a in self._queue if a.task.name.removeprefix("tasks/") == task_id), None)
        if queued is not None and control.action in (pb.TASK_ACTION_CANCEL, pb.TASK_ACTION_STOP):
            self._queue.remove(queued)  # never given: nothing to tell the worker
            return
        if self.known.attempts.get(task_id) != control.attempt:
            return
        await self._down(wm.control_message(control))
        self.log.info("websocket.control_sent", task_id=task_id, action=wm.control_message(control)["action"])
        # The document's worker has no message that says it paused: the door reports what it was told.
        state = {pb.TASK_ACTION_PAUSE: task_pb2.TASK_STATE_PAUSED, pb.TASK_ACTION_RESUME: task_pb2.TASK_STATE_RUNNING}
        if control.action in state:
            verb = "paused" if control.action == pb.TASK_ACTION_PAUSE else "resumed"
            await self._update(pb.TaskUpdate(task_id=task_id, attempt=control.attempt, state=state[control.action],
                                             reason=f"{verb} by user (control sent to the WebSocket worker)"))  # fmt: skip
        elif control.action == pb.TASK_ACTION_CANCEL:
            # Ended by the controller already: what the worker still says of it is refused.
            self.known.attempts.pop(task_id, None)
            self._stale[task_id] = control.attempt

    async def _acked(self, seq: int) -> None:
        """task_result_ack for each result stored now (the ack says every update up to seq is)."""
        for done in sorted(s for s in self._results if s <= seq):
            task_id = self._results.pop(done)
            if self.known.attempts.get(task_id) is not None:
                self.known.lines.pop((task_id, self.known.attempts.pop(task_id)), None)
            self._given.pop(task_id, None)
            await self._down({"type": "task_result_ack", "task_id": task_id, "received": True,
                              "timestamp": wm.now_iso()})  # fmt: skip
            self.log.info("websocket.result_stored", task_id=task_id)

    # -- from the worker ----------------------------------------------------------------------------

    async def _beat(self) -> None:
        """Heartbeats upstream while the socket is up (aiohttp's pings close it when the worker is gone);
        skipped when something else went up within the interval (any message keeps the node alive)."""
        while not self.ws.closed:
            if self._beat_due():
                await self._up(pb.ConnectRequest(heartbeat=pb.Heartbeat(usage=self._usage)))
            await asyncio.sleep(self._interval)

    def _beat_due(self) -> bool:
        """Nothing went up for (about) an interval: the controller should hear from this node."""
        return asyncio.get_running_loop().time() - self._last_up >= self._interval * 0.9

    async def _from_worker(self, first: dict[str, Any] | None) -> None:
        if first is not None:
            await self._message(first)
        async for msg in self.ws:
            if msg.type is WSMsgType.ERROR:
                return
            await self._message(_parsed(msg))

    async def _message(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind is None:
            # The original client's untyped system information (again): usage only, the node stays as it joined.
            self._usage = wm.usage(message, self._caps)
            return
        if kind not in wm.CLIENT_TYPES:
            raise _Close(WSCloseCode.PROTOCOL_ERROR, "unknown message type",
                         wm.error_message("UNKNOWN_MESSAGE_TYPE", f"unknown message type {kind!r}; known:"
                                          f" {', '.join(sorted(wm.CLIENT_TYPES))}"))  # fmt: skip
        try:
            await getattr(self, f"_on_{kind}")(message)
        except wm.BadMessage as exc:
            await self._down(wm.error_message(exc.code, str(exc), type_of=kind))

    async def _on_heartbeat(self, message: dict[str, Any]) -> None:
        info = message.get("system_info")
        if isinstance(info, dict):
            self._usage = wm.usage(info, self._caps)
        # Liveness is in memory on the controller and usage is coarse (DESIGN): a beat goes up at
        # most once an interval, as _beat sends them; the newest usage rides on the next one.
        if self._beat_due():
            await self._up(pb.ConnectRequest(heartbeat=pb.Heartbeat(usage=self._usage)))
        await self._down({"type": "heartbeat_ack", "received": True, "timestamp": wm.now_iso()})

    async def _on_task_request(self, message: dict[str, Any]) -> None:
        self._wants_task = True
        await self._give()

    def _attempt(self, message: dict[str, Any]) -> tuple[str, int]:
        """The attempt a message is about: the one given to this worker, else BadMessage (refused)."""
        task_id = wm.task_id_of(message)
        attempt = self.known.attempts.get(task_id)
        if attempt is None:
            if task_id in self._stale:
                raise wm.BadMessage("STALE_ATTEMPT", f"attempt {self._stale[task_id]} of task {task_id} is no longer"
                                    " this worker's (requeued or ended); this message is refused", )  # fmt: skip
            raise wm.BadMessage("NOT_ASSIGNED", f"task {task_id} is not assigned to this worker")
        return task_id, attempt

    async def _on_task_progress(self, message: dict[str, Any]) -> None:
        _, attempt = self._attempt(message)
        await self._update(wm.progress_update(message, attempt))

    async def _on_task_result(self, message: dict[str, Any]) -> None:
        task_id, attempt = self._attempt(message)
        update = wm.result_update(message, attempt)
        # Answered task_result_ack once the controller acks it (stored), in _acked.
        await self._update(update, wm.result_log_lines(message), result=True)
        self.log.info("websocket.result_sent", task_id=task_id, attempt=attempt,
                      state=task_pb2.TaskState.Name(update.state))  # fmt: skip

    async def _on_init_distributed(self, message: dict[str, Any]) -> None:
        task_id, _ = self._attempt(message)
        # The very next frame must be the answer (the original reads it with recv()).
        await self._down(wm.distributed_init_message(task_id, wm.rendezvous(self._given.get(task_id))))

    async def _on_distributed_ready(self, message: dict[str, Any]) -> None:
        self._attempt(message)
        self.log.info("websocket.distributed_ready", task_id=wm.task_id_of(message), rank=message.get("rank"))

    async def _on_distributed_cleanup(self, message: dict[str, Any]) -> None:
        task_id, attempt = self._attempt(message)
        lines = wm.result_log_lines(message)
        if lines:
            await self._up(pb.ConnectRequest(log_batch=self._log_batch(task_id, attempt, lines)))
