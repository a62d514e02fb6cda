"""Python environments for script requirements: isolated, reused when identical, clear failures."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest

from agent.errors import RequirementsError
from agent.runners.environments import PythonEnvironments, requirements_key
from tiny_wheel import build_wheel


def test_identical_requirements_share_a_key() -> None:
    assert requirements_key("a==1\n\nb\n") == requirements_key("  a==1\nb")
    assert requirements_key("a==1") != requirements_key("a==2")


def test_an_environment_is_made_once_and_reused(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path / "wheels", "aifarm_probe_env", "from the wheel")
    envs = PythonEnvironments(tmp_path / "envs")
    said: list[str] = []
    env = asyncio.run(envs.ensure(f"{wheel}\n", said.append))
    python = env / "bin" / "python"
    out = subprocess.run([python, "-c", "import aifarm_probe_env, grpc; print(aifarm_probe_env.VALUE)"],
                         capture_output=True, text=True, check=True)  # fmt: skip
    assert out.stdout.strip() == "from the wheel"  # installed inside, and the agent's packages are still there
    assert any("Successfully installed" in line for line in said)
    said.clear()
    assert asyncio.run(envs.ensure(str(wheel), said.append)) == env
    assert any("reusing" in line for line in said)


def test_requirements_that_cannot_be_installed_fail_clearly(tmp_path: Path) -> None:
    envs = PythonEnvironments(tmp_path / "envs")
    said: list[str] = []
    with pytest.raises(RequirementsError, match="could not install the requirements"):
        asyncio.run(envs.ensure(str(tmp_path / "missing-1.0-py3-none-any.whl"), said.append))
    assert any("pip:" in line for line in said)
    assert not any((tmp_path / "envs").iterdir())  # nothing half-made is left to be reused
