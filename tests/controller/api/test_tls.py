"""TLS on the controller's gRPC ports, with certificates the farm CA really issues.

The gRPC port: server TLS, an API key on top. The agent port: mutual TLS, only a
certificate from the farm CA gets in, and the server reads the node id from it.
"""

from __future__ import annotations

import stat
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
import pytest_asyncio
import structlog
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc
from served_controller import API_KEY, METADATA

from agent.channel import open_channel
from aifarm.v1 import task_pb2, task_service_pb2, task_service_pb2_grpc
from controller.config import ControllerConfig
from controller.pki import FarmCA, peer_node_id
from controller.server import Controller
from controller.tls import InsecureBind, ServerTls

pytestmark = pytest.mark.asyncio(loop_scope="function")


def node_pair(ca: FarmCA, node_id: str) -> tuple[bytes, bytes]:
    """A node's (certificate, key): its own key, a CSR, signed by the CA, as the agent gets them."""
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, node_id)]))
           .sign(key, hashes.SHA256()))  # fmt: skip
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())  # fmt: skip
    return ca.sign_node_csr(csr.public_bytes(serialization.Encoding.PEM), node_id), key_pem


async def health(channel: grpc.aio.Channel) -> int:
    reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    return reply.status


async def list_tasks(channel: grpc.aio.Channel, metadata: tuple[tuple[str, str], ...] = METADATA) -> int:
    stub = task_service_pb2_grpc.TaskServiceStub(channel)
    return (await stub.ListTasks(task_service_pb2.ListTasksRequest(), metadata=metadata, timeout=5)).total_size


async def refused(call: object) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    return caught.value.code()


@pytest_asyncio.fixture(loop_scope="function")
async def controller(tmp_path: Path) -> AsyncIterator[Controller]:
    ctl = Controller(ControllerConfig(data_dir=tmp_path / "data", grpc_port=0, agent_port=0, tls=True,
                                      api_keys=(API_KEY,), agent_token="tls-agent-token"))  # fmt: skip
    await ctl.start()
    yield ctl
    await ctl.shutdown(grace=0.5)


async def test_the_grpc_port_needs_the_ca_and_then_an_api_key(controller: Controller, tmp_path: Path) -> None:
    assert controller.tls is not None
    ca_pem = controller.tls.ca.ca_pem
    async with open_channel(controller.address, None) as plaintext:
        assert await refused(health(plaintext)) == grpc.StatusCode.UNAVAILABLE
    stranger = FarmCA.load_or_create(tmp_path / "another-farm")
    async with open_channel(controller.address, stranger.ca_pem) as wrong_ca:
        assert await refused(health(wrong_ca)) == grpc.StatusCode.UNAVAILABLE
    async with open_channel(controller.address, ca_pem) as tls:
        assert await health(tls) == health_pb2.HealthCheckResponse.SERVING
        assert await list_tasks(tls) == 0
        assert await refused(list_tasks(tls, metadata=())) == grpc.StatusCode.UNAUTHENTICATED
    # The name in the certificate is checked too: localhost is in it, and so it verifies.
    port = controller.address.rpartition(":")[2]
    async with open_channel(f"localhost:{port}", ca_pem) as by_name:
        assert await list_tasks(by_name) == 0


async def test_the_agent_port_admits_only_farm_certificates(controller: Controller, tmp_path: Path) -> None:
    assert controller.tls is not None and controller.agent_address
    ca = controller.tls.ca
    async with open_channel(controller.agent_address, ca.ca_pem) as no_certificate:
        assert await refused(health(no_certificate)) == grpc.StatusCode.UNAVAILABLE
    stranger = FarmCA.load_or_create(tmp_path / "another-farm")
    async with open_channel(controller.agent_address, ca.ca_pem, node_pair(stranger, "node-x")) as foreign:
        assert await refused(health(foreign)) == grpc.StatusCode.UNAVAILABLE
    async with open_channel(controller.agent_address, ca.ca_pem, node_pair(ca, "node-x")) as admitted:
        assert await health(admitted) == health_pb2.HealthCheckResponse.SERVING
        # The certificate proves who the node is, not what it may do: people's methods still want a key.
        assert await refused(list_tasks(admitted, metadata=())) == grpc.StatusCode.UNAUTHENTICATED


class _WhoAmI(health_pb2_grpc.HealthServicer):
    """Answers each call and records which node the server saw calling."""

    def __init__(self) -> None:
        self.seen: list[str | None] = []

    async def Check(self, request: object, context: grpc.aio.ServicerContext) -> health_pb2.HealthCheckResponse:
        self.seen.append(peer_node_id(context))
        return health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)


