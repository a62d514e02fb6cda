"""The node-local API acts on the farm as its caller: each request's own API key goes with the calls
it makes to the controller, so what a caller may do is decided in one place, the controller.

Every request is admitted first, before anything about this node is said or done: its key is
shown to the controller (a GetNode of this node) and a good one is remembered for a short while,
by its hash only.
"""

from __future__ import annotations

import hashlib
import time

import grpc

from agent.local_api.status import LocalApiError
from aifarm.v1 import model_service_pb2_grpc, node_service_pb2, node_service_pb2_grpc, task_service_pb2_grpc

#: Request metadata relayed to the controller: the credentials and the request's id.
RELAYED = ("authorization", "x-api-key", "x-request-id")
#: How long a key the controller accepted is taken without asking again.
ADMITTED_SECONDS = 30.0


class FarmCalls:
    def __init__(self, channel: grpc.aio.Channel, node_id: str) -> None:
        self.node_id = node_id
        self.tasks = task_service_pb2_grpc.TaskServiceStub(channel)
        self.nodes = node_service_pb2_grpc.NodeServiceStub(channel)
        self.models = model_service_pb2_grpc.ModelServiceStub(channel)
        self._admitted: dict[str, float] = {}

    @staticmethod
    def metadata(context: grpc.aio.ServicerContext) -> tuple[tuple[str, str], ...]:
        return tuple((k, v) for k, v in (context.invocation_metadata() or ()) if k in RELAYED and isinstance(v, str))

    async def admit(self, context: grpc.aio.ServicerContext) -> tuple[tuple[str, str], ...]:
        """The caller's metadata, once the controller accepts its key (UNAUTHENTICATED passed on otherwise)."""
        metadata = self.metadata(context)
        token = hashlib.sha256(repr(sorted(m for m in metadata if m[0] != "x-request-id")).encode()).hexdigest()
        now = time.monotonic()
        if self._admitted.get(token, 0.0) > now:
            return metadata
        try:
            await self.nodes.GetNode(node_service_pb2.GetNodeRequest(name=f"nodes/{self.node_id}"), metadata=metadata,
                                     timeout=10)  # fmt: skip
        except grpc.aio.AioRpcError as exc:
            if exc.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
                raise
            raise LocalApiError(grpc.StatusCode.UNAVAILABLE, f"the controller cannot be reached to check the caller's"
                                f" key: {exc.details()}", "NETWORK_ERROR") from None  # fmt: skip
        if len(self._admitted) > 1000:
            self._admitted = {k: t for k, t in self._admitted.items() if t > now}
        self._admitted[token] = now + ADMITTED_SECONDS
        return metadata
