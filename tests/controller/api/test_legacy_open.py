"""The legacy-open opt-in (--open-legacy shelby-agents) through the wire: who is let in without
credentials, who is not, and what such a caller may do (controller.api.auth, node_caller)."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from pathlib import Path

import grpc
import pytest

from aifarm.compat.shelby.v1 import agent_service_pb2 as pb
from aifarm.compat.shelby.v1 import agent_service_pb2_grpc, job_service_pb2
from controller.api.auth import LegacyAccess
from controller.api.compat.shelby.agent_servicer import finish_result
from served_controller import AGENT_TOKEN, METADATA, Served, served_controller

KEY = "0123456789abcdef0123456789abcdef"
GROUP = ("shelby-agents",)


def sign(message: str, key: str = KEY) -> str:
    return hmac.new(key.encode(), message.encode(), hashlib.sha256).hexdigest()


def agents(served: Served) -> agent_service_pb2_grpc.AgentServiceStub:
    return agent_service_pb2_grpc.AgentServiceStub(served.channel)


async def register(stub: agent_service_pb2_grpc.AgentServiceStub, node_id: str, **kw: object) -> pb.RegisterNodeResponse:
    return await stub.RegisterNode(pb.RegisterNodeRequest(nodeId=node_id, handshakeKey=KEY), **kw)


async def new_job(served: Served, script: str = "print('hi')") -> str:
    created = await served.jobs.CreateJob(job_service_pb2.CreateJobRequest(datasetName="d"), metadata=METADATA)
    await served.jobs.UploadScript(job_service_pb2.UploadScriptRequest(jobId=created.jobId, script=script),
                                   metadata=METADATA)  # fmt: skip
    return created.jobId


def test_the_caller_is_the_peer_or_the_last_forwarded_address_from_a_trusted_door() -> None:
    legacy = LegacyAccess.parse(GROUP, ["10.1.0.0/16"])
    ip = ipaddress.ip_address
    assert legacy.caller("ipv4:127.0.0.1:5000", {}) == ip("127.0.0.1")
    assert legacy.caller("ipv6:[::1]:5000", {}) == ip("::1")
    # a trusted door forwards: its last entry is the client's socket, earlier ones are claims
    assert legacy.caller("ipv4:127.0.0.1:5000", {"x-forwarded-for": "127.0.0.1, 203.0.113.9"}) == ip("203.0.113.9")
    assert legacy.caller("ipv4:10.1.2.3:5000", {"x-forwarded-for": "10.1.9.9"}) == ip("10.1.9.9")
    # an untrusted peer's header is never believed
    assert legacy.caller("ipv4:203.0.113.9:5000", {"x-forwarded-for": "127.0.0.1"}) == ip("203.0.113.9")
    assert legacy.caller("ipv6:[::ffff:10.1.2.3]:1", {}) == ip("10.1.2.3")
    assert legacy.caller("ipv4:127.0.0.1:1", {"x-forwarded-for": "not-an-address"}) is None
    assert legacy.trusts(ip("127.0.0.2")) and legacy.trusts(ip("10.1.200.1"))
    assert not legacy.trusts(ip("10.2.0.1")) and not legacy.trusts(None)
    with pytest.raises(ValueError, match="CIDR"):
        LegacyAccess.parse(GROUP, ["10.0.0.0/33"])


async def test_without_the_opt_in_a_call_without_credentials_is_refused(tmp_path: Path) -> None:
    async with served_controller(tmp_path / "c") as served:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await register(agents(served), "n-plain")
        assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED


async def test_an_unknown_group_stops_the_start(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no such legacy-open group"):
        async with served_controller(tmp_path / "c", open_legacy=("nobody",)):
            pass


async def test_a_legacy_agent_from_loopback_runs_a_job_without_credentials(tmp_path: Path) -> None:
    async with served_controller(tmp_path / "c", open_legacy=GROUP) as served:
        stub = agents(served)
        await register(stub, "n-legacy")
        job_id = await new_job(served)
        polled = await stub.PollJobs(pb.PollJobsRequest(nodeId="n-legacy"))
        assert polled.job.struct_value["jobId"] == job_id and polled.count == 1
        with pytest.raises(grpc.aio.AioRpcError) as forged:
            await stub.AckJob(pb.AckJobRequest(nodeId="n-legacy", jobId=job_id, signature=sign(job_id, "x" * 32)))
        assert forged.value.code() is grpc.StatusCode.PERMISSION_DENIED
        await stub.AckJob(pb.AckJobRequest(nodeId="n-legacy", jobId=job_id, signature=sign(job_id)))
        script = await stub.FetchScript(pb.FetchScriptRequest(jobId=job_id))  # no nodeId: the placement's
        assert script.script == "print('hi')"
        logged = await stub.StreamLog(pb.StreamLogRequest(legacy_job_id=job_id, line="hi"))
        assert logged.accepted == 1 and not logged.cancelled
        finished = await stub.FinishJob(pb.FinishJobRequest(nodeId="n-legacy", jobId=job_id, modelHash=""))
        assert finished.status == "failed"
        detail = await served.jobs.GetJob(job_service_pb2.GetJobRequest(jobId=job_id), metadata=METADATA)
        assert "modelHash is empty" in detail.metadata["error"]
        assert [e.line for e in detail.logs][-2:] == ["hi", "[aifarm] the run failed: " + detail.metadata["error"]]
        # the opt-in opens the agents' methods only: people's methods still need a key
        with pytest.raises(grpc.aio.AioRpcError) as people:
            await served.jobs.ListJobs(job_service_pb2.ListJobsRequest())
        assert people.value.code() is grpc.StatusCode.UNAUTHENTICATED


async def test_a_legacy_caller_acts_only_for_handshake_nodes_and_their_own_jobs(tmp_path: Path) -> None:
    async with served_controller(tmp_path / "c", open_legacy=GROUP) as served:
        stub = agents(served)
        await register(stub, "n-owner")
        await register(stub, "n-other")
        job_id = await new_job(served)
        await stub.AckJob(pb.AckJobRequest(nodeId="n-owner", jobId=job_id, signature=sign(job_id)))
        with pytest.raises(grpc.aio.AioRpcError) as fetch:
            await stub.FetchScript(pb.FetchScriptRequest(jobId=job_id, nodeId="n-other"))
        assert fetch.value.code() is grpc.StatusCode.PERMISSION_DENIED
        other_log = await stub.StreamLog(pb.StreamLogRequest(jobId=job_id, nodeId="n-other", line="not mine"))
        assert other_log.cancelled and other_log.accepted == 0
        with pytest.raises(grpc.aio.AioRpcError) as finish:
            await stub.FinishJob(pb.FinishJobRequest(nodeId="n-other", jobId=job_id, modelHash="ab"))
        assert finish.value.code() is grpc.StatusCode.FAILED_PRECONDITION
        # a streaming node (a node secret, no handshake key) cannot be acted for without its credential
        await served.controller.farm.identities.register("n-streaming")
        with pytest.raises(grpc.aio.AioRpcError) as streaming:
            await stub.Heartbeat(pb.HeartbeatRequest(nodeId="n-streaming"))
        assert streaming.value.code() is grpc.StatusCode.PERMISSION_DENIED
        # a signature header, when sent, is checked as always
        with pytest.raises(grpc.aio.AioRpcError) as header:
            await stub.Heartbeat(pb.HeartbeatRequest(nodeId="n-owner"), metadata=(("x-node-signature", "00" * 32),))
        assert header.value.code() is grpc.StatusCode.PERMISSION_DENIED


async def test_a_door_forwarding_an_untrusted_client_is_refused_unless_its_network_is_trusted(tmp_path: Path) -> None:
    forwarded = (("x-forwarded-for", "127.0.0.1, 203.0.113.9"),)  # the door's entry is the last one
    async with served_controller(tmp_path / "c", open_legacy=GROUP) as served:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await register(agents(served), "n-far", metadata=forwarded)
        assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED
        assert "203.0.113.9" in refused.value.details() and "--trusted-network" in refused.value.details()
        # a wrong token is never let through as legacy, even from loopback
        with pytest.raises(grpc.aio.AioRpcError) as wrong:
            await register(agents(served), "n-wrong", metadata=(("authorization", "Bearer nope"),))
        assert wrong.value.code() is grpc.StatusCode.UNAUTHENTICATED
        # the join token still works as before
        await register(agents(served), "n-token", metadata=(("authorization", f"Bearer {AGENT_TOKEN}"),))
        assert "n-far" not in served.controller.farm.registry.nodes
    async with served_controller(tmp_path / "c2", open_legacy=GROUP, trusted_networks=("203.0.113.0/24",)) as served:
        assert (await register(agents(served), "n-far", metadata=forwarded)).success


def test_a_finish_without_an_exit_code_fails_on_an_error_or_no_model() -> None:
    def result(**kw: object):  # noqa: ANN202
        request = pb.FinishJobRequest(jobId="j", nodeId="n", **kw)
        return finish_result(request)

    ok = result(modelHash="ab", metadata={"datasetName": "d"})
    assert ok.exit_code == 0 and not ok.error
    said = result(modelHash="ab", metadata={"error": "disk full"})
    assert said.exit_code != 0 and said.error == "disk full"
    empty = result(modelHash="", metadata={})
    assert empty.exit_code != 0 and "modelHash is empty" in empty.error
    assert result(exitCode=3, modelHash="ab").exit_code == 3
    assert result(exitCode=0, modelHash="").exit_code == 0  # an exit code decides
