"""A real network partition: an agent in its own network namespace, cut off from the controller and back.

The controller listens on the host's end of a veth pair the test makes; the
agent "p" runs inside the namespace on the other end, the agent "h" on the
host. Downing the namespace's end of the pair cuts p off (both ways) while the
controller stays reachable from the host. Skipped where namespaces cannot be
made (not root, no `ip`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aifarm.v1 import node_pb2, task_pb2
from chaos_network import NamespacedAgent, NamespaceUnavailable, Netns
from chaos_parts import (
    DETECT_RANGE,
    NODE_TTL,
    Farm,
    Figure,
    Figures,
    HostController,
    bind_flags,
    ledger_task,
    seconds_until,
    task_id,
)
from farm_processes import free_port, wait_for

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(150)]

T = task_pb2
ONLINE, OFFLINE = node_pb2.NODE_STATE_ONLINE, node_pb2.NODE_STATE_OFFLINE
#: The cut lasts at least this long: more than twice the TTL.
PARTITION_SECONDS = 6.0


@pytest.fixture
def netns() -> Iterator[Netns]:
    try:
        ns = Netns.create()
    except NamespaceUnavailable as exc:
        pytest.skip(f"a real partition needs a network namespace: {exc}")
    try:
        yield ns
    finally:
        ns.remove()


@pytest.fixture
def partitioned_farm(netns: Netns, tmp_path: Path) -> Iterator[Farm]:
    root = tmp_path / "farm"
    root.mkdir()
    controller = HostController(root / "controller", free_port(), bind_flags(netns.host_ip), host=netns.host_ip)
    farm = Farm(root, controller.start())
    try:
        yield farm
    finally:
        farm.close()  # before the namespace goes: its agent is stopped first


def test_a_partitioned_agent_is_requeued_and_rejoins(partitioned_farm: Farm, netns: Netns, figures: Figures) -> None:
    farm = partitioned_farm
    client, ledger = farm.client, farm.ledger
    p = NamespacedAgent(farm.controller.address, farm.root / "p", ["--cpus", "2"], netns=netns.name).start()
    farm.agents.append(p)
    farm.wait_online(p)
    hold = farm.hold()
    task = client.create(ledger_task(ledger.path, hold=hold))
    tid = task_id(task.name)
    _, node = farm.running_on(task.name)
    assert node == p.node_id
    h = farm.agent("h", "--cpus", "2")

    t0 = time.monotonic()
    netns.cut()
    detect = seconds_until(lambda: client.node_state(node) == OFFLINE, t0, 30, "the cut-off node offline")
    done = client.wait_state(task.name, T.TASK_STATE_COMPLETED, T.TASK_STATE_FAILED, timeout=30)
    assert (done.state, done.attempt, done.node) == (T.TASK_STATE_COMPLETED, 2, f"nodes/{h.node_id}")
    farm.release(hold)
    ledger.wait_mark(tid, "end", 1)  # the node lived: attempt 1 finished behind the cut, its report is late
    time.sleep(max(0.0, PARTITION_SECONDS - (time.monotonic() - t0)))
    cut_for = time.monotonic() - t0

    t1 = time.monotonic()
    netns.heal()
    back = seconds_until(lambda: client.node_state(node) == ONLINE, t1, 45, "the node online after the heal")
    wait_for(lambda: farm.late_report_refused(p, tid), timeout=20, what="attempt 1's late report refused")
    time.sleep(1.0)
    again = client.get(task.name)
    figures.add(Figure("network partition (netns, veth down)", detect=detect, back=back, tasks=1,
                       lost=int(again.state != T.TASK_STATE_COMPLETED), twice=len(ledger.ended_twice()),
                       note=f"cut {cut_for:.1f} s; time back = heal → node online; attempt 1 ran on behind the "
                            "cut and its late report was ignored"))  # fmt: skip
    assert DETECT_RANGE[0] <= detect <= DETECT_RANGE[1], f"lost after {detect:.2f} s (TTL {NODE_TTL} s)"
    assert (again.state, again.attempt, again.node) == (T.TASK_STATE_COMPLETED, 2, f"nodes/{h.node_id}")
    assert len(ledger.of(tid, "start", 2)) == 1
