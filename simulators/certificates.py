"""The certificates a simulated charger keeps, for OCPP 2.0.1 and the 1.6 security extension.

- its own key pair and CSR (SignCertificate), and the signed chain it receives
  (CertificateSigned), which it checks against the key it made;
- installed root certificates (InstallCertificate) by type, listed by their
  hash data (GetInstalledCertificateIds) and deleted by it (DeleteCertificate);
- a TLS client context with its signed certificate (security profile 3).

Uses the ``cryptography`` package; nothing here knows a websocket.
"""

from __future__ import annotations

import hashlib
import os
import ssl
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

__all__ = [
    "CertificateStore",
    "InstalledCertificate",
    "hash_data",
    "load_chain",
    "make_csr",
    "verify_signature",
]


def load_chain(pem: str) -> list[x509.Certificate]:
    """Every certificate of a PEM chain; ValueError if there is none or one is malformed."""
    certificates = x509.load_pem_x509_certificates(pem.encode())
    if not certificates:
        raise ValueError("no certificate")
    return certificates


def _key_bytes(public_key: Any) -> bytes:
    """The subjectPublicKey bits (what OCSP's issuerKeyHash hashes)."""
    if isinstance(public_key, rsa.RSAPublicKey):
        return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return public_key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    return public_key.public_bytes(  # type: ignore[no-any-return]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def hash_data(
    certificate: x509.Certificate, issuer: x509.Certificate | None = None
) -> dict[str, str]:
    """OCPP ``CertificateHashDataType`` (snake_case keys), SHA256.

    The issuer's key is the issuer certificate's, or the certificate's own when it is
    self-signed or the issuer is unknown.
    """
    issuer_key = (issuer or certificate).public_key()
    return {
        "hash_algorithm": "SHA256",
        "issuer_name_hash": hashlib.sha256(certificate.issuer.public_bytes()).hexdigest(),
        "issuer_key_hash": hashlib.sha256(_key_bytes(issuer_key)).hexdigest(),
        "serial_number": format(certificate.serial_number, "x"),
    }


def _same_hash(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    keys = ("issuer_name_hash", "issuer_key_hash", "serial_number")
    return all(
        str(a.get(k, "")).lower().lstrip("0") == str(b.get(k, "")).lower().lstrip("0") for k in keys
    )


def make_csr(
    common_name: str,
    organization: str = "SimVendor",
    *,
    key: ec.EllipticCurvePrivateKey | None = None,
) -> tuple[str, ec.EllipticCurvePrivateKey]:
    """A PEM CSR (CN = station id, O = organisation) and its new P-256 key."""
    private_key = key or ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
        ]
    )
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(subject)
        .sign(private_key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM).decode(), private_key


def verify_signature(certificate_pem: str, content: bytes, signature: bytes) -> bool:
    """Does ``signature`` (raw bytes) sign ``content`` with the certificate's key (SHA256)?"""
    try:
        public_key = load_chain(certificate_pem)[0].public_key()
        if isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, content, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, content, ec.ECDSA(hashes.SHA256()))
        else:
            return False
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


@dataclass
class InstalledCertificate:
    certificate_type: str
    pem: str
    certificate: x509.Certificate
    hash_data: dict[str, str]


