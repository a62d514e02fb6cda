"""The node's NVIDIA GPUs through NVML (pynvml): what they are and how busy.

Without an NVIDIA driver `nvmlInit()` raises at once; the node then has no GPUs.
A query that fails later (a `pynvml.NVMLError` such as GPU_IS_LOST for a GPU that
fell off the bus, or anything else a query raises) must not stop heartbeats: that
GPU (or, when the device count itself fails, every GPU) is left out of what is
reported, the failure is logged once, and NVML is asked again after `retry_seconds`.
"""

from __future__ import annotations

from typing import Any, Callable, TypeVar

import structlog

from agent.clock import Clock
from aifarm.v1 import node_pb2

T = TypeVar("T")

#: The failure key for the device count: while it fails, no GPU can be asked at all.
ALL = "all"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _load_nvml(log: Any) -> Any:
    try:
        import pynvml

        pynvml.nvmlInit()
        return pynvml
    except Exception as exc:  # noqa: BLE001 - any NVML failure at start means "no GPUs here"
        log.info("no NVIDIA GPUs available", reason=type(exc).__name__)
        return None


class Gpus:
    def __init__(self, clock: Clock, *, retry_seconds: float, log: Any = None) -> None:
        self._clock = clock
        self.retry_seconds = retry_seconds
        self._log = log or structlog.get_logger(__name__)
        self._nv = _load_nvml(self._log)
        #: Failing keys (ALL or a GPU index) -> when to ask NVML again.
        self._retry_at: dict[int | str, float] = {}

    def describe(self) -> list[node_pb2.Gpu]:
        """Each GPU that answers: index, uuid, name, memory, compute capability."""
        return [gpu for i in self._indices() if (gpu := self._ask(i, lambda i=i: self._describe(i))) is not None]

    def usage(self) -> list[node_pb2.GpuUsage]:
        """Figures of each GPU that answers; never raises."""
        return [use for i in self._indices() if (use := self._ask(i, lambda i=i: self._usage(i))) is not None]

    def _indices(self) -> range:
        if self._nv is None:
            return range(0)
        return range(self._ask(ALL, self._nv.nvmlDeviceGetCount) or 0)

    def _ask(self, key: int | str, query: Callable[[], T]) -> T | None:
        """Run an NVML query for `key`; None while it fails or waits for its retry."""
        now = self._clock.monotonic()
        failing = key in self._retry_at
        if failing and now < self._retry_at[key]:
            return None
        try:
            answer = query()
        except Exception as exc:  # noqa: BLE001 - NVMLError or whatever a query raises: report without it
            self._retry_at[key] = now + self.retry_seconds
            if not failing:  # once per failure, not on every heartbeat
                self._log.warning("GPU query failed", gpu=key, error=str(exc), error_type=type(exc).__name__,
                                  retry_in_seconds=self.retry_seconds)  # fmt: skip
            return None
        if failing:
            del self._retry_at[key]
            self._log.info("GPU answers again", gpu=key)
        return answer

    def _describe(self, i: int) -> node_pb2.Gpu:
        nv = self._nv
        h = nv.nvmlDeviceGetHandleByIndex(i)
        major, minor = nv.nvmlDeviceGetCudaComputeCapability(h)
        return node_pb2.Gpu(
            index=i,
            uuid=_text(nv.nvmlDeviceGetUUID(h)),
            name=_text(nv.nvmlDeviceGetName(h)),
            memory_mb=nv.nvmlDeviceGetMemoryInfo(h).total >> 20,
            compute_capability=f"{major}.{minor}",
        )

    def _usage(self, i: int) -> node_pb2.GpuUsage:
        nv = self._nv
        h = nv.nvmlDeviceGetHandleByIndex(i)
        try:
            power = nv.nvmlDeviceGetPowerUsage(h) / 1000.0
        except Exception:  # noqa: BLE001 - not every board reports power
            power = 0.0
        return node_pb2.GpuUsage(
            index=i,
            utilization_percent=nv.nvmlDeviceGetUtilizationRates(h).gpu,
            memory_used_mb=nv.nvmlDeviceGetMemoryInfo(h).used >> 20,
            temperature_c=nv.nvmlDeviceGetTemperature(h, nv.NVML_TEMPERATURE_GPU),
            power_w=power,
        )
