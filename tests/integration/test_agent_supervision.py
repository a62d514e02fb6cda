"""The agent's supervision against a real controller served in-process on port 0.

Faults go only into third-party code: pynvml (a GPU that falls off the bus), psutil
and grpc's stream writes (a session routine that raises). Whatever fails, the node
must stay online past its TTL and its running task must finish on its first attempt:
the controller requeues the work of a node that goes silent, so a stream left open
without heartbeats shows up as a lost node and a second attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator, Awaitable, Callable

import grpc
import psutil
import pynvml
import pytest
import structlog

from agent.config import AgentConfig
from agent.node_agent import NodeAgent
from aifarm.v1 import node_pb2, node_service_pb2, node_service_pb2_grpc, task_pb2, task_service_pb2
from aifarm.v1 import task_service_pb2_grpc
from controller.config import ControllerConfig
from controller.server import Controller

API_KEY = "supervision-key"
AGENT_TOKEN = "supervision-token"
TTL = 1.5
T = task_pb2


@dataclass
class Farm:
    controller: Controller
    agent: NodeAgent
    tasks: task_service_pb2_grpc.TaskServiceStub
    nodes: node_service_pb2_grpc.NodeServiceStub
    metadata: tuple[tuple[str, str], ...]
    #: The agent's run().
    job: asyncio.Task[None]

    async def create(self, source: str) -> T.Task:
        task = T.Task(script=T.ScriptSpec(source=source, entrypoint="main.py"))
        return await self.tasks.CreateTask(task_service_pb2.CreateTaskRequest(task=task), metadata=self.metadata)

    async def get(self, name: str) -> T.Task:
        return await self.tasks.GetTask(task_service_pb2.GetTaskRequest(name=name), metadata=self.metadata)

    async def online(self) -> bool:
        request = node_service_pb2.ListNodesRequest(state=node_pb2.NODE_STATE_ONLINE)
        nodes = (await self.nodes.ListNodes(request, metadata=self.metadata)).nodes
        return any(n.name == f"nodes/{self.agent.node_id}" for n in nodes)

    async def node(self) -> node_pb2.Node:
        request = node_service_pb2.GetNodeRequest(name=f"nodes/{self.agent.node_id}")
        return await self.nodes.GetNode(request, metadata=self.metadata)

    async def stdout(self, name: str) -> list[str]:
        request = task_service_pb2.ListTaskLogsRequest(parent=name, page_size=1000)
        lines = (await self.tasks.ListTaskLogs(request, metadata=self.metadata)).lines
        return [ln.text for ln in lines if ln.stream == T.LOG_STREAM_STDOUT]


@contextlib.asynccontextmanager
async def farm(tmp_path: Path) -> AsyncIterator[Farm]:
    controller = Controller(ControllerConfig(
        data_dir=tmp_path / "controller", grpc_port=0, api_keys=(API_KEY,), agent_token=AGENT_TOKEN,
        heartbeat_interval_seconds=0.2, node_ttl_seconds=TTL, restart_grace_seconds=TTL,
    ))  # fmt: skip
    address = await controller.start()
    agent = NodeAgent(AgentConfig(controller=address, token=AGENT_TOKEN, data_dir=tmp_path / "agent",
                                  backoff_initial_seconds=0.05, backoff_max_seconds=0.5, nvml_retry_seconds=0.5))  # fmt: skip
    job = asyncio.create_task(agent.run())
    channel = grpc.aio.insecure_channel(address)
    try:
        f = Farm(controller, agent, task_service_pb2_grpc.TaskServiceStub(channel),
                 node_service_pb2_grpc.NodeServiceStub(channel), (("authorization", f"Bearer {API_KEY}"),), job)  # fmt: skip
        await _until(lambda: f.online(), "the agent to join")
        yield f
    finally:
        # As `aifarm agent` ends on SIGTERM.
        await agent.shutdown()
        job.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await job
        await channel.close()
        await controller.shutdown()


async def _eventually(predicate: Callable[[], object], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def _until(predicate: Callable[[], Awaitable[object]], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def _stays_online_with_one_attempt(f: Farm, name: str, seconds: float) -> None:
    """Check, all through `seconds`, that the node is online and the task still on attempt 1."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        node, task = await f.node(), await f.get(name)
        assert node.state == node_pb2.NODE_STATE_ONLINE, "the node went silent and was declared lost"
        assert task.attempt == 1, f"the task was requeued: {task.state_reason}"
        await asyncio.sleep(0.1)


def _long_script(seconds: float) -> str:
    return f"import time\nprint('start', flush=True)\ntime.sleep({seconds})\nprint('end', flush=True)\n"


