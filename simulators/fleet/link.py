"""OCPP-J framing over one websocket: calls out, answers matched by id, calls in.

Version-neutral: it moves ``[2, id, action, payload]`` / ``[3, id, payload]`` /
``[4, id, code, description, details]`` frames and knows no action. A station
makes one call at a time (OCPP-J allows one in flight per side); the reader
task answers the server's calls through a synchronous handler, so an answer
never waits for the station's own call to finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable
from typing import Any

import msgspec
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from simulators.fleet.metrics import FleetMetrics

__all__ = ["CallRejected", "CallTimeout", "CommandRejected", "LinkClosed", "OcppLink"]

_log = logging.getLogger(__name__)

CALL, CALLRESULT, CALLERROR = 2, 3, 4

CommandHandler = Callable[[str, Any], dict[str, Any]]


class LinkClosed(ConnectionError):
    """The socket closed before the call was answered (or before it was sent)."""

    def __init__(self, message: str, *, sent: bool) -> None:
        super().__init__(message)
        self.sent = sent
        """The call went out: the server may have acted on it."""


class CallTimeout(TimeoutError):
    """No answer within the response timeout."""


class CallRejected(Exception):
    """The server answered with a CALLERROR."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description


class CommandRejected(Exception):
    """Raised by a command handler: the server's call gets this CALLERROR."""

    def __init__(self, code: str, description: str = "") -> None:
        super().__init__(code)
        self.code = code
        self.description = description


class OcppLink:
    """One open websocket of one station."""

    def __init__(
        self,
        socket: ClientConnection,
        station_id: str,
        metrics: FleetMetrics,
        handler: CommandHandler,
        *,
        on_closed: Callable[[], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.socket = socket
        self.station_id = station_id
        self._metrics = metrics
        self._handler = handler
        self._on_closed = on_closed
        self._clock = clock
        self._ids = itertools.count(1)
        self._waiting: dict[str, tuple[asyncio.Future[Any], str, float]] = {}
        self.closed = False
        self.closed_by_us = False
        self.reader: asyncio.Task[None] | None = None

    def start(self) -> asyncio.Task[None]:
        self.reader = asyncio.get_running_loop().create_task(
            self._read(), name=f"{self.station_id}-reader"
        )
        self.reader.add_done_callback(self._reader_done)
        return self.reader

    async def call(self, action: str, payload: dict[str, Any], timeout: float) -> Any:
        """Send a CALL and return the CALLRESULT payload.

        Raises CallRejected (CALLERROR), CallTimeout or LinkClosed.
        """
        if self.closed:
            raise LinkClosed("the socket is closed", sent=False)
        unique_id = str(next(self._ids))
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        sent_at = self._clock()
        self._waiting[unique_id] = (future, action, sent_at)
        try:
            try:
                await self.socket.send(
                    msgspec.json.encode([CALL, unique_id, action, payload]), text=True
                )
            except ConnectionClosed:
                raise LinkClosed("the socket closed while sending", sent=False) from None
            self._metrics.call_sent(action, sent_at)
            try:
                async with asyncio.timeout(timeout):
                    return await future
            except TimeoutError:
                self._metrics.timed_out(action, self._clock())
                raise CallTimeout(f"{action}: no answer within {timeout:g} s") from None
        finally:
            self._waiting.pop(unique_id, None)

    async def close(self) -> None:
        """Close from our side (a planned disconnect, a reset, the end of the run)."""
        self.closed_by_us = True
        await self.socket.close()
        if self.reader is not None:
            await asyncio.gather(self.reader, return_exceptions=True)

    async def _read(self) -> None:
        try:
            async for message in self.socket:
                await self._dispatch(message)
        except ConnectionClosed:
            pass

    def _reader_done(self, task: asyncio.Task[None]) -> None:
        self.closed = True
        for future, action, _ in self._waiting.values():
            if not future.done():
                self._metrics.lost_in_flight[action] += 1
                future.set_exception(LinkClosed("the socket closed before the answer", sent=True))
        if not task.cancelled() and (error := task.exception()) is not None:
            _log.error("%s: reader failed: %r", self.station_id, error, exc_info=error)
        self._on_closed()

    async def _dispatch(self, message: str | bytes) -> None:
        try:
            frame = msgspec.json.decode(message)
        except msgspec.DecodeError:
            _log.warning(
                "%s: the server sent a frame that is not JSON: %.200r", self.station_id, message
            )
            return
        if not isinstance(frame, list) or len(frame) < 3 or not isinstance(frame[1], str):
            _log.warning(
                "%s: the server sent a frame that is not OCPP-J: %.200r", self.station_id, message
            )
            return
        kind, unique_id = frame[0], frame[1]
        if kind == CALL and len(frame) == 4:
            await self._answer(unique_id, str(frame[2]), frame[3])
            return
        waiting = self._waiting.get(unique_id)
        if waiting is None:
            # an answer after its call timed out
            _log.info("%s: answer to unknown call %s", self.station_id, unique_id)
            return
        future, action, sent_at = waiting
        now = self._clock()
        if kind == CALLRESULT:
            self._metrics.answer_received(action, sent_at, now)
            if not future.done():
                future.set_result(frame[2])
        elif kind == CALLERROR:
            code = str(frame[2])
            description = str(frame[3]) if len(frame) > 3 else ""
            self._metrics.error_received(action, code, sent_at, now)
            if not future.done():
                future.set_exception(CallRejected(code, description))

    async def _answer(self, unique_id: str, action: str, payload: Any) -> None:
        self._metrics.server_calls[action] += 1
        reply: list[Any]
        try:
            reply = [CALLRESULT, unique_id, self._handler(action, payload)]
        except CommandRejected as rejected:
            reply = [CALLERROR, unique_id, rejected.code, rejected.description, {}]
        except Exception as error:
            # a bug in the station must not kill the connection's reader
            _log.exception("%s: answering %s failed", self.station_id, action)
            reply = [CALLERROR, unique_id, "InternalError", repr(error)[:200], {}]
        with contextlib.suppress(ConnectionClosed):
            await self.socket.send(msgspec.json.encode(reply), text=True)
