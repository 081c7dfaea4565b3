"""A small OCPP 2.0.1 CSMS for testing the simulator: the ``ocpp`` library's v201
server-side ChargePoint behind a real ``websockets`` server on 127.0.0.1 (port 0).

It records every request a station sends and the handshakes (path, Authorization,
subprotocol, client certificate); tests use ``station(id)`` to make CSMS calls.
Also a tiny HTTP file server (firmware to download, uploads recorded).
"""

from __future__ import annotations

import asyncio
import contextlib
import email.parser
import email.policy
import http.server
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

from ocpp.routing import on
from ocpp.v201 import ChargePoint as OcppChargePoint
from ocpp.v201 import call_result
from ocpp.v201.enums import Action
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request as HttpRequest
from websockets.http11 import Response
from websockets.typing import Subprotocol

from tests.fake_side import KeepsReadingAfterALostAnswer


def now() -> str:
    moment = datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass
class Request:
    station_id: str
    action: str
    payload: dict[str, Any]


@dataclass
class Handshake:
    path: str
    authorization: str | None
    subprotocol: str | None
    peer_certificate: dict[str, Any] | None


@dataclass
class FakeCsms201:
    url: str = ""
    requests: list[Request] = field(default_factory=list)
    handshakes: list[Handshake] = field(default_factory=list)
    stations: dict[str, CsmsSide] = field(default_factory=dict)
    boot_answers: list[tuple[str, int]] = field(default_factory=list)
    """(status, interval) for the next BootNotifications; then Accepted/300."""
    token_status: dict[str, str] = field(default_factory=dict)
    """idToken -> status for Authorize / TransactionEvent; default Accepted."""
    passwords: dict[str, str] = field(default_factory=dict)
    """station id -> Basic auth password required (401 otherwise)."""

    def check_auth(self, connection: ServerConnection, request: HttpRequest) -> Response | None:
        station_id = unquote(request.path.rsplit("/", 1)[-1])
        wanted = self.passwords.get(station_id)
        if wanted is None:
            return None
        from websockets.headers import build_authorization_basic

        if request.headers.get("Authorization") != build_authorization_basic(station_id, wanted):
            return Response(401, "Unauthorized", Headers([("WWW-Authenticate", "Basic")]), b"")
        return None

    async def handler(self, websocket: ServerConnection) -> None:
        assert websocket.request is not None
        path = websocket.request.path
        ssl_object = websocket.transport.get_extra_info("ssl_object")
        peer = ssl_object.getpeercert() if ssl_object is not None else None
        self.handshakes.append(
            Handshake(
                path,
                websocket.request.headers.get("Authorization"),
                websocket.subprotocol,
                peer or None,
            )
        )
        station_id = unquote(path.rsplit("/", 1)[-1])
        side = CsmsSide(station_id, websocket, self)
        self.stations[station_id] = side
        with contextlib.suppress(ConnectionClosed):
            await side.start()

    def actions(self) -> list[str]:
        return [r.action for r in self.requests]

    def payloads(self, action: str) -> list[dict[str, Any]]:
        return [r.payload for r in self.requests if r.action == action]

    async def wait_for(self, action: str, count: int = 1, within: float = 10.0) -> list[dict]:
        await self.wait_until(lambda: len(self.payloads(action)) >= count, within)
        return self.payloads(action)

    async def wait_until(self, predicate: Callable[[], bool], within: float = 10.0) -> None:
        deadline = time.monotonic() + within
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met; requests: {self.actions()}")
            await asyncio.sleep(0.01)

    async def station(self, station_id: str, within: float = 10.0) -> CsmsSide:
        await self.wait_until(lambda: station_id in self.stations, within)
        return self.stations[station_id]


