"""The OCPP websocket gateway: it accepts sockets, checks who is calling,
and holds the connections. What is said on them is the protocol layer's job.

``ws://HOST:PORT/ocpp/{charge_point_id}`` with subprotocol ``ocpp2.0.1`` or
``ocpp1.6`` (2.0.1 preferred when a charger offers both). The
handshake refuses unknown stations (404, unless the unknown-station policy
registers them) and wrong or missing credentials (401). A client offering no
supported subprotocol gets the handshake without one and is then closed, as
OCPP-J prescribes, unless its station is marked as old 1.6 firmware. A second
connection for the same station replaces the first.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import ssl
import time
import weakref
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any, Protocol
from urllib.parse import unquote

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.typing import Subprotocol

from csms.domain.admission import Admission, Admitted, Refusal
from csms.domain.model import StationProfile
from csms.gateway.frames import FramesConnection, text_frame
from csms.gateway.keepalive import Keepalive
from csms.gateway.registry import Connected, ConnectionRegistry
from csms.gateway.tls import transport_security
from csms.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from csms.metrics import Metrics
from csms.protocol.rpc import TransportClosed

log = logging.getLogger(__name__)

OCPP_PATH_PREFIX = "/ocpp/"
# Preferred first when a client offers several.
# In order of preference: a charger offering both gets 2.0.1.
SUPPORTED_SUBPROTOCOLS: tuple[str, ...] = ("ocpp2.0.1", "ocpp1.6")
LEGACY_SUBPROTOCOL = "ocpp1.6"

# Seconds a charger has to complete the websocket handshake once its TCP
# connection is accepted.
HANDSHAKE_TIMEOUT = 60.0

# Close codes: 1002 protocol error (no usable subprotocol), 1000 when a newer
# connection replaced this one, 1001 going away (shutdown, silent station),
# 1008 policy violation (a charger that keeps sending without waiting for
# answers; websockets itself closes with 1009 for a frame above the limit).
CLOSE_NO_SUBPROTOCOL = 1002
CLOSE_REPLACED = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_FLOODING = 1008

# A charger is closed for flooding only after this many calls in a row found
# further frames waiting behind them (and CSMS_OCPP_FLOOD_SECONDS passed): a
# burst of a few pipelined calls after a boot is only held back.
FLOOD_MIN_CALLS = 50
# Seconds the close handshake of a flooding charger may take (it reads
# nothing, so it may never answer): then the TCP connection is dropped.
FLOOD_CLOSE_TIMEOUT = 2.0

_REFUSAL_STATUS = {
    Refusal.MALFORMED_ID: HTTPStatus.BAD_REQUEST,
    Refusal.UNKNOWN_STATION: HTTPStatus.NOT_FOUND,
    Refusal.CREDENTIALS_REQUIRED: HTTPStatus.UNAUTHORIZED,
    Refusal.BAD_CREDENTIALS: HTTPStatus.UNAUTHORIZED,
    Refusal.TLS_REQUIRED: HTTPStatus.FORBIDDEN,
    Refusal.NO_SECRET: HTTPStatus.FORBIDDEN,
    Refusal.CLIENT_CERTIFICATE_REQUIRED: HTTPStatus.FORBIDDEN,
    Refusal.CLIENT_CERTIFICATE_MISMATCH: HTTPStatus.FORBIDDEN,
}


# Bytes already waiting in a socket's write buffer below which a frame is
# written without send()'s flow control (websockets' own high-water mark is
# 64 KiB; OCPP frames are a few hundred bytes).
_FAST_SEND_BUFFER_LIMIT = 16 * 1024
# What an open connection keeps of its handshake request: nothing.
_HANDSHAKE_DONE = Request(path="", headers=Headers())


class WebsocketTransport:
    """A websocket as the protocol layer's transport (text frames only).

    Flow control: websockets reads at most ``max_queue`` frames ahead of the
    one being answered (the gateway sets it from CSMS_OCPP_MAX_QUEUED_BYTES),
    then stops reading the socket, so a charger that sends without waiting
    for answers is held back by TCP. One that keeps frames waiting behind
    every call for ``flood_seconds`` (and at least FLOOD_MIN_CALLS calls) is
    closed with 1008."""

    __slots__ = ("_busy_calls", "_busy_since", "_flood_seconds", "_socket", "charge_point_id")

    def __init__(
        self, socket: FramesConnection, *, flood_seconds: float = 0.0, charge_point_id: str = ""
    ) -> None:
        self._socket = socket
        self._flood_seconds = flood_seconds
        self._busy_since: float | None = None
        self._busy_calls = 0
        self.charge_point_id = charge_point_id

    async def recv(self) -> bytes:
        try:
            data = await self._socket.next_message()
        except ConnectionClosed:
            raise TransportClosed from None
        if self._flood_seconds and frames_waiting(self._socket):
            await self._busy()
        else:
            self._busy_since = None
        return data if isinstance(data, bytes) else data.encode()

    async def _busy(self) -> None:
        """Another frame waits behind this one: the charger did not wait for
        our answer. Tolerated for a while; a charger that never lets the
        queue run empty is closed."""
        now = time.monotonic()
        if self._busy_since is None:
            self._busy_since, self._busy_calls = now, 0
        self._busy_calls += 1
        if now - self._busy_since < self._flood_seconds or self._busy_calls < FLOOD_MIN_CALLS:
            return
        log.warning(
            "station %s sent %d calls in %.1f s without waiting for answers; closing (%d)",
            self.charge_point_id,
            self._busy_calls,
            now - self._busy_since,
            CLOSE_FLOODING,
        )
        await close_soon(self._socket, CLOSE_FLOODING, "calls sent without waiting for answers")
        raise TransportClosed

    async def send(self, data: bytes) -> None:
        socket = self._socket
        # Fast path for the common case, an open socket whose peer keeps up:
        # write the frame out, without send()'s context manager and drain
        # (about a third of its cost), and on an uncompressed connection
        # without the sans-I/O protocol's frame object too. Everything else
        # (closing, a full write buffer) takes send().
        transport = socket.transport
        protocol = socket.protocol
        if (
            protocol.state is State.OPEN
            and not transport.is_closing()
            and transport.get_write_buffer_size() < _FAST_SEND_BUFFER_LIMIT
        ):
            if protocol.extensions:
                protocol.send_text(data)
                socket.send_data()
            else:
                transport.write(text_frame(data))
            return
        try:
            await socket.send(data, text=True)
        except ConnectionClosed:
            raise TransportClosed from None

    async def close(self, code: int, reason: str) -> None:
        await self._socket.close(code, reason)


class StationHandler(Protocol):
    """Serves what is said on an admitted station's socket."""

    async def serve(
        self, entry: Connected, transport: WebsocketTransport, profile: StationProfile
    ) -> None:
        """Runs until the socket closes."""
        ...

    def closed(
        self, entry: Connected, profile: StationProfile, *, current: bool, reason: str
    ) -> None:
        """The socket closed; ``current`` is False when a newer connection of
        the same station had replaced it."""
        ...


