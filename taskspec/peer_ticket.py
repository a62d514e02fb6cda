"""Tickets for reading another node's model bytes (aifarm.v1.PeerService).

The controller gives each node a key in its Welcome; for a model copy it assigns, it signs the
copy's fields with the source node's key, and the source node checks the ticket with the key it
holds. So a node reads another's models only for a copy the controller placed, and only that model.
Both sides use these two functions.
"""

from __future__ import annotations

import hashlib
import hmac
import time

#: How long a ticket is good for after the assignment that carries it.
TICKET_SECONDS = 3600


def _message(model: str, device: str, task_id: str, attempt: int, reader_node: str, expires: int) -> bytes:
    return "\n".join((model, device, task_id, str(attempt), reader_node, str(expires))).encode()


def sign(key: bytes, model: str, device: str, task_id: str, attempt: int, reader_node: str,
         *, now: float | None = None) -> str:  # fmt: skip
    """"EXPIRES.HEX" for these fields."""
    expires = int((time.time() if now is None else now) + TICKET_SECONDS)
    mac = hmac.new(key, _message(model, device, task_id, attempt, reader_node, expires), hashlib.sha256)
    return f"{expires}.{mac.hexdigest()}"


def verify(key: bytes, ticket: str, model: str, device: str, task_id: str, attempt: int, reader_node: str,
           *, now: float | None = None) -> str:  # fmt: skip
    """"" when the ticket is good for these fields; else why not."""
    expires_text, _, mac = ticket.partition(".")
    if not key:
        return "this node holds no ticket key yet (it is not connected to the controller)"
    if not expires_text.isdigit() or not mac:
        return "the ticket is malformed"
    expected = hmac.new(key, _message(model, device, task_id, attempt, reader_node, int(expires_text)), hashlib.sha256)
    if not hmac.compare_digest(expected.hexdigest(), mac):
        return "the ticket was not signed for this read"
    if int(expires_text) < (time.time() if now is None else now):
        return "the ticket has expired"
    return ""
