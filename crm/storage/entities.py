"""Entities in the database, each with its CRM contact kept in step."""

from __future__ import annotations

import builtins
import contextlib
import json
from collections.abc import AsyncIterator, Iterable
from datetime import datetime
from typing import Any

from crm.access import Visibility
from crm.entities import MASTER_FIELDS, Branding, Entity, EntityKind
from crm.errors import Conflict
from crm.storage.integrity import is_reference_violation, is_unique_violation
from crm.storage.scoping import scoped
from crm.storage.search import icontains
from crm.tables import Contact, ContactDocument, ContactShare, Group, Medium, Membership, User
from crm.tables import Entity as EntityTable


def _branding(value: Any) -> Branding:
    if isinstance(value, str):
        value = json.loads(value or "{}")
    return Branding(**{k: v for k, v in (value or {}).items() if k in Branding.__struct_fields__})


def entity_from_row(row: dict[str, Any], contact_id: int | None) -> Entity:
    return Entity(
        id=row["id"],
        parent_id=row["parent"],
        name=row["name"],
        kind=EntityKind(row["kind"]),
        street=row["street"],
        postal_code=row["postal_code"],
        city=row["city"],
        country=row["country"],
        customer_number=row["customer_number"],
        phone=row["phone"],
        fax=row["fax"],
        email=row["email"],
        web=row["web"],
        may_act_as_sub_emp=row["may_act_as_sub_emp"],
        customer_self_registration=row["customer_self_registration"],
        operator_id=row["operator_id"],
        invoice_number_range=row["invoice_number_range"],
        credit_note_number_range=row["credit_note_number_range"],
        force_purchase_prices=row["force_purchase_prices"],
        time_zone=row["time_zone"],
        customer_number_format=row["customer_number_format"],
        branding=_branding(row["branding"]),
        active=row["active"],
        contact_id=contact_id,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        vat_id=row["vat_id"],
        company_number=row["company_number"],
        comment=row["comment"],
        invoice_reply_to=row["invoice_reply_to"],
        credit_note_address=row["credit_note_address"],
    )


def _contact_master_values(fields: dict[str, Any]) -> dict[Any, Any]:
    values: dict[Any, Any] = {}
    for entity_field, contact_field in MASTER_FIELDS.items():
        if entity_field in fields:
            values[getattr(Contact, contact_field)] = fields[entity_field]
    if "name" in fields:
        values[Contact.company] = fields["name"]
    if "vat_id" in fields:
        values[Contact.vat_id] = fields["vat_id"]
    return values


# Ids per IN list, well under the databases' parameter limits.
_CHUNK = 500


async def active_entities(entity_ids: Iterable[int]) -> frozenset[int]:
    """Those of the entities that exist and are active."""
    wanted = sorted(set(entity_ids))
    found: set[int] = set()
    for start in range(0, len(wanted), _CHUNK):
        rows = (
            await EntityTable.select(EntityTable.id)
            .where(
                EntityTable.id.is_in(wanted[start : start + _CHUNK]) & (EntityTable.active == True)  # noqa: E712
            )
            .run()
        )
        found.update(row["id"] for row in rows)
    return frozenset(found)


def _number_taken(number: str | None) -> Conflict:
    return Conflict(f"customer number {number!r} is taken in this instance")


@contextlib.asynccontextmanager
async def _unique_customer_number(fields: dict[str, Any]) -> AsyncIterator[None]:
    """A unique index refusing the write (another writer took the customer
    number after the check) becomes the same Conflict as the check's."""
    try:
        yield
    except Exception as error:
        if is_unique_violation(error):
            raise _number_taken(fields.get("customer_number")) from None
        raise


def _entity_values(fields: dict[str, Any]) -> dict[Any, Any]:
    """Entity columns from checked fields (``parent_id`` is the parent column)."""
    values: dict[Any, Any] = {
        getattr(EntityTable, name): value for name, value in fields.items() if name != "parent_id"
    }
    if "parent_id" in fields:
        values[EntityTable.parent] = fields["parent_id"]
    return values


