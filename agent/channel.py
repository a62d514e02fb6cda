"""The agent's gRPC channel to the controller: plaintext, TLS, or mutual TLS.

With the farm's CA certificate the channel verifies the controller's server
certificate (its subject alternative names must cover the address dialled); with a
client pair as well it presents the node's certificate, which the controller's
mutual-TLS port requires. Without a CA it is plaintext, for loopback and trusted
networks only.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc

#: The environment variable naming the CA file, for the agent and the command-line client alike.
ENV_CA_FILE = "AIFARM_CA_FILE"


def open_channel(
    address: str,
    ca_pem: bytes | None,
    client_pair: tuple[bytes, bytes] | None = None,
    options: Sequence[tuple[str, Any]] = (),
) -> grpc.aio.Channel:
    """A channel to ``address`` (``HOST:PORT``).

    ``ca_pem``: the CA certificate(s) that signed the controller's certificate; None: plaintext.
    ``client_pair``: ``(certificate_pem, key_pem)`` to present (mutual TLS); needs ``ca_pem``.
    """
    if ca_pem is None:
        if client_pair is not None:
            raise ValueError("a client certificate is only sent over TLS: give the CA certificate too")
        return grpc.aio.insecure_channel(address, options=list(options))
    cert, key = client_pair if client_pair is not None else (None, None)
    credentials = grpc.ssl_channel_credentials(root_certificates=ca_pem, private_key=key, certificate_chain=cert)
    return grpc.aio.secure_channel(address, credentials, options=list(options))


def read_ca_file(path: Path) -> bytes:
    """The PEM certificates in ``path``; ValueError saying what is wrong when it holds none."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read the CA file {path}: {exc.strerror}") from exc
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise ValueError(f"{path} holds no PEM certificate (expected the farm's ca.crt)")
    return data
