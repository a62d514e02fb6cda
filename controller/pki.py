"""The farm's own certificate authority: the controller's server certificate and the nodes' client certificates.

On first start the CA's key and certificate are generated into ``<data-dir>/pki/``
(the directory 0700, the files 0600, like the API keys) and reused after that.
The CA signs two kinds of certificates:

* the controller's server certificate (``server_pair``), with a subject alternative
  name for every host and address clients use, plus localhost and the loopback
  addresses; agents, the CLI, the gateway and Envoy verify it against ``ca.crt``;
* a node's client certificate (``sign_node_csr``), from a CSR whose key never left
  the node: CN = the node id, extended key usage clientAuth only. The controller's
  mutual-TLS port accepts only certificates this CA signed, and ``peer_node_id``
  reads the node id back from the verified peer certificate.

Keys are ECDSA P-256. A node's CSR may carry an ECDSA (P-256, P-384) or an RSA
(2048 bits or more) key.
"""

from __future__ import annotations

import datetime
import functools
import ipaddress
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from controller.private_files import private_directory, private_file, write_private

CA_KEY_FILE = "ca.key"
CA_CERT_FILE = "ca.crt"
#: The CA outlives every certificate it signs; a farm is expected to be rebuilt, or its CA rotated, in ten years.
CA_VALIDITY = datetime.timedelta(days=3650)
#: The server certificate is issued afresh at every start, so a year is plenty.
SERVER_VALIDITY = datetime.timedelta(days=365)
NODE_VALIDITY = datetime.timedelta(days=365)
#: Clocks of nodes and controller disagree a little; a certificate is valid from a bit before it was issued.
CLOCK_SKEW = datetime.timedelta(minutes=5)
#: Names every server certificate carries, so local clients always verify.
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
#: What a node id may look like inside a certificate (X.509 caps a common name at 64 characters).
NODE_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_EC_CURVES = (ec.SECP256R1, ec.SECP384R1)
_MIN_RSA_BITS = 2048
_ORGANIZATION = "aifarm"


class InvalidCsr(ValueError):
    """A certificate signing request the CA refuses: not PEM, not signed by its own key, a weak key, a bad node id."""


@dataclass(frozen=True)
class FarmCA:
    """The CA of one farm. Build it with `load_or_create`."""

    #: ``<data-dir>/pki``.
    directory: Path
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    @classmethod
    def load_or_create(cls, directory: Path) -> FarmCA:
        """The CA kept in ``directory``; on first use a new one is generated there (files 0600, directory 0700)."""
        private_directory(directory)
        key_path, cert_path = directory / CA_KEY_FILE, directory / CA_CERT_FILE
        if key_path.exists() and cert_path.exists():
            for path in (key_path, cert_path):
                private_file(path)
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            if not isinstance(key, ec.EllipticCurvePrivateKey):
                raise ValueError(f"{key_path} does not hold an ECDSA key")
            return cls(directory, key, x509.load_pem_x509_certificate(cert_path.read_bytes()))
        if key_path.exists() or cert_path.exists():
            raise FileExistsError(
                f"{directory} holds only half a CA (both {CA_KEY_FILE} and {CA_CERT_FILE} are needed);"
                " restore the missing file, or remove both to start a new farm CA"
            )
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, _ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, f"aifarm farm CA {os.urandom(4).hex()}"),
        ])  # fmt: skip
        now = _now()
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - CLOCK_SKEW)
            .not_valid_after(now + CA_VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )  # fmt: skip
        write_private(key_path, _key_pem(key))
        write_private(cert_path, certificate.public_bytes(serialization.Encoding.PEM))
        return cls(directory, key, certificate)

    @property
    def ca_pem(self) -> bytes:
        """The CA certificate, PEM: what clients trust."""
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def ca_file(self) -> Path:
        """``<data-dir>/pki/ca.crt``: the file to hand to clients (``--ca-file``)."""
        return self.directory / CA_CERT_FILE

    def server_pair(self, hosts: Iterable[str]) -> tuple[bytes, bytes]:
        """A new server certificate and its key (PEM, ``(cert, key)``), for every host and IP given
        plus localhost, 127.0.0.1 and ::1. Unspecified addresses (0.0.0.0, ::) and empty names are skipped."""
        key = ec.generate_private_key(ec.SECP256R1())
        names = subject_alt_names([*hosts, *LOOPBACK_NAMES])
        subject = x509.Name([
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, _ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, "aifarm controller"),
        ])  # fmt: skip
        certificate = self._issue(
            subject, key.public_key(), SERVER_VALIDITY, ExtendedKeyUsageOID.SERVER_AUTH,
            extra=[(x509.SubjectAlternativeName(names), False)],
        )  # fmt: skip
        return certificate.public_bytes(serialization.Encoding.PEM), _key_pem(key)

    def sign_node_csr(self, csr_pem: bytes, node_id: str) -> bytes:
        """A client certificate (PEM) for the key in ``csr_pem``: CN = ``node_id`` (whatever the CSR asked for),
        extended key usage clientAuth, a fresh random serial (`certificate_serial` reads it back).
        InvalidCsr when the request is not a PEM CSR signed by its own key, the key is weak, or the id is malformed."""
        if not NODE_ID_PATTERN.match(node_id):
            raise InvalidCsr(f"node id {node_id!r} cannot be a certificate name: 1-64 letters, digits, '.', '_', '-'")
        try:
            csr = x509.load_pem_x509_csr(csr_pem)
        except (ValueError, TypeError) as exc:
            raise InvalidCsr("csr_pem is not a PEM certificate signing request") from exc
        try:
            valid = csr.is_signature_valid
        except (ValueError, InvalidSignature, x509.UnsupportedGeneralNameType) as exc:
            raise InvalidCsr(f"the certificate signing request cannot be checked: {exc}") from exc
        if not valid:
            raise InvalidCsr("the certificate signing request is not signed by the key it carries")
        public_key = csr.public_key()
        _require_strong(public_key)
        subject = x509.Name([
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, _ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, node_id),
        ])  # fmt: skip
        certificate = self._issue(subject, public_key, NODE_VALIDITY, ExtendedKeyUsageOID.CLIENT_AUTH)
        return certificate.public_bytes(serialization.Encoding.PEM)

    def _issue(
        self, subject: x509.Name, public_key: Any, validity: datetime.timedelta, usage: x509.ObjectIdentifier,
        extra: Iterable[tuple[x509.ExtensionType, bool]] = (),
    ) -> x509.Certificate:  # fmt: skip
        now = _now()
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.certificate.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - CLOCK_SKEW)
            .not_valid_after(min(now + validity, self.certificate.not_valid_after_utc))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True,
                                         key_encipherment=isinstance(public_key, rsa.RSAPublicKey),
                                         content_commitment=False, data_encipherment=False, key_agreement=False,
                                         key_cert_sign=False, crl_sign=False, encipher_only=False,
                                         decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
        )  # fmt: skip
        for extension, critical in extra:
            builder = builder.add_extension(extension, critical=critical)
        return builder.sign(self.key, hashes.SHA256())


