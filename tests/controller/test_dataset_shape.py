"""The controller's reading of dataset files: torch-free, headers only, in bounded memory.

Every file here is made with numpy, zipfile or raw bytes, so these tests run
where torch is not installed. `tests/agent/test_dataset_inspection.py` checks
the same reading against the trainer's loader on files torch itself wrote.
"""

from __future__ import annotations

import io
import os
import re
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from controller.domain.dataset_shape import describe_file, synthetic_npz
from taskspec.datasets import DatasetShape, describe
from taskspec.errors import DatasetError

REPO = Path(__file__).resolve().parents[2]

# Builders ---------------------------------------------------------------------


def npz(path: Path, compressed: bool = False, **arrays: np.ndarray) -> Path:
    out = io.BytesIO()  # np.savez would add ".npz" to a path named otherwise
    (np.savez_compressed if compressed else np.savez)(out, **arrays)  # type: ignore[arg-type]
    path.write_bytes(out.getvalue())
    return path


def npy_header(shape: tuple[int, ...], descr: str = "<f4") -> bytes:
    out = io.BytesIO()
    np.lib.format.write_array_header_1_0(out, {"descr": descr, "fortran_order": False, "shape": shape})
    return out.getvalue()


class Pickle:
    """Protocol-2 pickle opcodes written by hand: a torch.save pickle without importing torch."""

    def __init__(self) -> None:
        self.out = bytearray(b"\x80\x02")

    def op(self, raw: bytes) -> Pickle:
        self.out += raw
        return self

    def global_(self, module: str, name: str) -> Pickle:
        return self.op(b"c" + f"{module}\n{name}\n".encode())

    def str_(self, s: str) -> Pickle:
        data = s.encode()
        return self.op(b"X" + struct.pack("<I", len(data)) + data)

    def int_(self, n: int) -> Pickle:
        return self.op(b"J" + struct.pack("<i", n))

    def ints(self, values: tuple[int, ...]) -> Pickle:
        self.op(b"(")
        for v in values:
            self.int_(v)
        return self.op(b"t")

    def tensor(self, key: str, storage: str, numel: int, shape: tuple[int, ...], stride: tuple[int, ...]) -> Pickle:
        """`_rebuild_tensor_v2((storage), 0, shape, stride, False, OrderedDict())`, as torch.save writes it."""
        self.global_("torch._utils", "_rebuild_tensor_v2").op(b"((")
        self.str_("storage").global_("torch", storage).str_(key).str_("cpu").int_(numel).op(b"tQ")
        self.int_(0).ints(shape).ints(stride).op(b"\x89").global_("collections", "OrderedDict").op(b")R")
        return self.op(b"tR")

    def bytes(self) -> bytes:
        return bytes(self.out + b".")


def torch_zip(path: Path, pickle: bytes, storages: dict[str, int]) -> Path:
    """A zip laid out as torch.save lays it out, with `storages` (key: size in bytes) of zeros."""
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", pickle)
        zf.writestr("archive/version", "3\n")
        for key, size in storages.items():
            zf.writestr(f"archive/data/{key}", bytes(size))
    return path


