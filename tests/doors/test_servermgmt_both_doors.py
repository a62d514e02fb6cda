"""The Server Management API (seeds/004): every documented endpoint and every documented error,
through the Python gateway and Envoy in front of one farm, with the same status and JSON from both.

Each request goes to both doors. A read of one resource must be identical from both; a call that
makes something (a session, an upload) is made once per door, and the two answers are compared
with each door's own ids replaced by a placeholder and timestamps compared by type. Errors are
exactly `{"detail": "<non-empty string>"}`, the document's format, and the same from both doors.
Sessions train an mlp for 1-2 epochs on the built-in dataset (about 0.02 s an epoch).
"""

from __future__ import annotations

import io
import struct
import tarfile
import uuid
import zlib
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np
import pytest

from both_doors import (
    NUMBER,
    OPTIONAL_NUMBER,
    OPTIONAL_STR,
    PARSER_WORDS,
    Answer,
    Doors,
    EnvoyDifference,
    Normaliser,
    assert_difference,
    assert_error,
    assert_ok,
    assert_same,
    assert_shape,
    label,
)
from conftest import MAX_BODY_BYTES, UPLOAD_LIMIT_BYTES, Door
from farm_processes import wait_for

pytestmark = pytest.mark.slow

START = {"model_architecture": "mlp", "dataset_name": "synthetic", "learning_rate": 0.01, "batch_size": 32, "epochs": 2}
# batch 1 for 1000 epochs: runs until it is stopped
LONG = {**START, "batch_size": 1, "epochs": 1000}
ENDED = ("completed", "failed", "stopped")
STAMPS = frozenset({"start_time", "end_time", "created_at", "timestamp"})

# The document's shapes (keys and types).
HEALTH = {"status": "healthy", "service": "Server Management API", "version": "1.0.0"}
STARTED = {"session_id": str, "status": str, "message": str}
MESSAGE = {"message": str}
STATUS = {"session_id": str, "state": str, "current_epoch": OPTIONAL_NUMBER, "total_epochs": int,
          "start_time": OPTIONAL_STR, "end_time": OPTIONAL_STR, "error_message": OPTIONAL_STR}  # fmt: skip
METRICS = {"session_id": str, "epoch": int, "loss": NUMBER, "accuracy": NUMBER, "val_loss": NUMBER,
           "val_accuracy": NUMBER, "timestamp": str}  # fmt: skip
LOG = {"session_id": str, "timestamp": str, "level": str, "message": str}
CONFIG = {"model_architecture": str, "dataset_name": str, "learning_rate": NUMBER, "batch_size": int, "epochs": int}
SESSION = {"session_id": str, "config": CONFIG,
           "status": {"session_id": str, "state": str, "current_epoch": OPTIONAL_NUMBER, "total_epochs": int},
           "created_at": str}  # fmt: skip
SYSTEM_INFO = {"cpu_usage_percent": NUMBER, "memory_used_mb": NUMBER, "memory_total_mb": NUMBER,
               "memory_percent": NUMBER, "disk_free_gb": NUMBER, "disk_total_gb": NUMBER, "gpu_available": bool,
               "gpu_usage_percent": OPTIONAL_NUMBER, "gpu_memory_used_mb": OPTIONAL_NUMBER,
               "gpu_memory_total_mb": OPTIONAL_NUMBER, "timestamp": str}  # fmt: skip
MODEL = {"name": str, "size_mb": NUMBER, "created_at": str, "file_path": str}
DATASET = {"name": str, "size_mb": NUMBER, "sample_count": int, "format": str, "dimensions": str,
           "created_at": str, "file_path": str}  # fmt: skip
UPLOADED = {"message": str, "name": str, "size_mb": NUMBER}

#: What Envoy cannot do like the gateway; each is asserted, so the list cannot grow unnoticed.
#: Besides these, only the words of a door's own parser error differ (PARSER_WORDS, marked in ERRORS).
ENVOY_DIFFERENCES = [
    EnvoyDifference("GET", "/docs", 200, 404, "Envoy serves only the transcoded API: the pages are the gateway's"),
    EnvoyDifference("GET", "/redoc", 200, 404, "as /docs"),
    EnvoyDifference("GET", "/openapi.json", 200, 404, "the description the pages read; Envoy has no handler for it"),
]


@dataclass(frozen=True)
class World:
    """What the read cases read: a completed session, its saved model, an uploaded dataset."""

    sid: str
    model: str
    dataset: str

    def fill(self, path: str) -> str:
        return path.format(sid=self.sid, model=self.model, dataset=self.dataset)


