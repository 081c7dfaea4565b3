"""Helpers shared by every simulated charge point, whatever its OCPP version.

Nothing here knows an OCPP message: time stamps, the station URL, HTTP Basic auth,
a holder for background tasks, and a frame tracer that turns OCPP-J frames into
events (the CLI prints them; a fleet runner can count them).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote, urlsplit, urlunsplit

from websockets.headers import build_authorization_basic

__all__ = [
    "BackgroundTasks",
    "FrameEvent",
    "FrameObserver",
    "TracingConnection",
    "basic_auth_header",
    "format_frame",
    "format_timestamp",
    "merge_headers",
    "parse_timestamp",
    "station_url",
    "utc_now",
    "wait_event",
]


def utc_now() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def format_timestamp(value: datetime | str | None = None) -> str:
    """An OCPP date-time: UTC, millisecond precision, ``Z`` suffix. Strings pass through."""
    if isinstance(value, str):
        return value
    moment = utc_now() if value is None else value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_timestamp(value: str) -> datetime:
    """Parse an RFC 3339 date-time as OCPP sends it (``Z`` or an offset; naive means UTC)."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


def station_url(base: str, station_id: str) -> str:
    """Append the station id, percent-encoded, as the last path segment of ``base``.

    ``station_url("ws://host:9000/ocpp", "CP 1")`` is ``"ws://host:9000/ocpp/CP%201"``;
    a query string on the base is kept.
    """
    if not station_id:
        raise ValueError("the station id must not be empty")
    parts = urlsplit(base)
    if parts.scheme not in ("ws", "wss"):
        raise ValueError(f"expected a ws:// or wss:// URL, got {base!r}")
    path = parts.path.rstrip("/") + "/" + quote(station_id, safe="")
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def basic_auth_header(username: str, password: str) -> str:
    """The value of an ``Authorization`` header for HTTP Basic auth (OCPP security profile 1/2)."""
    if ":" in username:
        raise ValueError("a Basic auth user name (the station id) cannot contain ':'")
    return build_authorization_basic(username, password)


HeaderItems = Mapping[str, str] | Iterable[tuple[str, str]]


def merge_headers(headers: HeaderItems | None, extra: Mapping[str, str]) -> list[tuple[str, str]]:
    """Headers given as a mapping or pairs, plus ``extra`` (which replaces same-named ones)."""
    items: list[tuple[str, str]] = []
    if headers is not None:
        pairs = headers.items() if isinstance(headers, Mapping) else headers
        items = [(str(k), str(v)) for k, v in pairs]
    lowered = {name.lower() for name in extra}
    items = [(k, v) for k, v in items if k.lower() not in lowered]
    items.extend(extra.items())
    return items


async def wait_event(event: asyncio.Event, seconds: float | None) -> bool:
    """Wait until ``event`` is set or ``seconds`` pass; True if it was set.

    ``None`` (or infinity) waits forever; zero or less only checks.
    """
    if event.is_set():
        return True
    if seconds is None or math.isinf(seconds):
        await event.wait()
        return True
    if seconds <= 0:
        return False
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return event.is_set()
    return True


class BackgroundTasks:
    """Keeps strong references to fire-and-forget tasks and logs the ones that fail.

    The event loop holds tasks only weakly; a task nobody references can vanish
    mid-flight. Everything a charge point does on its own (heartbeats, sessions
    a server started, status notifications after an answer) goes through here,
    so closing the charge point can cancel it all.
    """

    def __init__(
        self,
        logger: logging.Logger,
        owner: str,
        *,
        quiet: tuple[type[BaseException], ...] = (),
    ) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._logger = logger
        self._owner = owner
        # failures that are expected (a lost connection): logged at INFO, without traceback
        self._quiet = quiet

    def spawn(
        self, coro: Coroutine[Any, Any, Any], *, name: str | None = None
    ) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None and isinstance(exc, self._quiet):
            self._logger.info("%s: background task %s ended: %s", self._owner, task.get_name(), exc)
        elif exc is not None:
            self._logger.error(
                "%s: background task %s failed: %r",
                self._owner,
                task.get_name(),
                exc,
                exc_info=exc,
            )

    async def cancel_all(self) -> None:
        """Cancel every task still running and wait for them to finish."""
        current = asyncio.current_task()
        while pending := [t for t in self._tasks if t is not current and not t.done()]:
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    def __len__(self) -> int:
        return len(self._tasks)


