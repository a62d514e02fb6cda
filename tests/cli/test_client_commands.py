"""The terminal client's commands against a real controller and real agents.

Most checks run the ``aifarm`` group in-process (click's CliRunner, real gRPC
to the controller process); the end-to-end ones run ``python -m cli.main`` or
the installed ``aifarm`` script as processes, on a TTY where that matters.
"""

from __future__ import annotations

import json
import os
import pty
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from client_runs import Farm, clean_environ, invoke, popen, run_process, short, submitted_name

from aifarm.v1 import task_pb2
from cli.client_output import progress_bar
from farm_processes import API_KEY, Client, ControllerProcess, wait_for

T = task_pb2
#: Never fits a node in these tests, so the task stays pending.
TOO_MANY_GPUS = "64"


def write_script(directory: Path, name: str, source: str) -> Path:
    path = directory / name
    path.write_text(source)
    return path


def ticking_script(directory: Path, ticks: int, pause: float) -> Path:
    return write_script(directory, "ticks.py", f"import time\nfor i in range({ticks}):\n"
                        f"    print('tick', i, flush=True)\n    time.sleep({pause})\n")  # fmt: skip


def submit_json(farm: Farm, script: Path, *options: str) -> dict:
    """Submit a script with ``--json``; the created task."""
    doc = invoke("submit", "script", str(script), "--json", *options, *farm.args()).json()
    assert isinstance(doc, dict)
    return doc


@pytest.fixture
def cancel_afterwards(farm: Farm):
    """Names of tasks to cancel when the test ends, so nothing keeps running on the shared agent."""
    names: list[str] = []
    yield names
    for name in names:
        invoke("cancel", name, "--wait", "0", *farm.args())


# ------------------------------------------------------------- submit


def test_submit_script_follow_runs_it_with_its_args_and_env(farm: Farm, tmp_path: Path) -> None:
    script = write_script(tmp_path, "greet.py", "import os, sys, time\nprint('args', sys.argv[1:])\n"
                          "print('env', os.environ['GREETING'])\nprint('oops', file=sys.stderr)\ntime.sleep(0.5)\n")  # fmt: skip
    result = run_process("submit", "script", str(script), "--name", "greet", "--priority", "high", "--cpus", "0.5",
                         "--arg", "-v", "--arg", "x y", "--env", "GREETING=hi=there", "--follow", *farm.args())  # fmt: skip
    assert result.code == 0, result.stderr
    name = submitted_name(result)
    assert result.lines[0] == f"submitted {name} (PENDING)"
    assert any(line.startswith(f"{name} RUNNING") for line in result.lines), result.stdout
    assert result.lines[-1] == f"{name} COMPLETED (exit code 0)"

    task = invoke("task", name, "--json", *farm.args()).json()
    assert task["display_name"] == "greet" and task["priority"] == "TASK_PRIORITY_HIGH"
    assert task["resources"]["cpu_cores"] == 0.5
    assert task["script"]["entrypoint"] == "greet.py" and task["script"]["args"] == ["-v", "x y"]
    assert task["script"]["env"] == {"GREETING": "hi=there"}
    assert task["script"]["source"] == script.read_text()

    logs = invoke("logs", short(name), *farm.args()).lines
    assert logs[0].startswith("[aifarm] starting")
    assert {"args ['-v', 'x y']", "env hi=there", "oops"} <= set(logs)
    assert logs[-1].startswith("[aifarm] ended completed")


def test_submit_command_runs_its_argv_as_typed_without_a_shell(farm: Farm) -> None:
    result = run_process("submit", "command", "--name", "argv", "--env", "GREETING=hi there", "--follow",
                         *farm.args(), "--", "printf", "<%s>\\n", "a b", "$GREETING", "--follow")  # fmt: skip
    assert result.code == 0, result.stderr
    name = submitted_name(result)
    assert result.lines[-1] == f"{name} COMPLETED (exit code 0)"
    task = invoke("task", name, "--json", *farm.args()).json()
    assert task["command"]["argv"] == ["printf", "<%s>\\n", "a b", "$GREETING", "--follow"]
    assert task["command"]["env"] == {"GREETING": "hi there"}
    assert "command:" in invoke("task", name, *farm.args()).stdout
    logs = invoke("logs", short(name), *farm.args()).lines
    assert ["<a b>", "<$GREETING>", "<--follow>"] == [line for line in logs if line.startswith("<")]

    missing = invoke("submit", "command", "--follow", *farm.args(), "no-such-program-here")
    assert missing.code == 1 and "was not found on this node's PATH" in missing.lines[-1], missing.lines


