"""One station's OCPP-J conversation: reading frames, answering calls, and
sending the system's own calls.

This is the project's own dispatcher, not the ``ocpp`` library's server path:
it answers every malformed frame with the CALLERROR its OCPP-J version names
(the library answers nothing to text that is not JSON, uses 2.0.1 names on
1.6 and never sends the constraint codes), validates on the event loop with
precompiled msgspec decoders (no thread pool), and never closes the
connection over bad input.

Calls from the charger are handled one after the other, in order: OCPP-J lets
a charger have one call in flight, so handling them inline is both correct
and the cheapest flow control. The system's own calls to the charger are
serialised too (one in flight), and answers to them are matched by id; the
reading loop goes on meanwhile, so the charger's own calls are answered while
one of ours waits for its answer. At most ``queue_limit`` further calls wait
for their turn; one more fails at once with :class:`CallQueueFull`.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import msgspec

from csms.domain.model import StationProfile
from csms.protocol.ocppj import (
    Call,
    CallError,
    CallResult,
    Dialect,
    ErrorCode,
    FrameError,
    encode_call,
    encode_error,
    encode_result,
    parse_frame,
)
from csms.protocol.payloads import Leniency, PayloadCodec, PayloadViolation, Violation
from csms.protocol.storable import check_storable

log = logging.getLogger(__name__)

# A payload that breaks the schema, as the error code each version names it by.
VIOLATION_CODES = {
    Violation.FORMAT: ErrorCode.FORMAT_VIOLATION,
    Violation.TYPE: ErrorCode.TYPE_CONSTRAINT_VIOLATION,
    Violation.OCCURRENCE: ErrorCode.OCCURRENCE_CONSTRAINT_VIOLATION,
    Violation.PROPERTY: ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
}


class TransportClosed(Exception):
    """The socket is gone."""


class Transport(Protocol):
    """A message-oriented connection; the gateway adapts a websocket to it."""

    async def recv(self) -> bytes: ...

    async def send(self, data: bytes) -> None: ...

    async def close(self, code: int, reason: str) -> None: ...


class OcppError(Exception):
    """Raised by a handler to answer with a CALLERROR instead of a result."""

    def __init__(
        self, code: ErrorCode, description: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.details = details or {}


class CallTimeout(Exception):
    """The charger did not answer the system's call in time."""


class CallQueueFull(Exception):
    """As many of the system's calls wait for that charger as allowed; this
    one was not sent."""

    def __init__(self, queued: int) -> None:
        super().__init__(f"{queued} calls wait for this charger already")
        self.queued = queued


class _CallQueue:
    """The system's calls to one charger: the one in flight holds the lock,
    ``waiting`` count the others."""

    __slots__ = ("lock", "waiting")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.waiting = 0


class CallRejected(Exception):
    """The charger answered the system's call with a CALLERROR."""

    def __init__(self, error: CallError) -> None:
        super().__init__(f"{error.error_code}: {error.description}")
        self.error = error


@dataclass(slots=True)
class StationSession:
    """What the protocol layer knows about the station on this socket."""

    profile: StationProfile
    protocol: str
    leniency: Leniency = Leniency.NONE
    remote_address: str = ""

    @property
    def charge_point_id(self) -> str:
        return self.profile.charge_point_id


Handler = Callable[..., Awaitable[msgspec.Struct]]


def on(action: Any) -> Callable[[Handler], Handler]:
    """Marks a handler method for an action (an ``ocpp`` ``Action`` enum
    member or its string value). The handler receives the station session and
    the payload's fields as keyword arguments (snake_case; absent optional
    fields are left out) and returns the result message."""
    name = getattr(action, "value", action)

    def mark(function: Handler) -> Handler:
        function.__ocpp_action__ = name  # type: ignore[attr-defined]
        return function

    return mark


@dataclass(slots=True, frozen=True)
class _Route:
    handler: Handler
    fields: tuple[str, ...]


