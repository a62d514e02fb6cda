"""GET /api/v1/system/info: the controller host's figures (psutil, and every GPU through NVML).

The latest sample of the controller's host sampler (controller.host_probe): at most
``max_age_seconds`` old, its time in ``timestamp``; a request never waits for a reading.
"""

from __future__ import annotations

import grpc

from aifarm.compat.servermgmt.v1 import system_service_pb2 as pb
from aifarm.compat.servermgmt.v1 import system_service_pb2_grpc
from controller.api.compat.json_values import value
from controller.api.compat.servermgmt.shapes import iso
from controller.api.errors import maps_domain_errors
from controller.host_probe import HostProbe


@maps_domain_errors
class SystemServicer(system_service_pb2_grpc.SystemServiceServicer):
    def __init__(self, probe: HostProbe) -> None:
        self.probe = probe

    async def GetSystemInfo(self, request: pb.GetSystemInfoRequest, context: grpc.aio.ServicerContext) -> pb.SystemInfo:
        s = self.probe.latest()
        gpu = bool(s.gpu_count)
        return pb.SystemInfo(
            cpu_usage_percent=s.cpu_percent,
            memory_used_mb=s.memory_used_mb,
            memory_total_mb=s.memory_total_mb,
            memory_percent=s.memory_percent,
            disk_free_gb=s.disk_free_gb,
            disk_total_gb=s.disk_total_gb,
            gpu_available=gpu,
            gpu_usage_percent=value(s.gpu_utilization_percent if gpu else None),
            gpu_memory_used_mb=value(s.gpu_memory_used_mb if gpu else None),
            gpu_memory_total_mb=value(s.gpu_memory_total_mb if gpu else None),
            timestamp=iso(s.taken_at),
        )
