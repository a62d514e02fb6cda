"""The controller kill -9'd twice under load: nothing acknowledged lost, nothing run twice, running work reattached.

Two agents; four long tasks (two on each) that print a counter until released (they run
across both kills); a submitter creating a short task every 0.15 s, each with a
request id and retried with it while the controller is down. Every task marks
the ledger when it starts and ends, so a task run twice or lost is counted.
"""

from __future__ import annotations

import signal
import time

import pytest

from aifarm.v1 import task_pb2
from chaos_parts import Farm, Figure, Figures, Submitter, ledger_task, seconds_until, task_id
from farm_processes import wait_for

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(180)]

T = task_pb2
KILLS = 2
#: Seconds of load before each kill, and the controller's time down.
LOAD_SECONDS, DOWN_SECONDS = 1.5, 0.5


def test_controller_kill9_twice_under_load(make_farm, figures: Figures) -> None:
    farm: Farm = make_farm()
    client, ledger = farm.client, farm.ledger
    # 2 cores each: best fit puts two long tasks (0.75 core) on each, leaving room for two short ones (0.25).
    agents = [farm.agent(name, "--cpus", "2") for name in ("a", "b")]
    hold = farm.hold()
    long = [client.create(ledger_task(ledger.path, hold=hold, hold_attempts=99, prints=True, tick=0.2,
                                      cpu_cores=0.75), request_id=f"long-{i}") for i in range(4)]  # fmt: skip
    placed = {farm.running_on(t.name)[1] for t in long}
    assert placed == {a.node_id for a in agents}, "the long tasks are meant to run on both nodes"
    load = Submitter(farm.controller.address, lambda i: ledger_task(ledger.path, seconds=0.2, cpu_cores=0.25),
                     interval=0.15, prefix="short")  # fmt: skip
    load.start()

    rounds = []
    for n in range(1, KILLS + 1):
        time.sleep(LOAD_SECONDS)
        reattached_before = farm.controller.log.count("tasks reattached")
        busy = sum(1 for t in client.all_tasks().values() if t.state in BUSY) - len(long)
        t0 = time.monotonic()
        farm.controller.kill(signal.SIGKILL)
        time.sleep(DOWN_SECONDS)
        farm.controller.start()
        up = time.monotonic()
        back = seconds_until(lambda: len(client.online_nodes()) == len(agents), up, 30, "every node back")
        expected = reattached_before + len(agents)
        wait_for(lambda expected=expected: farm.controller.log.count("tasks reattached") >= expected, timeout=10,
                 what="every node's running work reattached")  # fmt: skip
        for t in long:
            now = client.get(t.name)
            assert (now.state, now.attempt) == (T.TASK_STATE_RUNNING, 1), f"after kill {n}: {now}"
        rounds.append((up - t0, back, busy))

    time.sleep(LOAD_SECONDS)
    acked = load.finish()
    farm.release(hold)
    names = [t.name for t in long] + [a.name for a in acked]
    wait_for(lambda: all((t := client.all_tasks()).get(n) and t[n].state in ENDED for n in names), timeout=60,
             interval=0.5, what="every acknowledged task ended")  # fmt: skip
    tasks = client.all_tasks()
    starts = ledger.starts()
    ends = {tid: len(ledger.of(tid, "end")) for tid in starts}
    lost = [name for name in names if tasks[name].state != T.TASK_STATE_COMPLETED or ends.get(task_id(name)) != 1]
    twice = [tid for tid, count in starts.items() if count > 1]
    requeued_unrun = sum(1 for name in names if tasks[name].attempt > 1 and starts.get(task_id(name)) == 1)
    for n, (down, back, busy) in enumerate(rounds, 1):
        figures.add(Figure(f"controller kill -9 #{n} under load", back=back, tasks=len(long) + busy,
                           note=f"time back = restart → every node reattached (down {down:.2f} s); "
                                f"tasks = running or assigned at the kill"))  # fmt: skip
    figures.add(Figure(f"controller kill -9 ×{KILLS}, the whole run", tasks=len(names), lost=len(lost),
                       twice=len(twice),
                       note=f"{load.retries} creates retried while down, {len(load.abandoned)} abandoned; "
                            f"{requeued_unrun} assigned-but-unsent tasks rerun as attempt 2 (ran once)"))  # fmt: skip

    assert not load.abandoned, f"creates never acknowledged: {load.abandoned}"
    assert len(acked) >= 10, f"the load was too thin to prove anything: {len(acked)} tasks"
    assert not lost, f"acknowledged tasks lost: {[(n, tasks[n].state, tasks[n].state_reason) for n in lost]}"
    assert not twice, f"tasks run twice on nodes that lived: {twice}"
    assert len(tasks) == len(names), "a retried create made a second task"
    for t in long:
        assert tasks[t.name].attempt == 1
        lines = farm.client.stdout(t.name)
        assert lines == [str(i) for i in range(len(lines))], "reattached, not restarted: every line exactly once"
        assert len(lines) > 10


BUSY = {T.TASK_STATE_ASSIGNED, T.TASK_STATE_RUNNING}
ENDED = {T.TASK_STATE_COMPLETED, T.TASK_STATE_FAILED, T.TASK_STATE_CANCELLED}