class PiccoloEntities:
    async def _contact_ids(self, entity_ids: list[int]) -> dict[int, int]:
        if not entity_ids:
            return {}
        rows = (
            await Contact.select(Contact.id, Contact.master_of_entity)
            .where(Contact.master_of_entity.is_in(entity_ids))
            .run()
        )
        return {row["master_of_entity"]: row["id"] for row in rows}

    async def list(
        self,
        visibility: Visibility,
        *,
        q: str | None = None,
        kind: str | None = None,
        parent_id: int | None = None,
        active: bool | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[Entity], int]:
        conditions = []
        if q:
            conditions.append(
                icontains(EntityTable.name, q) | icontains(EntityTable.customer_number, q)
            )
        if kind:
            conditions.append(EntityTable.kind == kind)
        if parent_id is not None:
            conditions.append(EntityTable.parent == parent_id)
        if active is not None:
            conditions.append(EntityTable.active == active)
        query = scoped(EntityTable.select(), EntityTable.id, visibility)
        count = scoped(EntityTable.count(), EntityTable.id, visibility)
        for condition in conditions:
            query = query.where(condition)
            count = count.where(condition)
        rows = await query.order_by(EntityTable.id).limit(limit).offset(offset).run()
        contacts = await self._contact_ids([row["id"] for row in rows])
        return [entity_from_row(row, contacts.get(row["id"])) for row in rows], await count.run()

    async def get(self, visibility: Visibility, entity_id: int) -> Entity | None:
        row = await (
            scoped(EntityTable.select(), EntityTable.id, visibility)
            .where(EntityTable.id == entity_id)
            .first()
            .run()
        )
        if row is None:
            return None
        contacts = await self._contact_ids([entity_id])
        return entity_from_row(row, contacts.get(entity_id))

    async def names(self, visibility: Visibility) -> builtins.list[dict[str, Any]]:
        """id, parent, name, kind and active of every visible entity."""
        return (
            await scoped(
                EntityTable.select(
                    EntityTable.id,
                    EntityTable.parent,
                    EntityTable.name,
                    EntityTable.kind,
                    EntityTable.active,
                ),
                EntityTable.id,
                visibility,
            )
            .order_by(EntityTable.name)
            .run()
        )

    async def _check_customer_number(self, number: str | None, entity_id: int | None) -> None:
        if number is None:
            return
        clash = EntityTable.exists().where(EntityTable.customer_number == number)
        contact_clash = Contact.exists().where(Contact.customer_number == number)
        if entity_id is not None:
            clash = clash.where(EntityTable.id != entity_id)
            contact_clash = contact_clash.where(
                Contact.master_of_entity.is_null() | (Contact.master_of_entity != entity_id)
            )
        if await clash.run() or await contact_clash.run():
            raise _number_taken(number)

    async def create(self, fields: dict[str, Any], now: datetime) -> int:
        """Inserts the entity and its CRM contact in one transaction."""
        async with _unique_customer_number(fields), EntityTable._meta.db.transaction():
            await self._check_customer_number(fields.get("customer_number"), None)
            values = _entity_values({"parent_id": None, **fields})
            values[EntityTable.created_at] = now
            values[EntityTable.updated_at] = now
            (row,) = (
                await EntityTable.insert(EntityTable(_data=values)).returning(EntityTable.id).run()
            )
            entity_id = int(row["id"])
            contact = _contact_master_values(fields)
            contact.update(
                {
                    Contact.owner_entity: entity_id,
                    Contact.master_of_entity: entity_id,
                    Contact.kind: "company",
                    Contact.created_at: now,
                    Contact.updated_at: now,
                }
            )
            await Contact.insert(Contact(_data=contact)).run()
            return entity_id

    async def update(self, entity_id: int, fields: dict[str, Any], now: datetime) -> None:
        """Changes the entity and the master fields of its contact together."""
        async with _unique_customer_number(fields), EntityTable._meta.db.transaction():
            if "customer_number" in fields:
                await self._check_customer_number(fields["customer_number"], entity_id)
            values = _entity_values(fields)
            values[EntityTable.updated_at] = now
            await EntityTable.update(values).where(EntityTable.id == entity_id).run()
            contact = _contact_master_values(fields)
            if contact:
                contact[Contact.updated_at] = now
                await Contact.update(contact).where(Contact.master_of_entity == entity_id).run()

    async def references(self, entity_id: int) -> dict[str, int]:
        """What refers to the entity, by kind (its own contact excepted)."""
        counts = {
            "child entities": await EntityTable.count().where(EntityTable.parent == entity_id),
            "contacts": await Contact.count().where(
                (Contact.owner_entity == entity_id)
                & (Contact.master_of_entity.is_null() | (Contact.master_of_entity != entity_id))
            ),
            "contact shares": await ContactShare.count().where(ContactShare.entity == entity_id),
            "documents": await ContactDocument.count().where(
                ContactDocument.owner_entity == entity_id
            ),
            "users": await Membership.count().where(Membership.entity == entity_id)
            + await User.count().where(User.default_entity == entity_id),
            "groups": await Group.count().where(Group.owner_entity == entity_id),
            "media": await Medium.count().where(Medium.issuing_entity == entity_id),
        }
        return {kind: count for kind, count in counts.items() if count}

    async def delete(self, entity_id: int) -> None:
        """Deletes an entity nothing refers to; Conflict if something does
        (tables of higher layers, e.g. stations, are known only to the
        database's foreign keys)."""
        try:
            async with EntityTable._meta.db.transaction():
                await Contact.delete().where(Contact.master_of_entity == entity_id).run()
                await EntityTable.delete().where(EntityTable.id == entity_id).run()
        except Exception as error:
            if is_reference_violation(error):
                raise Conflict(
                    f"entity {entity_id} is still referred to (stations, media of its "
                    "contact, ...); deactivate it instead"
                ) from None
            raise
