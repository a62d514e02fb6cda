"""What the node has (psutil, NVML) and how busy it is.

GPUs come from `agent.gpus`: without an NVIDIA driver the node reports none,
and a GPU query that fails leaves that GPU out rather than failing the probe.
"""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

import psutil
import structlog

from agent.clock import Clock, LoopClock
from agent.gpus import Gpus
from aifarm.v1 import node_pb2

log = structlog.get_logger(__name__)

#: Seconds before NVML is asked again after a query failed.
NVML_RETRY_SECONDS = 30.0


def _torch_version() -> str:
    try:
        from importlib.metadata import version

        return version("torch")
    except Exception:  # noqa: BLE001
        return ""


class HostProbe:
    """Reads capabilities for each hello and usage for each heartbeat."""

    def __init__(
        self,
        *,
        cpu_limit: int = 0,
        cpu_slots: int = 0,
        memory_limit_mb: int = 0,
        node_id: str = "",
        clock: Clock | None = None,
        nvml_retry_seconds: float = NVML_RETRY_SECONDS,
        disk_path: Path | None = None,
    ) -> None:
        self.cpu_limit = cpu_limit
        #: CPU cores advertised whatever the machine has (agent.config.AgentConfig.cpu_slots); 0: counted.
        self.cpu_slots = cpu_slots
        self.memory_limit_mb = memory_limit_mb
        #: The data directory, whose disk the node offers (gswarm's storage.disk).
        self.disk_path = disk_path
        self.gpus = Gpus(clock or LoopClock(), retry_seconds=nvml_retry_seconds, log=log.bind(node_id=node_id))
        psutil.cpu_percent(None)  # the first call primes the counter

    def capabilities(self) -> node_pb2.Capabilities:
        cores = psutil.cpu_count(logical=True) or os.cpu_count() or 1
        if self.cpu_slots:
            cores = self.cpu_slots
        elif self.cpu_limit:
            cores = min(cores, self.cpu_limit)
        memory_mb = psutil.virtual_memory().total >> 20
        return node_pb2.Capabilities(
            cpu_cores=cores,
            memory_mb=min(memory_mb, self.memory_limit_mb) if self.memory_limit_mb else memory_mb,
            gpus=self.gpus.describe(),
            os=platform.system(),
            platform=platform.platform(),
            python_version=sys.version.split()[0],
            torch_version=_torch_version(),
            disk_bytes=psutil.disk_usage(str(self.disk_path)).total if self.disk_path else 0,
        )

    def usage(self) -> node_pb2.NodeUsage:
        """This moment's figures. A failing GPU is left out; psutil failing raises (the node
        cannot say how busy it is, and its heartbeat routine fails with it)."""
        vm = psutil.virtual_memory()
        return node_pb2.NodeUsage(
            cpu_percent=psutil.cpu_percent(None),
            memory_percent=vm.percent,
            memory_used_mb=(vm.total - vm.available) >> 20,
            load_average=os.getloadavg()[0],
            gpus=self.gpus.usage(),
        )
