"""Dataset files for training: their formats, the rule that gives one sample's shape, and inspection.

Files:
- `.npz`: arrays `x` (samples first) and `y` (integer labels).
- `.pt`: a dict `{"x": Tensor, "y": Tensor}` in the zip format `torch.save` writes.
- `.csv`: numeric columns, an optional header row; the label is the column
  named `label`, else the last column.
- `images`: a `.tar.gz`, `.tgz`, `.tar` or `.zip` of PNG or JPEG images in one
  folder per class (`taskspec.image_archive`); samples are (channels, height,
  width) with pixel values scaled to 0..1, and the API shows them as
  "height x width x channels" ("32x32x3").

`x` of shape (N,) is one feature per sample; (N, H, W) is read as one-channel
images; anything else is taken as (N, *input_shape). `y` may be (N,) or (N, 1).

Both sides import this. The agent's loader (`agent.training.data`) reads the
arrays with the same format choice and the same shape and dtype rules; the
controller calls `describe`, which never imports torch and reads headers, not
arrays, so its memory stays bounded whatever a file expands to.
"""

from __future__ import annotations

import csv
import io
import math
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Sequence

if TYPE_CHECKING:
    # numpy (~14 MB mapped) is imported where it is used: the controller imports this module at
    # start but needs numpy only to check an upload.
    import numpy as np

from taskspec.errors import DatasetError
from taskspec.image_archive import describe_images, is_image_archive_name
from taskspec.torch_archive import TensorInfo, TorchFileError, read_torch_file

FORMATS = ("npz", "pt", "csv", "images")
#: More classes than this is taken as a labelling mistake rather than a task.
MAX_CLASSES = 100_000
#: The first bytes `np.load` takes for an .npz (a zip's local header, or an empty zip's end record).
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
#: numpy's own default `max_header_size`: `np.load` refuses a longer .npy header, so we do too.
_NPY_MAX_HEADER = 10_000
#: Magic, version and the header's length field of an .npy file (version 2.0 has the widest field).
_NPY_PREAMBLE = 6 + 2 + 4
#: A CSV line longer than this is refused: a line is held whole while it is split into cells.
MAX_CSV_LINE = 4 << 20


@dataclass(frozen=True)
class DatasetShape:
    """What a dataset file holds, as the trainer sees it."""

    #: Number of samples (N).
    samples: int
    #: Shape of one sample, e.g. (3, 16, 16) or (13,).
    input_shape: tuple[int, ...]
    #: How the API shows the shape when not as `input_shape` is (images: "32x32x3").
    shown: str = ""

    @property
    def dims(self) -> str:
        """The input shape as the API shows it: "3x16x16" (images: height x width x channels)."""
        return self.shown or "x".join(str(d) for d in self.input_shape)


def format_of_name(name: str) -> str:
    """The format a file name implies: "images" for an image archive, else its suffix ("" for none)."""
    if is_image_archive_name(name):
        return "images"
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def choose_format(path: Path, fmt: str = "") -> str:
    """The format of a dataset file: ``fmt`` when given, else what its name implies; one of `FORMATS`.

    Raises `DatasetError` when that is not a supported format.
    """
    chosen = fmt or format_of_name(path.name)
    if chosen not in FORMATS:
        shown = f".{fmt}" if fmt else path.suffix.lower()
        raise DatasetError(
            f"dataset file {path.name}: unsupported format {shown!r}; use .npz, .pt, .csv"
            " or an image archive (.tar.gz, .tgz, .zip)"
        )
    return chosen


def dataset_shape(x_shape: Sequence[int], y_shape: Sequence[int], source: str) -> DatasetShape:
    """The trainer's reading of arrays of these shapes; raises `DatasetError` naming what does not fit."""
    x_shape, y_shape = tuple(x_shape), tuple(y_shape)
    if len(y_shape) == 2 and y_shape[1] == 1:
        y_shape = y_shape[:1]
    if len(x_shape) == 0 or len(y_shape) != 1:
        raise DatasetError(
            f"{source}: x must have samples first and y must be one label per sample; got x {x_shape}, y {y_shape}"
        )
    if x_shape[0] != y_shape[0]:
        raise DatasetError(f"{source}: x has {x_shape[0]} samples but y has {y_shape[0]} labels")
    if x_shape[0] < 2:
        raise DatasetError(f"{source}: needs at least 2 samples, got {x_shape[0]}")
    if len(x_shape) in (1, 3):  # one feature per sample, or one-channel images: give them a channel axis
        return DatasetShape(x_shape[0], (1, *x_shape[1:]))
    return DatasetShape(x_shape[0], x_shape[1:])


