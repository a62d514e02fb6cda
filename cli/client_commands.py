"""The terminal client: ``aifarm nodes``, ``submit``, ``tasks``, ``task``, ``logs``, ...

Call :func:`add_client_commands` on the ``aifarm`` click group to register
them. Each command takes ``--controller``, ``--api-key``, ``--data-dir`` and
``--json``; see :mod:`cli.client_connection` for how the controller is found.
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from aifarm.v1 import node_pb2, node_service_pb2, system_service_pb2, task_pb2, task_service_pb2

from cli import client_output as out
from cli.client_connection import (
    EXIT_CONFIG_ERROR,
    CliError,
    ControllerClient,
    resolve_connection,
)
from cli.client_requests import (
    ARCHITECTURES,
    LOSSES,
    OPTIMIZERS,
    PRIORITIES,
    TASK_STATES,
    TERMINAL_STATES,
    Scheduling,
    TrainingOptions,
    command_request,
    parse_env,
    script_request,
    task_name,
    training_request,
)

MAX_PAGE_SIZE = 1000
NODE_STATES = {
    "online": node_pb2.NODE_STATE_ONLINE,
    "reconnecting": node_pb2.NODE_STATE_RECONNECTING,
    "offline": node_pb2.NODE_STATE_OFFLINE,
}


@dataclass(frozen=True)
class ClientOptions:
    """The options every client command shares."""

    controller: str | None
    """``--controller HOST:PORT``."""
    api_key: str | None
    """``--api-key KEY``."""
    data_dir: str | None
    """``--data-dir PATH``."""
    as_json: bool
    """``--json``: machine-readable output."""
    ca_file: str | None = None
    """``--ca-file FILE``: verify the controller's TLS certificate with this CA."""

    def connect(self) -> ControllerClient:
        """A client for the controller these options (or the environment) name."""
        settings = resolve_connection(self.controller, self.api_key, self.data_dir, os.environ, ca_file=self.ca_file)
        return ControllerClient(settings)


def client_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add the shared options; the command receives them as ``opts``."""

    @functools.wraps(func)
    def wrapper(*args: Any, controller: str | None, api_key: str | None, data_dir: str | None,
                as_json: bool, ca_file: str | None, **kwargs: Any) -> Any:
        opts = ClientOptions(controller=controller, api_key=api_key, data_dir=data_dir, as_json=as_json,
                             ca_file=ca_file)
        return func(*args, opts=opts, **kwargs)

    options = (
        click.option("--controller", metavar="HOST:PORT",
                     help="Controller gRPC address [env AIFARM_CONTROLLER; else DATA_DIR/endpoints.json]."),
        click.option("--api-key", metavar="KEY", help="API key [env AIFARM_API_KEY; else the data dir's key file]."),
        click.option("--data-dir", metavar="PATH", help="Local farm data directory [env AIFARM_DATA_DIR; ./.aifarm]."),
        click.option("--ca-file", metavar="FILE",
                     help="Speak TLS, verifying the controller with this CA [env AIFARM_CA_FILE; else the data dir's"
                          " endpoints.json]."),
        click.option("--json", "as_json", is_flag=True, help="Print proto3 JSON instead of text."),
    )
    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper


def scheduling_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add placement, priority and retry options; the command receives ``scheduling`` and ``follow``."""

    @functools.wraps(func)
    def wrapper(*args: Any, gpus: int, cpus: float, memory_mb: int, priority: str | None, name: str,
                time_limit: int, retries: int, after: tuple[str, ...], **kwargs: Any) -> Any:
        scheduling = Scheduling(
            gpus=gpus, cpus=cpus, memory_mb=memory_mb, priority=priority, display_name=name,
            time_limit_seconds=time_limit, max_retries=retries, after=after,
        )
        return func(*args, scheduling=scheduling, **kwargs)

    options = (
        click.option("--gpus", type=click.IntRange(min=0), default=0, show_default=True, help="Whole GPUs."),
        click.option("--cpus", type=click.FloatRange(min=0), default=0.0, help="CPU cores (fractions allowed)."),
        click.option("--memory-mb", type=click.IntRange(min=0), default=0, help="RAM in MiB."),
        click.option("--priority", type=click.Choice(list(PRIORITIES), case_sensitive=False),
                     help="Scheduling class [normal]."),
        click.option("--name", default="", help="Human-readable task name."),
        click.option("--time-limit", type=click.IntRange(min=0), default=0, metavar="SECONDS",
                     help="Wall-clock limit per attempt; 0 for none."),
        click.option("--retries", type=click.IntRange(min=0), default=0, help="Retries after a failed attempt."),
        click.option("--after", multiple=True, metavar="TASK_ID", help="Run after this task completes (repeatable)."),
        click.option("--follow", is_flag=True, help="Watch the task until it ends; exit 0 only if it completed."),
        click.option("--count", type=click.IntRange(min=1), default=1, show_default=True,
                     help="Submit this many copies at once (an array: BatchCreateTasks calls, each all or none)."),
    )
    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper


