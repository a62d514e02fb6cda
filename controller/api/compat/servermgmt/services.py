"""The Server Management API's services (seeds/004)."""

from __future__ import annotations

from aifarm.compat.servermgmt.v1 import (
    dataset_service_pb2,
    dataset_service_pb2_grpc,
    health_service_pb2,
    health_service_pb2_grpc,
    model_service_pb2,
    model_service_pb2_grpc,
    system_service_pb2,
    system_service_pb2_grpc,
    training_service_pb2,
    training_service_pb2_grpc,
)
from controller.api.compat.servermgmt.dataset_servicer import DatasetServicer
from controller.api.compat.servermgmt.health_servicer import HealthServicer
from controller.api.compat.servermgmt.model_servicer import ModelServicer
from controller.api.compat.servermgmt.system_servicer import SystemServicer
from controller.api.compat.servermgmt.training_servicer import TrainingServicer
from controller.api.surfaces import Binding, binding

SERVICES: list[Binding] = [
    binding(health_service_pb2.DESCRIPTOR, "HealthService", health_service_pb2_grpc.add_HealthServiceServicer_to_server,
            lambda s: HealthServicer(s.farm.book)),
    binding(training_service_pb2.DESCRIPTOR, "TrainingService",
            training_service_pb2_grpc.add_TrainingServiceServicer_to_server,
            lambda s: TrainingServicer(s.farm.book, s.farm.actions, s.farm.datasets, s.farm.models)),
    binding(system_service_pb2.DESCRIPTOR, "SystemService", system_service_pb2_grpc.add_SystemServiceServicer_to_server,
            lambda s: SystemServicer(s.host)),
    binding(model_service_pb2.DESCRIPTOR, "ModelService", model_service_pb2_grpc.add_ModelServiceServicer_to_server,
            lambda s: ModelServicer(s.farm.models, s.config.data_dir)),
    binding(dataset_service_pb2.DESCRIPTOR, "DatasetService",
            dataset_service_pb2_grpc.add_DatasetServiceServicer_to_server,
            lambda s: DatasetServicer(s.farm.datasets, s.config.data_dir)),
]  # fmt: skip
