"""The node's own credential: registered once with the join token, then kept in the data directory.

With TLS the agent makes a key and a CSR (the key never leaves the node) and keeps
the client certificate the farm's CA signs for it (`node.key`, `node.crt`);
without TLS it keeps the node secret the controller gives (`node_secret`). Both
0600. Every call after that presents the credential, and the controller knows
the node by it; the join token is used for nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import grpc
import structlog

from agent.backoff import Backoff
from agent.clock import Clock
from agent.private_files import write_private
from aifarm.v1 import agent_service_pb2 as pb
from aifarm.v1 import agent_service_pb2_grpc

log = structlog.get_logger(__name__)

SECRET_FILE = "node_secret"
CERT_FILE = "node.crt"
KEY_FILE = "node.key"


@dataclass(frozen=True)
class NodeCredential:
    """What the node presents: a client certificate and its key (mutual TLS), or a node secret."""

    node_secret: str = ""
    certificate_pem: bytes = b""
    key_pem: bytes = b""

    @property
    def client_pair(self) -> tuple[bytes, bytes] | None:
        """(certificate, key) for a TLS channel, or None."""
        return (self.certificate_pem, self.key_pem) if self.certificate_pem else None

    def metadata(self) -> tuple[tuple[str, str], ...]:
        """Call metadata that carries it (a certificate travels in the TLS handshake instead)."""
        return (("authorization", f"Bearer {self.node_secret}"),) if self.node_secret else ()


class CredentialFiles:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir

    def load(self) -> NodeCredential | None:
        secret, cert, key = (self.data_dir / n for n in (SECRET_FILE, CERT_FILE, KEY_FILE))
        if cert.exists() and key.exists():
            return NodeCredential(certificate_pem=cert.read_bytes(), key_pem=key.read_bytes())
        if secret.exists() and (text := secret.read_text().strip()):
            return NodeCredential(node_secret=text)
        return None

    def save(self, credential: NodeCredential) -> None:
        if credential.certificate_pem:
            write_private(self.data_dir / KEY_FILE, credential.key_pem)
            write_private(self.data_dir / CERT_FILE, credential.certificate_pem)
        else:
            write_private(self.data_dir / SECRET_FILE, (credential.node_secret + "\n").encode())


def certificate_request(node_id: str) -> tuple[bytes, bytes]:
    """(CSR, private key) in PEM: a P-256 key made here, which never leaves the node."""
    # Here, not at the top: only a node joining a TLS farm asks, once, and the library maps ~9 MB.
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, node_id)]))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())  # fmt: skip
    return csr.public_bytes(serialization.Encoding.PEM), key_pem


class RegistrationRefused(Exception):
    """The controller will not admit this node id (it holds another credential, or was revoked)."""


async def register(
    channel: grpc.aio.Channel, node_id: str, join_token: str, *, want_certificate: bool, backoff: Backoff,
    clock: Clock,
) -> NodeCredential:  # fmt: skip
    """Register with the join token, retrying while the controller cannot be reached."""
    stub = agent_service_pb2_grpc.AgentServiceStub(channel)
    csr, key = certificate_request(node_id) if want_certificate else (b"", b"")
    metadata = (("authorization", f"Bearer {join_token}"),)
    while True:
        try:
            response = await stub.Register(pb.RegisterRequest(node_id=node_id, csr_pem=csr.decode()),
                                           metadata=metadata, timeout=30)  # fmt: skip
            break
        except grpc.aio.AioRpcError as exc:
            if exc.code() in (grpc.StatusCode.ALREADY_EXISTS, grpc.StatusCode.PERMISSION_DENIED,
                              grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.INVALID_ARGUMENT):  # fmt: skip
                raise RegistrationRefused(exc.details()) from None
            delay = backoff.next_delay(0)
            log.info("controller not reachable to register; retrying", node_id=node_id, code=exc.code().name,
                     in_seconds=round(delay, 2))  # fmt: skip
            await clock.sleep(delay)
    if response.certificate_pem:
        credential = NodeCredential(certificate_pem=response.certificate_pem.encode(), key_pem=key)
    else:
        credential = NodeCredential(node_secret=response.node_secret)
    log.info("node registered", node_id=node_id, credential="certificate" if credential.client_pair else "secret")
    return credential