@pytest.fixture(scope="module")
def doors(both_doors: Doors) -> Doors:
    return both_doors


@pytest.fixture(scope="module")
def world(doors: Doors) -> World:
    sid = _start(doors.gateway, START)
    assert _wait(doors.gateway, sid, *ENDED)["state"] == "completed"
    dataset = f"ds_{uuid.uuid4().hex[:8]}"
    assert _upload(doors.gateway, "/api/v1/datasets", _npz(), "data.npz", dataset_name=dataset).status_code == 200
    return World(sid, f"mlp_synthetic_{sid}", dataset)


def _start(door: Door, body: dict) -> str:
    reply = door.call("POST", "/api/v1/training/start", json=body)
    assert reply.status_code == 200, reply.text
    return reply.json()["session_id"]


def _status(door: Door, sid: str) -> dict:
    reply = door.call("GET", f"/api/v1/training/{sid}/status")
    assert reply.status_code == 200, reply.text
    return reply.json()


def _wait(door: Door, sid: str, *states: str, timeout: float = 90) -> dict:
    return wait_for(lambda: (s := _status(door, sid))["state"] in states and s, timeout=timeout, interval=0.1,
                    what=f"session {sid} to be {'/'.join(states)}")  # fmt: skip


def _upload(door: Door, path: str, data: bytes, filename: str, **params: str) -> Any:
    return door.call("POST", path, params=params, files={"file": (filename, data, "application/octet-stream")})


def _npz() -> bytes:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 60)
    buf = io.BytesIO()
    np.savez(buf, x=rng.standard_normal((60, 8)).astype(np.float32) + y[:, None], y=y)
    return buf.getvalue()


def _png(rgb: bytes, size: int) -> bytes:
    """A size x size RGB PNG, written by hand (no imaging library on these machines)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\0" + rgb[y * size * 3 : (y + 1) * size * 3] for y in range(size))
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def _images_tar_gz() -> bytes:
    """The document's `dataset.tar.gz`: one folder per class of 32x32 PNGs, 2 classes x 4 images."""
    rng, buf = np.random.default_rng(2), io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for cls in ("cats", "dogs"):
            for i in range(4):
                data = _png(rng.integers(0, 256, 32 * 32 * 3, dtype=np.uint8).tobytes(), 32)
                info = tarfile.TarInfo(f"dataset/{cls}/{i}.png")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _ids(**pairs: tuple[str, str]) -> dict[str, str]:
    return {real: f"<{name}>" for name, reals in pairs.items() for real in reals}


# --- every documented read, of the same resource through both doors -------------------------

OPEN, API = None, "api key"
READS = [
    ("GET", "/health", {}, HEALTH, OPEN),
    ("GET", "/", {}, {}, OPEN),
    ("GET", "/api/v1/training/{sid}/status", {}, STATUS, API),
    ("GET", "/api/v1/training/{sid}/metrics", {}, METRICS, API),
    ("GET", "/api/v1/training/{sid}/history", {}, [METRICS], API),
    ("GET", "/api/v1/training/{sid}/logs", {"limit": 3}, [LOG], API),
    ("GET", "/api/v1/training/{sid}/logs", {}, [LOG], API),
    ("GET", "/api/v1/training/sessions", {}, [SESSION], API),
    ("GET", "/api/v1/training/queue", {}, [SESSION], API),
    ("GET", "/api/v1/system/info", {}, SYSTEM_INFO, API),
    ("GET", "/api/v1/models", {}, [MODEL], API),
    ("GET", "/api/v1/datasets", {}, [DATASET], API),
    ("GET", "/api/v1/datasets/{dataset}", {}, DATASET, API),
    ("GET", "/api/v1/datasets/synthetic", {}, DATASET, API),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "params", "shape", "auth"), READS,
                         ids=[label(m, p, str(q or "")) for m, p, q, _, _ in READS])  # fmt: skip
def test_a_documented_read_is_the_same_through_both_doors(doors: Doors, world: World, method: str, path: str,
                                                         params: dict, shape: Any, auth: str | None) -> None:  # fmt: skip
    key = {} if auth else {"key": None}
    volatile = frozenset(SYSTEM_INFO) if path.endswith("/system/info") else frozenset()
    answers = doors.ask(method, world.fill(path), params=params, **key)
    assert_ok(answers)
    assert_same(answers, Normaliser(volatile))
    body = answers[0].body
    if shape == HEALTH:
        assert body == HEALTH
    else:
        assert_shape(body, shape)
    if path.endswith("/logs") and params:
        assert len(body) == params["limit"]
    if path.endswith("/history"):
        assert [h["epoch"] for h in body] == [1, 2]
    if path == "/api/v1/training/sessions":
        assert world.sid in [s["session_id"] for s in body]


