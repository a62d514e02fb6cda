"""Samples this node while the controller asks (aifarm.v1.ProfilingControl) and puts the frames in
the outbox, so they go up the stream in batches and are replayed after a disconnect like every
other report.

CPU use is measured from this sampler's own `psutil.cpu_times()` deltas (`psutil.cpu_percent()`
keeps one global baseline, which the heartbeat already moves). GPUs through agent.gpus.
"""

from __future__ import annotations

import asyncio
import time

import psutil
import structlog

from agent.gpus import Gpus
from agent.outbox import Outbox
from aifarm.v1 import agent_service_pb2 as pb
from aifarm.v1 import profiling_pb2

log = structlog.get_logger(__name__)

#: Frames are put in the outbox at least this often, or as soon as this many wait.
FLUSH_SECONDS = 1.0
FLUSH_FRAMES = 100


class ProfilingSampler:
    def __init__(self, gpus: Gpus, outbox: Outbox, node_id: str = "") -> None:
        self.gpus = gpus
        self.outbox = outbox
        self._control = pb.ProfilingControl()
        self._job: asyncio.Task[None] | None = None
        self._log = log.bind(node_id=node_id)
        self._cpu = psutil.cpu_times()

    @property
    def sampling(self) -> bool:
        return self._job is not None and not self._job.done()

    def apply(self, control: pb.ProfilingControl) -> None:
        """Start, retune or stop sampling (a repeat of the current control changes nothing)."""
        if control == self._control and (self.sampling or not control.enabled):
            return
        self.stop()
        self._control = control
        if control.enabled:
            self._job = asyncio.get_running_loop().create_task(self._run(control), name="profiling sampler")
            self._log.info("profiling started", frequency_ms=control.sampling_frequency_ms)
        else:
            self._log.info("profiling stopped")

    def stop(self) -> None:
        if self._job is not None:
            self._job.cancel()
            self._job = None

    async def _run(self, control: pb.ProfilingControl) -> None:
        period = max(control.sampling_frequency_ms, 1) / 1000
        batch = pb.ProfilingBatch()
        flushed = time.monotonic()
        next_at = time.monotonic()
        try:
            while True:
                batch.frames.append(await asyncio.to_thread(self.frame, control))
                now = time.monotonic()
                if len(batch.frames) >= FLUSH_FRAMES or now - flushed >= FLUSH_SECONDS:
                    self.outbox.put_profiling(batch)
                    batch, flushed = pb.ProfilingBatch(), now
                next_at += period
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        finally:  # stopped: what was sampled still goes
            if batch.frames:
                self.outbox.put_profiling(batch)

    def frame(self, control: pb.ProfilingControl) -> profiling_pb2.ProfilingFrame:
        """This moment's frame (off the event loop: NVML calls block)."""
        cpu, memory = self._cpu_percent(), psutil.virtual_memory()
        frame = profiling_pb2.ProfilingFrame(
            cpu_percent=cpu, memory_percent=memory.percent, memory_used_mb=(memory.total - memory.available) >> 20,
            gpus=self.gpus.samples(nvlink=control.enable_nvlink_profiling,
                                   bandwidth=control.enable_bandwidth_profiling),
        )  # fmt: skip
        frame.time.GetCurrentTime()
        return frame

    def _cpu_percent(self) -> float:
        before, self._cpu = self._cpu, psutil.cpu_times()
        busy = sum(self._cpu) - self._cpu.idle - getattr(self._cpu, "iowait", 0.0)
        was = sum(before) - before.idle - getattr(before, "iowait", 0.0)
        total = sum(self._cpu) - sum(before)
        return round(max(0.0, min(100.0, 100.0 * (busy - was) / total)), 1) if total > 0 else 0.0
