"""ShelbyCompute's polling-agent API, mapped onto polling nodes of the core domain.

A polling node registers with the join token and its own handshake key, which
binds its node id: every later call for that node proves it comes from the key's
holder (the header x-node-signature: hex HMAC-SHA256(handshakeKey, nodeId); an
ack's own signature: HMAC-SHA256(handshakeKey, jobId), as ShelbyCompute's agent
signs it). A call for a node id without that proof is refused, except under the
legacy-open group "shelby-agents" (controller.api.node_caller.prove_polling_node).

The original agent's own field names are taken beside the documented ones (job_id,
cpu_percent, ram_percent, ...), and where it names no node (fetch-script, stream-log)
the node is the one the job is placed on.
"""

from __future__ import annotations

import grpc
from google.protobuf import json_format, struct_pb2

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
#: The exit code recorded for a failed run the node gave none for (ShelbyCompute's agent never does).
NO_EXIT_CODE = -1


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
        given = node_convert.node_from_specs(request.nodeId, request.hostname, request.specs,
                                             container_supported=request.containerSupported)
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
            return pb.PollJobsResponse(count=0, job=struct_pb2.Value(null_value=struct_pb2.NULL_VALUE))
        offered = pb.PolledJob(
            jobId=task.id,
            datasetName=task.compat_metadata.get(job_convert.DATASET_NAME, task.display_name),
            datasetUrl=task.compat_metadata.get(job_convert.DATASET_URL, ""),
            datasetHash=task.compat_metadata.get(job_convert.DATASET_HASH, ""),
            runtimeMinutesEstimate=job_convert.runtime_minutes(task),
            meta=job_convert.meta(task),
        )
        one = struct_pb2.Value(struct_value=job_convert.struct(
            json_format.MessageToDict(offered, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)
        ))  # fmt: skip
        return pb.PollJobsResponse(jobs=[offered], count=1, job=one)

    async def AckJob(self, request: pb.AckJobRequest, context: grpc.aio.ServicerContext) -> pb.AckJobResponse:
        _require(jobId=request.jobId, nodeId=request.nodeId)
        self._prove(request.nodeId, context, signed=request.signature, message=request.jobId)
        task = await self.polling.claim(request.nodeId, request.jobId)
        return pb.AckJobResponse(success=True, jobId=task.id, attempt=task.attempt, status=job_convert.STATUS[task.state])

    async def FetchScript(
        self, request: pb.FetchScriptRequest, context: grpc.aio.ServicerContext
    ) -> pb.FetchScriptResponse:
        _require(jobId=request.jobId)
        node_id = request.nodeId or await self.polling.require_placed_node(request.jobId)
        self._prove(node_id, context)
        task = await self.polling.fetch_script(node_id, request.jobId, only_if_placed=self.credentials.enabled)
        spec = job_convert.script_spec(task)
        return pb.FetchScriptResponse(
            jobId=task.id, script=spec.source, requirements=spec.requirements, entrypoint=spec.entrypoint,
            scriptHash=job_convert.sha256(spec.source), runtimeMinutesEstimate=job_convert.runtime_minutes(task),
            env=dict(spec.env),
        )  # fmt: skip

    async def FinishJob(self, request: pb.FinishJobRequest, context: grpc.aio.ServicerContext) -> pb.FinishJobResponse:
        _require(jobId=request.jobId, nodeId=request.nodeId)
        self._prove(request.nodeId, context)
        task = await self.polling.finish(request.nodeId, request.jobId, request.attempt, finish_result(request))
        return pb.FinishJobResponse(success=True, jobId=task.id, status=job_convert.STATUS[task.state])

    async def StreamLog(self, request: pb.StreamLogRequest, context: grpc.aio.ServicerContext) -> pb.StreamLogResponse:
        job_id = request.jobId or request.legacy_job_id
        _require(jobId=job_id)
        node_id = request.nodeId or self.polling.placed_node(job_id)
        if node_id is None:  # placed nowhere: no attempt runs that could take the lines
            return pb.StreamLogResponse(success=True, accepted=0, cancelled=True)
        self._prove(node_id, context)
        texts = ([request.line] if request.line else []) + list(request.lines)
        if len(texts) > MAX_LINES:
            raise InvalidArgument(f"at most {MAX_LINES} lines per call", reason="TOO_MANY_LINES")
        if request.lineNo < 0:
            raise InvalidArgument("lineNo must not be negative", reason="BAD_LINE_NO")
        taken = await self.polling.append_logs(node_id, job_id, request.attempt, texts, request.lineNo)
        return pb.StreamLogResponse(success=True, accepted=len(texts) if taken else 0, cancelled=not taken)

    async def ReportUsage(
        self, request: pb.ReportUsageRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReportUsageResponse:
        _require(nodeId=request.nodeId)
        self._prove(request.nodeId, context)
        cpu, ram = request.cpuUsage or request.cpu_percent, request.ramUsage or request.ram_percent
        await self.polling.beat(request.nodeId, node_convert.usage(cpu, ram))
        return pb.ReportUsageResponse(success=True)


def finish_result(request: pb.FinishJobRequest) -> TaskResult:
    """How the run ended. With an exit code, it decides; without one (ShelbyCompute's agent sends
    none) the run failed when the node says why (metadata.error) or produced no model (modelHash empty)."""
    said = request.metadata.fields.get("error") if request.HasField("metadata") else None
    reason = request.error or (_text(said) if said is not None else "")
    if request.HasField("exitCode"):
        return TaskResult(exit_code=request.exitCode, output_sha256=request.modelHash, error=reason)
    if reason or not request.modelHash:
        reason = reason or "the node reported no model (modelHash is empty)"
        return TaskResult(exit_code=NO_EXIT_CODE, output_sha256=request.modelHash, error=reason)
    return TaskResult(exit_code=0, output_sha256=request.modelHash)


def _text(given: struct_pb2.Value) -> str:
    """A metadata value as text: a string as it is, anything else (an object, a number) as JSON."""
    if given.HasField("string_value"):
        return given.string_value
    if given.HasField("null_value"):
        return ""
    return json_format.MessageToJson(given, indent=None)
