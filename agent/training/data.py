"""Labelled datasets for training: generated from a seed, or read from a file.

The file formats, how one is chosen and how array shapes become a sample's
shape are `taskspec.datasets`' (the controller describes uploads by the same
rules); `.pt` files are loaded with `weights_only=True`. Labels are integers
from 0; the number of classes is the largest label + 1. Features are used as
given (no normalisation), so the user's preprocessing is not second-guessed;
image archives' pixels are scaled from 0..255 to 0..1.
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

from taskspec.datasets import check_classes, check_numeric, choose_format, dataset_shape, is_number
from taskspec.errors import DatasetError
from taskspec.image_archive import read_images
from taskspec.training import SyntheticData


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
    read = {"npz": _read_npz, "pt": _read_pt, "csv": _read_csv, "images": _read_images}[choose_format(path, fmt)]
    x, y = read(path)
    return from_arrays(x, y, source=path.name)


def from_arrays(x: np.ndarray, y: np.ndarray, source: str = "dataset") -> Dataset:
    """Check and convert arrays to a `Dataset`; raises `DatasetError`."""
    x = _numeric(x, f"{source}: x")
    y = _numeric(y, f"{source}: y")
    shape = dataset_shape(x.shape, y.shape, source)
    x = x.reshape(shape.samples, *shape.input_shape)
    y = y.reshape(shape.samples)
    if not np.isfinite(x).all():
        raise DatasetError(f"{source}: x contains NaN or infinite values")
    if not np.isfinite(y).all() or (y != np.round(y)).any() or (y < 0).any():
        raise DatasetError(f"{source}: labels must be integers from 0")
    num_classes = int(y.max()) + 1
    check_classes(num_classes, source)
    return Dataset(
        x=torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)),
        y=torch.from_numpy(y.astype(np.int64)),
        num_classes=num_classes,
    )


def _numeric(array: object, what: str) -> np.ndarray:
    result = np.asarray(array)
    check_numeric(result.dtype, what)
    return result.astype(np.int64) if result.dtype == np.bool_ else result


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


def _read_images(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(N, C, H, W) float32 pixels in 0..1 (as torchvision's ToTensor scales them) and the class indices."""
    images = read_images(path)
    assert images.pixels is not None and images.labels is not None
    return images.pixels.transpose(0, 3, 1, 2).astype(np.float32, order="C") / 255.0, images.labels


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
    if not all(is_number(cell) for cell in rows[0]):
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
            if not is_number(cell):
                raise DatasetError(f"{path.name}: line {number}, column {column + 1}: {cell!r} is not a number")
            values[number - (2 if header else 1), column] = float(cell)
    return np.delete(values, label_column, axis=1), values[:, label_column]
