"""The Server Management API (seeds/004) as its document's examples and its clients use it,
through both doors: metrics before the first epoch are `null`, every architecture the
document names trains, a registry model trains further, and datasets upload as the
document's `dataset.tar.gz` of images does.

Real controller, agent and doors (tests/doors/conftest.py); sessions train for real with torch
on the agent. MAX_CONCURRENT_SESSIONS is 1, so every test leaves no session running or queued.
"""

from __future__ import annotations

import io
import tarfile
import uuid
import zipfile
from typing import Any, Iterator

import numpy as np
import pytest
import requests
import torch
from PIL import Image

from conftest import Door, Farm, running_farm
from farm_processes import wait_for

pytestmark = pytest.mark.slow

START = {"model_architecture": "mlp", "dataset_name": "synthetic", "learning_rate": 0.01, "batch_size": 32, "epochs": 1}


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    """The doors' farm with the default upload limit: a VGG-16 or ResNet-50 checkpoint (weights and
    Adam's state) is 180-280 MB, over the 8 MiB the other door suites use to test the limit."""
    yield from running_farm(tmp_path_factory.mktemp("farm"), [])


def _ok(reply: requests.Response) -> Any:
    assert reply.status_code == 200, reply.text
    return reply.json()


def _start(door: Door, **overrides: object) -> str:
    body = _ok(door.call("POST", "/api/v1/training/start", json={**START, **overrides}))
    return body["session_id"]


def _ended(door: Door, sid: str, timeout: float = 240) -> dict:
    return wait_for(lambda: (s := _ok(door.call("GET", f"/api/v1/training/{sid}/status")))["state"]
                    in ("completed", "failed", "stopped") and s, timeout=timeout, interval=0.3,
                    what=f"session {sid} to end")  # fmt: skip


def _model(door: Door, name: str) -> bytes:
    """A model's file, once the controller has saved it (a completed session's model follows it shortly)."""
    reply = wait_for(lambda: (r := door.call("GET", f"/api/v1/models/{name}")).status_code == 200 and r,
                     timeout=30, interval=0.2, what=f"model {name}")  # fmt: skip
    return reply.content


def _checkpoint(door: Door, name: str) -> dict:
    return torch.load(io.BytesIO(_model(door, name)), map_location="cpu", weights_only=True)


def _upload_dataset(door: Door, name: str, data: bytes, filename: str) -> requests.Response:
    return door.call("POST", "/api/v1/datasets", params={"dataset_name": name},
                     files={"file": (filename, data, "application/octet-stream")})  # fmt: skip


def _image(pixels: np.ndarray, fmt: str) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, fmt)
    return out.getvalue()


def _class_images(classes: int, per_class: int, side: int, *, grey: bool = False, seed: int = 0) -> list[tuple[str, np.ndarray]]:
    """(class folder, pixels) pairs a model tells apart: each class its own colour, plus noise."""
    rng = np.random.default_rng(seed)
    shape = (side, side) if grey else (side, side, 3)
    out = []
    for c in range(classes):
        colour = rng.integers(40, 216, size=() if grey else (3,))
        for _ in range(per_class):
            noisy = np.clip(colour + rng.normal(0, 20, shape), 0, 255).astype(np.uint8)
            out.append((f"class_{c}", noisy))
    return out


