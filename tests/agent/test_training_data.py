"""Synthetic datasets and the .npz/.pt/.csv loaders, malformed files included."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from agent.training.data import DatasetError, load_dataset, make_synthetic
from taskspec.training import SyntheticData


def test_synthetic_tabular_is_seeded() -> None:
    spec = SyntheticData(samples=100, features=7, classes=3)
    a, b, c = make_synthetic(spec, 1), make_synthetic(spec, 1), make_synthetic(spec, 2)
    assert a.input_shape == (7,) and len(a) == 100 and a.num_classes == 3
    assert a.x.dtype == torch.float32 and a.y.dtype == torch.int64
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    assert not torch.equal(a.x, c.x)


def test_synthetic_images_have_class_patterns() -> None:
    data = make_synthetic(SyntheticData(samples=400, classes=4, image_size=6, channels=2), 0)
    assert data.input_shape == (2, 6, 6)
    means = torch.stack([data.x[data.y == k].mean(dim=0) for k in range(4)])
    # Class means differ by far more than the noise left in a mean of ~100 samples.
    assert float((means[0] - means[1]).abs().mean()) > 0.3


def test_npz(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, x=np.arange(12, dtype=np.float64).reshape(6, 2), y=np.array([0, 1, 2, 0, 1, 2]))
    data = load_dataset(path)
    assert data.input_shape == (2,) and data.num_classes == 3
    assert data.x.dtype == torch.float32 and data.y.tolist() == [0, 1, 2, 0, 1, 2]


def test_npz_grey_images_get_a_channel(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros((4, 5, 5)), y=np.array([0, 1, 0, 1]))
    assert load_dataset(path).input_shape == (1, 5, 5)


def test_pt(tmp_path: Path) -> None:
    path = tmp_path / "d.pt"
    torch.save({"x": torch.randn(5, 3, 4, 4), "y": torch.tensor([0, 1, 1, 0, 1])}, path)
    data = load_dataset(path)
    assert data.input_shape == (3, 4, 4) and data.num_classes == 2


def test_csv_with_a_label_column(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("a,label,b\n1.5,1,2\n3,0,4\n\n5,2,6e1\n")
    data = load_dataset(path)
    assert data.x.tolist() == [[1.5, 2.0], [3.0, 4.0], [5.0, 60.0]]
    assert data.y.tolist() == [1, 0, 2]


def test_csv_without_a_header_uses_the_last_column(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("1,2,0\n3,4,1\n")
    data = load_dataset(path)
    assert data.x.tolist() == [[1.0, 2.0], [3.0, 4.0]] and data.y.tolist() == [0, 1]


def _npz(path: Path, **arrays: np.ndarray) -> Path:
    np.savez(path, **arrays)  # type: ignore[arg-type]
    return path


@pytest.mark.parametrize(
    ("name", "write", "message"),
    [
        ("a.npz", lambda p: _npz(p, x=np.zeros((3, 2))), "missing array"),
        ("b.npz", lambda p: _npz(p, x=np.zeros((3, 2)), y=np.array([0, 1])), "3 samples but y has 2 labels"),
        ("c.npz", lambda p: _npz(p, x=np.zeros((3, 2)), y=np.array([0, 0.5, 1])), "labels must be integers"),
        ("d.npz", lambda p: _npz(p, x=np.zeros((3, 2)), y=np.array([0, -1, 1])), "labels must be integers"),
        ("e.npz", lambda p: _npz(p, x=np.full((3, 2), np.nan), y=np.array([0, 1, 1])), "NaN"),
        ("f.npz", lambda p: _npz(p, x=np.array([["a"], ["b"]]), y=np.array([0, 1])), "must be numeric"),
        ("g.npz", lambda p: p.write_bytes(b"not a zip"), "not a readable .npz"),
        ("h.pt", lambda p: p.write_bytes(b"\x00garbage"), "not a readable torch file"),
        ("i.pt", lambda p: torch.save([torch.zeros(2)], p), "dict with tensors 'x' and 'y'"),
        ("j.csv", lambda p: p.write_text("a,b,label\n1,2,0\n3,x,1\n"), "line 3, column 2: 'x' is not a number"),
        ("k.csv", lambda p: p.write_text("1,2,0\n3,1\n"), "line 2 has 2 columns, expected 3"),
        ("l.csv", lambda p: p.write_text(""), "is empty"),
        ("m.csv", lambda p: p.write_text("1,0\n"), "at least 2 samples"),
        ("n.csv", lambda p: p.write_text("1,0\n2,0\n"), "2 to 100000 classes"),
        ("o.json", lambda p: p.write_text("{}"), "unsupported format '.json'"),
    ],
)
def test_malformed_files_are_clear_errors(tmp_path: Path, name: str, write: object, message: str) -> None:
    path = tmp_path / name
    write(path)  # type: ignore[operator]
    with pytest.raises(DatasetError, match=message.replace("(", r"\(").replace(".", r"\.")):
        load_dataset(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(tmp_path / "nope.npz")
