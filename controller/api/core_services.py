"""The core API's services (aifarm.v1)."""

from __future__ import annotations

from aifarm.v1 import (
    agent_service_pb2,
    agent_service_pb2_grpc,
    client_group_service_pb2,
    client_group_service_pb2_grpc,
    dataset_service_pb2,
    dataset_service_pb2_grpc,
    model_service_pb2,
    model_service_pb2_grpc,
    node_service_pb2,
    node_service_pb2_grpc,
    profiling_service_pb2,
    profiling_service_pb2_grpc,
    system_service_pb2,
    system_service_pb2_grpc,
    task_service_pb2,
    task_service_pb2_grpc,
)
from controller.api.agent_servicer import AgentServicer
from controller.api.client_group_servicer import ClientGroupServicer
from controller.api.dataset_servicer import DatasetServicer
from controller.api.model_servicer import ModelServicer
from controller.api.node_servicer import NodeServicer
from controller.api.profiling_servicer import ProfilingServicer
from controller.api.surfaces import Binding, binding
from controller.api.system_servicer import SystemServicer
from controller.api.task_servicer import TaskServicer

SERVICES: list[Binding] = [
    binding(task_service_pb2.DESCRIPTOR, "TaskService", task_service_pb2_grpc.add_TaskServiceServicer_to_server,
            lambda s: TaskServicer(s.farm.book, s.farm.actions, s.farm.artifacts)),
    binding(client_group_service_pb2.DESCRIPTOR, "ClientGroupService",
            client_group_service_pb2_grpc.add_ClientGroupServiceServicer_to_server,
            lambda s: ClientGroupServicer(s.farm.client_groups)),
    binding(node_service_pb2.DESCRIPTOR, "NodeService", node_service_pb2_grpc.add_NodeServiceServicer_to_server,
            lambda s: NodeServicer(s.farm.nodes)),
    binding(dataset_service_pb2.DESCRIPTOR, "DatasetService",
            dataset_service_pb2_grpc.add_DatasetServiceServicer_to_server, lambda s: DatasetServicer(s.farm.datasets)),
    binding(model_service_pb2.DESCRIPTOR, "ModelService", model_service_pb2_grpc.add_ModelServiceServicer_to_server,
            lambda s: ModelServicer(s.farm.models)),
    binding(system_service_pb2.DESCRIPTOR, "SystemService", system_service_pb2_grpc.add_SystemServiceServicer_to_server,
            lambda s: SystemServicer(s.farm.book, s.farm.registry, s.started, s.credentials, s.config.data_dir,
                                     s.farm.profiling, s.farm.placement.latency)),
    binding(agent_service_pb2.DESCRIPTOR, "AgentService", agent_service_pb2_grpc.add_AgentServiceServicer_to_server,
            lambda s: AgentServicer(s.farm.nodes, s.farm.reports, s.farm.datasets, s.farm.artifacts, s.credentials,
                                    heartbeat_interval_ms=int(s.config.heartbeat_interval_seconds * 1000),
                                    models=s.farm.models, model_operations=s.farm.model_operations,
                                    profiling=s.farm.profiling, data_pool=s.farm.data_pool)),
    binding(profiling_service_pb2.DESCRIPTOR, "ProfilingService",
            profiling_service_pb2_grpc.add_ProfilingServiceServicer_to_server,
            lambda s: ProfilingServicer(s.farm.profiling)),
]  # fmt: skip
