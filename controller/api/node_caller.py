"""Which node is calling: from its credential, never from a message.

A streaming agent presents a client certificate or its node secret (`calling_node`);
a ShelbyCompute polling node proves each call with an HMAC under the handshake key it
registered (`prove_polling_node`).
"""

from __future__ import annotations

import grpc

from controller.api.auth import Credentials, legacy_call, presented_key
from controller.api.errors import abort
from controller.domain.errors import NotFound, PermissionDenied
from controller.domain.node_identity import NodeIdentities

#: The header a polling node's calls carry: hex HMAC-SHA256 of its node id under its handshake key.
SIGNATURE_METADATA = "x-node-signature"


async def calling_node(
    context: grpc.aio.ServicerContext, identities: NodeIdentities, credentials: Credentials, *, claimed: str = ""
) -> str:
    """The node id the call's credential belongs to; aborts UNAUTHENTICATED (no or an unknown credential)
    or PERMISSION_DENIED (`claimed`, the id a message gives, is another node's).

    With authentication off (--no-auth, trusted networks) the claimed id is taken as given.
    """
    if not credentials.enabled:
        return claimed
    node_id = _node_of(context, identities)
    if node_id is None:
        key = presented_key(dict(_metadata(context)))
        if key and key == credentials.agent_token:
            await _refuse(context, "the join token only registers a node: call AgentService.Register, then call"
                                   " with the node's own credential")  # fmt: skip
        await _refuse(context, "no valid node credential: present the node's client certificate (mutual TLS) or"
                               " its node secret; a revoked node cannot join again")  # fmt: skip
    if claimed and claimed != node_id:
        code = grpc.StatusCode.PERMISSION_DENIED
        await abort(context, code, f"this credential is node {node_id!r}'s, not {claimed!r}'s", "NOT_THIS_NODE")
    return node_id  # type: ignore[return-value]


def _node_of(context: grpc.aio.ServicerContext, identities: NodeIdentities) -> str | None:
    certificates = (context.auth_context() or {}).get("x509_pem_cert") or []
    if certificates:
        return identities.by_certificate(certificates[0])
    return identities.by_secret(presented_key(dict(_metadata(context))))


def _metadata(context: grpc.aio.ServicerContext) -> list[tuple[str, str]]:
    return [(k, v) for k, v in (context.invocation_metadata() or ()) if isinstance(v, str)]


async def _refuse(context: grpc.aio.ServicerContext, message: str) -> None:
    await abort(context, grpc.StatusCode.UNAUTHENTICATED, message, "NODE_CREDENTIAL")


def prove_polling_node(
    context: grpc.aio.ServicerContext, identities: NodeIdentities, credentials: Credentials, node_id: str, *,
    signed: str | None = None, message: str = "",
) -> None:  # fmt: skip
    """The call comes from the holder of the polling node's handshake key (a no-op with --no-auth).

    `signed` is an HMAC of `message` the call carries itself (an ack's signature of its jobId);
    otherwise the x-node-signature header, an HMAC of the node id, is the proof.

    A call let in by a legacy-open group (no credential, a trusted address: controller.api.auth)
    may leave the header out, as ShelbyCompute's own agent does: the node must then be one bound
    to a handshake key, and what the call may touch is only the node's own: an ack is still
    verified by its signature, and the domain takes a script fetch, log lines and a finish only
    for a job placed on that node, which only its signed ack put there.
    """
    if not credentials.enabled:
        return
    if identities.credential(node_id) is None:
        raise NotFound(f"node {node_id!r} is not registered", reason="NODE_NOT_FOUND")
    header = next((v for k, v in _metadata(context) if k == SIGNATURE_METADATA), "")
    if signed is None and not header and legacy_call() is not None:
        if identities.holds_handshake(node_id):
            return
        raise PermissionDenied(f"node {node_id!r} is not a polling node bound to a handshakeKey; a call without"
                               " credentials cannot act for it", reason="NODE_NOT_PROVED")  # fmt: skip
    claimed = signed if signed is not None else header
    if not identities.signed_by(node_id, message or node_id, claimed):
        what = ("the ack's signature (hex HMAC-SHA256 of the jobId under the node's handshakeKey)" if message
                else f"the {SIGNATURE_METADATA} header (hex HMAC-SHA256 of the node id under its handshakeKey)")
        raise PermissionDenied(f"node {node_id!r} is not proved: send {what}", reason="NODE_NOT_PROVED")
