"""What a `torch.save` file holds, read without torch and without running its pickle.

`torch.save` writes a zip archive: `<archive>/data.pkl` pickles the saved object,
each tensor in it a call to a rebuild function of `torch._utils` on a storage
that the pickle names through `persistent_load` and whose bytes are the member
`<archive>/data/<key>`. Here that pickle is read by an unpickler that knows only
those rebuild functions, the storage classes, the dtypes and `OrderedDict`, each
mapped to a stand-in that records shape and dtype. Every other global is
refused, so nothing from the file is ever executed, and no tensor data is read:
only the zip's directory is consulted to check that each storage is all there.

Files in torch's legacy (pre-1.6, non-zip) format are refused: their pickle
stream comes first and would have to be trusted as a whole.
"""

from __future__ import annotations

import io
import pickle
import zipfile
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, TypeGuard

if TYPE_CHECKING:
    # numpy (~14 MB mapped) is imported where it is used: the controller imports this module at
    # start but needs numpy only to check an upload.
    import numpy as np

#: A dataset's data.pkl is a few hundred bytes; a pickle is held and unpickled whole, so bound it.
MAX_PICKLE_BYTES = 1 << 20


class TorchFileError(Exception):
    """The file is not a `torch.save` archive this module can read; the message says why."""


@dataclass(frozen=True, slots=True)
class TensorInfo:
    """A tensor of the file, as far as its shape and dtype."""

    shape: tuple[int, ...]
    #: The numpy dtype a CPU tensor of this dtype converts to; None when numpy has none (bfloat16, float8, ...).
    dtype: np.dtype | None
    #: torch's name of the dtype, for messages: "float32", "bfloat16".
    dtype_name: str


@dataclass(frozen=True, slots=True)
class _DType:
    """A torch dtype: its name, its size in bytes, and numpy's equivalent if there is one."""

    name: str
    itemsize: int
    numpy: str | None


@dataclass(frozen=True, slots=True)
class _StorageClass:
    """A storage class the pickle names; `dtype` None for `UntypedStorage` (whose numel counts bytes)."""

    name: str
    dtype: _DType | None


@dataclass(frozen=True, slots=True)
class _Storage:
    """A storage the pickle refers to: its element type and its size in bytes."""

    dtype: _DType
    nbytes: int


_DTYPES = {
    d.name: d
    for d in [
        _DType("float64", 8, "float64"), _DType("float32", 4, "float32"), _DType("float16", 2, "float16"),
        _DType("int64", 8, "int64"), _DType("int32", 4, "int32"), _DType("int16", 2, "int16"),
        _DType("int8", 1, "int8"), _DType("uint8", 1, "uint8"), _DType("bool", 1, "bool"),
        _DType("uint16", 2, "uint16"), _DType("uint32", 4, "uint32"), _DType("uint64", 8, "uint64"),
        _DType("complex64", 8, "complex64"), _DType("complex128", 16, "complex128"),
        _DType("bfloat16", 2, None), _DType("complex32", 4, None),
        _DType("float8_e5m2", 1, None), _DType("float8_e4m3fn", 1, None), _DType("float8_e5m2fnuz", 1, None),
        _DType("float8_e4m3fnuz", 1, None), _DType("float8_e8m0fnu", 1, None),
        _DType("qint8", 1, None), _DType("qint32", 4, None), _DType("quint8", 1, None),
        _DType("quint4x2", 1, None), _DType("quint2x4", 1, None),
    ]
}  # fmt: skip

#: The legacy storage classes `torch.save` still names for the classic dtypes (torch.storage's map).
_STORAGE_CLASSES = {
    "DoubleStorage": "float64", "FloatStorage": "float32", "HalfStorage": "float16", "LongStorage": "int64",
    "IntStorage": "int32", "ShortStorage": "int16", "CharStorage": "int8", "ByteStorage": "uint8",
    "BoolStorage": "bool", "BFloat16Storage": "bfloat16", "ComplexDoubleStorage": "complex128",
    "ComplexFloatStorage": "complex64", "QInt8Storage": "qint8", "QInt32Storage": "qint32",
    "QUInt8Storage": "quint8", "QUInt4x2Storage": "quint4x2", "QUInt2x4Storage": "quint2x4",
}  # fmt: skip
_BYTE = _DTYPES["uint8"]


def _tensor(storage: object, offset: object, size: object, stride: object, dtype: _DType) -> TensorInfo:
    """The stand-in for a rebuilt tensor, after the bounds check torch's `Tensor.set_` makes."""
    if not isinstance(storage, _Storage):
        raise TorchFileError("a tensor is rebuilt from something that is not a storage")
    if not _is_count(offset) or not _is_counts(size) or not _is_counts(stride) or len(size) != len(stride):
        raise TorchFileError(f"a tensor has a malformed offset, size or stride: {offset!r}, {size!r}, {stride!r}")
    if all(size):  # an empty tensor needs no storage at all
        last = offset + sum((n - 1) * s for n, s in zip(size, stride))
        if (last + 1) * dtype.itemsize > storage.nbytes:
            raise TorchFileError(
                f"a tensor of size {size} needs {(last + 1) * dtype.itemsize} bytes of a {storage.nbytes}-byte storage"
            )
    import numpy as np

    return TensorInfo(size, np.dtype(dtype.numpy) if dtype.numpy else None, dtype.name)


