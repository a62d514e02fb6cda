"""aifarm.v1.ClientGroupService: the client groups (controller.domain.client_groups) as core resources."""

from __future__ import annotations

import grpc
from google.protobuf import struct_pb2

from aifarm.v1 import client_group_service_pb2 as pb
from aifarm.v1 import client_group_service_pb2_grpc
from controller.api.compat.json_values import fill_struct
from controller.api.convert_common import resource_id, timestamp
from controller.api.errors import maps_domain_errors
from controller.domain.client_groups import ClientGroup, ClientGroups, GroupState
from controller.domain.errors import InvalidArgument

STATES = {GroupState.SUBMITTED: pb.ClientGroup.STATE_SUBMITTED, GroupState.RUNNING: pb.ClientGroup.STATE_RUNNING,
          GroupState.ENDED: pb.ClientGroup.STATE_ENDED}  # fmt: skip


def client_group_message(group: ClientGroup) -> pb.ClientGroup:
    return pb.ClientGroup(
        name=f"clientGroups/{group.benchmark_id}", benchmark_id=group.benchmark_id, num_clients=group.num_clients,
        time_limit_minutes=group.time_limit_minutes, server_addr=group.server_addr,
        create_time=timestamp(group.created_at), job_id=group.job_id, state=STATES[group.state],
        state_reason=group.state_reason, client_addresses=group.client_addresses,
        figures=[pb.ClientProcessFigures(client_address=address, figures=fill_struct(struct_pb2.Struct(), figures))
                 for address, figures in group.figures.items()],
    )  # fmt: skip


def benchmark_id(name: str) -> int:
    text = resource_id(name, "clientGroups")
    if not text.isdigit():
        raise InvalidArgument(f"invalid resource name {name!r}: a client group's id is its benchmark id, a number")
    return int(text)


@maps_domain_errors
class ClientGroupServicer(client_group_service_pb2_grpc.ClientGroupServiceServicer):
    def __init__(self, groups: ClientGroups) -> None:
        self.groups = groups

    async def GetClientGroup(self, request: pb.GetClientGroupRequest, context: grpc.aio.ServicerContext) -> pb.ClientGroup:
        return client_group_message(self.groups.get(benchmark_id(request.name)))

    async def ListClientGroups(self, request: pb.ListClientGroupsRequest,
                               context: grpc.aio.ServicerContext) -> pb.ListClientGroupsResponse:  # fmt: skip
        return pb.ListClientGroupsResponse(client_groups=[client_group_message(g) for g in self.groups.list()])