class Router:
    """The actions one version's handler object answers, found once."""

    def __init__(self, handlers: object, codec: PayloadCodec) -> None:
        self.codec = codec
        self._routes: dict[str, _Route] = {}
        for name in dir(type(handlers)):
            function = getattr(type(handlers), name)
            action = getattr(function, "__ocpp_action__", None)
            if action is None:
                continue
            request_type = codec.request_type(action)
            if request_type is None:
                raise ValueError(f"OCPP {codec.version} has no request {action!r}")
            self._routes[action] = _Route(
                handler=getattr(handlers, name), fields=request_type.__struct_fields__
            )

    def route(self, action: str) -> _Route | None:
        return self._routes.get(action)

    @property
    def actions(self) -> frozenset[str]:
        return frozenset(self._routes)


class ExchangeObserver(Protocol):
    """Told about every finished exchange (message log, metrics)."""

    def call_answered(
        self,
        session: StationSession,
        call: Call,
        answer: bytes,
        error_code: ErrorCode | None,
        seconds: float,
    ) -> None: ...

    def frame_rejected(self, session: StationSession, data: bytes, error: FrameError) -> None: ...

    def own_call_finished(
        self,
        session: StationSession,
        unique_id: str,
        action: str,
        request: bytes,
        answer: CallResult | CallError | None,
    ) -> None:
        """One of the system's calls was answered, or not (``None``: timed
        out or the socket closed first)."""
        ...


