"""Image datasets: an archive of PNG or JPEG images in one folder per class.

The archive is a `.tar.gz`/`.tgz` (or a plain or otherwise compressed `.tar`)
or a `.zip`, told apart by its first bytes. An image's class is the name of the
folder it is in (`cat/001.png`, or `cifar10/train/cat/001.png`: the last
folder); classes are numbered in sorted order. Files that are not `.png`,
`.jpg` or `.jpeg`, hidden files and `__MACOSX` folders are skipped. All images
must have the same height and width; grey images are one channel, any other
mode is converted to RGB, and a dataset with both is RGB throughout.

Archives are read as a stream, member by member, never extracted: nothing is
written to disk, so a member name cannot escape anywhere, and one naming an
absolute path or `..` is refused as malformed all the same. Memory and work
are bounded: at most `MAX_MEMBERS` entries, `MAX_TOTAL_BYTES` uncompressed
bytes in all (counted from the sizes the archive declares, which tar and zip
readers stop at), `MAX_IMAGE_BYTES` per file and `MAX_IMAGE_PIXELS` per image
(checked from its header, before it is decoded), and a dataset the trainer
holds in at most 2 GiB of float32.

The controller describes an upload with `describe_images` (decoding every
image once, one at a time, so that a corrupt one is refused at upload); the
agent loads it with `read_images`, by the same rules.
"""

from __future__ import annotations

import io
import tarfile
import warnings
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # numpy (~14 MB mapped) is imported where it is used: the controller imports this module at
    # start but needs numpy only to check an upload.
    import numpy as np

from taskspec.errors import DatasetError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
#: File names taken as image archives (the format "images").
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip")
#: Entries of an archive at most, folders and skipped files included.
MAX_MEMBERS = 200_000
#: Uncompressed bytes of an archive's members at most.
MAX_TOTAL_BYTES = 4 << 30
#: One image file at most.
MAX_IMAGE_BYTES = 64 << 20
#: One image's width x height at most.
MAX_IMAGE_PIXELS = 4096 * 4096
#: float32 values of the whole dataset at most (2 GiB), as for generated data.
MAX_DATASET_VALUES = 512 * 1024 * 1024

_GZIP, _ZIP_MAGICS = b"\x1f\x8b", (b"PK\x03\x04", b"PK\x05\x06")
_GREY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F")


@dataclass(frozen=True)
class ImageSet:
    """What an image archive holds."""

    samples: int
    height: int
    width: int
    channels: int
    classes: tuple[str, ...]
    #: uint8 (N, H, W, C) when read with pixels kept, else None.
    pixels: np.ndarray | None = None
    #: int64 class indices (N,) when read with pixels kept, else None.
    labels: np.ndarray | None = None

    @property
    def dims(self) -> str:
        """As the Server Management document shows it: "32x32x3" (height x width x channels)."""
        return f"{self.height}x{self.width}x{self.channels}"


def is_image_archive_name(name: str) -> bool:
    return name.lower().endswith(ARCHIVE_SUFFIXES)


def describe_images(path: Path) -> ImageSet:
    """Count, size and classes of an image archive, every image decoded once; raises `DatasetError`."""
    return _read(path, keep=False)


def read_images(path: Path) -> ImageSet:
    """The images of an archive as arrays (`pixels`, `labels`); raises `DatasetError`."""
    return _read(path, keep=True)


