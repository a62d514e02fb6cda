"""`/metrics` in Prometheus' text exposition format (prometheus-client), with the GPU figures named
and labelled as dcgm-exporter names them, so that its Grafana dashboards work unchanged, beside the
controller's own figures.

A GPU's figures come from its node's newest profiling frame while sessions record, else from its
heartbeat (utilisation, framebuffer, temperature, power; the clocks only come with frames). Labels
as dcgm-exporter's: `gpu` (index), `UUID`, `device` (nvidiaN), `modelName`, `Hostname`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, SummaryMetricFamily
from prometheus_client.registry import Collector

from aifarm.v1 import profiling_pb2
from controller.domain.profiling import Frame
from controller.domain.task_placement import DispatchLatency
from controller.domain.types import Node, NodeState, TaskState

GPU_LABELS = ["gpu", "UUID", "device", "modelName", "Hostname"]
#: dcgm-exporter's name -> (help, the frame field, the heartbeat field or None).
DCGM_FIELDS = {
    "DCGM_FI_DEV_GPU_UTIL": ("GPU utilization (in %).", "utilization_percent", "utilization_percent"),
    "DCGM_FI_DEV_MEM_COPY_UTIL": ("Memory utilization (in %).", "memory_utilization_percent", None),
    "DCGM_FI_DEV_FB_USED": ("Framebuffer memory used (in MiB).", "memory_used_mb", "memory_used_mb"),
    "DCGM_FI_DEV_GPU_TEMP": ("GPU temperature (in C).", "temperature_c", "temperature_c"),
    "DCGM_FI_DEV_POWER_USAGE": ("Power draw (in W).", "power_w", "power_w"),
    "DCGM_FI_DEV_SM_CLOCK": ("SM clock frequency (in MHz).", "sm_clock_mhz", None),
    "DCGM_FI_DEV_MEM_CLOCK": ("Memory clock frequency (in MHz).", "memory_clock_mhz", None),
}


class FarmCollector(Collector):
    def __init__(self, nodes: Mapping[str, Node], latest: Mapping[str, Frame], tasks: Mapping[TaskState, int],
                 active_sessions: int, latency: DispatchLatency) -> None:  # fmt: skip
        self.nodes = nodes
        self.latest = latest
        self.tasks = tasks
        self.active_sessions = active_sessions
        self.latency = latency

    def collect(self) -> Iterator[GaugeMetricFamily | SummaryMetricFamily]:
        yield from self._gpus()
        yield from self._nodes()
        tasks = GaugeMetricFamily("aifarm_tasks", "Tasks of the farm by state.", labels=["state"])
        for state in TaskState:
            tasks.add_metric([state.value], self.tasks.get(state, 0))
        yield tasks
        yield GaugeMetricFamily("aifarm_profiling_sessions_active", "Profiling sessions recording.",
                                value=self.active_sessions)  # fmt: skip
        yield SummaryMetricFamily("aifarm_dispatch_latency_seconds", "From a task's creation to its placement.",
                                  count_value=self.latency.count, sum_value=self.latency.total_seconds)  # fmt: skip
        recent = GaugeMetricFamily("aifarm_dispatch_latency_recent_seconds",
                                   "Creation to placement over the last 1000 placements, by quantile.", labels=["quantile"])
        for q in (0.5, 0.9, 0.99):
            recent.add_metric([str(q)], self.latency.quantile(q))
        yield recent

    def _gpus(self) -> Iterator[GaugeMetricFamily]:
        families = {name: GaugeMetricFamily(name, help_text, labels=GPU_LABELS)
                    for name, (help_text, _, _) in DCGM_FIELDS.items()}  # fmt: skip
        free = GaugeMetricFamily("DCGM_FI_DEV_FB_FREE", "Framebuffer memory free (in MiB).", labels=GPU_LABELS)
        for node in self.nodes.values():
            if node.state is not NodeState.ONLINE:
                continue
            gpus = {g.index: g for g in node.capabilities.gpus}
            frame = self.latest.get(node.id)
            samples = {g.index: g for g in profiling_pb2.ProfilingFrame.FromString(frame.payload).gpus} if frame else {}
            beats = {g.index: g for g in node.usage.gpus}
            for index, gpu in sorted(gpus.items()):
                labels = [str(index), gpu.uuid, f"nvidia{index}", gpu.name, node.hostname or node.id]
                sample, beat = samples.get(index), beats.get(index)
                for name, (_, frame_field, beat_field) in DCGM_FIELDS.items():
                    if sample is not None:
                        families[name].add_metric(labels, float(getattr(sample, frame_field)))
                    elif beat is not None and beat_field is not None:
                        families[name].add_metric(labels, float(getattr(beat, beat_field)))
                used = sample.memory_used_mb if sample is not None else beat.memory_used_mb if beat is not None else None
                if used is not None:
                    free.add_metric(labels, float(max(gpu.memory_mb - used, 0)))
        yield from families.values()
        yield free

    def _nodes(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("aifarm_node_up", "1 while the node is online.", labels=["node", "Hostname"])
        cpu = GaugeMetricFamily("aifarm_node_cpu_percent", "CPU use of the node (in %).", labels=["node", "Hostname"])
        memory = GaugeMetricFamily("aifarm_node_memory_used_bytes", "RAM in use on the node.", labels=["node", "Hostname"])
        for node in sorted(self.nodes.values(), key=lambda n: n.id):
            labels = [node.id, node.hostname or node.id]
            up.add_metric(labels, 1.0 if node.state is NodeState.ONLINE else 0.0)
            if node.state is NodeState.ONLINE:
                frame = self.latest.get(node.id)
                figures = profiling_pb2.ProfilingFrame.FromString(frame.payload) if frame else node.usage
                cpu.add_metric(labels, float(figures.cpu_percent))
                memory.add_metric(labels, float(figures.memory_used_mb) * 2**20)
        yield from (up, cpu, memory)


def exposition(collector: FarmCollector) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return generate_latest(registry)
