"""ShelbyCompute's services (seeds/003)."""

from __future__ import annotations

from aifarm.compat.shelby.v1 import (
    agent_service_pb2,
    agent_service_pb2_grpc,
    frontend_service_pb2,
    frontend_service_pb2_grpc,
    job_service_pb2,
    job_service_pb2_grpc,
)
from controller.api.compat.shelby.agent_servicer import AgentServicer
from controller.api.compat.shelby.frontend_servicer import FrontendServicer
from controller.api.compat.shelby.job_servicer import JobServicer
from controller.api.surfaces import Binding, binding

SERVICES: list[Binding] = [
    binding(job_service_pb2.DESCRIPTOR, "JobService", job_service_pb2_grpc.add_JobServiceServicer_to_server,
            lambda s: JobServicer(s.farm.book, s.farm.actions)),
    binding(frontend_service_pb2.DESCRIPTOR, "FrontendService",
            frontend_service_pb2_grpc.add_FrontendServiceServicer_to_server,
            lambda s: FrontendServicer(s.farm.book, s.farm.registry)),
    binding(agent_service_pb2.DESCRIPTOR, "AgentService", agent_service_pb2_grpc.add_AgentServiceServicer_to_server,
            lambda s: AgentServicer(s.farm.polling, s.farm.identities, s.credentials,
                                    heartbeat_interval_seconds=s.config.heartbeat_interval_seconds)),
]  # fmt: skip