def test_the_api_key_is_read_from_either_header(doors: Doors) -> None:
    assert_ok(doors.ask("GET", "/api/v1/models", key=None, headers={"X-API-Key": "test-api-key"}))
    assert_ok(doors.ask("GET", "/api/v1/models", key=None, headers={"Authorization": "Bearer test-api-key"}))


def test_a_model_downloads_as_the_same_bytes_through_both_doors(doors: Doors, world: World) -> None:
    gateway, envoy = doors.ask("GET", f"/api/v1/models/{world.model}")
    assert gateway.status == envoy.status == 200, (gateway.describe(), envoy.describe())
    assert gateway.content == envoy.content and len(gateway.content) > 0
    assert gateway.content_type == envoy.content_type and gateway.content_type.startswith("application/octet-stream")
    assert gateway.headers["Content-Disposition"] == envoy.headers["Content-Disposition"]


# --- every documented call that makes something, once per door ------------------------------


def test_start_answers_the_same_through_both_doors_and_trains(doors: Doors) -> None:
    answers, sids = [], []
    for door in doors:  # one after the other: each starts at once (MAX_CONCURRENT_SESSIONS 1)
        reply = Answer.of(door.name, door.call("POST", "/api/v1/training/start", json=START))
        answers.append(reply)
        sids.append(reply.body["session_id"] if reply.status == 200 else "")
        if reply.status == 200:
            _wait(door, sids[-1], *ENDED)
    assert_ok(answers)
    ids = _ids(session=sids)
    body = assert_same(tuple(answers), Normaliser(ids=ids))
    assert_shape(body, STARTED, exact=True)
    assert body["status"] == "running" and all(sid.startswith("sess_") for sid in sids)
    assert body["message"] == "Training session created and started"
    # each door's session, read through its own door, ended the same way
    statuses = tuple(Answer.of(d.name, d.call("GET", f"/api/v1/training/{sid}/status")) for d, sid in zip(doors, sids))
    status = assert_same(statuses, Normaliser(STAMPS, ids))
    assert status["state"] == "completed" and status["current_epoch"] == status["total_epochs"] == 2


def test_unknown_fields_in_a_body_are_ignored_by_both_doors(doors: Doors) -> None:
    """Issue 11 (engineer A): as Envoy's transcoder and grpc-gateway do."""
    answers = []
    for door in doors:
        reply = Answer.of(door.name, door.call("POST", "/api/v1/training/start", json={**START, "epochs": 1, "extra": 1}))
        answers.append(reply)
        if reply.status == 200:
            _wait(door, reply.body["session_id"], *ENDED)
    assert_ok(answers)


def test_stop_queue_and_cancel_answer_the_same_through_both_doors(doors: Doors) -> None:
    stops, cancels, queued_starts, queued, running_ids, not_queued = [], [], [], [], [], []
    for door in doors:
        running = _start(door, LONG)
        running_ids.append(running)
        _wait(door, running, "running", timeout=60)
        queued_starts.append(Answer.of(door.name, door.call("POST", "/api/v1/training/start", json=START)))
        queued.append(queued_starts[-1].body["session_id"])
        # the queue, with one session waiting, is the same through both doors
        queue = assert_same(doors.ask("GET", "/api/v1/training/queue"))
        assert_shape(queue, [SESSION])
        assert [q["session_id"] for q in queue] == [queued[-1]] and queue[0]["status"]["state"] == "queued"
        assert queue[0]["status"]["current_epoch"] is None
        not_queued.append(doors.ask("DELETE", f"/api/v1/training/queue/{running}"))
        cancels.append(Answer.of(door.name, door.call("DELETE", f"/api/v1/training/queue/{queued[-1]}")))
        stops.append(Answer.of(door.name, door.call("POST", f"/api/v1/training/{running}/stop")))
        assert _wait(door, running, *ENDED, timeout=60)["state"] == "stopped"
        assert _status(door, queued[-1])["state"] == "stopped"
    ids = _ids(session=running_ids + queued)
    started = assert_same(tuple(queued_starts), Normaliser(ids=ids))
    assert started["status"] == "queued" and started["message"] == "Training session created and queued"
    cancelled = assert_same(tuple(cancels), Normaliser(ids=ids))
    assert cancelled == {"message": "Queued session <session> cancelled successfully"}
    stopped = assert_same(tuple(stops), Normaliser(ids=ids))
    assert stopped == {"message": "Training session <session> stopped successfully"}
    for answers in not_queued:  # a running session is not queued: 400 through both
        assert "not queued" in assert_error(answers, 400)[0]
        assert_same(answers)