def test_submit_script_that_fails_exits_1(farm: Farm, tmp_path: Path) -> None:
    script = write_script(tmp_path, "fail.py", "import sys\nprint('bye')\nsys.exit(3)\n")
    result = invoke("submit", "script", str(script), "--follow", *farm.args())
    assert result.code == 1
    name = submitted_name(result)
    assert re.fullmatch(rf"{name} FAILED \(exit code 3\): .*3.*", result.lines[-1]), result.lines[-1]

    details = invoke("task", name, *farm.args())
    assert details.code == 0
    assert re.search(r"^state:\s+FAILED$", details.stdout, re.M)
    assert re.search(r"^exit code:\s+3$", details.stdout, re.M)
    assert re.search(r"^error:\s+.*3", details.stdout, re.M)


def test_submit_script_sends_every_scheduling_option(farm: Farm, tmp_path: Path, cancel_afterwards) -> None:
    quick = write_script(tmp_path, "quick.py", "print('done')\n")
    first, second = submit_json(farm, quick), submit_json(farm, quick)
    job = write_script(tmp_path, "job.py", "print('never runs')\n")
    created = submit_json(farm, job, "--gpus", TOO_MANY_GPUS, "--cpus", "2.5", "--memory-mb", "2048",
                          "--priority", "critical", "--name", "big", "--time-limit", "60", "--retries", "2",
                          "--after", short(first["name"]), "--after", second["name"])  # fmt: skip
    cancel_afterwards.append(created["name"])
    assert created["state"] == "TASK_STATE_PENDING"

    stored = invoke("task", created["name"], "--json", *farm.args()).json()
    assert stored["resources"] == {"gpus": 64, "cpu_cores": 2.5, "gpu_memory_mb": 0, "memory_mb": 2048, "node": "",
                                   "locks": []}
    assert stored["priority"] == "TASK_PRIORITY_CRITICAL" and stored["display_name"] == "big"
    assert (stored["time_limit_seconds"], stored["max_retries"]) == (60, 2)
    assert stored["depends_on"] == [first["name"], second["name"]]

    # Once its dependencies are done, the scheduler says why it still waits.
    reason = wait_for(lambda: "no online node can fit" in (t := farm.client.get(created["name"])).state_reason
                      and t.state_reason, what="the pending reason")  # fmt: skip
    details = invoke("task", short(created["name"]), *farm.args()).stdout
    assert f"reason:     {reason}" in details and "64 GPUs" in details
    assert f"after:      {first['name']}, {second['name']}" in details
    assert "resources:  gpus=64 cpus=2.5 memory=2.0 GiB" in details


def test_submit_script_rejects_bad_input(farm: Farm, tmp_path: Path) -> None:
    script = write_script(tmp_path, "job.sh", "echo hi\n")
    result = invoke("submit", "script", str(script), "--env", "NOEQUALS", *farm.args())
    assert result.code == 2 and "KEY=VALUE" in result.stderr
    result = invoke("submit", "script", str(tmp_path / "missing.py"), *farm.args())
    assert result.code == 2 and "missing.py" in result.stderr
    result = invoke("submit", "script", str(script), "--after", "no-such-task", *farm.args())
    assert result.code == 1
    assert "INVALID_ARGUMENT" in result.stderr and "no-such-task" in result.stderr


