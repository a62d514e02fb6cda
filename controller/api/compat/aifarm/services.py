"""AI Farm's services (seeds/001)."""

from __future__ import annotations

from aifarm.compat.aifarm.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from controller.api.compat.aifarm.metrics_servicer import MetricsServicer
from controller.api.surfaces import Binding, binding

SERVICES: list[Binding] = [
    binding(metrics_service_pb2.DESCRIPTOR, "MetricsService", metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server,
            lambda s: MetricsServicer(s.farm.book, s.farm.registry)),
]  # fmt: skip
