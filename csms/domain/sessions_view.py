"""Charging sessions as operators (and later billing) read them.

A session is seen exactly when its station is: the ``stations:read``
permission, scoped by the station's owner entity, so a session of a station
outside the principal's scope is NotFound and absent from lists. 1.6 and
2.0.1 sessions are the same rows and read the same way. Free of piccolo:
storage comes in as :class:`SessionsViewStore`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import msgspec
from msgspec import UNSET, UnsetType

from crm.access import Principal, Visibility
from crm.errors import InvalidInput, NotFound

STATUSES = ("active", "completed")


class ChargingSession(msgspec.Struct, frozen=True):
    """One charging session (a 1.6 transaction or a 2.0.1 one).

    ``id`` is this system's session id (the 1.6 transactionId);
    ``charger_transaction_id`` the charger's own (2.0.1 transactionId, or a
    1.6 one the system never saw start). ``connector_id`` is the 1.6
    connector or the 2.0.1 EVSE. Meter readings are Wh; ``energy_wh`` is
    stop - start when both are known. ``closed_by``: ``charger``, or
    ``rule:<name>`` when a rule closed a session that never ended."""

    id: int
    station_id: int
    charge_point_id: str
    connector_id: int
    id_tag: str
    status: str
    started_at: datetime | None
    stopped_at: datetime | None
    meter_start_wh: int | None
    meter_stop_wh: int | None
    energy_wh: int | None
    stop_reason: str
    stop_id_tag: str
    closed_by: str
    started_offline: bool
    start_auth_status: str
    charger_transaction_id: str
    charging_state: str
    created_at: datetime
    updated_at: datetime
    # The medium that authorised the session, as it was at the start (null:
    # the id tag named no medium): its id and issuing entity, its bill-to
    # and owner contacts (absent where the caller's groups hide those
    # fields of media issued by that entity).
    medium_id: int | None = None
    issuing_entity_id: int | None = None
    bill_to_contact_id: int | UnsetType | None = None
    owner_contact_id: int | UnsetType | None = None


class SessionFilter(msgspec.Struct, frozen=True):
    station_id: int | None = None
    # active or completed
    status: str | None = None
    id_tag: str | None = None
    # Sessions that started at or after / before these (zoned) times.
    started_after: datetime | None = None
    started_before: datetime | None = None


class SessionsViewStore(Protocol):
    async def list_sessions(
        self, visibility: Visibility, filters: SessionFilter, limit: int, offset: int
    ) -> tuple[list[ChargingSession], int]:
        """Sessions of stations owned by a visible entity, newest first."""
        ...

    async def get_session(
        self, visibility: Visibility, session_id: int
    ) -> ChargingSession | None: ...


def energy_wh(meter_start_wh: int | None, meter_stop_wh: int | None) -> int | None:
    if meter_start_wh is None or meter_stop_wh is None:
        return None
    return meter_stop_wh - meter_start_wh


def _zoned(name: str, value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise InvalidInput(f"{name} needs a time zone (e.g. 2026-11-24T12:00:00Z)")
    return value.astimezone(UTC)


def check_filter(filters: SessionFilter) -> SessionFilter:
    """The filter with its times in UTC, or InvalidInput."""
    status = filters.status
    if status is not None:
        status = status.strip().lower()
        if status not in STATUSES:
            raise InvalidInput(f"status is one of {', '.join(STATUSES)}, not {filters.status!r}")
    id_tag = filters.id_tag.strip() if filters.id_tag is not None else None
    after = _zoned("started_after", filters.started_after)
    before = _zoned("started_before", filters.started_before)
    if after is not None and before is not None and after > before:
        raise InvalidInput("started_after is later than started_before")
    return SessionFilter(
        station_id=filters.station_id,
        status=status,
        id_tag=id_tag or None,
        started_after=after,
        started_before=before,
    )


@dataclass(slots=True)
class SessionsView:
    store: SessionsViewStore

    async def list_sessions(
        self, principal: Principal, filters: SessionFilter, *, limit: int, offset: int
    ) -> tuple[list[ChargingSession], int]:
        """Sessions of the stations the principal sees, newest first."""
        principal.require("stations", "read")
        sessions, total = await self.store.list_sessions(
            principal.visible("stations"), check_filter(filters), limit, offset
        )
        return [_strip_media_fields(principal, s) for s in sessions], total

    async def get_session(self, principal: Principal, session_id: int) -> ChargingSession:
        principal.require("stations", "read")
        session = await self.store.get_session(principal.visible("stations"), session_id)
        if session is None:
            raise NotFound(f"there is no session {session_id}")
        return _strip_media_fields(principal, session)


_MEDIA_FIELDS = ("bill_to_contact_id", "owner_contact_id")


def _strip_media_fields(principal: Principal, session: ChargingSession) -> ChargingSession:
    """The medium's contacts left out where the principal's groups hide them
    on media of the session's issuing entity (the media rule, per row)."""
    if session.medium_id is None and session.issuing_entity_id is None:
        return session
    hidden = principal.row_hidden_fields("media", session.issuing_entity_id)
    strip = {name: UNSET for name in _MEDIA_FIELDS if name in hidden}
    return msgspec.structs.replace(session, **strip) if strip else session