def test_submit_train_follow_shows_progress_and_metrics(farm: Farm) -> None:
    result = run_process("submit", "train", "--epochs", "2", "--samples", "64", "--features", "4", "--classes", "2",
                         "--batch-size", "16", "--lr", "0.01", "--optimizer", "sgd", "--seed", "1", "--device", "cpu",
                         "--name", "tiny", "--follow", *farm.args(), timeout=120)  # fmt: skip
    assert result.code == 0, (result.stdout, result.stderr)
    name = submitted_name(result)
    progress = [line for line in result.lines[1:-1] if line.startswith(f"{name} ")]
    assert any(" RUNNING " in line for line in progress), result.stdout
    percents = [int(re.search(r" (\d+)%", line).group(1)) for line in progress]  # type: ignore[union-attr]
    assert percents == sorted(percents) and percents[-1] == 100
    assert "loss=" in progress[-1] and "accuracy=" in progress[-1]
    assert result.lines[-1] == f"{name} COMPLETED"

    details = invoke("task", name, *farm.args()).stdout
    assert "training:      mlp epochs=2 data=synthetic" in details
    assert re.search(r"^metrics:\s+accuracy=\S+ loss=\S+ val_accuracy=\S+ val_loss=\S+$", details, re.M)
    assert re.search(rf"^  {name}/artifacts/checkpoint\.pt  \d+ bytes  sha256 [0-9a-f]{{12}}  attempt 1$",
                     details, re.M), details  # fmt: skip
    spec = invoke("task", name, "--json", *farm.args()).json()["training"]  # type: ignore[index]
    assert (spec["optimizer"], spec["batch_size"], spec["seed"], spec["device"]) == ("sgd", 16, 1, "cpu")
    assert spec["learning_rate"] == pytest.approx(0.01)
    synthetic = spec["synthetic"]
    assert (synthetic["samples"], synthetic["features"], synthetic["classes"]) == (64, 4, 2)


def test_submit_train_options_and_their_checks(farm: Farm, cancel_afterwards) -> None:
    # Submitted and left pending (too many GPUs): only what the controller stored is checked.
    result = invoke("submit", "train", "--arch", "cnn", "--epochs", "3", "--samples", "64", "--image-size", "8",
                    "--gpus", TOO_MANY_GPUS, "--json", *farm.args())  # fmt: skip
    task = result.json()
    assert isinstance(task, dict)
    cancel_afterwards.append(task["name"])
    spec = task["training"]
    assert (spec["architecture"], spec["epochs"], spec["synthetic"]["image_size"]) == ("cnn", 3, 8)

    result = invoke("submit", "train", "--dataset", "mnist", "--samples", "5", *farm.args())
    assert result.code == 2 and "--dataset cannot be combined with --samples" in result.stderr
    result = invoke("submit", "train", "--arch", "transformer", *farm.args())
    assert result.code == 2 and "transformer" in result.stderr


# -------------------------------------------------------- tasks, nodes


def test_tasks_and_nodes_on_a_fresh_farm(controller: ControllerProcess, start_agent, client: Client,
                                         tmp_path: Path) -> None:  # fmt: skip
    connect = ["--controller", controller.address, "--api-key", API_KEY]
    assert invoke("tasks", *connect).stdout == "no tasks\n"
    assert invoke("tasks", "--json", *connect).json() == []
    assert invoke("nodes", *connect).stdout == "no nodes\n"
    assert invoke("nodes", "--json", *connect).json() == []

    agent = start_agent("solo")
    wait_for(lambda: len(client.online_nodes()) == 1, what="the agent")
    node = agent.node_id
    nodes = invoke("nodes", *connect).lines
    assert nodes[0].split() == ["NODE", "HOSTNAME", "STATE", "CPUS", "MEMORY", "GPUS", "USAGE", "TASKS"]
    assert nodes[1].split()[0] == node and " ONLINE " in nodes[1] and re.search(r"cpu \d+% mem \d+%", nodes[1])
    (doc,) = invoke("nodes", "--json", *connect).json()  # type: ignore[misc]
    assert doc["name"] == f"nodes/{node}" and doc["state"] == "NODE_STATE_ONLINE"
    assert doc["capabilities"]["cpu_cores"] >= 1 and doc["capabilities"]["memory_mb"] > 0
    online = invoke("nodes", "--state", "online", "--json", *connect).json()
    assert [n["name"] for n in online] == [doc["name"]]  # type: ignore[union-attr]
    assert invoke("nodes", "--state", "offline", *connect).stdout == "no nodes\n"

    quick = write_script(tmp_path, "quick.py", "print('done')\n")
    done = submitted_name(invoke("submit", "script", str(quick), "--name", "first", "--follow", *connect))
    stuck = submitted_name(invoke("submit", "script", str(quick), "--name", "stuck", "--gpus", TOO_MANY_GPUS,
                                  *connect))  # fmt: skip

    header, newest, oldest = invoke("tasks", *connect).lines
    assert header.split() == ["ID", "NAME", "KIND", "STATE", "PRIORITY", "PROGRESS", "NODE", "CREATED"]
    assert newest.split()[:7] == [short(stuck), "stuck", "script", "PENDING", "NORMAL", "0%", "-"]
    assert oldest.split()[:7] == [short(done), "first", "script", "COMPLETED", "NORMAL", "100%", node]

    def names(*args: str) -> list[str]:
        return [t["name"] for t in invoke("tasks", "--json", *args, *connect).json()]  # type: ignore[union-attr]

    assert names() == [stuck, done]
    assert names("--limit", "1") == [stuck]
    assert names("--state", "completed") == [done]
    assert names("--state", "PENDING", "--state", "completed") == [stuck, done]
    assert names("--state", "running") == []
    assert names("--node", node) == [done] == names("--node", f"nodes/{node}")
    assert invoke("tasks", "--node", "elsewhere", *connect).stdout == "no tasks\n"


