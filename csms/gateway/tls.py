"""TLS for the gateway's second listener (wss, OCPP security profiles 2 and 3).

The server presents ``CSMS_OCPP_TLS_CERT`` (its certificate chain) with
``CSMS_OCPP_TLS_KEY``. With ``CSMS_OCPP_TLS_CLIENT_CA`` it asks every client
for a certificate but does not require one (profile-2 stations have none):
a certificate that is presented must chain to that CA, or OpenSSL ends the
TLS handshake (alert "unknown CA") before any HTTP is spoken. What the
handshake saw is handed to admission (domain), which decides per station.
TLS 1.2 is the minimum, as both OCPP security specifications require.
"""

from __future__ import annotations

import ssl
from typing import Any

from csms.domain.admission import PLAIN, TransportSecurity


class TlsConfigError(ValueError):
    """The certificate, key or CA files cannot be used."""


def server_context(cert_file: str, key_file: str, client_ca_file: str = "") -> ssl.SSLContext:
    """A server-side context: TLS 1.2+, the server chain and key, and client
    certificates asked for (optional) when a client CA is given."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert_file, key_file)
    except (OSError, ssl.SSLError) as error:
        raise TlsConfigError(
            f"cannot load the OCPP TLS certificate {cert_file!r} with key {key_file!r}: {error}"
        ) from None
    if client_ca_file:
        try:
            context.load_verify_locations(cafile=client_ca_file)
        except (OSError, ssl.SSLError) as error:
            raise TlsConfigError(
                f"cannot load the client CA file {client_ca_file!r}: {error}"
            ) from None
        context.verify_mode = ssl.CERT_OPTIONAL
    return context


def transport_security(transport: Any) -> TransportSecurity:
    """What an asyncio transport's TLS session says about the client."""
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    if ssl_object is None:
        return PLAIN
    # None: no certificate; {}: one that was not verified (CERT_NONE);
    # a full dict: verified against the client CA.
    certificate = ssl_object.getpeercert()
    if not certificate:
        return TransportSecurity(tls=True)
    return TransportSecurity(
        tls=True, client_cn=subject_common_name(certificate), client_verified=True
    )


def subject_common_name(certificate: dict[str, Any]) -> str | None:
    """The subject's commonName of a certificate as ``getpeercert()`` gives it
    (the last one if there are several, as the most specific)."""
    names = [
        value for rdn in certificate.get("subject", ()) for key, value in rdn if key == "commonName"
    ]
    return names[-1] if names else None
