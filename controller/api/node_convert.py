"""Node domain <-> aifarm.v1 messages."""

from __future__ import annotations

from aifarm.v1 import node_pb2
from controller.api.convert_common import timestamp
from controller.api.task_convert import resources_to_proto
from controller.domain.nodes import NodeView
from controller.domain.types import Capabilities, Gpu, GpuUsage, Node, NodeState, NodeUsage

STATE_TO_PROTO = {
    NodeState.ONLINE: node_pb2.NODE_STATE_ONLINE,
    NodeState.RECONNECTING: node_pb2.NODE_STATE_RECONNECTING,
    NodeState.OFFLINE: node_pb2.NODE_STATE_OFFLINE,
}
STATE_FROM_PROTO = {v: k for k, v in STATE_TO_PROTO.items()}


def capabilities_from_proto(c: node_pb2.Capabilities) -> Capabilities:
    return Capabilities(
        cpu_cores=c.cpu_cores,
        memory_mb=c.memory_mb,
        gpus=tuple(Gpu(g.index, g.uuid, g.name, g.memory_mb, g.compute_capability) for g in c.gpus),
        os=c.os,
        platform=c.platform,
        python_version=c.python_version,
        torch_version=c.torch_version,
        disk_bytes=c.disk_bytes,
    )


def usage_from_proto(u: node_pb2.NodeUsage) -> NodeUsage:
    return NodeUsage(
        cpu_percent=u.cpu_percent,
        memory_percent=u.memory_percent,
        memory_used_mb=u.memory_used_mb,
        load_average=u.load_average,
        gpus=tuple(
            GpuUsage(g.index, g.utilization_percent, g.memory_used_mb, g.temperature_c, g.power_w) for g in u.gpus
        ),
    )


def _capabilities_to_proto(c: Capabilities) -> node_pb2.Capabilities:
    return node_pb2.Capabilities(
        cpu_cores=c.cpu_cores,
        memory_mb=c.memory_mb,
        gpus=[
            node_pb2.Gpu(index=g.index, uuid=g.uuid, name=g.name, memory_mb=g.memory_mb,
                         compute_capability=g.compute_capability)  # fmt: skip
            for g in c.gpus
        ],
        os=c.os,
        platform=c.platform,
        python_version=c.python_version,
        torch_version=c.torch_version,
        disk_bytes=c.disk_bytes,
    )


def _usage_to_proto(u: NodeUsage) -> node_pb2.NodeUsage:
    return node_pb2.NodeUsage(
        cpu_percent=u.cpu_percent,
        memory_percent=u.memory_percent,
        memory_used_mb=u.memory_used_mb,
        load_average=u.load_average,
        gpus=[
            node_pb2.GpuUsage(index=g.index, utilization_percent=g.utilization_percent,
                              memory_used_mb=g.memory_used_mb, temperature_c=g.temperature_c, power_w=g.power_w)
            for g in u.gpus
        ],  # fmt: skip
    )


def node_to_proto(view: NodeView) -> node_pb2.Node:
    n: Node = view.node
    return node_pb2.Node(
        name=f"nodes/{n.id}",
        hostname=n.hostname,
        state=STATE_TO_PROTO[n.state],
        capabilities=_capabilities_to_proto(n.capabilities),
        usage=_usage_to_proto(n.usage),
        allocated=resources_to_proto(view.allocated),
        last_seen_time=timestamp(n.last_seen),
        create_time=timestamp(n.create_time),
        agent_version=n.agent_version,
        tasks=[f"tasks/{t}" for t in view.task_ids],
        labels=n.labels,
        revoke_time=timestamp(view.revoke_time),
    )
