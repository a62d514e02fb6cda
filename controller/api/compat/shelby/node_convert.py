"""Nodes <-> ShelbyCompute's node shapes."""

from __future__ import annotations

import time

from aifarm.compat.shelby.v1 import node_pb2
from controller.domain.types import Capabilities, Node, NodeState, NodeUsage

STATUS = {NodeState.ONLINE: "active", NodeState.RECONNECTING: "reconnecting", NodeState.OFFLINE: "offline"}
MB_PER_GB = 1024
#: Node labels holding what ShelbyCompute's agent registers beside its specs.
PROCESSOR, CONTAINER_SUPPORTED = "processor", "containerSupported"


def specs(node: Node) -> node_pb2.NodeSpecs:
    caps, usage = node.capabilities, node.usage
    return node_pb2.NodeSpecs(
        cpuUsage=round(usage.cpu_percent, 1),
        ramUsage=round(usage.memory_percent, 1),
        totalRAM_GB=round(caps.memory_mb / MB_PER_GB, 2),
        os=caps.os,
        platform=caps.platform,
        cpuCount=caps.cpu_cores,
        gpuCount=len(caps.gpus),
        processor=node.labels.get(PROCESSOR, ""),
    )


def compute_node(node: Node, now: float | None = None) -> node_pb2.ComputeNode:
    now = time.time() if now is None else now
    return node_pb2.ComputeNode(
        nodeId=node.id,
        status=STATUS[node.state],
        lastSeen=int(node.last_seen),
        lastSeenAgo=max(0, int(now - node.last_seen)),
        specs=specs(node),
    )


def node_from_specs(node_id: str, hostname: str, given: node_pb2.NodeSpecs, *, container_supported: bool = False) -> Node:
    """A polling node from what it registers with (at least one CPU core, so it can take a job)."""
    caps = Capabilities(
        cpu_cores=max(1, given.cpuCount),
        memory_mb=int(given.totalRAM_GB * MB_PER_GB),
        os=given.os,
        platform=given.platform,
    )
    labels = {CONTAINER_SUPPORTED: "true" if container_supported else "false"}
    if given.processor:
        labels[PROCESSOR] = given.processor
    return Node(id=node_id, hostname=hostname, capabilities=caps, usage=usage(given.cpuUsage, given.ramUsage),
                labels=labels, agent_version="shelby-polling")  # fmt: skip


def usage(cpu_percent: float, ram_percent: float) -> NodeUsage:
    return NodeUsage(cpu_percent=min(max(cpu_percent, 0.0), 100.0), memory_percent=min(max(ram_percent, 0.0), 100.0))
