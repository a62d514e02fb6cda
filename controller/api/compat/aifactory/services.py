"""AI Factory Client Services (seeds/000) served by the controller: the client service."""

from __future__ import annotations

from aifarm.compat.aifactory.v1 import client_service_pb2, client_service_pb2_grpc
from controller.api.compat.aifactory.client_servicer import ClientServicer
from controller.api.surfaces import Binding, binding

SERVICES: list[Binding] = [
    binding(client_service_pb2.DESCRIPTOR, "ClientService", client_service_pb2_grpc.add_ClientServiceServicer_to_server,
            lambda s: ClientServicer(s.farm.client_groups)),
]  # fmt: skip