@dataclass
class CertificateStore:
    """What the charger holds. ``charging_station_type`` names its own certificate's type
    (``ChargingStationCertificate`` in 2.0.1, ``ChargePointCertificate`` in 1.6)."""

    charging_station_type: str = "ChargingStationCertificate"
    max_entries: int = 20
    installed: list[InstalledCertificate] = field(default_factory=list)
    private_key: ec.EllipticCurvePrivateKey | None = None
    """The key of the last CSR sent."""
    pending_key: ec.EllipticCurvePrivateKey | None = None
    client_chain_pem: str | None = None
    """The signed chain accepted by CertificateSigned (leaf first)."""
    client_key: ec.EllipticCurvePrivateKey | None = None
    csrs: list[str] = field(default_factory=list)

    # --- own certificate ---------------------------------------------------------------

    def new_csr(self, common_name: str, organization: str) -> str:
        csr, key = make_csr(common_name, organization)
        self.pending_key = key
        self.csrs.append(csr)
        return csr

    def accept_signed(self, chain_pem: str, *, now: datetime | None = None) -> bool:
        """CertificateSigned: accept a chain whose leaf carries the key of our last CSR
        and is valid now; anything else is rejected (and the old certificate kept)."""
        try:
            chain = load_chain(chain_pem)
        except ValueError:
            return False
        leaf = chain[0]
        moment = now or datetime.now(UTC)
        if not leaf.not_valid_before_utc <= moment <= leaf.not_valid_after_utc:
            return False
        keys = [k for k in (self.pending_key, self.client_key) if k is not None]
        leaf_key = _key_bytes(leaf.public_key())
        match = next((k for k in keys if _key_bytes(k.public_key()) == leaf_key), None)
        if match is None:
            return False
        self.client_chain_pem = chain_pem
        self.client_key = match
        if match is self.pending_key:
            self.pending_key = None
        return True

    @property
    def client_certificate(self) -> x509.Certificate | None:
        if self.client_chain_pem is None:
            return None
        return load_chain(self.client_chain_pem)[0]

    def client_ssl_context(self, trusted_pem: Iterable[str] = ()) -> ssl.SSLContext:
        """A TLS client context presenting our signed certificate (security profile 3).

        ``trusted_pem``: root certificates for the server (besides the installed
        CSMS / Central System roots); with none at all, the system's defaults.
        """
        if self.client_chain_pem is None or self.client_key is None:
            raise ValueError("no signed client certificate yet")
        context = self.trust_context(trusted_pem)
        key_pem = self.client_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        # load_cert_chain reads files only
        with tempfile.TemporaryDirectory() as folder:
            cert_path = os.path.join(folder, "cert.pem")
            key_path = os.path.join(folder, "key.pem")
            with open(cert_path, "w") as f:
                f.write(self.client_chain_pem)
            with open(key_path, "wb") as fb:
                fb.write(key_pem)
            context.load_cert_chain(cert_path, key_path)
        return context

    def trust_context(self, trusted_pem: Iterable[str] = ()) -> ssl.SSLContext:
        roots = list(trusted_pem) + [
            c.pem
            for c in self.installed
            if c.certificate_type in ("CSMSRootCertificate", "CentralSystemRootCertificate")
        ]
        context = ssl.create_default_context()
        if roots:
            context = ssl.create_default_context(cadata="\n".join(roots))
        return context

    # --- installed certificates ------------------------------------------------------

    def install(self, certificate_type: str, pem: str) -> str:
        """InstallCertificate: Accepted, Rejected (not a certificate, expired) or Failed (full)."""
        try:
            certificate = load_chain(pem)[0]
        except ValueError:
            return "Rejected"
        if certificate.not_valid_after_utc < datetime.now(UTC):
            return "Rejected"
        data = hash_data(certificate, self._issuer_of(certificate, certificate_type))
        for existing in self.installed:
            if existing.certificate_type == certificate_type and _same_hash(
                existing.hash_data, data
            ):
                return "Accepted"  # already there
        if len(self.installed) >= self.max_entries:
            return "Failed"
        self.installed.append(
            InstalledCertificate(certificate_type, pem.strip() + "\n", certificate, data)
        )
        return "Accepted"

    def _issuer_of(self, certificate: x509.Certificate, _type: str) -> x509.Certificate | None:
        for other in self.installed:
            if other.certificate.subject == certificate.issuer:
                return other.certificate
        return None

    def ids(self, types: Iterable[str] | None = None) -> list[InstalledCertificate]:
        wanted = set(types or ())
        return [c for c in self.installed if not wanted or c.certificate_type in wanted]

    def own_hash_data(self) -> dict[str, str] | None:
        leaf = self.client_certificate
        if leaf is None or self.client_chain_pem is None:
            return None
        chain = load_chain(self.client_chain_pem)
        return hash_data(leaf, chain[1] if len(chain) > 1 else None)

    def delete(self, data: Mapping[str, Any]) -> str:
        """DeleteCertificate: Accepted, NotFound, or Failed for our own certificate."""
        own = self.own_hash_data()
        if own is not None and _same_hash(own, data):
            return "Failed"  # a charger never deletes its own certificate
        for existing in self.installed:
            if _same_hash(existing.hash_data, data):
                self.installed.remove(existing)
                return "Accepted"
        return "NotFound"

    def types(self) -> set[str]:
        return {c.certificate_type for c in self.installed}
