"""The CSMS's certificate authority: it signs chargers' certificate signing
requests (SignCertificate, 1.6 security extension and 2.0.1) and can create
itself and a server certificate for the gateway's TLS listener
(``csms ca init``).

The operator configures it with ``CSMS_CA_CERT`` and ``CSMS_CA_KEY`` (PEM
files) and ``CSMS_CA_VALIDITY_DAYS``. A CSR is signed only when its own
signature is valid and its subject CN is the station's charge point id (the
identity the certificate is then bound to, security profile 3); the issued
certificate is a TLS client certificate (no CA, key usage digital signature
and key agreement/encipherment, extended key usage client auth) with the
subject of the CSR. The answer to the charger is the chain: the new
certificate, then the CA's.

Free of I/O except the file reads of :meth:`CertificateAuthority.from_files`.
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from crm.clock import utcnow

# A certificate is valid from a little before it is issued, so a charger whose
# clock is slightly behind does not reject it as not valid yet.
CLOCK_SKEW = timedelta(minutes=5)

SigningKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


class CsrRejected(ValueError):
    """A certificate signing request the CA will not sign; the message says why."""


class CaConfigError(ValueError):
    """The CA's certificate or key cannot be used."""


def _hash_for(key: object) -> hashes.HashAlgorithm | None:
    # Ed25519/Ed448 sign without a separate digest.
    if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        return None
    return hashes.SHA256()


def common_name(name: x509.Name) -> str | None:
    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not values:
        return None
    value = values[-1].value
    return value if isinstance(value, str) else value.decode()


class CertificateAuthority:
    # A plain class, not a dataclass: the API's dependency injection
    # inspects dataclass fields, and the key's type is a union of classes.
    __slots__ = ("certificate", "clock", "key", "validity_days")

    def __init__(
        self,
        certificate: x509.Certificate,
        key: SigningKey,
        validity_days: int = 365,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.certificate = certificate
        self.key = key
        self.validity_days = validity_days
        self.clock = clock

    @classmethod
    def from_pem(
        cls,
        cert_pem: bytes,
        key_pem: bytes,
        validity_days: int = 365,
        clock: Callable[[], datetime] = utcnow,
    ) -> CertificateAuthority:
        try:
            certificate = x509.load_pem_x509_certificate(cert_pem)
            key = serialization.load_pem_private_key(key_pem, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm) as error:
            raise CaConfigError(f"cannot read the CA certificate or key: {error}") from None
        if not isinstance(
            key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
        ):
            raise CaConfigError("the CA key must be RSA, EC or Ed25519")
        if key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ) != certificate.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ):
            raise CaConfigError("the CA key does not belong to the CA certificate")
        return cls(certificate, key, validity_days, clock)

    @classmethod
    def from_files(
        cls, cert_file: str, key_file: str, validity_days: int = 365
    ) -> CertificateAuthority:
        try:
            cert_pem = Path(cert_file).read_bytes()
            key_pem = Path(key_file).read_bytes()
        except OSError as error:
            raise CaConfigError(f"cannot read the CA files: {error}") from None
        return cls.from_pem(cert_pem, key_pem, validity_days)

    @property
    def certificate_pem(self) -> str:
        """The CA's own certificate (installed in chargers as the CSMS root)."""
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()

    def sign_csr(self, csr_pem: str, charge_point_id: str) -> str:
        """The PEM chain (new certificate, then the CA's) for a CSR whose
        subject CN is ``charge_point_id``; CsrRejected otherwise."""
        try:
            csr = x509.load_pem_x509_csr(csr_pem.strip().encode())
        except ValueError as error:
            raise CsrRejected(f"not a PEM certificate signing request: {error}") from None
        try:
            valid = csr.is_signature_valid
        except UnsupportedAlgorithm:
            valid = False
        if not valid:
            raise CsrRejected("the CSR's signature does not verify")
        cn = common_name(csr.subject)
        if cn != charge_point_id:
            raise CsrRejected(
                f"the CSR's subject CN is {cn!r}, not the charge point id {charge_point_id!r}"
            )
        now = self.clock()
        public_key = csr.public_key()
        builder = (
            x509.CertificateBuilder()
            .subject_name(csr.subject)
            .issuer_name(self.certificate.subject)
            .public_key(public_key)  # type: ignore[arg-type]
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - CLOCK_SKEW)
            .not_valid_after(now + timedelta(days=self.validity_days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_leaf_key_usage(public_key), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(public_key),  # type: ignore[arg-type]
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    self.key.public_key()  # type: ignore[arg-type]
                ),
                critical=False,
            )
        )
        certificate = builder.sign(self.key, _hash_for(self.key))  # type: ignore[arg-type]
        return certificate.public_bytes(serialization.Encoding.PEM).decode() + self.certificate_pem

    def issue_server_certificate(
        self, hostnames: Sequence[str], key: ec.EllipticCurvePrivateKey
    ) -> x509.Certificate:
        """A TLS server certificate for the gateway, for these host names or
        IP addresses (the first is the CN)."""
        now = self.clock()
        names: list[x509.GeneralName] = []
        for host in hostnames:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        return (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0])]))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - CLOCK_SKEW)
            .not_valid_after(now + timedelta(days=self.validity_days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    self.key.public_key()  # type: ignore[arg-type]
                ),
                critical=False,
            )
            .sign(self.key, _hash_for(self.key))  # type: ignore[arg-type]
        )


def _leaf_key_usage(public_key: object) -> x509.KeyUsage:
    rsa_key = isinstance(public_key, rsa.RSAPublicKey)
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=rsa_key,
        data_encipherment=False,
        key_agreement=isinstance(public_key, ec.EllipticCurvePublicKey),
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def create_ca(
    name: str, validity_days: int = 3650, clock: Callable[[], datetime] = utcnow
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A new self-signed CA (ECDSA P-256) named ``name``."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, name),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, secrets.token_hex(8)),
        ]
    )
    now = clock()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + timedelta(days=validity_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return certificate, key


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def certificate_pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def check_certificate_pem(text: str) -> str:
    """The text if it holds at least one PEM certificate, else ValueError
    with the reason."""
    try:
        certificates = x509.load_pem_x509_certificates(text.encode())
    except ValueError as error:
        raise ValueError(f"not a PEM certificate: {error}") from None
    if not certificates:
        raise ValueError("not a PEM certificate")
    return text
