"""Turning aifarm.v1 messages into what a person or a script reads."""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable, Sequence

from google.protobuf import json_format
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from aifarm.v1 import node_pb2, task_pb2

from cli.client_requests import short_name

BAR_WIDTH = 30


def message_dict(message: Message) -> dict:
    """proto3 JSON of a message, with proto field names and zero values."""
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def json_document(value: object) -> str:
    """Pretty JSON for a whole answer (an object or an array)."""
    return json.dumps(value, indent=2, sort_keys=False)


def json_line(message: Message) -> str:
    """One compact JSON object per line, for streams (NDJSON)."""
    return json.dumps(message_dict(message), separators=(",", ":"))


def enum_label(value: int, enum_type: object, prefix: str) -> str:
    """``TASK_STATE_RUNNING`` -> ``RUNNING``; unknown numbers print as themselves."""
    try:
        name = enum_type.Name(value)  # type: ignore[attr-defined]
    except ValueError:
        return str(value)
    return name.removeprefix(prefix) if name != f"{prefix}UNSPECIFIED" else "-"


def state_label(state: int) -> str:
    """Short label of a TaskState."""
    return enum_label(state, task_pb2.TaskState, "TASK_STATE_")


def priority_label(priority: int) -> str:
    """Short label of a TaskPriority."""
    return enum_label(priority, task_pb2.TaskPriority, "TASK_PRIORITY_")


def node_state_label(state: int) -> str:
    """Short label of a NodeState."""
    return enum_label(state, node_pb2.NodeState, "NODE_STATE_")


def format_time(ts: Timestamp) -> str:
    """Local time to the second, or '-' when unset."""
    if not ts.seconds and not ts.nanos:
        return "-"
    return ts.ToDatetime().astimezone().strftime("%Y-%m-%d %H:%M:%S")


def format_mib(mib: int) -> str:
    """MiB as a short human size."""
    if mib >= 1024:
        return f"{mib / 1024:.1f} GiB"
    return f"{mib} MiB"


def format_metrics(metrics: dict[str, float] | object) -> str:
    """``loss=0.1234 accuracy=0.9``, keys sorted."""
    items = sorted(dict(metrics).items())  # type: ignore[call-overload]
    return " ".join(f"{k}={v:.4g}" for k, v in items)


