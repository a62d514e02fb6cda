"""API calls yield to the nodes' traffic (as Kubernetes' API priority and fairness does for kubelets).

The controller serves people and nodes on one event loop. Fifty dashboards
polling task lists could otherwise take the loop from the nodes' reports and
the scheduler, and dispatch would crawl. So a read (a unary RPC the proto marks
`idempotency_level = NO_SIDE_EFFECTS`) is admitted through this gate: at most
`slots` run at once; and while nodes are busy (a node reported or work was
placed in the last moment), reads go one at a time and each leaves the lane
free for `1/share - 1` times as long as it took, so they get about `share` of
the controller's time and the nodes the rest. When the nodes are quiet, reads
run at full speed. Writes (creating, cancelling) feed the farm and are not
gated, nor are the agents' calls or streams (watching a task, following logs).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import grpc
from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import ServiceDescriptor

#: Concurrent API calls while nodes are quiet.
DEFAULT_SLOTS = 8
#: The share of the controller's time API calls keep while nodes are busy.
DEFAULT_SHARE = 0.1
#: The longest an API call leaves the lane to the nodes (so one slow call does not stall the API).
MAX_YIELD_SECONDS = 0.25


class ApiAdmission(grpc.aio.ServerInterceptor):
    def __init__(
        self,
        nodes_busy: Callable[[], bool],
        reads: frozenset[str],
        *,
        slots: int = DEFAULT_SLOTS,
        share: float = DEFAULT_SHARE,
    ) -> None:
        self._nodes_busy = nodes_busy
        self._reads = reads
        self._slots = asyncio.Semaphore(slots)
        self._lane = asyncio.Lock()
        self._yield_factor = 1 / share - 1
        self._yields = share < 1

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None or not handler.unary_unary or details.method not in self._reads:
            return handler
        behavior = handler.unary_unary

        async def admitted(request: Any, context: grpc.aio.ServicerContext) -> Any:
            loop = asyncio.get_running_loop()
            await self._slots.acquire()
            in_lane = False
            try:
                if self._yields and self._nodes_busy():
                    await self._lane.acquire()
                    in_lane = True
                started = loop.time()
                return await behavior(request, context)
            finally:
                if in_lane:
                    rest = min((loop.time() - started) * self._yield_factor, MAX_YIELD_SECONDS)
                    loop.call_later(rest, self._lane.release)
                self._slots.release()

        return grpc.unary_unary_rpc_method_handler(
            admitted, request_deserializer=handler.request_deserializer, response_serializer=handler.response_serializer
        )


def read_methods(services: Iterable[ServiceDescriptor], *, except_prefix: str) -> frozenset[str]:
    """The ``/pkg.Service/Method`` paths the protos mark NO_SIDE_EFFECTS, leaving out the agents' services."""
    return frozenset(
        f"/{service.full_name}/{method.name}"
        for service in services
        if not f"/{service.full_name}/".startswith(except_prefix)
        for method in service.methods
        if method.GetOptions().idempotency_level == descriptor_pb2.MethodOptions.NO_SIDE_EFFECTS
    )
