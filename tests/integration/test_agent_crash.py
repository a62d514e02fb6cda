"""A crashed agent loses nothing it finished, and leaves no work running behind it.

Real processes: a controller (tests/farm_processes.py) and agents started as `aifarm agent`,
SIGKILLed at the worst moments and started again on the same data directory. The controller
gets a long node TTL and restart grace here, so that a node is never declared lost while an
agent restarts on a loaded machine: a second attempt can only come from a result the agent
lost, not from the clock.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from aifarm.v1 import task_pb2
from farm_processes import AgentProcess, Client, ControllerProcess, free_port, script_task, wait_for
from tcp_proxy import HoldingProxy

T = task_pb2
LINUX = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signals and /proc are Linux")
pytestmark = [pytest.mark.slow, LINUX]

ENDED = "task attempt ended"


@pytest.fixture
def controller(tmp_path: Path) -> Iterator[ControllerProcess]:
    proc = ControllerProcess(tmp_path / "controller", free_port(), ["--node-ttl", "30", "--restart-grace", "30"])
    yield proc.start()
    proc.kill()


@pytest.fixture
def agents() -> Iterator[list[AgentProcess]]:
    started: list[AgentProcess] = []
    yield started
    for agent in started:
        agent.stop()


def _agent(agents: list[AgentProcess], controller: str, data_dir: Path, *extra: str) -> AgentProcess:
    agent = AgentProcess(controller, data_dir, list(extra)).start()
    agents.append(agent)
    return agent


def _crash(agent: AgentProcess) -> None:
    agent.signal(signal.SIGKILL)
    assert agent.proc is not None
    agent.proc.wait(timeout=10)


def _waiting_script(go: Path) -> T.Task:
    """Prints, waits for `go` to exist, prints again and exits 0."""
    src = (f"import os, time\nprint('started', flush=True)\nwhile not os.path.exists({str(go)!r}):\n"
           f"    time.sleep(0.02)\nprint('finished', flush=True)\n")  # fmt: skip
    return script_task(src)


def _stdout(client: Client, name: str) -> list[str]:
    return [ln.text for ln in client.logs(name) if ln.stream == T.LOG_STREAM_STDOUT]


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def test_a_result_the_agent_wrote_just_before_it_was_killed_is_not_rerun(
    controller: ControllerProcess, client: Client, agents: list[AgentProcess], tmp_path: Path
) -> None:
    proxy = HoldingProxy(("127.0.0.1", controller.port))
    try:
        agent = _agent(agents, proxy.address, tmp_path / "agent")
        wait_for(lambda: len(client.online_nodes()) == 1, what="the agent online")
        go = tmp_path / "go"
        task = client.create(_waiting_script(go))
        client.wait_state(task.name, T.TASK_STATE_RUNNING)
        wait_for(lambda: _stdout(client, task.name) == ["started"], what="the first line")

        proxy.hold()  # from here on, nothing the agent sends leaves the machine
        go.touch()
        wait_for(lambda: ENDED in agent.log, interval=0.01, what="the agent to see the script end")
        _crash(agent)
        proxy.cut()
        assert client.get(task.name).state == T.TASK_STATE_RUNNING, "the controller never heard of the end"

        agent.start()  # the same node, a new process
        done = client.wait_state(task.name, T.TASK_STATE_COMPLETED, T.TASK_STATE_FAILED, timeout=60)
        assert (done.state, done.attempt) == (T.TASK_STATE_COMPLETED, 1), done.state_reason
        assert done.result.exit_code == 0
        assert _stdout(client, task.name) == ["started", "finished"], "every line once, none lost"
    finally:
        proxy.close()


def test_a_controller_outage_and_an_agent_crash_lose_no_completion(
    controller: ControllerProcess, client: Client, agents: list[AgentProcess], tmp_path: Path
) -> None:
    agent = _agent(agents, controller.address, tmp_path / "agent", "--cpus", "2")
    wait_for(lambda: len(client.online_nodes()) == 1, what="the agent online")
    gos = [tmp_path / "go-a", tmp_path / "go-b"]
    tasks = [client.create(_waiting_script(go)) for go in gos]
    for task in tasks:
        client.wait_state(task.name, T.TASK_STATE_RUNNING)

    controller.kill(signal.SIGKILL)
    for go in gos:
        go.touch()
    wait_for(lambda: agent.log.count(ENDED) == 2, what="both scripts to end")
    _crash(agent)
    controller.start()
    agent.start()

    restarted = Client(controller.address)
    try:
        for task in tasks:
            done = restarted.wait_state(task.name, T.TASK_STATE_COMPLETED, T.TASK_STATE_FAILED, timeout=60)
            assert (done.state, done.attempt) == (T.TASK_STATE_COMPLETED, 1), done.state_reason
            assert _stdout(restarted, task.name) == ["started", "finished"]
    finally:
        restarted.close()


_PARENT_AND_CHILD = ("import os, subprocess, time\nchild = subprocess.Popen(['sleep', '300'])\n"
                     "print(os.getpid(), child.pid, flush=True)\ntime.sleep(120)\n")  # fmt: skip


def _keeper_of(agent: AgentProcess) -> int | None:
    """The pid of the agent's keeper (agent.runners.keeper), if it has one."""
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"agent.runners.keeper" in argv and str(agent.data_dir / "children").encode() in argv:
            return int(entry.name)
    return None


