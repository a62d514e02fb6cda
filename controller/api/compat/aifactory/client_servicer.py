"""AI Factory's client service (/api/v1 on the aifactory listener): the domain's client groups
(controller.domain.client_groups) in the document's shapes."""

from __future__ import annotations

import grpc
from google.protobuf import json_format

from aifarm.compat.aifactory.v1 import client_service_pb2 as pb
from aifarm.compat.aifactory.v1 import client_service_pb2_grpc
from controller.api.compat.json_values import fill_struct
from controller.api.errors import maps_domain_errors
from controller.domain.client_groups import ClientGroup, ClientGroups
from controller.domain.errors import InvalidArgument


def group_info(group: ClientGroup) -> pb.ClientGroupInfo:
    info = pb.ClientGroupInfo(num_clients=group.num_clients, client_address=next(iter(group.client_addresses), ""),
                              created_at=group.created_at, client_addresses=group.client_addresses,
                              time_limit=group.time_limit_minutes, state=group.state.value,
                              state_reason=group.state_reason, job_id=group.job_id, server_addr=group.server_addr)  # fmt: skip
    fill_struct(info.figures, {address: dict(figures) for address, figures in group.figures.items()})
    return info


@maps_domain_errors
class ClientServicer(client_service_pb2_grpc.ClientServiceServicer):
    def __init__(self, groups: ClientGroups) -> None:
        self.groups = groups

    async def CreateClientGroup(self, request: pb.CreateClientGroupRequest,
                                context: grpc.aio.ServicerContext) -> pb.CreateClientGroupResponse:  # fmt: skip
        group = await self.groups.create(
            request.benchmark_id, request.num_clients if request.HasField("num_clients") else None,
            request.time_limit if request.HasField("time_limit") else None, request.server_addr)  # fmt: skip
        return pb.CreateClientGroupResponse(status="created", benchmark_id=group.benchmark_id,
                                            num_clients=group.num_clients, job_id=group.job_id)  # fmt: skip

    async def GetClientGroup(self, request: pb.GetClientGroupRequest,
                             context: grpc.aio.ServicerContext) -> pb.GetClientGroupResponse:  # fmt: skip
        group = self.groups.get(request.benchmark_id)
        return pb.GetClientGroupResponse(benchmark_id=group.benchmark_id, info=group_info(group))

    async def DeleteClientGroup(self, request: pb.DeleteClientGroupRequest,
                                context: grpc.aio.ServicerContext) -> pb.DeleteClientGroupResponse:  # fmt: skip
        group = await self.groups.delete(request.benchmark_id)
        return pb.DeleteClientGroupResponse(status="deleted", benchmark_id=group.benchmark_id)

    async def RunClientGroup(self, request: pb.RunClientGroupRequest,
                             context: grpc.aio.ServicerContext) -> pb.RunClientGroupResponse:  # fmt: skip
        options = json_format.MessageToDict(request.options) if request.HasField("options") else None
        answers = await self.groups.run(request.benchmark_id, options)
        return pb.RunClientGroupResponse(status="dispatched", benchmark_id=request.benchmark_id, results=[
            pb.RunResult(client_process=a.address, status_code=a.status_code, body=a.body) for a in answers])  # fmt: skip

    async def ConnectClient(self, request: pb.ConnectClientRequest,
                            context: grpc.aio.ServicerContext) -> pb.ConnectClientResponse:  # fmt: skip
        await self.groups.connect(request.benchmark_id, request.client_address)
        return pb.ConnectClientResponse(status="registered", benchmark_id=request.benchmark_id,
                                        client_address=request.client_address)  # fmt: skip

    async def ReportClientFigures(self, request: pb.ReportClientFiguresRequest,
                                  context: grpc.aio.ServicerContext) -> pb.ReportClientFiguresResponse:  # fmt: skip
        await self.groups.report_figures(request.benchmark_id, request.client_address,
                                         json_format.MessageToDict(request.figures))  # fmt: skip
        return pb.ReportClientFiguresResponse(status="recorded")

    async def AddObserver(self, request: pb.AddObserverRequest, context: grpc.aio.ServicerContext) -> pb.AddObserverResponse:
        port = json_format.MessageToDict(request.port) if request.HasField("port") else ""
        try:
            await self.groups.add_observer(request.ip_address, port, json_format.MessageToDict(request.update_preferences))
        except InvalidArgument as exc:  # the document answers a refused observer 200 {"status": "error"}
            return pb.AddObserverResponse(status="error", detail=str(exc))
        return pb.AddObserverResponse(status="observer_added")
