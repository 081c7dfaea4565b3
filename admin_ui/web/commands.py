"""Remote commands from the station page: the form's fields checked into a
command (a message beside each bad field), the outcome in words, and the
station's live event stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from litestar.datastructures import FormMultiDict
from litestar.response import ServerSentEventMessage

from csms.commands import model as m
from csms.commands.outcomes import (
    Answered,
    Busy,
    CallFailed,
    NotConnected,
    Outcome,
    TimedOut,
    Unsupported,
)
from csms.domain.live import LiveFeed

Gettext = Callable[[str], str]

# What TriggerMessage may ask for from the page.
TRIGGERS = ("BootNotification", "Heartbeat", "StatusNotification", "MeterValues")
KEEPALIVE_SECONDS = 15.0
# A stream ends after this; the browser's EventSource reconnects by itself.
STREAM_SECONDS = 300.0
MAX_CONNECTOR = 1000
MAX_SESSION = 2**63 - 1


def _text(form: FormMultiDict, name: str) -> str:
    value = form.get(name, "")
    return value.strip()[:200] if isinstance(value, str) else ""


def _number(
    form: FormMultiDict, name: str, errors: dict[str, str], _: Gettext, low: int, high: int
) -> int:
    text = _text(form, name)
    try:
        value = int(text)
    except ValueError:
        errors[name] = _("Enter a whole number.")
        return 0
    if not low <= value <= high:
        errors[name] = _("Enter a number from %(low)s to %(high)s.") % {"low": low, "high": high}
    return value


def command_of(
    name: str, form: FormMultiDict, errors: dict[str, str], _: Gettext
) -> m.Command | None:  # type: ignore[valid-type]
    """The command the form asks for; its field errors in ``errors``; None
    for a command the page does not know."""
    if name == "remote-start":
        id_tag = _text(form, "id_tag")
        if not id_tag or len(id_tag) > 20:
            errors["id_tag"] = _("Enter the id tag (1 to 20 characters).")
        connector_text = _text(form, "connector_id")
        connector = (
            _number(form, "connector_id", errors, _, 1, MAX_CONNECTOR) if connector_text else None
        )
        return m.RemoteStart(id_tag=id_tag, connector_id=connector)
    if name == "remote-stop":
        return m.RemoteStop(session_id=_number(form, "session_id", errors, _, 1, MAX_SESSION))
    if name == "reset":
        kind = _text(form, "kind")
        if kind not in ("soft", "hard"):
            errors["kind"] = _("Choose soft or hard.")
            kind = "soft"
        return m.Reset(kind=kind)  # type: ignore[arg-type]
    if name == "unlock":
        return m.UnlockConnector(
            connector_id=_number(form, "connector_id", errors, _, 1, MAX_CONNECTOR)
        )
    if name == "availability":
        connector = _number(form, "connector_id", errors, _, 0, MAX_CONNECTOR)
        operative = _text(form, "operative")
        if operative not in ("yes", "no"):
            errors["operative"] = _("Choose operative or inoperative.")
        return m.ChangeAvailability(connector_id=connector, operative=operative == "yes")
    if name == "trigger":
        message = _text(form, "message")
        if message not in TRIGGERS:
            errors["message"] = _("Choose a message.")
        return m.TriggerMessage(message=message)
    if name == "clear-cache":
        return m.ClearCache()
    errors["form"] = _("There is no such command.")
    return None


def describe(outcome: Outcome, _: Gettext) -> dict[str, str]:
    """The outcome for the page: ``kind`` (ok, warn, bad) and ``text``."""
    if isinstance(outcome, Answered):
        status = outcome.status or _("done")
        kind = "ok" if status in ("Accepted", "done", "Unlocked", "Scheduled") else "warn"
        return {"kind": kind, "text": _("The charger answered: %(status)s") % {"status": status}}
    if isinstance(outcome, TimedOut):
        return {
            "kind": "warn",
            "text": _("No answer from the charger within %(seconds)s s.")
            % {"seconds": f"{outcome.seconds:g}"},
        }
    if isinstance(outcome, Busy):
        return {"kind": "warn", "text": _("The charger is busy with other calls: try again.")}
    if isinstance(outcome, NotConnected):
        return {"kind": "bad", "text": _("The station is not connected.")}
    if isinstance(outcome, CallFailed):
        return {
            "kind": "bad",
            "text": _("The charger refused: %(code)s %(description)s")
            % {"code": outcome.error_code, "description": outcome.description},
        }
    if isinstance(outcome, Unsupported):
        return {
            "kind": "warn",
            "text": _("Not possible here: %(reason)s") % {"reason": outcome.reason},
        }
    return {"kind": "warn", "text": str(outcome)}


async def live_events(
    live: LiveFeed | None, station_pk: int | None
) -> AsyncIterator[ServerSentEventMessage]:
    """``change`` events for one station (None: any station; the page's
    own read decides what it shows) while the stream lasts."""
    if live is None:
        yield ServerSentEventMessage(event="ready", data=str(station_pk or ""), retry=2000)
        return
    # Listening before "ready": the page fetches its part again on "ready",
    # so a change between the page's rendering and now is not missed.
    queue = live.watch()
    yield ServerSentEventMessage(event="ready", data=str(station_pk or ""), retry=2000)
    loop = asyncio.get_running_loop()
    ends = loop.time() + STREAM_SECONDS
    try:
        while not live.closed and loop.time() < ends:
            try:
                stations = await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
            except TimeoutError:
                yield ServerSentEventMessage(comment="keep-alive")
                continue
            if station_pk is None or station_pk in stations:
                yield ServerSentEventMessage(event="change", data=str(station_pk or ""))
    finally:
        live.unwatch(queue)
