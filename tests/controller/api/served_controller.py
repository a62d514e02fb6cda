"""The real controller in the test's own process: real SQLite in tmp_path, real gRPC on a free port.

The middle tier of the tests: servicers through the wire, without starting processes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc

from aifarm.compat.shelby.v1 import job_service_pb2_grpc
from aifarm.v1 import task_service_pb2_grpc
from controller.config import ControllerConfig
from controller.server import Controller

API_KEY = "api-tier-key"
AGENT_TOKEN = "api-tier-agent-token"
METADATA = (("authorization", f"Bearer {API_KEY}"),)


@dataclass
class Served:
    controller: Controller
    channel: grpc.aio.Channel
    tasks: task_service_pb2_grpc.TaskServiceStub
    jobs: job_service_pb2_grpc.JobServiceStub


@asynccontextmanager
async def served_controller(data_dir: Path, **config: object) -> AsyncIterator[Served]:
    cfg = ControllerConfig(data_dir=data_dir, grpc_port=0, api_keys=(API_KEY,), agent_token=AGENT_TOKEN,
                           **config)  # type: ignore[arg-type]  # fmt: skip
    controller = Controller(cfg)
    address = await controller.start()
    channel = grpc.aio.insecure_channel(address, options=[("grpc.max_receive_message_length", 256 << 20)])
    try:
        yield Served(controller, channel, task_service_pb2_grpc.TaskServiceStub(channel),
                     job_service_pb2_grpc.JobServiceStub(channel))  # fmt: skip
    finally:
        await channel.close()
        await controller.shutdown(grace=0.5)
