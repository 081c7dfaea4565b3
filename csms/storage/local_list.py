"""Local authorisation lists in the database: what each station holds as it
last acknowledged (:class:`PiccoloHeldLists`), the media registry read whole
(:class:`PiccoloMediaRecords`), and stations as commands address them
(:class:`PiccoloStationRefs`, scoped)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import msgspec

from crm.access import Visibility
from crm.clock import utcnow
from crm.media import MediumRecord
from crm.storage.media import _RECORD_COLUMNS, medium_record
from crm.storage.scoping import scoped
from crm.tables import Medium as MediumRow
from csms import tables as t
from csms.commands.model import LocalListEntry
from csms.domain.local_list import HeldList, StationRef

_ENTRIES = msgspec.json.Decoder(list[LocalListEntry])
# Media read per query when the registry is read whole.
_CHUNK = 5000


class PiccoloHeldLists:
    async def held(self, station_pk: int) -> HeldList | None:
        row = (
            await t.LocalListState.select(
                t.LocalListState.version,
                t.LocalListState.entries,
                t.LocalListState.items_per_message,
            )
            .where(t.LocalListState.station == station_pk)
            .first()
            .run()
        )
        if row is None:
            return None
        return HeldList(
            version=row["version"],
            entries=tuple(_ENTRIES.decode(row["entries"] or "[]")),
            items_per_message=row["items_per_message"],
        )

    async def updated_at(self, station_pk: int) -> datetime | None:
        row = (
            await t.LocalListState.select(t.LocalListState.updated_at)
            .where(t.LocalListState.station == station_pk)
            .first()
            .run()
        )
        return row["updated_at"] if row else None

    async def _upsert(self, station_pk: int, values: dict[str, object]) -> None:
        now = utcnow()
        exists = await t.LocalListState.exists().where(t.LocalListState.station == station_pk).run()
        if exists:
            await (
                t.LocalListState.update({**values, "updated_at": now})  # type: ignore[dict-item]
                .where(t.LocalListState.station == station_pk)
                .run()
            )
        else:
            row = t.LocalListState(station=station_pk, updated_at=now)
            for name, value in values.items():
                setattr(row, name, value)
            await t.LocalListState.insert(row).run()

    async def record(
        self, station_pk: int, version: int, entries: Mapping[str, LocalListEntry]
    ) -> None:
        ordered = [entries[tag] for tag in sorted(entries)]
        await self._upsert(
            station_pk,
            {"version": version, "entries": msgspec.json.encode(ordered).decode()},
        )

    async def set_items_per_message(self, station_pk: int, items: int | None) -> None:
        await self._upsert(station_pk, {"items_per_message": items})


class PiccoloMediaRecords:
    async def all_media(self) -> list[MediumRecord]:
        found: list[MediumRecord] = []
        last = ""
        while True:
            rows = (
                await MediumRow.select(*_RECORD_COLUMNS)
                .where(MediumRow.uid > last)
                .order_by(MediumRow.uid)
                .limit(_CHUNK)
                .run()
            )
            found.extend(medium_record(row) for row in rows)
            if len(rows) < _CHUNK:
                return found
            last = rows[-1]["uid"]


class PiccoloStationRefs:
    async def station_ref(self, visibility: Visibility, station_pk: int) -> StationRef | None:
        row = (
            await scoped(
                t.Station.select(t.Station.id, t.Station.charge_point_id, t.Station.owner_entity),
                t.Station.owner_entity,
                visibility,
            )
            .where(t.Station.id == station_pk)
            .first()
            .run()
        )
        if row is None:
            return None
        return StationRef(row["id"], row["charge_point_id"], row["owner_entity"])