# ----------------------------------------------------------------- nodes


@click.group("nodes", invoke_without_command=True)
@click.option("--state", type=click.Choice(list(NODE_STATES), case_sensitive=False), help="Only nodes in this state.")
@client_options
@click.pass_context
def nodes_command(ctx: click.Context, opts: ClientOptions, state: str | None) -> None:
    """List the farm's nodes (or: aifarm nodes revoke NODE)."""
    if ctx.invoked_subcommand is not None:
        return
    with opts.connect() as client:
        nodes = list_all_nodes(client, NODE_STATES[state.lower()] if state else 0)
    if opts.as_json:
        click.echo(out.json_document([out.message_dict(n) for n in nodes]))
    elif not nodes:
        click.echo("no nodes")
    else:
        click.echo(out.table(out.NODE_HEADERS, (out.node_row(n) for n in nodes)))


@nodes_command.command("revoke")
@click.argument("node_id")
@client_options
def revoke_command(opts: ClientOptions, node_id: str) -> None:
    """End a node's credential: its stream closes, its work is requeued, and its id never joins again."""
    name = node_id if node_id.startswith("nodes/") else f"nodes/{node_id}"
    with opts.connect() as client:
        node = client.call(client.nodes.RevokeNode, node_service_pb2.RevokeNodeRequest(name=name), f"node {name}")
    click.echo(out.json_document(out.message_dict(node)) if opts.as_json else f"revoked {node.name}")


@click.group("token")
def token_group() -> None:
    """The join token new nodes register with."""


@token_group.command("rotate")
@client_options
def rotate_command(opts: ClientOptions) -> None:
    """Replace the join token; admitted nodes keep their own credentials. Prints the new token once."""
    with opts.connect() as client:
        answer = client.call(client.system.RotateJoinToken, system_service_pb2.RotateJoinTokenRequest(), "the join token")
    click.echo(out.json_document({"join_token": answer.join_token}) if opts.as_json else answer.join_token)


def list_all_nodes(client: ControllerClient, state: int) -> list[node_pb2.Node]:
    """Every node, following page tokens."""
    nodes: list[node_pb2.Node] = []
    token = ""
    while True:
        request = node_service_pb2.ListNodesRequest(page_size=MAX_PAGE_SIZE, page_token=token, state=state)
        response = client.call(client.nodes.ListNodes, request)
        nodes.extend(response.nodes)
        token = response.next_page_token
        if not token:
            return nodes


# ---------------------------------------------------------------- submit


@click.group("submit")
def submit_group() -> None:
    """Submit a task: a script, a command or a training run."""


@submit_group.command("script")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--arg", "args", multiple=True, metavar="A", help="Argument after the entry point (repeatable).")
@click.option("--env", "env", multiple=True, metavar="K=V", help="Environment variable (repeatable).")
@scheduling_options
@client_options
def submit_script_command(opts: ClientOptions, scheduling: Scheduling, follow: bool, count: int, file: Path,
                          args: tuple[str, ...], env: tuple[str, ...]) -> None:
    """Run FILE on a node; its base name is the entry point."""
    try:
        env_vars = parse_env(env)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--env") from None
    try:
        source = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read {file}: {exc}", EXIT_CONFIG_ERROR) from None
    submit(opts, script_request(file, source, args, env_vars, scheduling), follow, count)


