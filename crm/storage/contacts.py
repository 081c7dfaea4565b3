"""Contacts, their shares and documents, and customer numbers, in the database.

Every read on behalf of a user goes through :func:`crm.storage.scoping.scoped`:
contacts with their owner entity and, as the ``also`` condition, a share with
one of the visible entities; documents with their own owner entity and
nothing else, so a shared contact never opens another entity's documents.

Customer numbers
----------------
A contact created without a number gets the next one of its owner entity's
format: ``UPDATE entity SET customer_number_counter = customer_number_counter
+ 1 WHERE id = ? RETURNING ...`` in the same transaction as the INSERT. On
PostgreSQL the UPDATE locks the entity's row until the commit, on SQLite the
transaction holds the write lock from its start (``BEGIN IMMEDIATE``), so two
contacts of one entity never draw the same value.

Numbers are unique in the instance (a unique index on
``contact.customer_number``), while formats are per entity and may collide
(two entities with ``%d``). A rendered number that is taken (by another
entity's contact, by a number given by hand, by an entity's own number) is
skipped and the next drawn, up to :data:`MAX_DRAWS` times; then Conflict.

Gaps: a failed transaction does *not* leave one, because the counter's UPDATE
rolls back with the INSERT (a refused contact gives its number back). An
entity's sequence still has gaps where a number was skipped because it was
taken elsewhere, and where a contact's number was later changed or removed by
hand; customer numbers, unlike invoice numbers, need not be gapless.

Uniqueness is instance-wide, so the check that a number is free is, on
purpose, not scoped: a 409 tells a user that the number exists somewhere,
which "unique per instance" cannot avoid; it shows nothing of the row.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from piccolo.engine.sqlite import SQLiteEngine, TransactionType

from crm.access import Visibility
from crm.contacts import (
    Contact as ContactAnswer,
)
from crm.contacts import (
    ContactFilter,
    Document,
    DocumentUpload,
    read_only_fields,
)
from crm.contacts import (
    ContactShare as ShareAnswer,
)
from crm.customer_numbers import render
from crm.errors import Conflict
from crm.storage.scoping import scoped, visible_condition
from crm.storage.search import icontains
from crm.tables import Contact, ContactDocument, ContactShare, Entity

# How many taken numbers a draw skips before it gives up with Conflict.
MAX_DRAWS = 100
# Rows an export reads per query.
EXPORT_BATCH = 1000

_CONTACT_COLUMNS = (
    Contact.id,
    Contact.owner_entity,
    Contact.master_of_entity,
    Contact.kind,
    Contact.customer_number,
    Contact.name,
    Contact.first_name,
    Contact.last_name,
    Contact.company,
    Contact.street,
    Contact.postal_code,
    Contact.city,
    Contact.country,
    Contact.phone,
    Contact.fax,
    Contact.email,
    Contact.web,
    Contact.vat_id,
    Contact.iban,
    Contact.bic,
    Contact.comment,
    Contact.active,
    Contact.created_at,
    Contact.updated_at,
)

_DOCUMENT_COLUMNS = (
    ContactDocument.id,
    ContactDocument.contact,
    ContactDocument.owner_entity,
    ContactDocument.kind,
    ContactDocument.title,
    ContactDocument.file_name,
    ContactDocument.media_type,
    ContactDocument.size,
    ContactDocument.created_at,
)

# The columns ``q`` searches (each only on the rows where it is shown).
SEARCHED_COLUMNS = ("name", "company", "email", "customer_number")


class NumberTaken(Conflict):
    """A customer number that another contact (or entity) has."""


def contact_from_row(row: dict[str, Any]) -> ContactAnswer:
    return ContactAnswer(
        id=row["id"],
        owner_entity_id=row["owner_entity"],
        kind=row["kind"],
        customer_number=row["customer_number"],
        name=row["name"],
        first_name=row["first_name"],
        last_name=row["last_name"],
        company=row["company"],
        street=row["street"],
        postal_code=row["postal_code"],
        city=row["city"],
        country=row["country"],
        phone=row["phone"],
        fax=row["fax"],
        email=row["email"],
        web=row["web"],
        vat_id=row["vat_id"],
        iban=row["iban"],
        bic=row["bic"],
        comment=row["comment"],
        active=row["active"],
        master_of_entity_id=row["master_of_entity"],
        read_only_fields=read_only_fields(row["master_of_entity"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def document_from_row(row: dict[str, Any]) -> Document:
    return Document(
        id=row["id"],
        contact_id=row["contact"],
        owner_entity_id=row["owner_entity"],
        kind=row["kind"],
        title=row["title"],
        file_name=row["file_name"],
        media_type=row["media_type"],
        size=row["size"],
        created_at=row["created_at"],
    )


def _write_transaction() -> Any:
    engine = Contact._meta.db
    if isinstance(engine, SQLiteEngine):
        # Take the write lock up front instead of failing on lock upgrade.
        return engine.transaction(transaction_type=TransactionType.immediate)
    return engine.transaction()


def _shared_with(ids: Sequence[int], *, write: bool = False) -> Any:
    shares = ContactShare.select(ContactShare.contact).where(ContactShare.entity.is_in(list(ids)))
    if write:
        shares = shares.where(ContactShare.access == "write")
    return Contact.id.is_in(shares)


def visible_contacts(query: Any, visibility: Visibility, *, write: bool = False) -> Any:
    """``query`` limited to contacts owned by a visible entity or shared
    with one (for ``write``: shared with write access)."""
    ids = visibility.entity_ids
    also = _shared_with(sorted(ids), write=write) if ids else None
    return scoped(query, Contact.owner_entity, visibility, also=also)


def _contact_condition(visibility: Visibility) -> Any | None:
    """The condition of :func:`visible_contacts` (None: every contact)."""
    ids = visibility.entity_ids
    also = _shared_with(sorted(ids)) if ids else None
    return visible_condition(Contact.owner_entity, visibility, also=also)


def _filtered(query: Any, where: ContactFilter, searchable: Mapping[str, Visibility]) -> Any:
    if where.q:
        # A column matches only on the rows where it is shown to the user
        # (seen through ``searchable[column]``), never where it is hidden;
        # name and company cannot be hidden.
        matches = []
        for column in SEARCHED_COLUMNS:
            within = searchable.get(column, Visibility(None))
            if within.entity_ids is not None and not within.entity_ids:
                continue
            match = icontains(getattr(Contact, column), where.q)
            condition = _contact_condition(within)
            matches.append(match if condition is None else match & condition)
        query = query.where(functools.reduce(operator.or_, matches))
    if where.kind is not None:
        query = query.where(Contact.kind == where.kind)
    if where.owner_entity_id is not None:
        query = query.where(Contact.owner_entity == where.owner_entity_id)
    if where.customer_number is not None:
        query = query.where(Contact.customer_number == where.customer_number)
    if where.active is not None:
        query = query.where(Contact.active.eq(where.active))
    return query


class PiccoloContacts:
    # -- contacts ---------------------------------------------------------

    async def find(
        self, contact_id: int, visibility: Visibility, *, write: bool = False
    ) -> dict[str, Any] | None:
        """The contact's row if ``visibility`` admits it (for ``write``:
        owned by a visible entity or shared with one for writing)."""
        query = Contact.select(*_CONTACT_COLUMNS).where(Contact.id == contact_id)
        row = await visible_contacts(query, visibility, write=write).first().run()
        return dict(row) if row else None

    async def page(
        self,
        where: ContactFilter,
        visibility: Visibility,
        searchable: Mapping[str, Visibility],
        *,
        limit: int,
        offset: int,
    ) -> tuple[list[ContactAnswer], int]:
        rows_query = _filtered(Contact.select(*_CONTACT_COLUMNS), where, searchable)
        rows = (
            await visible_contacts(rows_query, visibility)
            .order_by(Contact.name)
            .order_by(Contact.id)
            .limit(limit)
            .offset(offset)
            .run()
        )
        total = await visible_contacts(
            _filtered(Contact.count(), where, searchable), visibility
        ).run()
        return [contact_from_row(row) for row in rows], int(total)

    async def export(
        self, where: ContactFilter, visibility: Visibility, searchable: Mapping[str, Visibility]
    ) -> AsyncIterator[list[ContactAnswer]]:
        """Every matching contact in id order, in batches."""
        after = 0
        while True:
            query = _filtered(Contact.select(*_CONTACT_COLUMNS), where, searchable).where(
                Contact.id > after
            )
            rows = (
                await visible_contacts(query, visibility)
                .order_by(Contact.id)
                .limit(EXPORT_BATCH)
                .run()
            )
            if rows:
                yield [contact_from_row(row) for row in rows]
            if len(rows) < EXPORT_BATCH:
                return
            after = rows[-1]["id"]

    async def shared_with(self, contact_ids: Sequence[int]) -> dict[int, list[int]]:
        """Contact id -> the entities it is shared with (read or write)."""
        if not contact_ids:
            return {}
        rows = await ContactShare.select(ContactShare.contact, ContactShare.entity).where(
            ContactShare.contact.is_in(list(contact_ids))
        )
        shared: dict[int, list[int]] = {}
        for row in rows:
            shared.setdefault(row["contact"], []).append(row["entity"])
        return shared

    async def entity_state(self, entity_id: int) -> bool | None:
        """Whether the entity is active; None when there is none."""
        row = await Entity.select(Entity.active).where(Entity.id == entity_id).first().run()
        return None if row is None else bool(row["active"])

    async def entity_names(self, entity_ids: Sequence[int]) -> dict[int, str]:
        if not entity_ids:
            return {}
        rows = (
            await Entity.select(Entity.id, Entity.name)
            .where(Entity.id.is_in(list(entity_ids)))
            .run()
        )
        return {row["id"]: row["name"] for row in rows}

    async def _number_taken(self, number: str, *, besides: int | None = None) -> bool:
        contacts = Contact.exists().where(Contact.customer_number == number)
        if besides is not None:
            contacts = contacts.where(Contact.id != besides)
        if await contacts.run():
            return True
        # An entity's number is on its master contact too; asking the entity
        # table as well keeps a half-synced entity from sharing its number.
        return bool(await Entity.exists().where(Entity.customer_number == number).run())

    async def _draw_number(self, entity_id: int) -> str:
        """The next free number of the entity's format, inside the caller's
        transaction (whose rollback gives the drawn values back)."""
        for _ in range(MAX_DRAWS):
            rows = (
                await Entity.update(
                    {Entity.customer_number_counter: Entity.customer_number_counter + 1}
                )
                .where(Entity.id == entity_id)
                .returning(Entity.customer_number_counter, Entity.customer_number_format)
                .run()
            )
            if not rows:
                raise Conflict(f"there is no entity {entity_id} to draw a customer number from")
            number = render(rows[0]["customer_number_format"], rows[0]["customer_number_counter"])
            if not await self._number_taken(number):
                return number
        raise NumberTaken(
            f"the next {MAX_DRAWS} customer numbers of entity {entity_id}'s format are all "
            "taken; give the contact a number by hand or change the entity's format"
        )

    async def create(
        self, values: dict[str, Any], *, owner_entity_id: int, now: datetime
    ) -> dict[str, Any]:
        """Inserts the contact; ``values["customer_number"]`` None draws the
        owner's next number in the same transaction. NumberTaken when the
        number given is taken (or no free one was found)."""
        async with _write_transaction():
            number = values.get("customer_number")
            if number is None:
                number = await self._draw_number(owner_entity_id)
            elif await self._number_taken(number):
                raise NumberTaken(f"customer number {number} is taken")
            columns = {**values, "customer_number": number}
            (row,) = (
                await Contact.insert(
                    Contact(
                        owner_entity=owner_entity_id,
                        created_at=now,
                        updated_at=now,
                        **columns,
                    )
                )
                .returning(Contact.id)
                .run()
            )
        created = await self.find(row["id"], Visibility(None))
        assert created is not None
        return created

    async def update(
        self, contact_id: int, values: dict[str, Any], *, now: datetime
    ) -> dict[str, Any]:
        """Sets the columns (the caller checked the user may); NumberTaken
        when a new customer number is taken."""
        async with _write_transaction():
            number = values.get("customer_number")
            if number is not None and await self._number_taken(number, besides=contact_id):
                raise NumberTaken(f"customer number {number} is taken")
            changes = {getattr(Contact, name): value for name, value in values.items()}
            changes[Contact.updated_at] = now
            await Contact.update(changes).where(Contact.id == contact_id).run()
        updated = await self.find(contact_id, Visibility(None))
        assert updated is not None
        return updated

    # -- shares -------------------------------------------------------------

    async def shares(self, contact_id: int) -> list[ShareAnswer]:
        """The contact's shares (the caller checked the user sees its owner's data)."""
        rows = (
            await ContactShare.select(
                ContactShare.contact,
                ContactShare.entity,
                ContactShare.entity.name,
                ContactShare.access,
                ContactShare.created_at,
            )
            .where(ContactShare.contact == contact_id)
            .order_by(ContactShare.entity)
            .run()
        )
        return [
            ShareAnswer(
                contact_id=row["contact"],
                entity_id=row["entity"],
                entity_name=row["entity.name"],
                access=row["access"],
                created_at=row["created_at"],
            )
            for row in rows
        ]

    async def share(
        self, contact_id: int, entity_id: int, access: str, *, now: datetime, replace: bool
    ) -> bool:
        """Shares the contact with the entity; True when the share is new.
        An existing share is Conflict unless ``replace`` (then its access
        changes)."""
        async with _write_transaction():
            existing = (
                await ContactShare.select(ContactShare.id)
                .where((ContactShare.contact == contact_id) & (ContactShare.entity == entity_id))
                .first()
                .run()
            )
            if existing is not None:
                if not replace:
                    raise Conflict(
                        f"contact {contact_id} is shared with entity {entity_id} already; "
                        f"PUT .../shares/{entity_id} changes its access"
                    )
                await (
                    ContactShare.update({ContactShare.access: access})
                    .where(ContactShare.id == existing["id"])
                    .run()
                )
                return False
            await ContactShare.insert(
                ContactShare(contact=contact_id, entity=entity_id, access=access, created_at=now)
            ).run()
            return True

    async def unshare(self, contact_id: int, entity_id: int) -> bool:
        deleted = (
            await ContactShare.delete()
            .where((ContactShare.contact == contact_id) & (ContactShare.entity == entity_id))
            .returning(ContactShare.id)
            .run()
        )
        return bool(deleted)

    # -- documents ----------------------------------------------------------

    async def add_document(
        self, contact_id: int, owner_entity_id: int, upload: DocumentUpload, *, now: datetime
    ) -> Document:
        (row,) = (
            await ContactDocument.insert(
                ContactDocument(
                    contact=contact_id,
                    owner_entity=owner_entity_id,
                    kind=upload.kind,
                    title=upload.title,
                    file_name=upload.file_name,
                    media_type=upload.media_type,
                    content=upload.content,
                    size=len(upload.content),
                    created_at=now,
                )
            )
            .returning(*_DOCUMENT_COLUMNS)
            .run()
        )
        return document_from_row(row)

    async def documents(self, contact_id: int, visibility: Visibility) -> list[Document]:
        """The contact's documents of the visible entities: the documents'
        own owner decides, never the contact's sharing."""
        query = ContactDocument.select(*_DOCUMENT_COLUMNS).where(
            ContactDocument.contact == contact_id
        )
        rows = (
            await scoped(query, ContactDocument.owner_entity, visibility)
            .order_by(ContactDocument.id)
            .run()
        )
        return [document_from_row(row) for row in rows]

    async def document(
        self, document_id: int, visibility: Visibility
    ) -> tuple[Document, bytes] | None:
        query = ContactDocument.select(*_DOCUMENT_COLUMNS, ContactDocument.content).where(
            ContactDocument.id == document_id
        )
        row = await scoped(query, ContactDocument.owner_entity, visibility).first().run()
        if row is None:
            return None
        return document_from_row(row), bytes(row["content"] or b"")
