"""The Server Management API (seeds/004) through both doors, following the document's examples.

Sessions run real torch training on the farm's agent; MAX_CONCURRENT_SESSIONS is the
documented default of 1, so every test leaves no session running or queued.
Where Envoy differs: its error body is google.rpc.Status only (`message`, no `detail`).
"""

from __future__ import annotations

import io
import time
import uuid
from typing import Any

import numpy as np
import pytest
import requests
import torch

from conftest import UPLOAD_LIMIT_BYTES, Door
from farm_processes import wait_for

pytestmark = pytest.mark.slow

START = {"model_architecture": "mlp", "dataset_name": "synthetic", "learning_rate": 0.01, "batch_size": 32, "epochs": 2}


def _ok(reply: requests.Response) -> Any:
    assert reply.status_code == 200, reply.text
    return reply.json()


def _error(door: Door, reply: requests.Response, status: int, words: str) -> dict:
    """The documented error: the status and {"detail": "..."}, through both doors (aifarm.options.v1.error_body)."""
    assert reply.status_code == status, reply.text
    body = reply.json()
    assert set(body) == {"detail"}, body
    text = body["detail"]
    assert words.lower() in text.lower(), body
    return body


def _start(door: Door, **overrides: object) -> str:
    body = _ok(door.call("POST", "/api/v1/training/start", json={**START, **overrides}))
    assert body["session_id"].startswith("sess_") and body["status"] in ("running", "queued")
    return body["session_id"]


def _status(door: Door, sid: str) -> dict:
    return _ok(door.call("GET", f"/api/v1/training/{sid}/status"))


def _wait_state(door: Door, sid: str, *states: str, timeout: float = 120) -> dict:
    return wait_for(lambda: (s := _status(door, sid))["state"] in states and s, timeout=timeout, interval=0.3,
                    what=f"session {sid} to be {'/'.join(states)}")  # fmt: skip


def _multipart(door: Door, path: str, data: bytes, filename: str, **params: str) -> requests.Response:
    return door.call("POST", path, params=params, files={"file": (filename, data, "application/octet-stream")})


def test_health_and_root_need_no_key(door: Door) -> None:
    health = door.call("GET", "/health", key=None)
    assert health.status_code == 200
    assert health.json() == {"status": "healthy", "service": "Server Management API", "version": "1.0.0"}
    root = door.call("GET", "/", key=None)
    assert root.status_code == 200 and root.json()["docs"] == "/docs"


def test_every_other_endpoint_needs_a_key(door: Door) -> None:
    for method, path in [("GET", "/api/v1/training/sessions"), ("GET", "/api/v1/models"),
                         ("GET", "/api/v1/system/info"), ("POST", "/api/v1/training/start")]:  # fmt: skip
        _error(door, door.call(method, path, key=None, json={}), 401, "API key")
        _error(door, door.call(method, path, key="wrong", json={}), 401, "API key")
    assert door.call("GET", "/api/v1/models", key=None, headers={"X-API-Key": "test-api-key"}).status_code == 200


def test_a_session_trains_for_real_and_saves_its_model(door: Door) -> None:
    sid = _start(door)
    status = _wait_state(door, sid, "completed", "failed")
    assert status["state"] == "completed", status
    assert status["current_epoch"] == 2 and status["total_epochs"] == 2
    assert status["start_time"].endswith("Z") and status["end_time"].endswith("Z") and status["error_message"] is None
    metrics = _ok(door.call("GET", f"/api/v1/training/{sid}/metrics"))
    assert metrics["session_id"] == sid and metrics["epoch"] == 2
    assert set(metrics) == {"session_id", "epoch", "loss", "accuracy", "val_loss", "val_accuracy", "timestamp"}
    history = _ok(door.call("GET", f"/api/v1/training/{sid}/history"))
    assert isinstance(history, list) and [h["epoch"] for h in history] == [1, 2]
    assert history[0]["loss"] != history[1]["loss"] and history[1] == metrics
    assert all(0.0 <= h["val_accuracy"] <= 1.0 for h in history)
    logs = _ok(door.call("GET", f"/api/v1/training/{sid}/logs", params={"limit": 3}))
    assert len(logs) == 3 and all(set(e) == {"session_id", "timestamp", "level", "message"} for e in logs)
    everything = _ok(door.call("GET", f"/api/v1/training/{sid}/logs"))
    assert any("epoch" in e["message"].lower() for e in everything)
    sessions = _ok(door.call("GET", "/api/v1/training/sessions"))
    mine = next(s for s in sessions if s["session_id"] == sid)
    assert mine["config"]["model_architecture"] == "mlp" and mine["config"]["batch_size"] == 32
    assert mine["status"]["state"] == "completed" and mine["created_at"].endswith("Z")
    # a session is a task of the core API
    task = _ok(door.call("GET", f"/v1/tasks/{sid}"))
    assert task["state"] == "TASK_STATE_COMPLETED" and task["training"]["architecture"] == "mlp"
    # the finished session's weights are in the model registry, as a file torch.load reads
    name = f"mlp_synthetic_{sid}"
    models = _ok(door.call("GET", "/api/v1/models"))
    assert name in [m["name"] for m in models]
    download = door.call("GET", f"/api/v1/models/{name}")
    assert download.status_code == 200
    checkpoint = torch.load(io.BytesIO(download.content), map_location="cpu", weights_only=False)
    assert checkpoint
    # the same model in the core API, naming the task it came from
    core = _ok(door.call("GET", f"/v1/models/{name}"))
    assert core["source_task"] == f"tasks/{sid}" and int(core["size_bytes"]) == len(download.content)
    assert door.call("GET", f"/v1/models/{name}:download").content == download.content


