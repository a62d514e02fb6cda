"""Figures of the host the controller runs on: psutil, and every GPU through NVML (summed).

A sampler loop (`HostProbe.run`, one of the controller's loops) reads them every
``interval_seconds`` in a worker thread; a request gets the latest sample at once
(`latest()`), never waits for one. CPU use is over the interval between two samples.
Without an NVIDIA driver ``nvmlInit()`` raises at once; the host then has no GPUs.
"""

from __future__ import annotations

import asyncio
import shutil
import time
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
    #: When it was read (Unix seconds).
    taken_at: float = 0.0


def _nvml() -> Any:
    try:
        import pynvml

        pynvml.nvmlInit()
        return pynvml
    except Exception as exc:  # NVMLError_LibraryNotFound and friends: no GPUs here
        log.info("no NVIDIA GPUs visible", reason=type(exc).__name__)
        return None


def _total(t: Any) -> float:
    # Linux counts guest time inside user and nice as well (as psutil's cpu_percent does).
    return sum(t) - getattr(t, "guest", 0.0) - getattr(t, "guest_nice", 0.0)


class HostProbe:
    """The latest host sample, kept fresh by `run()`; a sample is at most ``max_age_seconds`` old."""

    def __init__(self, disk_path: Path, *, interval_seconds: float = 1.0) -> None:
        self.disk_path = disk_path
        self.interval_seconds = interval_seconds
        #: What `latest()` promises: past it (the loop not running, or stalled) it reads one inline.
        self.max_age_seconds = 2 * interval_seconds
        self._nvml = _nvml()
        # Its own CPU counter: psutil's module-level one is shared with an agent in the same process.
        self._cpu_times = psutil.cpu_times()
        self._latest = self.read()

    def latest(self) -> HostSample:
        """The last sample; no wait. Without a fresh one (sampler not started) a non-blocking read."""
        if time.time() - self._latest.taken_at > self.max_age_seconds:
            self._latest = self.read()
        return self._latest

    async def run(self) -> None:
        """The sampler loop: one read every interval, off the event loop (NVML calls can block)."""
        while True:
            self._latest = await asyncio.to_thread(self.read)
            await asyncio.sleep(self.interval_seconds)

    def read(self) -> HostSample:
        """One sample now; CPU use since the previous read, never a wait."""
        memory = psutil.virtual_memory()
        disk = shutil.disk_usage(self.disk_path)
        count, util, used, total = self._gpus()
        return HostSample(
            cpu_percent=self._cpu_percent(),
            memory_used_mb=(memory.total - memory.available) >> 20,
            memory_total_mb=memory.total >> 20,
            memory_percent=memory.percent,
            disk_free_gb=round(disk.free / GB, 2),
            disk_total_gb=round(disk.total / GB, 2),
            gpu_count=count,
            gpu_utilization_percent=util,
            gpu_memory_used_mb=used,
            gpu_memory_total_mb=total,
            taken_at=time.time(),
        )

    def _cpu_percent(self) -> float:
        """Busy share of all CPUs since the previous read (0 when no time has passed)."""
        before, now = self._cpu_times, psutil.cpu_times()
        self._cpu_times = now
        idle = (now.idle + getattr(now, "iowait", 0.0)) - (before.idle + getattr(before, "iowait", 0.0))
        total = _total(now) - _total(before)
        return round(min(max(100.0 * (total - idle) / total, 0.0), 100.0), 1) if total > 0 else 0.0

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
