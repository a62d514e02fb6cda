"""The `command` task kind on a real controller and agent: argv exec'd as it is, no shell."""

from __future__ import annotations

import json
import os
import time
import urllib.request
from pathlib import Path

import grpc
import pytest

from aifarm.v1 import task_pb2, task_service_pb2
from farm_processes import API_KEY, Client, ControllerProcess, GatewayProcess, wait_for

T = task_pb2
ENDED = (T.TASK_STATE_COMPLETED, T.TASK_STATE_FAILED, T.TASK_STATE_CANCELLED)


def command_task(*argv: str, **kw: object) -> T.Task:
    return T.Task(command=T.CommandSpec(argv=list(argv)), **kw)


@pytest.fixture
def agent(start_agent, client: Client):
    started = start_agent("a")
    wait_for(lambda: len(client.online_nodes()) == 1, what="the agent online")
    return started


def _stdout(client: Client, name: str) -> list[str]:
    return [ln.text for ln in client.logs(name) if ln.stream == T.LOG_STREAM_STDOUT]


def test_echo_reaches_the_logs_and_completes(agent, client: Client) -> None:
    task = client.create(command_task("echo", "hello", "from", "argv"))
    done = client.wait_state(task.name, *ENDED)
    assert done.state == T.TASK_STATE_COMPLETED, done.state_reason
    assert done.result.exit_code == 0
    assert _stdout(client, task.name) == ["hello from argv"]
    system = [ln.text for ln in client.logs(task.name) if ln.stream == T.LOG_STREAM_SYSTEM]
    assert system[0] == "starting: echo hello from argv" and system[-1].startswith("ended completed")
    assert client.get(task.name).command.argv == ["echo", "hello", "from", "argv"]


def test_arguments_are_not_interpreted_by_a_shell(agent, client: Client) -> None:
    tricky = ["a b", "'single'", '"double"', "$HOME", "*", "; echo injected", "`id`", "back\\slash", ""]
    task = client.create(command_task("printf", "<%s>\\n", *tricky))
    done = client.wait_state(task.name, *ENDED)
    assert done.state == T.TASK_STATE_COMPLETED, done.state_reason
    assert _stdout(client, task.name) == [f"<{arg}>" for arg in tricky]


def test_env_and_working_directory_inside_the_attempts_own(agent, client: Client) -> None:
    spec = T.CommandSpec(argv=["sh", "-c", 'pwd; echo "$GREETING"'], env={"GREETING": "hi there"},
                         working_directory="sub/dir")  # fmt: skip
    task = client.create(T.Task(command=spec))
    done = client.wait_state(task.name, *ENDED)
    assert done.state == T.TASK_STATE_COMPLETED, done.state_reason
    cwd, greeting = _stdout(client, task.name)
    workdir = agent.data_dir / "work" / f"{task.name.removeprefix('tasks/')}-1"
    assert Path(cwd) == (workdir / "sub" / "dir").resolve() and greeting == "hi there"


def test_nonzero_exit_fails_with_its_code(agent, client: Client) -> None:
    task = client.create(command_task("sh", "-c", "echo bye >&2; exit 7"))
    done = client.wait_state(task.name, *ENDED)
    assert done.state == T.TASK_STATE_FAILED
    assert done.result.exit_code == 7 and done.result.error == "exited with code 7"
    assert [ln.text for ln in client.logs(task.name) if ln.stream == T.LOG_STREAM_STDERR] == ["bye"]


def test_missing_program_fails_and_says_which_and_how_to_fix(agent, client: Client) -> None:
    task = client.create(command_task("no-such-program-aifarm", "--flag"))
    done = client.wait_state(task.name, *ENDED)
    assert done.state == T.TASK_STATE_FAILED
    error = done.result.error
    assert "'no-such-program-aifarm' was not found on this node's PATH" in error and "install it" in error
    assert "full path" in error
    relative = client.create(command_task("./missing.sh"))
    done = client.wait_state(relative.name, *ENDED)
    assert done.state == T.TASK_STATE_FAILED and "'./missing.sh' does not exist" in done.result.error
    # The agent goes on: the next command runs.
    after = client.create(command_task("true"))
    assert client.wait_state(after.name, *ENDED).state == T.TASK_STATE_COMPLETED


