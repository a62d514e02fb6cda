"""An HTTP inference server for one training checkpoint, run as its own process.

    python -m agent.serving.torch_server --model PATH --port PORT [--host 127.0.0.1]
        [--device cpu|cuda:N] [--ready-file PATH]

PATH is what `agent.training.loop.save_checkpoint` writes. Routes:

- `POST /predict` `{"inputs": [...]}`, a batch `[batch, *input_shape]` or one sample
  `input_shape`: 200 `{"outputs": [[logits]], "predictions": [argmax]}`; 400 with
  `{"detail": ...}` for bad input, 413 for a body over 16 MiB.
- `GET /status`: the model, request and error counts, latencies of the last 1000 predictions.
- `GET /health`: `{"status": "ok"}`.

Once listening it writes the bound port to `--ready-file` (atomically; `--port 0` picks a
free one) and prints `serving on http://HOST:PORT`. SIGTERM shuts it down with status 0.
A checkpoint it cannot serve, or a CUDA device that is not there, exits 2 before listening.

Only the standard library's HTTP server: an agent child needs no web framework, and the
checkpoint's model is small enough that one process per model is the unit a supervisor manages.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import socket
import sys
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any, cast
from urllib.parse import urlsplit

import torch
from torch import nn

from agent.training.models import ModelError, build_model
from taskspec.checkpoint import REQUIRED_KEYS, checkpoint_info
from taskspec.errors import SpecError

#: The largest request body read; bigger ones get 413 unread (the limit bounds memory per request).
MAX_BODY = 16 * 1024 * 1024
#: Successful predictions whose latencies /status summarises.
LATENCY_WINDOW = 1000
#: Seconds an idle keep-alive connection may hold a handler thread.
_IDLE_TIMEOUT = 30.0


class CheckpointError(Exception):
    """The file cannot be served; the message says why."""


class BadRequest(Exception):
    """A predict request the server answers with `status` and `{"detail": str(self)}`."""

    def __init__(self, detail: str, status: int = 400) -> None:
        super().__init__(detail)
        self.status = status


@dataclass(frozen=True)
class LoadedModel:
    model: nn.Module
    architecture: str
    input_shape: tuple[int, ...]
    num_classes: int
    device: torch.device


def parse_device(text: str) -> torch.device:
    """`cpu` or `cuda[:N]`, only when that device exists (a CheckpointError otherwise: same exit 2)."""
    try:
        device = torch.device(text)
    except RuntimeError as exc:
        raise CheckpointError(f"device {text!r} is not cpu or cuda:N ({exc})") from exc
    if device.type == "cpu":
        return device
    if device.type != "cuda":
        raise CheckpointError(f"device {text!r} is not cpu or cuda:N")
    if not torch.cuda.is_available():
        raise CheckpointError(f"device {text!r} asked for, but CUDA is not available on this machine")
    index = 0 if device.index is None else device.index
    if index >= torch.cuda.device_count():
        count = torch.cuda.device_count()
        raise CheckpointError(f"device {text!r} asked for, but this machine has {count} CUDA device(s)")
    return torch.device("cuda", index)


def load_model(path: Path, device: torch.device) -> LoadedModel:
    """Rebuild the checkpoint's model on `device`, in eval mode; CheckpointError saying what is wrong."""
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        # weights_only: the pickle may hold tensors and plain data only, never run code.
        content: Any = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # torch raises many kinds for a file it cannot load; all mean the same here
        raise CheckpointError(f"{path} is not a loadable torch checkpoint ({type(exc).__name__}: {exc})") from exc
    if not isinstance(content, dict):
        raise CheckpointError(f"{path} holds a {type(content).__name__}, not a training checkpoint"
                              f" (a dict with {', '.join(REQUIRED_KEYS)})")  # fmt: skip
    missing = [key for key in REQUIRED_KEYS if key not in content]
    if missing:
        raise CheckpointError(f"{path} is not a training checkpoint: it lacks {', '.join(missing)}"
                              f" (it must have {', '.join(REQUIRED_KEYS)})")  # fmt: skip
    try:
        # The same checks the controller makes of a registry model, so both sides agree on what is servable.
        info = checkpoint_info(content, str(path))
        model = build_model(info.architecture, info.input_shape, info.num_classes)
        model.load_state_dict(content["model_state_dict"])
    except (SpecError, ModelError) as exc:
        raise CheckpointError(str(exc)) from exc
    except RuntimeError as exc:  # load_state_dict: missing, unexpected or mis-shaped weights
        raise CheckpointError(f"{path}: its weights do not fit a {content['architecture']!r} model: {exc}") from exc
    model.to(device).eval()
    return LoadedModel(model, info.architecture, info.input_shape, info.num_classes, device)


