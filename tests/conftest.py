"""Fixtures that start the real controller and agents as processes."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterator

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from farm_processes import AgentProcess, Client, ControllerProcess, free_port  # noqa: E402


@pytest.fixture
def controller(tmp_path: Path) -> Iterator[ControllerProcess]:
    proc = ControllerProcess(tmp_path / "controller", free_port()).start()
    yield proc
    proc.kill()


@pytest.fixture
def client(controller: ControllerProcess) -> Iterator[Client]:
    c = Client(controller.address)
    yield c
    c.close()


@pytest.fixture
def start_agent(controller: ControllerProcess, tmp_path: Path) -> Iterator:
    agents: list[AgentProcess] = []

    def start(name: str = "", *extra: str) -> AgentProcess:
        agent = AgentProcess(controller.address, tmp_path / (name or f"agent{len(agents)}"), list(extra)).start()
        agents.append(agent)
        return agent

    yield start
    for agent in agents:
        agent.stop()