def frames_waiting(socket: FramesConnection) -> int:
    """Messages read from this connection and not yet taken (each message
    websockets' own queue holds has its marker among them)."""
    return socket.messages_waiting


async def close_soon(socket: ServerConnection, code: int, reason: str) -> None:
    """Closes with ``code``; a peer that does not complete the close
    handshake within FLOOD_CLOSE_TIMEOUT is cut off."""
    try:
        await asyncio.wait_for(socket.close(code, reason), FLOOD_CLOSE_TIMEOUT)
    except TimeoutError:
        socket.transport.abort()


def parse_station_path(path: str) -> str | None:
    """The charge point id of ``/ocpp/{id}`` (URL-decoded), or None."""
    path = path.split("?", 1)[0]
    if not path.startswith(OCPP_PATH_PREFIX):
        return None
    identity = path[len(OCPP_PATH_PREFIX) :].rstrip("/")
    if not identity or "/" in identity:
        return None
    return unquote(identity)


def parse_basic_auth(headers: Headers) -> tuple[str, str] | None:
    header = headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, separator, password = decoded.partition(":")
    if not separator:
        return None
    return user, password


class Gateway:
    def __init__(
        self,
        *,
        admission: Admission,
        registry: ConnectionRegistry,
        handler: StationHandler,
        metrics: Metrics,
        host: str,
        port: int,
        backlog: int = 16384,
        reuse_port: bool = False,
        ping_interval: float | None = 60.0,
        ping_timeout: float | None = 30.0,
        max_message_size: int = 1 << 20,
        max_queued_bytes: int = 2 << 20,
        flood_seconds: float = 10.0,
        tls: ssl.SSLContext | None = None,
        tls_port: int = 0,
    ) -> None:
        self.admission = admission
        self.registry = registry
        self._handler = handler
        self._metrics = metrics
        metrics.watch_connections(lambda: len(registry))
        self._host = host
        self._port = port
        self._backlog = backlog
        self._reuse_port = reuse_port
        self._ping_interval = ping_interval or None
        self._ping_timeout = ping_timeout or None
        self._max_message_size = max_message_size
        # Frames read ahead of the one being answered: as many of the
        # largest allowed as fit in max_queued_bytes (at least two, so that
        # reading resumes at one waiting and a charger that keeps the queue
        # busy is seen doing so).
        self._max_queue = max(2, max_queued_bytes // max_message_size)
        self._flood_seconds = flood_seconds
        self._server: Server | None = None
        # A second listener for wss (security profiles 2 and 3) beside ws.
        self._tls = tls
        self._tls_port = tls_port
        self._tls_server: Server | None = None
        self._keepalive = (
            Keepalive(registry, interval=self._ping_interval, timeout=self._ping_timeout)
            if self._ping_interval
            else None
        )
        self._admitted: weakref.WeakKeyDictionary[ServerConnection, StationProfile] = (
            weakref.WeakKeyDictionary()
        )
        self.accepting = True

    async def start(self) -> None:
        self._server = await self._listen(self._port, None)
        if self._tls is not None:
            self._tls_server = await self._listen(self._tls_port, self._tls)
        if self._keepalive is not None:
            self._keepalive.start()

    async def _listen(self, port: int, tls: ssl.SSLContext | None) -> Server:
        return await serve(
            self._handle,
            self._host,
            port,
            ssl=tls,
            process_request=self._process_request,
            select_subprotocol=self._select_subprotocol,
            # permessage-deflate only for chargers that ask for it (cellular
            # data costs money); the others pay no compressor memory.
            compression="deflate",
            # A boot storm on a busy host can take longer than websockets'
            # default of 10 s to finish every handshake it has accepted.
            open_timeout=HANDSHAKE_TIMEOUT,
            # One sweep pings every connection (keepalive.py) instead of
            # websockets' task per connection.
            ping_interval=None,
            max_size=self._max_message_size,
            # Reading stops above max_queue frames and resumes at half.
            max_queue=(self._max_queue, self._max_queue // 2),
            backlog=self._backlog,
            reuse_port=self._reuse_port or None,
            server_header="csms",
            create_connection=FramesConnection,
        )

    @property
    def port(self) -> int:
        assert self._server is not None, "the gateway is not started"
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def tls_port(self) -> int | None:
        """The wss listener's port, None without TLS."""
        if self._tls_server is None:
            return None
        return int(self._tls_server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Stops listening and closes every connection (going away)."""
        self.accepting = False
        if self._keepalive is not None:
            await self._keepalive.stop()
        if self._tls_server is not None:
            self._tls_server.close(close_connections=True)
            await self._tls_server.wait_closed()
            self._tls_server = None
        if self._server is None:
            return
        self._server.close(close_connections=True)
        await self._server.wait_closed()
        self._server = None

    # -- handshake ------------------------------------------------------------

    async def _process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        charge_point_id = parse_station_path(request.path)
        if charge_point_id is None:
            return self._plain_http(connection, request.path)
        if not self.accepting:
            self._metrics.handshake_refused("draining")
            return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "shutting down\n")
        try:
            outcome = await self.admission.admit(
                charge_point_id,
                parse_basic_auth(request.headers),
                transport_security(connection.transport),
            )
        except Exception:
            log.exception("admission of %r failed", charge_point_id)
            self._metrics.handshake_refused("admission_failed")
            return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "try again later\n")
        if isinstance(outcome, Refusal):
            self._metrics.handshake_refused(outcome.name.lower())
            log.warning(
                # %r: the id is the charger's text, URL-decoded (CR, LF...)
                "refused %r from %s: %s",
                charge_point_id,
                _remote(connection),
                outcome.value,
            )
            response = connection.respond(_REFUSAL_STATUS[outcome], outcome.value + "\n")
            if _REFUSAL_STATUS[outcome] is HTTPStatus.UNAUTHORIZED:
                response.headers["WWW-Authenticate"] = 'Basic realm="OCPP", charset="UTF-8"'
            return response
        assert isinstance(outcome, Admitted)
        self._admitted[connection] = outcome.profile
        return None

    def _plain_http(self, connection: ServerConnection, path: str) -> Response:
        """Plain HTTP on the OCPP port: a health check for load balancers in
        front of the gateway and metrics for a gateway run without the web app."""
        path = path.split("?", 1)[0]
        if path == "/healthz":
            if not self.accepting:
                # Draining: a load balancer takes this node out.
                return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "draining\n")
            return connection.respond(HTTPStatus.OK, "ok\n")
        if path == "/metrics":
            response = connection.respond(HTTPStatus.OK, self._metrics.exposition().decode())
            del response.headers["Content-Type"]
            response.headers["Content-Type"] = METRICS_CONTENT_TYPE
            return response
        return connection.respond(
            HTTPStatus.NOT_FOUND, "OCPP endpoint is /ocpp/{charge_point_id}\n"
        )

    def _select_subprotocol(
        self, connection: ServerConnection, offered: Sequence[Subprotocol]
    ) -> Subprotocol | None:
        for supported in SUPPORTED_SUBPROTOCOLS:
            if supported in offered:
                return Subprotocol(supported)
        # Complete the handshake without a subprotocol; _handle decides
        # whether to close.
        return None

    # -- connections ----------------------------------------------------------

    async def _handle(self, socket: ServerConnection) -> None:
        if not isinstance(socket, FramesConnection):  # serve() makes only these
            raise TypeError(f"expected a FramesConnection, got {type(socket).__name__}")
        profile = self._admitted.pop(socket, None)
        if profile is None:  # cannot happen: the handshake admitted it
            await socket.close(CLOSE_GOING_AWAY, "not admitted")
            return
        # The handshake's request and response headers are read only while
        # it runs; kept, they are about a sixth of an idle connection's
        # memory. websockets' parser keeps the request object itself (and
        # tells the handshake phase by the connection's request being None),
        # so its headers are emptied and a shared empty request takes its place.
        if socket.request is not None:
            socket.request.headers.clear()
        socket.request = _HANDSHAKE_DONE
        socket.response = None
        protocol = socket.subprotocol
        if protocol is None:
            if not profile.assume_ocpp16:
                log.warning(
                    "station %s offered no supported subprotocol (%s); closing",
                    profile.charge_point_id,
                    ", ".join(SUPPORTED_SUBPROTOCOLS),
                )
                await socket.close(
                    CLOSE_NO_SUBPROTOCOL,
                    "no supported OCPP subprotocol offered: " + ", ".join(SUPPORTED_SUBPROTOCOLS),
                )
                return
            protocol = Subprotocol(LEGACY_SUBPROTOCOL)
        entry = Connected(
            charge_point_id=profile.charge_point_id,
            station_pk=profile.pk,
            protocol=protocol,
            socket=socket,
        )
        previous = self.registry.add(entry)
        if previous is not None:
            log.info("station %s reconnected; closing its previous socket", entry.charge_point_id)
            task = asyncio.create_task(
                previous.socket.close(CLOSE_REPLACED, "replaced by a new connection")
            )
            _keep(task)
        try:
            transport = WebsocketTransport(
                socket, flood_seconds=self._flood_seconds, charge_point_id=entry.charge_point_id
            )
            await self._handler.serve(entry, transport, profile)
        finally:
            current = self.registry.remove(entry)
            reason = f"{socket.close_code} {socket.close_reason or ''}".strip()
            self._handler.closed(entry, profile, current=current, reason=reason)

    def drop(self, charge_point_id: str, code: int, reason: str) -> bool:
        """Closes a station's socket that is no longer this node's (the
        station connected to another node): the connection leaves the
        registry first, so its close does not mark the station offline."""
        entry = self.registry.get(charge_point_id)
        if entry is None or not self.registry.remove(entry):
            return False
        _keep(asyncio.create_task(entry.socket.close(code, reason)))
        return True

    async def close_station(self, charge_point_id: str, reason: str) -> bool:
        entry = self.registry.get(charge_point_id)
        if entry is None:
            return False
        await entry.socket.close(CLOSE_GOING_AWAY, reason)
        return True


def _remote(connection: ServerConnection) -> str:
    address: Any = connection.remote_address
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]}:{address[1]}"
    return str(address)


_background: set[asyncio.Task[Any]] = set()


def _keep(task: asyncio.Task[Any]) -> None:
    """Keeps a fire-and-forget task referenced and logs its failure."""
    _background.add(task)

    def done(finished: asyncio.Task[Any]) -> None:
        _background.discard(finished)
        if not finished.cancelled() and finished.exception() is not None:
            log.error("background task failed", exc_info=finished.exception())

    task.add_done_callback(done)