def test_a_killed_agents_script_and_what_it_started_die_with_it(
    controller: ControllerProcess, client: Client, agents: list[AgentProcess], tmp_path: Path
) -> None:
    agent = _agent(agents, controller.address, tmp_path / "agent")
    wait_for(lambda: len(client.online_nodes()) == 1, what="the agent online")
    task = client.create(script_task(_PARENT_AND_CHILD))
    script, child = map(int, wait_for(lambda: _stdout(client, task.name), what="the pids")[0].split())
    try:
        assert alive(script) and alive(child)
        _crash(agent)
        # The script by its parent-death signal, what it started by the agent's keeper.
        wait_for(lambda: not alive(script), timeout=2.0, interval=0.02, what="the script to die with its agent")
        wait_for(lambda: not alive(child), timeout=2.0, interval=0.02, what="the script's child to die with it")
        said = f"ended process {child} of task {task.name.removeprefix('tasks/')}"
        wait_for(lambda: said in agent.log, timeout=5, what="the keeper to say what it ended")
    finally:
        for pid in (script, child):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_process_left_by_a_previous_run_is_ended_when_the_agent_starts(
    controller: ControllerProcess, client: Client, agents: list[AgentProcess], tmp_path: Path
) -> None:
    agent = _agent(agents, controller.address, tmp_path / "agent")
    wait_for(lambda: len(client.online_nodes()) == 1, what="the agent online")
    task = client.create(script_task(_PARENT_AND_CHILD))
    leader, grandchild = map(int, wait_for(lambda: _stdout(client, task.name), what="the pids")[0].split())
    try:
        if (keeper := _keeper_of(agent)) is not None:
            os.kill(keeper, signal.SIGKILL)  # the keeper went first (the OOM killer, say)
        _crash(agent)
        time.sleep(0.3)
        assert alive(grandchild), "with no keeper, what the script started outlives the agent until its next run"

        agent.start()
        wait_for(lambda: not alive(leader) and not alive(grandchild), timeout=30, interval=0.05,
                 what="the next run to end what the previous one left")  # fmt: skip
        wait_for(lambda: "ended a process left running by a previous run" in agent.log, what="the agent to say so")
        said = next(ln for ln in agent.log.splitlines() if "ended a process left running" in ln)
        assert f"pid={grandchild}" in said and task.name.removeprefix("tasks/") in said and "sleep 300" in said
        # The controller requeues the attempt the crash ended, without spending a retry.
        wait_for(lambda: client.get(task.name).attempt == 2, what="the lost attempt to be requeued")
    finally:
        for pid in (leader, grandchild):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_an_attempt_killed_while_uploading_its_checkpoint_uploads_it_after_the_restart(
    controller: ControllerProcess, client: Client, agents: list[AgentProcess], tmp_path: Path
) -> None:
    pytest.importorskip("torch")
    proxy = HoldingProxy(("127.0.0.1", controller.port))
    try:
        agent = _agent(agents, proxy.address, tmp_path / "agent")
        wait_for(lambda: len(client.online_nodes()) == 1, what="the agent online")
        spec = T.TrainingSpec(architecture="mlp", epochs=2, batch_size=32, learning_rate=0.01, seed=1,
                              synthetic=T.SyntheticDataset(samples=200, features=8, classes=3))  # fmt: skip
        task = client.create(T.Task(display_name="mlp", training=spec))
        client.wait_state(task.name, T.TASK_STATE_RUNNING)
        proxy.hold()  # the checkpoint's upload will hang, and so will everything after it
        outcome = tmp_path / "agent" / "work" / f"{task.name.removeprefix('tasks/')}-1" / ".outcome.json"
        wait_for(outcome.exists, timeout=120, interval=0.02, what="the training to end and its upload to start")
        _crash(agent)
        proxy.cut()

        agent.start()
        done = client.wait_state(task.name, T.TASK_STATE_COMPLETED, T.TASK_STATE_FAILED, timeout=120)
        assert (done.state, done.attempt) == (T.TASK_STATE_COMPLETED, 1), done.state_reason
        assert done.artifacts and done.result.output_sha256
        wait_for(lambda: not outcome.exists(), what="the saved outcome to be done with")
    finally:
        proxy.close()
