"""Node identity: the shared join token only admits a new node; from then on a node is its credential.

At its first join a node registers (with the join token) and gets a credential of
its own: a client certificate signed by the farm's CA, from a CSR whose key never
leaves the node, when the controller serves TLS; otherwise a random node secret,
of which only a hash is kept. Every later call is matched to a node by that
credential, never by an id in a message. An id that holds a credential cannot be
registered again; a revoked one never joins again (Kubernetes' TLS bootstrap and
node authorizer are the model). ShelbyCompute's polling agents bring a credential
of their own, their handshake key, which binds their node id the same way.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, replace
from typing import Protocol

import structlog

from controller.domain.errors import AlreadyExists, InvalidArgument, NotFound, PermissionDenied
from controller.domain.store import Changes, Conflict, Store
from controller.domain.task_actions import validate_id
from controller.domain.types import Clock, CredentialKind, NodeCredential

log = structlog.get_logger(__name__)

#: A handshake key shorter than this binds nothing worth binding.
MIN_HANDSHAKE_KEY = 16


class CertificateSigner(Protocol):
    """The farm's CA, as node identity needs it (controller.pki.FarmCA)."""

    @property
    def ca_pem(self) -> bytes: ...

    def sign_node_csr(self, csr_pem: bytes, node_id: str) -> bytes:
        """A client certificate for the node (PEM); ValueError for a CSR that is not a valid signed request."""


@dataclass(frozen=True)
class Issued:
    """A new node's credential, shown to it once."""

    node_id: str
    certificate_pem: bytes = b""
    ca_pem: bytes = b""
    node_secret: str = ""


