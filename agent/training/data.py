"""Labelled datasets for training: generated from a seed, or read from a file.

Files:
- `.npz`: arrays `x` (samples first) and `y` (integer labels).
- `.pt`: a dict `{"x": Tensor, "y": Tensor}` (loaded with `weights_only=True`).
- `.csv`: numeric columns, an optional header row; the label is the column
  named `label`, else the last column.

`x` of shape (N,) is one feature per sample; (N, H, W) is read as one-channel
images; anything else is taken as (N, *input_shape). Labels are integers from
0; the number of classes is the largest label + 1. Features are used as given
(no normalisation), so the user's preprocessing is not second-guessed.
"""

from __future__ import annotations

import csv
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from taskspec.errors import DatasetError
from taskspec.training import SyntheticData

#: More classes than this is taken as a labelling mistake rather than a task.
MAX_CLASSES = 100_000


@dataclass(frozen=True)
class Dataset:
    """Samples and labels in memory."""

    #: float32, (N, *input_shape).
    x: Tensor
    #: int64 class indices, (N,).
    y: Tensor
    num_classes: int

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])

    def __len__(self) -> int:
        return int(self.y.shape[0])


def make_synthetic(spec: SyntheticData, seed: int) -> Dataset:
    """A dataset whose classes differ in a way a model learns in an epoch or two.

    Tabular: each class has its own mean vector; samples are mean + unit noise.
    Images: each class has its own smooth pattern (a 4x4 random grid upsampled,
    plus a per-channel offset); samples are pattern + unit noise.
    """
    gen = torch.Generator().manual_seed(seed)
    y = torch.randint(spec.classes, (spec.samples,), generator=gen)
    if spec.is_image:
        coarse = torch.randn(spec.classes, spec.channels, 4, 4, generator=gen)
        patterns = F.interpolate(coarse, size=(spec.image_size, spec.image_size), mode="bilinear", align_corners=False)
        patterns = patterns + 0.5 * torch.randn(spec.classes, spec.channels, 1, 1, generator=gen)
    else:
        patterns = torch.randn(spec.classes, spec.features, generator=gen)
    noise = torch.randn((spec.samples, *patterns.shape[1:]), generator=gen)
    return Dataset(x=patterns[y] + noise, y=y, num_classes=spec.classes)


def load_dataset(path: Path, fmt: str = "") -> Dataset:
    """Read a dataset file; raises `DatasetError` when it is missing or malformed.

    The format is ``fmt`` (npz, pt, csv) when given, else the file's suffix.
    """
    if not path.is_file():
        raise DatasetError(f"dataset file {path} does not exist")
    suffix = f".{fmt}" if fmt else path.suffix.lower()
    if suffix == ".npz":
        x, y = _read_npz(path)
    elif suffix == ".pt":
        x, y = _read_pt(path)
    elif suffix == ".csv":
        x, y = _read_csv(path)
    else:
        raise DatasetError(f"dataset file {path.name}: unsupported format {suffix!r}; use .npz, .pt or .csv")
    return from_arrays(x, y, source=path.name)


def from_arrays(x: np.ndarray, y: np.ndarray, source: str = "dataset") -> Dataset:
    """Check and convert arrays to a `Dataset`; raises `DatasetError`."""
    x = _numeric(x, f"{source}: x")
    y = _numeric(y, f"{source}: y")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if x.ndim == 0 or y.ndim != 1:
        raise DatasetError(f"{source}: x must have samples first and y must be one label per sample; got x {x.shape}, y {y.shape}")
    if x.shape[0] != y.shape[0]:
        raise DatasetError(f"{source}: x has {x.shape[0]} samples but y has {y.shape[0]} labels")
    if x.shape[0] < 2:
        raise DatasetError(f"{source}: needs at least 2 samples, got {x.shape[0]}")
    if x.ndim == 1:
        x = x[:, None]
    elif x.ndim == 3:
        x = x[:, None]
    if not np.isfinite(x).all():
        raise DatasetError(f"{source}: x contains NaN or infinite values")
    if not np.isfinite(y).all() or (y != np.round(y)).any() or (y < 0).any():
        raise DatasetError(f"{source}: labels must be integers from 0")
    num_classes = int(y.max()) + 1
    if not 2 <= num_classes <= MAX_CLASSES:
        raise DatasetError(f"{source}: labels must name 2 to {MAX_CLASSES} classes, got {num_classes}")
    return Dataset(
        x=torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)),
        y=torch.from_numpy(y.astype(np.int64)),
        num_classes=num_classes,
    )


def _numeric(array: object, what: str) -> np.ndarray:
    result = np.asarray(array)
    if result.dtype == np.bool_:
        result = result.astype(np.int64)
    if not (np.issubdtype(result.dtype, np.integer) or np.issubdtype(result.dtype, np.floating)):
        raise DatasetError(f"{what} must be numeric, got {result.dtype}")
    return result


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = {"x", "y"} - set(archive.files)
            if missing:
                raise DatasetError(f"{path.name}: missing array(s) {', '.join(sorted(missing))}; needs 'x' and 'y'")
            return archive["x"], archive["y"]
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        if isinstance(exc, DatasetError):
            raise
        raise DatasetError(f"{path.name}: not a readable .npz file ({exc})") from exc


def _read_pt(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for a bad file; all mean the same here
        raise DatasetError(f"{path.name}: not a readable torch file ({type(exc).__name__}: {exc})") from exc
    if not isinstance(content, dict) or not {"x", "y"} <= set(content):
        raise DatasetError(f"{path.name}: must hold a dict with tensors 'x' and 'y'")
    x, y = content["x"], content["y"]
    if not isinstance(x, Tensor) or not isinstance(y, Tensor):
        raise DatasetError(f"{path.name}: 'x' and 'y' must be tensors")
    return x.detach().cpu().numpy(), y.detach().cpu().numpy()


def _read_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = [row for row in csv.reader(f) if row and any(cell.strip() for cell in row)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"{path.name}: not a readable CSV file ({exc})") from exc
    if not rows:
        raise DatasetError(f"{path.name}: is empty")
    header: list[str] | None = None
    if not all(_is_number(cell) for cell in rows[0]):
        header, rows = [cell.strip() for cell in rows[0]], rows[1:]
    width = len(header) if header else len(rows[0]) if rows else 0
    if width < 2:
        raise DatasetError(f"{path.name}: needs at least one feature column and a label column")
    label_column = header.index("label") if header and "label" in header else width - 1
    values = np.empty((len(rows), width), dtype=np.float64)
    for number, row in enumerate(rows, start=2 if header else 1):
        if len(row) != width:
            raise DatasetError(f"{path.name}: line {number} has {len(row)} columns, expected {width}")
        for column, cell in enumerate(row):
            if not _is_number(cell):
                raise DatasetError(f"{path.name}: line {number}, column {column + 1}: {cell!r} is not a number")
            values[number - (2 if header else 1), column] = float(cell)
    return np.delete(values, label_column, axis=1), values[:, label_column]


def _is_number(cell: str) -> bool:
    # NaN and infinities parse; `from_arrays` rejects them with a clearer message.
    try:
        float(cell)
    except ValueError:
        return False
    return True