def task_kind(task: task_pb2.Task) -> str:
    """``script`` or ``training``, or '-' when neither."""
    return task.WhichOneof("spec") or "-"


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Left-aligned columns separated by two spaces."""
    rows = [list(map(str, r)) for r in rows]
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [list(headers), *rows]]
    return "\n".join(lines)


NODE_HEADERS = ("NODE", "HOSTNAME", "STATE", "CPUS", "MEMORY", "GPUS", "USAGE", "TASKS")


def node_usage(node: node_pb2.Node) -> str:
    """``cpu 12% mem 40% gpu 55%`` from the latest heartbeat."""
    usage = node.usage
    parts = [f"cpu {usage.cpu_percent:.0f}%", f"mem {usage.memory_percent:.0f}%"]
    if usage.gpus:
        mean = sum(g.utilization_percent for g in usage.gpus) / len(usage.gpus)
        parts.append(f"gpu {mean:.0f}%")
    return " ".join(parts)


def node_gpus(node: node_pb2.Node) -> str:
    """``2x NVIDIA H100 80GB HBM3`` or ``0``."""
    gpus = node.capabilities.gpus
    if not gpus:
        return "0"
    names = sorted({g.name for g in gpus})
    return f"{len(gpus)}x {names[0]}" if len(names) == 1 else f"{len(gpus)} ({', '.join(names)})"


def node_row(node: node_pb2.Node) -> list[str]:
    """One line of the nodes table."""
    caps = node.capabilities
    return [
        short_name(node.name),
        node.hostname or "-",
        node_state_label(node.state),
        str(caps.cpu_cores),
        format_mib(caps.memory_mb),
        node_gpus(node),
        node_usage(node),
        str(len(node.tasks)),
    ]


TASK_HEADERS = ("ID", "NAME", "KIND", "STATE", "PRIORITY", "PROGRESS", "NODE", "CREATED")


def task_row(task: task_pb2.Task) -> list[str]:
    """One line of the tasks table."""
    return [
        short_name(task.name),
        task.display_name or "-",
        task_kind(task),
        state_label(task.state),
        priority_label(task.priority),
        f"{task.progress * 100:.0f}%",
        short_name(task.node) or "-",
        format_time(task.create_time),
    ]


def task_details(task: task_pb2.Task) -> str:
    """Every field a person asks about, one ``key: value`` a line."""
    res = task.resources
    lines = [
        ("task", task.name),
        ("name", task.display_name or "-"),
        ("kind", task_kind(task)),
        ("state", state_label(task.state)),
        ("reason", task.state_reason or "-"),
        ("priority", priority_label(task.priority)),
        ("attempt", str(task.attempt)),
        ("node", task.node or "-"),
        ("progress", f"{task.progress * 100:.1f}%"),
        (
            "resources",
            f"gpus={res.gpus} cpus={res.cpu_cores:g} memory={format_mib(res.memory_mb)}",
        ),
    ]
    if task.depends_on:
        lines.append(("after", ", ".join(task.depends_on)))
    if task.WhichOneof("spec") == "script":
        lines.append(("entrypoint", " ".join([task.script.entrypoint, *task.script.args])))
    elif task.WhichOneof("spec") == "command":
        lines.append(("command", shlex.join(task.command.argv)))
    elif task.WhichOneof("spec") == "training":
        spec = task.training
        data = spec.dataset if spec.WhichOneof("data") == "dataset" else "synthetic"
        lines.append(("training", f"{spec.architecture} epochs={spec.epochs} data={data}"))
    lines.append(("metrics", format_metrics(task.metrics) or "-"))
    if task.HasField("result"):
        result = task.result
        lines.append(("exit code", str(result.exit_code)))
        if result.output_sha256:
            lines.append(("output sha256", result.output_sha256))
        if result.error:
            lines.append(("error", result.error))
    for label, ts in (
        ("created", task.create_time),
        ("started", task.start_time),
        ("ended", task.end_time),
    ):
        lines.append((label, format_time(ts)))
    width = max(len(k) for k, _ in lines) + 1
    text = [f"{(k + ':').ljust(width)} {v}" for k, v in lines]
    if task.artifacts:
        text.append("artifacts:")
        text.extend(
            f"  {a.name}  {a.size_bytes} bytes  sha256 {a.sha256[:12]}  attempt {a.attempt}"
            for a in task.artifacts
        )
    return "\n".join(text)


def log_text(line: task_pb2.LogLine) -> str:
    """The text of a log line; aifarm's own lines are marked."""
    if line.stream == task_pb2.LOG_STREAM_SYSTEM:
        return f"[aifarm] {line.text}"
    return line.text


def progress_bar(task: task_pb2.Task, width: int = BAR_WIDTH) -> str:
    """``[#######.......]  45%  RUNNING  loss=0.12`` for a terminal line."""
    fraction = min(max(task.progress, 0.0), 1.0)
    done = int(round(fraction * width))
    bar = "#" * done + "." * (width - done)
    text = f"[{bar}] {fraction * 100:3.0f}%  {state_label(task.state)}"
    metrics = format_metrics(task.metrics)
    return f"{text}  {metrics}" if metrics else text


def progress_line(task: task_pb2.Task) -> str:
    """A plain line for a log or a pipe: ``tasks/abc RUNNING 45% loss=0.12``."""
    parts = [task.name, state_label(task.state), f"{task.progress * 100:.0f}%"]
    metrics = format_metrics(task.metrics)
    if metrics:
        parts.append(metrics)
    if task.state_reason:
        parts.append(f"({task.state_reason})")
    return " ".join(parts)


def final_line(task: task_pb2.Task) -> str:
    """How the task ended, in one line."""
    text = f"{task.name} {state_label(task.state)}"
    if task.HasField("result"):
        if task_kind(task) in ("script", "command"):
            text += f" (exit code {task.result.exit_code})"
        if task.result.error:
            text += f": {task.result.error}"
    elif task.state_reason:
        text += f": {task.state_reason}"
    return text

