"""gswarm_profiler.ProfilerService (gswarm's own profiler CLI calls it): the farm's profiling sessions
and nodes in its messages. Nodes join aifarm as agents, so its node-client calls (Connect,
StreamMetrics) are refused, and so is Exit: the farm is not stopped through its profiler."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import grpc

from aifarm.v1 import profiling_pb2
from controller.api.compat.servermgmt.shapes import iso
from controller.api.errors import abort, maps_domain_errors
from controller.domain.errors import DomainError
from controller.domain.profiling import ProfilingSession, ProfilingSessions
from controller.domain.registry import NodeRegistry
from gswarm_profiler import profiler_pb2 as pb
from gswarm_profiler import profiler_pb2_grpc

CLUSTER_ID = "aifarm"


def _report_path(name: str) -> str:
    return f"/v1/profilingSessions/{name}"


@maps_domain_errors
class ProfilerGrpcServicer(profiler_pb2_grpc.ProfilerServiceServicer):
    def __init__(self, sessions: ProfilingSessions, registry: NodeRegistry) -> None:
        self.sessions = sessions
        self.registry = registry

    async def Connect(self, request: pb.InitialInfo, context: grpc.aio.ServicerContext) -> pb.ConnectResponse:
        return pb.ConnectResponse(success=False, message="nodes join aifarm as agents (`aifarm agent`), which sample"
                                  " themselves; gswarm's node client is not needed")  # fmt: skip

    async def StreamMetrics(self, request_iterator: AsyncIterator[pb.MetricsUpdate],
                            context: grpc.aio.ServicerContext) -> pb.Empty:  # fmt: skip
        await abort(context, grpc.StatusCode.UNIMPLEMENTED, "aifarm's agents send their own frames; run `aifarm agent`"
                    " on the node instead of gswarm's client", "NOT_A_NODE")  # fmt: skip
        return pb.Empty()

    async def GetStatus(self, request: pb.Empty, context: grpc.aio.ServicerContext) -> pb.StatusResponse:
        active, sampling = self.sessions.active(), self.sessions.sampling()
        counts = {s.id: await self.sessions.count(s) for s in active}
        shown = [{"name": s.id, "start_time": iso(s.start_time), "frames": counts[s.id]} for s in active]
        return pb.StatusResponse(
            freq=sampling.sampling_frequency_ms,
            enable_bandwidth_profiling=sampling.enable_bandwidth or self.sessions.default_bandwidth,
            enable_nvlink_profiling=sampling.enable_nvlink or self.sessions.default_nvlink,
            is_profiling=bool(active), output_filename=_report_path(active[-1].id) if active else "",
            frame_id_counter=sum(counts.values()), connected_clients=sorted(n.id for n in self.registry.online_nodes()),
            active_sessions_json=json.dumps(shown),
        )  # fmt: skip

    async def StartProfiling(self, request: pb.StartProfilingRequest, context: grpc.aio.ServicerContext) -> pb.StartProfilingResponse:
        try:
            started = await self.sessions.start(ProfilingSession(
                id=request.name, report_metrics=tuple(request.report_metrics),
                enable_nvlink=self.sessions.default_nvlink, enable_bandwidth=self.sessions.default_bandwidth))  # fmt: skip
        except DomainError as exc:  # gswarm's clients read success and message, not the status
            return pb.StartProfilingResponse(success=False, message=str(exc))
        return pb.StartProfilingResponse(success=True, message=f"profiling session {started.id} started",
                                         output_file=_report_path(started.id))  # fmt: skip

    async def StopProfiling(self, request: pb.StopProfilingRequest, context: grpc.aio.ServicerContext) -> pb.StopProfilingResponse:
        try:
            stopped = [await self.sessions.stop(request.name)] if request.name else await self.sessions.stop_all()
        except DomainError as exc:
            return pb.StopProfilingResponse(success=False, message=str(exc))
        names = ", ".join(s.id for s in stopped) or "nothing (no session was active)"
        return pb.StopProfilingResponse(success=True, message=f"stopped {names}")

    async def Exit(self, request: pb.Empty, context: grpc.aio.ServicerContext) -> pb.Empty:
        await abort(context, grpc.StatusCode.PERMISSION_DENIED, "the farm is not stopped through its profiler API;"
                    " stop the controller itself", "NOT_ALLOWED")  # fmt: skip
        return pb.Empty()

    async def ReadClusterStatus(self, request: pb.ReadClusterStatusRequest,
                                context: grpc.aio.ServicerContext) -> pb.ClusterStatusResponse:  # fmt: skip
        nodes = [self._node_status(n.id) for n in sorted(self.registry.online_nodes(), key=lambda n: n.id)]
        return pb.ClusterStatusResponse(success=True, message=f"{len(nodes)} nodes", cluster_id=CLUSTER_ID, nodes=nodes)

    async def ReadNodeStatus(self, request: pb.ReadNodeStatusRequest, context: grpc.aio.ServicerContext) -> pb.NodeStatusResponse:
        if request.node_id not in self.registry.nodes:
            return pb.NodeStatusResponse(success=False, message=f"node {request.node_id!r} not found")
        return pb.NodeStatusResponse(success=True, message="ok", node_status=self._node_status(request.node_id))

    async def SetBandwidthProfiling(self, request: pb.SetBandwidthProfilingRequest,
                                    context: grpc.aio.ServicerContext) -> pb.SetBandwidthProfilingResponse:  # fmt: skip
        self.sessions.default_bandwidth = request.enable
        return pb.SetBandwidthProfilingResponse(success=True, message=f"bandwidth profiling {_on(request.enable)}"
                                                " for the sessions started from now on")  # fmt: skip

    async def SetNVLinkProfiling(self, request: pb.SetNVLinkProfilingRequest,
                                 context: grpc.aio.ServicerContext) -> pb.SetNVLinkProfilingResponse:  # fmt: skip
        self.sessions.default_nvlink = request.enable
        return pb.SetNVLinkProfilingResponse(success=True, message=f"NVLink profiling {_on(request.enable)}"
                                             " for the sessions started from now on")  # fmt: skip

    def _node_status(self, node_id: str) -> pb.NodeStatus:
        """From the node's latest frame while sessions record, else from its heartbeat."""
        node = self.registry.nodes[node_id]
        names = {g.index: g.name for g in node.capabilities.gpus}
        totals = {g.index: g.memory_mb for g in node.capabilities.gpus}
        latest = self.sessions.latest().get(node_id)
        if latest is not None:
            frame = profiling_pb2.ProfilingFrame.FromString(latest.payload)
            gpus = [pb.GPUStatus(gpu_id=g.index, utilization=g.utilization_percent, memory_used=g.memory_used_mb,
                                 memory_total=g.memory_total_mb, dram_bandwidth=g.memory_bandwidth_percent,
                                 nvlink_bandwidth=g.nvlink_kib, temperature=g.temperature_c, power=g.power_w,
                                 device_type=names.get(g.index, "")) for g in frame.gpus]  # fmt: skip
        else:
            gpus = [pb.GPUStatus(gpu_id=g.index, utilization=g.utilization_percent, memory_used=g.memory_used_mb,
                                 memory_total=totals.get(g.index, 0), dram_bandwidth=-1, nvlink_bandwidth=-1,
                                 temperature=g.temperature_c, power=g.power_w, device_type=names.get(g.index, ""))
                    for g in node.usage.gpus]  # fmt: skip
        return pb.NodeStatus(node_id=node_id, gpus=gpus)


def _on(enabled: bool) -> str:
    return "on" if enabled else "off"
