"""The inference server as a supervisor runs it: a real process on a free port, serving a
checkpoint in the trainer's format; its answers are the model's own outputs."""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import torch
from torch import nn

from agent.serving.torch_server import MAX_BODY
from agent.training.models import build_model

REPO = Path(__file__).resolve().parents[2]


def save_checkpoint(path: Path, architecture: str, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """A freshly built model saved as agent.training.loop.save_checkpoint does; the model, in eval mode."""
    torch.manual_seed(7)
    model = build_model(architecture, input_shape, num_classes)
    torch.save({"model_state_dict": model.state_dict(), "optimizer_state_dict": {}, "epoch": 1,
                "architecture": architecture, "continued_from": None, "input_shape": list(input_shape),
                "num_classes": num_classes, "metrics": []}, path)  # fmt: skip
    return model.eval()


@dataclass
class Server:
    proc: subprocess.Popen[str]
    port: int
    stderr: Path

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, Any]:  # fmt: skip
        """(status, decoded JSON body), on a fresh connection."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, json.loads(response.read())
        finally:
            conn.close()

    def predict(self, inputs: object) -> tuple[int, Any]:
        return self.request("POST", "/predict", json.dumps({"inputs": inputs}).encode(),
                            {"Content-Type": "application/json"})  # fmt: skip

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=20)


def run_server(tmp_path: Path, checkpoint: Path, *extra: str) -> subprocess.Popen[str]:
    ready = tmp_path / "ready"
    ready.unlink(missing_ok=True)
    # stderr to a file: a pipe nobody reads would block the server once it filled.
    with open(tmp_path / "server.stderr", "w") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "agent.serving.torch_server", "--model", str(checkpoint), "--port", "0",
             "--ready-file", str(ready), *extra],
            cwd=REPO, stdout=subprocess.PIPE, stderr=err, text=True,
        )  # fmt: skip


def wait_ready(tmp_path: Path, proc: subprocess.Popen[str], timeout: float = 60.0) -> Server:
    ready = tmp_path / "ready"
    deadline = time.monotonic() + timeout
    while not ready.exists():
        if proc.poll() is not None:
            raise AssertionError(f"server exited {proc.returncode}: {(tmp_path / 'server.stderr').read_text()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise TimeoutError(f"no ready file after {timeout} s")
        time.sleep(0.05)
    port = int(ready.read_text())
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == f"serving on http://127.0.0.1:{port}"
    return Server(proc, port, tmp_path / "server.stderr")


#: start_server(architecture, input_shape, num_classes): a ready server of a fresh checkpoint, and its model.
StartServer = Callable[..., tuple[Server, nn.Module]]


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[StartServer]:
    servers: list[Server] = []

    def start(architecture: str = "mlp", input_shape: tuple[int, ...] = (4,),
              num_classes: int = 3) -> tuple[Server, nn.Module]:  # fmt: skip
        checkpoint = tmp_path / f"{architecture}.pt"
        model = save_checkpoint(checkpoint, architecture, input_shape, num_classes)
        server = wait_ready(tmp_path, run_server(tmp_path, checkpoint))
        servers.append(server)
        return server, model

    yield start
    for server in servers:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait(timeout=10)


@pytest.mark.parametrize(("architecture", "input_shape", "num_classes"), [("mlp", (4,), 3), ("cnn", (1, 8, 8), 2)])
def test_predictions_are_the_models_outputs(start_server: StartServer, architecture: str,
                                            input_shape: tuple[int, ...], num_classes: int) -> None:  # fmt: skip
    server, model = start_server(architecture, input_shape, num_classes)
    x = torch.randn(5, *input_shape)

    status, body = server.predict(x.tolist())

    assert status == 200, body
    with torch.no_grad():
        expected = model(x)
    outputs = torch.tensor(body["outputs"])
    assert outputs.shape == (5, num_classes)
    assert torch.allclose(outputs, expected, atol=1e-5)
    assert body["predictions"] == expected.argmax(dim=1).tolist()

    # One sample, shaped input_shape, is a batch of one.
    status, body = server.predict(x[0].tolist())
    assert status == 200, body
    assert torch.allclose(torch.tensor(body["outputs"]), expected[:1], atol=1e-5)
    assert body["predictions"] == [int(expected[0].argmax())]


def test_status_counts_requests_and_their_latencies(start_server: StartServer) -> None:
    server, _ = start_server()
    status, before = server.request("GET", "/status")
    assert status == 200
    assert before == {"status": "running", "model": "mlp", "device": "cpu", "input_shape": [4], "num_classes": 3,
                      "requests": 0, "errors": 0,
                      "latency_ms": {"mean": 0.0, "p50": 0.0, "p99": 0.0, "last": 0.0}}  # fmt: skip

    for _ in range(4):
        assert server.predict([[0.5, -1.0, 2.0, 0.0]])[0] == 200
    assert server.predict([[1.0, 2.0]])[0] == 400
    assert server.request("GET", "/health") == (200, {"status": "ok"})

    _, after = server.request("GET", "/status")
    assert (after["requests"], after["errors"]) == (4, 1)
    latency = after["latency_ms"]
    assert latency["last"] > 0 and latency["mean"] > 0
    assert 0 < latency["p50"] <= latency["p99"]


BAD_BODIES = [
    pytest.param(b"{not json", "not valid JSON", id="bad-json"),
    pytest.param(b'{"samples": [[1, 2, 3, 4]]}', '"inputs"', id="no-inputs"),
    pytest.param(b"[[1, 2, 3, 4]]", '"inputs"', id="not-an-object"),
    pytest.param(b'{"inputs": [[1, 2, 3]]}', "shape [1, 3]", id="wrong-shape"),
    pytest.param(b'{"inputs": [[1, 2, 3, 4], [1, 2, 3]]}', "inputs[1]", id="ragged"),
    pytest.param(b'{"inputs": [[1, 2, "3", 4]]}', "not a number", id="string"),
    pytest.param(b'{"inputs": [[1, 2, true, 4]]}', "not a number", id="bool"),
    pytest.param(b'{"inputs": [[1, 2, null, 4]]}', "not a number", id="null"),
    pytest.param(b'{"inputs": [[1, 2, NaN, 4]]}', "finite", id="nan"),
    pytest.param(b'{"inputs": []}', "no samples", id="empty"),
    pytest.param(b'{"inputs": 3}', "shape", id="scalar"),
]


def test_bad_inputs_get_400_and_the_server_keeps_answering(start_server: StartServer) -> None:
    server, model = start_server()
    for param in BAD_BODIES:
        body, detail = param.values
        status, answer = server.request("POST", "/predict", body)
        assert status == 400, (param.id, answer)
        assert detail in answer["detail"], (param.id, answer)

    # Oversize is refused from its Content-Length, before any of it is read.
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.putrequest("POST", "/predict")
    conn.putheader("Content-Length", str(MAX_BODY + 1))
    conn.endheaders()
    response = conn.getresponse()
    assert response.status == 413
    assert "over the limit" in json.loads(response.read())["detail"]
    conn.close()

    assert server.request("GET", "/nowhere")[0] == 404
    assert server.request("GET", "/health") == (200, {"status": "ok"})
    status, answer = server.predict([1.0, 2.0, 3.0, 4.0])
    assert status == 200, answer
    _, stats = server.request("GET", "/status")
    assert (stats["requests"], stats["errors"]) == (1, len(BAD_BODIES) + 1)


def test_sigterm_ends_the_server_with_status_0(start_server: StartServer) -> None:
    server, _ = start_server()
    assert server.predict([0.0, 0.0, 0.0, 0.0])[0] == 200
    assert server.stop() == 0


def _write_junk(path: Path) -> None:
    path.write_bytes(b"this is not a torch file\n")


def _write_weights_only(path: Path) -> None:
    torch.save({"model_state_dict": build_model("mlp", (4,), 3).state_dict()}, path)


def _write_mismatched_weights(path: Path) -> None:
    torch.save({"model_state_dict": build_model("mlp", (5,), 3).state_dict(), "architecture": "mlp",
                "input_shape": [4], "num_classes": 3}, path)  # fmt: skip


@pytest.mark.parametrize(("write", "message"), [
    pytest.param(_write_junk, "not a loadable torch checkpoint", id="junk"),
    pytest.param(_write_weights_only, "lacks architecture, input_shape, num_classes", id="missing-keys"),
    pytest.param(_write_mismatched_weights, "do not fit", id="mismatched-weights"),
    pytest.param(None, "no such checkpoint file", id="missing-file"),
])  # fmt: skip
def test_a_file_that_is_not_a_servable_checkpoint_exits_2(tmp_path: Path, write: Callable[[Path], None] | None,
                                                          message: str) -> None:  # fmt: skip
    path = tmp_path / "model.pt"
    if write is not None:
        write(path)
    proc = run_server(tmp_path, path)
    assert proc.wait(timeout=60) == 2
    assert message in (tmp_path / "server.stderr").read_text()
    assert not (tmp_path / "ready").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal of a CUDA device that is not there")
def test_a_cuda_device_without_cuda_exits_2(tmp_path: Path) -> None:
    checkpoint = tmp_path / "mlp.pt"
    save_checkpoint(checkpoint, "mlp", (4,), 3)
    proc = run_server(tmp_path, checkpoint, "--device", "cuda:0")
    assert proc.wait(timeout=60) == 2
    assert "CUDA is not available" in (tmp_path / "server.stderr").read_text()