def digest(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def signature(key: str, message: str) -> str:
    """Hex HMAC-SHA256 of `message` under `key`, as ShelbyCompute's agent signs."""
    return hmac.new(key.encode(), message.encode(), hashlib.sha256).hexdigest()


class NodeIdentities:
    def __init__(self, store: Store, *, signer: CertificateSigner | None = None, clock: Clock = time.time) -> None:
        self.store = store
        self.signer = signer
        self.clock = clock
        self._by_node: dict[str, NodeCredential] = {}
        self._by_digest: dict[str, NodeCredential] = {}

    async def load(self) -> None:
        for credential in await self.store.all_credentials():
            self._remember(credential)

    def credential(self, node_id: str) -> NodeCredential | None:
        return self._by_node.get(node_id)

    def _remember(self, credential: NodeCredential) -> None:
        self._by_node[credential.node_id] = credential
        if credential.revoke_time:
            self._by_digest.pop(credential.digest, None)
        else:
            self._by_digest[credential.digest] = credential

    def _refuse_taken(self, node_id: str) -> None:
        known = self._by_node.get(node_id)
        if known is not None and known.revoke_time:
            raise PermissionDenied(
                f"node {node_id!r} was revoked; it cannot join again (start the agent with a new data directory"
                " to join under a new id)", reason="NODE_REVOKED",
            )  # fmt: skip
        if known is not None:
            raise AlreadyExists(
                f"node {node_id!r} is already admitted with a credential of its own; connect with that credential,"
                f" or revoke it first (aifarm nodes revoke {node_id})", reason="NODE_ADMITTED",
            )  # fmt: skip

    async def register(self, node_id: str, csr_pem: bytes = b"") -> Issued:
        """Admit a new node id: a certificate for its CSR when there is a CA, else a node secret."""
        validate_id(node_id, "node id")
        self._refuse_taken(node_id)
        now = self.clock()
        if csr_pem and self.signer is not None:
            try:
                certificate = self.signer.sign_node_csr(csr_pem, node_id)
            except ValueError as exc:
                raise InvalidArgument(f"invalid certificate signing request: {exc}", reason="BAD_CSR") from None
            credential = NodeCredential(node_id, CredentialKind.CERTIFICATE, digest(_der(certificate)), "", now)
            issued = Issued(node_id, certificate_pem=certificate, ca_pem=self.signer.ca_pem)
        else:
            secret = f"afn_{secrets.token_urlsafe(32)}"
            credential = NodeCredential(node_id, CredentialKind.SECRET, digest(secret), "", now)
            issued = Issued(node_id, node_secret=secret, ca_pem=self.signer.ca_pem if self.signer else b"")
        await self._commit_new(credential)
        log.info("node admitted", node_id=node_id, credential=credential.kind.value)
        return issued

    async def bind_handshake(self, node_id: str, key: str) -> None:
        """A polling node registers its handshake key: the first binds the id; later ones must be the same key."""
        if len(key) < MIN_HANDSHAKE_KEY:
            raise InvalidArgument(f"handshakeKey is required: a secret of the node's own, at least"
                                  f" {MIN_HANDSHAKE_KEY} characters", reason="MISSING_HANDSHAKE_KEY")  # fmt: skip
        known = self._by_node.get(node_id)
        if known is not None and not known.revoke_time and known.kind is CredentialKind.HANDSHAKE:
            if not hmac.compare_digest(known.digest, digest(key)):
                raise PermissionDenied(f"node {node_id!r} is registered with another handshake key",
                                       reason="NODE_ADMITTED")  # fmt: skip
            return
        self._refuse_taken(node_id)
        await self._commit_new(NodeCredential(node_id, CredentialKind.HANDSHAKE, digest(key), key, self.clock()))
        log.info("polling node admitted", node_id=node_id)

    async def _commit_new(self, credential: NodeCredential) -> None:
        try:
            await self.store.commit(Changes(credentials=[credential]))
        except Conflict:
            raise AlreadyExists(f"node {credential.node_id!r} was admitted meanwhile", reason="NODE_ADMITTED") from None
        self._remember(credential)

    def by_secret(self, secret: str) -> str | None:
        """The node whose secret this is, or None."""
        found = self._by_digest.get(digest(secret)) if secret else None
        return found.node_id if found is not None and found.kind is CredentialKind.SECRET else None

    def by_certificate(self, certificate_pem: bytes) -> str | None:
        """The node whose current certificate this is (verified by TLS against the CA), or None."""
        try:
            found = self._by_digest.get(digest(_der(certificate_pem)))
        except ValueError:
            return None
        return found.node_id if found is not None and found.kind is CredentialKind.CERTIFICATE else None

    def holds_handshake(self, node_id: str) -> bool:
        """Whether the node is a polling node bound to a handshake key (and not revoked)."""
        known = self._by_node.get(node_id)
        return known is not None and not known.revoke_time and known.kind is CredentialKind.HANDSHAKE

    def signed_by(self, node_id: str, message: str, claimed: str) -> bool:
        """Whether `claimed` is the node's HMAC of `message` under its handshake key."""
        known = self._by_node.get(node_id)
        if known is None or known.revoke_time or known.kind is not CredentialKind.HANDSHAKE or not claimed:
            return False
        return hmac.compare_digest(signature(known.key, message), claimed.lower())

    async def revoke(self, node_id: str) -> NodeCredential:
        known = self._by_node.get(node_id)
        if known is None:
            raise NotFound(f"node {node_id!r} holds no credential", reason="NODE_NOT_FOUND")
        if known.revoke_time:
            return known
        revoked = replace(known, revoke_time=self.clock(), key="")
        await self.store.commit(Changes(credentials=[revoked]))
        self._remember(revoked)
        log.warning("node credential revoked", node_id=node_id)
        return revoked


def _der(certificate_pem: bytes) -> bytes:
    """The DER bytes of a PEM certificate (so a re-encoded PEM is still the same certificate); ValueError if it is none."""
    # Here: only a farm with TLS has certificate credentials, and the library maps ~9 MB.
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    return x509.load_pem_x509_certificate(certificate_pem).public_bytes(Encoding.DER)