def test_metrics_before_the_first_epoch_are_200_with_null(doors: Doors) -> None:
    """ORIGINAL-CLIENTS (004): 200 with null, not 404 (issue 11, engineer D)."""
    running = _start(doors.gateway, LONG)
    try:
        queued = _start(doors.gateway, START)
        answers = doors.ask("GET", f"/api/v1/training/{queued}/metrics")
        assert_ok(answers)
        body = assert_same(answers)
        metrics = {k: v for k, v in (body or {}).items() if k not in ("session_id", "timestamp")}
        assert body is None or all(v is None for v in metrics.values()), body
        doors.gateway.call("DELETE", f"/api/v1/training/queue/{queued}")
    finally:
        doors.gateway.call("POST", f"/api/v1/training/{running}/stop")
        _wait(doors.gateway, running, *ENDED, timeout=60)


def test_a_model_uploads_downloads_and_deletes_the_same_through_both_doors(doors: Doors) -> None:
    names = [f"model_{door.name}_{uuid.uuid4().hex[:6]}" for door in doors]
    content = uuid.uuid4().bytes * 4000
    uploads = tuple(Answer.of(d.name, _upload(d, "/api/v1/models", content, "model.pth", model_name=n))
                    for d, n in zip(doors, names))  # fmt: skip
    ids = _ids(name=names)
    body = assert_same(uploads, Normaliser(ids=ids))
    assert_shape(body, UPLOADED, exact=True)
    assert body["message"] == "Model '<name>' uploaded successfully" and body["name"] == "<name>"
    for name in names:  # each door reads both uploads
        gateway, envoy = doors.ask("GET", f"/api/v1/models/{name}")
        assert gateway.status == envoy.status == 200 and gateway.content == envoy.content == content
    listed = assert_same(doors.ask("GET", "/api/v1/models"))
    assert set(names) <= {m["name"] for m in listed}
    deletes = tuple(Answer.of(d.name, d.call("DELETE", f"/api/v1/models/{n}")) for d, n in zip(doors, names))
    assert assert_same(deletes, Normaliser(ids=ids)) == {"message": "Model '<name>' deleted successfully"}
    for name in names:
        gone = doors.ask("GET", f"/api/v1/models/{name}")
        assert_error(gone, 404)
        assert_same(gone)


@pytest.mark.parametrize(
    ("filename", "content", "fmt", "samples", "dimensions"),
    [("data.npz", _npz(), "npz", 60, "8"), ("dataset.tar.gz", _images_tar_gz(), "images", 8, "32x32x3")],
    ids=["npz", "images-tar-gz"],
)
def test_a_dataset_uploads_and_reads_the_same_through_both_doors(doors: Doors, filename: str, content: bytes,
                                                                 fmt: str, samples: int, dimensions: str) -> None:  # fmt: skip
    """The .tar.gz of images is the document's own example (issue 11, engineer D)."""
    names = [f"ds_{door.name}_{uuid.uuid4().hex[:6]}" for door in doors]
    uploads = tuple(Answer.of(d.name, _upload(d, "/api/v1/datasets", content, filename, dataset_name=n))
                    for d, n in zip(doors, names))  # fmt: skip
    ids = _ids(name=names)
    body = assert_same(uploads, Normaliser(ids=ids))
    assert_ok(uploads)
    assert_shape(body, UPLOADED, exact=True)
    assert body["message"] == "Dataset '<name>' uploaded successfully"
    infos = tuple(Answer.of(d.name, d.call("GET", f"/api/v1/datasets/{n}")) for d, n in zip(doors, names))
    info = assert_same(infos, Normaliser(STAMPS, ids))
    assert_shape(info, DATASET, exact=True)
    assert (info["format"], info["sample_count"], info["dimensions"]) == (fmt, samples, dimensions)


# --- every documented error, the same request through both doors ----------------------------

