"""People's reads yield to the nodes' traffic; writes, health and the agents' calls never wait (controller.api.admission)."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest

from aifarm.v1 import task_service_pb2 as pb
from controller.api.admission import ApiAdmission, read_methods
from controller.api.auth import AGENT_PREFIX, agent_methods, open_methods
from controller.api.surfaces import all_surfaces
from served_controller import METADATA, Served

READ = "/aifarm.v1.TaskService/ListTasks"
WRITE = "/aifarm.v1.TaskService/CreateTask"


class Details:
    def __init__(self, method: str) -> None:
        self.method = method
        self.invocation_metadata = ()


def recorder(spans: list[tuple[float, float]], seconds: float) -> grpc.RpcMethodHandler:
    async def call(request: Any, context: Any) -> str:
        loop = asyncio.get_running_loop()
        started = loop.time()
        await asyncio.sleep(seconds)
        spans.append((started, loop.time()))
        return "ok"

    return grpc.unary_unary_rpc_method_handler(call)


async def calls(gate: ApiAdmission, method: str, n: int, seconds: float = 0.02) -> list[tuple[float, float]]:
    spans: list[tuple[float, float]] = []
    handler = recorder(spans, seconds)

    async def continuation(details: Any) -> grpc.RpcMethodHandler:
        return handler

    wrapped = await gate.intercept_service(continuation, Details(method))
    await asyncio.gather(*(wrapped.unary_unary(None, None) for _ in range(n)))
    return sorted(spans)


def overlapping(spans: list[tuple[float, float]]) -> bool:
    return any(b_start < a_end for (_, a_end), (b_start, _) in zip(spans, spans[1:]))


async def test_reads_run_together_while_the_nodes_are_quiet() -> None:
    gate = ApiAdmission(lambda: False, frozenset({READ}), slots=4, share=0.25)
    assert overlapping(await calls(gate, READ, 4))


async def test_reads_take_turns_and_leave_the_nodes_their_share_while_the_nodes_are_busy() -> None:
    gate = ApiAdmission(lambda: True, frozenset({READ}), slots=4, share=0.25)
    spans = await calls(gate, READ, 3)
    assert not overlapping(spans), "one read at a time"
    for (_, first_end), (next_start, _) in zip(spans, spans[1:]):
        # Each read left the lane free for three times as long as it took (share 0.25); slack for a busy machine.
        assert next_start - first_end >= 0.03


async def test_writes_are_never_held_back() -> None:
    gate = ApiAdmission(lambda: True, frozenset({READ}), slots=1, share=0.1)
    assert overlapping(await calls(gate, WRITE, 3))


def test_the_gated_methods_are_the_protos_reads_but_health_and_the_agents() -> None:
    services = [b.service for b in all_surfaces()]
    reads = read_methods(services, except_prefix=AGENT_PREFIX) - agent_methods(services) - open_methods(services)
    assert {READ, "/aifarm.v1.TaskService/GetTask", "/aifarm.compat.shelby.v1.JobService/ListJobs"} <= reads
    assert WRITE not in reads and "/aifarm.v1.TaskService/CancelTask" not in reads
    assert "/aifarm.v1.SystemService/GetHealth" not in reads, "health checks never wait"
    assert not [m for m in reads if m.startswith(AGENT_PREFIX) or "shelby.v1.AgentService" in m]


@pytest.mark.asyncio(loop_scope="function")
async def test_a_served_controller_answers_reads_while_its_nodes_are_busy(served: Served) -> None:
    farm = served.controller.farm
    assert farm is not None
    farm.book.note_node_traffic()
    page = await served.tasks.ListTasks(pb.ListTasksRequest(), metadata=METADATA)
    assert page.total_size == 0
