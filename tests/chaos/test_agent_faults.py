"""An agent killed (SIGKILL) or frozen (SIGSTOP) with work on it: requeued after the TTL, nothing run behind our back.

The node TTL is 2.5 s, heartbeats every 0.3 s (tests/farm_processes.py).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from aifarm.v1 import node_pb2, task_pb2
from chaos_parts import (
    DETECT_RANGE,
    NODE_TTL,
    Farm,
    Figure,
    Figures,
    Mark,
    ledger_task,
    process_alive,
    seconds_until,
    task_id,
)
from farm_processes import AgentProcess, wait_for

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(150)]

T = task_pb2
ONLINE, OFFLINE = node_pb2.NODE_STATE_ONLINE, node_pb2.NODE_STATE_OFFLINE


@dataclass
class KilledAgent:
    """What was seen around one agent SIGKILL, for the tests below to judge."""

    farm: Farm
    name: str
    victim: AgentProcess
    survivor: AgentProcess
    first: Mark
    child: Mark
    detect: float
    requeue: float
    orphan_alive: bool
    child_alive: bool
    left_after_restart: list[int]
    orphan_finished: bool


@pytest.fixture(scope="module")
def killed_agent(tmp_path_factory: pytest.TempPathFactory, figures: Figures) -> Iterator[KilledAgent]:
    farm = Farm.start(tmp_path_factory.mktemp("sigkill") / "farm")
    try:
        yield _kill_an_agent(farm, figures)
    finally:
        farm.close()


def _kill_an_agent(farm: Farm, figures: Figures) -> KilledAgent:
    client, ledger = farm.client, farm.ledger
    a, b = farm.agent("a", "--cpus", "2"), farm.agent("b", "--cpus", "2")
    hold = farm.hold()
    task = client.create(ledger_task(ledger.path, hold=hold, child=True))
    tid = task_id(task.name)
    _, node = farm.running_on(task.name)
    victim, survivor = (a, b) if a.node_id == node else (b, a)
    first, child = ledger.wait_mark(tid, "start", 1), ledger.wait_mark(tid, "child", 1)

    t0, killed_at = time.monotonic(), time.time()
    victim.signal(signal.SIGKILL)
    victim.proc.wait(timeout=10)
    detect = seconds_until(lambda: client.node_state(node) == OFFLINE, t0, 30, "the killed node offline")
    requeue = ledger.wait_mark(tid, "start", 2).time - killed_at  # attempt 2 runs on the survivor
    client.wait_state(task.name, T.TASK_STATE_COMPLETED, T.TASK_STATE_FAILED, timeout=30)
    orphan_alive, child_alive = process_alive(first.pid, farm.root), process_alive(child.pid, farm.root)

    # The agent comes back from its data dir: it must end whatever its previous life left running.
    victim.start()
    farm.wait_online(victim)
    try:
        wait_for(lambda: not any(process_alive(p, farm.root) for p in (first.pid, child.pid)), timeout=5,
                 what="attempt 1's processes ended by the restarted agent")  # fmt: skip
    except TimeoutError:
        pass
    left = [p for p in (first.pid, child.pid) if process_alive(p, farm.root)]
    farm.release(hold)
    if left:
        try:
            ledger.wait_mark(tid, "end", 1, timeout=5)
        except TimeoutError:
            pass
    finished = bool(ledger.of(tid, "end", 1))
    alive = [what for what, up in (("the task", orphan_alive), ("its child", child_alive)) if up]
    note = f"alive after attempt 2 ended: {', '.join(alive) or 'nothing'}; after the agent's restart: {len(left)}"
    if finished:
        note += "; attempt 1 ran to its end beside attempt 2"
    figures.add(Figure("agent SIGKILL", detect=detect, back=requeue, tasks=1, twice=int(finished),
                       lost=int(client.get(task.name).state != T.TASK_STATE_COMPLETED),
                       note=f"time back = kill → attempt 2 started on the other node; {note}"))  # fmt: skip
    return KilledAgent(farm, task.name, victim, survivor, first, child, detect, requeue, orphan_alive, child_alive,
                       left, finished)  # fmt: skip


def test_a_killed_agents_work_is_requeued_after_the_ttl(killed_agent: KilledAgent) -> None:
    k = killed_agent
    assert DETECT_RANGE[0] <= k.detect <= DETECT_RANGE[1], f"lost after {k.detect:.2f} s (TTL {NODE_TTL} s)"
    done = k.farm.client.get(k.name)
    assert (done.state, done.attempt, done.node) == (T.TASK_STATE_COMPLETED, 2, f"nodes/{k.survivor.node_id}")
    assert len(k.farm.ledger.of(task_id(k.name), "start", 2)) == 1
    assert len(k.farm.ledger.of(task_id(k.name), "end", 2)) == 1


def test_a_killed_agent_leaves_no_orphan(killed_agent: KilledAgent) -> None:
    k = killed_agent
    assert not k.orphan_alive, f"attempt 1 (pid {k.first.pid}) outlived its agent by {k.detect:.1f} s and more"
    assert not k.left_after_restart, f"pids {k.left_after_restart} of attempt 1 still run after the agent restarted"
    assert not k.orphan_finished, "attempt 1 ran to its end beside attempt 2"


def test_a_frozen_agent_is_requeued_and_its_late_report_ignored(make_farm, figures: Figures) -> None:
    farm: Farm = make_farm()
    client, ledger = farm.client, farm.ledger
    a, b = farm.agent("a", "--cpus", "2"), farm.agent("b", "--cpus", "2")
    hold = farm.hold()
    task = client.create(ledger_task(ledger.path, hold=hold))
    tid = task_id(task.name)
    _, node = farm.running_on(task.name)
    victim, survivor = (a, b) if a.node_id == node else (b, a)

    t0 = time.monotonic()
    victim.signal(signal.SIGSTOP)  # no heartbeats; its task process is not stopped and goes on
    detect = seconds_until(lambda: client.node_state(node) == OFFLINE, t0, 30, "the frozen node offline")
    done = client.wait_state(task.name, T.TASK_STATE_COMPLETED, T.TASK_STATE_FAILED, timeout=30)
    assert (done.state, done.attempt, done.node) == (T.TASK_STATE_COMPLETED, 2, f"nodes/{survivor.node_id}")
    farm.release(hold)
    ledger.wait_mark(tid, "end", 1)  # attempt 1 finished while its agent was frozen: its report is late

    t1 = time.monotonic()
    victim.signal(signal.SIGCONT)
    back = seconds_until(lambda: client.node_state(node) == ONLINE, t1, 30, "the thawed node online again")
    wait_for(lambda: farm.late_report_refused(victim, tid), timeout=20, what="attempt 1's late report refused")
    time.sleep(1.0)
    again = client.get(task.name)
    figures.add(Figure("agent SIGSTOP, then SIGCONT", detect=detect, back=back, tasks=1,
                       lost=int(again.state != T.TASK_STATE_COMPLETED), twice=len(ledger.ended_twice()),
                       note="time back = SIGCONT → node online; the frozen agent's task ran on (it is not "
                            "stopped) and its late report was ignored: attempt 2's result stands"))  # fmt: skip
    assert DETECT_RANGE[0] <= detect <= DETECT_RANGE[1], f"lost after {detect:.2f} s (TTL {NODE_TTL} s)"
    assert (again.state, again.attempt, again.node) == (T.TASK_STATE_COMPLETED, 2, f"nodes/{survivor.node_id}")
    assert len(ledger.of(tid, "start", 2)) == 1

