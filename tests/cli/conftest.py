"""A farm shared by the client tests: a real controller and one real agent.

Tests that need an empty farm, or one they can break, use the function-scoped
``controller`` and ``start_agent`` fixtures of tests/conftest.py instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from client_runs import Farm

from farm_processes import AgentProcess, Client, ControllerProcess, free_port, wait_for


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No AIFARM_* from the developer's shell, and no ./.aifarm but the test's own."""
    for var in ("AIFARM_CONTROLLER", "AIFARM_API_KEY", "AIFARM_DATA_DIR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="package")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    root = tmp_path_factory.mktemp("farm")
    controller = ControllerProcess(root / "controller", free_port()).start()
    agent = AgentProcess(controller.address, root / "agent").start()
    client = Client(controller.address)
    try:
        wait_for(lambda: len(client.online_nodes()) == 1, what="the shared agent to come online")
        yield Farm(controller, agent, client)
    finally:
        client.close()
        agent.stop()
        controller.kill()