PROTECTED = [
    ("POST", "/api/v1/training/start"), ("POST", "/api/v1/training/sess_x/stop"),
    ("GET", "/api/v1/training/sess_x/status"), ("GET", "/api/v1/training/sess_x/metrics"),
    ("GET", "/api/v1/training/sess_x/history"), ("GET", "/api/v1/training/sess_x/logs"),
    ("GET", "/api/v1/training/sessions"), ("GET", "/api/v1/training/queue"),
    ("DELETE", "/api/v1/training/queue/sess_x"), ("GET", "/api/v1/system/info"),
    ("GET", "/api/v1/models"), ("GET", "/api/v1/models/m"), ("POST", "/api/v1/models"),
    ("DELETE", "/api/v1/models/m"), ("GET", "/api/v1/datasets"), ("GET", "/api/v1/datasets/d"),
    ("POST", "/api/v1/datasets"),
]  # fmt: skip
AUTH_CASES = [(m, p, k) for m, p in PROTECTED for k in (None, "wrong-key")]


@pytest.mark.parametrize(("method", "path", "key"), AUTH_CASES,
                         ids=[label(m, p, "no key" if k is None else "wrong key") for m, p, k in AUTH_CASES])  # fmt: skip
def test_401_without_or_with_a_wrong_key(doors: Doors, method: str, path: str, key: str | None) -> None:
    answers = doors.ask(method, path, key=key, json=START if method == "POST" else None)
    assert_error(answers, 401)
    assert_same(answers)


def test_401_comes_before_the_body_is_read(doors: Doors) -> None:
    """A malformed body without a key is refused for the key (issue 11, engineer A)."""
    answers = doors.ask("POST", "/api/v1/training/start", key=None, data=b"{not json",
                        headers={"Content-Type": "application/json"})  # fmt: skip
    assert_error(answers, 401)
    assert_same(answers)


# (method, path, JSON body or None, status, words the detail must hold; None: the door's parser
# speaks, in words of its own: PARSER_WORDS)
ERRORS = [
    ("GET", "/api/v1/training/sess_invalid/status", None, 404, "Session 'sess_invalid' not found"),
    ("GET", "/api/v1/training/sess_invalid/metrics", None, 404, "sess_invalid"),
    ("GET", "/api/v1/training/sess_invalid/history", None, 404, "sess_invalid"),
    ("GET", "/api/v1/training/sess_invalid/logs", None, 404, "sess_invalid"),
    ("POST", "/api/v1/training/sess_invalid/stop", None, 404, "sess_invalid"),
    ("DELETE", "/api/v1/training/queue/sess_invalid", None, 404, "sess_invalid"),
    ("DELETE", "/api/v1/training/queue/{sid}", None, 400, "not queued"),
    ("GET", "/api/v1/models/nope", None, 404, "nope"),
    ("DELETE", "/api/v1/models/nope", None, 404, "nope"),
    ("GET", "/api/v1/datasets/nope", None, 404, "nope"),
    ("POST", "/api/v1/training/start", {**START, "dataset_name": "cifar10"}, 404, "cifar10"),
    ("POST", "/api/v1/training/start", {**START, "learning_rate": 5.0}, 422, "learning_rate"),
    ("POST", "/api/v1/training/start", {**START, "learning_rate": 0.00001}, 422, "learning_rate"),
    ("POST", "/api/v1/training/start", {**START, "batch_size": 0}, 422, "batch"),
    ("POST", "/api/v1/training/start", {**START, "batch_size": 257}, 422, "batch"),
    ("POST", "/api/v1/training/start", {**START, "epochs": 0}, 422, "epochs"),
    ("POST", "/api/v1/training/start", {**START, "epochs": 1001}, 422, "epochs"),
    ("POST", "/api/v1/training/start", {**START, "optimizer": "lbfgs"}, 422, "optimizer"),
    ("POST", "/api/v1/training/start", {**START, "loss_function": "hinge"}, 422, "loss_function"),
    ("POST", "/api/v1/training/start", {**START, "model_architecture": "vgg99"}, 422, "vgg99"),
    ("POST", "/api/v1/training/start", {**START, "epochs": "ten"}, 422, None),
    ("POST", "/api/v1/training/start", {k: v for k, v in START.items() if k != "model_architecture"}, 422,
     "model_architecture"),
    ("POST", "/api/v1/training/start", {k: v for k, v in START.items() if k != "dataset_name"}, 422, "dataset_name"),
    ("POST", "/api/v1/training/start", {k: v for k, v in START.items() if k != "learning_rate"}, 422, "learning_rate"),
    ("POST", "/api/v1/training/start", {k: v for k, v in START.items() if k != "batch_size"}, 422, "batch_size"),
    ("POST", "/api/v1/training/start", {k: v for k, v in START.items() if k != "epochs"}, 422, "epochs"),
    ("POST", "/api/v1/training/start", b"{not json", 422, None),
    ("POST", "/api/v1/training/start", {**START, "model_architecture": "#" * (MAX_BODY_BYTES + 1024)}, 413, ""),
    ("GET", "/api/v1/nope", None, 404, ""),
    ("POST", "/api/v1/nope", {}, 404, ""),
    ("GET", "/api/v1/training/sess_invalid/nope", None, 404, ""),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "body", "status", "words"), ERRORS,
                         ids=[label(m, p, f"{s} {w if w is not None else 'parser'} {b if isinstance(b, bytes) else ''!s:.30}")
                              for m, p, b, s, w in ERRORS])  # fmt: skip
