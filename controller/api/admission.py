"""API calls yield to the nodes' traffic (as Kubernetes' API priority and fairness does for kubelets).

The controller serves people and nodes on one event loop. Fifty dashboards
polling task lists could otherwise take the loop from the nodes' reports and
the scheduler, and dispatch would crawl. So a call from a person (any unary
RPC that is not an agent's) is admitted through this gate: at most `slots` run
at once; and while nodes are busy (a node reported or work was placed in the
last moment), they go one at a time and each leaves the lane free for
`1/share - 1` times as long as it took, so people get about `share` of the
controller's time and the nodes the rest. When the nodes are quiet, calls run
at full speed. Streams (watching a task, following logs) are not gated.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

#: Concurrent API calls while nodes are quiet.
DEFAULT_SLOTS = 8
#: The share of the controller's time API calls keep while nodes are busy.
DEFAULT_SHARE = 0.2
#: The longest an API call leaves the lane to the nodes (so one slow call does not stall the API).
MAX_YIELD_SECONDS = 0.25


class ApiAdmission(grpc.aio.ServerInterceptor):
    def __init__(
        self,
        nodes_busy: Callable[[], bool],
        node_methods: frozenset[str],
        *,
        slots: int = DEFAULT_SLOTS,
        share: float = DEFAULT_SHARE,
    ) -> None:
        self._nodes_busy = nodes_busy
        self._node_methods = node_methods
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
        if handler is None or not handler.unary_unary or details.method in self._node_methods:
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
