"""TEMPORARY test harness: a canned in-process TaskService/NodeService.

The real controller is being written alongside the CLI; once tests/conftest.py
starts it, the client command tests should move to that fixture and this file
should go. Nothing outside tests/cli may import it.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field

import grpc

from aifarm.v1 import (
    node_pb2,
    node_service_pb2,
    node_service_pb2_grpc,
    task_pb2,
    task_service_pb2,
    task_service_pb2_grpc,
)


@dataclass
class Recorded:
    """One call the fake received."""

    method: str
    request: object
    metadata: dict[str, str]


@dataclass
class FakeState:
    """What the fake answers with, and what it saw."""

    api_key: str | None = None
    tasks: dict[str, task_pb2.Task] = field(default_factory=dict)
    nodes: list[node_pb2.Node] = field(default_factory=list)
    logs: dict[str, list[task_pb2.LogLine]] = field(default_factory=dict)
    watch_updates: dict[str, list[task_pb2.Task]] = field(default_factory=dict)
    calls: list[Recorded] = field(default_factory=list)

    def record(self, method: str, request: object, context: grpc.ServicerContext) -> None:
        metadata = {k: v for k, v in context.invocation_metadata()}
        self.calls.append(Recorded(method, request, metadata))
        if self.api_key is not None and metadata.get("authorization") != f"Bearer {self.api_key}":
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "invalid or missing API key")

    def task(self, name: str, context: grpc.ServicerContext) -> task_pb2.Task:
        if name not in self.tasks:
            context.abort(grpc.StatusCode.NOT_FOUND, f"{name} does not exist")
        return self.tasks[name]

    def methods(self, name: str) -> list[str]:
        return [c.method for c in self.calls if c.method == name]

    def last(self, method: str) -> Recorded:
        return [c for c in self.calls if c.method == method][-1]


class FakeTaskService(task_service_pb2_grpc.TaskServiceServicer):
    """Canned TaskService; see :class:`FakeState`."""

    def __init__(self, state: FakeState) -> None:
        self.state = state

    def CreateTask(self, request, context):  # noqa: N802 - gRPC names
        self.state.record("CreateTask", request, context)
        task = task_pb2.Task()
        task.CopyFrom(request.task)
        task.name = f"tasks/t{len(self.state.tasks) + 1}"
        task.state = task_pb2.TASK_STATE_PENDING
        self.state.tasks[task.name] = task
        return task

    def GetTask(self, request, context):  # noqa: N802
        self.state.record("GetTask", request, context)
        return self.state.task(request.name, context)

    def ListTasks(self, request, context):  # noqa: N802
        self.state.record("ListTasks", request, context)
        tasks = [t for t in self.state.tasks.values() if not request.states or t.state in request.states]
        return task_service_pb2.ListTasksResponse(tasks=tasks[: request.page_size or 50], total_size=len(tasks))

    def _control(self, method: str, request, context, state: int) -> task_pb2.Task:
        self.state.record(method, request, context)
        task = self.state.task(request.name, context)
        task.state = state
        return task

    def CancelTask(self, request, context):  # noqa: N802
        return self._control("CancelTask", request, context, task_pb2.TASK_STATE_CANCELLED)

    def StopTask(self, request, context):  # noqa: N802
        return self._control("StopTask", request, context, task_pb2.TASK_STATE_CANCELLED)

    def PauseTask(self, request, context):  # noqa: N802
        return self._control("PauseTask", request, context, task_pb2.TASK_STATE_PAUSED)

    def ResumeTask(self, request, context):  # noqa: N802
        return self._control("ResumeTask", request, context, task_pb2.TASK_STATE_RUNNING)

    def WatchTask(self, request, context) -> Iterator[task_pb2.Task]:  # noqa: N802
        self.state.record("WatchTask", request, context)
        self.state.task(request.name, context)
        yield from self.state.watch_updates.get(request.name, [])

    def ListTaskLogs(self, request, context):  # noqa: N802
        self.state.record("ListTaskLogs", request, context)
        self.state.task(request.parent, context)
        lines = self.state.logs.get(request.parent, [])
        if request.tail:
            lines = lines[-request.tail :]
        return task_service_pb2.ListTaskLogsResponse(lines=lines)

    def StreamTaskLogs(self, request, context) -> Iterator[task_pb2.LogLine]:  # noqa: N802
        self.state.record("StreamTaskLogs", request, context)
        self.state.task(request.parent, context)
        yield from self.state.logs.get(request.parent, [])


class FakeNodeService(node_service_pb2_grpc.NodeServiceServicer):
    """Canned NodeService; see :class:`FakeState`."""

    def __init__(self, state: FakeState) -> None:
        self.state = state

    def ListNodes(self, request, context):  # noqa: N802
        self.state.record("ListNodes", request, context)
        return node_service_pb2.ListNodesResponse(nodes=self.state.nodes, total_size=len(self.state.nodes))


class FakeController:
    """An in-process gRPC server on 127.0.0.1 and a free port."""

    def __init__(self, state: FakeState) -> None:
        self.state = state
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        task_service_pb2_grpc.add_TaskServiceServicer_to_server(FakeTaskService(state), self._server)
        node_service_pb2_grpc.add_NodeServiceServicer_to_server(FakeNodeService(state), self._server)
        port = self._server.add_insecure_port("127.0.0.1:0")
        self.address = f"127.0.0.1:{port}"

    def __enter__(self) -> FakeController:
        self._server.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.stop(grace=None)
