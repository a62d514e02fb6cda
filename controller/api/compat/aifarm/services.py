"""AI Farm's services (seeds/001)."""

from __future__ import annotations

from aifarm.compat.aifarm.v1 import (
    clients_service_pb2,
    clients_service_pb2_grpc,
    metrics_service_pb2,
    metrics_service_pb2_grpc,
    tasks_service_pb2,
    tasks_service_pb2_grpc,
)
from controller.api.compat.aifarm.clients_servicer import ClientsServicer
from controller.api.compat.aifarm.metrics_servicer import MetricsServicer
from controller.api.compat.aifarm.tasks_servicer import TasksServicer
from controller.api.surfaces import Binding, binding

SERVICES: list[Binding] = [
    binding(metrics_service_pb2.DESCRIPTOR, "MetricsService", metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server,
            lambda s: MetricsServicer(s.farm.book, s.farm.registry)),
    binding(tasks_service_pb2.DESCRIPTOR, "TasksService", tasks_service_pb2_grpc.add_TasksServiceServicer_to_server,
            lambda s: TasksServicer(s.farm.book, s.farm.actions, s.farm.models)),
    binding(clients_service_pb2.DESCRIPTOR, "ClientsService", clients_service_pb2_grpc.add_ClientsServiceServicer_to_server,
            lambda s: ClientsServicer(s.farm.book, s.farm.registry)),
]  # fmt: skip
