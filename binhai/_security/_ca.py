"""The deployment's certificate authority: one self-signed CA under the data directory.

Layout of ``ca_dir``: ``ca.pem`` (the CA certificate, 0644: devices and bridges need it to
check the broker and the core), ``ca.key`` (its private key, 0600), ``crl.pem`` (the revocation
list, rewritten on every revoke). Keys are ECDSA P-256. Leaf certificates are either client
certificates (``CN = tenant/device`` or a bridge name; TLS client auth) or server certificates
(TLS server auth, with the host names and IP addresses as subject alternative names).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from binhai._security._errors import NotInitialised, SecurityError
from binhai._security._files import private_dir, write_private

__all__ = ["CertAuthority", "IssuedCert"]

_CA_DAYS = 3650
_LEAF_DAYS = 825


@dataclass(frozen=True, slots=True)
class IssuedCert:
    common_name: str
    serial: int
    cert_pem: bytes
    key_pem: bytes
    not_after: dt.datetime

    def write(self, cert_path: Path, key_path: Path) -> None:
        """Write the certificate (0644) and its key (0600)."""
        write_private(key_path, self.key_pem)
        write_private(cert_path, self.cert_pem)
        cert_path.chmod(0o644)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


class CertAuthority:
    """The CA in ``ca_dir``; :meth:`init` creates it, the other methods need it to exist."""

    def __init__(self, ca_dir: Path) -> None:
        self.dir = ca_dir
        self.cert_path = ca_dir / "ca.pem"
        self.key_path = ca_dir / "ca.key"
        self.crl_path = ca_dir / "crl.pem"

    @property
    def exists(self) -> bool:
        return self.cert_path.exists() and self.key_path.exists()

    def init(self, *, name: str = "binhai CA", days: int = _CA_DAYS) -> x509.Certificate:
        """Create the CA key and self-signed certificate and an empty CRL; refuse to overwrite."""
        if self.key_path.exists() or self.cert_path.exists():
            raise SecurityError(f"a CA already exists in {self.dir}; refusing to replace it")
        private_dir(self.dir)
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = _now()
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        write_private(self.key_path, _key_pem(key))
        write_private(self.cert_path, cert.public_bytes(serialization.Encoding.PEM))
        self.cert_path.chmod(0o644)
        self.write_crl(())
        return cert

    def _load(self) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        if not self.exists:
            raise NotInitialised("CA", self.dir, "run 'binhai ca init' first")
        cert = x509.load_pem_x509_certificate(self.cert_path.read_bytes())
        key = serialization.load_pem_private_key(self.key_path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise SecurityError(f"{self.key_path} is not an EC private key")
        return cert, key

    def certificate(self) -> x509.Certificate:
        return self._load()[0]

    def issue(
        self,
        common_name: str,
        *,
        server_hosts: tuple[str, ...] = (),
        days: int = _LEAF_DAYS,
    ) -> IssuedCert:
        """A new key and a certificate for it: a server certificate when ``server_hosts`` is
        given (names and IPs as SANs), else a client certificate for ``common_name``."""
        ca_cert, ca_key = self._load()
        key = ec.generate_private_key(ec.SECP256R1())
        now = _now()
        not_after = min(now + dt.timedelta(days=days), ca_cert.not_valid_after_utc)
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server_hosts else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
            )
        )
        if server_hosts:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([_san(h) for h in server_hosts]), critical=False
            )
        cert = builder.sign(ca_key, hashes.SHA256())
        return IssuedCert(
            common_name,
            cert.serial_number,
            cert.public_bytes(serialization.Encoding.PEM),
            _key_pem(key),
            not_after,
        )

    def write_crl(self, revoked_serials: tuple[int, ...] | list[int], *, days: int = 30) -> Path:
        """Rewrite ``crl.pem`` listing ``revoked_serials``; valid for ``days`` (rewrite sooner)."""
        ca_cert, ca_key = self._load()
        now = _now()
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(ca_cert.subject)
            .last_update(now - dt.timedelta(minutes=5))
            .next_update(now + dt.timedelta(days=days))
        )
        for serial in sorted(set(revoked_serials)):
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(serial)
                .revocation_date(now - dt.timedelta(minutes=5))
                .build()
            )
        crl = builder.sign(ca_key, hashes.SHA256())
        write_private(self.crl_path, crl.public_bytes(serialization.Encoding.PEM))
        self.crl_path.chmod(0o644)
        return self.crl_path


def _san(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)
