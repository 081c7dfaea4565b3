"""Stations' security settings and security events in the database
(:class:`csms.domain.station_security.SecurityStore`, and the admission's
:class:`csms.domain.admission.SecretRotation`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from crm.access import Visibility
from crm.clock import utcnow
from crm.storage.scoping import scoped
from csms import tables as t
from csms.domain.station_security import SecurityEvent, StationRecord


class PiccoloSecurityStore:
    async def station(self, visibility: Visibility, station_pk: int) -> StationRecord | None:
        row = (
            await scoped(
                t.Station.select(
                    t.Station.id,
                    t.Station.charge_point_id,
                    t.Station.owner_entity,
                    t.Station.protocol,
                    t.Station.security_profile,
                    t.Station.auth_secret_hash,
                    t.Station.previous_auth_secret_hash,
                ),
                t.Station.owner_entity,
                visibility,
            )
            .where(t.Station.id == station_pk)
            .first()
            .run()
        )
        if row is None:
            return None
        return StationRecord(
            pk=row["id"],
            charge_point_id=row["charge_point_id"],
            owner_entity_id=row["owner_entity"],
            protocol=row["protocol"],
            security_profile=row["security_profile"],
            secret_hash=row["auth_secret_hash"],
            previous_secret_hash=row["previous_auth_secret_hash"],
        )

    async def _update(self, station_pk: int, values: dict[Any, Any]) -> None:
        values[t.Station.updated_at] = utcnow()
        await t.Station.update(values).where(t.Station.id == station_pk).run()

    async def store_secret(self, station_pk: int, secret_hash: str, previous_hash: str) -> None:
        await self._update(
            station_pk,
            {
                t.Station.auth_secret_hash: secret_hash,
                t.Station.previous_auth_secret_hash: previous_hash,
            },
        )

    async def forget_previous_secret(self, station_pk: int) -> None:
        await self._update(station_pk, {t.Station.previous_auth_secret_hash: ""})

    async def store_profile(self, station_pk: int, profile: int) -> None:
        await self._update(station_pk, {t.Station.security_profile: profile})

    async def add_event(
        self,
        station_pk: int,
        event_type: str,
        timestamp: datetime,
        tech_info: str,
        received_at: datetime,
    ) -> None:
        await t.SecurityEvent.insert(
            t.SecurityEvent(
                station=station_pk,
                type=event_type,
                timestamp=timestamp,
                tech_info=tech_info,
                received_at=received_at,
            )
        ).run()

    async def list_events(
        self, station_pk: int, limit: int, offset: int
    ) -> tuple[list[SecurityEvent], int]:
        """Newest first (by the station's timestamp, then arrival)."""
        rows = (
            await t.SecurityEvent.select(
                t.SecurityEvent.id,
                t.SecurityEvent.type,
                t.SecurityEvent.timestamp,
                t.SecurityEvent.tech_info,
                t.SecurityEvent.received_at,
            )
            .where(t.SecurityEvent.station == station_pk)
            .order_by(t.SecurityEvent.timestamp, ascending=False)
            .order_by(t.SecurityEvent.id, ascending=False)
            .limit(limit)
            .offset(offset)
            .run()
        )
        total = await t.SecurityEvent.count().where(t.SecurityEvent.station == station_pk).run()
        return [SecurityEvent(**row) for row in rows], total
