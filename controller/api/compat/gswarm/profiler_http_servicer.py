"""gswarm's profiler HTTP control API (/status, /profiling/*, /clients, /metrics/latest): the farm's
profiling sessions (controller.domain.profiling) and nodes in gswarm's shapes."""

from __future__ import annotations

import grpc

from aifarm.compat.gswarm.v1 import profiler_http_service_pb2 as pb
from aifarm.compat.gswarm.v1 import profiler_http_service_pb2_grpc
from aifarm.compat.gswarm.v1.host_model_service_pb2 import ActionResponse
from aifarm.v1 import profiling_pb2
from controller.api.compat.gswarm import model_shapes as shapes
from controller.api.compat.servermgmt.shapes import iso
from controller.api.errors import maps_domain_errors
from controller.domain.errors import InvalidArgument
from controller.domain.profiling import ProfilingSession, ProfilingSessions
from controller.domain.registry import NodeRegistry
from controller.domain.types import NodeState

CLIENT_STATUS = {NodeState.ONLINE: "healthy", NodeState.RECONNECTING: "reconnecting", NodeState.OFFLINE: "offline"}


@maps_domain_errors
class ProfilerHttpServicer(profiler_http_service_pb2_grpc.ProfilerHttpServiceServicer):
    def __init__(self, sessions: ProfilingSessions, registry: NodeRegistry) -> None:
        self.sessions = sessions
        self.registry = registry

    async def GetProfilerStatus(self, request: pb.GetProfilerStatusRequest, context: grpc.aio.ServicerContext) -> pb.ProfilerStatus:
        active, sampling = self.sessions.active(), self.sessions.sampling()
        shown = [pb.ActiveSession(name=s.id, start_time=iso(s.start_time), frames_collected=await self.sessions.count(s))
                 for s in active]  # fmt: skip
        return pb.ProfilerStatus(
            is_profiling=bool(active), active_sessions=shown, connected_clients=self.registry.online_count(),
            enable_bandwidth_profiling=sampling.enable_bandwidth, enable_nvlink_profiling=sampling.enable_nvlink,
            sampling_frequency_ms=sampling.sampling_frequency_ms,
        )  # fmt: skip

    async def StartProfiling(self, request: pb.StartProfilingRequest, context: grpc.aio.ServicerContext) -> ActionResponse:
        if not request.name:
            raise InvalidArgument("name is required: the session's name", reason="INVALID_REQUEST")
        started = await self.sessions.start(ProfilingSession(
            id=request.name, sampling_frequency_ms=request.sampling_frequency_ms,
            report_metrics=tuple(request.report_metrics), nodes=tuple(request.nodes),
            enable_nvlink=request.enable_nvlink_profiling, enable_bandwidth=request.enable_bandwidth_profiling))  # fmt: skip
        return shapes.action(f"Profiling session {started.id} started", name=started.id,
                             start_time=iso(started.start_time), sampling_frequency_ms=started.sampling_frequency_ms)  # fmt: skip

    async def StopProfiling(self, request: pb.StopProfilingRequest, context: grpc.aio.ServicerContext) -> ActionResponse:
        stopped = [await self.sessions.stop(request.name)] if request.name else await self.sessions.stop_all()
        names = [s.id for s in stopped]
        return shapes.action(f"Stopped {', '.join(names)}" if names else "No session was active", stopped=names)

    async def ListProfilingSessions(self, request: pb.ListProfilingSessionsRequest,
                                    context: grpc.aio.ServicerContext) -> pb.ProfilingSessions:  # fmt: skip
        return pb.ProfilingSessions(sessions=[
            pb.ProfilingSessionSummary(name=s.id, active=s.active, start_time=iso(s.start_time),
                                       frames=await self.sessions.count(s), end_time=iso(s.end_time) if s.end_time else "",
                                       json_file=f"/v1/profilingSessions/{s.id}/report",
                                       plot_file=f"/v1/profilingSessions/{s.id}/report?format=png")
            for s in await self.sessions.list()])  # fmt: skip

    async def ListProfilerClients(self, request: pb.ListProfilerClientsRequest,
                                  context: grpc.aio.ServicerContext) -> pb.ProfilerClients:  # fmt: skip
        nodes = sorted(self.registry.nodes.values(), key=lambda n: n.id)
        return pb.ProfilerClients(clients=[pb.ProfilerClient(
            client_id=n.id, hostname=n.hostname, last_update=iso(n.last_seen), status=CLIENT_STATUS[n.state],
            gpus=[pb.ProfilerGpu(device_id=g.index, name=g.name, memory_total=g.memory_mb,
                                 compute_capability=g.compute_capability) for g in n.capabilities.gpus])
            for n in nodes])  # fmt: skip

    async def GetLatestMetrics(self, request: pb.GetLatestMetricsRequest, context: grpc.aio.ServicerContext) -> pb.LatestMetrics:
        latest = self.sessions.latest()
        return pb.LatestMetrics(metrics=[_node_metrics(node_id, profiling_pb2.ProfilingFrame.FromString(latest[node_id].payload))
                                         for node_id in sorted(latest)])  # fmt: skip


def _node_metrics(node_id: str, frame: profiling_pb2.ProfilingFrame) -> pb.NodeMetrics:
    return pb.NodeMetrics(
        client_id=node_id, timestamp=iso(frame.time.ToNanoseconds() / 1e9), cpu_percent=round(frame.cpu_percent, 1),
        memory_percent=round(frame.memory_percent, 1), memory_used_mb=frame.memory_used_mb,
        gpus=[pb.GpuMetrics(device_id=g.index, gpu_util=g.utilization_percent, mem_util=g.memory_utilization_percent,
                            mem_used_mb=g.memory_used_mb, mem_total_mb=g.memory_total_mb, temperature=g.temperature_c,
                            power=round(g.power_w, 1)) for g in frame.gpus],
    )  # fmt: skip
