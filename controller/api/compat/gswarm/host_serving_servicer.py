"""gswarm's services on the host API (/api/v1/services on the gswarm_host listener): the farm's
serving tasks (controller.domain.model_services) in gswarm's shapes."""

from __future__ import annotations

import grpc
from google.protobuf import json_format

from aifarm.compat.gswarm.v1 import host_serving_service_pb2 as pb
from aifarm.compat.gswarm.v1 import host_serving_service_pb2_grpc
from aifarm.compat.gswarm.v1.host_model_service_pb2 import ActionResponse
from controller.api.compat.gswarm import model_shapes as shapes
from controller.api.compat.servermgmt.shapes import iso
from controller.api.errors import maps_domain_errors
from controller.domain.errors import InvalidArgument
from controller.domain.model_services import ModelServices
from controller.domain.registry import NodeRegistry
from controller.domain.types import Task, TaskState
from taskspec.serving import BUILT_IN_FRAMEWORK, ServingSpec

STATUS = {TaskState.PENDING: "queued", TaskState.ASSIGNED: "starting", TaskState.RUNNING: "running",
          TaskState.PAUSED: "paused", TaskState.COMPLETED: "stopped", TaskState.CANCELLED: "stopped",
          TaskState.FAILED: "failed"}  # fmt: skip


def service(task: Task, address: str) -> pb.Service:
    spec = task.spec
    assert isinstance(spec, ServingSpec)
    port = int(task.metrics.get("port", spec.port))
    listening = task.state is TaskState.RUNNING and "port" in task.metrics
    status = STATUS[task.state] if listening or task.state is not TaskState.RUNNING else "starting"
    return pb.Service(service_id=task.id, model_name=spec.model, node=task.resources.node, device=spec.device,
                      port=port, status=status, url=f"http://{address}:{port}" if listening and address else "",
                      created_at=iso(task.create_time))  # fmt: skip


def _int(config: dict, key: str, default: int) -> int:
    value = config.pop(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise InvalidArgument(f"config.{key} must be a whole number, not {value!r}", reason="INVALID_REQUEST")
    return int(value)


@maps_domain_errors
class HostServingServicer(host_serving_service_pb2_grpc.HostServingServiceServicer):
    def __init__(self, services: ModelServices, registry: NodeRegistry) -> None:
        self.services = services
        self.registry = registry

    async def ListServices(self, request: pb.ListServicesRequest, context: grpc.aio.ServicerContext) -> pb.Services:
        addresses = {n: point.address for n, point in self.registry.rendezvous_points().items()}
        return pb.Services(services=[service(t, addresses.get(t.resources.node, "")) for t in self.services.running()])

    async def DeployService(self, request: pb.DeployServiceRequest, context: grpc.aio.ServicerContext) -> ActionResponse:
        config = json_format.MessageToDict(request.config)
        port, replicas = _int(config, "port", 0), _int(config, "replicas", 0)
        framework = config.pop("framework", BUILT_IN_FRAMEWORK)
        if not isinstance(framework, str):
            raise InvalidArgument("config.framework must be a name (for example torch)", reason="INVALID_REQUEST")
        deployed = await self.services.deploy(request.model_name, list(request.nodes), port=port, replicas=replicas,
                                              framework=framework, config=config)  # fmt: skip
        return shapes.action(f"Model {request.model_name} deployed to {len(deployed.services)} services",
                             model_name=request.model_name, services=list(deployed.services),
                             downloads=list(deployed.downloads))  # fmt: skip

    async def StopHostService(self, request: pb.StopHostServiceRequest, context: grpc.aio.ServicerContext) -> ActionResponse:
        await self.services.stop(request.service_id)
        return shapes.action(f"Service {request.service_id} stopped", service_id=request.service_id)
