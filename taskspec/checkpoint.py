"""Training checkpoints as models of the registry: what one must hold to be trained further.

A training attempt saves (`agent.training.loop.save_checkpoint`) a `torch.save`
dict with `model_state_dict`, `architecture` (a built-in one), `input_shape`
and `num_classes`. Such a file in the registry can be named as a task's
architecture ("models/NAME") to continue training it. The controller checks
that before the task exists, reading the file with `taskspec.torch_archive`
(no torch, its pickle never run); the trainer loads it with
`torch.load(weights_only=True)`, which accepts the same content.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from taskspec.errors import SpecError
from taskspec.torch_archive import TensorInfo, TorchFileError, read_torch_file
from taskspec.training import ARCHITECTURES

#: The keys a checkpoint must hold to be trained further.
REQUIRED_KEYS = ("model_state_dict", "architecture", "input_shape", "num_classes")


@dataclass(frozen=True)
class CheckpointInfo:
    """What the trainer needs to rebuild a checkpoint's model."""

    architecture: str
    input_shape: tuple[int, ...]
    num_classes: int

    @property
    def dims(self) -> str:
        """The input shape as datasets show theirs: "3x16x16"."""
        return "x".join(str(d) for d in self.input_shape)


def describe_checkpoint(path: Path, name: str) -> CheckpointInfo:
    """The model a checkpoint file holds; raises `SpecError` saying why it cannot be trained further."""
    try:
        content = read_torch_file(path)
    except TorchFileError as exc:
        raise SpecError(f"model {name!r} is not a loadable torch checkpoint: {exc}") from exc
    return checkpoint_info(content, name)


def checkpoint_info(content: object, name: str) -> CheckpointInfo:
    """The checks of `describe_checkpoint` on loaded content (tensors or `TensorInfo`s alike)."""
    if not isinstance(content, dict) or not set(REQUIRED_KEYS) <= set(content):
        raise SpecError(
            f"model {name!r} is not an aifarm training checkpoint: it must be a dict with "
            f"{', '.join(REQUIRED_KEYS)} (what a training session saves)"
        )
    architecture, shape, classes = content["architecture"], content["input_shape"], content["num_classes"]
    if architecture not in ARCHITECTURES:
        raise SpecError(f"model {name!r} has architecture {architecture!r}, not one of {', '.join(ARCHITECTURES)}")
    if not isinstance(shape, (list, tuple)) or not shape or not all(type(d) is int and d > 0 for d in shape):
        raise SpecError(f"model {name!r}: input_shape must be a list of positive integers, got {shape!r}")
    if type(classes) is not int or classes < 1:
        raise SpecError(f"model {name!r}: num_classes must be a positive integer, got {classes!r}")
    weights = content["model_state_dict"]
    if not isinstance(weights, dict) or not weights or not all(_is_tensor(v) for v in weights.values()):
        raise SpecError(f"model {name!r}: model_state_dict must map parameter names to tensors")
    return CheckpointInfo(architecture, tuple(shape), classes)


def _is_tensor(value: object) -> bool:
    # The controller sees TensorInfo stand-ins; the trainer sees torch tensors (duck-typed: no torch import here).
    return isinstance(value, TensorInfo) or (hasattr(value, "shape") and hasattr(value, "dtype"))