@pytest.mark.parametrize(
    ("field", "bad"),
    [("learning_rate", 5.0), ("learning_rate", 0.00001), ("batch_size", 0), ("batch_size", 257),
     ("epochs", 0), ("epochs", 1001), ("model_architecture", "vgg99")],
)  # fmt: skip
def test_out_of_range_parameters_are_422_and_start_nothing(door: Door, field: str, bad: object) -> None:
    before = len(_ok(door.call("GET", "/api/v1/training/sessions")))
    _error(door, door.call("POST", "/api/v1/training/start", json={**START, field: bad}), 422, field.split("_")[-1])
    assert len(_ok(door.call("GET", "/api/v1/training/sessions"))) == before


def test_unknown_names_are_404(door: Door) -> None:
    _error(door, door.call("GET", "/api/v1/training/sess_invalid/status"), 404, "Session 'sess_invalid' not found")
    _error(door, door.call("POST", "/api/v1/training/sess_invalid/stop"), 404, "not found")
    _error(door, door.call("DELETE", "/api/v1/training/queue/sess_invalid"), 404, "not found")
    _error(door, door.call("POST", "/api/v1/training/start", json={**START, "dataset_name": "cifar10"}), 404, "cifar10")
    _error(door, door.call("GET", "/api/v1/models/nope"), 404, "nope")
    _error(door, door.call("GET", "/api/v1/datasets/nope"), 404, "nope")


def test_stop_a_running_session_and_cancel_a_queued_one(door: Door) -> None:
    # batch 1 for 1000 epochs: runs until stopped
    running = _start(door, batch_size=1, epochs=1000)
    _wait_state(door, running, "running", timeout=60)
    queued = _start(door)
    assert _status(door, queued)["state"] == "queued"
    queue = _ok(door.call("GET", "/api/v1/training/queue"))
    assert [q["session_id"] for q in queue] == [queued]
    assert queue[0]["status"]["current_epoch"] is None and queue[0]["config"]["epochs"] == 2
    _error(door, door.call("DELETE", f"/api/v1/training/queue/{running}"), 400, "not queued")
    reply = _ok(door.call("DELETE", f"/api/v1/training/queue/{queued}"))
    assert reply == {"message": f"Queued session {queued} cancelled successfully"}
    assert _status(door, queued)["state"] == "stopped"
    assert _ok(door.call("GET", "/api/v1/training/queue")) == []
    reply = _ok(door.call("POST", f"/api/v1/training/{running}/stop"))
    assert reply == {"message": f"Training session {running} stopped successfully"}
    assert _wait_state(door, running, "stopped", timeout=60)["end_time"] is not None


def test_upload_a_dataset_read_its_fields_and_train_on_it(door: Door) -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 90)
    x = rng.standard_normal((90, 8)).astype(np.float32) + y[:, None]
    buf = io.BytesIO()
    np.savez(buf, x=x, y=y)
    name = f"ds_{uuid.uuid4().hex[:8]}"
    reply = _ok(_multipart(door, "/api/v1/datasets", buf.getvalue(), "data.npz", dataset_name=name))
    assert reply["message"] == f"Dataset '{name}' uploaded successfully" and reply["name"] == name
    assert reply["size_mb"] == pytest.approx(len(buf.getvalue()) / 2**20, abs=1e-3)
    info = _ok(door.call("GET", f"/api/v1/datasets/{name}"))
    assert info["sample_count"] == 90 and info["dimensions"] == "8" and info["format"] == "npz"
    assert info["created_at"].endswith("Z") and name in info["file_path"]
    listed = _ok(door.call("GET", "/api/v1/datasets"))
    assert {name, "synthetic"} <= {d["name"] for d in listed}
    builtin = next(d for d in listed if d["name"] == "synthetic")
    # a count inside the bare array stays an integer through both doors
    assert builtin["sample_count"] == 256 and isinstance(builtin["sample_count"], int)
    assert builtin["dimensions"] == "3x16x16" and builtin["format"] == "npz"
    _error(door, _multipart(door, "/api/v1/datasets", buf.getvalue(), "data.npz", dataset_name=name), 409, "exists")
    sid = _start(door, dataset_name=name, epochs=1, batch_size=16)
    assert _wait_state(door, sid, "completed", "failed")["state"] == "completed"


