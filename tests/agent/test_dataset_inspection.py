"""The controller's `describe` says what the trainer's `load_dataset` says, on files torch and numpy wrote.

`describe` reads headers (and never runs a pickle); `load_dataset` reads the
arrays. For every file here both accept it with the same samples and input
shape, or both refuse it. The few places where they differ by design are
tested as such at the end.
"""

from __future__ import annotations

import io
import struct
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch

from agent.training.data import load_dataset
from taskspec.datasets import DatasetShape, describe
from taskspec.errors import DatasetError

Writer = Callable[[Path], object]


def npz(compressed: bool = False, **arrays: np.ndarray) -> Writer:
    def write(path: Path) -> None:
        out = io.BytesIO()
        (np.savez_compressed if compressed else np.savez)(out, **arrays)  # type: ignore[arg-type]
        path.write_bytes(out.getvalue())

    return write


def pt(content: object, **kw: object) -> Writer:
    return lambda path: torch.save(content, path, **kw)  # type: ignore[arg-type]


def text(content: str) -> Writer:
    return lambda path: path.write_text(content, newline="")


def raw(content: bytes) -> Writer:
    return lambda path: path.write_bytes(content)


def labels(n: int, classes: int = 2) -> np.ndarray:
    return np.arange(n) % classes


class Opens:
    """Unpickled, it creates the file at `path`: proof that the file's pickle was run."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (self.path, "w"))


def with_pickle(source: Writer, pickled: bytes) -> Writer:
    """A real torch.save archive whose data.pkl is replaced by `pickled`."""

    def write(path: Path) -> None:
        source(path)
        original = path.read_bytes()
        with zipfile.ZipFile(io.BytesIO(original)) as old, zipfile.ZipFile(path, "w") as new:
            for info in old.infolist():
                new.writestr(info, pickled if info.filename.endswith("/data.pkl") else old.read(info))

    return write


def truncated(source: Writer, keep: float) -> Writer:
    def write(path: Path) -> None:
        source(path)
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * keep)])

    return write


def short_storages(source: Writer, by: int) -> Writer:
    """A real torch.save archive whose tensor data records are `by` bytes short."""

    def write(path: Path) -> None:
        source(path)
        with zipfile.ZipFile(io.BytesIO(path.read_bytes())) as old, zipfile.ZipFile(path, "w") as new:
            for info in old.infolist():
                data = old.read(info)
                new.writestr(info, data[:-by] if "/data/" in info.filename else data)

    return write


MARKER = "/tmp/aifarm-dataset-inspection-pickle-ran"
_TOUCH = f"touch {MARKER}".encode()
_OS_SYSTEM = b"\x80\x02cos\nsystem\nX" + struct.pack("<I", len(_TOUCH)) + _TOUCH + b"\x85R."  # os.system(...)
_view = torch.arange(40, dtype=torch.float32).reshape(10, 4)

ACCEPTED: dict[str, Writer] = {
    "tabular.npz": npz(x=np.zeros((6, 2)), y=labels(6, 3)),
    "one-feature.npz": npz(x=np.zeros(5), y=labels(5)),
    "grey.npz": npz(True, x=np.zeros((4, 5, 5), dtype=np.uint8), y=labels(4)),
    "colour-column-y.npz": npz(True, x=np.zeros((3, 3, 8, 8), dtype=np.float16), y=labels(3)[:, None]),
    "booleans.npz": npz(x=np.zeros((2, 3), dtype=bool), y=np.array([True, False])),
    "volumes.npz": npz(x=np.zeros((2, 2, 3, 4, 5), dtype=np.int16), y=labels(2)),
    "no-npy-suffix.npz": lambda p: _zip_members(p, x=np.zeros((3, 2)), y=labels(3)),
    "images.pt": pt({"x": torch.randn(5, 3, 4, 4), "y": torch.tensor([0, 1, 1, 0, 1])}),
    "uint16.pt": pt({"x": torch.zeros(6, 3, dtype=torch.uint16), "y": torch.tensor(labels(6))}),
    "parameter.pt": pt({"x": torch.nn.Parameter(torch.zeros(4, 3)), "y": torch.tensor([[0], [1], [1], [0]])}),
    "transposed.pt": pt({"x": torch.zeros(3, 4).t(), "y": torch.tensor([0, 1, 1, 0], dtype=torch.int8)}),
    "slice-of-storage.pt": pt({"x": _view[2:8], "y": torch.tensor(labels(6)).bool()}),
    "one-feature.pt": pt({"x": torch.zeros(5, dtype=torch.float64), "y": torch.tensor(labels(5))}),
    "extra-keys.pt": pt(OrderedDict(x=torch.zeros(3, 2), y=torch.tensor([0, 1, 0]), classes=["a", "b"], n=3)),
    "labelled.csv": text("a,label,b\n1.5,1,2\n3,0,4\n\n5,2,6e1\n"),
    "no-header.csv": text("1,2,0\n3,4,1\n"),
    "quoted-crlf.csv": text('"f1","f2",label\r\n"1",2,0\r\n3,4,1\r\n'),
}

REFUSED: dict[str, Writer] = {
    "missing-y.npz": npz(x=np.zeros((3, 2))),
    "short-y.npz": npz(x=np.zeros((3, 2)), y=np.array([0, 1])),
    "one-sample.npz": npz(x=np.zeros((1, 2)), y=np.array([0])),
    "scalar-x.npz": npz(x=np.zeros(()), y=labels(2)),
    "matrix-y.npz": npz(x=np.zeros((2, 2)), y=np.zeros((2, 2))),
    "strings.npz": npz(x=np.array([["a"], ["b"]]), y=labels(2)),
    "complex.npz": npz(x=np.zeros((2, 2), dtype=complex), y=labels(2)),
    "objects.npz": npz(x=np.array([Opens(MARKER), 1], dtype=object), y=labels(2)),
    "truncated.npz": truncated(npz(x=np.zeros((6, 2)), y=labels(6)), 0.8),
    "garbage.npz": raw(b"not a zip"),
    "short-y.pt": pt({"x": torch.zeros(3, 2), "y": torch.tensor([0, 1])}),
    "complex.pt": pt({"x": torch.zeros(3, 2, dtype=torch.complex64), "y": torch.tensor([0, 1, 0])}),
    "a-list.pt": pt([torch.zeros(2)]),
    "not-tensors.pt": pt({"x": [[1.0], [2.0]], "y": [0, 1]}),
    "a-class.pt": pt({"x": torch.zeros(2, 2), "y": torch.tensor([0, 1]), "m": Opens(MARKER)}),
    "os-system.pt": with_pickle(pt({"x": torch.zeros(2)}), _OS_SYSTEM),
    "truncated.pt": truncated(pt({"x": torch.zeros(50, 2), "y": torch.tensor(labels(50))}), 0.7),
    "short-storage.pt": short_storages(pt({"x": torch.zeros(5, 2), "y": torch.tensor(labels(5))}), 8),
    "garbage.pt": raw(b"\x00garbage"),
    "bad-cell.csv": text("a,b,label\n1,2,0\n3,x,1\n"),
    "ragged.csv": text("1,2,0\n3,1\n"),
    "empty.csv": text(""),
    "one-row.csv": text("1,0\n"),
    "one-class.csv": text("1,0\n2,0\n"),
    "nan.csv": text("nan,0\n2,1\n"),
    "fraction-label.csv": text("1,0.5\n2,1\n"),
    "header-only.csv": text("a,label\n"),
    "one-column.csv": text("label\n1\n2\n"),
    "unknown.json": text("{}"),
}


def _zip_members(path: Path, **arrays: np.ndarray) -> None:
    # np.load takes a member named "x" as well as "x.npy".
    with zipfile.ZipFile(path, "w") as zf:
        for name, array in arrays.items():
            with zf.open(name, "w") as member:
                np.lib.format.write_array(member, array)


def _loaded(path: Path) -> DatasetShape:
    data = load_dataset(path)
    return DatasetShape(len(data), data.input_shape)


@pytest.mark.parametrize("name", ACCEPTED)
def test_describe_agrees_with_the_loader_on_usable_files(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    ACCEPTED[name](path)
    assert describe(path) == _loaded(path)


@pytest.mark.parametrize("name", REFUSED)
def test_describe_refuses_what_the_loader_refuses(tmp_path: Path, name: str) -> None:
    Path(MARKER).unlink(missing_ok=True)
    path = tmp_path / name
    REFUSED[name](path)
    with pytest.raises(DatasetError) as by_loader:
        load_dataset(path)
    with pytest.raises(DatasetError) as by_describe:
        describe(path)
    assert not Path(MARKER).exists(), "a pickle in the file was run"
    if name.endswith(".csv") or name.endswith(".json") or "-y" in name or "sample" in name:
        # The shape and CSV rules are one code shared by both: the same words for the user.
        assert str(by_describe.value) == str(by_loader.value)


# Where they differ, by design -------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "write"),
    [
        ("nan.npz", npz(x=np.full((3, 2), np.nan), y=labels(3))),
        ("fraction-label.npz", npz(x=np.zeros((3, 2)), y=np.array([0, 0.5, 1]))),
        ("negative-label.npz", npz(x=np.zeros((3, 2)), y=np.array([0, -1, 1]))),
        ("one-class.npz", npz(x=np.zeros((3, 2)), y=np.zeros(3))),
        ("infinite.pt", pt({"x": torch.full((3, 2), float("inf")), "y": torch.tensor([0, 1, 1])})),
    ],
)
def test_values_of_npz_and_pt_are_the_trainers_to_check(tmp_path: Path, name: str, write: Writer) -> None:
    """Finite features and integer labels naming 2+ classes show only in the data, which describe never reads."""
    path = tmp_path / name
    write(path)
    with pytest.raises(DatasetError, match="NaN|labels"):
        load_dataset(path)
    assert describe(path) == DatasetShape(3, (2,))


def test_legacy_pt_files_are_refused_though_torch_reads_them(tmp_path: Path) -> None:
    """Before torch 1.6 a file was one pickle stream with nothing to check first; re-saving it gives the zip."""
    path = tmp_path / "legacy.pt"
    torch.save({"x": torch.zeros(4, 2), "y": torch.tensor(labels(4))}, path, _use_new_zipfile_serialization=False)
    assert len(load_dataset(path)) == 4
    with pytest.raises(DatasetError, match="not a zip archive"):
        describe(path)


@pytest.mark.parametrize(
    ("name", "write"),
    [
        ("bfloat16.pt", pt({"x": torch.zeros(4, 2, dtype=torch.bfloat16), "y": torch.tensor(labels(4))})),
        ("bare-npy.npz", lambda p: p.write_bytes(_npy_bytes(np.zeros((4, 2))))),
    ],
)
def test_files_the_loader_trips_on_are_refused(tmp_path: Path, name: str, write: Writer) -> None:
    # load_dataset raises TypeError on these (numpy has no bfloat16; np.load returns a bare array,
    # not an archive), not DatasetError: describe names the problem instead.
    path = tmp_path / name
    write(path)
    with pytest.raises(DatasetError):
        describe(path)


def _npy_bytes(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.save(out, array)
    return out.getvalue()