def is_numeric(dtype: np.dtype) -> bool:
    """Whether the trainer takes arrays of this dtype (booleans count as 0 and 1)."""
    import numpy as np

    return dtype == np.bool_ or np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating)


def check_numeric(dtype: np.dtype, what: str) -> None:
    if not is_numeric(dtype):
        raise DatasetError(f"{what} must be numeric, got {dtype}")


def check_classes(num_classes: int, source: str) -> None:
    if not 2 <= num_classes <= MAX_CLASSES:
        raise DatasetError(f"{source}: labels must name 2 to {MAX_CLASSES} classes, got {num_classes}")


def describe(path: Path, fmt: str = "") -> DatasetShape:
    """What the trainer would find in a dataset file, read without torch and in bounded memory.

    Image archives have every image decoded, one at a time (`taskspec.image_archive`).
    .npz and .pt are read from their headers (the .npy headers; the pickle of a
    `torch.save` file, which is never executed): shapes, dtypes and that the data
    is all there, but not the values. Whether the features are finite and the
    labels integers from 0 naming 2+ classes is known only from the values, so
    the trainer checks that when it loads the file. .csv is read line by line,
    values included. Raises `DatasetError` saying why a file is not usable.
    """
    if not path.is_file():
        raise DatasetError(f"dataset file {path} does not exist")
    chosen = choose_format(path, fmt)
    if chosen == "npz":
        return _describe_npz(path)
    if chosen == "pt":
        return _describe_pt(path)
    if chosen == "images":
        images = describe_images(path)
        return DatasetShape(images.samples, (images.channels, images.height, images.width), images.dims)
    return _describe_csv(path)


# .npz ------------------------------------------------------------------------


def _describe_npz(path: Path) -> DatasetShape:
    name = path.name
    try:
        with path.open("rb") as f:
            if f.read(4) not in _ZIP_MAGICS:
                raise DatasetError(f"{name}: not a readable .npz file (it is not a zip archive)")
        with zipfile.ZipFile(path) as archive:
            # As np.load does: a member named exactly "x", else "x.npy".
            members = {n: n for n in archive.namelist()}
            found = {key: members.get(key) or members.get(f"{key}.npy") for key in ("x", "y")}
            missing = [key for key, member in found.items() if member is None]
            if missing:
                raise DatasetError(f"{name}: missing array(s) {', '.join(missing)}; needs 'x' and 'y'")
            x_shape = _npy_shape(archive, found["x"], f"{name}: x")  # type: ignore[arg-type]
            y_shape = _npy_shape(archive, found["y"], f"{name}: y")  # type: ignore[arg-type]
    except DatasetError:
        raise
    except (OSError, ValueError, EOFError, RuntimeError, NotImplementedError, zipfile.BadZipFile, zlib.error) as exc:
        # RuntimeError: an encrypted member; NotImplementedError: a compression zipfile lacks.
        raise DatasetError(f"{name}: not a readable .npz file ({exc})") from exc
    return dataset_shape(x_shape, y_shape, name)


def _npy_shape(archive: zipfile.ZipFile, member: str, what: str) -> tuple[int, ...]:
    """The shape in one member's .npy header, after checking its dtype and that its data is all there."""
    import numpy as np

    info = archive.getinfo(member)
    with archive.open(info) as stream:
        # Only the header is decompressed: a member may expand to gigabytes.
        head = stream.read(_NPY_PREAMBLE + _NPY_MAX_HEADER)
    if not head.startswith(np.lib.format.MAGIC_PREFIX):
        # np.load hands such a member back as bytes, which are not numbers.
        raise DatasetError(f"{what} must be numeric, got raw bytes (the member is not an .npy array)")
    buffer = io.BytesIO(head)
    version = np.lib.format.read_magic(buffer)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(buffer, max_header_size=_NPY_MAX_HEADER)
    elif version == (2, 0):
        shape, _, dtype = np.lib.format.read_array_header_2_0(buffer, max_header_size=_NPY_MAX_HEADER)
    else:  # 3.0 exists only for structured dtypes with non-latin-1 field names, never numeric
        raise DatasetError(f"{what}: .npy format version {version[0]}.{version[1]} is not supported")
    if dtype.hasobject:
        raise DatasetError(f"{what} holds Python objects, which are never unpickled; it must be numeric")
    check_numeric(dtype, what)
    if any(d < 0 for d in shape):
        raise DatasetError(f"{what}: negative dimension in shape {shape}")
    needed = buffer.tell() + math.prod(shape) * dtype.itemsize
    if info.file_size < needed:
        raise DatasetError(f"{what}: the header promises {needed} bytes but the member holds {info.file_size}")
    return tuple(shape)


