"""gswarm's services (seeds/002) served by the controller: its host API."""

from __future__ import annotations

from aifarm.compat.gswarm.v1 import host_model_service_pb2, host_model_service_pb2_grpc
from controller.api.compat.gswarm.host_models_servicer import HostModelServicer
from controller.api.surfaces import Binding, binding

SERVICES: list[Binding] = [
    binding(host_model_service_pb2.DESCRIPTOR, "HostModelService",
            host_model_service_pb2_grpc.add_HostModelServiceServicer_to_server, lambda s: HostModelServicer(s.farm.models)),
]  # fmt: skip
