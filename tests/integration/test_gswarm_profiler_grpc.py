"""gswarm's profiler gRPC service (gswarm_profiler.ProfilerService) on its own port, called as gswarm's
own CLI calls it (stubs built from the gswarm-compatible proto, no credentials): refused until the
controller opts in with --open-legacy gswarm-profiler, then start, status, cluster status, the
toggles and stop, on the same sessions the core API shows."""

from __future__ import annotations

import json

import grpc
import pytest

from aifarm.v1 import profiling_service_pb2, profiling_service_pb2_grpc
from farm_processes import AgentProcess, Client, ControllerProcess, free_port, wait_for
from gswarm_profiler import profiler_pb2 as pb
from gswarm_profiler import profiler_pb2_grpc

pytestmark = pytest.mark.slow


def test_without_the_opt_in_a_call_without_credentials_is_refused(controller: ControllerProcess) -> None:
    with grpc.insecure_channel(controller.profiler_address) as channel:
        with pytest.raises(grpc.RpcError) as refused:
            profiler_pb2_grpc.ProfilerServiceStub(channel).GetStatus(pb.Empty(), timeout=10)
    assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED


def test_gswarms_cli_calls_start_status_and_stop_a_session(tmp_path) -> None:  # type: ignore[no-untyped-def]
    controller = ControllerProcess(tmp_path / "controller", free_port(), extra=["--open-legacy", "gswarm-profiler"]).start()
    agent = AgentProcess(controller.address, tmp_path / "agent").start()
    client = Client(controller.address)
    try:
        wait_for(lambda: len(client.online_nodes()) == 1, what="the agent online")
        with grpc.insecure_channel(controller.profiler_address) as channel:
            stub = profiler_pb2_grpc.ProfilerServiceStub(channel)
            assert stub.GetStatus(pb.Empty(), timeout=10).is_profiling is False
            assert stub.SetNVLinkProfiling(pb.SetNVLinkProfilingRequest(enable=True), timeout=10).success
            started = stub.StartProfiling(pb.StartProfilingRequest(name="cli-run", report_metrics=["gpu_util"]), timeout=10)
            assert started.success and started.output_file == "/v1/profilingSessions/cli-run", started
            taken = stub.StartProfiling(pb.StartProfilingRequest(name="cli-run"), timeout=10)
            assert not taken.success and "already exists" in taken.message

            status = wait_for(lambda: (s := stub.GetStatus(pb.Empty(), timeout=10)).frame_id_counter and s, timeout=15,
                              what="frames counted")  # fmt: skip
            assert status.is_profiling and status.freq == 1000 and status.enable_nvlink_profiling
            assert list(status.connected_clients) == [agent.node_id]
            assert [s["name"] for s in json.loads(status.active_sessions_json)] == ["cli-run"]
            cluster = stub.ReadClusterStatus(pb.ReadClusterStatusRequest(), timeout=10)
            assert cluster.success and [n.node_id for n in cluster.nodes] == [agent.node_id]
            assert not stub.ReadNodeStatus(pb.ReadNodeStatusRequest(node_id="nope"), timeout=10).success
            assert not stub.Connect(pb.InitialInfo(hostname="gswarm-client"), timeout=10).success
            with pytest.raises(grpc.RpcError) as exit_refused:
                stub.Exit(pb.Empty(), timeout=10)
            assert exit_refused.value.code() is grpc.StatusCode.PERMISSION_DENIED

            core = profiling_service_pb2_grpc.ProfilingServiceStub(client.channel).GetProfilingSession(
                profiling_service_pb2.GetProfilingSessionRequest(name="profilingSessions/cli-run"),
                metadata=client.metadata, timeout=10)  # fmt: skip
            assert core.active and core.enable_nvlink_profiling and list(core.report_metrics) == ["gpu_util"]

            stopped = stub.StopProfiling(pb.StopProfilingRequest(name="cli-run"), timeout=10)
            assert stopped.success, stopped
            assert not stub.StopProfiling(pb.StopProfilingRequest(name="cli-run"), timeout=10).success
            assert stub.GetStatus(pb.Empty(), timeout=10).is_profiling is False
    finally:
        client.close()
        agent.stop()
        controller.kill()
