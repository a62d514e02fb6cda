"""Image archives (taskspec.image_archive) as the controller describes them and the trainer loads them,
their bounds, and registry checkpoints (taskspec.checkpoint) as the controller reads them and the
trainer continues them."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from agent.training.data import load_dataset
from agent.training.loop import Control, train
from agent.training.models import ModelError, load_base_model
from taskspec import image_archive
from taskspec.checkpoint import describe_checkpoint
from taskspec.datasets import describe
from taskspec.errors import DatasetError, SpecError
from taskspec.training import TrainingConfig


def _png(side: int = 8, value: int = 100, mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, (side, side), value if mode == "L" else (value, 0, 255 - value)).save(out, "PNG")
    return out.getvalue()


def _tar(path: Path, members: list[tuple[str, bytes]], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as archive:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def _two_classes(n: int = 3, **kw: object) -> list[tuple[str, bytes]]:
    return [(f"{c}/{i}.png", _png(value=40 + 150 * k, **kw)) for k, c in enumerate(("a", "b")) for i in range(n)]  # type: ignore[arg-type]


def test_describe_and_load_agree_and_pixels_are_scaled(tmp_path: Path) -> None:
    path = _tar(tmp_path / "d.tar.gz", _two_classes())
    shape = describe(path)  # the format from the name
    data = load_dataset(path)
    assert (shape.samples, shape.input_shape, shape.dims) == (6, (3, 8, 8), "8x8x3")
    assert tuple(data.x.shape) == (6, 3, 8, 8) and data.num_classes == 2
    assert float(data.x.max()) <= 1.0 and data.y.tolist() == [0, 0, 0, 1, 1, 1]


def test_grey_and_colour_together_are_colour_throughout(tmp_path: Path) -> None:
    members = _two_classes() + [("a/grey.png", _png(mode="L"))]
    data = load_dataset(_tar(tmp_path / "d.tgz", members))
    assert tuple(data.x.shape) == (7, 3, 8, 8)
    grey = data.x[6]  # the last member
    assert torch.equal(grey[0], grey[1]) and torch.equal(grey[1], grey[2])


def test_plain_tar_and_zip_are_read_by_their_bytes_not_their_names(tmp_path: Path) -> None:
    plain = _tar(tmp_path / "d.tar", _two_classes(), mode="w")
    assert describe(plain).samples == 6
    with zipfile.ZipFile(tmp_path / "named.tar.gz", "w") as archive:  # a zip under a tar's name
        for name, data in _two_classes():
            archive.writestr(name, data)
    assert describe(tmp_path / "named.tar.gz").samples == 6


def test_member_count_and_uncompressed_bytes_are_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _tar(tmp_path / "d.tar.gz", _two_classes(5))
    monkeypatch.setattr(image_archive, "MAX_MEMBERS", 9)
    with pytest.raises(DatasetError, match="more than 9 entries"):
        describe(path)
    monkeypatch.setattr(image_archive, "MAX_MEMBERS", 100)
    monkeypatch.setattr(image_archive, "MAX_TOTAL_BYTES", 300)
    with pytest.raises(DatasetError, match="expands to more than 300 bytes"):
        describe(path)


def test_a_zip_bomb_is_refused_from_its_directory_before_anything_is_inflated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(image_archive, "MAX_TOTAL_BYTES", 64 << 20)  # the bound's size only makes the bomb slower to build
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in _two_classes():
            archive.writestr(name, data)
        with archive.open("a/huge.png", "w", force_zip64=True) as member:
            zeros = bytes(1 << 20)
            for _ in range(image_archive.MAX_TOTAL_BYTES // len(zeros) + 1):
                member.write(zeros)
    assert path.stat().st_size < 1 << 20
    with pytest.raises(DatasetError, match="expands to more than"):
        describe(path)


def test_an_image_too_large_is_refused_from_its_header(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(image_archive, "MAX_IMAGE_PIXELS", 63)
    with pytest.raises(DatasetError, match="8x8 pixels, over 63"):
        describe(_tar(tmp_path / "d.tar.gz", _two_classes()))


def test_a_symlink_or_folder_member_is_skipped_not_followed(tmp_path: Path) -> None:
    path = tmp_path / "d.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for name, data in _two_classes():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("a/link.png")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        archive.addfile(link)
    assert describe(path).samples == 6


def _trained(tmp_path: Path, architecture: str = "cnn") -> tuple[Path, list[dict[str, float]]]:
    data = load_dataset(_tar(tmp_path / "d.tar.gz", _two_classes(8)))
    config = TrainingConfig(architecture=architecture, epochs=2, batch_size=4, learning_rate=0.003)
    result = train(config, data, tmp_path / "checkpoint.pt", Control(), _Quiet())
    return result.checkpoint, result.history


class _Quiet:
    def __getattr__(self, name: str) -> object:
        return lambda *a, **kw: None


def test_a_saved_checkpoint_is_described_without_torch_and_continues(tmp_path: Path) -> None:
    checkpoint, history = _trained(tmp_path)
    info = describe_checkpoint(checkpoint, "base")
    assert (info.architecture, info.input_shape, info.num_classes, info.dims) == ("cnn", (3, 8, 8), 2, "3x8x8")
    base = load_base_model(checkpoint, "base")
    data = load_dataset(tmp_path / "d.tar.gz")
    config = TrainingConfig(architecture="models/base", epochs=1, batch_size=4, learning_rate=0.003)
    result = train(config, data, tmp_path / "next.pt", Control(), _Quiet(), base)
    assert result.history[0]["loss"] < history[0]["loss"]
    saved = torch.load(tmp_path / "next.pt", weights_only=True)
    assert saved["architecture"] == "cnn" and saved["continued_from"] == "base"


def test_a_checkpoint_for_other_data_fails_the_run_saying_so(tmp_path: Path) -> None:
    checkpoint, _ = _trained(tmp_path)
    other = load_dataset(_tar(tmp_path / "big.tar.gz", _two_classes(side=16)))  # type: ignore[arg-type]
    config = TrainingConfig(architecture="models/base", epochs=1, batch_size=4)
    with pytest.raises(Exception, match="takes input 3x8x8 with 2 classes; the dataset has input 3x16x16"):
        train(config, other, tmp_path / "x.pt", Control(), _Quiet(), load_base_model(checkpoint, "base"))


def test_what_is_no_training_checkpoint_is_refused_by_both_sides(tmp_path: Path) -> None:
    module = tmp_path / "module.pt"
    torch.save(torch.nn.Linear(2, 2), module)  # a pickled nn.Module: code the controller never runs
    bare = tmp_path / "bare.pt"
    torch.save(torch.nn.Linear(2, 2).state_dict(), bare)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"nothing" * 50)
    for path, words in ((module, "torch.nn.modules"), (bare, "not an aifarm training checkpoint"),
                        (junk, "not a loadable torch checkpoint")):  # fmt: skip
        with pytest.raises(SpecError, match=words):
            describe_checkpoint(path, "m")
        with pytest.raises(ModelError):
            load_base_model(path, "m")
