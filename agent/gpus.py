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
from aifarm.v1 import node_pb2, profiling_pb2

T = TypeVar("T")

#: The failure key for the device count: while it fails, no GPU can be asked at all.
ALL = "all"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _optional(query: Callable[[], T], default: T) -> T:
    """A figure not every board reports (power, clocks, PCIe): `default` where it does not."""
    try:
        return query()
    except Exception:  # noqa: BLE001 - NVML_ERROR_NOT_SUPPORTED and the like
        return default


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

    def samples(self, *, nvlink: bool = False, bandwidth: bool = False) -> list[profiling_pb2.GpuSample]:
        """A profiling sample of each GPU that answers (aifarm.v1.GpuSample says which NVML call gives
        each figure); never raises."""
        return [s for i in self._indices() if (s := self._ask(i, lambda i=i: self._sample(i, nvlink, bandwidth)))]

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

    def _sample(self, i: int, nvlink: bool, bandwidth: bool) -> profiling_pb2.GpuSample:
        nv = self._nv
        h = nv.nvmlDeviceGetHandleByIndex(i)
        rates, memory = nv.nvmlDeviceGetUtilizationRates(h), nv.nvmlDeviceGetMemoryInfo(h)
        sample = profiling_pb2.GpuSample(
            index=i, uuid=_text(nv.nvmlDeviceGetUUID(h)), utilization_percent=rates.gpu,
            memory_utilization_percent=rates.memory, memory_used_mb=memory.used >> 20, memory_total_mb=memory.total >> 20,
            temperature_c=nv.nvmlDeviceGetTemperature(h, nv.NVML_TEMPERATURE_GPU),
            power_w=_optional(lambda: nv.nvmlDeviceGetPowerUsage(h) / 1000.0, 0.0),
            sm_clock_mhz=_optional(lambda: nv.nvmlDeviceGetClockInfo(h, nv.NVML_CLOCK_SM), 0),
            memory_clock_mhz=_optional(lambda: nv.nvmlDeviceGetClockInfo(h, nv.NVML_CLOCK_MEM), 0),
            pcie_rx_kbps=_optional(lambda: nv.nvmlDeviceGetPcieThroughput(h, nv.NVML_PCIE_UTIL_RX_BYTES), 0),
            pcie_tx_kbps=_optional(lambda: nv.nvmlDeviceGetPcieThroughput(h, nv.NVML_PCIE_UTIL_TX_BYTES), 0),
            nvlink_kib=self._nvlink_kib(h) if nvlink else -1,
            memory_bandwidth_percent=rates.memory if bandwidth else -1,
        )  # fmt: skip
        return sample

    def _nvlink_kib(self, h: Any) -> int:
        """KiB moved over the active NVLink links (counter 0, since its reset); -1 where the GPU has none."""
        nv, total, links = self._nv, 0, 0
        for link in range(getattr(nv, "NVML_NVLINK_MAX_LINKS", 18)):
            try:
                if nv.nvmlDeviceGetNvLinkState(h, link) != nv.NVML_FEATURE_ENABLED:
                    continue
                rx, tx = nv.nvmlDeviceGetNvLinkUtilizationCounter(h, link, 0)
            except Exception:  # noqa: BLE001 - no such link, or no NVLink at all
                continue
            total, links = total + rx + tx, links + 1
        return total if links else -1

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
