"""gswarm's services (seeds/002) served by the controller: its host API and its profiler's HTTP API."""

from __future__ import annotations

from aifarm.compat.gswarm.v1 import (
    host_data_service_pb2,
    host_data_service_pb2_grpc,
    host_model_service_pb2,
    host_model_service_pb2_grpc,
    host_queue_service_pb2,
    host_queue_service_pb2_grpc,
    host_serving_service_pb2,
    host_serving_service_pb2_grpc,
    host_system_service_pb2,
    host_system_service_pb2_grpc,
    profiler_http_service_pb2,
    profiler_http_service_pb2_grpc,
)
from controller.api.compat.gswarm.host_data_servicer import HostDataServicer
from controller.api.compat.gswarm.host_models_servicer import HostModelServicer
from controller.api.compat.gswarm.host_queue_servicer import HostQueueServicer
from controller.api.compat.gswarm.host_serving_servicer import HostServingServicer
from controller.api.compat.gswarm.host_system_servicer import HostSystemServicer
from controller.api.compat.gswarm.profiler_grpc_servicer import ProfilerGrpcServicer
from controller.api.compat.gswarm.profiler_http_servicer import ProfilerHttpServicer
from controller.api.surfaces import Binding, binding
from gswarm_profiler import profiler_pb2, profiler_pb2_grpc

SERVICES: list[Binding] = [
    binding(host_model_service_pb2.DESCRIPTOR, "HostModelService",
            host_model_service_pb2_grpc.add_HostModelServiceServicer_to_server, lambda s: HostModelServicer(s.farm.models, s.farm.services)),
    binding(host_system_service_pb2.DESCRIPTOR, "HostSystemService",
            host_system_service_pb2_grpc.add_HostSystemServiceServicer_to_server,
            lambda s: HostSystemServicer(s.farm.book, s.farm.registry, s.farm.models)),
    binding(host_queue_service_pb2.DESCRIPTOR, "HostQueueService",
            host_queue_service_pb2_grpc.add_HostQueueServiceServicer_to_server,
            lambda s: HostQueueServicer(s.farm.book, s.farm.actions, s.farm.registry)),
    binding(host_serving_service_pb2.DESCRIPTOR, "HostServingService",
            host_serving_service_pb2_grpc.add_HostServingServiceServicer_to_server,
            lambda s: HostServingServicer(s.farm.services, s.farm.registry)),
    binding(host_data_service_pb2.DESCRIPTOR, "HostDataService",
            host_data_service_pb2_grpc.add_HostDataServiceServicer_to_server, lambda s: HostDataServicer(s.farm.data_pool)),
    binding(profiler_http_service_pb2.DESCRIPTOR, "ProfilerHttpService",
            profiler_http_service_pb2_grpc.add_ProfilerHttpServiceServicer_to_server,
            lambda s: ProfilerHttpServicer(s.farm.profiling, s.farm.registry)),
    binding(profiler_pb2.DESCRIPTOR, "ProfilerService", profiler_pb2_grpc.add_ProfilerServiceServicer_to_server,
            lambda s: ProfilerGrpcServicer(s.farm.profiling, s.farm.registry)),
]  # fmt: skip
