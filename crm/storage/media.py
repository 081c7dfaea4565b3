"""Identification media in the database.

Reads on behalf of a user go through :func:`crm.storage.scoping.scoped` on
the issuing entity; :class:`PiccoloMediaLookup` is the one unscoped read (a
charger asks, not a user). Rows are never deleted here: a medium that must
not charge any more is blocked or marked lost.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from piccolo.columns.combination import WhereRaw
from piccolo.engine.sqlite import SQLiteEngine, TransactionType

from crm.access import Visibility
from crm.errors import Conflict
from crm.media import (
    MediaFilter,
    Medium,
    MediumCreate,
    MediumError,
    MediumKind,
    MediumRecord,
    MediumStatus,
)
from crm.storage.contacts import visible_contacts as contacts_visible_in
from crm.storage.entities import active_entities
from crm.storage.integrity import is_unique_violation
from crm.storage.scoping import scoped
from crm.tables import Contact, Entity
from crm.tables import Medium as MediumRow

# Rows per statement in bulk work, well under the databases' parameter limits.
CHUNK = 500


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


def medium_answer(row: dict[str, Any]) -> Medium:
    """The full answer; the service strips what the user may not see."""
    return Medium(
        id=row["id"],
        uid=row["uid"],
        kind=MediumKind(row["kind"]),
        issuing_entity_id=row["issuing_entity"],
        status=MediumStatus(row["status"]),
        valid_from=row["valid_from"],
        valid_until=row["valid_until"],
        group_uid=row["group_uid"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        owner_contact_id=row["owner_contact"],
        bill_to_contact_id=row["bill_to_contact"],
        note=row["note"],
    )


_RECORD_COLUMNS = (
    MediumRow.uid,
    MediumRow.issuing_entity,
    MediumRow.status,
    MediumRow.kind,
    MediumRow.valid_from,
    MediumRow.valid_until,
    MediumRow.group_uid,
)

# Struct field -> column, for updates.
_COLUMNS = {
    "kind": MediumRow.kind,
    "issuing_entity_id": MediumRow.issuing_entity,
    "owner_contact_id": MediumRow.owner_contact,
    "bill_to_contact_id": MediumRow.bill_to_contact,
    "status": MediumRow.status,
    "valid_from": MediumRow.valid_from,
    "valid_until": MediumRow.valid_until,
    "group_uid": MediumRow.group_uid,
    "note": MediumRow.note,
}


class PiccoloMediaLookup:
    """What authorisation reads: a medium by uid, unscoped (a charger asks,
    not a user)."""

    async def lookup(self, uid: str) -> MediumRecord | None:
        row = await MediumRow.select(*_RECORD_COLUMNS).where(MediumRow.uid == uid).first().run()
        return medium_record(row) if row else None


def _write_transaction() -> Any:
    """A transaction that takes SQLite's write lock up front (instead of
    failing on lock upgrade), like ``csms.storage.database`` does."""
    engine = MediumRow._meta.db
    if isinstance(engine, SQLiteEngine):
        return engine.transaction(transaction_type=TransactionType.immediate)
    return engine.transaction()


def _like_pattern(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _filtered(query: Any, filters: MediaFilter) -> Any:
    if filters.q:
        query = query.where(
            WhereRaw('LOWER("medium"."uid") LIKE {} ESCAPE \'\\\'', _like_pattern(filters.q))
        )
    if filters.status is not None:
        query = query.where(MediumRow.status == filters.status.value)
    if filters.kind is not None:
        query = query.where(MediumRow.kind == filters.kind.value)
    if filters.issuing_entity_id is not None:
        query = query.where(MediumRow.issuing_entity == filters.issuing_entity_id)
    if filters.group_uid is not None:
        query = query.where(MediumRow.group_uid == filters.group_uid)
    if filters.owner_contact_id is not None:
        query = query.where(MediumRow.owner_contact == filters.owner_contact_id)
    return query


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _row_of(data: MediumCreate, issuer: int, now: datetime) -> MediumRow:
    return MediumRow(
        uid=data.uid,
        kind=data.kind.value,
        issuing_entity=issuer,
        owner_contact=data.owner_contact_id,
        bill_to_contact=data.bill_to_contact_id,
        status=data.status.value,
        valid_from=data.valid_from,
        valid_until=data.valid_until,
        group_uid=data.group_uid,
        note=data.note,
        created_at=now,
        updated_at=now,
    )


class PiccoloMedia:
    """The media registry as the media service uses it."""

    async def page(
        self, visibility: Visibility, filters: MediaFilter, *, limit: int, offset: int
    ) -> tuple[list[Medium], int]:
        """A page of the visible media that match, by uid, and how many match."""
        rows = (
            await _filtered(
                scoped(MediumRow.select(), MediumRow.issuing_entity, visibility), filters
            )
            .order_by(MediumRow.uid)
            .limit(limit)
            .offset(offset)
            .run()
        )
        total = await _filtered(
            scoped(MediumRow.count(), MediumRow.issuing_entity, visibility), filters
        ).run()
        return [medium_answer(row) for row in rows], int(total)

    async def every(self, visibility: Visibility, filters: MediaFilter) -> list[Medium]:
        """All visible media that match, by uid (for exports)."""
        found: list[Medium] = []
        last = ""
        while True:
            rows = (
                await _filtered(
                    scoped(MediumRow.select(), MediumRow.issuing_entity, visibility), filters
                )
                .where(MediumRow.uid > last)
                .order_by(MediumRow.uid)
                .limit(CHUNK)
                .run()
            )
            found.extend(medium_answer(row) for row in rows)
            if len(rows) < CHUNK:
                return found
            last = rows[-1]["uid"]

    async def get(self, medium_id: int, visibility: Visibility) -> Medium | None:
        query = MediumRow.select().where(MediumRow.id == medium_id)
        row = await scoped(query, MediumRow.issuing_entity, visibility).first().run()
        return medium_answer(row) if row else None

    async def get_by_uid(self, uid: str, visibility: Visibility) -> Medium | None:
        query = MediumRow.select().where(MediumRow.uid == uid)
        row = await scoped(query, MediumRow.issuing_entity, visibility).first().run()
        return medium_answer(row) if row else None

    async def uid_taken(self, uid: str) -> bool:
        """Whether any medium, of any entity, has this uid (they are unique
        in the instance)."""
        return bool(await MediumRow.exists().where(MediumRow.uid == uid).run())

    async def existing_uids(self, uids: Sequence[str]) -> set[str]:
        """Those of the uids some medium (of any entity) has."""
        existing: set[str] = set()
        for chunk in _chunks(uids, CHUNK):
            rows = (
                await MediumRow.select(MediumRow.uid).where(MediumRow.uid.is_in(list(chunk))).run()
            )
            existing.update(row["uid"] for row in rows)
        return existing

    async def active_entities(self, entity_ids: Iterable[int]) -> frozenset[int]:
        """Those of the entities that exist and are active."""
        return await active_entities(entity_ids)

    async def visible_contacts(
        self, contact_ids: Iterable[int], visibility: Visibility
    ) -> frozenset[int]:
        """Those of the contacts the visibility (of contacts) admits: owned
        by a visible entity or shared with one."""
        wanted = sorted(set(contact_ids))
        found: set[int] = set()
        for chunk in _chunks(wanted, CHUNK):
            query = Contact.select(Contact.id).where(Contact.id.is_in(list(chunk)))
            rows = await contacts_visible_in(query, visibility).run()
            found.update(row["id"] for row in rows)
        return frozenset(found)

    async def add(self, data: MediumCreate, issuer: int) -> Medium:
        """Stores a checked new medium; MediumError (Conflict) when its uid
        was taken meanwhile."""
        now = datetime.now(UTC)
        try:
            rows = (
                await MediumRow.insert(_row_of(data, issuer, now))
                .returning(*MediumRow.all_columns())
                .run()
            )
        except Exception as error:
            if is_unique_violation(error):
                raise Conflict(f"a medium with uid {data.uid!r} exists already") from None
            raise
        return medium_answer(rows[0])

    async def add_many(
        self, media: Sequence[MediumCreate], *, skip_existing: bool = False
    ) -> list[str]:
        """Adds the media (issuers set) in one transaction and returns the
        uids skipped because they exist. Without ``skip_existing`` an
        existing uid refuses the whole import (Conflict, every uid named up
        to ten) and nothing is written."""
        async with _write_transaction():
            existing = await self.existing_uids([m.uid for m in media])
            if existing and not skip_existing:
                shown = sorted(existing)[:10]
                raise Conflict(
                    f"{len(existing)} medium/media exist already: {', '.join(shown)}"
                    + (" ..." if len(existing) > len(shown) else "")
                )
            now = datetime.now(UTC)
            new = []
            for m in media:
                if m.issuing_entity_id is None:
                    raise MediumError(f"medium {m.uid!r} has no issuing entity")
                if m.uid not in existing:
                    new.append(_row_of(m, m.issuing_entity_id, now))
            for batch in _chunks(new, CHUNK):
                await MediumRow.insert(*batch).run()
        return sorted(existing)

    async def update(self, medium_id: int, changes: dict[str, Any]) -> Medium:
        values: dict[Any, Any] = {MediumRow.updated_at: datetime.now(UTC)}
        for name, value in changes.items():
            if name not in _COLUMNS:
                raise MediumError(f"{name} cannot be changed")
            values[_COLUMNS[name]] = value.value if hasattr(value, "value") else value
        rows = (
            await MediumRow.update(values)
            .where(MediumRow.id == medium_id)
            .returning(*MediumRow.all_columns())
            .run()
        )
        return medium_answer(rows[0])

    async def root_entity(self) -> int | None:
        """The first root entity (no parent), if there is one."""
        row = (
            await Entity.select(Entity.id)
            .where(Entity.parent.is_null())
            .order_by(Entity.id)
            .first()
            .run()
        )
        return int(row["id"]) if row is not None else None

    async def root_entities(self) -> list[int]:
        rows = (
            await Entity.select(Entity.id).where(Entity.parent.is_null()).order_by(Entity.id).run()
        )
        return [int(row["id"]) for row in rows]