async def test_the_server_sees_the_node_id_of_the_certificate(tmp_path: Path) -> None:
    """The controller's own credentials (ServerTls) on a bare server: the node id comes from the handshake."""
    config = ControllerConfig(data_dir=tmp_path, tls=True)
    tls = ServerTls.prepare(config)
    servicer = _WhoAmI()
    server = grpc.aio.server()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    people = server.add_secure_port("127.0.0.1:0", tls.people_credentials())
    agents = server.add_secure_port("127.0.0.1:0", tls.agent_credentials())
    await server.start()
    try:
        pair = node_pair(tls.ca, "gpu-node-7")
        async with open_channel(f"127.0.0.1:{agents}", tls.ca.ca_pem, pair) as channel:
            await health(channel)
        # The same certificate on the people's port is never asked for (gRPC Python cannot ask
        # without requiring one), so nothing there can pass for a node.
        async with open_channel(f"127.0.0.1:{people}", tls.ca.ca_pem, pair) as channel:
            await health(channel)
        async with open_channel(f"127.0.0.1:{people}", tls.ca.ca_pem) as channel:
            await health(channel)
        assert servicer.seen == ["gpu-node-7", None, None]
    finally:
        await server.stop(0)


async def test_the_pki_files_are_private(controller: Controller) -> None:
    pki = controller.config.data_dir / "pki"
    assert stat.S_IMODE(pki.stat().st_mode) == 0o700
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in pki.iterdir()} == {
        "ca.key": 0o600, "ca.crt": 0o600, "server.crt": 0o600, "server.key": 0o600}  # fmt: skip


async def test_a_non_loopback_bind_without_tls_needs_insecure(tmp_path: Path) -> None:
    config = ControllerConfig(data_dir=tmp_path / "data", host="0.0.0.0", grpc_port=0, api_keys=(API_KEY,))
    with pytest.raises(InsecureBind, match="--insecure"):
        await Controller(config).start()
    assert not (tmp_path / "data").exists(), "refused before touching the data directory"

    allowed = Controller(ControllerConfig(data_dir=tmp_path / "data", host="0.0.0.0", grpc_port=0,
                                          api_keys=(API_KEY,), insecure=True))  # fmt: skip
    with structlog.testing.capture_logs() as logs:
        address = await allowed.start()
    try:
        assert any(e["log_level"] == "warning" and e["event"].startswith("NO TLS (--insecure)") for e in logs)
        async with open_channel(f"127.0.0.1:{address.rpartition(':')[2]}", None) as channel:
            assert await list_tasks(channel) == 0
    finally:
        await allowed.shutdown(grace=0.5)

    served = Controller(ControllerConfig(data_dir=tmp_path / "tls", host="0.0.0.0", grpc_port=0, agent_port=0,
                                         tls=True, api_keys=(API_KEY,)))  # fmt: skip
    address = await served.start()
    try:
        # Local clients (endpoints.json, aifarm up's gateway and agent) dial loopback, which the certificate names.
        assert address.startswith("127.0.0.1:") and served.agent_address.startswith("127.0.0.1:")
        assert served.tls is not None
        async with open_channel(address, served.tls.ca.ca_pem) as channel:
            assert await list_tasks(channel) == 0
    finally:
        await served.shutdown(grace=0.5)


async def test_the_data_directory_and_database_are_private_with_or_without_tls(tmp_path: Path) -> None:
    """Today's farms were 0755/0644: an existing data directory and database are tightened at start too."""
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o755)
    data_dir.chmod(0o755)
    (data_dir / "aifarm.db").touch(mode=0o644)
    (data_dir / "aifarm.db").chmod(0o644)
    ctl = Controller(ControllerConfig(data_dir=data_dir, grpc_port=0, api_keys=(API_KEY,)))
    address = await ctl.start()
    try:
        async with open_channel(address, None) as channel:
            stub = task_service_pb2_grpc.TaskServiceStub(channel)
            task = task_pb2.Task(script=task_pb2.ScriptSpec(source="print('secret env')"), resources={"gpus": 64})
            await stub.CreateTask(task_service_pb2.CreateTaskRequest(task=task), metadata=METADATA, timeout=5)
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in data_dir.iterdir() if p.is_file()}
        assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
        for name in ("aifarm.db", "aifarm.db-wal", "aifarm.db-shm", "api_keys", "agent_token"):
            assert modes[name] == 0o600, (name, oct(modes[name]))
    finally:
        await ctl.shutdown(grace=0.5)
