"""gswarm's task queue (/api/v1/queue on the gswarm_host listener): the core queue's tasks."""

from __future__ import annotations

import grpc

from aifarm.compat.gswarm.v1 import host_model_service_pb2 as model_pb
from aifarm.compat.gswarm.v1 import host_queue_service_pb2 as pb
from aifarm.compat.gswarm.v1 import host_queue_service_pb2_grpc
from controller.api.compat.gswarm import queue_shapes as shapes
from controller.api.compat.gswarm.model_shapes import action
from controller.api.errors import maps_domain_errors
from controller.domain.errors import InvalidArgument
from controller.domain.registry import NodeRegistry
from controller.domain.task_actions import TaskActions
from controller.domain.task_book import TaskBook
from controller.domain.types import TaskQuery, TaskState

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


def _limit(limit: int) -> int:
    if not 0 <= limit <= MAX_LIMIT:
        raise InvalidArgument(f"limit must be 1 to {MAX_LIMIT}, not {limit}")
    return limit or DEFAULT_LIMIT


@maps_domain_errors
class HostQueueServicer(host_queue_service_pb2_grpc.HostQueueServiceServicer):
    def __init__(self, book: TaskBook, actions: TaskActions, registry: NodeRegistry) -> None:
        self.book = book
        self.actions = actions
        self.registry = registry

    async def GetQueue(self, request: pb.GetQueueRequest, context: grpc.aio.ServicerContext) -> pb.QueueStatus:
        counts = await self.book.count_by_state()
        slots = sum(n.capabilities.cpu_cores for n in self.registry.online_nodes())
        return pb.QueueStatus(
            pending=counts.get(TaskState.PENDING, 0),
            running=sum(counts.get(s, 0) for s in (TaskState.ASSIGNED, TaskState.RUNNING, TaskState.PAUSED)),
            completed=counts.get(TaskState.COMPLETED, 0),
            config=pb.QueueConfig(max_concurrent_tasks=slots, priority_levels=shapes.PRIORITY_LEVELS,
                                  resource_tracking=True),
        )  # fmt: skip

    async def ListQueueTasks(self, request: pb.ListQueueTasksRequest, context: grpc.aio.ServicerContext) -> pb.QueueTasks:
        page = await self.book.list(TaskQuery(states=shapes.states(request.status), limit=_limit(request.limit)))
        return pb.QueueTasks(tasks=[shapes.queue_task(t) for t in page.tasks])

    async def GetQueueTask(self, request: pb.GetQueueTaskRequest, context: grpc.aio.ServicerContext) -> pb.QueueTask:
        return shapes.queue_task(await self.book.get(request.task_id))

    async def CancelQueueTask(
        self, request: pb.CancelQueueTaskRequest, context: grpc.aio.ServicerContext
    ) -> model_pb.ActionResponse:
        task = await self.actions.cancel(request.task_id)
        return action(f"Task {task.id} cancelled", task_id=task.id, status=shapes.STATUS[task.state])

    async def GetQueueHistory(self, request: pb.GetQueueHistoryRequest, context: grpc.aio.ServicerContext) -> pb.QueueTasks:
        since = shapes.since(request.since)
        page = await self.book.list(TaskQuery(states=shapes.states(request.status, shapes.ENDED),
                                              limit=_limit(request.limit)))  # fmt: skip
        return pb.QueueTasks(tasks=[shapes.queue_task(t) for t in page.tasks if t.end_time >= since])
