"""TLS on the controller's gRPC ports: the certificate it serves and the clients it verifies.

With TLS on, the controller listens on two ports of one gRPC server, with the same
services and interceptors behind both:

* the gRPC port (50051): server TLS. People present an API key, a new node its join
  token. No client certificate is asked for: gRPC Python can either not ask for one
  or require one (``require_client_auth``), nothing in between, so mutual TLS needs a
  port of its own;
* the agent port (50052): mutual TLS. Only a client certificate signed by the farm
  CA gets through the handshake, and `controller.pki.peer_node_id` reads the node id
  from it.

The server certificate is either generated from the farm CA at every start (for
the bound host, this machine's names and addresses, ``--tls-san`` and loopback) or
read from ``--tls-cert``/``--tls-key``. Either way it is also written to
``<data-dir>/pki/server.crt`` and ``server.key`` (0600), so that a REST door on this
machine can serve HTTPS with it.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import psutil
import structlog

from controller.config import ControllerConfig
from controller.private_files import write_private

if TYPE_CHECKING:
    from controller.pki import FarmCA

log = structlog.get_logger(__name__)

PKI_DIR = "pki"
SERVER_CERT_FILE = "server.crt"
SERVER_KEY_FILE = "server.key"


class InsecureBind(ValueError):
    """A non-loopback address asked for without TLS and without ``--insecure``."""


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses; False for anything reachable from elsewhere (0.0.0.0 included)."""
    host = host.strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(
    host: str, *, tls: bool, insecure: bool, what: str, tls_flag: str = "--tls (or --tls-cert/--tls-key)",
    warn: bool = True,
) -> None:
    """Refuse a plaintext listener on a non-loopback address unless ``insecure``; allowed, it is logged loudly
    (unless ``warn`` is False, for a caller whose listener logs it itself)."""
    if tls or is_loopback(host):
        return
    if not insecure:
        raise InsecureBind(
            f"refusing to serve {what} on {host} without TLS: anyone on that network could read the API keys"
            f" and tokens. Use {tls_flag}, bind 127.0.0.1, or pass --insecure on a network you trust"
        )
    if warn:
        log.warning(f"NO TLS (--insecure): {what} on {host} in plaintext; API keys, tokens and task secrets"
                    " cross the network in the clear", host=host)  # fmt: skip


@dataclass(frozen=True)
class ServerTls:
    """The controller's TLS material for one run."""

    ca: FarmCA
    #: The server certificate chain and key, PEM.
    cert_pem: bytes
    key_pem: bytes
    #: Where they are on disk (``<data-dir>/pki/server.crt``, ``server.key``), for a REST door to serve with.
    cert_file: Path
    key_file: Path
    #: The CA clients should trust (``--ca-file``): the farm CA, ``--tls-ca``, or None (a publicly trusted certificate).
    client_ca_file: Path | None

    @classmethod
    def prepare(cls, config: ControllerConfig) -> ServerTls:
        """Load or create the farm CA; issue the server certificate, or read the one given."""
        pki = config.data_dir / PKI_DIR
        from controller.pki import FarmCA  # here: a farm without TLS never loads the crypto library

        ca = FarmCA.load_or_create(pki)
        if config.tls_cert is not None and config.tls_key is not None:
            cert_pem, key_pem = _read(config.tls_cert, "--tls-cert"), _read(config.tls_key, "--tls-key")
            client_ca = config.tls_ca
        else:
            cert_pem, key_pem = ca.server_pair(server_hosts(config.host, config.tls_hosts))
            client_ca = ca.ca_file
        cert_file, key_file = pki / SERVER_CERT_FILE, pki / SERVER_KEY_FILE
        write_private(cert_file, cert_pem)
        write_private(key_file, key_pem)
        return cls(ca, cert_pem, key_pem, cert_file, key_file, client_ca)

    def people_credentials(self) -> grpc.ServerCredentials:
        """The gRPC port's: server TLS, no client certificate asked for."""
        return grpc.ssl_server_credentials([(self.key_pem, self.cert_pem)])

    def agent_credentials(self) -> grpc.ServerCredentials:
        """The agent port's: mutual TLS, a client certificate from the farm CA required."""
        return grpc.ssl_server_credentials([(self.key_pem, self.cert_pem)], root_certificates=self.ca.ca_pem,
                                           require_client_auth=True)  # fmt: skip


def server_hosts(bind_host: str, extra: Iterable[str] = ()) -> list[str]:
    """The names the generated server certificate is for: the bound host (every local address when it is
    0.0.0.0 or ::), this machine's host names, and ``extra`` (loopback is added by the CA)."""
    hosts = [bind_host, socket.gethostname(), socket.getfqdn(), *extra]
    try:
        unspecified = ipaddress.ip_address(bind_host.strip("[]")).is_unspecified
    except ValueError:
        unspecified = bind_host == ""
    if unspecified:
        for addresses in psutil.net_if_addrs().values():
            hosts += [a.address.split("%")[0] for a in addresses if a.family in (socket.AF_INET, socket.AF_INET6)]
    return hosts


def _read(path: Path, flag: str) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read {flag} {path}: {exc.strerror}") from exc
    if b"-----BEGIN" not in data:
        raise ValueError(f"{flag} {path} is not PEM")
    return data
