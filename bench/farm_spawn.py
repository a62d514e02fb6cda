"""What the benchmarks that start a farm of real processes share: a free loopback port, and an
`aifarm` subcommand of this tree started with its output in a log file."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
AGENT_TOKEN = "bench-agent-token"
API_KEY = "bench-api-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def spawn(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    """`python -m cli.main ARGS`; the join token in the environment (never on a command line)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "AIFARM_AGENT_TOKEN": AGENT_TOKEN}
    return subprocess.Popen([sys.executable, "-m", "cli.main", *args], stdout=log.open("ab"),
                            stderr=subprocess.STDOUT, cwd=REPO, env=env)  # fmt: skip
