"""aifarm.v1.TaskService: parse, call the task domain, convert."""

from __future__ import annotations

from typing import AsyncIterator

import grpc
from google.api import httpbody_pb2
from google.protobuf import empty_pb2

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
from controller.domain.task_actions import TaskActions
from controller.domain.task_book import TaskBook
from controller.domain.types import TaskQuery

#: How often a watcher re-reads even without a change notification.
WATCH_POLL_SECONDS = 15.0
#: Pages of the FULL view are smaller: each task may carry a script of up to 1 MiB.
MAX_FULL_PAGE = 50
_VIEWS = {task_service_pb2.TASK_VIEW_UNSPECIFIED: True, task_service_pb2.TASK_VIEW_BASIC: True,
          task_service_pb2.TASK_VIEW_FULL: False}  # fmt: skip


@maps_domain_errors
class TaskServicer(task_service_pb2_grpc.TaskServiceServicer):
    def __init__(self, book: TaskBook, actions: TaskActions, artifacts: ArtifactShelf) -> None:
        self.book = book
        self.actions = actions
        self.artifacts = artifacts

    async def CreateTask(self, request: task_service_pb2.CreateTaskRequest, context: grpc.aio.ServicerContext) -> task_pb2.Task:
        if not request.HasField("task"):
            raise InvalidArgument("request needs a 'task'")
        task = task_from_proto(request.task, task_id=request.task_id, request_id=request.request_id)
        return task_to_proto(await self.actions.create(task))

    async def BatchCreateTasks(
        self, request: task_service_pb2.BatchCreateTasksRequest, context: grpc.aio.ServicerContext
    ) -> task_service_pb2.BatchCreateTasksResponse:
        tasks = []
        for i, one in enumerate(request.requests):
            if not one.HasField("task"):
                raise InvalidArgument(f"requests[{i}] needs a 'task'")
            try:
                tasks.append(task_from_proto(one.task, task_id=one.task_id, request_id=one.request_id))
            except InvalidArgument as exc:
                raise InvalidArgument(f"requests[{i}]: {exc}", reason=exc.reason) from None
        created = await self.actions.create_many(tasks)
        return task_service_pb2.BatchCreateTasksResponse(tasks=[task_to_proto(t) for t in created])

    async def GetTask(self, request: task_service_pb2.GetTaskRequest, context: grpc.aio.ServicerContext) -> task_pb2.Task:
        return task_to_proto(await self.book.get(resource_id(request.name, "tasks")))

    async def ListTasks(
        self, request: task_service_pb2.ListTasksRequest, context: grpc.aio.ServicerContext
    ) -> task_service_pb2.ListTasksResponse:
        if request.view not in _VIEWS:
            raise InvalidArgument(f"unknown view {request.view}; use TASK_VIEW_BASIC or TASK_VIEW_FULL")
        summary = _VIEWS[request.view]
        offset, limit = page_bounds(request.page_size, request.page_token, default=50,
                                    maximum=1000 if summary else MAX_FULL_PAGE)  # fmt: skip
        query = TaskQuery(
            states=tuple(state_from_proto(s) for s in request.states),
            node_id=resource_id(request.node, "nodes") if request.node else "",
            offset=offset, limit=limit, summary=summary,
        )  # fmt: skip
        page = await self.book.list(query)
        await context.send_initial_metadata((("x-total-count", str(page.total)),))
        return task_service_pb2.ListTasksResponse(
            tasks=[task_to_proto(t) for t in page.tasks],
            next_page_token=next_page_token(offset, limit, len(page.tasks), page.total),
            total_size=page.total,
        )

    async def CancelTask(self, request: task_service_pb2.CancelTaskRequest, context: grpc.aio.ServicerContext) -> task_pb2.Task:
        task_id = resource_id(request.name, "tasks")
        await self.actions.cancel(task_id)
        return task_to_proto(await self.book.get(task_id))

    async def StopTask(self, request: task_service_pb2.StopTaskRequest, context: grpc.aio.ServicerContext) -> task_pb2.Task:
        task_id = resource_id(request.name, "tasks")
        await self.actions.stop(task_id)
        return task_to_proto(await self.book.get(task_id))

    async def RestartTask(self, request: task_service_pb2.RestartTaskRequest, context: grpc.aio.ServicerContext) -> task_pb2.Task:
        task_id = resource_id(request.name, "tasks")
        await self.actions.restart(task_id)
        return task_to_proto(await self.book.get(task_id))

    async def DeleteTask(self, request: task_service_pb2.DeleteTaskRequest, context: grpc.aio.ServicerContext) -> empty_pb2.Empty:
        await self.actions.delete(resource_id(request.name, "tasks"))
        return empty_pb2.Empty()

    async def PauseTask(self, request: task_service_pb2.PauseTaskRequest, context: grpc.aio.ServicerContext) -> task_pb2.Task:
        return task_to_proto(await self.actions.pause(resource_id(request.name, "tasks")))

    async def ResumeTask(self, request: task_service_pb2.ResumeTaskRequest, context: grpc.aio.ServicerContext) -> task_pb2.Task:
        return task_to_proto(await self.actions.resume(resource_id(request.name, "tasks")))

    async def WatchTask(
        self, request: task_service_pb2.WatchTaskRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[task_pb2.Task]:
        task_id = resource_id(request.name, "tasks")
        last = None
        while True:
            change = self.book.feed.next_change(task_id)
            task = await self.book.get(task_id)
            current = task_to_proto(task)
            if current != last:
                yield current
                last = current
            if task.state.terminal:
                change.cancel()
                return
            await self.book.feed.wait(change, WATCH_POLL_SECONDS)

    async def ListTaskLogs(
        self, request: task_service_pb2.ListTaskLogsRequest, context: grpc.aio.ServicerContext
    ) -> task_service_pb2.ListTaskLogsResponse:
        task_id = resource_id(request.parent, "tasks")
        await self.book.get(task_id)
        if request.tail < 0:
            raise InvalidArgument("tail must not be negative")
        after, limit = page_bounds(request.page_size, request.page_token, default=1000, maximum=10000)
        lines = await self.book.logs(task_id, after_seq=after, limit=limit, tail=request.tail)
        # The token holds the last seq read, so a page never skips or repeats lines.
        token = offset_token(lines[-1].seq) if lines and len(lines) == limit and not request.tail else ""
        return task_service_pb2.ListTaskLogsResponse(lines=[log_line_to_proto(ln) for ln in lines], next_page_token=token)

    async def StreamTaskLogs(
        self, request: task_service_pb2.StreamTaskLogsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[task_pb2.LogLine]:
        task_id = resource_id(request.parent, "tasks")
        after = request.after_seq
        while True:
            change = self.book.feed.next_change(task_id)
            task = await self.book.get(task_id)
            lines = await self.book.logs(task_id, after_seq=after, limit=1000)
            for line in lines:
                yield log_line_to_proto(line)
            after = lines[-1].seq if lines else after
            if lines:
                change.cancel()
                continue
            if not request.follow or task.state.terminal:
                change.cancel()
                return
            await self.book.feed.wait(change, WATCH_POLL_SECONDS)

    async def ListTaskMetrics(
        self, request: task_service_pb2.ListTaskMetricsRequest, context: grpc.aio.ServicerContext
    ) -> task_service_pb2.ListTaskMetricsResponse:
        task_id = resource_id(request.parent, "tasks")
        await self.book.get(task_id)
        points = await self.book.metrics(task_id)
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
