"""The terminal client against a canned in-process controller.

TEMPORARY: these run against tests/cli/fake_controller.py; move them to the
real controller fixture (tests/conftest.py) once it exists.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result
from fake_controller import FakeController, FakeState

from aifarm.v1 import node_pb2, task_pb2
from cli.client_commands import add_client_commands
from cli.client_connection import CliError, resolve_connection
from cli.client_output import progress_bar

KEY = "secret-key"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ("AIFARM_CONTROLLER", "AIFARM_API_KEY", "AIFARM_DATA_DIR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def state() -> FakeState:
    return FakeState(api_key=KEY)


@pytest.fixture
def controller(state: FakeState) -> Iterator[FakeController]:
    with FakeController(state) as fake:
        yield fake


@pytest.fixture
def cli() -> click.Group:
    group = click.Group("aifarm")
    add_client_commands(group)
    return group


def run(cli: click.Group, args: list[str], env: dict[str, str] | None = None) -> Result:
    return CliRunner(env=env).invoke(cli, args, catch_exceptions=False)


def connect_args(controller: FakeController, key: str = KEY) -> list[str]:
    return ["--controller", controller.address, "--api-key", key]


def dead_address() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


def write_data_dir(path: Path, address: str, keys: str = f"{KEY}\nother-key\n") -> Path:
    path.mkdir(parents=True, exist_ok=True)
    key_file = path / "api_keys"
    key_file.write_text(keys)
    (path / "endpoints.json").write_text(
        json.dumps({"grpc": address, "http": "127.0.0.1:8000", "api_key_file": str(key_file)})
    )
    return path


def add_task(fake: FakeState, task_id: str, **fields: object) -> task_pb2.Task:
    task = task_pb2.Task(name=f"tasks/{task_id}", **fields)
    fake.tasks[task.name] = task
    return task


# ------------------------------------------------------------- precedence


def test_option_beats_env_beats_data_dir(tmp_path: Path) -> None:
    data_dir = write_data_dir(tmp_path / "farm", "127.0.0.1:1111")
    env = {"AIFARM_CONTROLLER": "127.0.0.1:2222", "AIFARM_API_KEY": "env-key"}

    chosen = resolve_connection("127.0.0.1:3333", "opt-key", str(data_dir), env)
    assert (chosen.address, chosen.address_source) == ("127.0.0.1:3333", "--controller")
    assert (chosen.api_key, chosen.api_key_source) == ("opt-key", "--api-key")

    chosen = resolve_connection(None, None, str(data_dir), env)
    assert (chosen.address, chosen.api_key) == ("127.0.0.1:2222", "env-key")
    assert chosen.api_key_source == "AIFARM_API_KEY"

    chosen = resolve_connection(None, None, str(data_dir), {})
    assert chosen.address == "127.0.0.1:1111"
    assert chosen.api_key == KEY  # the first line of the key file
    assert chosen.metadata() == (("authorization", f"Bearer {KEY}"),)


def test_data_dir_from_env_and_default(tmp_path: Path) -> None:
    write_data_dir(tmp_path / "envdir", "127.0.0.1:4444")
    write_data_dir(tmp_path / ".aifarm", "127.0.0.1:5555")
    assert resolve_connection(None, None, None, {"AIFARM_DATA_DIR": str(tmp_path / "envdir")}).address == (
        "127.0.0.1:4444"
    )
    assert resolve_connection(None, None, None, {}).address == "127.0.0.1:5555"  # ./.aifarm


def test_local_key_is_not_sent_to_another_controller(tmp_path: Path) -> None:
    write_data_dir(tmp_path / ".aifarm", "127.0.0.1:5555")
    chosen = resolve_connection("10.0.0.9:50051", None, None, {})
    assert chosen.api_key is None and chosen.metadata() == ()
    assert resolve_connection("127.0.0.1:5555", None, None, {}).api_key == KEY


def test_no_controller_found_says_how_to_fix(cli: click.Group) -> None:
    result = run(cli, ["tasks"])
    assert result.exit_code == 2
    assert "no controller found" in result.stderr
    assert "aifarm up" in result.stderr and "--controller" in result.stderr
    assert "Traceback" not in result.output


def test_broken_endpoints_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / ".aifarm").mkdir()
    (tmp_path / ".aifarm" / "endpoints.json").write_text("{not json")
    with pytest.raises(CliError, match="not valid JSON"):
        resolve_connection(None, None, None, {})


def test_data_dir_connection_sends_its_key(cli: click.Group, controller: FakeController, state: FakeState,
                                           tmp_path: Path) -> None:
    write_data_dir(tmp_path / "farm", controller.address)
    result = run(cli, ["tasks", "--data-dir", str(tmp_path / "farm")])
    assert result.exit_code == 0, result.output
    assert state.last("ListTasks").metadata["authorization"] == f"Bearer {KEY}"


def test_env_used_when_no_options(cli: click.Group, controller: FakeController, state: FakeState) -> None:
    result = run(cli, ["nodes"], env={"AIFARM_CONTROLLER": controller.address, "AIFARM_API_KEY": KEY})
    assert result.exit_code == 0, result.output
    assert state.last("ListNodes").metadata["authorization"] == f"Bearer {KEY}"


def test_option_overrides_env(cli: click.Group, controller: FakeController, state: FakeState) -> None:
    env = {"AIFARM_CONTROLLER": dead_address(), "AIFARM_API_KEY": "wrong"}
    result = run(cli, ["tasks", *connect_args(controller)], env=env)
    assert result.exit_code == 0, result.output
    assert state.last("ListTasks").metadata["authorization"] == f"Bearer {KEY}"


# ----------------------------------------------------------------- errors


def test_unavailable(cli: click.Group) -> None:
    address = dead_address()
    result = run(cli, ["tasks", "--controller", address])
    assert result.exit_code == 1
    assert f"controller not reachable at {address} (from --controller)" in result.stderr
    assert "Traceback" not in result.output


def test_unauthenticated_names_the_key_source(cli: click.Group, controller: FakeController) -> None:
    result = run(cli, ["tasks"], env={"AIFARM_CONTROLLER": controller.address, "AIFARM_API_KEY": "wrong"})
    assert result.exit_code == 1
    assert "rejected the API key from AIFARM_API_KEY" in result.stderr

    result = run(cli, ["tasks", "--controller", controller.address])
    assert result.exit_code == 1
    assert "none was found" in result.stderr and "--api-key" in result.stderr


def test_not_found(cli: click.Group, controller: FakeController) -> None:
    result = run(cli, ["task", "nope", *connect_args(controller)])
    assert result.exit_code == 1
    assert "task tasks/nope not found" in result.stderr


# ------------------------------------------------------------- reading


def test_tasks_json_is_an_array(cli: click.Group, controller: FakeController, state: FakeState) -> None:
    add_task(state, "a", state=task_pb2.TASK_STATE_RUNNING, display_name="first")
    add_task(state, "b", state=task_pb2.TASK_STATE_PENDING)
    result = run(cli, ["tasks", "--json", "--limit", "5", "--state", "RUNNING", *connect_args(controller)])
    assert result.exit_code == 0, result.output
    tasks = json.loads(result.stdout)
    assert [t["name"] for t in tasks] == ["tasks/a"]
    assert tasks[0]["display_name"] == "first" and tasks[0]["state"] == "TASK_STATE_RUNNING"
    request = state.last("ListTasks").request
    assert request.page_size == 5 and list(request.states) == [task_pb2.TASK_STATE_RUNNING]


def test_tasks_table(cli: click.Group, controller: FakeController, state: FakeState) -> None:
    add_task(state, "a", state=task_pb2.TASK_STATE_RUNNING, progress=0.5, node="nodes/n1")
    result = run(cli, ["tasks", *connect_args(controller)])
    header, row = result.stdout.splitlines()
    assert header.split()[:4] == ["ID", "NAME", "KIND", "STATE"]
    assert row.split()[0] == "a" and "RUNNING" in row and "50%" in row and "n1" in row


def test_nodes_table_and_json(cli: click.Group, controller: FakeController, state: FakeState) -> None:
    state.nodes.append(
        node_pb2.Node(
            name="nodes/gpu1",
            hostname="host1",
            state=node_pb2.NODE_STATE_ONLINE,
            capabilities=node_pb2.Capabilities(
                cpu_cores=16, memory_mb=65536, gpus=[node_pb2.Gpu(index=0, name="NVIDIA H100")]
            ),
            usage=node_pb2.NodeUsage(cpu_percent=12, memory_percent=40,
                                     gpus=[node_pb2.GpuUsage(index=0, utilization_percent=55)]),
            tasks=["tasks/a", "tasks/b"],
        )
    )
    text = run(cli, ["nodes", *connect_args(controller)]).stdout
    assert "gpu1" in text and "ONLINE" in text and "64.0 GiB" in text and "1x NVIDIA H100" in text
    assert "cpu 12% mem 40% gpu 55%" in text
    nodes = json.loads(run(cli, ["nodes", "--json", *connect_args(controller)]).stdout)
    assert nodes[0]["capabilities"]["cpu_cores"] == 16 and nodes[0]["tasks"] == ["tasks/a", "tasks/b"]


@pytest.mark.parametrize("task_id", ["abc", "tasks/abc"])
def test_task_details_accepts_both_id_forms(cli: click.Group, controller: FakeController, state: FakeState,
                                            task_id: str) -> None:
    add_task(
        state, "abc", state=task_pb2.TASK_STATE_FAILED, state_reason="exit code 3", attempt=2, node="nodes/n1",
        progress=1.0, metrics={"loss": 0.25}, result=task_pb2.TaskResult(exit_code=3, error="boom"),
        artifacts=[task_pb2.Artifact(name="tasks/abc/artifacts/out.txt", size_bytes=12, sha256="ab" * 32)],
    )
    result = run(cli, ["task", task_id, *connect_args(controller)])
    assert result.exit_code == 0, result.output
    assert state.last("GetTask").request.name == "tasks/abc"
    for expected in ("FAILED", "exit code 3", "nodes/n1", "loss=0.25", "boom", "out.txt", "attempt:"):
        assert expected in result.stdout
    doc = json.loads(run(cli, ["task", task_id, "--json", *connect_args(controller)]).stdout)
    assert doc["attempt"] == 2 and doc["result"]["exit_code"] == 3


# ----------------------------------------------------------------- submit


def test_submit_script_builds_the_request(cli: click.Group, controller: FakeController, state: FakeState,
                                          tmp_path: Path) -> None:
    script = tmp_path / "job.py"
    script.write_text("print('hi')\n")
    result = run(cli, [
        "submit", "script", str(script), "--gpus", "1", "--cpus", "2.5", "--memory-mb", "2048",
        "--priority", "high", "--name", "hello", "--time-limit", "60", "--retries", "2",
        "--arg", "-v", "--arg", "x", "--env", "A=1", "--env", "B=x=y", "--after", "t0", "--after", "tasks/t9",
        "--json", *connect_args(controller),
    ])
    assert result.exit_code == 0, result.output
    request = state.last("CreateTask").request
    task = request.task
    assert task.script.source == "print('hi')\n" and task.script.entrypoint == "job.py"
    assert list(task.script.args) == ["-v", "x"] and dict(task.script.env) == {"A": "1", "B": "x=y"}
    assert (task.resources.gpus, task.resources.cpu_cores, task.resources.memory_mb) == (1, 2.5, 2048)
    assert task.priority == task_pb2.TASK_PRIORITY_HIGH and task.display_name == "hello"
    assert (task.time_limit_seconds, task.max_retries) == (60, 2)
    assert list(task.depends_on) == ["tasks/t0", "tasks/t9"]
    assert request.request_id
    assert json.loads(result.stdout)["name"] == "tasks/t1"


def test_submit_script_rejects_bad_env(cli: click.Group, tmp_path: Path) -> None:
    script = tmp_path / "job.sh"
    script.write_text("echo hi\n")
    result = run(cli, ["submit", "script", str(script), "--env", "NOEQUALS", "--controller", "127.0.0.1:1"])
    assert result.exit_code == 2 and "KEY=VALUE" in result.stderr


def test_submit_train_synthetic_and_dataset(cli: click.Group, controller: FakeController, state: FakeState) -> None:
    result = run(cli, ["submit", "train", "--arch", "cnn", "--epochs", "3", "--lr", "0.01", "--optimizer", "sgd",
                       "--samples", "64", "--image-size", "8", "--gpus", "1", *connect_args(controller)])
    assert result.exit_code == 0, result.output
    assert "submitted tasks/t1" in result.stdout
    spec = state.last("CreateTask").request.task.training
    assert (spec.architecture, spec.epochs, spec.optimizer) == ("cnn", 3, "sgd")
    assert spec.learning_rate == pytest.approx(0.01)
    assert spec.WhichOneof("data") == "synthetic" and (spec.synthetic.samples, spec.synthetic.image_size) == (64, 8)

    run(cli, ["submit", "train", "--dataset", "mnist", *connect_args(controller)])
    spec = state.last("CreateTask").request.task.training
    assert spec.WhichOneof("data") == "dataset" and spec.dataset == "datasets/mnist"

    result = run(cli, ["submit", "train", "--dataset", "mnist", "--samples", "5", *connect_args(controller)])
    assert result.exit_code == 2 and "--dataset cannot be combined with --samples" in result.stderr


# ------------------------------------------------------------------- logs


def log_lines() -> list[task_pb2.LogLine]:
    return [
        task_pb2.LogLine(seq=1, text="starting", stream=task_pb2.LOG_STREAM_SYSTEM),
        task_pb2.LogLine(seq=2, text="hello", stream=task_pb2.LOG_STREAM_STDOUT),
        task_pb2.LogLine(seq=3, text="oops", stream=task_pb2.LOG_STREAM_STDERR),
    ]


def test_logs_lists(cli: click.Group, controller: FakeController, state: FakeState) -> None:
    add_task(state, "abc")
    state.logs["tasks/abc"] = log_lines()
    result = run(cli, ["logs", "abc", *connect_args(controller)])
    assert result.stdout.splitlines() == ["[aifarm] starting", "hello", "oops"]
    assert state.methods("StreamTaskLogs") == []
    lines = json.loads(run(cli, ["logs", "abc", "--json", "--tail", "1", *connect_args(controller)]).stdout)
    assert [line["text"] for line in lines] == ["oops"]


def test_logs_follow_prints_streamed_lines(cli: click.Group, controller: FakeController, state: FakeState) -> None:
    add_task(state, "abc")
    state.logs["tasks/abc"] = log_lines()
    result = run(cli, ["logs", "tasks/abc", "-f", *connect_args(controller)])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["[aifarm] starting", "hello", "oops"]
    request = state.last("StreamTaskLogs").request
    assert request.parent == "tasks/abc" and request.follow is True

    result = run(cli, ["logs", "abc", "--follow", "--json", *connect_args(controller)])
    assert [json.loads(line)["seq"] for line in result.stdout.splitlines()] == [1, 2, 3]


def test_logs_not_found(cli: click.Group, controller: FakeController) -> None:
    result = run(cli, ["logs", "ghost", "-f", *connect_args(controller)])
    assert result.exit_code == 1 and "task tasks/ghost not found" in result.stderr


# ------------------------------------------------------------------ watch


def updates(name: str, final: int, error: str = "") -> list[task_pb2.Task]:
    running = task_pb2.TASK_STATE_RUNNING
    return [
        task_pb2.Task(name=name, state=task_pb2.TASK_STATE_PENDING),
        task_pb2.Task(name=name, state=running, progress=0.5, metrics={"loss": 0.5}),
        task_pb2.Task(name=name, state=running, progress=0.5, metrics={"loss": 0.5}),  # no change: no line
        task_pb2.Task(name=name, state=final, progress=1.0, result=task_pb2.TaskResult(error=error)),
    ]


def test_watch_completed_exits_0(cli: click.Group, controller: FakeController, state: FakeState) -> None:
    add_task(state, "abc")
    state.watch_updates["tasks/abc"] = updates("tasks/abc", task_pb2.TASK_STATE_COMPLETED)
    result = run(cli, ["watch", "abc", *connect_args(controller)])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "tasks/abc PENDING 0%",
        "tasks/abc RUNNING 50% loss=0.5",
        "tasks/abc COMPLETED 100%",
        "tasks/abc COMPLETED",
    ]


def test_watch_failed_exits_1(cli: click.Group, controller: FakeController, state: FakeState) -> None:
    add_task(state, "abc")
    state.watch_updates["tasks/abc"] = updates("tasks/abc", task_pb2.TASK_STATE_FAILED, error="out of memory")
    result = run(cli, ["watch", "tasks/abc", *connect_args(controller)])
    assert result.exit_code == 1
    assert result.stdout.splitlines()[-1] == "tasks/abc FAILED: out of memory"


def test_watch_json_lines(cli: click.Group, controller: FakeController, state: FakeState) -> None:
    add_task(state, "abc")
    state.watch_updates["tasks/abc"] = updates("tasks/abc", task_pb2.TASK_STATE_CANCELLED)
    result = run(cli, ["watch", "abc", "--json", *connect_args(controller)])
    assert result.exit_code == 1
    assert [json.loads(line)["state"] for line in result.stdout.splitlines()][-1] == "TASK_STATE_CANCELLED"


def test_watch_stream_ends_early_falls_back_to_get(cli: click.Group, controller: FakeController,
                                                   state: FakeState) -> None:
    add_task(state, "abc", state=task_pb2.TASK_STATE_COMPLETED)
    result = run(cli, ["watch", "abc", *connect_args(controller)])  # no updates streamed
    assert result.exit_code == 0 and state.methods("GetTask") == ["GetTask"]
    add_task(state, "run", state=task_pb2.TASK_STATE_RUNNING)
    result = run(cli, ["watch", "run", *connect_args(controller)])
    assert result.exit_code == 1 and "ended while it is RUNNING" in result.stderr


def test_submit_follow(cli: click.Group, controller: FakeController, state: FakeState, tmp_path: Path) -> None:
    script = tmp_path / "job.py"
    script.write_text("print(1)\n")
    state.watch_updates["tasks/t1"] = updates("tasks/t1", task_pb2.TASK_STATE_COMPLETED)
    result = run(cli, ["submit", "script", str(script), "--follow", *connect_args(controller)])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "submitted tasks/t1 (PENDING)"
    assert result.stdout.splitlines()[-1] == "tasks/t1 COMPLETED"

    state.watch_updates["tasks/t2"] = updates("tasks/t2", task_pb2.TASK_STATE_FAILED)
    assert run(cli, ["submit", "script", str(script), "--follow", *connect_args(controller)]).exit_code == 1


def test_progress_bar() -> None:
    task = task_pb2.Task(name="tasks/a", state=task_pb2.TASK_STATE_RUNNING, progress=0.5, metrics={"loss": 0.1})
    assert progress_bar(task, width=10) == "[#####.....]  50%  RUNNING  loss=0.1"


# ---------------------------------------------------------------- control


@pytest.mark.parametrize(
    ("verb", "method", "shown"),
    [("cancel", "CancelTask", "CANCELLED"), ("pause", "PauseTask", "PAUSED"),
     ("resume", "ResumeTask", "RUNNING"), ("stop", "StopTask", "CANCELLED")],
)
def test_control_commands(cli: click.Group, controller: FakeController, state: FakeState, verb: str, method: str,
                          shown: str) -> None:
    add_task(state, "abc", state=task_pb2.TASK_STATE_RUNNING)
    result = run(cli, [verb, "abc", *connect_args(controller)])
    assert result.exit_code == 0, result.output
    assert state.last(method).request.name == "tasks/abc"
    assert f"tasks/abc (now {shown})" in result.stdout
    doc = json.loads(run(cli, [verb, "tasks/abc", "--json", *connect_args(controller)]).stdout)
    assert doc["name"] == "tasks/abc"
    assert run(cli, [verb, "ghost", *connect_args(controller)]).exit_code == 1
