"""A training's model_url, fetched by the real runner from a real HTTP server (and file://): AI Farm's
{"code": ...} answer defining create_model(), a torch checkpoint to train further, and the failures
(unreachable, HTTP errors, code without create_model, a model that does not fit the data) said plainly."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Iterator

import pytest
import torch

from agent.runners.base import FinalState, LogSource
from model_server import ModelServer, Route, create_model_code
from test_training_runner import _load_checkpoint, _runner, _tabular

@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkpoint of a real training (mlp, 8 features, 4 classes), made once."""
    import asyncio

    tmp = tmp_path_factory.mktemp("trained")
    runner, _ = _runner(tmp, _tabular(epochs=1))
    outcome = asyncio.run(runner.run())
    assert outcome.state is FinalState.COMPLETED, outcome.error
    return outcome.artifacts[0]


@pytest.fixture(scope="module")
def server(trained: Path) -> Iterator[ModelServer]:
    code = create_model_code(features=8, classes=4)
    httpd = ModelServer({
        "/code": Route.code(code, version="1.0"),
        "/nocreate": Route.code("x = 1\n"),
        "/wide": Route.code(code.replace("Linear(32, 4)", "Linear(32, 9)")),
        "/checkpoint": Route(trained.read_bytes(), "application/octet-stream"),
    })  # fmt: skip
    yield httpd
    httpd.stop()


async def test_code_defining_create_model_is_trained_with_its_own_optimizer(tmp_path: Path, server: ModelServer) -> None:
    runner, reporter = _runner(tmp_path, _tabular(epochs=3, model_url=server.url + "/code", model_version="1.0"))
    outcome = await runner.run()
    assert outcome.state is FinalState.COMPLETED, outcome.error
    assert "1.0" in server.versions
    saved = torch.load(outcome.artifacts[0], weights_only=True)  # no built-in architecture to rebuild
    assert saved["architecture"] == "code" and saved["continued_from"] == server.url + "/code"
    assert saved["optimizer_state_dict"]["param_groups"][0]["momentum"] == 0.9  # its SGD, not aifarm's adam
    assert saved["model_state_dict"]["2.weight"].shape == (4, 32)
    losses = [values["loss"] for _, values in reporter.metrics]
    assert len(losses) == 3 and losses[-1] < losses[0]
    assert any("fetching model" in line for line in reporter.lines(LogSource.SYSTEM))


async def test_a_checkpoint_url_is_trained_further(tmp_path: Path, server: ModelServer, trained: Path) -> None:
    for url in (server.url + "/checkpoint", trained.as_uri()):
        work = tmp_path / str(len(list(tmp_path.iterdir())))
        work.mkdir()
        runner, _ = _runner(work, _tabular(epochs=1, model_url=url))
        outcome = await runner.run()
        assert outcome.state is FinalState.COMPLETED, outcome.error
        saved = _load_checkpoint(outcome)
        assert saved["architecture"] == "mlp" and saved["continued_from"] == url


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(("path", "version", "said"), [
    ("/missing", "1.0", "HTTP 404"),
    ("/code", "2.0", "HTTP 404"),  # the server has version 1.0 only
    ("/nocreate", "1.0", "defines no create_model()"),
    ("/wide", "1.0", "must give (1, 4)"),
])  # fmt: skip
async def test_a_model_url_that_cannot_be_used_fails_the_task_plainly(
    tmp_path: Path, server: ModelServer, path: str, version: str, said: str
) -> None:
    runner, _ = _runner(tmp_path, _tabular(epochs=1, model_url=server.url + path, model_version=version))
    outcome = await runner.run()
    assert outcome.state is FinalState.FAILED
    assert said in outcome.error, outcome.error
    assert not list((tmp_path / "work").glob("checkpoint.pt"))


async def test_an_unreachable_url_fails_at_once_with_a_log_line(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/model"
    runner, reporter = _runner(tmp_path, _tabular(epochs=1, model_url=url))
    started = time.monotonic()
    outcome = await runner.run()
    assert outcome.state is FinalState.FAILED and "cannot fetch model_url" in outcome.error, outcome.error
    assert time.monotonic() - started < 5
    assert any(url in line and "error" in line for line in reporter.lines(LogSource.SYSTEM))

