"""Node identity with real processes (issue 10): an agent's credential survives its restart; a revoked node,
or a second agent on a data directory in use, stops with a clear message and no traceback."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import pytest

from aifarm.v1 import node_service_pb2
from farm_processes import AgentProcess, Client, ControllerProcess, wait_for


def _exited(agent: AgentProcess, timeout: float = 30) -> int:
    assert agent.proc is not None
    return wait_for(lambda: agent.proc.poll() is not None and agent.proc.returncode + 1000, timeout=timeout,
                    what="the agent to exit") - 1000  # fmt: skip


@pytest.mark.xfail(strict=False, reason="known flake (stop 22 note): a second agent on a busy data directory "
                   "prints its error but sometimes takes over 30 s to exit; also seen on 9cf731f")
def test_a_node_keeps_its_credential_and_a_revoked_one_cannot_come_back(
    controller: ControllerProcess, client: Client, tmp_path: Path
) -> None:
    agent = AgentProcess(controller.address, tmp_path / "a").start()
    node = agent.node_id
    wait_for(lambda: [n.name for n in client.online_nodes()] == [f"nodes/{node}"], what="the agent online")
    secret = tmp_path / "a" / "node_secret"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600 and secret.read_text().startswith("afn_")
    agent.stop()
    # Restarted, it connects with the credential it kept (a second registration of its id would be refused).
    again = AgentProcess(controller.address, tmp_path / "a").start()
    wait_for(lambda: any(n.name == f"nodes/{node}" for n in client.online_nodes()), what="the agent back")
    assert again.log.count("node registered") == 1, "registered at its first start only (the log file is shared)"
    # A second agent on the same data directory stops at once, saying why.
    twin = AgentProcess(controller.address, tmp_path / "a").start()
    assert _exited(twin) == 1
    assert "Error:" in twin.log and "Traceback" not in twin.log
    # Revoked: its stream closes; restarted with the same data directory it is refused for good.
    client.nodes.RevokeNode(node_service_pb2.RevokeNodeRequest(name=f"nodes/{node}"), metadata=client.metadata)
    wait_for(lambda: not any(n.name == f"nodes/{node}" for n in client.online_nodes()), what="the node offline")
    again.stop()
    (tmp_path / "a" / "node_secret").unlink()  # even with its credential gone, the id cannot register again
    refused = AgentProcess(controller.address, tmp_path / "a").start()
    assert _exited(refused) == 1
    assert "was revoked" in refused.log and "Traceback" not in refused.log
    # The machine rejoins under a new id with a fresh data directory.
    shutil.rmtree(tmp_path / "a")
    fresh = AgentProcess(controller.address, tmp_path / "a").start()
    try:
        wait_for(lambda: any(n.name == f"nodes/{fresh.node_id}" for n in client.online_nodes()), what="a new node")
        assert fresh.node_id != node
    finally:
        fresh.stop()
