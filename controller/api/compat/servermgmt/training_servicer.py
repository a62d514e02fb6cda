"""Training sessions: each one is a training task in a concurrency group (MAX_CONCURRENT_SESSIONS)."""

from __future__ import annotations

import uuid

import grpc
from google.protobuf import struct_pb2

from aifarm.compat.servermgmt.v1 import training_pb2
from aifarm.compat.servermgmt.v1 import training_service_pb2 as pb
from aifarm.compat.servermgmt.v1 import training_service_pb2_grpc
from aifarm.v1 import task_pb2
from controller.api.compat.servermgmt import training_convert as convert
from controller.api.compat.servermgmt.shapes import json_array, json_value
from controller.api.errors import maps_domain_errors
from controller.api.task_convert import task_from_proto
from controller.domain.datasets import DatasetLibrary
from controller.domain.errors import FailedPrecondition, NotFound
from controller.domain.models import ModelRegistry
from controller.domain.task_actions import TaskActions
from controller.domain.task_book import TaskBook
from controller.domain.types import Task, TaskQuery, TaskState

#: The concurrency group of sessions; the controller's limit for it is MAX_CONCURRENT_SESSIONS.
SESSION_GROUP = "training-sessions"
DEFAULT_LOG_LIMIT = 100
#: Sessions listed at most (newest first).
MAX_SESSIONS = 1000


@maps_domain_errors
class TrainingServicer(training_service_pb2_grpc.TrainingServiceServicer):
    def __init__(self, book: TaskBook, actions: TaskActions, datasets: DatasetLibrary, models: ModelRegistry,
                 group: str = SESSION_GROUP) -> None:  # fmt: skip
        self.models = models
        self.book = book
        self.actions = actions
        self.datasets = datasets
        self.group = group

    async def StartTraining(
        self, request: pb.StartTrainingRequest, context: grpc.aio.ServicerContext
    ) -> pb.StartTrainingResponse:
        session_id = f"sess_{uuid.uuid4().hex[:12]}"
        spec = convert.training_spec(request)
        spec.architecture = await self.models.trainable_architecture(request.model_architecture)
        msg = task_pb2.Task(
            display_name=f"{request.model_architecture} on {request.dataset_name}",
            training=spec,
            concurrency_group=self.group,
            output_model=f"{request.model_architecture}_{request.dataset_name}_{session_id}",
        )
        task = task_from_proto(msg, task_id=session_id, request_id="")
        await self.datasets.get(request.dataset_name)
        starts_now = self.book.free_group_slots(self.group) > 0
        await self.actions.create(task)  # checks the documented ranges
        if starts_now:
            return pb.StartTrainingResponse(
                session_id=session_id, status="running", message="Training session created and started"
            )
        return pb.StartTrainingResponse(
            session_id=session_id, status="queued", message="Training session created and queued"
        )

    async def StopTraining(self, request: pb.StopTrainingRequest, context: grpc.aio.ServicerContext) -> pb.StopTrainingResponse:
        await self._session(request.session_id)
        await self.actions.stop(request.session_id)
        return pb.StopTrainingResponse(message=f"Training session {request.session_id} stopped successfully")

    async def GetTrainingStatus(
        self, request: pb.GetTrainingStatusRequest, context: grpc.aio.ServicerContext
    ) -> training_pb2.TrainingStatus:
        task = await self._session(request.session_id)
        return convert.status(task, convert.last_epoch(task, await self.book.metrics(task.id)))

    async def GetTrainingMetrics(
        self, request: pb.GetTrainingMetricsRequest, context: grpc.aio.ServicerContext
    ) -> struct_pb2.Value:
        task = await self._session(request.session_id)
        points = convert.current_points(task, await self.book.metrics(task.id))
        return json_value(convert.metrics(task.id, points[-1]) if points else None)

    async def GetTrainingHistory(
        self, request: pb.GetTrainingHistoryRequest, context: grpc.aio.ServicerContext
    ) -> struct_pb2.ListValue:
        task = await self._session(request.session_id)
        points = convert.current_points(task, await self.book.metrics(task.id))
        return json_array(convert.metrics(task.id, p) for p in points)

    async def GetTrainingLogs(
        self, request: pb.GetTrainingLogsRequest, context: grpc.aio.ServicerContext
    ) -> struct_pb2.ListValue:
        task = await self._session(request.session_id)
        limit = request.limit if request.limit > 0 else DEFAULT_LOG_LIMIT
        lines = await self.book.logs(task.id, limit=limit, tail=limit)
        return json_array(convert.log_entry(task.id, line) for line in lines)

    async def ListTrainingSessions(
        self, request: pb.ListTrainingSessionsRequest, context: grpc.aio.ServicerContext
    ) -> struct_pb2.ListValue:
        # The sessions and their current epochs in one statement, not one metrics read a session.
        page = await self.book.list(TaskQuery(concurrency_group=self.group, limit=MAX_SESSIONS, last_epochs=True))
        return json_array(convert.session(t, page.last_epochs.get(t.id)) for t in page.tasks)

    async def GetTrainingQueue(
        self, request: pb.GetTrainingQueueRequest, context: grpc.aio.ServicerContext
    ) -> struct_pb2.ListValue:
        return json_array(convert.session(t, None) for t in self.book.queue(self.group))

    async def CancelQueuedSession(
        self, request: pb.CancelQueuedSessionRequest, context: grpc.aio.ServicerContext
    ) -> pb.CancelQueuedSessionResponse:
        task = await self._session(request.session_id)
        if task.state is not TaskState.PENDING:
            raise FailedPrecondition(
                f"Session '{task.id}' is not queued (it is {convert.STATES[task.state]})", reason="SESSION_NOT_QUEUED"
            )
        await self.actions.cancel(task.id)
        return pb.CancelQueuedSessionResponse(message=f"Queued session {task.id} cancelled successfully")

    async def _session(self, session_id: str) -> Task:
        try:
            task = await self.book.get(session_id)
        except NotFound:
            task = None
        if task is None or task.concurrency_group != self.group:
            raise NotFound(f"Session '{session_id}' not found", reason="SESSION_NOT_FOUND")
        return task