def _rebuild_tensor_v2(storage: object, offset: object, size: object, stride: object, requires_grad: object,
                       backward_hooks: object, metadata: object = None) -> TensorInfo:  # fmt: skip
    """Stands in for torch._utils._rebuild_tensor_v2: the tensor's dtype is its storage's."""
    dtype = storage.dtype if isinstance(storage, _Storage) else _BYTE
    return _tensor(storage, offset, size, stride, dtype)


def _rebuild_tensor_v3(storage: object, offset: object, size: object, stride: object, requires_grad: object,
                       backward_hooks: object, dtype: object, metadata: object = None) -> TensorInfo:  # fmt: skip
    """Stands in for torch._utils._rebuild_tensor_v3: newer dtypes (uint16, float8...) on untyped storage."""
    if not isinstance(dtype, _DType):
        raise TorchFileError(f"a tensor's dtype is {dtype!r}, not a torch dtype")
    return _tensor(storage, offset, size, stride, dtype)


def _rebuild_parameter(data: object, requires_grad: object, backward_hooks: object) -> TensorInfo:
    """Stands in for torch._utils._rebuild_parameter: a Parameter is its tensor."""
    if not isinstance(data, TensorInfo):
        raise TorchFileError("a Parameter wraps something that is not a tensor")
    return data


_GLOBALS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor_v3"): _rebuild_tensor_v3,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch.storage", "UntypedStorage"): _StorageClass("UntypedStorage", None),
    **{("torch", name): _StorageClass(name, _DTYPES[dtype]) for name, dtype in _STORAGE_CLASSES.items()},
    **{("torch", name): dtype for name, dtype in _DTYPES.items()},
}


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, storage: Callable[[object], _Storage]) -> None:
        super().__init__(file)
        self._storage = storage

    def find_class(self, module: str, name: str) -> Any:
        # The one door to code in a pickle: only our stand-ins pass, so nothing of the file's choosing runs.
        try:
            return _GLOBALS[(module, name)]
        except KeyError:
            raise TorchFileError(f"its pickle names {module}.{name}, which a dataset file may not use") from None

    def persistent_load(self, pid: object) -> _Storage:
        return self._storage(pid)


def read_torch_file(path: Path) -> object:
    """The object a `torch.save` zip file holds, with a `TensorInfo` for each tensor.

    Raises `TorchFileError` when the file is not such an archive, is malformed,
    or its pickle names anything but tensors, storages, dtypes and OrderedDict.
    """
    try:
        with path.open("rb") as f:
            if f.read(4) != b"PK\x03\x04":
                raise TorchFileError(
                    "it is not a zip archive; only the zip format torch.save has written since torch 1.6 is read"
                )
        with zipfile.ZipFile(path) as archive:
            return _read_archive(archive)
    except TorchFileError:
        raise
    except (OSError, EOFError, RuntimeError, NotImplementedError, zipfile.BadZipFile, zlib.error) as exc:
        raise TorchFileError(f"a damaged zip archive ({exc})") from exc


def _read_archive(archive: zipfile.ZipFile) -> object:
    names = archive.namelist()
    # As torch's reader does: every record lives under the folder of the first one.
    prefix = names[0].split("/", 1)[0] if names and "/" in names[0] else ""
    sizes = {info.filename: info.file_size for info in archive.infolist()}
    if not prefix or f"{prefix}/data.pkl" not in sizes:
        raise TorchFileError("no data.pkl: not an archive written by torch.save")
    if f"{prefix}/version" not in sizes and f"{prefix}/.data/version" not in sizes:
        raise TorchFileError("no version record: not an archive written by torch.save")
    if sizes[f"{prefix}/data.pkl"] > MAX_PICKLE_BYTES:
        raise TorchFileError(f"its data.pkl is over {MAX_PICKLE_BYTES} bytes, far more than a dataset's")
    with archive.open(f"{prefix}/data.pkl") as stream:
        pickled = stream.read(MAX_PICKLE_BYTES + 1)  # zipfile stops at the declared size; this is a second bound

    def storage(pid: object) -> _Storage:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise TorchFileError(f"an unknown persistent id {pid!r}")
        _, cls, key, _location, numel = pid
        if not isinstance(cls, _StorageClass) or not isinstance(key, str) or not _is_count(numel):
            raise TorchFileError(f"a malformed storage reference {pid!r}")
        nbytes = numel * (cls.dtype.itemsize if cls.dtype else 1)
        record = f"{prefix}/data/{key}"
        if record not in sizes:
            raise TorchFileError(f"storage {key!r} is missing from the archive")
        if sizes[record] != nbytes:  # torch refuses a record of any other size
            raise TorchFileError(f"storage {key!r} holds {sizes[record]} bytes, {nbytes} expected")
        return _Storage(cls.dtype or _BYTE, nbytes)

    try:
        return _Unpickler(io.BytesIO(pickled), storage).load()
    except TorchFileError:
        raise
    except Exception as exc:  # a malformed pickle raises many kinds (UnpicklingError, TypeError, IndexError...)
        raise TorchFileError(f"its pickle is malformed ({type(exc).__name__}: {exc})") from exc


def _is_count(value: object) -> TypeGuard[int]:
    return type(value) is int and value >= 0


def _is_counts(value: object) -> TypeGuard[tuple[int, ...]]:
    return isinstance(value, tuple) and all(_is_count(v) for v in value)
