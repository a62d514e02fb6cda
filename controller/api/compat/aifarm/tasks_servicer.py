"""/api/tasks: AI Farm's tasks are core tasks, listed, created, changed and deleted through the domain."""

from __future__ import annotations

import uuid

import grpc
from google.protobuf import empty_pb2

from aifarm.compat.aifarm.v1 import tasks_service_pb2 as pb
from aifarm.compat.aifarm.v1 import tasks_service_pb2_grpc
from controller.api.compat.aifarm import task_shapes as shapes
from controller.api.compat.servermgmt.shapes import iso
from controller.api.errors import maps_domain_errors
from controller.api.pagination import http_path, page_headers
from controller.api.task_convert import task_from_proto
from controller.domain.errors import InvalidArgument
from controller.domain.models import ModelRegistry
from controller.domain.task_actions import TaskActions
from controller.domain.task_book import TaskBook
from controller.domain.types import TaskQuery
from taskspec.training import registry_model

LIST_PATH = http_path(pb.DESCRIPTOR.services_by_name["TasksService"].methods_by_name["ListTasks"])
DEFAULT_LIMIT = 50
MAX_LIMIT = 1000


def _page(request: pb.ListTasksRequest) -> tuple[int, int]:
    if request.page < 0 or not 0 <= request.limit <= MAX_LIMIT:
        raise InvalidArgument(f"page must be 1 or more and limit 1 to {MAX_LIMIT} (page={request.page}, "
                              f"limit={request.limit})", reason="INVALID_PAGE")  # fmt: skip
    return request.page or 1, request.limit or DEFAULT_LIMIT


@maps_domain_errors
class TasksServicer(tasks_service_pb2_grpc.TasksServiceServicer):
    def __init__(self, book: TaskBook, actions: TaskActions, models: ModelRegistry) -> None:
        self.book = book
        self.actions = actions
        self.models = models
        # The document's statuses -> the action that reaches them.
        self._changes = {"paused": actions.pause, "running": actions.resume, "stopped": actions.stop,
                         "cancelled": actions.cancel}  # fmt: skip

    async def ListTasks(self, request: pb.ListTasksRequest, context: grpc.aio.ServicerContext) -> pb.ListTasksResponse:
        page, limit = _page(request)
        found = await self.book.list(TaskQuery(offset=(page - 1) * limit, limit=limit))
        await context.send_initial_metadata(page_headers(LIST_PATH, page, limit, found.total))
        reply = pb.ListTasksResponse(total=found.total, page=page)
        for task in found.tasks:
            shapes.fill_summary(reply.tasks.add(), task)
        return reply

    async def CreateTask(self, request: pb.CreateTaskRequest, context: grpc.aio.ServicerContext) -> pb.CreateTaskResponse:
        spec = shapes.new_task(request)
        if base := registry_model(spec.training.architecture):
            await self.models.checkpoint(base)  # the url's model exists and is a checkpoint to train further
        task = task_from_proto(spec, task_id=uuid.uuid4().hex, request_id="")
        task = await self.actions.create(task.changed(compat_metadata=shapes.compat_metadata(request)))
        return pb.CreateTaskResponse(id=task.id, status=shapes.STATUS[task.state], created_at=iso(task.create_time))

    async def GetTask(self, request: pb.GetTaskRequest, context: grpc.aio.ServicerContext) -> pb.TaskDetail:
        return shapes.detail(await self.book.get(request.task_id))

    async def UpdateTaskStatus(
        self, request: pb.UpdateTaskStatusRequest, context: grpc.aio.ServicerContext
    ) -> pb.UpdateTaskStatusResponse:
        change = self._changes.get(request.status)
        if change is None:
            raise InvalidArgument(f"status {request.status!r} cannot be asked for; one of {sorted(self._changes)}",
                                  reason="INVALID_STATUS")  # fmt: skip
        task = await change(request.task_id, reason=request.reason)
        return pb.UpdateTaskStatusResponse(id=task.id, status=request.status,
                                           updated_at=iso(task.update_time or task.create_time))  # fmt: skip

    async def DeleteTask(self, request: pb.DeleteTaskRequest, context: grpc.aio.ServicerContext) -> empty_pb2.Empty:
        await self.actions.delete(request.task_id)
        return empty_pb2.Empty()