# ---------------------------------------------------------- task, logs


@pytest.mark.parametrize("command", [["task"], ["logs"], ["logs", "-f"], ["watch"]])
def test_unknown_task_id_is_named(farm: Farm, command: list[str]) -> None:
    result = invoke(*command, "no-such-task", *farm.args())
    assert result.code == 1
    assert "task tasks/no-such-task not found" in result.stderr
    assert result.stdout == ""


def test_logs_of_a_finished_task_in_pages_tail_and_json(farm: Farm, tmp_path: Path) -> None:
    script = write_script(tmp_path, "many.py", "import sys\nfor i in range(1500):\n    print('line', i)\n"
                          "print('oops', file=sys.stderr)\n")  # fmt: skip
    name = submitted_name(invoke("submit", "script", str(script), "--follow", *farm.args()))

    lines = invoke("logs", name, *farm.args()).lines  # more than one page of ListTaskLogs
    assert lines[0].startswith("[aifarm] starting")
    assert [ln for ln in lines if ln.startswith("line ")] == [f"line {i}" for i in range(1500)]
    assert "oops" in lines and lines[-1].startswith("[aifarm] ended completed")

    tail = invoke("logs", short(name), "--tail", "2", "--json", *farm.args()).json()
    assert isinstance(tail, list) and len(tail) == 2
    assert tail[-1]["stream"] == "LOG_STREAM_SYSTEM" and tail[-1]["text"].startswith("ended completed")
    assert tail[0]["seq"] < tail[1]["seq"]
    assert invoke("logs", name, "--tail", "2", *farm.args()).lines == lines[-2:]

    # Following a finished task prints what there is and ends.
    followed = invoke("logs", name, "-f", "--json", *farm.args())
    assert followed.code == 0
    records = [json.loads(line) for line in followed.lines]
    assert [f"[aifarm] {r['text']}" if r["stream"] == "LOG_STREAM_SYSTEM" else r["text"] for r in records] == lines
    assert [r["seq"] for r in records] == sorted(r["seq"] for r in records)


def test_logs_follow_streams_a_running_task_until_it_ends(farm: Farm, tmp_path: Path) -> None:
    script = ticking_script(tmp_path, ticks=6, pause=0.4)
    name = submit_json(farm, script, "--cpus", "0.5")["name"]
    farm.client.wait_state(name, T.TASK_STATE_RUNNING)
    proc = popen("logs", short(name), "-f", *farm.args())
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("[aifarm] starting")
        assert proc.stdout.readline() == "tick 0\n"
        assert farm.client.get(name).state == T.TASK_STATE_RUNNING  # streamed while it still runs
        # Read on through the same buffered reader: communicate() reads the pipe's fd directly and would
        # miss lines readline() had already buffered (two lines often arrive in one chunk).
        rest = proc.stdout.read()  # to EOF: the command ends by itself when the task ends
        proc.wait(timeout=30)
        err = proc.stderr.read() if proc.stderr else ""
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert rest.splitlines()[:5] == [f"tick {i}" for i in range(1, 6)]
    assert rest.splitlines()[-1].startswith("[aifarm] ended completed")


