"""Where this node keeps models (and, in a second store of the same kind, the data pool's chunks),
per device: the one place that turns a name into a path.

- ``disk``: ``<data-dir>/local-models/disk/NAME``.
- ``dram``: ``/dev/shm/aifarm-<node-id>/NAME``: shared memory, so the bytes are in RAM (and count
  against it) and other processes of the node (a serving process) map them without a copy.
- ``gpuN``: ``<data-dir>/local-models/gpuN/NAME``, loaded onto CUDA device N by a holder process
  (agent.models.gpu_holders) for as long as it is there; on a node without that device,
  RESOURCE_UNAVAILABLE.

The data pool's store is ``<data-dir>/local-data/...`` and ``/dev/shm/aifarm-<node-id>-data``: a chunk
and a model of the same name never meet.

Each model file has a ``.NAME.sha256`` beside it, written when it arrived, so listings and peers
never hash a large file again. Bytes arrive in a ``.NAME.<task>.part`` file and are renamed into
place whole, so a cancelled or failed transfer leaves nothing under the model's name.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from agent.models.errors import ModelOperationError
from agent.models.gpu_holders import GpuHolders
from taskspec.errors import SpecError
from taskspec.model_operation import Pool, check_device, check_model_name

SHM_ROOT = Path("/dev/shm")


@dataclass(frozen=True)
class HeldCopy:
    model: str
    device: str
    size: int
    sha256: str


class LocalModelStore:
    def __init__(self, data_dir: Path, node_id: str, *, gpu_count: Callable[[], int] = lambda: 0,
                 shm_root: Path = SHM_ROOT, pool: Pool = Pool.MODELS) -> None:  # fmt: skip
        self.data_dir = data_dir
        self.pool = pool
        models = pool is Pool.MODELS
        self.disk_root = data_dir / ("local-models" if models else "local-data") / "disk"
        self.dram_root = shm_root / (f"aifarm-{node_id}" if models else f"aifarm-{node_id}-data")
        self._gpu_count = gpu_count
        self.holders = GpuHolders(self.disk_root.parent / "holders")

    def root(self, device: str) -> Path:
        """The directory of a device; ModelOperationError RESOURCE_UNAVAILABLE when this node lacks it."""
        try:
            check_device(device)
        except SpecError as exc:
            raise ModelOperationError("INVALID_REQUEST", str(exc)) from None
        if device == "disk":
            root = self.disk_root
        elif device == "dram":
            if not self.dram_root.parent.is_dir():
                raise ModelOperationError("RESOURCE_UNAVAILABLE", f"this node has no shared memory ({self.dram_root.parent})"
                                          " to hold models in DRAM")  # fmt: skip
            root = self.dram_root
        else:
            count = self._gpu_count()
            if int(device.removeprefix("gpu")) >= count:
                raise ModelOperationError("RESOURCE_UNAVAILABLE", f"this node has no {device}: it has {count} CUDA"
                                          f" device{'s' if count != 1 else ''}" +
                                          (f" (gpu0 to gpu{count - 1})" if count else ""))  # fmt: skip
            root = self.disk_root.parent / device
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        return root

    def path(self, model: str, device: str) -> Path:
        try:
            check_model_name(model)
        except SpecError as exc:
            raise ModelOperationError("INVALID_REQUEST", str(exc)) from None
        return self.root(device) / model

    def part_path(self, model: str, device: str, task_id: str) -> Path:
        return self.path(model, device).with_name(f".{model}.{task_id}.part")

    def has(self, model: str, device: str) -> bool:
        return self.path(model, device).is_file()

    def sha256(self, model: str, device: str) -> str:
        marker = self._sha_path(self.path(model, device))
        return marker.read_text().strip() if marker.exists() else ""

    def place(self, part: Path, model: str, device: str, sha256: str) -> Path:
        """Put arrived bytes under the model's name, with their sha256 beside them."""
        target = self.path(model, device)
        marker = self._sha_path(target)
        marker.write_text(sha256 + "\n")
        os.replace(part, target)
        return target

    def remove(self, model: str, device: str) -> bool:
        """Delete the model from a device; False when it was not there."""
        target = self.path(model, device)
        self._sha_path(target).unlink(missing_ok=True)
        try:
            target.unlink()
        except FileNotFoundError:
            return False
        return True

    def free_bytes(self, device: str) -> int:
        """What a device can take now; DRAM is bounded by the shared memory's size and the RAM available."""
        free = shutil.disk_usage(self.root(device)).free
        if device == "dram":
            import psutil

            free = min(free, psutil.virtual_memory().available)
        return free

    def bytes_on(self, device: str) -> int:
        """The size of the models on a device."""
        return sum(copy.size for copy in self._held_on(device))

    def gpu_devices(self) -> list[str]:
        return [f"gpu{i}" for i in range(self._gpu_count())]

    def held(self) -> list[HeldCopy]:
        """Every model this node holds, on every device it has (on a GPU: while its holder holds it)."""
        return [copy for device in ("disk", "dram", *self.gpu_devices()) for copy in self._held_on(device)
                if not device.startswith("gpu") or self.holders.holding(copy.model, device)]  # fmt: skip

    async def restore(self) -> None:
        """Load onto their GPUs again the models the GPU directories hold (the holders died with the
        last run of the agent); forget those that no longer load."""
        for device in self.gpu_devices():
            for copy in list(self._held_on(device)):
                try:
                    await self.holders.hold(copy.model, device, self.path(copy.model, device))
                except ModelOperationError:
                    self.remove(copy.model, device)

    def _held_on(self, device: str) -> Iterator[HeldCopy]:
        try:
            root = self.root(device)
        except ModelOperationError:
            return
        for entry in sorted(root.iterdir()):
            if entry.name.startswith(".") or not entry.is_file():
                continue
            try:
                check_model_name(entry.name)
            except SpecError:
                continue
            yield HeldCopy(entry.name, device, entry.stat().st_size, self.sha256(entry.name, device))

    def clear_parts(self) -> None:
        """Remove what transfers cut short left behind (a crash mid-download)."""
        for device in ("disk", "dram", *self.gpu_devices()):
            try:
                root = self.root(device)
            except ModelOperationError:
                continue
            for part in root.glob(".*.part"):
                part.unlink(missing_ok=True)

    @staticmethod
    def _sha_path(target: Path) -> Path:
        return target.with_name(f".{target.name}.sha256")
