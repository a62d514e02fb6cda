"""Figures of the host the controller runs on: psutil, and every GPU through NVML (summed).

Without an NVIDIA driver ``nvmlInit()`` raises at once; the host then has no GPUs.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import structlog

log = structlog.get_logger(__name__)
GB = 1000**3


@dataclass(frozen=True)
class HostSample:
    cpu_percent: float
    memory_used_mb: int
    memory_total_mb: int
    memory_percent: float
    disk_free_gb: float
    disk_total_gb: float
    #: GPUs NVML sees; 0 without a driver.
    gpu_count: int = 0
    #: Mean utilisation over all GPUs.
    gpu_utilization_percent: float = 0.0
    gpu_memory_used_mb: int = 0
    gpu_memory_total_mb: int = 0


def _nvml() -> Any:
    try:
        import pynvml

        pynvml.nvmlInit()
        return pynvml
    except Exception as exc:  # NVMLError_LibraryNotFound and friends: no GPUs here
        log.info("no NVIDIA GPUs visible", reason=type(exc).__name__)
        return None


class HostProbe:
    """``sample()`` blocks for ``cpu_interval`` seconds (CPU use is measured over it)."""

    def __init__(self, disk_path: Path, *, cpu_interval: float = 0.2) -> None:
        self.disk_path = disk_path
        self.cpu_interval = cpu_interval
        self._nvml = _nvml()

    def sample(self) -> HostSample:
        memory = psutil.virtual_memory()
        disk = shutil.disk_usage(self.disk_path)
        count, util, used, total = self._gpus()
        return HostSample(
            cpu_percent=psutil.cpu_percent(interval=self.cpu_interval),
            memory_used_mb=(memory.total - memory.available) >> 20,
            memory_total_mb=memory.total >> 20,
            memory_percent=memory.percent,
            disk_free_gb=round(disk.free / GB, 2),
            disk_total_gb=round(disk.total / GB, 2),
            gpu_count=count,
            gpu_utilization_percent=util,
            gpu_memory_used_mb=used,
            gpu_memory_total_mb=total,
        )

    def _gpus(self) -> tuple[int, float, int, int]:
        nv = self._nvml
        if nv is None:
            return 0, 0.0, 0, 0
        try:
            handles = [nv.nvmlDeviceGetHandleByIndex(i) for i in range(nv.nvmlDeviceGetCount())]
            if not handles:
                return 0, 0.0, 0, 0
            util = sum(nv.nvmlDeviceGetUtilizationRates(h).gpu for h in handles) / len(handles)
            memories = [nv.nvmlDeviceGetMemoryInfo(h) for h in handles]
        except Exception:
            log.exception("reading the GPUs failed")
            return 0, 0.0, 0, 0
        return len(handles), float(util), sum(m.used for m in memories) >> 20, sum(m.total for m in memories) >> 20
