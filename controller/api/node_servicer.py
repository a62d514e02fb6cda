"""aifarm.v1.NodeService."""

from __future__ import annotations

import grpc

from aifarm.v1 import node_pb2, node_service_pb2, node_service_pb2_grpc
from controller.api.convert_common import next_page_token, page_bounds, resource_id
from controller.api.errors import maps_domain_errors
from controller.api.node_convert import STATE_FROM_PROTO, node_to_proto
from controller.domain.nodes import NodeBook


@maps_domain_errors
class NodeServicer(node_service_pb2_grpc.NodeServiceServicer):
    def __init__(self, nodes: NodeBook) -> None:
        self.nodes = nodes

    async def GetNode(self, request: node_service_pb2.GetNodeRequest, context: grpc.aio.ServicerContext) -> node_pb2.Node:
        return node_to_proto(self.nodes.view(resource_id(request.name, "nodes")))

    async def RevokeNode(self, request: node_service_pb2.RevokeNodeRequest, context: grpc.aio.ServicerContext) -> node_pb2.Node:
        return node_to_proto(await self.nodes.revoke(resource_id(request.name, "nodes")))

    async def ListNodes(
        self, request: node_service_pb2.ListNodesRequest, context: grpc.aio.ServicerContext
    ) -> node_service_pb2.ListNodesResponse:
        offset, limit = page_bounds(request.page_size, request.page_token, default=100, maximum=1000)
        views = self.nodes.list(STATE_FROM_PROTO.get(request.state))
        page = views[offset : offset + limit]
        await context.send_initial_metadata((("x-total-count", str(len(views))),))
        return node_service_pb2.ListNodesResponse(
            nodes=[node_to_proto(v) for v in page],
            next_page_token=next_page_token(offset, limit, len(page), len(views)),
            total_size=len(views),
        )