class CsmsSide(KeepsReadingAfterALostAnswer, OcppChargePoint):
    """The CSMS's end of one connection."""

    def __init__(self, station_id: str, connection: Any, server: FakeCsms201) -> None:
        # Generous: the suite shares two cores with the database; a slow answer is
        # not what these tests check.
        super().__init__(station_id, connection, response_timeout=30)
        self.server = server

    def _record(self, action: str, payload: dict[str, Any]) -> None:
        self.server.requests.append(Request(self.id, action, payload))

    def _info(self, id_token: dict[str, Any] | None) -> dict[str, Any]:
        token = (id_token or {}).get("id_token", "")
        return {"status": self.server.token_status.get(token, "Accepted")}

    @on(Action.boot_notification)
    def on_boot(self, **payload: Any) -> Any:
        self._record("BootNotification", payload)
        status, interval = (
            self.server.boot_answers.pop(0) if self.server.boot_answers else ("Accepted", 300)
        )
        return call_result.BootNotification(current_time=now(), interval=interval, status=status)

    @on(Action.heartbeat)
    def on_heartbeat(self, **payload: Any) -> Any:
        self._record("Heartbeat", payload)
        return call_result.Heartbeat(current_time=now())

    @on(Action.status_notification)
    def on_status(self, **payload: Any) -> Any:
        self._record("StatusNotification", payload)
        return call_result.StatusNotification()

    @on(Action.authorize)
    def on_authorize(self, **payload: Any) -> Any:
        self._record("Authorize", payload)
        return call_result.Authorize(id_token_info=self._info(payload.get("id_token")))

    @on(Action.transaction_event)
    def on_transaction_event(self, **payload: Any) -> Any:
        self._record("TransactionEvent", payload)
        if payload.get("id_token"):
            return call_result.TransactionEvent(id_token_info=self._info(payload["id_token"]))
        return call_result.TransactionEvent()

    @on(Action.meter_values)
    def on_meter_values(self, **payload: Any) -> Any:
        self._record("MeterValues", payload)
        return call_result.MeterValues()

    @on(Action.notify_report)
    def on_notify_report(self, **payload: Any) -> Any:
        self._record("NotifyReport", payload)
        return call_result.NotifyReport()

    @on(Action.notify_event)
    def on_notify_event(self, **payload: Any) -> Any:
        self._record("NotifyEvent", payload)
        return call_result.NotifyEvent()

    @on(Action.security_event_notification)
    def on_security_event(self, **payload: Any) -> Any:
        self._record("SecurityEventNotification", payload)
        return call_result.SecurityEventNotification()

    @on(Action.sign_certificate)
    def on_sign_certificate(self, **payload: Any) -> Any:
        self._record("SignCertificate", payload)
        return call_result.SignCertificate(status="Accepted")

    @on(Action.firmware_status_notification)
    def on_firmware_status(self, **payload: Any) -> Any:
        self._record("FirmwareStatusNotification", payload)
        return call_result.FirmwareStatusNotification()

    @on(Action.log_status_notification)
    def on_log_status(self, **payload: Any) -> Any:
        self._record("LogStatusNotification", payload)
        return call_result.LogStatusNotification()

    @on(Action.reservation_status_update)
    def on_reservation_status(self, **payload: Any) -> Any:
        self._record("ReservationStatusUpdate", payload)
        return call_result.ReservationStatusUpdate()

    @on(Action.report_charging_profiles)
    def on_report_charging_profiles(self, **payload: Any) -> Any:
        self._record("ReportChargingProfiles", payload)
        return call_result.ReportChargingProfiles()

    @on(Action.data_transfer)
    def on_data_transfer(self, **payload: Any) -> Any:
        self._record("DataTransfer", payload)
        return call_result.DataTransfer(status="Accepted", data=payload.get("data"))


@contextlib.asynccontextmanager
async def running_csms201(ssl_context: Any = None) -> AsyncIterator[FakeCsms201]:
    csms = FakeCsms201()
    async with serve(
        csms.handler,
        "127.0.0.1",
        0,
        subprotocols=[Subprotocol("ocpp2.0.1")],
        process_request=csms.check_auth,
        ssl=ssl_context,
    ) as server:
        port = server.sockets[0].getsockname()[1]
        scheme = "wss" if ssl_context is not None else "ws"
        host = "localhost" if ssl_context is not None else "127.0.0.1"
        csms.url = f"{scheme}://{host}:{port}/ocpp"
        yield csms


# --- a file server -------------------------------------------------------------------------


@dataclass
class ReceivedUpload:
    path: str
    field: str | None
    file_name: str | None
    content: bytes


@dataclass
class FileServer:
    """GET /files/<name> serves ``files``; POST anywhere records a multipart upload."""

    files: dict[str, bytes] = field(default_factory=dict)
    uploads: list[ReceivedUpload] = field(default_factory=list)
    upload_status: int = 200
    base: str = ""


def _handler_for(state: FileServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            name = self.path.rsplit("/", 1)[-1]
            content = state.files.get(name)
            if content is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            head = f"Content-Type: {self.headers.get('Content-Type')}\r\n\r\n".encode()
            message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
            for part in message.iter_parts():  # type: ignore[attr-defined]
                state.uploads.append(
                    ReceivedUpload(
                        self.path,
                        part.get_param("name", header="content-disposition"),
                        part.get_filename(),
                        part.get_payload(decode=True) or b"",
                    )
                )
            self.send_response(state.upload_status)
            self.send_header("Content-Length", "0")
            self.end_headers()

    return Handler


@contextlib.contextmanager
def running_file_server() -> Any:
    state = FileServer()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(state))
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


# --- certificates ---------------------------------------------------------------------------


class CertificateAuthority:
    """A CA made in a test: signs CSRs, a server certificate for localhost, and makes
    the server's TLS context (client certificates optional, checked against this CA)."""

    def __init__(self, name: str = "Test CA") -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.now(UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )

    @property
    def pem(self) -> str:
        from cryptography.hazmat.primitives import serialization

        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    def sign(self, public_key: Any, subject: Any, *, server: bool = False) -> Any:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes

        now = datetime.now(UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.cert.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1))
            .not_valid_after(now + timedelta(days=1))
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False
            )
        return builder.sign(self.key, hashes.SHA256())

    def sign_csr(self, csr_pem: str) -> str:
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization

        csr = x509.load_pem_x509_csr(csr_pem.encode())
        cert = self.sign(csr.public_key(), csr.subject)
        return cert.public_bytes(serialization.Encoding.PEM).decode()

    def server_context(self, folder: Any) -> Any:
        import ssl

        from cryptography import x509
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
        cert = self.sign(key.public_key(), name, server=True)
        cert_path, key_path = folder / "server.pem", folder / "server.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_path, key_path)
        context.load_verify_locations(cadata=self.pem)
        context.verify_mode = ssl.CERT_OPTIONAL  # profile 2 without, profile 3 with
        return context

    def firmware_signer(self) -> tuple[str, Callable[[bytes], str]]:
        """A firmware signing certificate (PEM) and a function giving the base64 ECDSA
        SHA-256 signature of some content with its key."""
        import base64

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Firmware signer")])
        pem = self.sign(key.public_key(), name).public_bytes(serialization.Encoding.PEM).decode()

        def sign(content: bytes) -> str:
            return base64.b64encode(key.sign(content, ec.ECDSA(hashes.SHA256()))).decode()

        return pem, sign
