"""What the node has (psutil, NVML) and how busy it is.

Without an NVIDIA driver `nvmlInit()` raises at once; the node then reports no
GPUs and everything else keeps working.
"""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass

import psutil
import structlog

from aifarm.v1 import node_pb2

log = structlog.get_logger(__name__)


def _nvml():  # type: ignore[no-untyped-def]
    try:
        import pynvml

        pynvml.nvmlInit()
        return pynvml
    except Exception as exc:  # noqa: BLE001 - any NVML failure means "no GPUs here"
        log.info("no NVIDIA GPUs available", reason=type(exc).__name__)
        return None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _torch_version() -> str:
    try:
        from importlib.metadata import version

        return version("torch")
    except Exception:  # noqa: BLE001
        return ""


@dataclass
class HostProbe:
    """Reads capabilities once and usage on every heartbeat."""

    cpu_limit: int = 0
    memory_limit_mb: int = 0

    def __post_init__(self) -> None:
        self._nvml = _nvml()
        psutil.cpu_percent(None)  # the first call primes the counter

    def capabilities(self) -> node_pb2.Capabilities:
        cores = psutil.cpu_count(logical=True) or os.cpu_count() or 1
        memory_mb = psutil.virtual_memory().total >> 20
        return node_pb2.Capabilities(
            cpu_cores=min(cores, self.cpu_limit) if self.cpu_limit else cores,
            memory_mb=min(memory_mb, self.memory_limit_mb) if self.memory_limit_mb else memory_mb,
            gpus=self._gpus(),
            os=platform.system(),
            platform=platform.platform(),
            python_version=sys.version.split()[0],
            torch_version=_torch_version(),
        )

    def _gpus(self) -> list[node_pb2.Gpu]:
        nv = self._nvml
        if nv is None:
            return []
        gpus = []
        for i in range(nv.nvmlDeviceGetCount()):
            h = nv.nvmlDeviceGetHandleByIndex(i)
            major, minor = nv.nvmlDeviceGetCudaComputeCapability(h)
            gpus.append(
                node_pb2.Gpu(
                    index=i,
                    uuid=_text(nv.nvmlDeviceGetUUID(h)),
                    name=_text(nv.nvmlDeviceGetName(h)),
                    memory_mb=nv.nvmlDeviceGetMemoryInfo(h).total >> 20,
                    compute_capability=f"{major}.{minor}",
                )
            )
        return gpus

    def usage(self) -> node_pb2.NodeUsage:
        vm = psutil.virtual_memory()
        return node_pb2.NodeUsage(
            cpu_percent=psutil.cpu_percent(None),
            memory_percent=vm.percent,
            memory_used_mb=(vm.total - vm.available) >> 20,
            load_average=os.getloadavg()[0],
            gpus=self._gpu_usage(),
        )

    def _gpu_usage(self) -> list[node_pb2.GpuUsage]:
        nv = self._nvml
        if nv is None:
            return []
        out = []
        for i in range(nv.nvmlDeviceGetCount()):
            h = nv.nvmlDeviceGetHandleByIndex(i)
            try:
                power = nv.nvmlDeviceGetPowerUsage(h) / 1000.0
            except Exception:  # noqa: BLE001 - not every board reports power
                power = 0.0
            out.append(
                node_pb2.GpuUsage(
                    index=i,
                    utilization_percent=nv.nvmlDeviceGetUtilizationRates(h).gpu,
                    memory_used_mb=nv.nvmlDeviceGetMemoryInfo(h).used >> 20,
                    temperature_c=nv.nvmlDeviceGetTemperature(h, nv.NVML_TEMPERATURE_GPU),
                    power_w=power,
                )
            )
        return out
