"""ShelbyCompute's polling-agent API, mapped onto polling nodes of the core domain.

A polling node registers with the join token and its own handshake key, which
binds its node id: every later call for that node proves it comes from the key's
holder (the header x-node-signature: hex HMAC-SHA256(handshakeKey, nodeId); an
ack's own signature: HMAC-SHA256(handshakeKey, jobId), as ShelbyCompute's agent
signs it). A call for a node id without that proof is refused.
"""

from __future__ import annotations

import grpc

from aifarm.compat.shelby.v1 import agent_service_pb2 as pb
from aifarm.compat.shelby.v1 import agent_service_pb2_grpc
from controller.api.auth import Credentials
from controller.api.compat.shelby import job_convert, node_convert
from controller.api.errors import maps_domain_errors
from controller.api.node_caller import prove_polling_node
from controller.domain.errors import InvalidArgument
from controller.domain.node_identity import NodeIdentities
from controller.domain.polling import PollingNodes
from controller.domain.types import TaskResult

#: Most lines one stream-log call takes.
MAX_LINES = 10000


def _require(**fields: str) -> None:
    for name, given in fields.items():
        if not given:
            raise InvalidArgument(f"{name} is required", reason="MISSING_FIELD")


@maps_domain_errors
class AgentServicer(agent_service_pb2_grpc.AgentServiceServicer):
    def __init__(
        self, polling: PollingNodes, identities: NodeIdentities, credentials: Credentials, *,
        heartbeat_interval_seconds: float,
    ) -> None:  # fmt: skip
        self.polling = polling
        self.identities = identities
        self.credentials = credentials
        self.heartbeat_interval_seconds = heartbeat_interval_seconds

    def _prove(self, node_id: str, context: grpc.aio.ServicerContext, **signed: str) -> None:
        prove_polling_node(context, self.identities, self.credentials, node_id, **signed)

    async def RegisterNode(
        self, request: pb.RegisterNodeRequest, context: grpc.aio.ServicerContext
    ) -> pb.RegisterNodeResponse:
        given = node_convert.node_from_specs(request.nodeId, request.hostname, request.specs)
        if self.credentials.enabled:
            if not given.id:
                raise InvalidArgument("nodeId is required", reason="MISSING_FIELD")
            await self.identities.bind_handshake(given.id, request.handshakeKey)
        node = await self.polling.register(given)
        return pb.RegisterNodeResponse(
            success=True, nodeId=node.id, heartbeatIntervalSeconds=self.heartbeat_interval_seconds,
            heartbeatTtlSeconds=self.polling.registry.ttl_seconds, message=f"Node {node.id} registered",
        )  # fmt: skip

    async def Heartbeat(self, request: pb.HeartbeatRequest, context: grpc.aio.ServicerContext) -> pb.HeartbeatResponse:
        _require(nodeId=request.nodeId)
        self._prove(request.nodeId, context)
        usage = node_convert.usage(request.specs.cpuUsage, request.specs.ramUsage) if request.HasField("specs") else None
        node = await self.polling.beat(request.nodeId, usage)
        return pb.HeartbeatResponse(success=True, status=node_convert.STATUS[node.state])

    async def PollJobs(self, request: pb.PollJobsRequest, context: grpc.aio.ServicerContext) -> pb.PollJobsResponse:
        _require(nodeId=request.nodeId)
        self._prove(request.nodeId, context)
        task = await self.polling.offer(request.nodeId)
        if task is None:
            return pb.PollJobsResponse(count=0)
        offered = pb.PolledJob(
            jobId=task.id,
            datasetName=task.compat_metadata.get(job_convert.DATASET_NAME, task.display_name),
            datasetUrl=task.compat_metadata.get(job_convert.DATASET_URL, ""),
            datasetHash=task.compat_metadata.get(job_convert.DATASET_HASH, ""),
            runtimeMinutesEstimate=job_convert.runtime_minutes(task),
            meta=job_convert.meta(task),
        )
        return pb.PollJobsResponse(jobs=[offered], count=1)

    async def AckJob(self, request: pb.AckJobRequest, context: grpc.aio.ServicerContext) -> pb.AckJobResponse:
        _require(jobId=request.jobId, nodeId=request.nodeId)
        self._prove(request.nodeId, context, signed=request.signature, message=request.jobId)
        task = await self.polling.claim(request.nodeId, request.jobId)
        return pb.AckJobResponse(success=True, jobId=task.id, attempt=task.attempt, status=job_convert.STATUS[task.state])

    async def FetchScript(
        self, request: pb.FetchScriptRequest, context: grpc.aio.ServicerContext
    ) -> pb.FetchScriptResponse:
        _require(jobId=request.jobId, nodeId=request.nodeId)
        self._prove(request.nodeId, context)
        task = await self.polling.fetch_script(request.nodeId, request.jobId, only_if_placed=self.credentials.enabled)
        spec = job_convert.script_spec(task)
        return pb.FetchScriptResponse(
            jobId=task.id, script=spec.source, requirements=spec.requirements, entrypoint=spec.entrypoint,
            scriptHash=job_convert.sha256(spec.source), runtimeMinutesEstimate=job_convert.runtime_minutes(task),
            env=dict(spec.env),
        )  # fmt: skip

    async def FinishJob(self, request: pb.FinishJobRequest, context: grpc.aio.ServicerContext) -> pb.FinishJobResponse:
        _require(jobId=request.jobId, nodeId=request.nodeId)
        self._prove(request.nodeId, context)
        result = TaskResult(exit_code=request.exitCode, output_sha256=request.modelHash, error=request.error)
        task = await self.polling.finish(request.nodeId, request.jobId, request.attempt, result)
        return pb.FinishJobResponse(success=True, jobId=task.id, status=job_convert.STATUS[task.state])

    async def StreamLog(self, request: pb.StreamLogRequest, context: grpc.aio.ServicerContext) -> pb.StreamLogResponse:
        _require(jobId=request.jobId, nodeId=request.nodeId)
        self._prove(request.nodeId, context)
        texts = ([request.line] if request.line else []) + list(request.lines)
        if len(texts) > MAX_LINES:
            raise InvalidArgument(f"at most {MAX_LINES} lines per call", reason="TOO_MANY_LINES")
        if request.lineNo < 0:
            raise InvalidArgument("lineNo must not be negative", reason="BAD_LINE_NO")
        taken = await self.polling.append_logs(request.nodeId, request.jobId, request.attempt, texts, request.lineNo)
        return pb.StreamLogResponse(success=True, accepted=len(texts) if taken else 0, cancelled=not taken)

    async def ReportUsage(
        self, request: pb.ReportUsageRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReportUsageResponse:
        _require(nodeId=request.nodeId)
        self._prove(request.nodeId, context)
        await self.polling.beat(request.nodeId, node_convert.usage(request.cpuUsage, request.ramUsage))
        return pb.ReportUsageResponse(success=True)
