"""A profiling session's report: a JSON document (the session, its frames, per-GPU and per-node
summary statistics) and a PNG plot (utilisation and memory over time, one line per GPU; CPU per node
where there are no GPUs), both built from the frames the store holds.

matplotlib is imported only here, when a plot is drawn, with its non-interactive Agg backend.
"""

from __future__ import annotations

import io
import json
import statistics
from collections.abc import Sequence
from typing import Any

from google.protobuf import json_format

from aifarm.v1 import profiling_pb2
from controller.api.compat.servermgmt.shapes import iso
from controller.domain.profiling import ProfilingSession


def _summary(values: Sequence[float]) -> dict[str, float]:
    return {"min": round(min(values), 2), "max": round(max(values), 2), "mean": round(statistics.fmean(values), 2)}


def report(session: ProfilingSession, frames: Sequence[profiling_pb2.ProfilingFrame]) -> dict[str, Any]:
    gpus: dict[str, list[profiling_pb2.GpuSample]] = {}
    nodes: dict[str, list[profiling_pb2.ProfilingFrame]] = {}
    for frame in frames:
        nodes.setdefault(frame.node, []).append(frame)
        for gpu in frame.gpus:
            gpus.setdefault(f"{frame.node.removeprefix('nodes/')}:gpu{gpu.index}", []).append(gpu)
    return {
        "session": {"name": session.id, "active": session.active, "start_time": iso(session.start_time),
                    "end_time": iso(session.end_time) if session.end_time else None,
                    "sampling_frequency_ms": session.sampling_frequency_ms,
                    "report_metrics": list(session.report_metrics), "nodes": list(session.nodes),
                    "frames": len(frames)},
        "summary": {
            "nodes": {node.removeprefix("nodes/"): {"frames": len(fs), "cpu_percent": _summary([f.cpu_percent for f in fs]),
                                                    "memory_percent": _summary([f.memory_percent for f in fs])}
                      for node, fs in sorted(nodes.items())},
            "gpus": {key: {"samples": len(gs), "utilization_percent": _summary([g.utilization_percent for g in gs]),
                           "memory_used_mb": _summary([g.memory_used_mb for g in gs]),
                           "temperature_c": _summary([g.temperature_c for g in gs]),
                           "power_w": _summary([g.power_w for g in gs])}
                     for key, gs in sorted(gpus.items())},
        },
        "frames": [json_format.MessageToDict(f, preserving_proto_field_name=True) for f in frames],
    }  # fmt: skip


def report_json(session: ProfilingSession, frames: Sequence[profiling_pb2.ProfilingFrame]) -> bytes:
    return json.dumps(report(session, frames), indent=1).encode()


def plot_png(session: ProfilingSession, frames: Sequence[profiling_pb2.ProfilingFrame]) -> bytes:
    """Utilisation and memory over time, one line per GPU (per node CPU and RAM where there is no GPU)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    start = session.start_time
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    lines: dict[str, tuple[list[float], list[float], list[float]]] = {}
    for frame in frames:
        t = frame.time.ToNanoseconds() / 1e9 - start
        node = frame.node.removeprefix("nodes/")
        if frame.gpus:
            for gpu in frame.gpus:
                xs, util, mem = lines.setdefault(f"{node}:gpu{gpu.index}", ([], [], []))
                xs.append(t), util.append(gpu.utilization_percent), mem.append(gpu.memory_used_mb)
        else:
            xs, util, mem = lines.setdefault(f"{node} (CPU, RAM)", ([], [], []))
            xs.append(t), util.append(frame.cpu_percent), mem.append(frame.memory_used_mb)
    for label, (xs, util, mem) in sorted(lines.items()):
        top.plot(xs, util, label=label)
        bottom.plot(xs, mem, label=label)
    top.set_ylabel("utilisation, %")
    bottom.set_ylabel("memory used, MiB")
    bottom.set_xlabel("seconds since the session started")
    top.set_title(f"profiling session {session.id}")
    if lines:
        top.legend(loc="upper right", fontsize="small")
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=80)
    plt.close(figure)
    return out.getvalue()
