"""What a dataset file holds (samples, shape of one sample), by the trainer's rules but without torch.

`taskspec.datasets.describe` reads headers, not arrays, so an upload that
expands to gigabytes is described in a few megabytes of memory.
"""

from __future__ import annotations

import io
from pathlib import Path

import structlog

from taskspec.datasets import describe
from taskspec.errors import DatasetError

log = structlog.get_logger(__name__)


#: Formats refused at upload when unreadable: an image archive is nothing but its images.
STRICT_FORMATS = ("images",)


def describe_file(path: Path, fmt: str, *, strict: bool = False) -> tuple[int, str]:
    """``(samples, "3x16x16")`` of a dataset file, or ``(0, "")`` when it is not a usable dataset.

    With ``strict`` (or for `STRICT_FORMATS`) an unusable file raises `DatasetError` instead.
    """
    try:
        shape = describe(path, fmt)
    except DatasetError as exc:
        if strict or fmt in STRICT_FORMATS:
            raise
        # The file is kept all the same; a training task that uses it fails with this reason from the trainer.
        log.info("dataset not readable for training", path=str(path), format=fmt, error=str(exc))
        return 0, ""
    return shape.samples, shape.dims


def synthetic_npz(*, samples: int = 256, classes: int = 4, channels: int = 3, side: int = 16, seed: int = 0) -> bytes:
    """A small learnable image dataset as .npz bytes (arrays x, y): one smooth pattern per class plus noise.

    Images, so every architecture takes it (the MLP flattens them).
    """
    import numpy as np  # here: the controller needs it only for this (and to check uploads)

    rng = np.random.default_rng(seed)
    coarse = rng.standard_normal((classes, channels, 4, 4)).astype(np.float32)
    patterns = coarse.repeat(side // 4, axis=2).repeat(side // 4, axis=3)
    y = rng.integers(0, classes, samples)
    x = patterns[y] + rng.standard_normal((samples, channels, side, side)).astype(np.float32)
    out = io.BytesIO()
    np.savez(out, x=x.astype(np.float32), y=y.astype(np.int64))
    return out.getvalue()
