"""The host sampler: a request reads the latest sample at once, and samples stay within their stated age."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from aifarm.compat.servermgmt.v1 import system_service_pb2, system_service_pb2_grpc
from controller.host_probe import HostProbe
from served_controller import METADATA, served_controller

pytestmark = pytest.mark.asyncio(loop_scope="function")


async def test_latest_never_waits_and_the_loop_keeps_it_fresh(tmp_path: Path) -> None:
    probe = HostProbe(tmp_path, interval_seconds=0.2)
    sampler = asyncio.create_task(probe.run())
    try:
        await asyncio.sleep(0.05)
        first = probe.latest()
        calls, started = 0, time.perf_counter()
        while time.perf_counter() - started < 0.6:  # three intervals of the sampler, read in a tight loop
            s = probe.latest()
            assert time.time() - s.taken_at <= probe.max_age_seconds
            calls += 1
            await asyncio.sleep(0)
        took = time.perf_counter() - started
        # The old probe waited 0.2 s per reading: three readings in 0.6 s. Now thousands.
        assert calls > 1000, f"{calls} readings in {took:.2f} s"
        later = probe.latest()
        assert later.taken_at > first.taken_at, "the sampler loop did not replace the sample"
        assert 0.0 <= later.cpu_percent <= 100.0 and later.memory_total_mb > later.memory_used_mb > 0
    finally:
        sampler.cancel()


async def test_without_the_loop_a_stale_sample_is_read_again(tmp_path: Path) -> None:
    probe = HostProbe(tmp_path, interval_seconds=0.05)
    old = probe.latest()
    await asyncio.sleep(0.15)  # past max_age_seconds (0.1 s), with no sampler running
    started = time.perf_counter()
    fresh = probe.latest()
    assert time.perf_counter() - started < 0.1
    assert fresh.taken_at > old.taken_at and time.time() - fresh.taken_at <= probe.max_age_seconds


async def test_system_info_answers_at_once_under_concurrent_calls(tmp_path: Path) -> None:
    """Through the real controller: 60 concurrent calls; before, 6 worker threads x 0.2 s made this 2 s."""
    async with served_controller(tmp_path / "controller") as served:
        stub = system_service_pb2_grpc.SystemServiceStub(served.channel)
        request = system_service_pb2.GetSystemInfoRequest()
        await stub.GetSystemInfo(request, metadata=METADATA, timeout=10)
        started = time.perf_counter()
        answers = await asyncio.gather(*(stub.GetSystemInfo(request, metadata=METADATA, timeout=10)
                                         for _ in range(60)))  # fmt: skip
        took = time.perf_counter() - started
        assert took < 1.0, f"60 calls took {took:.2f} s"
        assert all(a.memory_total_mb > 0 and 0 <= a.cpu_usage_percent <= 100 for a in answers)
        await asyncio.sleep(1.2)  # the controller's sampler (1 s) has replaced the sample since
        again = await stub.GetSystemInfo(request, metadata=METADATA, timeout=10)
        assert again.timestamp > answers[0].timestamp