class RpcConnection:
    """Serves one station's socket until it closes."""

    # Thousands live at once, mostly idle: no per-instance dict, and the queue
    # of the system's own calls only once the system calls this charger.
    __slots__ = (
        "_call_timeout",
        "_calls",
        "_codec",
        "_gate",
        "_observer",
        "_pending",
        "dialect",
        "router",
        "session",
        "transport",
    )

    def __init__(
        self,
        transport: Transport,
        router: Router,
        session: StationSession,
        *,
        dialect: Dialect,
        observer: ExchangeObserver,
        gate: Callable[[StationSession, str], ErrorCode | None] | None = None,
        call_timeout: float = 30.0,
    ) -> None:
        self.transport = transport
        self.router = router
        self.session = session
        self.dialect = dialect
        self._observer = observer
        self._gate = gate
        self._call_timeout = call_timeout
        self._codec = router.codec
        self._calls: _CallQueue | None = None
        self._pending: dict[str, tuple[str, asyncio.Future[CallResult | CallError]]] = {}

    async def serve(self) -> None:
        """Reads and answers frames until the transport closes."""
        try:
            while True:
                # No local keeps the frame: an idle charger's last frame
                # would stay in memory until its next one.
                await self.handle_frame(await self.transport.recv())
        except TransportClosed:
            pass
        finally:
            for _, future in self._pending.values():
                if not future.done():
                    future.set_exception(TransportClosed("the station disconnected"))
            self._pending.clear()

    async def handle_frame(self, data: bytes) -> None:
        try:
            frame = parse_frame(data)
        except FrameError as error:
            self._observer.frame_rejected(self.session, data, error)
            await self._send(
                encode_error(error.unique_id, error.code, error.description, self.dialect)
            )
            return
        if isinstance(frame, Call):
            await self._answer(frame)
        else:
            self._resolve(frame)

    async def _answer(self, call: Call) -> None:
        started = time.perf_counter()
        error_code: ErrorCode | None = None
        try:
            answer = await self._dispatch(call)
        except OcppError as error:
            error_code = error.code
            answer = encode_error(
                call.unique_id, error.code, error.description, self.dialect, error.details
            )
        self._observer.call_answered(
            self.session, call, answer, error_code, time.perf_counter() - started
        )
        await self._send(answer)

    async def _dispatch(self, call: Call) -> bytes:
        route = self.router.route(call.action)
        if route is None:
            if self._codec.knows(call.action):
                raise OcppError(
                    ErrorCode.NOT_SUPPORTED,
                    f"{call.action} is not a call a charger makes to this system",
                )
            raise OcppError(
                ErrorCode.NOT_IMPLEMENTED, f"OCPP {self._codec.version} has no {call.action!r}"
            )
        if self._gate is not None:
            refusal = self._gate(self.session, call.action)
            if refusal is not None:
                raise OcppError(
                    refusal,
                    "the station is not accepted: only BootNotification is answered",
                )
        try:
            decoded = self._codec.decode_request(call.action, call.payload, self.session.leniency)
            check_storable(decoded.message)
        except PayloadViolation as violation:
            raise OcppError(
                VIOLATION_CODES[violation.kind], violation.description, violation.details
            ) from None
        if decoded.fixes:
            log.warning(
                "station %s: %s accepted leniently: %r",
                self.session.charge_point_id,
                call.action,
                "; ".join(decoded.fixes),
            )
        message = decoded.message
        arguments = {
            name: value
            for name in route.fields
            if (value := getattr(message, name)) is not msgspec.UNSET
        }
        try:
            result = await route.handler(self.session, **arguments)
            return encode_result(call.unique_id, self._codec.encode(result))
        except OcppError:
            raise
        except Exception as error:
            if isinstance(error, TimeoutError):
                # Storage slower than the write timeout: an operational state
                # the metrics show, not a bug; a traceback per call would
                # flood the log in exactly that state.
                log.warning(
                    "station %s: %s not committed in time; answered InternalError",
                    self.session.charge_point_id,
                    call.action,
                )
            else:
                log.exception("station %s: %s failed", self.session.charge_point_id, call.action)
            raise OcppError(
                ErrorCode.INTERNAL_ERROR,
                f"{call.action} could not be processed; retry later",
                {"cause": type(error).__name__},
            ) from None

    # -- the system's own calls ---------------------------------------------

    async def call(
        self,
        action: str,
        message: msgspec.Struct,
        *,
        timeout: float | None = None,
        queue_limit: int | None = None,
    ) -> msgspec.Struct:
        """Sends a call to the charger and returns its decoded answer.

        One call is in flight at a time; the others wait in order. With
        ``queue_limit`` calls waiting already (None: no limit) this one
        raises CallQueueFull at once. ``timeout`` counts from the moment the
        call is sent. Raises CallTimeout, CallRejected (a CALLERROR),
        TransportClosed or PayloadViolation (an answer that breaks the
        schema)."""
        queue = self._calls
        if queue is None:
            queue = self._calls = _CallQueue()
        if queue_limit is not None and queue.lock.locked() and queue.waiting >= queue_limit:
            raise CallQueueFull(queue.waiting)
        queue.waiting += 1
        try:
            await queue.lock.acquire()
        finally:
            queue.waiting -= 1
        try:
            unique_id = str(uuid.uuid4())
            future: asyncio.Future[CallResult | CallError] = (
                asyncio.get_running_loop().create_future()
            )
            self._pending[unique_id] = (action, future)
            request = self._codec.encode(message)
            answer: CallResult | CallError | None = None
            try:
                await self._send_call(encode_call(unique_id, action, request))
                try:
                    answer = await asyncio.wait_for(future, timeout or self._call_timeout)
                except TimeoutError:
                    raise CallTimeout(f"{action}: no answer from the charger") from None
            finally:
                self._pending.pop(unique_id, None)
                self._observer.own_call_finished(self.session, unique_id, action, request, answer)
        finally:
            queue.lock.release()
        if isinstance(answer, CallError):
            raise CallRejected(answer)
        decoded = self._codec.decode_response(action, answer.payload, self.session.leniency)
        check_storable(decoded.message)
        return decoded.message

    @property
    def calls_waiting(self) -> int:
        """The system's calls waiting behind the one in flight."""
        return 0 if self._calls is None else self._calls.waiting

    async def _send_call(self, data: bytes) -> None:
        """Sends one of the system's calls; a closed socket raises
        TransportClosed (no answer will come)."""
        await self.transport.send(data)

    def _resolve(self, frame: CallResult | CallError) -> None:
        entry = self._pending.get(frame.unique_id)
        if entry is None:
            log.warning(
                "station %s answered %r, which is no call in flight; ignored",
                self.session.charge_point_id,
                frame.unique_id,
            )
            return
        _, future = entry
        if not future.done():
            future.set_result(frame)

    async def _send(self, data: bytes) -> None:
        try:
            await self.transport.send(data)
        except TransportClosed:
            log.info(
                "station %s disconnected before its answer was sent",
                self.session.charge_point_id,
            )
