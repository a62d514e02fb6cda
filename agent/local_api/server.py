"""The agent's node-local API: one gRPC server (gswarm's ClientModelService and aifarm's PeerService)
and, in front of it, the same generic REST gateway the controller has, on the gswarm_client listener.

Other nodes copy models from the gRPC port (Hello.peer_port); people and gswarm's tools use the REST
listener (or the gRPC port, with server reflection). Every request but a ticketed peer read shows an
API key the controller accepts (agent.local_api.farm_calls).
"""

from __future__ import annotations

import grpc
import structlog
from grpc_reflection.v1alpha import reflection

from agent.capabilities import HostProbe
from agent.errors import AgentError
from agent.local_api.client_models_servicer import ClientModelServicer
from agent.local_api.client_serving_servicer import ClientServingServicer
from agent.local_api.farm_calls import FarmCalls
from agent.local_api.peer_servicer import PeerKey, PeerServicer
from agent.models.local_store import LocalModelStore
from agent.serving.services import ServiceBook
from gateway.listeners import host_port, loopback_for
from aifarm.compat.gswarm.v1 import client_model_service_pb2_grpc
from aifarm.v1 import agent_service_pb2 as agent_pb
from aifarm.v1 import peer_service_pb2_grpc
from taskspec.model_operation import Pool
from taskspec.proto import storage_pool

log = structlog.get_logger(__name__)

LISTENER = "gswarm_client"
SERVICES = ("aifarm.compat.gswarm.v1.ClientModelService", "aifarm.compat.gswarm.v1.ClientServingService",
            "aifarm.v1.PeerService")


class LocalApi:
    def __init__(self, *, host: str, http_port: int, store: LocalModelStore, data_store: LocalModelStore,
                 probe: HostProbe, controller: grpc.aio.Channel, node_id: str) -> None:  # fmt: skip
        self.host = host
        self.http_port = http_port
        self.store = store
        self.data_store = data_store
        self.peer_key = PeerKey()
        self.services = ServiceBook(host)
        self._farm = FarmCalls(controller, node_id)
        self._probe = probe
        self._server: grpc.aio.Server | None = None
        self._gateway = None
        self.peer_port = 0
        #: listener name -> URL bound (endpoints.json's "agents").
        self.urls: dict[str, str] = {}

    async def start(self) -> None:
        from gateway.server import Gateway

        server = grpc.aio.server(options=[("grpc.max_send_message_length", 16 << 20)])
        client_model_service_pb2_grpc.add_ClientModelServiceServicer_to_server(
            ClientModelServicer(self._farm, self.store, self._probe, self.services), server)  # fmt: skip
        client_model_service_pb2_grpc.add_ClientServingServiceServicer_to_server(
            ClientServingServicer(self._farm, self.store, self.services), server)  # fmt: skip
        peer_service_pb2_grpc.add_PeerServiceServicer_to_server(PeerServicer({Pool.MODELS: self.store, Pool.DATA: self.data_store}, self.peer_key), server)
        reflection.enable_server_reflection([*SERVICES, reflection.SERVICE_NAME], server)
        self.peer_port = server.add_insecure_port(host_port(self.host, 0))
        await server.start()
        self._server = server
        self._gateway = Gateway(host_port(loopback_for(self.host), self.peer_port), {LISTENER: (self.host, self.http_port)})
        try:
            self.urls = await self._gateway.start()
        except OSError as exc:
            await server.stop(grace=None)
            raise AgentError(f"gswarm's client API cannot listen on {self.host}:{self.http_port}: {exc.strerror};"
                             " give another --gswarm-client-port (0: any free one, -1: none)") from None  # fmt: skip
        log.info("node-local API serving", grpc_port=self.peer_port, http=self.urls)

    def held_models(self) -> list[agent_pb.HeldModel]:
        """The models and the data chunks this node holds (Hello.held_models)."""
        return [agent_pb.HeldModel(model=h.model, device=h.device, pool=storage_pool(store.pool))
                for store in (self.store, self.data_store) for h in store.held()]  # fmt: skip

    async def stop(self) -> None:
        if self._gateway is not None:
            await self._gateway.shutdown()
        if self._server is not None:
            await self._server.stop(grace=1)
