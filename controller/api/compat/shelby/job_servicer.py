"""ShelbyCompute jobs: create, upload a script, list, read, restart, delete; each job is a script task."""

from __future__ import annotations

import uuid

import grpc

from aifarm.compat.shelby.v1 import job_pb2
from aifarm.compat.shelby.v1 import job_service_pb2 as pb
from aifarm.compat.shelby.v1 import job_service_pb2_grpc
from controller.api.compat.shelby import job_convert as convert
from controller.api.errors import maps_domain_errors
from controller.domain.errors import InvalidArgument, NotFound
from controller.domain.task_actions import TaskActions
from controller.domain.task_book import TaskBook
from controller.domain.types import Task, TaskQuery, TaskState

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
DEFAULT_LOG_LIMIT = 1000


@maps_domain_errors
class JobServicer(job_service_pb2_grpc.JobServiceServicer):
    def __init__(self, book: TaskBook, actions: TaskActions) -> None:
        self.book = book
        self.actions = actions

    async def CreateJob(self, request: pb.CreateJobRequest, context: grpc.aio.ServicerContext) -> pb.CreateJobResponse:
        if not request.jobId:
            request.jobId = f"job-{uuid.uuid4().hex[:12]}"
        task = await self.actions.create(convert.new_task(request))
        return pb.CreateJobResponse(
            success=True, jobId=task.id, status=convert.STATUS[task.state],
            message=f"Job {task.id} created; upload its script to run it",
        )  # fmt: skip

    async def UploadScript(
        self, request: pb.UploadScriptRequest, context: grpc.aio.ServicerContext
    ) -> pb.UploadScriptResponse:
        if not request.jobId:
            raise InvalidArgument("jobId is required", reason="INVALID_SCRIPT")
        task = await self._job(request.jobId)
        await self.actions.set_spec(task.id, convert.uploaded_spec(task, request))
        return pb.UploadScriptResponse(
            success=True, jobId=task.id, scriptHash=convert.sha256(request.script),
            message=f"Script uploaded for job {task.id}",
        )  # fmt: skip

    async def ListJobs(self, request: pb.ListJobsRequest, context: grpc.aio.ServicerContext) -> pb.ListJobsResponse:
        states: tuple[TaskState, ...] = ()
        if request.status:
            if request.status not in convert.STATES_OF:
                raise InvalidArgument(
                    f"unknown status {request.status!r}; use one of {', '.join(convert.STATES_OF)}", reason="BAD_STATUS"
                )
            states = convert.STATES_OF[request.status]
        if not 0 <= request.limit <= MAX_LIMIT:
            raise InvalidArgument(f"limit must be between 1 and {MAX_LIMIT}", reason="BAD_LIMIT")
        page = await self.book.list(TaskQuery(states=states, limit=request.limit or DEFAULT_LIMIT))
        jobs = [convert.job(t) for t in page.tasks]
        return pb.ListJobsResponse(jobs=jobs, count=len(jobs))

    async def GetJob(self, request: pb.GetJobRequest, context: grpc.aio.ServicerContext) -> job_pb2.JobDetail:
        task = await self._job(request.jobId)
        lines = await self.book.logs(task.id, limit=DEFAULT_LOG_LIMIT, tail=DEFAULT_LOG_LIMIT)
        detail = convert.fill_job(job_pb2.JobDetail(), task)
        detail.logs.extend(convert.log_entry(line) for line in lines)
        detail.provenance.extend(convert.provenance(task, await self.book.attempts(task.id)))
        return detail

    async def DeleteJob(self, request: pb.DeleteJobRequest, context: grpc.aio.ServicerContext) -> pb.DeleteJobResponse:
        task = await self._job(request.jobId)
        await self.actions.delete(task.id)
        return pb.DeleteJobResponse(success=True, message=f"Job {task.id} deleted successfully")

    async def RestartJob(self, request: pb.RestartJobRequest, context: grpc.aio.ServicerContext) -> pb.RestartJobResponse:
        task = await self.actions.restart((await self._job(request.jobId)).id)
        return pb.RestartJobResponse(
            success=True, jobId=task.id, status=convert.STATUS[task.state], message=f"Job {task.id} restarted"
        )

    async def GetJobLogs(self, request: pb.GetJobLogsRequest, context: grpc.aio.ServicerContext) -> pb.GetJobLogsResponse:
        task = await self._job(request.jobId)
        if request.limit < 0:
            raise InvalidArgument("limit must not be negative", reason="BAD_LIMIT")
        limit = request.limit or DEFAULT_LOG_LIMIT
        lines = await self.book.logs(task.id, limit=limit, tail=limit)
        return pb.GetJobLogsResponse(jobId=task.id, logs=[convert.log_entry(line) for line in lines])

    async def _job(self, job_id: str) -> Task:
        try:
            return await self.book.get(job_id)
        except NotFound:
            raise NotFound(f"Job {job_id!r} not found", reason="JOB_NOT_FOUND") from None