def xy_pickle(x_shape: tuple[int, ...], y_shape: tuple[int, ...], x_storage: str = "FloatStorage") -> bytes:
    def strides(shape: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(int(np.prod(shape[i + 1 :])) for i in range(len(shape)))

    p = Pickle().op(b"}(").str_("x")
    p.tensor("0", x_storage, int(np.prod(x_shape)), x_shape, strides(x_shape)).str_("y")
    return p.tensor("1", "LongStorage", int(np.prod(y_shape)), y_shape, strides(y_shape)).op(b"u").bytes()


# The built-in dataset and the controller's entry point -----------------------------


def test_the_builtin_synthetic_dataset(tmp_path: Path) -> None:
    path = tmp_path / "synthetic"
    path.write_bytes(synthetic_npz())
    assert describe_file(path, "npz") == (256, "3x16x16")


def test_an_unusable_file_is_zero_samples_not_an_error(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    path.write_bytes(b"not a zip")
    assert describe_file(path, "npz") == (0, "")
    assert describe_file(tmp_path / "absent.npz", "npz") == (0, "")


# .npz -------------------------------------------------------------------------


@pytest.mark.parametrize("compressed", [False, True])
@pytest.mark.parametrize(
    ("x", "y", "dims"),
    [
        (np.zeros((6, 2)), np.arange(6) % 3, "2"),
        (np.zeros(5), np.arange(5) % 2, "1"),  # one feature per sample
        (np.zeros((4, 5, 5), dtype=np.uint8), np.array([0, 1, 0, 1]), "1x5x5"),  # grey images get a channel
        (np.zeros((3, 3, 8, 8), dtype=np.float16), np.array([[0], [1], [1]]), "3x8x8"),  # y as a column
        (np.zeros((2, 3), dtype=bool), np.array([True, False]), "3"),
    ],
)
def test_npz_shapes(tmp_path: Path, compressed: bool, x: np.ndarray, y: np.ndarray, dims: str) -> None:
    path = npz(tmp_path / "d.npz", compressed, x=x, y=y)
    assert describe(path) == DatasetShape(len(x), tuple(int(d) for d in dims.split("x")))
    assert describe(path).dims == dims


class OpensAFile:
    """Unpickled, it creates the file `path`: proof that a pickle was run."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (self.path, "w"))


def _object_array(path: Path) -> Path:
    x = np.empty(2, dtype=object)
    x[:] = [OpensAFile(path.with_suffix(".unpickled")), 1]
    return npz(path, x=x, y=np.array([0, 1]))


_HEADER = len(npy_header((100, 4)))


def _short_member(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("x.npy", npy_header((100, 4)) + bytes(40))  # the header promises 1600 bytes
        zf.writestr("y.npy", npy_header((100,), "<i8") + bytes(800))
    return path


def _long_header(path: Path) -> Path:
    header = b"\x93NUMPY\x02\x00" + struct.pack("<I", 50_000) + b" " * 50_000
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("x.npy", header)
        zf.writestr("y.npy", npy_header((2,), "<i8") + bytes(16))
    return path


def _truncated(path: Path) -> Path:
    npz(path, x=np.zeros((6, 2)), y=np.arange(6) % 2)
    path.write_bytes(path.read_bytes()[:-40])  # the central directory is cut
    return path


@pytest.mark.parametrize(
    ("write", "message"),
    [
        (lambda p: npz(p, x=np.zeros((3, 2))), "missing array(s) y"),
        (lambda p: npz(p, x=np.zeros((3, 2)), y=np.array([0, 1])), "3 samples but y has 2 labels"),
        (lambda p: npz(p, x=np.zeros((1, 2)), y=np.array([0])), "at least 2 samples"),
        (lambda p: npz(p, x=np.zeros(()), y=np.array([0, 1])), "samples first"),
        (lambda p: npz(p, x=np.zeros((2, 2)), y=np.zeros((2, 2))), "samples first"),
        (lambda p: npz(p, x=np.array([["a"], ["b"]]), y=np.array([0, 1])), "x must be numeric, got <U1"),
        (lambda p: npz(p, x=np.zeros((2, 2), dtype=complex), y=np.array([0, 1])), "x must be numeric, got complex128"),
        (_object_array, "never unpickled"),
        (_short_member, f"promises {_HEADER + 1600} bytes but the member holds {_HEADER + 40}"),
        (_long_header, "not a readable .npz"),
        (_truncated, "not a readable .npz"),
        (lambda p: p.write_bytes(b"not a zip"), "not a readable .npz file (it is not a zip archive)"),
        (lambda p: p.write_bytes(npy_header((2,)) + bytes(8)), "not a zip archive"),  # a bare .npy
    ],
)
def test_unusable_npz_files_say_why(tmp_path: Path, write: object, message: str) -> None:
    path = tmp_path / "d.npz"
    write(path)  # type: ignore[operator]
    with pytest.raises(DatasetError, match=re.escape(message)):
        describe(path)
    assert not path.with_suffix(".unpickled").exists(), "an object array was unpickled"


def test_a_two_megabyte_npz_that_expands_to_gigabytes_is_described_in_bounded_memory(tmp_path: Path) -> None:
    """The decompression bomb of issue 9: 2 MiB of zeros that expand to 2 GiB; a reader that inflates it fails."""
    samples, shape = 43_690, (3, 64, 64)
    path = tmp_path / "bomb.npz"
    chunk = bytes(64 << 20)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        with zf.open("x.npy", "w", force_zip64=True) as member:
            member.write(npy_header((samples, *shape)))
            left = samples * int(np.prod(shape)) * 4
            while left:
                member.write(chunk if left >= len(chunk) else chunk[:left])
                left -= min(left, len(chunk))
        with zf.open("y.npy", "w") as member:
            np.lib.format.write_array(member, (np.arange(samples) % 4).astype(np.int64))
    expanded = sum(info.file_size for info in zipfile.ZipFile(path).infolist())
    assert path.stat().st_size < 3 << 20 and expanded > 2 << 30

    # A fresh process, so that its peak RSS is the describing alone. Peak as VmHWM, which starts anew
    # at exec; ru_maxrss would carry over this pytest process's own peak. The address-space cap keeps
    # a reader that does inflate the file from taking the machine down with it.
    script = (
        "import re, resource, sys; from pathlib import Path\n"
        "resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))\n"
        "from controller.domain.dataset_shape import describe_file\n"
        "print(describe_file(Path(sys.argv[1]), 'npz'))\n"
        "print(re.search(r'VmHWM:\\s+(\\d+) kB', Path('/proc/self/status').read_text())[1])\n"
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))\n"
    )
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", script, str(path)], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    described, peak_kib, torch_modules = done.stdout.split("\n")[:3]
    assert described == f"({samples}, '3x64x64')"
    assert int(peak_kib) < 300 << 10, f"peak RSS {int(peak_kib) >> 10} MiB describing a {expanded >> 20} MiB dataset"
    assert torch_modules == "[]", "describing a dataset loaded torch"


# .pt (torch.save's zip, hand-written here) ----------------------------------------------


def test_pt_shapes_come_from_the_pickle(tmp_path: Path) -> None:
    path = torch_zip(tmp_path / "d.pt", xy_pickle((5, 3, 4, 4), (5,)), {"0": 5 * 48 * 4, "1": 5 * 8})
    assert describe(path) == DatasetShape(5, (3, 4, 4))
    path = torch_zip(tmp_path / "e.pt", xy_pickle((7,), (7, 1), "ByteStorage"), {"0": 7, "1": 56})
    assert describe(path) == DatasetShape(7, (1,))


def test_a_forbidden_global_is_refused_and_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    evil = b"\x80\x02cos\nsystem\n" + b"X" + struct.pack("<I", len(f"touch {marker}")) + f"touch {marker}".encode()
    path = torch_zip(tmp_path / "d.pt", evil + b"\x85R.", {})
    with pytest.raises(DatasetError, match=r"names os\.system, which a dataset file may not use"):
        describe(path)
    assert not marker.exists()
    builtins_eval = Pickle().global_("builtins", "eval").str_("1").op(b"\x85R").bytes()
    with pytest.raises(DatasetError, match=r"builtins\.eval"):
        describe(torch_zip(tmp_path / "e.pt", builtins_eval, {}))


@pytest.mark.parametrize(
    ("pickle", "storages", "message"),
    [
        (xy_pickle((5, 3), (5,)), {"0": 60}, "storage '1' is missing"),
        (xy_pickle((5, 3), (5,)), {"0": 56, "1": 40}, "storage '0' holds 56 bytes, 60 expected"),
        (xy_pickle((5, 3), (4,)), {"0": 60, "1": 32}, "5 samples but y has 4 labels"),
        (xy_pickle((5, 3), (5,), "BFloat16Storage"), {"0": 30, "1": 40}, "bfloat16 tensor, which has no numpy"),
        (xy_pickle((5, 3), (5,), "ComplexFloatStorage"), {"0": 120, "1": 40}, "x must be numeric, got complex64"),
        (Pickle().op(b"]").bytes(), {}, "must hold a dict with tensors 'x' and 'y'"),
        (Pickle().op(b"}(").str_("x").int_(1).str_("y").int_(2).op(b"u").bytes(), {}, "'x' and 'y' must be tensors"),
        (b"\x80\x02}(X\x01\x00", {}, "its pickle is malformed"),
    ],
)
def test_unusable_pt_files_say_why(tmp_path: Path, pickle: bytes, storages: dict[str, int], message: str) -> None:
    with pytest.raises(DatasetError, match=re.escape(message)):
        describe(torch_zip(tmp_path / "d.pt", pickle, storages))


def test_a_view_past_its_storage_is_refused(tmp_path: Path) -> None:
    p = Pickle().op(b"}(").str_("x").tensor("0", "FloatStorage", 6, (4, 3), (3, 1))
    p.str_("y").tensor("1", "LongStorage", 4, (4,), (1,)).op(b"u")
    with pytest.raises(DatasetError, match="needs 48 bytes of a 24-byte storage"):
        describe(torch_zip(tmp_path / "d.pt", p.bytes(), {"0": 24, "1": 32}))


def test_pt_files_torch_would_not_load_are_refused(tmp_path: Path) -> None:
    legacy = tmp_path / "legacy.pt"  # pre-1.6 torch.save: a bare pickle stream, not a zip
    legacy.write_bytes(b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.")
    with pytest.raises(DatasetError, match="not a zip archive"):
        describe(legacy)
    flat = tmp_path / "flat.pt"
    with zipfile.ZipFile(flat, "w") as zf:
        zf.writestr("data.pkl", xy_pickle((2, 2), (2,)))
    with pytest.raises(DatasetError, match="no data.pkl"):
        describe(flat)
    big = torch_zip(tmp_path / "big.pt", b"\x80\x02" + b"N0" * (1 << 20) + b"N.", {})
    with pytest.raises(DatasetError, match="data.pkl is over"):
        describe(big)


# .csv -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "shape"),
    [
        ("a,label,b\n1.5,1,2\n3,0,4\n\n5,2,6e1\n", (3, (2,))),
        ("1,2,0\n3,4,1\n", (2, (2,))),
        ("x,y\n1,0\n2,1\n", (2, (1,))),
        ('"f1","f2",label\r\n"1",2,0\r\n3,4,1\r\n', (2, (2,))),
    ],
)
def test_csv_shapes(tmp_path: Path, text: str, shape: tuple[int, tuple[int, ...]]) -> None:
    path = tmp_path / "d.csv"
    path.write_text(text, newline="")
    assert describe(path) == DatasetShape(*shape)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a,b,label\n1,2,0\n3,x,1\n", "line 3, column 2: 'x' is not a number"),
        ("1,2,0\n3,1\n", "line 2 has 2 columns, expected 3"),
        ("", "is empty"),
        ("\n  ,\n", "is empty"),
        ("1,0\n", "at least 2 samples"),
        ("a,label\n", "at least 2 samples, got 0"),
        ("label\n1\n2\n", "at least one feature column"),
        ("1,0\n2,0\n", "2 to 100000 classes"),
        ("nan,0\n2,1\n", "NaN or infinite"),
        ("1,0.5\n2,1\n", "labels must be integers from 0"),
        ("1,-1\n2,1\n", "labels must be integers from 0"),
        ("1,0\n2,200000\n", "2 to 100000 classes, got 200001"),
    ],
)
def test_unusable_csv_files_say_why(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "d.csv"
    path.write_text(text)
    with pytest.raises(DatasetError, match=re.escape(message)):
        describe(path)


def test_a_csv_line_is_bounded(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("1," * (3 << 20) + "0\n")
    with pytest.raises(DatasetError, match="a line is longer than"):
        describe(path)


def test_the_format_is_given_or_the_suffix(tmp_path: Path) -> None:
    path = npz(tmp_path / "data.bin", x=np.zeros((2, 2)), y=np.array([0, 1]))
    assert describe(path, "npz").samples == 2
    with pytest.raises(DatasetError, match=r"unsupported format '\.bin'"):
        describe(path)
    upper = npz(tmp_path / "data.NPZ", x=np.zeros((2, 2)), y=np.array([0, 1]))
    assert describe(upper).samples == 2
