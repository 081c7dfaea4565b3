"""The media registry's rules: who may see, issue and change which media.

Media belong to their issuing entity: every read is scoped by it, a medium
of an entity the user cannot see does not exist for them (NotFound). A
medium's owner and bill-to contacts must be contacts the user can see. Each
write is announced to the :class:`~crm.changes.CrmChangeListener` after it
is committed, so the authorisation caches drop what they hold for the uid.

Media are never deleted: blocking ({"status": "blocked"}) or marking lost
ends a medium's charging and keeps what refers to it intact.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import msgspec

from crm.access import Principal
from crm.changes import CrmChangeListener, IgnoreChanges
from crm.errors import Conflict, Forbidden, InvalidInput, NotFound
from crm.fields import without_hidden
from crm.media import (
    EXPORT_COLUMNS,
    IMPORT_COLUMNS,
    MediaFilter,
    Medium,
    MediumCreate,
    MediumStatus,
    MediumUpdate,
    check_group_uid,
    check_note,
    check_validity,
    checked_create,
    export_row,
    medium_from_row,
)
from crm.row_import import ImportRejected, check_columns, row_values
from crm.storage.media import PiccoloMedia
from crm.validation import parse_time

RESOURCE = "media"
_CONTACT_FIELDS = ("owner_contact_id", "bill_to_contact_id")


class ImportResult(msgspec.Struct, frozen=True):
    """How many media an import added, and the uids it left alone because
    they existed (with skip_existing)."""

    imported: int
    skipped: list[str]


@dataclass(slots=True)
class MediaService:
    changes: CrmChangeListener = field(default_factory=IgnoreChanges)
    store: PiccoloMedia = field(default_factory=PiccoloMedia)

    # -- reading -------------------------------------------------------------------

    def _shown(self, principal: Principal, medium: Medium) -> Medium:
        return without_hidden(
            medium, principal.row_hidden_fields(RESOURCE, medium.issuing_entity_id)
        )

    def _check_filter(self, principal: Principal, filters: MediaFilter) -> None:
        # Without a row: a filter by a field hidden on some visible rows
        # would reveal it there.
        if filters.owner_contact_id is not None and "owner_contact_id" in principal.hidden_fields(
            RESOURCE
        ):
            raise InvalidInput("owner_contact_id is hidden from you; you cannot filter by it")

    async def list_media(
        self, principal: Principal, filters: MediaFilter, *, limit: int, offset: int
    ) -> tuple[list[Medium], int]:
        """A page of the media the user may see, by uid, and how many match."""
        principal.require(RESOURCE, "read")
        self._check_filter(principal, filters)
        items, total = await self.store.page(
            principal.visible(RESOURCE, "read"), filters, limit=limit, offset=offset
        )
        return [self._shown(principal, m) for m in items], total

    async def get(self, principal: Principal, medium_id: int) -> Medium:
        principal.require(RESOURCE, "read")
        medium = await self.store.get(medium_id, principal.visible(RESOURCE, "read"))
        if medium is None:
            raise NotFound(f"no medium {medium_id}")
        return self._shown(principal, medium)

    async def get_by_uid(self, principal: Principal, uid: str) -> Medium:
        principal.require(RESOURCE, "read")
        medium = await self.store.get_by_uid(uid.strip(), principal.visible(RESOURCE, "read"))
        if medium is None:
            raise NotFound(f"no medium {uid.strip()!r}")
        return self._shown(principal, medium)

    async def export_csv(self, principal: Principal, filters: MediaFilter) -> str:
        """The visible media that match as CSV, in the import's columns; the
        columns of fields hidden from the user on every row are left out
        altogether, the others are blank on the rows that hide them."""
        principal.require(RESOURCE, "read")
        self._check_filter(principal, filters)
        hidden = principal.hidden_on_every_row(RESOURCE)
        columns = [c for c in EXPORT_COLUMNS if c not in hidden]
        media = await self.store.every(principal.visible(RESOURCE, "read"), filters)
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for medium in media:
            writer.writerow(export_row(self._shown(principal, medium)))
        return out.getvalue()

    # -- checks --------------------------------------------------------------------

    async def _check_issuer(self, principal: Principal, action: str, entity_id: int) -> None:
        """Forbidden unless the user may ``action`` media of the entity;
        InvalidInput when it is deactivated."""
        principal.require_entity(RESOURCE, action, entity_id)
        if entity_id not in await self.store.active_entities([entity_id]):
            raise InvalidInput(
                f"issuing_entity_id: entity {entity_id} does not exist or is deactivated"
            )

    async def _check_contacts(self, principal: Principal, contacts: Mapping[str, int]) -> None:
        """InvalidInput naming each field whose contact the user cannot see
        (as contacts: owned by, or shared with, a visible entity)."""
        if not contacts:
            return
        visible = await self.store.visible_contacts(
            contacts.values(), principal.visible("contacts", "read")
        )
        bad = [
            f"{name}: no contact {contact_id} that you can see"
            for name, contact_id in contacts.items()
            if contact_id not in visible
        ]
        if bad:
            raise InvalidInput("; ".join(bad))

    # -- writing -------------------------------------------------------------------

    def _announce(self, uids: Iterable[str]) -> None:
        uids = frozenset(uids)
        if uids:
            self.changes.media_changed(uids)

    async def create(self, principal: Principal, data: MediumCreate) -> Medium:
        """A new medium, issued by ``data.issuing_entity_id`` or else the
        user's active entity; Conflict when its uid exists (in any entity)."""
        principal.require(RESOURCE, "create")
        data = checked_create(data)
        issuer = (
            data.issuing_entity_id
            if data.issuing_entity_id is not None
            else principal.active_entity_id
        )
        await self._check_issuer(principal, "create", issuer)
        await self._check_contacts(
            principal,
            {name: value for name in _CONTACT_FIELDS if (value := getattr(data, name)) is not None},
        )
        if await self.store.uid_taken(data.uid):
            raise Conflict(f"a medium with uid {data.uid!r} exists already")
        medium = await self.store.add(data, issuer)
        self._announce([medium.uid])
        return self._shown(principal, medium)

    async def update(self, principal: Principal, medium_id: int, data: MediumUpdate) -> Medium:
        """Changes a medium the user may update. Moving it to another
        issuing entity needs the right to update media of both."""
        principal.require(RESOURCE, "update")
        current = await self.store.get(medium_id, principal.visible(RESOURCE, "read"))
        if current is None:
            raise NotFound(f"no medium {medium_id}")
        return await self._update(principal, current, data)

    async def update_by_uid(self, principal: Principal, uid: str, data: MediumUpdate) -> Medium:
        principal.require(RESOURCE, "update")
        current = await self.store.get_by_uid(uid.strip(), principal.visible(RESOURCE, "read"))
        if current is None:
            raise NotFound(f"no medium {uid.strip()!r}")
        return await self._update(principal, current, data)

    async def set_status(self, principal: Principal, uid: str, status: MediumStatus) -> Medium:
        """Blocks, unblocks, expires or marks lost the medium with this uid."""
        return await self.update_by_uid(principal, uid, MediumUpdate(status=status))

    async def _update(self, principal: Principal, current: Medium, data: MediumUpdate) -> Medium:
        if current.issuing_entity_id not in principal.visible(RESOURCE, "update"):
            raise Forbidden(f"you may not update media of entity {current.issuing_entity_id}")
        changes = data.changes()
        if not changes:
            return self._shown(principal, current)
        check_validity(
            changes.get("valid_from", current.valid_from),  # type: ignore[arg-type]
            changes.get("valid_until", current.valid_until),  # type: ignore[arg-type]
        )
        if "group_uid" in changes:
            changes["group_uid"] = check_group_uid(str(changes["group_uid"]))
        if "note" in changes:
            changes["note"] = check_note(str(changes["note"]))
        issuer = changes.get("issuing_entity_id")
        if isinstance(issuer, int) and issuer != current.issuing_entity_id:
            await self._check_issuer(principal, "update", issuer)
        await self._check_contacts(
            principal,
            {
                name: value
                for name in _CONTACT_FIELDS
                if isinstance(value := changes.get(name), int) and value != getattr(current, name)
            },
        )
        medium = await self.store.update(current.id, changes)
        self._announce([medium.uid])
        return self._shown(principal, medium)

    # -- bulk ----------------------------------------------------------------------

    async def import_rows(
        self,
        principal: Principal,
        header: Sequence[str] | None,
        rows: Iterable[Mapping[str, str | None]],
        *,
        skip_existing: bool = False,
        default_issuer: int | None = None,
    ) -> ImportResult:
        """Imports the media of a CSV table (line 1 the header, columns as
        :data:`crm.media.IMPORT_COLUMNS`), all or nothing: InvalidInput names
        every line to fix. A row without issuing_entity is issued by
        ``default_issuer`` or else the user's active entity. Existing uids
        refuse the import unless ``skip_existing``."""
        principal.require(RESOURCE, "create")
        issuer = default_issuer if default_issuer is not None else principal.active_entity_id
        try:
            check_columns(header, IMPORT_COLUMNS, "uid")
            media = await self._parse_import(principal, rows, issuer, skip_existing=skip_existing)
        except ImportRejected as error:
            raise InvalidInput(f"nothing imported: {error}") from None
        skipped = await self.store.add_many(media, skip_existing=skip_existing)
        added = {m.uid for m in media} - set(skipped)
        self._announce(added)
        return ImportResult(imported=len(added), skipped=skipped)

    async def _parse_import(
        self,
        principal: Principal,
        rows: Iterable[Mapping[str, str | None]],
        issuer: int,
        *,
        skip_existing: bool,
    ) -> list[MediumCreate]:
        """The media of the rows (line 1 is the header), or ImportRejected
        naming, in line order, every line whose format, issuer, contacts or
        (without ``skip_existing``) uid cannot be, and every repeated uid."""
        problems: list[tuple[int, str]] = []
        parsed: list[tuple[int, MediumCreate]] = []
        first_line: dict[str, int] = {}
        for line, row in enumerate(rows, start=2):
            try:
                medium = medium_from_row(row_values(row), parse_time, issuer)
            except ValueError as error:
                problems.append((line, str(error)))
                continue
            seen = first_line.setdefault(medium.uid, line)
            if seen != line:
                problems.append((line, f"{medium.uid!r} repeats line {seen}"))
                continue
            parsed.append((line, medium))
        media = [medium for _, medium in parsed]
        may_create = principal.visible(RESOURCE, "create")
        active = await self.store.active_entities(
            {m.issuing_entity_id for m in media if m.issuing_entity_id is not None}
        )
        contacts = await self.store.visible_contacts(
            {c for m in media for c in (m.owner_contact_id, m.bill_to_contact_id) if c},
            principal.visible("contacts", "read"),
        )
        existing = (
            set() if skip_existing else await self.store.existing_uids([m.uid for m in media])
        )
        for line, medium in parsed:
            entity = medium.issuing_entity_id
            if entity not in may_create:
                problems.append((line, f"you may not create media of entity {entity}"))
            elif entity not in active:
                problems.append((line, f"entity {entity} does not exist or is deactivated"))
            for name in _CONTACT_FIELDS:
                contact = getattr(medium, name)
                if contact is not None and contact not in contacts:
                    problems.append((line, f"{name}: no contact {contact} that you can see"))
            if medium.uid in existing:
                problems.append((line, f"a medium with uid {medium.uid!r} exists already"))
        if problems:
            problems.sort(key=lambda problem: problem[0])
            raise ImportRejected([f"line {line}: {text}" for line, text in problems])
        return media