def test_ctrl_c_ends_logs_follow_without_a_traceback(farm: Farm, tmp_path: Path, cancel_afterwards) -> None:
    name = submit_json(farm, ticking_script(tmp_path, ticks=200, pause=0.1), "--cpus", "0.5")["name"]
    cancel_afterwards.append(name)
    proc = popen("logs", name, "--follow", *farm.args())
    try:
        assert proc.stdout is not None
        wait_for(lambda: proc.stdout.readline().startswith("tick"), what="a streamed line")  # type: ignore[union-attr]
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == 1 and "Aborted!" in err and "Traceback" not in err


# ------------------------------------------------------ watch, follow


def test_watch_a_running_task_on_a_terminal(farm: Farm, tmp_path: Path) -> None:
    name = submit_json(farm, ticking_script(tmp_path, ticks=4, pause=0.3), "--cpus", "0.5")["name"]
    farm.client.wait_state(name, T.TASK_STATE_RUNNING)
    main, secondary = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "watch", short(name), *farm.args()],
                            stdout=secondary, stderr=secondary, env=clean_environ(COLUMNS="100"))  # fmt: skip
    os.close(secondary)
    screen = b""
    try:
        while True:
            try:
                chunk = os.read(main, 4096)
            except OSError:  # EIO: the process closed the terminal
                break
            if not chunk:
                break
            screen += chunk
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        os.close(main)
    text = screen.decode()
    # A bar redrawn in place while it runs, then one line saying how it ended.
    assert re.search(r"\r\[\.{30}\]   0%  RUNNING\x1b\[K", text), repr(text)
    assert f"{name} COMPLETED (exit code 0)" in text


def test_watch_and_follow_exit_codes_and_json(farm: Farm, tmp_path: Path) -> None:
    ok = write_script(tmp_path, "ok.py", "import time\ntime.sleep(0.3)\nprint('ok')\n")
    result = invoke("submit", "script", str(ok), "--follow", "--json", *farm.args())
    assert result.code == 0
    updates = [json.loads(line) for line in result.lines]
    assert updates[0]["state"] == "TASK_STATE_PENDING"
    assert updates[-1]["state"] == "TASK_STATE_COMPLETED" and updates[-1]["result"]["exit_code"] == 0
    assert len({u["name"] for u in updates}) == 1

    # Watching a task that already ended prints how it ended and exits at once.
    name = updates[0]["name"]
    assert invoke("watch", name, *farm.args()).lines == [f"{name} COMPLETED 100% (completed)",
                                                         f"{name} COMPLETED (exit code 0)"]  # fmt: skip

    cancelled = submit_json(farm, ok, "--gpus", TOO_MANY_GPUS)["name"]
    assert invoke("cancel", cancelled, *farm.args()).code == 0
    result = invoke("watch", short(cancelled), "--json", *farm.args())
    assert result.code == 1
    assert json.loads(result.lines[-1])["state"] == "TASK_STATE_CANCELLED"


# ------------------------------------------------------------ control


def test_pause_resume_stop_reach_the_running_task(farm: Farm, tmp_path: Path, cancel_afterwards) -> None:
    name = submit_json(farm, ticking_script(tmp_path, ticks=600, pause=0.05), "--cpus", "0.5")["name"]
    cancel_afterwards.append(name)
    farm.client.wait_state(name, T.TASK_STATE_RUNNING)

    result = invoke("pause", short(name), *farm.args())
    assert (result.code, result.stdout) == (0, f"paused {name} (now PAUSED)\n"), result.stderr
    assert re.search(r"^state:\s+PAUSED$", invoke("task", name, *farm.args()).stdout, re.M)
    frozen = len(farm.client.logs(name))
    result = invoke("pause", name, *farm.args())
    assert result.code == 1 and "FAILED_PRECONDITION" in result.stderr and "not running" in result.stderr

    result = invoke("resume", name, "--json", *farm.args())
    assert result.code == 0 and result.json()["state"] == "TASK_STATE_RUNNING"  # type: ignore[index]
    wait_for(lambda: len(farm.client.logs(name)) > frozen + 3, what="output after resume")

    result = invoke("pause", name, "--wait", "0", *farm.args())  # asks, and returns before the node acts
    assert (result.code, result.stdout) == (0, f"asked to pause {name} (now RUNNING)\n")
    farm.client.wait_state(name, T.TASK_STATE_PAUSED)
    assert invoke("resume", name, *farm.args()).stdout == f"resumed {name} (now RUNNING)\n"

    result = invoke("stop", name, *farm.args())
    assert (result.code, result.stdout) == (0, f"stopped {name} (now CANCELLED)\n"), result.stderr
    details = invoke("task", name, *farm.args()).stdout
    assert re.search(r"^reason:\s+stopped", details, re.M)

    result = invoke("cancel", name, *farm.args())
    assert result.code == 1 and "already ended" in result.stderr and short(name) in result.stderr


