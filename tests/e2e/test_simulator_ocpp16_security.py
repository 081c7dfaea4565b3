"""The 1.6 security extension of the charge-point simulator, against the small 1.6
Central System of the simulator's unit tests (real websockets, real HTTP for files)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from ocpp.v16 import call
from websockets.asyncio.server import serve
from websockets.typing import Subprotocol

from simulators.certificates import make_csr
from simulators.ocpp16 import connect16
from tests.fake_csms201 import CertificateAuthority, running_file_server
from tests.unit.test_simulator_ocpp16 import FakeCentralSystem, _now
from tests.unit.test_simulator_ocpp16 import csms as csms


async def test_extended_trigger_sign_and_certificate_signed(csms: FakeCentralSystem) -> None:
    """ExtendedTriggerMessage SignChargePointCertificate makes a SignCertificate with a CSR;
    the chain signed from it is Accepted, one for another key Rejected."""
    ca = CertificateAuthority()
    async with connect16(csms.url, "CP-1") as cp:
        server = await csms.station("CP-1")
        trigger = await server.call(
            call.ExtendedTriggerMessage(requested_message="SignChargePointCertificate")
        )
        csr = (await csms.wait_for("SignCertificate"))[0]["csr"]
        wrong = await server.call(
            call.CertificateSigned(certificate_chain=ca.sign_csr(make_csr("CP-1")[0]))
        )
        right = await server.call(call.CertificateSigned(certificate_chain=ca.sign_csr(csr)))
        assert cp.certificates.client_chain_pem is not None
    assert trigger.status == "Accepted"
    assert (wrong.status, right.status) == ("Rejected", "Accepted")


async def test_extended_trigger_heartbeat_and_unknown_connector(csms: FakeCentralSystem) -> None:
    """ExtendedTriggerMessage Heartbeat is Accepted and sent; connector 9 is Rejected."""
    async with connect16(csms.url, "CP-1"):
        server = await csms.station("CP-1")
        ok = await server.call(call.ExtendedTriggerMessage(requested_message="Heartbeat"))
        await csms.wait_for("Heartbeat")
        bad = await server.call(
            call.ExtendedTriggerMessage(requested_message="StatusNotification", connector_id=9)
        )
    assert (ok.status, bad.status) == ("Accepted", "Rejected")


async def test_install_list_delete_certificate(csms: FakeCentralSystem) -> None:
    """InstallCertificate Accepted, GetInstalledCertificateIds lists its hash data,
    DeleteCertificate removes it (then NotFound)."""
    root = CertificateAuthority("Root")
    async with connect16(csms.url, "CP-1"):
        server = await csms.station("CP-1")
        installed = await server.call(
            call.InstallCertificate(
                certificate_type="CentralSystemRootCertificate", certificate=root.pem
            )
        )
        ids = await server.call(
            call.GetInstalledCertificateIds(certificate_type="CentralSystemRootCertificate")
        )
        data = ids.certificate_hash_data[0]
        deleted = await server.call(call.DeleteCertificate(certificate_hash_data=data))
        again = await server.call(call.DeleteCertificate(certificate_hash_data=data))
    assert (installed.status, ids.status) == ("Accepted", "Accepted")
    assert data["hash_algorithm"] == "SHA256"
    assert (deleted.status, again.status) == ("Accepted", "NotFound")


async def test_get_log_uploads_and_reports(csms: FakeCentralSystem) -> None:
    """GetLog: Accepted with a file name; the file is POSTed; Uploading then Uploaded."""
    with running_file_server() as files:
        async with connect16(csms.url, "CP-1"):
            server = await csms.station("CP-1")
            answer = await server.call(
                call.GetLog(
                    log={"remote_location": f"{files.base}/upload"},
                    log_type="SecurityLog",
                    request_id=4,
                )
            )
            notes = await csms.wait_for("LogStatusNotification", 2)
    assert answer.status == "Accepted"
    assert [(n["status"], n["request_id"]) for n in notes] == [("Uploading", 4), ("Uploaded", 4)]
    assert files.uploads[0].file_name == answer.filename


async def test_get_log_refused_by_the_server_is_upload_failure(csms: FakeCentralSystem) -> None:
    """An upload answered 500 ends with UploadFailure."""
    with running_file_server() as files:
        files.upload_status = 500
        async with connect16(csms.url, "CP-1"):
            server = await csms.station("CP-1")
            await server.call(
                call.GetLog(
                    log={"remote_location": f"{files.base}/upload"},
                    log_type="DiagnosticsLog",
                    request_id=5,
                )
            )
            notes = await csms.wait_for("LogStatusNotification", 2)
    assert notes[-1]["status"] == "UploadFailure"


async def test_signed_update_firmware_checks_the_signature(csms: FakeCentralSystem) -> None:
    """SignedUpdateFirmware with a valid signature: Downloading, Downloaded,
    SignatureVerified, Installing, Installed; a bad signature ends InvalidSignature with a
    SecurityEventNotification."""
    ca = CertificateAuthority()
    certificate, sign = ca.firmware_signer()
    image = b"signed image" * 50
    with running_file_server() as files:
        files.files["fw.bin"] = image
        location = f"{files.base}/files/fw.bin"
        async with connect16(csms.url, "CP-1", cp_options={"firmware_step_delay": 0.0}):
            server = await csms.station("CP-1")
            good = await server.call(
                call.SignedUpdateFirmware(
                    request_id=1,
                    firmware={
                        "location": location,
                        "retrieve_date_time": _now(),
                        "signing_certificate": certificate,
                        "signature": sign(image),
                    },
                )
            )
            await csms.wait_for("SignedFirmwareStatusNotification", 5)
            await server.call(
                call.SignedUpdateFirmware(
                    request_id=2,
                    firmware={
                        "location": location,
                        "retrieve_date_time": _now(),
                        "signing_certificate": certificate,
                        "signature": sign(b"other"),
                    },
                )
            )
            await csms.wait_for("SecurityEventNotification")
    notes = csms.payloads("SignedFirmwareStatusNotification")
    assert good.status == "Accepted"
    assert [n["status"] for n in notes if n["request_id"] == 1] == [
        "Downloading",
        "Downloaded",
        "SignatureVerified",
        "Installing",
        "Installed",
    ]
    assert [n["status"] for n in notes if n["request_id"] == 2][-1] == "InvalidSignature"
    assert csms.payloads("SecurityEventNotification")[0]["type"] == "InvalidFirmwareSignature"


async def test_authorization_key_and_security_event(csms: FakeCentralSystem) -> None:
    """ChangeConfiguration AuthorizationKey (the password hex-encoded, as the
    1.6 security whitepaper sends it) becomes the password of the next
    connection; the charge point sends SecurityEventNotification as a call."""
    async with connect16(csms.url, "CP-1", password="old-key-0123456") as cp:
        server = await csms.station("CP-1")
        changed = await server.call(
            call.ChangeConfiguration(key="AuthorizationKey", value=b"new-key-0123456".hex())
        )
        await cp.security_event("SettingSystemTime", "clock set")
        password = cp.password
    assert password == "new-key-0123456"
    async with connect16(csms.url, "CP-1", password=password):
        pass
    assert changed.status == "Accepted"
    assert csms.payloads("SecurityEventNotification")[0]["type"] == "SettingSystemTime"
    assert csms.handshakes[0].authorization != csms.handshakes[-1].authorization


@contextlib.asynccontextmanager
async def _tls_central_system(
    ca: CertificateAuthority, folder: Path
) -> AsyncIterator[FakeCentralSystem]:
    fake = FakeCentralSystem()
    async with serve(
        fake.handler,
        "127.0.0.1",
        0,
        subprotocols=[Subprotocol("ocpp1.6")],
        ssl=ca.server_context(folder),
    ) as server:
        fake.url = f"wss://localhost:{next(iter(server.sockets)).getsockname()[1]}/ocpp"
        yield fake


async def test_client_certificate_from_certificate_signed(tmp_path: Path) -> None:
    """After CertificateSigned, client_ssl_context() presents the signed certificate on a
    TLS connection (security profile 3)."""
    ca = CertificateAuthority()
    async with _tls_central_system(ca, tmp_path) as tls:
        async with connect16(
            tls.url,
            "CP-1",
            password="0123456789abcdef",
            cp_options={"ca_certificates": ca.pem},
            ssl=ca_context(ca),
        ) as cp:
            server = await tls.station("CP-1")
            await cp.sign_certificate()
            csr = (await tls.wait_for("SignCertificate"))[0]["csr"]
            await server.call(call.CertificateSigned(certificate_chain=ca.sign_csr(csr)))
            context = cp.client_ssl_context()
        tls.stations.clear()
        async with connect16(tls.url, "CP-1", ssl=context):
            await tls.station("CP-1")
    writer = tls.stations["CP-1"]._connection  # the server side's connection
    peer = writer.transport.get_extra_info("ssl_object").getpeercert()
    assert dict(x[0] for x in peer["subject"])["commonName"] == "CP-1"


def ca_context(ca: CertificateAuthority) -> object:
    import ssl

    return ssl.create_default_context(cadata=ca.pem)