class GpuThatFallsOffTheBus:
    """One GPU seen through pynvml, which starts to fail every query on `lose()`.

    On a machine with a working NVML the real library answers until then; elsewhere the
    few NVML calls the agent makes are answered as a driver with one H200 would. Lost,
    each device query raises NVMLError(GPU_IS_LOST), as NVML does for a GPU that fell
    off the bus; `restore()` lets them through again.
    """

    QUERIES = ("nvmlDeviceGetUtilizationRates", "nvmlDeviceGetMemoryInfo", "nvmlDeviceGetTemperature",
               "nvmlDeviceGetPowerUsage")  # fmt: skip

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.lost = False
        try:
            pynvml.nvmlInit()
            pynvml.nvmlShutdown()
        except pynvml.NVMLError:
            self._stand_in(monkeypatch)
        for name in self.QUERIES:
            monkeypatch.setattr(pynvml, name, self._unless_lost(getattr(pynvml, name)))

    def _unless_lost(self, query: Callable[..., object]) -> Callable[..., object]:
        def guarded(*args: object) -> object:
            if self.lost:
                raise pynvml.NVMLError(pynvml.NVML_ERROR_GPU_IS_LOST)
            return query(*args)

        return guarded

    @staticmethod
    def _stand_in(monkeypatch: pytest.MonkeyPatch) -> None:
        memory = type("Memory", (), {"total": 141 << 30, "used": 1 << 30, "free": 140 << 30})()
        answers: dict[str, Callable[..., object]] = {
            "nvmlInit": lambda: None,
            "nvmlShutdown": lambda: None,
            "nvmlDeviceGetCount": lambda: 1,
            "nvmlDeviceGetHandleByIndex": lambda i: f"gpu{i}",
            "nvmlDeviceGetCudaComputeCapability": lambda h: (9, 0),
            "nvmlDeviceGetUUID": lambda h: "GPU-00000000-0000-0000-0000-000000000000",
            "nvmlDeviceGetName": lambda h: "NVIDIA H200",
            "nvmlDeviceGetMemoryInfo": lambda h: memory,
            "nvmlDeviceGetUtilizationRates": lambda h: type("Rates", (), {"gpu": 37, "memory": 5})(),
            "nvmlDeviceGetTemperature": lambda h, sensor: 41,
            "nvmlDeviceGetPowerUsage": lambda h: 120_000,
        }
        for name, answer in answers.items():
            monkeypatch.setattr(pynvml, name, answer)

    def lose(self) -> None:
        self.lost = True

    def restore(self) -> None:
        self.lost = False


async def test_a_gpu_falling_off_the_bus_does_not_stop_heartbeats(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gpu = GpuThatFallsOffTheBus(monkeypatch)
    with structlog.testing.capture_logs() as logs:
        async with farm(tmp_path) as f:
            task = await f.create(_long_script(5 * TTL))
            await _eventually(lambda: logs_with(logs, "task attempt started"), "the task to start")
            node = await f.node()
            assert len(node.capabilities.gpus) >= 1
            await _until_node(f, lambda n: len(n.usage.gpus) >= 1, "GPU figures in a heartbeat")

            gpu.lose()
            await _stays_online_with_one_attempt(f, task.name, 3 * TTL)
            node = await f.node()
            assert not node.usage.gpus, "the lost GPU's figures are left out"
            assert node.usage.memory_percent > 0, "CPU and memory figures still come"

            gpu.restore()  # NVML is asked again later, and the figures come back
            await _until_node(f, lambda n: len(n.usage.gpus) >= 1, "GPU figures after NVML answers again")
            done = await _final(f, task.name)
            assert (done.state, done.attempt) == (T.TASK_STATE_COMPLETED, 1), done.state_reason
            assert await f.stdout(task.name) == ["start", "end"]
    failures = logs_with(logs, "GPU query failed")
    assert len(failures) == 1, f"logged once, not on every heartbeat: {failures}"
    assert failures[0]["node_id"] == f.agent.node_id and failures[0]["gpu"] == 0
    assert not logs_with(logs, "reconnecting"), "heartbeats went on over the same stream"


def _fail_once_psutil_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """The next heartbeat's psutil.virtual_memory() raises: the heartbeat routine fails."""
    real = psutil.virtual_memory
    calls = {"n": 0}

    def flaky() -> object:
        calls["n"] += 1
        if calls["n"] == 1:
            raise PermissionError("injected: /proc/meminfo unreadable")
        return real()

    monkeypatch.setattr(psutil, "virtual_memory", flaky)


def _fail_once_grpc_write_of_logs(monkeypatch: pytest.MonkeyPatch) -> None:
    """grpc's write of the next log batch raises: the routine that sends the outbox fails."""
    real = grpc.aio._call.StreamStreamCall.write  # type: ignore[attr-defined]
    failed = {"done": False}

    def carries_logs(request: object) -> bool:  # on its own, or in a batch of reports
        kind = request.WhichOneof("message")  # type: ignore[attr-defined]
        return kind == "log_batch" or kind == "reports" and any(r.HasField("log_batch") for r in request.reports.reports)  # type: ignore[attr-defined]

    async def flaky(self: object, request: object) -> None:
        if not failed["done"] and carries_logs(request):
            failed["done"] = True
            raise asyncio.InvalidStateError("injected: the write failed")
        await real(self, request)

    monkeypatch.setattr(grpc.aio._call.StreamStreamCall, "write", flaky)  # type: ignore[attr-defined]


@pytest.mark.parametrize(("routine", "inject"), [("heartbeat", _fail_once_psutil_memory),
                                                 ("writer", _fail_once_grpc_write_of_logs)])  # fmt: skip
async def test_a_failing_session_routine_reconnects_instead_of_half_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, routine: str, inject: Callable[[pytest.MonkeyPatch], None]
) -> None:
    with structlog.testing.capture_logs() as logs:
        async with farm(tmp_path) as f:
            source = "import time\nfor i in range(6):\n    print('tick', i, flush=True)\n    time.sleep(0.5)\n"
            task = await f.create(source)
            await _eventually(lambda: logs_with(logs, "task attempt started"), "the task to start")
            inject(monkeypatch)
            await _stays_online_with_one_attempt(f, task.name, 2.5 * TTL)
            done = await _final(f, task.name)
            assert (done.state, done.attempt) == (T.TASK_STATE_COMPLETED, 1), done.state_reason
            # The runner outlived the broken session; nothing it reported was lost or doubled.
            assert await f.stdout(task.name) == [f"tick {i}" for i in range(6)]
    failed = logs_with(logs, "session routine failed")
    assert [e["routine"] for e in failed] == [routine]
    assert len(logs_with(logs, "connected to controller")) >= 2, "the link reconnected"


