"""Identification media in the database."""

from __future__ import annotations

from typing import Any

from crm.media import MediumKind, MediumRecord, MediumStatus
from crm.tables import Medium


def medium_record(row: dict[str, Any]) -> MediumRecord:
    return MediumRecord(
        uid=row["uid"],
        issuing_entity_id=row["issuing_entity"],
        status=MediumStatus(row["status"]),
        kind=MediumKind(row["kind"]),
        valid_from=row["valid_from"],
        valid_until=row["valid_until"],
        group_uid=row["group_uid"],
    )


_RECORD_COLUMNS = (
    Medium.uid,
    Medium.issuing_entity,
    Medium.status,
    Medium.kind,
    Medium.valid_from,
    Medium.valid_until,
    Medium.group_uid,
)


class PiccoloMediaLookup:
    """What authorisation reads: a medium by uid, unscoped (a charger asks,
    not a user)."""

    async def lookup(self, uid: str) -> MediumRecord | None:
        row = await Medium.select(*_RECORD_COLUMNS).where(Medium.uid == uid).first().run()
        return medium_record(row) if row else None