def batch_from(inputs: object, input_shape: tuple[int, ...]) -> list[Any]:
    """`inputs` as a list of samples of `input_shape`; BadRequest saying what does not fit."""
    # The shape as the first elements show it; _check_nested then finds ragged lists and non-numbers.
    shape: list[int] = []
    probe = inputs
    while isinstance(probe, list):
        shape.append(len(probe))
        if not probe:
            break
        probe = probe[0]
    expected = list(input_shape)
    if shape == expected:
        _check_nested(inputs, expected, "inputs")
        return [inputs]  # one sample: a batch of 1
    if len(shape) == len(expected) + 1 and shape[1:] == expected:
        _check_nested(inputs, shape, "inputs")
        return cast(list[Any], inputs)
    if shape[:1] == [0]:
        raise BadRequest("inputs holds no samples")
    raise BadRequest(f"inputs has shape {shape}; expected [batch, {', '.join(map(str, expected))}]"
                     f" or one sample {expected}")  # fmt: skip


def _check_nested(value: object, dims: list[int], where: str) -> None:
    if not dims:
        # bool is an int in Python, but JSON true is no number.
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise BadRequest(f"{where} is {_describe(value)}, not a number")
        return
    if not isinstance(value, list) or len(value) != dims[0]:
        raise BadRequest(f"{where} is {_describe(value)}; expected a list of {dims[0]} (inputs must be rectangular)")
    for i, item in enumerate(value):
        _check_nested(item, dims[1:], f"{where}[{i}]")


def _describe(value: object) -> str:
    """A short name for a JSON value in a message (never the whole of a large one)."""
    if isinstance(value, list):
        return f"a list of {len(value)}"
    if isinstance(value, dict):
        return "an object"
    return json.dumps(value)[:40]


@dataclass
class Stats:
    """Counts and recent latencies, shared by the handler threads."""

    requests: int = 0
    errors: int = 0
    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_WINDOW))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def success(self, latency_ms: float) -> None:
        with self.lock:
            self.requests += 1
            self.latencies_ms.append(latency_ms)

    def error(self) -> None:
        with self.lock:
            self.errors += 1

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            requests, errors, window = self.requests, self.errors, list(self.latencies_ms)
        latency = {"mean": 0.0, "p50": 0.0, "p99": 0.0, "last": 0.0}
        if window:
            ordered = sorted(window)
            latency = {
                "mean": sum(window) / len(window),
                "p50": _nearest_rank(ordered, 50),
                "p99": _nearest_rank(ordered, 99),
                "last": window[-1],
            }
        return {"requests": requests, "errors": errors, "latency_ms": {k: round(v, 3) for k, v in latency.items()}}


def _nearest_rank(ordered: list[float], percent: int) -> float:
    return ordered[max(math.ceil(percent / 100 * len(ordered)) - 1, 0)]


class InferenceServer(ThreadingHTTPServer):
    """The HTTP server with the model and the counters its handlers share."""

    daemon_threads = True  # a hung client must not keep the process alive after shutdown

    def __init__(self, address: tuple[str, int], loaded: LoadedModel) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.loaded = loaded
        self.stats = Stats()
        super().__init__(address, Handler)

    def predict(self, body: bytes) -> dict[str, Any]:
        """The answer to a predict body; BadRequest for what the client got wrong."""
        try:
            request = json.loads(body)
        except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
            raise BadRequest(f"body is not valid JSON: {exc}") from exc
        if not isinstance(request, dict) or "inputs" not in request:
            raise BadRequest('body must be a JSON object with "inputs"')
        loaded = self.loaded
        batch = batch_from(request["inputs"], loaded.input_shape)
        try:
            x = torch.tensor(batch, dtype=torch.float32, device=loaded.device)
        except (TypeError, ValueError, RuntimeError, OverflowError) as exc:  # e.g. an int beyond any float
            raise BadRequest(f"inputs cannot be float32: {exc}") from exc
        if not torch.isfinite(x).all():  # NaN, Infinity or 1e39 (beyond float32) would give outputs JSON cannot carry
            raise BadRequest("inputs must be finite float32 numbers")
        with torch.no_grad():
            logits = loaded.model(x).float()
        if not torch.isfinite(logits).all():
            raise BadRequest("these inputs give non-finite outputs, which JSON cannot carry")
        return {"outputs": logits.cpu().tolist(), "predictions": logits.argmax(dim=1).cpu().tolist()}

    def status(self) -> dict[str, Any]:
        loaded = self.loaded
        return {
            "status": "running",
            "model": loaded.architecture,
            "device": str(loaded.device),
            "input_shape": list(loaded.input_shape),
            "num_classes": loaded.num_classes,
            **self.stats.snapshot(),
        }


class Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 keeps connections alive between a client's predictions; every answer has a Content-Length.
    protocol_version = "HTTP/1.1"
    timeout = _IDLE_TIMEOUT
    server: InferenceServer

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/health":
            self._json(200, {"status": "ok"})
        elif path == "/status":
            self._json(200, self.server.status())
        elif path == "/predict":
            self._json(405, {"detail": "use POST for /predict"}, {"Allow": "POST"})
        else:
            self._json(404, {"detail": f"no route GET {path}"})

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        if path != "/predict":
            self._json(404, {"detail": f"no route POST {path}"})
            return
        try:
            body = self._body()
            started = time.perf_counter()  # after the read: the latency is the server's work, not the upload's
            answer = self.server.predict(body)
        except BadRequest as exc:
            self.server.stats.error()
            self._json(exc.status, {"detail": str(exc)})
            return
        except Exception as exc:  # a bug or a device failure: answer 500 and keep serving
            self.server.stats.error()
            traceback.print_exc(file=sys.stderr)
            self._json(500, {"detail": f"inference failed: {type(exc).__name__}: {exc}"})
            return
        self.server.stats.success((time.perf_counter() - started) * 1000)
        self._json(200, answer)

    def _body(self) -> bytes:
        length_text = self.headers.get("Content-Length")
        if length_text is None:
            # No chunked bodies: the length is what lets an oversize body be refused unread.
            self.close_connection = True
            raise BadRequest("Content-Length is required")
        try:
            length = int(length_text)
            if length < 0:
                raise ValueError(length_text)
        except ValueError:
            self.close_connection = True
            raise BadRequest(f"Content-Length {length_text!r} is not a length") from None
        if length > MAX_BODY:
            self.close_connection = True  # the body stays unread, so the connection cannot carry another request
            raise BadRequest(f"body of {length} bytes is over the limit of {MAX_BODY} bytes", status=413)
        body = self.rfile.read(length)
        if len(body) != length:
            self.close_connection = True
            raise BadRequest(f"body ended after {len(body)} of {length} bytes")
        return body

    def _json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # Only failures: a line per successful prediction would flood a busy server's stderr.
        if isinstance(code, int) and code < 400:
            return
        super().log_request(code, size)


def write_ready_file(path: Path, port: int) -> None:
    """The port, replaced atomically: a supervisor polling the file never reads half of it."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(f"{port}\n", encoding="utf-8")
    os.replace(tmp, path)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m agent.serving.torch_server", description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, type=Path, help="checkpoint saved by aifarm's trainer")
    parser.add_argument("--port", required=True, type=int, help="port to listen on; 0 picks a free one")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda:N (default cpu)")
    parser.add_argument("--ready-file", type=Path, help="written with the bound port once listening")
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port {args.port} is not 0 to 65535")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        device = parse_device(args.device)
        loaded = load_model(args.model, device)
    except CheckpointError as exc:
        print(f"torch_server: {exc}", file=sys.stderr)
        return 2
    try:
        server = InferenceServer((args.host, args.port), loaded)
    except OSError as exc:
        print(f"torch_server: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    # serve_forever runs in a thread: shutdown() waits for it to return, so calling it from a
    # signal handler on serve_forever's own thread would deadlock.
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    thread = threading.Thread(target=server.serve_forever, name="torch-server", daemon=True)
    thread.start()

    port = server.server_address[1]
    if args.ready_file is not None:
        write_ready_file(args.ready_file, port)
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"serving on http://{host}:{port}", flush=True)
    print(f"torch_server: {loaded.architecture} {list(loaded.input_shape)} -> {loaded.num_classes} classes"
          f" on {loaded.device}, from {args.model}", file=sys.stderr, flush=True)  # fmt: skip

    while not stop.wait(1.0):  # a timed wait, so the signal handler runs promptly on every platform
        pass
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
