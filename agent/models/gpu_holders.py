"""The processes that hold this node's models in GPU memory, one per model and GPU.

A model "on gpuN" is its file under ``local-models/gpuN/`` (so that it can be read, copied and
served like any other) and a holder process keeping it loaded on CUDA device N
(agent.models.gpu_holder). A holder dies with the agent; when the agent starts again it loads
again what its GPU directories hold (`restore`), or forgets what no longer loads.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import structlog

from agent.models.errors import ModelOperationError
from agent.runners.process import ChildProcess, spawn

log = structlog.get_logger(__name__)

LOAD_SECONDS = 300.0


class GpuHolders:
    def __init__(self, work_dir: Path) -> None:
        self.work_dir = work_dir
        self._held: dict[tuple[str, str], ChildProcess] = {}

    async def hold(self, model: str, device: str, path: Path) -> None:
        """Load `path` onto `device` (gpuN) and keep it there; RESOURCE_UNAVAILABLE when it cannot be."""
        await self.release(model, device)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        ready = self.work_dir / f"{model}.{device}.ready"
        ready.unlink(missing_ok=True)
        cuda = f"cuda:{device.removeprefix('gpu')}"
        child = await spawn([sys.executable, "-m", "agent.models.gpu_holder", "--model", str(path), "--device", cuda,
                             "--ready-file", str(ready)], cwd=self.work_dir)  # fmt: skip
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LOAD_SECONDS
        while not ready.exists():
            if not child.running or loop.time() > deadline:
                await child.terminate(5.0)
                stderr = (await child.proc.stderr.read()).decode(errors="replace").strip() if child.proc.stderr else ""
                child.reap_group()
                raise ModelOperationError("RESOURCE_UNAVAILABLE", f"{model} could not be loaded onto {device}:"
                                          f" {stderr.splitlines()[-1] if stderr else 'the holder did not say why'}")  # fmt: skip
            await asyncio.sleep(0.05)
        self._held[(model, device)] = child
        log.info("model held on a GPU", model=model, device=device, bytes=ready.read_text().strip())

    async def release(self, model: str, device: str) -> None:
        child = self._held.pop((model, device), None)
        if child is not None:
            await child.terminate(5.0)
            child.reap_group()

    def holding(self, model: str, device: str) -> bool:
        child = self._held.get((model, device))
        return child is not None and child.running

    async def close(self) -> None:
        for model, device in list(self._held):
            await self.release(model, device)
