"""Node identity through the wire (issue 10, item 1): the join token only admits a node; from then on a node is
its credential, and it acts only on its own attempts. `Wire` below is a node written against the protocol alone,
as an impostor's script would be."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest

from aifarm.v1 import agent_service_pb2 as pb
from aifarm.v1 import agent_service_pb2_grpc, node_pb2, node_service_pb2, node_service_pb2_grpc, system_service_pb2
from aifarm.v1 import system_service_pb2_grpc, task_pb2
from aifarm.v1 import task_service_pb2 as tpb
from served_controller import AGENT_TOKEN, API_KEY, METADATA, Served

pytestmark = pytest.mark.asyncio(loop_scope="function")


def bearer(secret: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {secret}"),)


async def register(served: Served, node_id: str, token: str = AGENT_TOKEN) -> str:
    stub = agent_service_pb2_grpc.AgentServiceStub(served.channel)
    return (await stub.Register(pb.RegisterRequest(node_id=node_id), metadata=bearer(token))).node_secret


class Wire:
    """One Connect stream: a hello, then whatever the test sends; what comes down is queued."""

    def __init__(self, served: Served, secret: str, node_id: str, *, channel: grpc.aio.Channel | None = None,
                 tasks: list[pb.TaskAttempt] | None = None) -> None:  # fmt: skip
        """With `channel` (mutual TLS) the node is its certificate and `secret` is "" (no bearer)."""
        self.stub = agent_service_pb2_grpc.AgentServiceStub(channel or served.channel)
        self.secret, self.node_id = secret, node_id
        self.call = self.stub.Connect(metadata=bearer(secret) if secret else ())
        self.tasks = tasks or []
        self.down: asyncio.Queue[pb.ConnectResponse] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None

    async def open(self) -> pb.Welcome:
        caps = node_pb2.Capabilities(cpu_cores=4, memory_mb=4096)
        await self.call.write(pb.ConnectRequest(hello=pb.Hello(node_id=self.node_id, capabilities=caps,
                                                                tasks=self.tasks)))  # fmt: skip
        first = await self.call.read()
        assert first.WhichOneof("message") == "welcome", first
        self._reader = asyncio.create_task(self._read())
        return first.welcome

    async def _read(self) -> None:
        try:
            while (message := await self.call.read()) is not grpc.aio.EOF:
                self.down.put_nowait(message)
        except grpc.aio.AioRpcError:
            pass

    async def next(self, kind: str, timeout: float = 10) -> pb.ConnectResponse:
        while True:
            message = await asyncio.wait_for(self.down.get(), timeout)
            if message.WhichOneof("message") == kind:
                return message

    async def send(self, **message: object) -> None:
        await self.call.write(pb.ConnectRequest(**message))  # type: ignore[arg-type]

    async def closed(self, timeout: float = 10) -> bool:
        assert self._reader is not None
        await asyncio.wait_for(self._reader, timeout)
        return True

    def close(self) -> None:
        self.call.cancel()
        if self._reader is not None:
            self._reader.cancel()


async def refused(call, code: grpc.StatusCode) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    assert caught.value.code() == code, caught.value.details()
    return caught.value.details()


async def create(served: Served, task_id: str) -> None:
    task = task_pb2.Task(script=task_pb2.ScriptSpec(source="print(1)"))
    await served.tasks.CreateTask(tpb.CreateTaskRequest(task=task, task_id=task_id), metadata=METADATA)


async def state(served: Served, task_id: str) -> task_pb2.Task:
    return await served.tasks.GetTask(tpb.GetTaskRequest(name=f"tasks/{task_id}"), metadata=METADATA)


@pytest.fixture
async def wires() -> AsyncIterator[list[Wire]]:
    opened: list[Wire] = []
    yield opened
    for wire in opened:
        wire.close()


async def connected(served: Served, wires: list[Wire], node_id: str, secret: str = "") -> Wire:
    wire = Wire(served, secret or await register(served, node_id), node_id)
    wires.append(wire)
    await wire.open()
    return wire


async def running_on(served: Served, wire: Wire, task_id: str) -> int:
    await create(served, task_id)
    assignment = (await wire.next("assignment")).assignment
    await wire.send(task_update=pb.TaskUpdate(task_id=task_id, attempt=assignment.attempt, seq=1,
                                              state=task_pb2.TASK_STATE_RUNNING))  # fmt: skip
    await wire.next("ack")
    return assignment.attempt


async def test_the_join_token_registers_a_node_once_and_connects_nothing(served: Served, wires: list[Wire]) -> None:
    secret = await register(served, "n1")
    assert secret.startswith("afn_")
    assert "already admitted" in await refused(register(served, "n1"), grpc.StatusCode.ALREADY_EXISTS)
    with_token = Wire(served, AGENT_TOKEN, "n1")
    wires.append(with_token)
    assert "register" in await refused(with_token.open(), grpc.StatusCode.UNAUTHENTICATED)
    await refused(Wire(served, "afn_made-up", "n1").open(), grpc.StatusCode.UNAUTHENTICATED)
    await refused(register(served, "n2", token="not-the-token"), grpc.StatusCode.UNAUTHENTICATED)
    await refused(register(served, "n2", token=API_KEY), grpc.StatusCode.PERMISSION_DENIED)
    await connected(served, wires, "n1", secret)


async def test_an_impostor_with_the_token_cannot_take_over_a_live_node(served: Served, wires: list[Wire]) -> None:
    real = await connected(served, wires, "n1")
    attempt = await running_on(served, real, "t")
    # It cannot register the id, and its own credential does not make it n1.
    await refused(register(served, "n1"), grpc.StatusCode.ALREADY_EXISTS)
    impostor = Wire(served, await register(served, "evil"), "n1")
    wires.append(impostor)
    assert "not 'n1'" in await refused(impostor.open(), grpc.StatusCode.PERMISSION_DENIED)
    # The real node's stream and work are untouched: its next report still applies.
    await real.send(task_update=pb.TaskUpdate(task_id="t", attempt=attempt, seq=2, progress=0.5))
    await real.next("ack")
    task = await state(served, "t")
    assert task.state == task_pb2.TASK_STATE_RUNNING and task.node == "nodes/n1" and abs(task.progress - 0.5) < 1e-6


async def test_a_node_acts_only_on_its_own_attempts(served: Served, wires: list[Wire]) -> None:
    owner = await connected(served, wires, "n1")
    attempt = await running_on(served, owner, "t")
    other = await connected(served, wires, "n2")
    # Another node's forged completion and log lines are acked and change nothing.
    await other.send(task_update=pb.TaskUpdate(task_id="t", attempt=attempt, seq=1, state=task_pb2.TASK_STATE_COMPLETED))
    await other.send(log_batch=pb.TaskLogBatch(task_id="t", attempt=attempt, seq=2,
                                               lines=[task_pb2.LogLine(seq=1, text="forged")]))  # fmt: skip
    assert (await other.next("ack")).ack.seq == 1 and (await other.next("ack")).ack.seq == 2
    assert (await state(served, "t")).state == task_pb2.TASK_STATE_RUNNING
    # An artifact for a task not running on the caller is refused.
    upload = other.stub.UploadArtifact(_upload("t", attempt), metadata=bearer(other.secret))
    await refused(upload, grpc.StatusCode.FAILED_PRECONDITION)
    claimed = other.stub.UploadArtifact(_upload("t", attempt), metadata=(*bearer(other.secret), ("x-aifarm-node-id", "n1")))
    await refused(claimed, grpc.StatusCode.PERMISSION_DENIED)
    # Once the task has ended, even its own node adds no more lines.
    await owner.send(task_update=pb.TaskUpdate(task_id="t", attempt=attempt, seq=2, state=task_pb2.TASK_STATE_COMPLETED))
    await owner.next("ack")
    await owner.send(log_batch=pb.TaskLogBatch(task_id="t", attempt=attempt, seq=3,
                                               lines=[task_pb2.LogLine(seq=9, text="after the end")]))  # fmt: skip
    await owner.next("ack")
    logs = await served.tasks.ListTaskLogs(tpb.ListTaskLogsRequest(parent="tasks/t"), metadata=METADATA)
    assert [line.text for line in logs.lines] == []


async def _upload(task_id: str, attempt: int) -> AsyncIterator[pb.UploadArtifactRequest]:
    yield pb.UploadArtifactRequest(header=pb.ArtifactHeader(task_id=task_id, attempt=attempt, file_name="out.bin"))
    yield pb.UploadArtifactRequest(chunk=b"forged bytes")


async def test_revoking_a_node_ends_its_stream_requeues_its_work_and_bars_its_id(served: Served, wires: list[Wire]) -> None:
    wire = await connected(served, wires, "n1")
    await running_on(served, wire, "t")
    nodes = node_service_pb2_grpc.NodeServiceStub(served.channel)
    revoked = await nodes.RevokeNode(node_service_pb2.RevokeNodeRequest(name="nodes/n1"), metadata=METADATA)
    assert revoked.HasField("revoke_time") and revoked.tasks == []
    assert await wire.closed()
    task = await state(served, "t")
    assert task.state == task_pb2.TASK_STATE_PENDING and task.node == "" and task.attempt == 1
    await refused(Wire(served, wire.secret, "n1").open(), grpc.StatusCode.UNAUTHENTICATED)
    assert "revoked" in await refused(register(served, "n1"), grpc.StatusCode.PERMISSION_DENIED)
    await refused(nodes.RevokeNode(node_service_pb2.RevokeNodeRequest(name="nodes/nobody"), metadata=METADATA),
                  grpc.StatusCode.NOT_FOUND)  # fmt: skip


async def test_rotating_the_join_token_leaves_admitted_nodes_alone(served: Served, wires: list[Wire]) -> None:
    secret = await register(served, "n1")
    system = system_service_pb2_grpc.SystemServiceStub(served.channel)
    new = (await system.RotateJoinToken(system_service_pb2.RotateJoinTokenRequest(), metadata=METADATA)).join_token
    assert new and new != AGENT_TOKEN
    assert (served.controller.config.data_dir / "agent_token").read_text().strip() == new
    await refused(register(served, "n2"), grpc.StatusCode.UNAUTHENTICATED)
    assert await register(served, "n2", token=new)
    await connected(served, wires, "n1", secret)
    await refused(system.RotateJoinToken(system_service_pb2.RotateJoinTokenRequest(), metadata=bearer(new)),
                  grpc.StatusCode.PERMISSION_DENIED)  # fmt: skip


async def test_with_tls_a_node_registers_a_csr_and_is_known_by_its_certificate(tmp_path) -> None:  # noqa: ANN001
    """The key never leaves the node; the agent port's mutual TLS names the node; a revoked certificate stops."""
    from agent.channel import open_channel
    from agent.credentials import certificate_request
    from served_controller import served_controller

    async with served_controller(tmp_path / "controller", tls=True, agent_port=0) as s:
        ca_pem = (s.controller.config.data_dir / "pki" / "ca.crt").read_bytes()
        main = open_channel(s.controller.address, ca_pem, None, [])
        csr, key = certificate_request("n1")
        stub = agent_service_pb2_grpc.AgentServiceStub(main)
        answer = await stub.Register(pb.RegisterRequest(node_id="n1", csr_pem=csr.decode()), metadata=bearer(AGENT_TOKEN))
        assert answer.certificate_pem.startswith("-----BEGIN CERTIFICATE") and not answer.node_secret
        assert answer.ca_pem.encode() == ca_pem
        agents = open_channel(s.controller.agent_address, ca_pem, (answer.certificate_pem.encode(), key), [])
        try:
            wire = Wire(s, "", "n1", channel=agents)
            assert (await wire.open()).heartbeat_interval_ms > 0
            wire.close()
            assert "not 'n2'" in await refused(Wire(s, "", "n2", channel=agents).open(), grpc.StatusCode.PERMISSION_DENIED)
            nodes = node_service_pb2_grpc.NodeServiceStub(main)
            await nodes.RevokeNode(node_service_pb2.RevokeNodeRequest(name="nodes/n1"), metadata=METADATA)
            await refused(Wire(s, "", "n1", channel=agents).open(), grpc.StatusCode.UNAUTHENTICATED)
        finally:
            await agents.close()
            await main.close()