def test_a_documented_error_is_the_same_through_both_doors(doors: Doors, world: World, method: str, path: str,
                                                          body: Any, status: int, words: str) -> None:  # fmt: skip
    before = assert_same(doors.ask("GET", "/api/v1/training/sessions"))
    kw: dict[str, Any] = {"data": body, "headers": {"Content-Type": "application/json"}} if isinstance(body, bytes) \
        else {"json": body}  # fmt: skip
    answers = doors.ask(method, world.fill(path), **kw)
    detail = assert_error(answers, status)[0]
    assert (words or "").lower() in detail.lower(), detail
    assert_same(answers, PARSER_WORDS if words is None else None)
    # and nothing was started
    assert len(assert_same(doors.ask("GET", "/api/v1/training/sessions"))) == len(before)


@pytest.mark.parametrize("kind", ["model", "dataset"])
def test_an_upload_under_a_taken_name_is_409_and_keeps_the_first(doors: Doors, world: World, kind: str) -> None:
    name = world.model if kind == "model" else world.dataset
    before = doors.gateway.call("GET", f"/api/v1/{kind}s/{name}").content
    answers = tuple(Answer.of(d.name, _upload(d, f"/api/v1/{kind}s", b"other", "x.npz", **{f"{kind}_name": name}))
                    for d in doors)  # fmt: skip
    assert "exists" in assert_error(answers, 409)[0]
    assert_same(answers)
    assert doors.envoy.call("GET", f"/api/v1/{kind}s/{name}").content == before


def test_an_invalid_model_name_is_400(doors: Doors) -> None:
    answers = tuple(Answer.of(d.name, _upload(d, "/api/v1/models", b"x", "m.pth", model_name="..evil")) for d in doors)
    assert "invalid model name" in assert_error(answers, 400)[0].lower()
    assert_same(answers)


@pytest.mark.parametrize(("path", "param", "filename"),
                         [("/api/v1/models", "model_name", "model.pth"), ("/api/v1/datasets", "dataset_name", "d.csv")])  # fmt: skip
def test_an_upload_over_the_limit_is_413_and_keeps_nothing(doors: Doors, path: str, param: str, filename: str) -> None:
    over = np.random.default_rng(9).bytes(UPLOAD_LIMIT_BYTES + 2**20)
    name = f"over_{uuid.uuid4().hex[:6]}"
    answers = tuple(Answer.of(d.name, _upload(d, path, over, filename, **{param: name})) for d in doors)
    assert "limit" in assert_error(answers, 413)[0].lower()
    assert_same(answers)
    assert_error(doors.ask("GET", f"{path}/{name}"), 404)


@pytest.mark.parametrize(("method", "path", "allowed"),
                         [("PUT", "/api/v1/models", {"GET", "POST"}), ("PUT", "/api/v1/training/start", {"POST"}),
                          ("PATCH", "/api/v1/models/m", {"GET", "DELETE"})])  # fmt: skip
def test_a_known_path_with_a_wrong_method_is_405_with_allow(doors: Doors, method: str, path: str, allowed: set) -> None:
    """Issue 11 (engineer B)."""
    answers = doors.ask(method, path, json={})
    assert_error(answers, 405)
    assert_same(answers)
    for answer in answers:
        assert {m.strip() for m in answer.headers.get("Allow", "").split(",")} >= allowed, answer.headers


@pytest.mark.parametrize("difference", ENVOY_DIFFERENCES, ids=[d.path for d in ENVOY_DIFFERENCES])
def test_the_differences_envoy_cannot_avoid(doors: Doors, difference: EnvoyDifference) -> None:
    assert_difference(doors, difference)
