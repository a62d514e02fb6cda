"""Running the `aifarm` client against real farm processes: as a process, or in-process with CliRunner.

Both talk gRPC to a real controller; the in-process run only saves the start-up
of a Python interpreter, so it serves the many small checks.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

from cli.main import main
from farm_processes import API_KEY, AgentProcess, Client, ControllerProcess


@dataclass(frozen=True)
class Outcome:
    """How one `aifarm` command ended."""

    code: int
    stdout: str
    stderr: str

    @property
    def lines(self) -> list[str]:
        return self.stdout.splitlines()

    def json(self) -> object:
        assert self.code == 0, self.stderr
        return json.loads(self.stdout)


@dataclass(frozen=True)
class Farm:
    """A running controller with one agent, and a test client for it."""

    controller: ControllerProcess
    agent: AgentProcess
    client: Client

    @property
    def address(self) -> str:
        return self.controller.address

    @property
    def data_dir(self) -> Path:
        return self.controller.data_dir

    def args(self, key: str = API_KEY) -> list[str]:
        """Options naming this farm's controller and a key."""
        return ["--controller", self.address, "--api-key", key]


def clean_environ(**extra: str) -> dict[str, str]:
    """The environment without any aifarm settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIFARM_") and k != "API_KEYS"}
    return {**env, **extra}


def run_process(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
                timeout: float = 60, entry_point: bool = False) -> Outcome:  # fmt: skip
    """``python -m cli.main ARGS`` (or the installed ``aifarm`` script) as a real process."""
    command = [str(aifarm_script())] if entry_point else [sys.executable, "-m", "cli.main"]
    done = subprocess.run([*command, *args], capture_output=True, text=True, timeout=timeout,
                          env=env if env is not None else clean_environ(), cwd=cwd or Path.cwd())  # fmt: skip
    return Outcome(done.returncode, done.stdout, done.stderr)


def popen(*args: str, **kw: object) -> subprocess.Popen[str]:
    """``python -m cli.main ARGS`` started, with its output on pipes, to watch while it runs."""
    options = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True, "env": clean_environ(),
               "cwd": Path.cwd(), **kw}  # fmt: skip
    return subprocess.Popen([sys.executable, "-m", "cli.main", *args], **options)  # type: ignore[call-overload]


def invoke(*args: str, env: dict[str, str] | None = None) -> Outcome:
    """The ``aifarm`` group run in this process; real gRPC to a real controller."""
    result = CliRunner(env=env).invoke(main, list(args), catch_exceptions=False)
    return Outcome(result.exit_code, result.stdout, result.stderr)


def aifarm_script() -> Path:
    """The ``aifarm`` console script that ``pip install`` put beside this interpreter."""
    return Path(sysconfig.get_path("scripts")) / "aifarm"


def submitted_name(outcome: Outcome) -> str:
    """``tasks/ID`` from the first line ``submitted tasks/ID (STATE)``."""
    assert outcome.lines, outcome.stderr
    match = re.fullmatch(r"submitted (tasks/[\w-]+) \(\w+\)", outcome.lines[0])
    assert match, outcome.lines[0]
    return match.group(1)


def short(name: str) -> str:
    """``tasks/abc`` -> ``abc``."""
    return name.rsplit("/", 1)[-1]