def test_upload_download_and_delete_a_model(door: Door) -> None:
    content = uuid.uuid4().bytes * 5000
    name = f"model_{uuid.uuid4().hex[:8]}"
    reply = _ok(_multipart(door, "/api/v1/models", content, "model.pth", model_name=name))
    assert reply["message"] == f"Model '{name}' uploaded successfully" and reply["name"] == name
    assert reply["size_mb"] == pytest.approx(len(content) / 2**20, abs=1e-3)
    assert door.call("GET", f"/api/v1/models/{name}").content == content
    entry = next(m for m in _ok(door.call("GET", "/api/v1/models")) if m["name"] == name)
    assert set(entry) == {"name", "size_mb", "created_at", "file_path"}
    _error(door, _multipart(door, "/api/v1/models", b"other", "m.pth", model_name=name), 409, "already exists")
    assert door.call("GET", f"/api/v1/models/{name}").content == content
    _error(door, _multipart(door, "/api/v1/models", b"x", "m.pth", model_name="..evil"), 400, "invalid model name")
    assert _ok(door.call("DELETE", f"/api/v1/models/{name}")) == {"message": f"Model '{name}' deleted successfully"}
    _error(door, door.call("GET", f"/api/v1/models/{name}"), 404, name)


def test_a_large_model_downloads_unchanged_through_both_apis(door: Door) -> None:
    content = np.random.default_rng(7).bytes(3 * 2**20 + 12345)  # many 256 KiB messages
    name = f"big_{uuid.uuid4().hex[:8]}"
    _ok(_multipart(door, "/api/v1/models", content, "model.pth", model_name=name))
    with door.call("GET", f"/api/v1/models/{name}", stream=True) as reply:
        assert reply.status_code == 200
        assert reply.headers["Content-Type"].startswith("application/octet-stream")
        assert reply.headers["Content-Disposition"] == f'attachment; filename="{name}.pth"'
        assert b"".join(reply.iter_content(64 * 1024)) == content
    assert door.call("GET", f"/v1/models/{name}:download").content == content
    _ok(door.call("DELETE", f"/api/v1/models/{name}"))


def test_a_5mb_multipart_model_streams_in_unchanged_and_over_the_limit_is_413(door: Door) -> None:
    content = np.random.default_rng(8).bytes(5 * 2**20 + 777)  # many messages of the upload stream
    name = f"up_{uuid.uuid4().hex[:8]}"
    reply = _ok(_multipart(door, "/api/v1/models", content, "model.pth", model_name=name))
    assert reply["size_mb"] == pytest.approx(len(content) / 2**20, abs=1e-3)
    assert door.call("GET", f"/api/v1/models/{name}").content == content
    _ok(door.call("DELETE", f"/api/v1/models/{name}"))

    over = np.random.default_rng(9).bytes(UPLOAD_LIMIT_BYTES + 2**20)
    _error(door, _multipart(door, "/api/v1/models", over, "model.pth", model_name=name), 413, "limit")
    _error(door, door.call("GET", f"/api/v1/models/{name}"), 404, name)
    _error(door, _multipart(door, "/api/v1/datasets", over, "data.csv", dataset_name=name), 413, "limit")
    _error(door, door.call("GET", f"/api/v1/datasets/{name}"), 404, name)


def test_system_info_is_measured(door: Door) -> None:
    info = _ok(door.call("GET", "/api/v1/system/info"))
    assert 0 <= info["cpu_usage_percent"] <= 100 and info["memory_total_mb"] > info["memory_used_mb"] > 0
    assert isinstance(info["memory_total_mb"], int) and info["disk_total_gb"] >= info["disk_free_gb"] > 0
    if not info["gpu_available"]:
        assert info["gpu_usage_percent"] is None and info["gpu_memory_total_mb"] is None
    assert time.time() - _parse(info["timestamp"]) < 60


def _parse(stamp: str) -> float:
    import datetime

    return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def test_a_malformed_body_is_refused_and_starts_nothing(door: Door) -> None:
    before = len(_ok(door.call("GET", "/api/v1/training/sessions")))
    reply = door.call("POST", "/api/v1/training/start", data=b"{not json", headers={"Content-Type": "application/json"})
    # FastAPI's 422 for a body it cannot parse; Envoy's own reply passes the method's Lua too
    assert reply.status_code == 422, reply.text
    assert len(_ok(door.call("GET", "/api/v1/training/sessions"))) == before
