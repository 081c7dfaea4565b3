"""Media as authorisation reads them for the OCPP core: the CRM's record
plus what a session keeps of the medium (id, bill-to and owner contacts)."""

from __future__ import annotations

from crm.storage.media import _RECORD_COLUMNS, medium_record
from crm.tables import Medium as MediumRow
from csms.domain.authorization import SessionMedium
from csms.domain.model import MediumFacts
from csms.storage.database import lookup_statement

_COLUMNS = (
    *_RECORD_COLUMNS,
    MediumRow.id,
    MediumRow.owner_contact,
    MediumRow.bill_to_contact,
)
# Written out once rather than built by piccolo's query builder per lookup:
# building cost several times what running it does, and a fleet that
# reconnects after a restart authorises every medium cold at once.
_LOOKUP = lookup_statement(_COLUMNS, MediumRow.uid)


class PiccoloSessionMediaLookup:
    """``crm.media.MediaLookup`` whose records carry the session's facts:
    one query per cache miss, as before, with three more columns."""

    async def lookup(self, uid: str) -> SessionMedium | None:
        rows = await MediumRow.raw(_LOOKUP, uid).run()
        if not rows:
            return None
        row = rows[0]
        record = medium_record(row)
        return SessionMedium(
            uid=record.uid,
            issuing_entity_id=record.issuing_entity_id,
            status=record.status,
            kind=record.kind,
            valid_from=record.valid_from,
            valid_until=record.valid_until,
            group_uid=record.group_uid,
            facts=MediumFacts(
                medium_id=row["id"],
                issuing_entity_id=row["issuing_entity"],
                bill_to_contact_id=row["bill_to_contact"],
                owner_contact_id=row["owner_contact"],
            ),
        )
