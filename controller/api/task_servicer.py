"""aifarm.v1.TaskService: parse, call the TaskBook, convert."""

from __future__ import annotations

from typing import AsyncIterator

import grpc
from google.api import httpbody_pb2

from aifarm.v1 import task_pb2, task_service_pb2, task_service_pb2_grpc
from controller.api.convert_common import next_page_token, offset_token, page_bounds, resource_id
from controller.api.errors import maps_domain_errors
from controller.api.http_body import http_body_stream
from controller.api.task_convert import (
    log_line_to_proto,
    metric_to_proto,
    state_from_proto,
    task_from_proto,
    task_to_proto,
)
from controller.domain.artifacts import ArtifactShelf
from controller.domain.errors import InvalidArgument
from controller.domain.tasks import TaskBook

#: How often a watcher re-reads even without a change notification.
WATCH_POLL_SECONDS = 15.0


@maps_domain_errors
class TaskServicer(task_service_pb2_grpc.TaskServiceServicer):
    def __init__(self, tasks: TaskBook, artifacts: ArtifactShelf) -> None:
        self.tasks = tasks
        self.artifacts = artifacts

    async def CreateTask(self, request: task_service_pb2.CreateTaskRequest, context: grpc.aio.ServicerContext) -> task_pb2.Task:
        if not request.HasField("task"):
            raise InvalidArgument("request needs a 'task'")
        task = task_from_proto(request.task, task_id=request.task_id, request_id=request.request_id)
        return task_to_proto(await self.tasks.create(task))

    async def GetTask(self, request: task_service_pb2.GetTaskRequest, context: grpc.aio.ServicerContext) -> task_pb2.Task:
        return task_to_proto(await self.tasks.get(resource_id(request.name, "tasks")))

    async def ListTasks(
        self, request: task_service_pb2.ListTasksRequest, context: grpc.aio.ServicerContext
    ) -> task_service_pb2.ListTasksResponse:
        offset, limit = page_bounds(request.page_size, request.page_token, default=50, maximum=1000)
        states = [state_from_proto(s) for s in request.states]
        node_id = resource_id(request.node, "nodes") if request.node else ""
        tasks, total = await self.tasks.store.list(states=states, node_id=node_id, offset=offset, limit=limit)
        await context.send_initial_metadata((("x-total-count", str(total)),))
        return task_service_pb2.ListTasksResponse(
            tasks=[task_to_proto(t) for t in tasks],
            next_page_token=next_page_token(offset, limit, len(tasks), total),
            total_size=total,
        )

    async def CancelTask(self, request: task_service_pb2.CancelTaskRequest, context: grpc.aio.ServicerContext) -> task_pb2.Task:
        await self.tasks.cancel(resource_id(request.name, "tasks"))
        return task_to_proto(await self.tasks.get(resource_id(request.name, "tasks")))

    async def StopTask(self, request: task_service_pb2.StopTaskRequest, context: grpc.aio.ServicerContext) -> task_pb2.Task:
        await self.tasks.stop(resource_id(request.name, "tasks"))
        return task_to_proto(await self.tasks.get(resource_id(request.name, "tasks")))

    async def PauseTask(self, request: task_service_pb2.PauseTaskRequest, context: grpc.aio.ServicerContext) -> task_pb2.Task:
        return task_to_proto(await self.tasks.pause(resource_id(request.name, "tasks")))

    async def ResumeTask(self, request: task_service_pb2.ResumeTaskRequest, context: grpc.aio.ServicerContext) -> task_pb2.Task:
        return task_to_proto(await self.tasks.resume(resource_id(request.name, "tasks")))

    async def WatchTask(
        self, request: task_service_pb2.WatchTaskRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[task_pb2.Task]:
        task_id = resource_id(request.name, "tasks")
        last = None
        while True:
            change = self.tasks.feed.next_change(task_id)
            task = await self.tasks.get(task_id)
            current = task_to_proto(task)
            if current != last:
                yield current
                last = current
            if task.state.terminal:
                change.cancel()
                return
            await self.tasks.feed.wait(change, WATCH_POLL_SECONDS)

    async def ListTaskLogs(
        self, request: task_service_pb2.ListTaskLogsRequest, context: grpc.aio.ServicerContext
    ) -> task_service_pb2.ListTaskLogsResponse:
        task_id = resource_id(request.parent, "tasks")
        await self.tasks.get(task_id)
        if request.tail < 0:
            raise InvalidArgument("tail must not be negative")
        after, limit = page_bounds(request.page_size, request.page_token, default=1000, maximum=10000)
        lines = await self.tasks.store.logs(task_id, after_seq=after, limit=limit, tail=request.tail)
        # The token holds the last seq read, so a page never skips or repeats lines.
        token = offset_token(lines[-1].seq) if lines and len(lines) == limit and not request.tail else ""
        return task_service_pb2.ListTaskLogsResponse(lines=[log_line_to_proto(ln) for ln in lines], next_page_token=token)

    async def StreamTaskLogs(
        self, request: task_service_pb2.StreamTaskLogsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[task_pb2.LogLine]:
        task_id = resource_id(request.parent, "tasks")
        after = request.after_seq
        while True:
            change = self.tasks.feed.next_change(task_id)
            task = await self.tasks.get(task_id)
            lines = await self.tasks.store.logs(task_id, after_seq=after, limit=1000)
            for line in lines:
                yield log_line_to_proto(line)
            after = lines[-1].seq if lines else after
            if lines:
                change.cancel()
                continue
            if not request.follow or task.state.terminal:
                change.cancel()
                return
            await self.tasks.feed.wait(change, WATCH_POLL_SECONDS)

    async def ListTaskMetrics(
        self, request: task_service_pb2.ListTaskMetricsRequest, context: grpc.aio.ServicerContext
    ) -> task_service_pb2.ListTaskMetricsResponse:
        task_id = resource_id(request.parent, "tasks")
        await self.tasks.get(task_id)
        points = await self.tasks.store.metrics(task_id)
        return task_service_pb2.ListTaskMetricsResponse(points=[metric_to_proto(p) for p in points])

    async def DownloadArtifact(
        self, request: task_service_pb2.DownloadArtifactRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[httpbody_pb2.HttpBody]:
        parts = request.name.split("/")
        if len(parts) != 4 or parts[0] != "tasks" or parts[2] != "artifacts":
            raise InvalidArgument(f"invalid artifact name {request.name!r}: expected 'tasks/{{task}}/artifacts/{{file}}'")
        chunks = await self.artifacts.read(parts[1], parts[3])
        async for message in http_body_stream("application/octet-stream", chunks):
            yield message

