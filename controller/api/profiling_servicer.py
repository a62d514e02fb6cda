"""aifarm.v1.ProfilingService: the profiling sessions (controller.domain.profiling) as a resource."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
from google.api import httpbody_pb2

from aifarm.v1 import profiling_pb2, profiling_service_pb2 as pb
from aifarm.v1 import profiling_service_pb2_grpc
from controller.api.convert_common import resource_id, timestamp
from controller.api.errors import maps_domain_errors
from controller.api.http_body import http_body_stream
from controller.api.profiling_report import plot_png, report_json
from controller.domain.errors import InvalidArgument
from controller.domain.profiling import Frame, ProfilingSession, ProfilingSessions

#: The largest page of frames when none is asked for.
DEFAULT_FRAMES = 1000


def session_to_proto(session: ProfilingSession, frame_count: int) -> profiling_pb2.ProfilingSession:
    return profiling_pb2.ProfilingSession(
        name=f"profilingSessions/{session.id}", sampling_frequency_ms=session.sampling_frequency_ms,
        report_metrics=session.report_metrics, nodes=[f"nodes/{n}" for n in session.nodes],
        enable_nvlink_profiling=session.enable_nvlink, enable_bandwidth_profiling=session.enable_bandwidth,
        active=session.active, start_time=timestamp(session.start_time), end_time=timestamp(session.end_time),
        frame_count=frame_count,
    )  # fmt: skip


def session_from_proto(msg: profiling_pb2.ProfilingSession, session_id: str) -> ProfilingSession:
    return ProfilingSession(id=session_id, sampling_frequency_ms=msg.sampling_frequency_ms,
                            report_metrics=tuple(msg.report_metrics),
                            nodes=tuple(resource_id(n, "nodes") for n in msg.nodes),
                            enable_nvlink=msg.enable_nvlink_profiling, enable_bandwidth=msg.enable_bandwidth_profiling)  # fmt: skip


def frame_to_proto(frame: Frame) -> profiling_pb2.ProfilingFrame:
    """The frame as its node sent it, named after the node its stream belongs to."""
    msg = profiling_pb2.ProfilingFrame.FromString(frame.payload)
    msg.node = f"nodes/{frame.node_id}"
    return msg


def _after(token: str) -> tuple[float, int]:
    if not token:
        return (0.0, 0)
    when, _, position = token.partition(":")
    try:
        return (float(when), int(position))
    except ValueError:
        raise InvalidArgument(f"invalid page_token {token[:40]!r}: give a next_page_token as it was returned") from None


@maps_domain_errors
class ProfilingServicer(profiling_service_pb2_grpc.ProfilingServiceServicer):
    def __init__(self, sessions: ProfilingSessions) -> None:
        self.sessions = sessions

    async def _shown(self, session: ProfilingSession) -> profiling_pb2.ProfilingSession:
        return session_to_proto(session, await self.sessions.count(session))

    async def CreateProfilingSession(self, request: pb.CreateProfilingSessionRequest,
                                     context: grpc.aio.ServicerContext) -> profiling_pb2.ProfilingSession:  # fmt: skip
        started = await self.sessions.start(session_from_proto(request.profiling_session, request.profiling_session_id))
        return session_to_proto(started, 0)

    async def GetProfilingSession(self, request: pb.GetProfilingSessionRequest,
                                  context: grpc.aio.ServicerContext) -> profiling_pb2.ProfilingSession:  # fmt: skip
        return await self._shown(await self.sessions.get(resource_id(request.name, "profilingSessions")))

    async def ListProfilingSessions(self, request: pb.ListProfilingSessionsRequest,
                                    context: grpc.aio.ServicerContext) -> pb.ListProfilingSessionsResponse:  # fmt: skip
        found = await self.sessions.list(active_only=request.active_only)
        return pb.ListProfilingSessionsResponse(profiling_sessions=[await self._shown(s) for s in found])

    async def StopProfilingSession(self, request: pb.StopProfilingSessionRequest,
                                   context: grpc.aio.ServicerContext) -> profiling_pb2.ProfilingSession:  # fmt: skip
        return await self._shown(await self.sessions.stop(resource_id(request.name, "profilingSessions")))

    async def GetProfilingReport(self, request: pb.GetProfilingReportRequest,
                                 context: grpc.aio.ServicerContext) -> AsyncIterator[httpbody_pb2.HttpBody]:  # fmt: skip
        if request.format not in ("", "json", "png"):
            raise InvalidArgument(f"format {request.format!r} is not json or png")
        session = await self.sessions.get(resource_id(request.name, "profilingSessions"))
        frames = [frame_to_proto(f) for f in await self.sessions.all_frames(session)]
        if request.format == "png":
            body, content_type = await asyncio.to_thread(plot_png, session, frames), "image/png"
        else:
            body, content_type = await asyncio.to_thread(report_json, session, frames), "application/json"

        async def whole() -> AsyncIterator[bytes]:
            yield body

        async for message in http_body_stream(content_type, whole()):
            yield message

    async def ListProfilingFrames(self, request: pb.ListProfilingFramesRequest,
                                  context: grpc.aio.ServicerContext) -> pb.ListProfilingFramesResponse:  # fmt: skip
        session = await self.sessions.get(resource_id(request.parent, "profilingSessions"))
        limit = request.page_size or DEFAULT_FRAMES
        page = await self.sessions.frames(session, after=_after(request.page_token), limit=limit)
        token = f"{page[-1][1].time!r}:{page[-1][0]}" if len(page) == limit else ""
        return pb.ListProfilingFramesResponse(frames=[frame_to_proto(f) for _, f in page], next_page_token=token)
