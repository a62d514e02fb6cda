"""The Server Management API's documented environment variables and options on `aifarm up`/`controller`."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from cli.run_commands import _controller_config, controller_options, up
from controller.api.compat.servermgmt.training_servicer import SESSION_GROUP
from controller.config import ControllerConfig


@click.command()
@controller_options
def _config_of(**kw: object) -> None:
    config = _controller_config(kw)
    click.echo(repr(config))
    _config_of.seen = config  # type: ignore[attr-defined]


def _parse(args: list[str], env: dict[str, str]) -> ControllerConfig:
    result = CliRunner().invoke(_config_of, args, env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return _config_of.seen  # type: ignore[attr-defined]


def test_documented_environment_variables(tmp_path: Path) -> None:
    env = {
        "API_HOST": "0.0.0.0", "API_KEYS": "k1,k2", "DATABASE_PATH": str(tmp_path / "api_data.db"),
        "MODELS_DIR": str(tmp_path / "models"), "DATASETS_DIR": str(tmp_path / "datasets"),
        "MAX_CONCURRENT_SESSIONS": "3",
    }  # fmt: skip
    config = _parse(["--data-dir", str(tmp_path)], env)
    assert config.host == "0.0.0.0" and config.api_keys == ("k1", "k2")
    assert config.db_path == tmp_path / "api_data.db"
    assert config.model_dir == tmp_path / "models" and config.datasets_dir == tmp_path / "datasets"
    assert dict(config.concurrency_limits) == {SESSION_GROUP: 3}


def test_defaults_and_generic_limits(tmp_path: Path) -> None:
    config = _parse(["--data-dir", str(tmp_path), "--concurrency-limit", "benchmarks=2"], {})
    assert config.db_path == tmp_path / "aifarm.db" and config.model_dir == tmp_path / "models"
    assert dict(config.concurrency_limits) == {SESSION_GROUP: 1, "benchmarks": 2}


@pytest.mark.parametrize("bad", ["nogroup", "g=0", "=2", "g=x"])
def test_a_bad_limit_is_a_usage_error(tmp_path: Path, bad: str) -> None:
    result = CliRunner().invoke(_config_of, ["--data-dir", str(tmp_path), "--concurrency-limit", bad])
    assert result.exit_code == 2 and "GROUP=N" in result.output


def test_up_documents_port_and_host() -> None:
    text = CliRunner().invoke(up, ["--help"]).output
    assert "--port" in text and "API_PORT" in text and "API_HOST" in text and "MAX_CONCURRENT_SESSIONS" in text