async def test_a_runner_that_crashes_fails_its_attempt_and_the_node_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = asyncio.create_subprocess_exec
    calls = {"n": 0}

    async def spawn_fails_once(*args: object, **kw: object) -> asyncio.subprocess.Process:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("injected: the event loop cannot spawn")  # not an OSError: the runner does not expect it
        return await real(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(asyncio, "create_subprocess_exec", spawn_fails_once)
    async with farm(tmp_path) as f:
        crashed = await _final(f, (await f.create("print('never')")).name)
        assert crashed.state == T.TASK_STATE_FAILED and crashed.attempt == 1
        assert "runner crashed: injected" in crashed.result.error
        fine = await _final(f, (await f.create("print('fine')")).name)
        assert fine.state == T.TASK_STATE_COMPLETED and await f.stdout(fine.name) == ["fine"]
        assert await f.online()


async def test_shutdown_ends_run_and_the_work_without_reporting_it_cancelled(tmp_path: Path) -> None:
    async with farm(tmp_path) as f:
        task = await f.create("import os, time\nprint(os.getpid(), flush=True)\ntime.sleep(120)\n")
        await _until(lambda: f.stdout(task.name), "the script's pid")
        pid = int((await f.stdout(task.name))[0])
        await asyncio.gather(f.agent.shutdown(), f.agent.shutdown())
        await f.agent.shutdown()
        await asyncio.wait_for(asyncio.shield(f.job), 10)  # run() returns by itself
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
        # The node left: its work goes back to the queue, not to CANCELLED.
        await _until(lambda: _state_is(f, task.name, T.TASK_STATE_PENDING), "the task to be requeued")


async def _state_is(f: Farm, name: str, state: int) -> bool:
    return (await f.get(name)).state == state


async def _until_node(f: Farm, predicate: Callable[[node_pb2.Node], bool], what: str) -> None:
    async def holds() -> bool:
        return predicate(await f.node())

    await _until(holds, what)


async def _final(f: Farm, name: str, timeout: float = 30.0) -> T.Task:
    deadline = time.monotonic() + timeout
    while (task := await f.get(name)).state not in (T.TASK_STATE_COMPLETED, T.TASK_STATE_FAILED,
                                                    T.TASK_STATE_CANCELLED):  # fmt: skip
        assert time.monotonic() < deadline, f"{name} did not end: {task.state_reason}"
        await asyncio.sleep(0.1)
    return task


def logs_with(logs: list[dict[str, object]], event: str) -> list[dict[str, object]]:
    return [e for e in logs if e.get("event") == event]