def test_cancel_a_pending_task(farm: Farm, tmp_path: Path) -> None:
    name = submit_json(farm, write_script(tmp_path, "job.py", "print(1)\n"), "--gpus", TOO_MANY_GPUS)["name"]
    result = invoke("cancel", short(name), *farm.args())
    assert (result.code, result.stdout) == (0, f"cancelled {name} (now CANCELLED)\n")
    doc = invoke("task", name, "--json", *farm.args()).json()
    assert doc["state"] == "TASK_STATE_CANCELLED" and doc["attempt"] == 0  # type: ignore[index]


def test_a_control_that_does_not_take_effect_in_time_exits_1(start_agent, client: Client,
                                                             controller: ControllerProcess, tmp_path: Path) -> None:  # fmt: skip
    agent = start_agent("frozen")
    wait_for(lambda: len(client.online_nodes()) == 1, what="the agent")
    connect = ["--controller", controller.address, "--api-key", API_KEY]
    script = ticking_script(tmp_path, ticks=100, pause=0.1)
    name = submitted_name(invoke("submit", "script", str(script), *connect))
    client.wait_state(name, T.TASK_STATE_RUNNING)
    agent.signal(signal.SIGSTOP)  # connected, but it carries out nothing
    try:
        result = invoke("pause", name, "--wait", "0.5", *connect)
    finally:
        agent.signal(signal.SIGCONT)
        invoke("cancel", name, *connect)
    assert result.code == 1
    assert f"asked to pause {name}, but it is still RUNNING after 0.5 s" in result.stderr


def test_restart_an_ended_task_then_delete_it(farm: Farm, tmp_path: Path) -> None:
    name = submit_json(farm, write_script(tmp_path, "job.py", "print(1)\n"), "--gpus", TOO_MANY_GPUS)["name"]
    assert invoke("cancel", name, *farm.args()).code == 0
    result = invoke("restart", short(name), *farm.args())
    assert (result.code, result.stdout) == (0, f"restarted {name} (now PENDING)\n")
    again = invoke("restart", name, *farm.args())
    assert again.code == 1 and "only an ended task can be restarted" in again.stderr
    deleted = invoke("delete", name, *farm.args())
    assert (deleted.code, deleted.stdout) == (0, f"deleted {name}\n")
    gone = invoke("task", name, *farm.args())
    assert gone.code == 1 and "not found" in gone.stderr


@pytest.mark.parametrize("verb", ["cancel", "pause", "resume", "stop", "restart", "delete"])
def test_control_of_an_unknown_task_id(farm: Farm, verb: str) -> None:
    result = invoke(verb, "no-such-task", *farm.args())
    assert result.code == 1 and result.stdout == ""
    assert "task tasks/no-such-task not found" in result.stderr


# --------------------------------------------------------------- misc


def test_installed_entry_point(farm: Farm) -> None:
    result = run_process("nodes", *farm.args(), entry_point=True)
    assert result.code == 0, result.stderr
    assert farm.agent.node_id in result.stdout


def test_progress_bar() -> None:
    task = T.Task(name="tasks/a", state=T.TASK_STATE_RUNNING, progress=0.5, metrics={"loss": 0.1})
    assert progress_bar(task, width=10) == "[#####.....]  50%  RUNNING  loss=0.1"