# --- tracing OCPP-J frames ---------------------------------------------------------------

Direction = Literal["sent", "received"]
FrameKind = Literal["call", "result", "error", "invalid"]


@dataclass(frozen=True, slots=True)
class FrameEvent:
    """One OCPP-J frame that crossed the socket, seen from the charge point.

    ``initiator`` tells who sent the CALL the frame belongs to: ``"cp"`` for the
    charge point's own requests and their answers, ``"csms"`` for requests from
    the server and the charge point's answers to them.
    """

    station_id: str
    direction: Direction
    kind: FrameKind
    initiator: Literal["cp", "csms"]
    unique_id: str
    action: str | None
    payload: Any
    at: datetime
    raw: str


FrameObserver = Callable[[FrameEvent], None]


class TracingConnection:
    """Wraps a websocket connection and reports every frame to an observer.

    Anything with ``async send(str)`` and ``async recv()`` can be wrapped; the
    ``ocpp`` ChargePoint only uses those two. Other attributes are delegated.
    Answers are matched to the action of their CALL by unique id.
    """

    def __init__(self, connection: Any, station_id: str, observer: FrameObserver) -> None:
        self._connection = connection
        self._station_id = station_id
        self._observer = observer
        # unique id -> action of CALLs still waiting for their answer, per sender
        self._open: dict[tuple[str, str], str] = {}
        self._logger = logging.getLogger(__name__)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)

    async def recv(self) -> Any:
        message = await self._connection.recv()
        self._observe("received", message)
        return message

    async def send(self, message: str) -> None:
        self._observe("sent", message)
        await self._connection.send(message)

    def _observe(self, direction: Direction, raw: Any) -> None:
        try:
            event = self._decode(direction, raw)
            self._observer(event)
        except Exception:  # an observer must never break the connection
            self._logger.exception("%s: frame observer failed", self._station_id)

    def _decode(self, direction: Direction, raw: Any) -> FrameEvent:
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        kind: FrameKind = "invalid"
        unique_id = ""
        action: str | None = None
        payload: Any = None
        initiator: Literal["cp", "csms"] = "cp" if direction == "sent" else "csms"
        try:
            frame = json.loads(text)
        except ValueError:
            frame = None
        if isinstance(frame, list) and len(frame) >= 3 and isinstance(frame[1], str):
            unique_id = frame[1]
            # the side that sends a CALL is its initiator; answers travel the other way
            if frame[0] == 2 and len(frame) >= 4:
                kind, action, payload = "call", str(frame[2]), frame[3]
                self._open[(initiator, unique_id)] = action
            elif frame[0] in (3, 4):
                initiator = "csms" if direction == "sent" else "cp"
                action = self._open.pop((initiator, unique_id), None)
                if frame[0] == 3:
                    kind, payload = "result", frame[2]
                else:
                    kind = "error"
                    payload = {
                        "errorCode": frame[2],
                        "errorDescription": frame[3] if len(frame) > 3 else "",
                        "errorDetails": frame[4] if len(frame) > 4 else {},
                    }
        return FrameEvent(
            station_id=self._station_id,
            direction=direction,
            kind=kind,
            initiator=initiator,
            unique_id=unique_id,
            action=action,
            payload=payload,
            at=utc_now(),
            raw=text,
        )


def format_frame(event: FrameEvent, *, max_payload: int | None = 300) -> str:
    """One readable line for a frame, e.g. ``CP-1 -> CSMS  BootNotification.req {...}``."""
    arrow = "-> CSMS" if event.direction == "sent" else "<- CSMS"
    clock = event.at.strftime("%H:%M:%S.") + f"{event.at.microsecond // 1000:03d}"
    if event.kind == "invalid":
        body = f"(not OCPP-J) {event.raw}"
    else:
        action = event.action or "?"
        suffix = {"call": ".req", "result": ".conf", "error": " CALLERROR"}[event.kind]
        origin = " (server-initiated)" if event.initiator == "csms" else ""
        payload = json.dumps(event.payload, separators=(",", ":"), default=str)
        body = f"{action}{suffix}{origin} {payload}"
    if max_payload is not None and len(body) > max_payload:
        body = body[: max_payload - 3] + "..."
    return f"{clock} {event.station_id} {arrow}  {body}"
