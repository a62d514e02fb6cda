"""Batches through the wire: BatchCreateTasks is all or nothing; an agent that asks for batches gets
assignments in AssignmentBatch frames and may send ReportBatch frames (applied in order, one ack);
an agent that sends one message a frame, as before batches, works as it did."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from aifarm.v1 import agent_service_pb2 as pb
from aifarm.v1 import agent_service_pb2_grpc, node_pb2, task_pb2
from aifarm.v1 import task_service_pb2 as tpb
from served_controller import AGENT_TOKEN, METADATA, Served

pytestmark = pytest.mark.asyncio(loop_scope="function")

RUNNING, COMPLETED = task_pb2.TASK_STATE_RUNNING, task_pb2.TASK_STATE_COMPLETED


def request(task_id: str, entrypoint: str = "", **fields: object) -> tpb.CreateTaskRequest:
    spec = task_pb2.ScriptSpec(source="print(1)", entrypoint=entrypoint)
    return tpb.CreateTaskRequest(task_id=task_id, task=task_pb2.Task(script=spec, **fields))  # type: ignore[arg-type]


async def batch(served: Served, *requests: tpb.CreateTaskRequest) -> list[task_pb2.Task]:
    answer = await served.tasks.BatchCreateTasks(tpb.BatchCreateTasksRequest(requests=requests), metadata=METADATA)
    return list(answer.tasks)


async def total(served: Served) -> int:
    return (await served.tasks.ListTasks(tpb.ListTasksRequest(), metadata=METADATA)).total_size


async def test_batch_create_is_all_or_nothing(served: Served) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await batch(served, request("a"), request("b", entrypoint="../up.py"), request("c"))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.value.details().startswith("requests[1]: "), refused.value.details()
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await batch(served, request("a"), tpb.CreateTaskRequest(task_id="b"))
    assert "requests[1] needs a 'task'" in refused.value.details()
    assert await total(served) == 0, "a refused batch creates nothing"

    made = await batch(served, request("a"), request("b", depends_on=["tasks/a"]), request(""))
    assert [t.name for t in made[:2]] == ["tasks/a", "tasks/b"] and made[2].name.startswith("tasks/")
    assert all(t.state == task_pb2.TASK_STATE_PENDING for t in made) and list(made[1].depends_on) == ["tasks/a"]
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await batch(served, request("d"), request("a"))
    assert refused.value.code() == grpc.StatusCode.ALREADY_EXISTS and "requests[1]" in refused.value.details()
    assert await total(served) == 3


class Node:
    """One Connect stream written against the protocol alone; what comes down is queued."""

    def __init__(self, served: Served, node_id: str) -> None:
        self.served, self.node_id = served, node_id
        self.down: asyncio.Queue[pb.ConnectResponse] = asyncio.Queue()
        self.call: grpc.aio.StreamStreamCall | None = None
        self._reader: asyncio.Task[None] | None = None

    async def open(self, *, batches: bool) -> pb.Welcome:
        stub = agent_service_pb2_grpc.AgentServiceStub(self.served.channel)
        token = (("authorization", f"Bearer {AGENT_TOKEN}"),)
        secret = (await stub.Register(pb.RegisterRequest(node_id=self.node_id), metadata=token)).node_secret
        self.call = stub.Connect(metadata=(("authorization", f"Bearer {secret}"),))
        hello = pb.Hello(node_id=self.node_id, capabilities=node_pb2.Capabilities(cpu_cores=8, memory_mb=4096),
                         accepts_assignment_batches=batches)  # fmt: skip
        await self.call.write(pb.ConnectRequest(hello=hello))
        first = await self.call.read()
        self._reader = asyncio.create_task(self._read())
        return first.welcome

    async def _read(self) -> None:
        assert self.call is not None
        while (message := await self.call.read()) is not grpc.aio.EOF:
            self.down.put_nowait(message)

    async def next(self, timeout: float = 10) -> pb.ConnectResponse:
        return await asyncio.wait_for(self.down.get(), timeout)

    async def assignments(self, count: int) -> tuple[list[pb.Assignment], set[str]]:
        """The next `count` assignments, and the kinds of frame they came in."""
        got: list[pb.Assignment] = []
        kinds = set()
        while len(got) < count:
            message = await self.next()
            kind = message.WhichOneof("message")
            kinds.add(kind)
            got += [message.assignment] if kind == "assignment" else list(message.assignments.assignments)
        return got, kinds

    def close(self) -> None:
        if self.call is not None:
            self.call.cancel()
        if self._reader is not None:
            self._reader.cancel()


def update(seq: int, assignment: pb.Assignment, state: int, **fields: object) -> pb.TaskUpdate:
    return pb.TaskUpdate(seq=seq, task_id=assignment.task.name.removeprefix("tasks/"), attempt=assignment.attempt,
                         state=state, **fields)  # type: ignore[arg-type]  # fmt: skip


async def task(served: Served, task_id: str) -> task_pb2.Task:
    return await served.tasks.GetTask(tpb.GetTaskRequest(name=f"tasks/{task_id}"), metadata=METADATA)


async def test_a_batching_agent_gets_assignment_batches_and_its_report_batch_is_applied_in_order(served: Served) -> None:
    node = Node(served, "n1")
    try:
        welcome = await node.open(batches=True)
        assert welcome.accepts_report_batches
        await batch(served, request("a"), request("b"), request("c"))
        assigned, kinds = await node.assignments(3)
        assert kinds == {"assignments"}, kinds
        a, b, c = sorted(assigned, key=lambda x: x.task.name)
        lines = pb.TaskLogBatch(seq=2, task_id="a", attempt=a.attempt, lines=[task_pb2.LogLine(seq=1, text="in time")])
        late = pb.TaskLogBatch(seq=4, task_id="a", attempt=a.attempt, lines=[task_pb2.LogLine(seq=2, text="too late")])
        reports = [
            pb.Report(task_update=update(1, a, RUNNING)), pb.Report(log_batch=lines),
            pb.Report(task_update=update(3, a, COMPLETED, result=task_pb2.TaskResult(exit_code=0))),
            pb.Report(log_batch=late),  # after its attempt ended: ignored, in order
            pb.Report(task_update=update(5, b, RUNNING)), pb.Report(task_update=update(6, c, RUNNING)),
        ]  # fmt: skip
        assert node.call is not None
        await node.call.write(pb.ConnectRequest(reports=pb.ReportBatch(reports=reports)))
        ack = await node.next()
        assert ack.WhichOneof("message") == "ack" and ack.ack.seq == 6, "one ack, of the last"
        assert (await task(served, "a")).state == COMPLETED
        assert [(await task(served, t)).state for t in "bc"] == [RUNNING, RUNNING]
        logs = await served.tasks.ListTaskLogs(tpb.ListTaskLogsRequest(parent="tasks/a"), metadata=METADATA)
        assert [ln.text for ln in logs.lines] == ["in time"]
    finally:
        node.close()


async def test_an_agent_of_one_message_a_frame_works_as_before(served: Served) -> None:
    node = Node(served, "n1")
    try:
        await node.open(batches=False)
        await batch(served, request("a"), request("b"))
        assigned, kinds = await node.assignments(2)
        assert kinds == {"assignment"}, "no frame it does not know"
        assert node.call is not None
        for seq, (assignment, state) in enumerate([(assigned[0], RUNNING), (assigned[0], COMPLETED),
                                                   (assigned[1], RUNNING)], start=1):  # fmt: skip
            await node.call.write(pb.ConnectRequest(task_update=update(seq, assignment, state)))
            acked = await node.next()
            assert acked.ack.seq == seq
        first = assigned[0].task.name.removeprefix("tasks/")
        assert (await task(served, first)).state == COMPLETED
    finally:
        node.close()
