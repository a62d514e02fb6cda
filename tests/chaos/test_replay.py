"""A crashed agent's replay: results it had when it died are not lost, and the tasks do not run again.

The agent's outbox is durable (agent/outbox_store.py): each final update is on
disk before the attempt counts as finished, and after a restart the hello lists
the attempts whose final update was never acknowledged, so the controller
reattaches them and takes the replay. (With the outbox in memory, both scenarios
lost every result and ran the tasks again as attempt 2.)
"""

from __future__ import annotations

import signal
import time

import pytest

from aifarm.v1 import task_pb2
from chaos_network import LinkProxy
from chaos_parts import Farm, Figure, Figures, answered, ledger_task, process_alive, task_id
from farm_processes import AgentProcess, wait_for

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(120)]

T = task_pb2
ENDED = {T.TASK_STATE_COMPLETED, T.TASK_STATE_FAILED, T.TASK_STATE_CANCELLED}
#: Seconds the agent gets to see its tasks exit (and, with a durable outbox, write their results down).
SEE_EXIT_SECONDS = 0.5


def _run_held(farm: Farm, count: int = 2) -> list[task_pb2.Task]:
    hold = farm.hold()
    tasks = [farm.client.create(ledger_task(farm.ledger.path, hold=hold, cpu_cores=0.5)) for _ in range(count)]
    for t in tasks:
        farm.running_on(t.name)
    return tasks


def _let_them_exit(farm: Farm, tasks: list[task_pb2.Task]) -> None:
    """Release the held attempts and wait until their processes are gone."""
    farm.release(farm.hold())
    for t in tasks:
        end = farm.ledger.wait_mark(task_id(t.name), "end", 1)
        wait_for(lambda pid=end.pid: not process_alive(pid, farm.root), timeout=10, what="the task's process to exit")
    time.sleep(SEE_EXIT_SECONDS)


def _judge(farm: Farm, agent: AgentProcess, tasks: list[task_pb2.Task], scenario: str, figures: Figures) -> None:
    agent.start()  # the same data dir: the same node, whatever it kept on disk
    farm.wait_online(agent)
    try:
        wait_for(answered(lambda: all(farm.client.get(t.name).state in ENDED for t in tasks)), timeout=30,
                 interval=0.2, what="every task ended")  # fmt: skip
    except TimeoutError:
        pass
    final = {t.name: farm.client.get(t.name) for t in tasks}
    starts = farm.ledger.starts()
    kept = [n for n, t in final.items() if (t.state, t.attempt) == (T.TASK_STATE_COMPLETED, 1)]
    rerun = [n for n in final if starts.get(task_id(n), 0) > 1]
    figures.add(Figure(scenario, tasks=len(tasks), lost=len(tasks) - len(kept), twice=len(rerun),
                       note=f"results replayed from the agent's disk: {len(kept)} of {len(tasks)}"))  # fmt: skip
    assert len(kept) == len(tasks), f"results lost: {[(n, t.state, t.attempt) for n, t in final.items()]}"
    assert not rerun, f"tasks run again after their agent crashed: {rerun}"


def test_results_on_their_way_when_the_agent_dies_are_replayed(make_farm, figures: Figures) -> None:
    """The agent is killed a moment after its tasks exit, their results not yet through: a relay holds them."""
    farm: Farm = make_farm("--node-ttl", "15")  # the node must outlive its agent's restart
    proxy = LinkProxy(("127.0.0.1", farm.controller.port))
    try:
        agent = farm.agent("a", "--cpus", "2", controller=proxy.address)
        tasks = _run_held(farm)
        proxy.freeze()  # from here on nothing the agent sends reaches the controller
        _let_them_exit(farm, tasks)
        agent.signal(signal.SIGKILL)
        agent.proc.wait(timeout=10)
        proxy.drop()  # what the relay held is lost with the connection, as on a wire that was cut
        proxy.thaw()
        _judge(farm, agent, tasks, "agent SIGKILL a moment after its tasks exit", figures)
    finally:
        proxy.close()


def test_results_kept_through_a_controller_outage_survive_an_agent_crash(make_farm, figures: Figures) -> None:
    """The tasks end while the controller is down; the agent, holding their results, is killed before it is back."""
    farm: Farm = make_farm("--restart-grace", "30")  # the agent's restart (seconds on a busy machine) must fit in it
    agent = farm.agent("a", "--cpus", "2")
    tasks = _run_held(farm)
    farm.controller.kill(signal.SIGKILL)
    _let_them_exit(farm, tasks)
    agent.signal(signal.SIGKILL)
    agent.proc.wait(timeout=10)
    farm.controller.start()
    _judge(farm, agent, tasks, "controller down, tasks end, agent SIGKILL", figures)