def _processes_with(arg: str) -> list[int]:
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                cmdline = Path(f"/proc/{entry.name}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if arg.encode() in cmdline:
                found.append(int(entry.name))
    return found


def test_cancel_stops_the_program(agent, client: Client) -> None:
    marker = f"{600 + time.time() % 1:.6f}"  # a `sleep` argument no other process has
    task = client.create(command_task("sleep", marker))
    client.wait_state(task.name, T.TASK_STATE_RUNNING)
    wait_for(lambda: _processes_with(marker), what="the sleep to run")
    client.tasks.CancelTask(task_service_pb2.CancelTaskRequest(name=task.name), metadata=client.metadata)
    done = client.wait_state(task.name, *ENDED, timeout=15)
    assert done.state == T.TASK_STATE_CANCELLED
    wait_for(lambda: not _processes_with(marker), timeout=5, what="the sleep to be gone")


def test_time_limit_ends_it(agent, client: Client) -> None:
    task = client.create(command_task("sleep", "30", time_limit_seconds=1))
    done = client.wait_state(task.name, *ENDED, timeout=20)
    assert done.state == T.TASK_STATE_FAILED and "time limit of 1 s exceeded" in done.result.error


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        (T.CommandSpec(), "command.argv is empty"),
        (T.CommandSpec(argv=[""]), "command.argv is empty"),
        (T.CommandSpec(argv=["echo", "a\0b"]), "command.argv[1] holds a NUL byte"),
        (T.CommandSpec(argv=["true"], env={"A": "x\0y"}), "NUL byte"),
        (T.CommandSpec(argv=["true"], working_directory="/etc"), "must stay inside the task's own working directory"),
        (T.CommandSpec(argv=["true"], working_directory="a/../../b"), "without '..'"),
    ],
)
def test_invalid_commands_are_refused_with_the_reason(client: Client, spec: T.CommandSpec, words: str) -> None:
    with pytest.raises(grpc.RpcError) as err:
        client.create(T.Task(command=spec))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert words in err.value.details()


def test_cpu_slots_run_that_many_tasks_at_once(start_agent, client: Client) -> None:
    start_agent("slots", "--cpu-slots", "6")
    node = wait_for(lambda: client.online_nodes(), what="the agent online")[0]
    assert node.capabilities.cpu_cores == 6
    tasks = [client.create(command_task("sleep", "3")) for _ in range(6)]
    # On a machine with fewer than 6 cores all six run at once: each takes one of the 6 slots.
    wait_for(lambda: all(client.get(t.name).state == T.TASK_STATE_RUNNING for t in tasks), timeout=15,
             what="six commands running at once")  # fmt: skip
    for t in tasks:
        assert client.wait_state(t.name, *ENDED).state == T.TASK_STATE_COMPLETED


def test_rest_creates_a_command_through_the_gateway(agent, client: Client, controller: ControllerProcess,
                                                    tmp_path: Path) -> None:  # fmt: skip
    gateway = GatewayProcess(controller.address, tmp_path / "gateway.log").start()
    try:
        body = json.dumps({"display_name": "rest", "command": {"argv": ["echo", "over", "REST"]}}).encode()
        request = urllib.request.Request(f"{gateway.url}/v1/tasks", data=body, method="POST",
                                         headers={"Authorization": f"Bearer {API_KEY}"})  # fmt: skip
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 201
            created = json.loads(answer.read())
        assert created["command"]["argv"] == ["echo", "over", "REST"]
        done = client.wait_state(created["name"], *ENDED)
        assert done.state == T.TASK_STATE_COMPLETED and _stdout(client, created["name"]) == ["over REST"]
    finally:
        gateway.stop()