# .pt -------------------------------------------------------------------------


def _describe_pt(path: Path) -> DatasetShape:
    name = path.name
    try:
        content = read_torch_file(path)
    except TorchFileError as exc:
        raise DatasetError(f"{name}: not a readable torch file ({exc})") from exc
    if not isinstance(content, dict) or not {"x", "y"} <= set(content):
        raise DatasetError(f"{name}: must hold a dict with tensors 'x' and 'y'")
    x, y = content["x"], content["y"]
    if not isinstance(x, TensorInfo) or not isinstance(y, TensorInfo):
        raise DatasetError(f"{name}: 'x' and 'y' must be tensors")
    for key, tensor in (("x", x), ("y", y)):
        if tensor.dtype is None:
            raise DatasetError(f"{name}: {key} is a {tensor.dtype_name} tensor, which has no numpy equivalent")
        check_numeric(tensor.dtype, f"{name}: {key}")
    return dataset_shape(x.shape, y.shape, name)


# .csv ------------------------------------------------------------------------


def _describe_csv(path: Path) -> DatasetShape:
    name = path.name
    header: list[str] | None = None
    width = label_column = samples = 0
    max_label = -1.0
    nonfinite_features = bad_labels = False
    seen_any = False
    try:
        with path.open(newline="", encoding="utf-8") as f:
            # Blank rows are skipped; "line N" counts the rows kept, as the trainer's loader does.
            number = 0
            for row in csv.reader(_bounded_lines(f, name)):
                if not row or not any(cell.strip() for cell in row):
                    continue
                number += 1
                if not seen_any:
                    seen_any = True
                    if not all(is_number(cell) for cell in row):
                        header = [cell.strip() for cell in row]
                        width = len(header)
                        label_column = _label_column(header, name)
                        continue
                    width = len(row)
                    label_column = _label_column(None, name, width)
                if len(row) != width:
                    raise DatasetError(f"{name}: line {number} has {len(row)} columns, expected {width}")
                for column, cell in enumerate(row):
                    try:
                        value = float(cell)
                    except ValueError:
                        raise DatasetError(
                            f"{name}: line {number}, column {column + 1}: {cell!r} is not a number"
                        ) from None
                    if column != label_column:
                        nonfinite_features |= not math.isfinite(value)
                    elif not math.isfinite(value) or value != round(value) or value < 0:
                        bad_labels = True
                    else:
                        max_label = max(max_label, value)
                samples += 1
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"{name}: not a readable CSV file ({exc})") from exc
    if not seen_any:
        raise DatasetError(f"{name}: is empty")
    shape = dataset_shape((samples, width - 1), (samples,), name)
    # The trainer checks values after shapes, features before labels: keep its order for the same message.
    if nonfinite_features:
        raise DatasetError(f"{name}: x contains NaN or infinite values")
    if bad_labels:
        raise DatasetError(f"{name}: labels must be integers from 0")
    check_classes(int(max_label) + 1, name)
    return shape


def _label_column(header: list[str] | None, name: str, width: int = 0) -> int:
    width = len(header) if header is not None else width
    if width < 2:
        raise DatasetError(f"{name}: needs at least one feature column and a label column")
    return header.index("label") if header and "label" in header else width - 1


def _bounded_lines(f: io.TextIOBase, name: str) -> Iterator[str]:
    """The file's lines, refusing one longer than `MAX_CSV_LINE` before it is read whole."""
    while line := f.readline(MAX_CSV_LINE + 1):
        if len(line) > MAX_CSV_LINE:
            raise DatasetError(f"{name}: a line is longer than {MAX_CSV_LINE} characters")
        yield line


def is_number(cell: str) -> bool:
    # NaN and infinities parse; the value checks refuse them with a clearer message.
    try:
        float(cell)
    except ValueError:
        return False
    return True
