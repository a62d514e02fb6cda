"""The farm CA: kept in the data directory, private, and strict about what it signs."""

from __future__ import annotations

import ipaddress
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from controller.pki import (
    CA_CERT_FILE,
    CA_KEY_FILE,
    FarmCA,
    InvalidCsr,
    certificate_common_name,
    certificate_serial,
    peer_node_id,
)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def csr_for(key: object, cn: str = "whatever-the-node-asks") -> bytes:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    builder = x509.CertificateSigningRequestBuilder().subject_name(subject)
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(key, algorithm).public_bytes(serialization.Encoding.PEM)  # type: ignore[arg-type]


def spki(key: object) -> bytes:
    public = key.public_key() if hasattr(key, "public_key") else key  # type: ignore[union-attr]
    der, info = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return public.public_bytes(der, info)  # type: ignore[union-attr]


def verified_by(ca: FarmCA, cert_pem: bytes) -> x509.Certificate:
    cert = x509.load_pem_x509_certificate(cert_pem)
    cert.verify_directly_issued_by(ca.certificate)
    return cert


def test_created_once_private_and_reused(tmp_path: Path) -> None:
    pki = tmp_path / "data" / "pki"
    ca = FarmCA.load_or_create(pki)
    assert mode(pki) == 0o700
    assert mode(pki / CA_KEY_FILE) == 0o600 and mode(pki / CA_CERT_FILE) == 0o600
    assert (pki / CA_CERT_FILE).read_bytes() == ca.ca_pem and ca.ca_file == pki / CA_CERT_FILE
    constraints = ca.certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca

    (pki / CA_KEY_FILE).chmod(0o644)  # loosened by hand: tightened again on load
    again = FarmCA.load_or_create(pki)
    assert again.ca_pem == ca.ca_pem
    assert mode(pki / CA_KEY_FILE) == 0o600


def test_half_a_ca_is_refused_rather_than_replaced(tmp_path: Path) -> None:
    ca = FarmCA.load_or_create(tmp_path)
    (tmp_path / CA_KEY_FILE).unlink()
    with pytest.raises(FileExistsError, match="half a CA"):
        FarmCA.load_or_create(tmp_path)
    assert (tmp_path / CA_CERT_FILE).read_bytes() == ca.ca_pem


def test_server_pair_names_every_host_and_loopback(tmp_path: Path) -> None:
    ca = FarmCA.load_or_create(tmp_path)
    cert_pem, key_pem = ca.server_pair(["ctl.example.org", "10.1.2.3", "0.0.0.0", "", "[fd00::7]", "CTL.example.org"])
    cert = verified_by(ca, cert_pem)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["ctl.example.org", "localhost"]
    assert sans.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address(a) for a in
                                                        ("10.1.2.3", "fd00::7", "127.0.0.1", "::1")]  # fmt: skip
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    key = serialization.load_pem_private_key(key_pem, password=None)
    assert key.public_key().public_numbers() == cert.public_key().public_numbers()  # type: ignore[union-attr]


@pytest.mark.parametrize("key", [ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP384R1()),
                                 rsa.generate_private_key(public_exponent=65537, key_size=2048)],
                         ids=["p256", "p384", "rsa2048"])  # fmt: skip
def test_a_node_certificate_names_the_node_not_what_the_csr_asked(tmp_path: Path, key: object) -> None:
    ca = FarmCA.load_or_create(tmp_path)
    cert_pem = ca.sign_node_csr(csr_for(key, cn="someone-else"), "node-a1")
    cert = verified_by(ca, cert_pem)
    assert certificate_common_name(cert_pem) == "node-a1"
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert spki(cert.public_key()) == spki(key)
    assert certificate_serial(cert_pem) == cert.serial_number
    assert certificate_serial(ca.sign_node_csr(csr_for(key), "node-a1")) != cert.serial_number


def test_a_csr_with_a_forged_signature_is_refused(tmp_path: Path) -> None:
    ca = FarmCA.load_or_create(tmp_path)
    # The subject of one CSR with the public key of another: the signature no longer matches the key.
    mine, other = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    good = x509.load_pem_x509_csr(csr_for(mine)).public_bytes(serialization.Encoding.DER)
    other_spki, mine_spki = spki(other), spki(mine)
    assert mine_spki in good
    forged_der = good.replace(mine_spki, other_spki)
    forged = x509.load_der_x509_csr(forged_der).public_bytes(serialization.Encoding.PEM)
    with pytest.raises(InvalidCsr, match="not signed by the key"):
        ca.sign_node_csr(forged, "node-a1")


@pytest.mark.parametrize(("csr", "message"), [
    (b"", "not a PEM"),
    (b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n", "not a PEM"),
    (csr_for(rsa.generate_private_key(public_exponent=65537, key_size=1024)), "too weak"),
    (csr_for(ec.generate_private_key(ec.SECP256K1())), "curve secp256k1"),
    (csr_for(ed25519.Ed25519PrivateKey.generate()), "not accepted"),
], ids=["empty", "garbage", "rsa1024", "secp256k1", "ed25519"])  # fmt: skip
def test_bad_requests_are_refused(tmp_path: Path, csr: bytes, message: str) -> None:
    with pytest.raises(InvalidCsr, match=message):
        FarmCA.load_or_create(tmp_path).sign_node_csr(csr, "node-a1")


@pytest.mark.parametrize("node_id", ["", "-leading-dash", "a" * 65, "has space", "slash/y", "ünïcode"])
def test_a_node_id_that_cannot_be_a_certificate_name_is_refused(tmp_path: Path, node_id: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(InvalidCsr, match="node id"):
        FarmCA.load_or_create(tmp_path).sign_node_csr(csr_for(key), node_id)


def auth_context(cert_pem: bytes | None, security: bytes = b"ssl") -> dict[str, list[bytes]]:
    """What grpc.aio.ServicerContext.auth_context() holds (as gRPC 1.85 fills it in)."""
    ctx = {"transport_security_type": [security], "security_level": [b"TSI_PRIVACY_AND_INTEGRITY"]}
    if cert_pem is not None:
        ctx["x509_pem_cert"] = [cert_pem]
    return ctx


def test_peer_node_id_reads_only_a_node_certificate(tmp_path: Path) -> None:
    ca = FarmCA.load_or_create(tmp_path)
    node_cert = ca.sign_node_csr(csr_for(ec.generate_private_key(ec.SECP256R1())), "node-b2")
    server_cert, _ = ca.server_pair(["ctl"])

    class Context:
        def auth_context(self) -> dict[str, list[bytes]]:
            return auth_context(node_cert)

    assert peer_node_id(Context()) == "node-b2"
    assert peer_node_id(auth_context(node_cert)) == "node-b2"
    assert peer_node_id(auth_context(None)) is None  # TLS without a client certificate
    assert peer_node_id({}) is None  # plaintext: gRPC sets nothing
    assert peer_node_id(auth_context(node_cert, security=b"insecure")) is None
    assert peer_node_id(auth_context(server_cert)) is None  # the controller's own certificate names no node
    assert peer_node_id(auth_context(ca.ca_pem)) is None