def _tar_gz(members: list[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _zip(members: list[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in members:
            archive.writestr(name, data)
    return out.getvalue()


def _pngs(images: list[tuple[str, np.ndarray]], root: str = "") -> list[tuple[str, bytes]]:
    return [(f"{root}{folder}/{i:03}.png", _image(px, "PNG")) for i, (folder, px) in enumerate(images)]


def test_metrics_before_the_first_epoch_are_null(door: Door) -> None:
    # One session holds the only slot, so the second stays queued: before its first epoch for sure.
    running = _start(door, batch_size=1, epochs=1000)
    queued = _start(door)
    try:
        assert _ok(door.call("GET", f"/api/v1/training/{queued}/status"))["state"] == "queued"
        reply = door.call("GET", f"/api/v1/training/{queued}/metrics")
        assert reply.status_code == 200 and reply.headers["Content-Type"].startswith("application/json")
        assert reply.text.strip() == "null" and reply.json() is None
        assert _ok(door.call("GET", f"/api/v1/training/{queued}/history")) == []
        # once an epoch is done, the same call answers its metrics object
        wait_for(lambda: _ok(door.call("GET", f"/api/v1/training/{running}/metrics")) is not None, timeout=120,
                 interval=0.3, what="the running session's first epoch")  # fmt: skip
        metrics = _ok(door.call("GET", f"/api/v1/training/{running}/metrics"))
        assert metrics["session_id"] == running and metrics["epoch"] >= 1 and isinstance(metrics["epoch"], int)
    finally:
        door.call("DELETE", f"/api/v1/training/queue/{queued}")
        door.call("POST", f"/api/v1/training/{running}/stop")
    assert _ended(door, running)["state"] == "stopped"


@pytest.mark.parametrize("architecture", ["vgg16", "resnet50"])
def test_the_documents_architectures_train_an_epoch_on_the_builtin_dataset(door: Door, architecture: str) -> None:
    if door.name != "gateway":
        pytest.skip("the training is the agent's, the same behind either door; the other tests cover Envoy")
    sid = _start(door, model_architecture=architecture, learning_rate=0.001)
    status = _ended(door, sid, timeout=300)
    assert status["state"] == "completed", status
    assert status["current_epoch"] == 1
    [epoch] = _ok(door.call("GET", f"/api/v1/training/{sid}/history"))
    assert epoch["loss"] > 0 and 0 <= epoch["val_accuracy"] <= 1
    checkpoint = _checkpoint(door, f"{architecture}_synthetic_{sid}")
    assert checkpoint["architecture"] == architecture and checkpoint["input_shape"] == [3, 16, 16]
    # VGG-16's thirteen convolutions and three linear layers; ResNet-50's 53 convolutions (shortcuts included) and one
    weights = checkpoint["model_state_dict"]
    convs = [k for k, v in weights.items() if k.endswith("weight") and v.dim() == 4]
    linears = [k for k, v in weights.items() if k.endswith("weight") and v.dim() == 2]
    assert (len(convs), len(linears)) == ({"vgg16": (13, 3), "resnet50": (53, 1)}[architecture])


def test_a_registry_model_trains_further_into_a_new_model(door: Door) -> None:
    first = _start(door, model_architecture="cnn", learning_rate=0.003, epochs=2)
    assert _ended(door, first)["state"] == "completed"
    base = f"cnn_synthetic_{first}"
    base_bytes = _model(door, base)
    before = _ok(door.call("GET", f"/api/v1/training/{first}/history"))

    second = _start(door, model_architecture=base, learning_rate=0.003)
    status = _ended(door, second)
    assert status["state"] == "completed", status
    session = next(s for s in _ok(door.call("GET", "/api/v1/training/sessions")) if s["session_id"] == second)
    assert session["config"]["model_architecture"] == base
    [after] = _ok(door.call("GET", f"/api/v1/training/{second}/history"))
    # it started from the trained weights: its first epoch beats the base's first epoch from scratch
    assert after["loss"] < before[0]["loss"], (before, after)
    result = f"{base}_synthetic_{second}"
    checkpoint = _checkpoint(door, result)
    assert checkpoint["architecture"] == "cnn" and checkpoint["continued_from"] == base
    # the base model is unchanged, a new model holds the result
    assert door.call("GET", f"/api/v1/models/{base}").content == base_bytes
    logs = _ok(door.call("GET", f"/api/v1/training/{second}/logs"))
    assert any(f"from model '{base}'" in e["message"] for e in logs)


def test_a_registry_model_that_is_no_torch_checkpoint_is_422_and_starts_nothing(door: Door) -> None:
    name = f"junk_{uuid.uuid4().hex[:8]}"
    door.call("POST", "/api/v1/models", params={"model_name": name}, files={"file": ("m.pth", b"not torch" * 100)})
    weights_only = f"bare_{uuid.uuid4().hex[:8]}"
    buf = io.BytesIO()
    torch.save({"fc.weight": torch.zeros(2, 2)}, buf)  # a state dict alone: no architecture to build it in
    door.call("POST", "/api/v1/models", params={"model_name": weights_only}, files={"file": ("m.pth", buf.getvalue())})
    before = len(_ok(door.call("GET", "/api/v1/training/sessions")))
    for model, words in ((name, "not a loadable torch checkpoint"), (weights_only, "not an aifarm training checkpoint")):
        reply = door.call("POST", "/api/v1/training/start", json={**START, "model_architecture": model})
        assert reply.status_code == 422, reply.text
        assert words in reply.text and model in reply.text
    assert len(_ok(door.call("GET", "/api/v1/training/sessions"))) == before


def test_a_tar_gz_of_pngs_uploads_as_the_document_shows_and_trains(door: Door) -> None:
    images = _class_images(3, 20, 32)
    data = _tar_gz(_pngs(images, root="cifar_like/") + [("cifar_like/README.txt", b"three classes")])
    name = f"imgs_{uuid.uuid4().hex[:8]}"
    reply = _ok(_upload_dataset(door, name, data, "dataset.tar.gz"))
    assert reply == {"message": f"Dataset '{name}' uploaded successfully", "name": name,
                     "size_mb": pytest.approx(len(data) / 2**20, abs=1e-3)}  # fmt: skip
    info = _ok(door.call("GET", f"/api/v1/datasets/{name}"))
    assert (info["format"], info["sample_count"], info["dimensions"]) == ("images", 60, "32x32x3")
    sid = _start(door, model_architecture="cnn", dataset_name=name, batch_size=16, learning_rate=0.003, epochs=2)
    status = _ended(door, sid)
    assert status["state"] == "completed", status
    history = _ok(door.call("GET", f"/api/v1/training/{sid}/history"))
    assert len(history) == 2
    checkpoint = _checkpoint(door, f"cnn_{name}_{sid}")
    assert checkpoint["input_shape"] == [3, 32, 32] and checkpoint["num_classes"] == 3


def test_a_zip_of_grey_jpegs_is_an_image_dataset_too(door: Door) -> None:
    images = _class_images(2, 6, 16, grey=True)
    data = _zip([(f"{folder}/{i}.jpg", _image(px, "JPEG")) for i, (folder, px) in enumerate(images)])
    name = f"zip_{uuid.uuid4().hex[:8]}"
    _ok(_upload_dataset(door, name, data, "faces.zip"))
    info = _ok(door.call("GET", f"/api/v1/datasets/{name}"))
    assert (info["format"], info["sample_count"], info["dimensions"]) == ("images", 12, "16x16x1")


def _bad_uploads() -> list[tuple[str, str, bytes, str]]:
    rgb = _class_images(2, 2, 8)
    corrupt = _image(rgb[0][1], "PNG")[:40]
    mixed = _pngs(rgb) + [("class_0/big.png", _image(np.zeros((9, 8, 3), np.uint8), "PNG"))]
    return [
        ("not an archive", "dataset.tar.gz", b"this is no archive at all" * 10, "not a .tar.gz"),
        ("empty file", "dataset.tgz", b"", "not a .tar.gz"),
        ("no images", "dataset.tar.gz", _tar_gz([("cats/notes.txt", b"hello")]), "no PNG or JPEG images"),
        ("one class", "dataset.zip", _zip(_pngs(rgb[:2])), "at least 2 class folders"),
        ("mixed sizes", "dataset.tar.gz", _tar_gz(mixed), "same size"),
        ("corrupt image", "dataset.tar.gz", _tar_gz(_pngs(rgb) + [("class_1/bad.png", corrupt)]), "bad.png"),
        ("a file in no folder", "dataset.zip", _zip(_pngs(rgb) + [("loose.png", _image(rgb[0][1], "PNG"))]),
         "in no folder"),
        ("a path escaping the archive", "dataset.tar.gz",
         _tar_gz(_pngs(rgb) + [("../../etc/x.png", _image(rgb[0][1], "PNG"))]), "outside the archive"),
        ("a truncated tar.gz", "dataset.tar.gz", _tar_gz(_pngs(rgb))[:-30], "not a readable tar archive"),
    ]  # fmt: skip


@pytest.mark.parametrize(("case", "filename", "data", "words"), _bad_uploads(), ids=[c[0] for c in _bad_uploads()])
def test_an_unreadable_image_upload_is_400_and_keeps_nothing(door: Door, case: str, filename: str, data: bytes,
                                                             words: str) -> None:  # fmt: skip
    name = f"bad_{uuid.uuid4().hex[:8]}"
    reply = _upload_dataset(door, name, data, filename)
    assert reply.status_code == 400, reply.text
    assert words in reply.text and name in reply.text, reply.text
    assert door.call("GET", f"/api/v1/datasets/{name}").status_code == 404
    assert name not in {d["name"] for d in _ok(door.call("GET", "/api/v1/datasets"))}
    # the name is free: a good upload of it is accepted
    good = _tar_gz(_pngs(_class_images(2, 2, 8)))
    assert _ok(_upload_dataset(door, name, good, "dataset.tar.gz"))["name"] == name