def _read(path: Path, *, keep: bool) -> ImageSet:
    import numpy as np

    name = path.name
    labels: list[str] = []
    images: list[np.ndarray] = []
    size: tuple[int, int] | None = None
    any_colour = False
    first = ""
    for label, member, data in _image_files(path):
        image = _decode(data, f"{name}: {member}")
        if size is None:
            size, first = image.shape[:2], member
        elif image.shape[:2] != size:
            raise DatasetError(
                f"{name}: images must all be the same size; {member} is {image.shape[0]}x{image.shape[1]} "
                f"(height x width) but {first} is {size[0]}x{size[1]}: resize them before uploading"
            )
        any_colour |= image.shape[2] == 3
        labels.append(label)
        if len(labels) * size[0] * size[1] * (3 if any_colour else 1) > MAX_DATASET_VALUES:
            raise DatasetError(f"{name}: more pixels than a dataset may hold ({MAX_DATASET_VALUES} values)")
        if keep:
            images.append(image)
    if size is None:
        raise DatasetError(
            f"{name}: no PNG or JPEG images found; put them in one folder per class (cat/001.png, dog/002.jpg, ...)"
        )
    classes = tuple(sorted(set(labels)))
    if len(classes) < 2 or len(labels) < 2:
        raise DatasetError(
            f"{name}: needs at least 2 images in at least 2 class folders, found {len(labels)} in {len(classes)}"
        )
    channels = 3 if any_colour else 1
    pixels = indices = None
    if keep:
        pixels = np.stack([np.repeat(i, channels // i.shape[2], axis=2) for i in images])
        numbers = {c: n for n, c in enumerate(classes)}
        indices = np.array([numbers[label] for label in labels], dtype=np.int64)
    return ImageSet(len(labels), size[0], size[1], channels, classes, pixels, indices)


def _decode(data: bytes, what: str) -> np.ndarray:
    """One PNG or JPEG as uint8 (H, W, 1 or 3), its size checked before it is decoded."""
    import numpy as np
    from PIL import Image  # here, so that importing taskspec stays light for callers that never decode

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=("PNG", "JPEG")) as image:
                if image.width * image.height > MAX_IMAGE_PIXELS:
                    raise DatasetError(f"{what}: {image.width}x{image.height} pixels, over {MAX_IMAGE_PIXELS}")
                grey = image.mode in _GREY_MODES
                image.load()
                converted = image.convert("L" if grey else "RGB")
    except DatasetError:
        raise
    except Exception as exc:  # PIL raises many kinds for a bad file (OSError, SyntaxError, ValueError, ...)
        raise DatasetError(f"{what}: not a readable PNG or JPEG image ({type(exc).__name__}: {exc})") from exc
    array = np.asarray(converted, dtype=np.uint8)
    return array[:, :, None] if array.ndim == 2 else array


def _image_files(path: Path) -> Iterator[tuple[str, str, bytes]]:
    """(class, member name, bytes) of each image file of the archive, in archive order."""
    with path.open("rb") as f:
        head = f.read(512 + 265)
    if head[:4] in _ZIP_MAGICS:
        yield from _zip_files(path)
    elif head[:2] == _GZIP or head[257:262] == b"ustar" or head[:3] in (b"BZh", b"\xfd7z"):
        yield from _tar_files(path)
    else:
        raise DatasetError(f"{path.name}: not a .tar.gz, .tgz, .tar or .zip archive")


def _tar_files(path: Path) -> Iterator[tuple[str, str, bytes]]:
    name, members, total = path.name, 0, 0
    try:
        # "r|*": a stream, member after member; nothing is extracted, nothing seeks back.
        with tarfile.open(path, mode="r|*") as archive:
            for member in archive:
                members += 1
                total += member.size
                _check_bounds(name, members, total)
                label = _class_of(name, member.name) if member.isfile() else None
                if label is None:
                    continue
                if member.size > MAX_IMAGE_BYTES:
                    raise DatasetError(f"{name}: {member.name} is over {MAX_IMAGE_BYTES} bytes, too large an image")
                stream = archive.extractfile(member)
                assert stream is not None  # a regular file always has one
                yield label, member.name, stream.read(member.size)
    except DatasetError:
        raise
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise DatasetError(f"{name}: not a readable tar archive ({type(exc).__name__}: {exc})") from exc


def _zip_files(path: Path) -> Iterator[tuple[str, str, bytes]]:
    name = path.name
    try:
        with path.open("rb") as f:
            # The entry count from the end record, before ZipFile reads the whole directory into memory.
            end = zipfile._EndRecData(f)  # type: ignore[attr-defined]
        if end is None:
            raise DatasetError(f"{name}: not a readable zip archive (no end of central directory)")
        _check_bounds(name, end[zipfile._ECD_ENTRIES_TOTAL], 0)  # type: ignore[attr-defined]
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            _check_bounds(name, len(infos), sum(i.file_size for i in infos))
            for info in infos:
                label = None if info.is_dir() else _class_of(name, info.filename)
                if label is None:
                    continue
                if info.file_size > MAX_IMAGE_BYTES:
                    raise DatasetError(f"{name}: {info.filename} is over {MAX_IMAGE_BYTES} bytes, too large an image")
                with archive.open(info) as stream:  # stops at the declared size and checks the CRC
                    yield label, info.filename, stream.read(MAX_IMAGE_BYTES + 1)
    except DatasetError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError, zlib.error) as exc:
        # RuntimeError: an encrypted member; NotImplementedError: a compression zipfile lacks.
        raise DatasetError(f"{name}: not a readable zip archive ({type(exc).__name__}: {exc})") from exc


def _check_bounds(name: str, members: int, total: int) -> None:
    if members > MAX_MEMBERS:
        raise DatasetError(f"{name}: more than {MAX_MEMBERS} entries in the archive")
    if total > MAX_TOTAL_BYTES:
        raise DatasetError(f"{name}: expands to more than {MAX_TOTAL_BYTES} bytes")


def _class_of(archive: str, member: str) -> str | None:
    """The class folder of an image member; None for a member that is skipped."""
    path = PurePosixPath(member.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts:
        raise DatasetError(f"{archive}: member {member!r} names a path outside the archive")
    parts = [p for p in path.parts if p not in ("", ".")]
    if any(p.startswith(".") or p == "__MACOSX" for p in parts) or path.suffix.lower() not in IMAGE_SUFFIXES:
        return None
    if len(parts) < 2:
        raise DatasetError(f"{archive}: image {member!r} is in no folder; put images in one folder per class")
    return parts[-2]
