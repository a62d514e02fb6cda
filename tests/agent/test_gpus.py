"""The GPU sampler and the host probe when NVML fails mid-run, with time driven by hand.

pynvml is the third-party library in between: where there is no driver (development
machines) its few calls are answered as a driver with two GPUs would; a lost GPU
raises NVMLError(GPU_IS_LOST) from every query, as NVML does for a GPU off the bus.
"""

from __future__ import annotations

import pynvml
import pytest
import structlog

from agent.capabilities import HostProbe
from agent.gpus import Gpus
from manual_clock import ManualClock

RETRY = 30.0


class TwoGpus:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.lost: set[int] = set()
        self.count_fails = False
        memory = type("Memory", (), {"total": 80 << 30, "used": 2 << 30})()
        rates = type("Rates", (), {"gpu": 50})()

        def device(answer: object):  # type: ignore[no-untyped-def]
            def query(handle: int, *rest: object) -> object:
                if handle in self.lost:
                    raise pynvml.NVMLError(pynvml.NVML_ERROR_GPU_IS_LOST)
                return answer

            return query

        def count() -> int:
            if self.count_fails:
                raise pynvml.NVMLError(pynvml.NVML_ERROR_UNKNOWN)
            return 2

        for name, answer in {
            "nvmlInit": lambda: None, "nvmlDeviceGetCount": count, "nvmlDeviceGetHandleByIndex": lambda i: i,
            "nvmlDeviceGetUtilizationRates": device(rates), "nvmlDeviceGetMemoryInfo": device(memory),
            "nvmlDeviceGetTemperature": device(40), "nvmlDeviceGetPowerUsage": device(250_000),
            "nvmlDeviceGetCudaComputeCapability": device((8, 0)), "nvmlDeviceGetUUID": device(b"GPU-x"),
            "nvmlDeviceGetName": device("A100"),
        }.items():  # fmt: skip
            monkeypatch.setattr(pynvml, name, answer)


def _indices(usage: list) -> list[int]:
    return [g.index for g in usage]


async def test_a_lost_gpu_is_left_out_logged_once_and_asked_again_later(monkeypatch: pytest.MonkeyPatch) -> None:
    nvml, clock = TwoGpus(monkeypatch), ManualClock()
    with structlog.testing.capture_logs() as logs:
        gpus = Gpus(clock, retry_seconds=RETRY, log=structlog.get_logger().bind(node_id="n1"))
        assert _indices(gpus.usage()) == [0, 1]
        nvml.lost.add(1)
        for _ in range(5):  # a heartbeat every two seconds
            assert _indices(gpus.usage()) == [0], "the other GPU's figures still come"
            await clock.advance(2)
        nvml.lost.clear()
        assert _indices(gpus.usage()) == [0], "not asked again before the retry time"
        await clock.advance(RETRY)
        assert _indices(gpus.usage()) == [0, 1]
    failed = [e for e in logs if e["event"] == "GPU query failed"]
    assert [(e["gpu"], e["node_id"], e["error_type"]) for e in failed] == [(1, "n1", "NVMLError_GpuIsLost")]
    assert [e["gpu"] for e in logs if e["event"] == "GPU answers again"] == [1]


async def test_a_failing_device_count_reports_no_gpus_until_nvml_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    nvml, clock = TwoGpus(monkeypatch), ManualClock()
    probe = HostProbe(node_id="n1", clock=clock, nvml_retry_seconds=RETRY)
    nvml.count_fails = True
    usage = probe.usage()
    assert not usage.gpus and usage.memory_percent > 0, "CPU and memory figures without the GPUs"
    assert not probe.capabilities().gpus, "a hello does not fail either"
    nvml.count_fails = False
    await clock.advance(RETRY)
    assert _indices(probe.usage().gpus) == [0, 1]
    assert [g.name for g in probe.capabilities().gpus] == ["A100", "A100"]


def test_without_a_driver_there_are_no_gpus() -> None:
    probe = HostProbe(clock=ManualClock())
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        assert not probe.capabilities().gpus and not probe.usage().gpus
    else:  # a machine with a GPU
        pynvml.nvmlShutdown()
        assert probe.capabilities().gpus
