"""gswarm's model serving on one node (seeds/002, Model Serving): services are serving tasks of the
farm pinned to this node (agent.runners.serving runs them); their status reads the server live."""

from __future__ import annotations

import grpc
from google.protobuf import json_format, struct_pb2

from agent.local_api.arguments import checked, invalid, task_id
from agent.local_api.farm_calls import FarmCalls
from agent.local_api.status import LocalApiError, maps_errors
from agent.models.local_store import LocalModelStore
from agent.runners.serving import framework_problem, server_figures
from agent.serving.services import ServiceBook
from aifarm.compat.gswarm.v1 import client_model_service_pb2 as pb
from aifarm.compat.gswarm.v1 import client_model_service_pb2_grpc
from aifarm.compat.gswarm.v1 import host_model_service_pb2 as host_pb
from aifarm.v1 import node_pb2, task_pb2, task_service_pb2
from taskspec.model_operation import check_device, check_model_name
from taskspec.serving import BUILT_IN_FRAMEWORK, SERVICE_CPU_CORES

STATUS = {task_pb2.TASK_STATE_PENDING: "queued", task_pb2.TASK_STATE_ASSIGNED: "starting",
          task_pb2.TASK_STATE_RUNNING: "running", task_pb2.TASK_STATE_PAUSED: "paused",
          task_pb2.TASK_STATE_COMPLETED: "stopped", task_pb2.TASK_STATE_CANCELLED: "stopped",
          task_pb2.TASK_STATE_FAILED: "failed"}  # fmt: skip


def _action(message: str, **data: object) -> host_pb.ActionResponse:
    struct = struct_pb2.Struct()
    struct.update(data)
    return host_pb.ActionResponse(success=True, message=message, data=struct)


@maps_errors
class ClientServingServicer(client_model_service_pb2_grpc.ClientServingServiceServicer):
    def __init__(self, farm: FarmCalls, store: LocalModelStore, services: ServiceBook) -> None:
        self.farm = farm
        self.store = store
        self.services = services
        self.node_id = farm.node_id

    async def StartService(self, request: pb.StartServiceRequest, context: grpc.aio.ServicerContext) -> host_pb.ActionResponse:
        await self.farm.admit(context)
        model = checked(check_model_name, request.model_name)
        device = checked(check_device, request.device or "disk")
        if not 0 <= request.port <= 65535:
            raise invalid(f"port must be 1 to 65535 (0: any free one), not {request.port}")
        config = json_format.MessageToDict(request.config)
        framework = config.pop("framework", BUILT_IN_FRAMEWORK)
        if not isinstance(framework, str) or not framework.isidentifier():
            raise invalid(f"config.framework {framework!r} is not a framework name (for example torch)")
        if problem := framework_problem(framework):
            raise problem
        if not self.store.has(model, device):
            raise LocalApiError(grpc.StatusCode.NOT_FOUND, f"model {model!r} is not on {device} of node {self.node_id}:"
                                " download or move it there first", "MODEL_NOT_FOUND")  # fmt: skip
        spec = task_pb2.ServingSpec(model=model, device=device, port=request.port, framework=framework)
        spec.config.update(config)
        task = task_pb2.Task(display_name=f"serve {model}", serving=spec,
                             resources=node_pb2.Resources(node=self.node_id, cpu_cores=SERVICE_CPU_CORES))  # fmt: skip
        service_id = task_id(model, self.node_id, str(request.port or "any"))
        await self.farm.tasks.CreateTask(task_service_pb2.CreateTaskRequest(task=task, task_id=service_id),
                                         metadata=self.farm.metadata(context))  # fmt: skip
        return _action(f"Service {service_id} for {model} queued on node {self.node_id}", service_id=service_id,
                       model_name=model, node=self.node_id, device=device, port=request.port, status="queued")  # fmt: skip

    async def StopService(self, request: pb.StopServiceRequest, context: grpc.aio.ServicerContext) -> host_pb.ActionResponse:
        await self.farm.admit(context)
        task = await self._service(request.service_id, context)
        if task.state in (task_pb2.TASK_STATE_COMPLETED, task_pb2.TASK_STATE_FAILED, task_pb2.TASK_STATE_CANCELLED):
            raise LocalApiError(grpc.StatusCode.FAILED_PRECONDITION, f"service {request.service_id!r} has already"
                                f" ended ({STATUS[task.state]})", "CONFLICT")  # fmt: skip
        await self.farm.tasks.CancelTask(task_service_pb2.CancelTaskRequest(name=task.name),
                                         metadata=self.farm.metadata(context))  # fmt: skip
        return _action(f"Service {request.service_id} stopped", service_id=request.service_id)

    async def GetServiceStatus(self, request: pb.GetServiceStatusRequest, context: grpc.aio.ServicerContext) -> pb.ServiceStatus:
        await self.farm.admit(context)
        task = await self._service(request.service_id, context)
        spec = task.serving
        running = self.services.get(request.service_id)
        status = STATUS[task.state]
        answer = pb.ServiceStatus(service_id=request.service_id, model_name=spec.model, node=task.resources.node,
                                  device=spec.device, port=spec.port, status=status, framework=spec.framework,
                                  error=task.result.error)  # fmt: skip
        if running is not None and running.port:
            url = f"http://{self.services.local_host}:{running.port}"
            figures = await server_figures(url)
            answer.port, answer.url = running.port, url
            answer.requests, answer.errors = figures.get("requests", 0.0), figures.get("errors", 0.0)
            answer.latency_ms.update({k.removeprefix("latency_ms_"): v for k, v in figures.items()
                                      if k.startswith("latency_ms_")})  # fmt: skip
        elif status == "running":
            answer.status = "starting"  # placed, but its server does not listen yet
        return answer

    async def _service(self, service_id: str, context: grpc.aio.ServicerContext) -> task_pb2.Task:
        """The service's task; NOT_FOUND when it is no service of this node."""
        try:
            task = await self.farm.tasks.GetTask(task_service_pb2.GetTaskRequest(name=f"tasks/{service_id}"),
                                                 metadata=self.farm.metadata(context))  # fmt: skip
        except grpc.aio.AioRpcError as exc:
            if exc.code() is not grpc.StatusCode.NOT_FOUND:
                raise
            task = None
        if task is None or task.WhichOneof("spec") != "serving" or task.resources.node != self.node_id:
            raise LocalApiError(grpc.StatusCode.NOT_FOUND, f"no service {service_id!r} on node {self.node_id}",
                                "NOT_FOUND")  # fmt: skip
        return task