def subject_alt_names(hosts: Iterable[str]) -> list[x509.GeneralName]:
    """DNS names and IP addresses for ``hosts``, each once, in order; unspecified addresses and empty names left out."""
    out: list[x509.GeneralName] = []
    for host in hosts:
        host = host.strip().strip("[]")
        if not host:
            continue
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            name: x509.GeneralName = x509.DNSName(host.lower())
        else:
            if address.is_unspecified:
                continue
            name = x509.IPAddress(address)
        if name not in out:
            out.append(name)
    return out


def certificate_serial(cert_pem: bytes) -> int:
    """The serial number of a PEM certificate (to record what was issued, or revoke it)."""
    return x509.load_pem_x509_certificate(cert_pem).serial_number


def certificate_common_name(cert_pem: bytes) -> str:
    """The subject's common name of a PEM certificate."""
    return _common_name(x509.load_pem_x509_certificate(cert_pem))


def peer_node_id(context: Any) -> str | None:
    """The node id (CN) of the peer's verified client certificate, or None.

    ``context`` is a ``grpc.aio.ServicerContext`` (or what its ``auth_context()`` returns).
    A certificate is only present on the controller's mutual-TLS port, where gRPC has
    already verified it against the farm CA; this also requires it to be a leaf
    certificate for client authentication (the controller's own server certificate,
    signed by the same CA, never names a node).
    """
    cert = peer_certificate(context)
    if cert is None:
        return None
    return _node_id_of(cert)


def peer_certificate(context: Any) -> bytes | None:
    """The PEM certificate the peer presented and gRPC verified (mutual TLS), or None."""
    auth: Mapping[str, list[bytes]] = context.auth_context() if hasattr(context, "auth_context") else context
    if auth.get("transport_security_type") != [b"ssl"]:
        return None
    pems = auth.get("x509_pem_cert") or []
    return pems[0] if pems else None


@functools.lru_cache(maxsize=4096)
def _node_id_of(cert_pem: bytes) -> str | None:
    cert = x509.load_pem_x509_certificate(cert_pem)
    try:
        usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return None
    if constraints.ca or ExtendedKeyUsageOID.CLIENT_AUTH not in usage or ExtendedKeyUsageOID.SERVER_AUTH in usage:
        return None
    name = _common_name(cert)
    return name if NODE_ID_PATTERN.match(name) else None


def _common_name(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    value = names[0].value if names else ""
    return value if isinstance(value, str) else value.decode()


def _require_strong(public_key: Any) -> None:
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        if not isinstance(public_key.curve, _EC_CURVES):
            raise InvalidCsr(f"ECDSA curve {public_key.curve.name} is not accepted (P-256 or P-384)")
        return
    if isinstance(public_key, rsa.RSAPublicKey):
        if public_key.key_size < _MIN_RSA_BITS:
            raise InvalidCsr(f"an RSA key of {public_key.key_size} bits is too weak (at least {_MIN_RSA_BITS})")
        return
    raise InvalidCsr(f"a {type(public_key).__name__} is not accepted (ECDSA P-256/P-384 or RSA)")


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    pkcs8 = serialization.PrivateFormat.PKCS8
    return key.private_bytes(serialization.Encoding.PEM, pkcs8, serialization.NoEncryption())


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)
