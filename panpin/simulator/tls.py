"""A throwaway CA and server certificate for the simulator's HTTPS listener.

Clients verify the server exactly as they would a real device with a private CA: trust the CA
file (``ca_file``) or pin the server certificate's SHA-256 fingerprint (``fingerprint``).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class TlsMaterial:
    ca_file: Path
    cert_file: Path
    key_file: Path
    fingerprint: str  # SHA-256 of the server certificate (DER), lowercase hex, no separators

    @property
    def fingerprint_colons(self) -> str:
        """The same fingerprint as ``AB:CD:...`` (the form browsers and openssl print)."""
        fp = self.fingerprint.upper()
        return ":".join(fp[i : i + 2] for i in range(0, len(fp), 2))

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(str(self.cert_file), str(self.key_file))
        return ctx

    def client_context(self) -> ssl.SSLContext:
        """A verifying client context trusting only the simulator's CA."""
        return ssl.create_default_context(cafile=str(self.ca_file))


# Days a server certificate lasts: 397, the most public CAs issue, so that a client's "expires
# soon" warning (panpin doctor: 30 days) stays quiet unless a test asks for less.
VALID_DAYS = 397


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "panpin simulator"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def generate(
    workdir: Path,
    hostnames: tuple[str, ...] = ("localhost",),
    *,
    ips: tuple[str, ...] = ("127.0.0.1",),
    expired: bool = False,
    valid_days: int | None = None,
) -> TlsMaterial:
    """Create ``ca.pem``, ``server.pem`` and ``server.key`` (mode 0600) in ``workdir``.

    The server certificate names ``hostnames`` and ``ips``; ``expired`` makes one that ended
    yesterday (for the suite's TLS failure tests); ``valid_days`` how long the server
    certificate lasts from now (default :data:`VALID_DAYS`, as long as public CAs issue).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    # EC keys: generation is instant, which keeps every test's start-up fast.
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("panpin simulator CA")
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    san: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    san += [x509.DNSName(h) for h in hostnames]
    start, end = (
        (now - datetime.timedelta(days=30), now - datetime.timedelta(days=1))
        if expired
        else (
            now - datetime.timedelta(days=1),
            now + datetime.timedelta(days=VALID_DAYS if valid_days is None else valid_days),
        )
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file = workdir / "ca.pem"
    cert_file = workdir / "server.pem"
    key_file = workdir / "server.key"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    fingerprint = cert.fingerprint(hashes.SHA256()).hex()
    return TlsMaterial(ca_file, cert_file, key_file, fingerprint)
