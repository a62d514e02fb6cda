"""The impostor: a short script holding the join token tries to take over a live node's id.

It must be refused, and the real agent keep its stream and its work: the join
token only admits a new node, which is then known by its own credential, never
by the id in a hello (issue 10 item 1). Before that, the script was welcomed
as the node, closed the real agent's stream, took its task with the task's
environment, and the real agent's attempt was superseded.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aifarm.v1 import node_pb2, task_pb2
from chaos_parts import Farm, Figure, Figures, answered, ledger_task, task_id
from farm_processes import AGENT_TOKEN, REPO, wait_for

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(120)]

T = task_pb2
IMPOSTOR = Path(__file__).with_name("impostor.py")
SECRET = "impostors-must-not-see-this"


def test_an_impostor_with_the_join_token_cannot_take_a_live_nodes_id(make_farm, figures: Figures) -> None:
    farm: Farm = make_farm()
    client, ledger = farm.client, farm.ledger
    victim = farm.agent("victim", "--cpus", "2")
    hold = farm.hold()
    spec = ledger_task(ledger.path, hold=hold)
    spec.script.env["SECRET"] = SECRET
    task = client.create(spec)
    tid = task_id(task.name)
    farm.running_on(task.name)
    streams_before = victim.log.count("connected to controller")

    out = subprocess.run([sys.executable, str(IMPOSTOR), farm.controller.address, victim.node_id, AGENT_TOKEN],
                         cwd=REPO, capture_output=True, text=True, timeout=30, check=False)  # fmt: skip
    got = json.loads(out.stdout.strip().splitlines()[-1]) if out.stdout.strip() else {"error": out.stderr[-2000:]}
    time.sleep(1.0)  # what the impostor set off has happened by now
    during = client.get(task.name)
    streams_after = victim.log.count("connected to controller")
    farm.release(hold)
    try:
        done = wait_for(answered(lambda: (t := client.get(task.name)).state in ENDED and t), timeout=30,
                        what="the task ended")  # fmt: skip
    except TimeoutError:
        done = client.get(task.name)
    node_state = client.node_state(victim.node_id)
    welcomed = "welcome" in got.get("replies", [])
    saw_secret = SECRET in got.get("env", {}).values()
    figures.add(Figure("impostor with the join token", tasks=1, lost=int(done.state != T.TASK_STATE_COMPLETED),
                       twice=len(ledger.ended_twice()),
                       note=f"welcomed: {_yes(welcomed)} ({got.get('connect_error')}); "
                            f"assignments taken: {len(got.get('assigned', []))}; secret seen: {_yes(saw_secret)}; "
                            f"register: {got.get('register')}; "
                            f"real agent's stream closed: {_yes(streams_after != streams_before)}"))  # fmt: skip

    assert "error" not in got, got
    assert not welcomed and got["connect_error"], f"the impostor was welcomed as {victim.node_id}: {got}"
    assert not got["assigned"] and not saw_secret, f"the impostor got work: {got}"
    assert got["register"] != "issued", "the impostor registered the live node's id anew"
    assert streams_after == streams_before, "the real agent lost its stream to the impostor"
    assert (during.state, during.attempt, during.node) == (T.TASK_STATE_RUNNING, 1, f"nodes/{victim.node_id}")
    assert (done.state, done.attempt) == (T.TASK_STATE_COMPLETED, 1)
    assert len(ledger.of(tid, "start")) == 1
    assert node_state == node_pb2.NODE_STATE_ONLINE


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


ENDED = {T.TASK_STATE_COMPLETED, T.TASK_STATE_FAILED, T.TASK_STATE_CANCELLED}