@submit_group.command("command", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("argv", nargs=-1, required=True, type=click.UNPROCESSED)
@click.option("--env", "env", multiple=True, metavar="K=V", help="Environment variable (repeatable).")
@click.option("--workdir", "working_directory", default="", metavar="DIR",
              help="Run in DIR, relative to the task's own working directory.")
@scheduling_options
@client_options
def submit_command_command(opts: ClientOptions, scheduling: Scheduling, follow: bool, count: int,
                           argv: tuple[str, ...], env: tuple[str, ...], working_directory: str) -> None:
    """Run a program on a node straight from its ARGV, with no shell: ``aifarm submit command -- echo "a b"``.

    aifarm's options come before ARGV; from the program's name on, everything is ARGV (``--`` may
    mark where it starts)."""
    try:
        env_vars = parse_env(env)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--env") from None
    submit(opts, command_request(argv, env_vars, working_directory, scheduling), follow, count)


@submit_group.command("train")
@click.option("--arch", type=click.Choice(ARCHITECTURES), default="mlp", show_default=True, help="Architecture.")
@click.option("--epochs", type=click.IntRange(1, 1000), default=1, show_default=True, help="Passes over the data.")
@click.option("--batch-size", type=click.IntRange(1, 256), help="Samples per step [32].")
@click.option("--lr", type=click.FloatRange(0.0001, 1.0), help="Learning rate [0.001].")
@click.option("--optimizer", type=click.Choice(OPTIMIZERS), help="Optimizer [adam].")
@click.option("--loss", type=click.Choice(LOSSES), help="Loss function [cross_entropy].")
@click.option("--seed", type=int, default=0, help="Seed for weights, shuffling and synthetic data.")
@click.option("--device", type=click.Choice(("auto", "cpu", "cuda")), help="Where to train [auto].")
@click.option("--dataset", metavar="NAME", help="Train on a registry dataset instead of synthetic data.")
@click.option("--samples", type=click.IntRange(min=1), help="Synthetic samples [512].")
@click.option("--features", type=click.IntRange(min=1), help="Synthetic features per sample [16].")
@click.option("--classes", type=click.IntRange(min=1), help="Synthetic classes [4].")
@click.option("--image-size", type=click.IntRange(min=1), help="Synthetic image side in pixels [tabular data].")
@scheduling_options
@client_options
def submit_train_command(opts: ClientOptions, scheduling: Scheduling, follow: bool, count: int, arch: str, epochs: int,
                         batch_size: int | None, lr: float | None, optimizer: str | None, loss: str | None,
                         seed: int, device: str | None, dataset: str | None, samples: int | None,
                         features: int | None, classes: int | None, image_size: int | None) -> None:
    """Train a torch model on a dataset or on synthetic data."""
    synthetic = {"--samples": samples, "--features": features, "--classes": classes, "--image-size": image_size}
    given = [flag for flag, value in synthetic.items() if value is not None]
    if dataset is not None and given:
        raise click.UsageError(f"--dataset cannot be combined with {', '.join(given)}")
    options = TrainingOptions(
        architecture=arch, epochs=epochs, batch_size=batch_size or 0, learning_rate=lr or 0.0,
        optimizer=optimizer or "", loss_function=loss or "", seed=seed, device=device or "",
        dataset=dataset, samples=samples or 0, features=features or 0, classes=classes or 0,
        image_size=image_size or 0,
    )
    submit(opts, training_request(options, scheduling), follow, count)


#: Tasks per BatchCreateTasks call (the controller's limit).
MAX_BATCH = 1000


def submit(opts: ClientOptions, request: task_service_pb2.CreateTaskRequest, follow: bool, count: int = 1) -> None:
    """Create the task (or `count` copies of it), print it, and follow it when asked."""
    if count > 1:
        if follow:
            raise click.UsageError("--follow watches one task; leave it out with --count")
        submit_array(opts, request, count)
        return
    with opts.connect() as client:
        task = client.call(client.tasks.CreateTask, request)
        if opts.as_json:
            click.echo(out.json_line(task) if follow else out.json_document(out.message_dict(task)))
        else:
            click.echo(f"submitted {task.name} ({out.state_label(task.state)})")
        if follow:
            exit_code = follow_task(client, task.name, opts.as_json)
            click.get_current_context().exit(exit_code)


def submit_array(opts: ClientOptions, request: task_service_pb2.CreateTaskRequest, count: int) -> None:
    """`count` copies of the request in BatchCreateTasks calls of at most MAX_BATCH: one commit and one
    round trip per call rather than per task. Each copy has a request id of its own, so a call retried
    after a lost answer creates nothing twice. Prints the tasks' names, one a line."""
    copies = []
    for i in range(count):
        copy = task_service_pb2.CreateTaskRequest()
        copy.CopyFrom(request)
        copy.request_id = f"{request.request_id}-{i}" if request.request_id else ""
        if request.task.display_name:
            copy.task.display_name = f"{request.task.display_name} [{i}]"
        copies.append(copy)
    created = []
    with opts.connect() as client:
        for start in range(0, count, MAX_BATCH):
            batch = task_service_pb2.BatchCreateTasksRequest(requests=copies[start : start + MAX_BATCH])
            created += client.call(client.tasks.BatchCreateTasks, batch).tasks
    if opts.as_json:
        click.echo(out.json_document([out.message_dict(t) for t in created]))
    else:
        click.echo("\n".join(f"submitted {t.name} ({out.state_label(t.state)})" for t in created))


# ----------------------------------------------------------------- tasks


@click.command("tasks")
@click.option("--state", "states", multiple=True, type=click.Choice(list(TASK_STATES), case_sensitive=False),
              help="Only tasks in this state (repeatable).")
@click.option("--node", metavar="NODE", help="Only tasks on this node.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True, help="At most this many.")
@client_options
def tasks_command(opts: ClientOptions, states: tuple[str, ...], node: str | None, limit: int) -> None:
    """List tasks, newest first."""
    state_values = [TASK_STATES[s.lower()] for s in states]
    node_name = (node if node.startswith("nodes/") else f"nodes/{node}") if node else ""
    with opts.connect() as client:
        tasks = list_tasks(client, state_values, node_name, limit)
    if opts.as_json:
        click.echo(out.json_document([out.message_dict(t) for t in tasks]))
    elif not tasks:
        click.echo("no tasks")
    else:
        click.echo(out.table(out.TASK_HEADERS, (out.task_row(t) for t in tasks)))


def list_tasks(client: ControllerClient, states: list[int], node: str, limit: int) -> list[task_pb2.Task]:
    """Up to ``limit`` tasks, following page tokens, newest first."""
    tasks: list[task_pb2.Task] = []
    token = ""
    while len(tasks) < limit:
        request = task_service_pb2.ListTasksRequest(
            page_size=min(limit - len(tasks), MAX_PAGE_SIZE), page_token=token, states=states, node=node
        )
        response = client.call(client.tasks.ListTasks, request)
        tasks.extend(response.tasks)
        token = response.next_page_token
        if not token or not response.tasks:
            break
    tasks = tasks[:limit]
    # The controller lists newest first; a stable sort keeps its order for equal times.
    tasks.sort(key=lambda t: (t.create_time.seconds, t.create_time.nanos), reverse=True)
    return tasks


@click.command("task")
@click.argument("task_id")
@client_options
def task_command(opts: ClientOptions, task_id: str) -> None:
    """Show one task: state, reason, attempt, node, progress, metrics, result, artifacts."""
    name = task_name(task_id)
    with opts.connect() as client:
        task = client.call(client.tasks.GetTask, task_service_pb2.GetTaskRequest(name=name), f"task {name}")
    click.echo(out.json_document(out.message_dict(task)) if opts.as_json else out.task_details(task))


# ------------------------------------------------------------------ logs


@click.command("logs")
@click.argument("task_id")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines until the task ends.")
@click.option("--tail", type=click.IntRange(min=1), help="Only the last N lines (without --follow).")
@client_options
def logs_command(opts: ClientOptions, task_id: str, follow: bool, tail: int | None) -> None:
    """Print a task's log."""
    name = task_name(task_id)
    subject = f"task {name}"
    with opts.connect() as client:
        if follow:
            request = task_service_pb2.StreamTaskLogsRequest(parent=name, follow=True)
            with closing(client.stream(client.tasks.StreamTaskLogs, request, subject)) as lines:
                for line in lines:
                    click.echo(out.json_line(line) if opts.as_json else out.log_text(line))
            return
        lines = list_all_logs(client, name, tail or 0, subject)
    if opts.as_json:
        click.echo(out.json_document([out.message_dict(line) for line in lines]))
    else:
        for line in lines:
            click.echo(out.log_text(line))


def list_all_logs(client: ControllerClient, name: str, tail: int, subject: str) -> list[task_pb2.LogLine]:
    """Every stored line (or the last ``tail``), following page tokens."""
    lines: list[task_pb2.LogLine] = []
    token = ""
    while True:
        request = task_service_pb2.ListTaskLogsRequest(parent=name, page_token=token, tail=tail)
        response = client.call(client.tasks.ListTaskLogs, request, subject)
        lines.extend(response.lines)
        token = response.next_page_token
        if not token or not response.lines:
            return lines


# ----------------------------------------------------------------- watch


@click.command("watch")
@click.argument("task_id")
@client_options
def watch_command(opts: ClientOptions, task_id: str) -> None:
    """Follow a task until it ends; exit 0 if it completed, 1 otherwise."""
    with opts.connect() as client:
        exit_code = follow_task(client, task_name(task_id), opts.as_json)
    click.get_current_context().exit(exit_code)


def follow_task(client: ControllerClient, name: str, as_json: bool) -> int:
    """Print a task's progress until it is terminal; the exit code it deserves."""
    subject = f"task {name}"
    request = task_service_pb2.WatchTaskRequest(name=name)
    tty = not as_json and sys.stdout.isatty()
    last: task_pb2.Task | None = None
    with (
        closing(client.stream(client.tasks.WatchTask, request, subject)) as updates,
        closing(progress_printer(updates, as_json, tty)) as printed,
    ):
        for task in printed:
            last = task
            if task.state in TERMINAL_STATES:
                break
    if last is None or last.state not in TERMINAL_STATES:
        last = client.call(client.tasks.GetTask, task_service_pb2.GetTaskRequest(name=name), subject)
        if last.state not in TERMINAL_STATES:
            state = out.state_label(last.state)
            raise CliError(f"the watch on {name} ended while it is {state}; run `aifarm watch` again")
    if not as_json:
        click.echo(out.final_line(last))
    return 0 if last.state == task_pb2.TASK_STATE_COMPLETED else 1


def progress_printer(updates: Iterator[task_pb2.Task], as_json: bool, tty: bool) -> Iterator[task_pb2.Task]:
    """Print each update as it passes: JSON lines, a redrawn bar on a TTY, else changed lines."""
    previous = ""
    try:
        for task in updates:
            if as_json:
                click.echo(out.json_line(task))
            elif tty:
                width = max(shutil.get_terminal_size().columns - 1, 20)
                click.echo("\r" + out.progress_bar(task)[:width] + "\x1b[K", nl=False)
            else:
                line = out.progress_line(task)
                if line != previous:
                    click.echo(line)
                previous = line
            yield task
    finally:
        if tty:
            click.echo()


# --------------------------------------------------------------- control


@dataclass(frozen=True)
class Control:
    """One of the control commands: the RPC it calls and the states that mean it took effect."""

    verb: str
    """The command's name: ``cancel``, ``pause``, ..."""
    past: str
    """What the command prints once it took effect: ``cancelled``, ``paused``, ..."""
    rpc: str
    """The TaskService method."""
    request_type: type
    """That method's request message."""
    settled: frozenset[int]
    """States in which the request has taken effect."""
    doc: str
    """The command's help."""


CONTROLS = (
    Control("cancel", "cancelled", "CancelTask", task_service_pb2.CancelTaskRequest, TERMINAL_STATES,
            "Cancel a task: a pending one never runs, a running one is killed."),
    Control("pause", "paused", "PauseTask", task_service_pb2.PauseTaskRequest,
            frozenset({task_pb2.TASK_STATE_PAUSED}), "Pause a running task; it keeps its resources."),
    Control("resume", "resumed", "ResumeTask", task_service_pb2.ResumeTaskRequest,
            frozenset({task_pb2.TASK_STATE_RUNNING}), "Resume a paused task."),
    Control("stop", "stopped", "StopTask", task_service_pb2.StopTaskRequest, TERMINAL_STATES,
            "Stop a task gracefully: training ends after its current step."),
    Control("restart", "restarted", "RestartTask", task_service_pb2.RestartTaskRequest,
            frozenset(set(task_pb2.TaskState.values()) - TERMINAL_STATES - {task_pb2.TASK_STATE_UNSPECIFIED}),
            "Run an ended task again; its next placement is a new attempt."),
)  # fmt: skip

#: How long a control command waits, by default, for its node to carry it out.
CONTROL_WAIT_SECONDS = 10.0


def control_command(control: Control) -> click.Command:
    """A command that calls one of CancelTask, PauseTask, ResumeTask, StopTask.

    The controller answers once it has sent the request to the task's node; the
    node reports the new state a moment later. So the command waits (``--wait``)
    until the task is in a state that shows the request took effect.
    """

    @click.command(control.verb, help=f"{control.doc} Waits until the task's node has done it (see --wait).")
    @click.argument("task_id")
    @click.option("--wait", type=click.FloatRange(min=0), default=CONTROL_WAIT_SECONDS, show_default=True,
                  metavar="SECONDS", help="How long to wait for the task to get there; 0 returns at once.")
    @client_options
    def command(opts: ClientOptions, task_id: str, wait: float) -> None:
        name = task_name(task_id)
        with opts.connect() as client:
            task = client.call(getattr(client.tasks, control.rpc), control.request_type(name=name), f"task {name}")
            if wait and task.state not in control.settled:
                task = wait_for_state(client, name, control.settled, wait)
        settled = task.state in control.settled
        state = out.state_label(task.state)
        if opts.as_json:
            click.echo(out.json_document(out.message_dict(task)))
        elif settled:
            click.echo(f"{control.past} {task.name} (now {state})")
        elif not wait:
            click.echo(f"asked to {control.verb} {task.name} (now {state})")
        if wait and not settled:
            ended = task.state in TERMINAL_STATES
            raise CliError(
                f"asked to {control.verb} {task.name}, but it "
                + (f"ended {state} first" if ended else f"is still {state} after {wait:g} s")
            )

    return command


@click.command("delete")
@click.argument("task_id")
@client_options
def delete_command(opts: ClientOptions, task_id: str) -> None:
    """Delete a task with its logs, metrics and artifacts; a running attempt is cancelled on its node."""
    name = task_name(task_id)
    with opts.connect() as client:
        client.call(client.tasks.DeleteTask, task_service_pb2.DeleteTaskRequest(name=name), f"task {name}")
    click.echo(out.json_document({"name": name, "deleted": True}) if opts.as_json else f"deleted {name}")


def wait_for_state(client: ControllerClient, name: str, wanted: frozenset[int], seconds: float) -> task_pb2.Task:
    """Watch a task until its state is one of ``wanted`` or terminal, for at most ``seconds``; the last seen."""
    request = task_service_pb2.WatchTaskRequest(name=name)
    subject = f"task {name}"
    last: task_pb2.Task | None = None
    with closing(client.stream(client.tasks.WatchTask, request, subject, timeout=seconds)) as updates:
        for task in updates:
            last = task
            if task.state in wanted or task.state in TERMINAL_STATES:
                break
    if last is None:
        last = client.call(client.tasks.GetTask, task_service_pb2.GetTaskRequest(name=name), subject)
    return last


def add_client_commands(group: click.Group) -> None:
    """Register the terminal client's commands on ``group`` (the ``aifarm`` group)."""
    for command in (
        nodes_command,
        token_group,
        submit_group,
        tasks_command,
        task_command,
        logs_command,
        watch_command,
        *(control_command(control) for control in CONTROLS),
        delete_command,
    ):
        group.add_command(command)
