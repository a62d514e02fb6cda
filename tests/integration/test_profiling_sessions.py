"""Profiling sessions over the agents' one sampling stream: two agents sample only while a session
is active, at the fastest rate an active session asks; two overlapping sessions each see the frames
of their window; stopping one leaves the other recording; frames carry real CPU and RAM figures
(psutil) and name the node whose stream they came on; sessions and frames survive a controller
restart, and the agents go on sampling for the session still active."""

from __future__ import annotations

import time

import grpc
import pytest

from aifarm.v1 import profiling_pb2, profiling_service_pb2, profiling_service_pb2_grpc
from farm_processes import Client, ControllerProcess, wait_for

pytestmark = pytest.mark.slow


def _stub(client: Client) -> profiling_service_pb2_grpc.ProfilingServiceStub:
    return profiling_service_pb2_grpc.ProfilingServiceStub(client.channel)


def _start(client: Client, name: str, **fields: object) -> profiling_pb2.ProfilingSession:
    request = profiling_service_pb2.CreateProfilingSessionRequest(
        profiling_session=profiling_pb2.ProfilingSession(**fields), profiling_session_id=name)
    return _stub(client).CreateProfilingSession(request, metadata=client.metadata, timeout=10)


def _get(client: Client, name: str) -> profiling_pb2.ProfilingSession:
    return _stub(client).GetProfilingSession(profiling_service_pb2.GetProfilingSessionRequest(
        name=f"profilingSessions/{name}"), metadata=client.metadata, timeout=10)  # fmt: skip


def _frames(client: Client, name: str) -> list[profiling_pb2.ProfilingFrame]:
    frames, token = [], ""
    while True:
        page = _stub(client).ListProfilingFrames(profiling_service_pb2.ListProfilingFramesRequest(
            parent=f"profilingSessions/{name}", page_size=7, page_token=token), metadata=client.metadata, timeout=10)
        frames += page.frames
        if not (token := page.next_page_token):
            return frames


def test_overlapping_sessions_share_one_stream_and_survive_a_restart(controller: ControllerProcess, client: Client,
                                                                     start_agent) -> None:  # fmt: skip
    agents = [start_agent(f"prof{i}") for i in range(2)]
    wait_for(lambda: len(client.online_nodes()) == 2, what="both agents online")
    nodes = {f"nodes/{a.node_id}" for a in agents}
    time.sleep(1.5)
    assert _frames(client, _start(client, "idle-check").name.split("/")[1]) == [], "nobody samples before a session"
    _stub(client).StopProfilingSession(profiling_service_pb2.StopProfilingSessionRequest(
        name="profilingSessions/idle-check"), metadata=client.metadata, timeout=10)  # fmt: skip

    first = _start(client, "first", sampling_frequency_ms=200)
    assert first.active and first.sampling_frequency_ms == 200
    wait_for(lambda: {f.node for f in _frames(client, "first")} == nodes, timeout=20, what="frames from both nodes")
    _start(client, "second", sampling_frequency_ms=1000)
    time.sleep(1.5)
    stopped = _stub(client).StopProfilingSession(profiling_service_pb2.StopProfilingSessionRequest(
        name="profilingSessions/first"), metadata=client.metadata, timeout=10)  # fmt: skip
    assert not stopped.active and stopped.end_time.seconds > 0
    time.sleep(1.5)  # frames measured before the stop may still be on their way (batches leave each second)
    first_frames = _frames(client, "first")
    assert len(first_frames) == _get(client, "first").frame_count >= 10, len(first_frames)
    end = stopped.end_time.ToNanoseconds()
    assert all(f.time.ToNanoseconds() <= end for f in first_frames)
    for frame in first_frames:
        assert 0 <= frame.cpu_percent <= 100 and 0 < frame.memory_percent < 100 and frame.memory_used_mb > 0, frame
    times = [f.time.ToNanoseconds() for f in first_frames]
    assert times == sorted(times)
    per_node = {n: [f for f in first_frames if f.node == n] for n in nodes}
    gaps = [(b.time.ToNanoseconds() - a.time.ToNanoseconds()) / 1e6 for fs in per_node.values() for a, b in zip(fs, fs[1:])]
    assert 150 < sorted(gaps)[len(gaps) // 2] < 400, gaps  # 200 ms apart while the fastest session asks 200

    # The second goes on alone, now at its own 1 s; the first holds nothing new.
    second_before = len(_frames(client, "second"))
    wait_for(lambda: len(_frames(client, "second")) >= second_before + 2, timeout=10, what="the second recording")
    assert len(_frames(client, "first")) == len(first_frames)
    with pytest.raises(grpc.RpcError) as again:
        _stub(client).StopProfilingSession(profiling_service_pb2.StopProfilingSessionRequest(
            name="profilingSessions/first"), metadata=client.metadata, timeout=10)  # fmt: skip
    assert again.value.code() is grpc.StatusCode.FAILED_PRECONDITION

    # A controller restart loses neither sessions nor frames, and the agents sample on for "second".
    controller.kill()
    controller.start()
    wait_for(lambda: len(client.online_nodes()) == 2, timeout=30, what="the agents back")
    assert len(_frames(client, "first")) == len(first_frames)
    after_restart = len(_frames(client, "second"))
    assert _get(client, "second").active
    wait_for(lambda: len(_frames(client, "second")) >= after_restart + 2, timeout=15, what="sampling after the restart")


def test_a_session_on_named_nodes_records_only_them(controller: ControllerProcess, client: Client, start_agent) -> None:
    agents = [start_agent(f"named{i}") for i in range(2)]
    wait_for(lambda: len(client.online_nodes()) == 2, what="both agents online")
    _start(client, "only-one", sampling_frequency_ms=100, nodes=[f"nodes/{agents[0].node_id}"])
    wait_for(lambda: len(_frames(client, "only-one")) >= 5, timeout=15, what="frames")
    assert {f.node for f in _frames(client, "only-one")} == {f"nodes/{agents[0].node_id}"}
    for bad, code in ((dict(sampling_frequency_ms=50), grpc.StatusCode.INVALID_ARGUMENT),
                      (dict(), grpc.StatusCode.ALREADY_EXISTS)):  # fmt: skip
        with pytest.raises(grpc.RpcError) as refused:
            _start(client, "only-one" if code is grpc.StatusCode.ALREADY_EXISTS else "too-fast", **bad)
        assert refused.value.code() is code
