"""Stations in the database: the gateway's directory and the operators' edits."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from csms.domain.model import RegistrationStatus, StationProfile
from csms.domain.provisioning import NewStation
from csms.domain.views import ConnectorView, EventView, StationView
from csms.storage.database import lookup_statement, write_transaction
from csms.tables import ChargingSession, Connector, Station, StationEvent

# Rows per statement in bulk work: well under SQLite's 32,766 bound
# parameters and PostgreSQL's 65,535 with a dozen columns a row.
_CHUNK = 500
_T = TypeVar("_T")


def _chunks(items: Sequence[_T], size: int) -> list[Sequence[_T]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


class StationExists(ValueError):
    pass


class StationNotFound(LookupError):
    pass


class StationInUse(ValueError):
    """The station has sessions; removing it would lose billing history."""


def _leniency(text: str) -> frozenset[str]:
    return frozenset(flag for flag in text.split(",") if flag)


def _profile(row: dict[str, Any]) -> StationProfile:
    return StationProfile(
        pk=row["id"],
        charge_point_id=row["charge_point_id"],
        registration_status=RegistrationStatus(row["registration_status"]),
        auth_secret_hash=row["auth_secret_hash"],
        assume_ocpp16=bool(row["assume_ocpp16"]),
        leniency=_leniency(row["leniency"]),
        security_profile=row["security_profile"],
        previous_secret_hash=row["previous_auth_secret_hash"],
    )


_PROFILE_COLUMNS = (
    Station.id,
    Station.charge_point_id,
    Station.registration_status,
    Station.auth_secret_hash,
    Station.assume_ocpp16,
    Station.leniency,
    Station.security_profile,
    Station.previous_auth_secret_hash,
)
# A connecting or booting station's profile. Written out once rather than
# built by piccolo's query builder per call, as the authorisation queries
# are (csms/storage/sessions.py): a reconnect storm after the cache's
# time-to-live asks this once per station.
_FIND_PROFILE = lookup_statement(_PROFILE_COLUMNS, Station.charge_point_id)


class PiccoloStationDirectory:
    async def find(self, charge_point_id: str) -> StationProfile | None:
        rows = await Station.raw(_FIND_PROFILE, charge_point_id).run()
        return _profile(rows[0]) if rows else None

    async def all_profiles(self) -> list[StationProfile]:
        return [_profile(row) for row in await Station.select(*_PROFILE_COLUMNS).run()]


class PiccoloStationAdmin:
    """What operators do to stations (CLI now, REST and UI later)."""

    async def add(
        self,
        charge_point_id: str,
        *,
        secret_hash: str = "",
        registration_status: RegistrationStatus = RegistrationStatus.ACCEPTED,
        description: str = "",
        assume_ocpp16: bool = False,
        leniency: frozenset[str] = frozenset(),
    ) -> StationView:
        if await Station.exists().where(Station.charge_point_id == charge_point_id).run():
            raise StationExists(f"station {charge_point_id!r} exists already")
        now = datetime.now(UTC)
        await Station.insert(
            Station(
                charge_point_id=charge_point_id,
                auth_secret_hash=secret_hash,
                registration_status=registration_status.value,
                description=description,
                assume_ocpp16=assume_ocpp16,
                leniency=",".join(sorted(leniency)),
                created_at=now,
                updated_at=now,
            )
        ).run()
        return await self.get(charge_point_id)

    async def add_many(
        self, stations: Sequence[NewStation], *, skip_existing: bool = False
    ) -> list[str]:
        """Registers the stations in one transaction and returns the ids
        skipped because they exist. Without ``skip_existing`` an existing id
        refuses the whole import (StationExists) and nothing is written."""
        wanted = [s.charge_point_id for s in stations]
        async with write_transaction():
            existing: set[str] = set()
            for chunk in _chunks(wanted, _CHUNK):
                rows = (
                    await Station.select(Station.charge_point_id)
                    .where(Station.charge_point_id.is_in(list(chunk)))
                    .run()
                )
                existing.update(row["charge_point_id"] for row in rows)
            if existing and not skip_existing:
                shown = sorted(existing)[:10]
                raise StationExists(
                    f"{len(existing)} station(s) exist already: {', '.join(shown)}"
                    + (" ..." if len(existing) > len(shown) else "")
                )
            now = datetime.now(UTC)
            new = [
                Station(
                    charge_point_id=s.charge_point_id,
                    auth_secret_hash=s.secret_hash,
                    registration_status=s.registration_status.value,
                    description=s.description,
                    assume_ocpp16=s.assume_ocpp16,
                    leniency=",".join(sorted(s.leniency)),
                    created_at=now,
                    updated_at=now,
                )
                for s in stations
                if s.charge_point_id not in existing
            ]
            for batch in _chunks(new, _CHUNK):
                await Station.insert(*batch).run()
        return sorted(existing)

    async def get(self, charge_point_id: str) -> StationView:
        row = await Station.select().where(Station.charge_point_id == charge_point_id).first().run()
        if row is None:
            raise StationNotFound(f"no station {charge_point_id!r}")
        connectors = (
            await Connector.select()
            .where(Connector.station == row["id"])
            .order_by(Connector.connector_id)
            .run()
        )
        return _view(row, connectors)

    async def list_all(self, *, limit: int = 1000, offset: int = 0) -> list[StationView]:
        rows = (
            await Station.select()
            .order_by(Station.charge_point_id)
            .limit(limit)
            .offset(offset)
            .run()
        )
        connectors = (
            await Connector.select()
            .where(Connector.station.is_in([r["id"] for r in rows]))
            .order_by(Connector.connector_id)
            .run()
            if rows
            else []
        )
        by_station: dict[int, list[dict[str, Any]]] = {}
        for connector in connectors:
            by_station.setdefault(connector["station"], []).append(connector)
        return [_view(row, by_station.get(row["id"], [])) for row in rows]

    async def update(self, charge_point_id: str, **values: Any) -> StationView:
        """Set columns of a station: registration_status, auth_secret_hash,
        assume_ocpp16, leniency, description, owner_entity."""
        allowed = {
            "registration_status",
            "auth_secret_hash",
            "assume_ocpp16",
            "leniency",
            "description",
            "owner_entity",
            "meter_public_key",
        }
        unknown = set(values) - allowed
        if unknown:
            raise ValueError(f"cannot set {', '.join(sorted(unknown))} on a station")
        if "leniency" in values:
            values["leniency"] = ",".join(sorted(values["leniency"]))
        if "registration_status" in values:
            values["registration_status"] = RegistrationStatus(values["registration_status"]).value
        if "auth_secret_hash" in values:
            # A secret the operator sets replaces any secret still admitted
            # from a change sent to the station.
            values["previous_auth_secret_hash"] = ""
        values["updated_at"] = datetime.now(UTC)
        updated = (
            await Station.update(values)  # type: ignore[arg-type]
            .where(Station.charge_point_id == charge_point_id)
            .returning(Station.id)
            .run()
        )
        if not updated:
            raise StationNotFound(f"no station {charge_point_id!r}")
        return await self.get(charge_point_id)

    async def remove(self, charge_point_id: str) -> None:
        row = (
            await Station.select(Station.id)
            .where(Station.charge_point_id == charge_point_id)
            .first()
            .run()
        )
        if row is None:
            raise StationNotFound(f"no station {charge_point_id!r}")
        sessions = await ChargingSession.count().where(ChargingSession.station == row["id"]).run()
        if sessions:
            raise StationInUse(
                f"station {charge_point_id!r} has {sessions} sessions; it is kept for their "
                "history. Reject it instead (csms station reject) to keep it out."
            )
        await Station.delete().where(Station.id == row["id"]).run()

    async def events(self, charge_point_id: str, *, limit: int = 50) -> list[EventView]:
        await self.get(charge_point_id)  # raises StationNotFound
        rows = (
            await StationEvent.select(
                StationEvent.kind, StationEvent.occurred_at, StationEvent.data
            )
            .where(StationEvent.station.charge_point_id == charge_point_id)
            .order_by(StationEvent.id, ascending=False)
            .limit(limit)
            .run()
        )
        return [
            EventView(kind=r["kind"], occurred_at=r["occurred_at"], data=_json(r["data"]))
            for r in rows
        ]


def _json(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        loaded = json.loads(value or "{}")
        return loaded if isinstance(loaded, dict) else {"value": loaded}
    return dict(value or {})


def _view(row: dict[str, Any], connectors: list[dict[str, Any]]) -> StationView:
    return StationView(
        charge_point_id=row["charge_point_id"],
        registration_status=row["registration_status"],
        connected=bool(row["connected"]),
        protocol=row["protocol"],
        vendor=row["vendor"],
        model=row["model"],
        serial_number=row["serial_number"],
        firmware_version=row["firmware_version"],
        has_secret=bool(row["auth_secret_hash"]),
        assume_ocpp16=bool(row["assume_ocpp16"]),
        leniency=sorted(_leniency(row["leniency"])),
        last_boot_at=row["last_boot_at"],
        last_seen_at=row["last_seen_at"],
        created_at=row["created_at"],
        owner_entity_id=row["owner_entity"],
        description=row["description"],
        meter_public_key=row["meter_public_key"],
        connectors=[
            ConnectorView(
                connector_id=c["connector_id"],
                status=c["status"],
                error_code=c["error_code"],
                info=c["info"],
                status_at=c["status_at"],
            )
            for c in connectors
        ],
    )
