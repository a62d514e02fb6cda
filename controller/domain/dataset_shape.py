"""What a dataset file holds (samples, shape of one sample), read with the trainer's own loader."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import structlog

log = structlog.get_logger(__name__)


def describe_file(path: Path, fmt: str) -> tuple[int, str]:
    """``(samples, "3x16x16")`` of a dataset file, or ``(0, "")`` when it is not a usable dataset."""
    # Imported here: torch is loaded only when a dataset is uploaded.
    from agent.training.data import DatasetError, load_dataset

    try:
        dataset = load_dataset(path, fmt)
    except DatasetError as exc:
        log.info("dataset not readable for training", path=str(path), error=str(exc))
        return 0, ""
    return len(dataset), "x".join(str(d) for d in dataset.input_shape)


def synthetic_npz(*, samples: int = 256, classes: int = 4, channels: int = 3, side: int = 16, seed: int = 0) -> bytes:
    """A small learnable image dataset as .npz bytes (arrays x, y): one smooth pattern per class plus noise.

    Images, so every architecture takes it (the MLP flattens them).
    """
    rng = np.random.default_rng(seed)
    coarse = rng.standard_normal((classes, channels, 4, 4)).astype(np.float32)
    patterns = coarse.repeat(side // 4, axis=2).repeat(side // 4, axis=3)
    y = rng.integers(0, classes, samples)
    x = patterns[y] + rng.standard_normal((samples, channels, side, side)).astype(np.float32)
    out = io.BytesIO()
    np.savez(out, x=x.astype(np.float32), y=y.astype(np.int64))
    return out.getvalue()
