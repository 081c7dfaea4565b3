"""Remote commands from the station page: the form's fields checked into a
command (a message beside each bad field), the outcome in words, and the
station's live event stream."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from litestar.datastructures import FormMultiDict
from litestar.response import ServerSentEventMessage

from admin_ui.web.i18n import NONE
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
TRIGGERS = (
    "BootNotification",
    "Heartbeat",
    "StatusNotification",
    "MeterValues",
    "FirmwareStatusNotification",
    "DiagnosticsStatusNotification",
)
# 2.0.1 attribute types of a device-model variable.
ATTRIBUTE_TYPES = ("Actual", "Target", "MinSet", "MaxSet")
# 2.0.1 base reports (they fill the device model in).
BASE_REPORTS = ("FullInventory", "ConfigurationInventory", "SummaryInventory")
KEEPALIVE_SECONDS = 15.0
# A stream ends after this; the browser's EventSource reconnects by itself.
STREAM_SECONDS = 300.0
MAX_CONNECTOR = 1000
MAX_SESSION = 2**63 - 1
# OCPP 1.6 configuration keys (CiString50) as the page takes them.
CONFIG_KEY = re.compile(r"[A-Za-z0-9_.:\-]{1,50}")
# Keys one GetConfiguration from the page asks for at most.
MAX_KEYS = 20
# OCPP 2.0.1 component and variable names (identifierString, at most 50).
IDENTIFIER = re.compile(r"[A-Za-z0-9*\-_=:+|@.]{1,50}")
# Longest configuration value (1.6 CiString500) / variable value (2.0.1 1000).
MAX_VALUE = 500
MAX_VARIABLE_VALUE = 1000


def _text(form: FormMultiDict, name: str, limit: int = 200) -> str:
    value = form.get(name, "")
    return value.strip()[:limit] if isinstance(value, str) else ""


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


def _optional_number(
    form: FormMultiDict, name: str, errors: dict[str, str], _: Gettext, low: int, high: int
) -> int | None:
    return _number(form, name, errors, _, low, high) if _text(form, name) else None


def _identifier(form: FormMultiDict, name: str, errors: dict[str, str], _: Gettext) -> str:
    value = _text(form, name)
    if not IDENTIFIER.fullmatch(value):
        errors[name] = _(
            "Enter a name of 1 to 50 letters, digits or * - _ = : + | @ . (no spaces)."
        )
    return value


def _config_keys(form: FormMultiDict, errors: dict[str, str], _: Gettext) -> tuple[str, ...]:
    """The keys of a GetConfiguration (separated by commas or spaces; none:
    every key)."""
    keys = tuple(k for k in re.split(r"[\s,]+", _text(form, "keys", 2000)) if k)
    if len(keys) > MAX_KEYS:
        errors["keys"] = _("Ask for at most %(count)s keys at once.") % {"count": MAX_KEYS}
    elif any(not CONFIG_KEY.fullmatch(k) for k in keys):
        errors["keys"] = _("A configuration key is 1 to 50 letters, digits or _ . : - (no spaces).")
    return keys


def command_of(
    name: str, form: FormMultiDict, errors: dict[str, str], _: Gettext
) -> m.Command | None:  # type: ignore[valid-type]
    """The command the form asks for; its field errors in ``errors``; None
    for a command the page does not know."""
    if name == "remote-start":
        id_tag = _text(form, "id_tag")
        if not id_tag or len(id_tag) > 20:
            errors["id_tag"] = _("Enter the id tag (1 to 20 characters).")
        connector = _optional_number(form, "connector_id", errors, _, 1, MAX_CONNECTOR)
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
        connector = _optional_number(form, "connector_id", errors, _, 1, MAX_CONNECTOR)
        return m.TriggerMessage(message=message, connector_id=connector)
    if name == "clear-cache":
        return m.ClearCache()
    if name == "get-configuration":
        return m.GetConfiguration(keys=_config_keys(form, errors, _))
    if name == "change-configuration":
        key = _text(form, "key", 100)
        if not CONFIG_KEY.fullmatch(key):
            errors["key"] = _(
                "A configuration key is 1 to 50 letters, digits or _ . : - (no spaces)."
            )
        value = form.get("value", "")
        value = value if isinstance(value, str) else ""
        if len(value) > MAX_VALUE:
            errors["value"] = _("A value has at most %(count)s characters.") % {"count": MAX_VALUE}
        return m.ChangeConfiguration(key=key, value=value[:MAX_VALUE])
    if name in ("get-variables", "set-variables"):
        component = _identifier(form, "component", errors, _)
        variable = _identifier(form, "variable", errors, _)
        attribute = _text(form, "attribute_type") or "Actual"
        if attribute not in ATTRIBUTE_TYPES:
            errors["attribute_type"] = _("Choose an attribute type.")
        evse = _optional_number(form, "evse_id", errors, _, 0, MAX_CONNECTOR)
        if name == "get-variables":
            ref = m.VariableRef(
                component=component, variable=variable, attribute_type=attribute, evse_id=evse
            )
            return m.GetVariables(variables=(ref,))
        value = form.get("value", "")
        value = value if isinstance(value, str) else ""
        if len(value) > MAX_VARIABLE_VALUE:
            errors["value"] = _("A value has at most %(count)s characters.") % {
                "count": MAX_VARIABLE_VALUE
            }
        setting = m.VariableSetting(
            component=component,
            variable=variable,
            value=value[:MAX_VARIABLE_VALUE],
            attribute_type=attribute,
            evse_id=evse,
        )
        return m.SetVariables(variables=(setting,))
    if name == "get-base-report":
        report = _text(form, "report") or "FullInventory"
        if report not in BASE_REPORTS:
            errors["report"] = _("Choose a report.")
            report = "FullInventory"
        return m.GetBaseReport(report=report)  # type: ignore[arg-type]
    if name == "get-local-list-version":
        return m.GetLocalListVersion()
    errors["form"] = _("There is no such command.")
    return None


def _cell(value: Any) -> str:
    if value is None:
        return NONE
    if isinstance(value, bool):
        return "✓" if value else ""
    return str(value)


def _details(data: Mapping[str, Any], _: Gettext) -> dict[str, Any]:
    """What an answer carries beyond its status, as a table for the page:
    configuration keys (GetConfiguration), variables (Get/SetVariables),
    a list version; empty when there is nothing to show."""
    if isinstance(data.get("configuration"), list):
        rows = [
            [_cell(k.get("key")), _cell(k.get("value")), _cell(k.get("readonly"))]
            for k in data["configuration"]
            if isinstance(k, dict)
        ]
        details: dict[str, Any] = {
            "head": [_("Key"), _("Value"), _("Read-only")],
            "rows": rows,
        }
        unknown = [str(k) for k in data.get("unknown_keys") or []]
        if unknown:
            details["note"] = _("Unknown keys: %(keys)s") % {"keys": ", ".join(unknown)}
        return details
    if isinstance(data.get("results"), list):
        rows = []
        for result in data["results"]:
            if not isinstance(result, dict):
                continue
            component = result.get("component") or {}
            variable = result.get("variable") or {}
            rows.append(
                [
                    _cell(component.get("name") if isinstance(component, dict) else component),
                    _cell(variable.get("name") if isinstance(variable, dict) else variable),
                    _cell(result.get("attribute_type") or "Actual"),
                    _cell(result.get("attribute_status")),
                    _cell(result.get("attribute_value")),
                ]
            )
        return {
            "head": [_("Component"), _("Variable"), _("Attribute"), _("Status"), _("Value")],
            "rows": rows,
        }
    if "list_version" in data:
        return {"note": _("List version: %(version)s") % {"version": data["list_version"]}}
    return {}


def describe(outcome: Outcome, _: Gettext) -> dict[str, Any]:
    """The outcome for the page: ``kind`` (ok, warn, bad), ``text`` and,
    for an answer with data to show, ``head``/``rows`` of a table and a
    ``note``."""
    if isinstance(outcome, Answered):
        if outcome.status is None:
            # An answer without a status (GetConfiguration, 1.6 UpdateFirmware).
            return {"kind": "ok", "text": _("The charger answered."), **_details(outcome.data, _)}
        status = outcome.status
        kind = "ok" if status in ("Accepted", "Unlocked", "Scheduled") else "warn"
        return {
            "kind": kind,
            "text": _("The charger answered: %(status)s") % {"status": status},
            **_details(outcome.data, _),
        }
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
