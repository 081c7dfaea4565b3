"""Contacts, shares, documents: who may do what, then the scoped storage call.

Visibility, per request's :class:`~crm.access.Principal`:

- **read** a contact: its owner entity is in ``visible("contacts", "read")``,
  or it is shared (read or write) with an entity in that set;
- **change** it (PATCH): its owner is in ``visible("contacts", "update")``,
  or it is shared for writing with an entity in that set. Only the owner's
  side (de)activates it (``active``) and numbers are never moved between
  entities;
- **deactivate** it (DELETE; contacts are never deleted): its owner is in
  ``visible("contacts", "delete")``;
- **shares** are the owner's data: listed to users who see the contact
  through its owner (others, who see it only through a share, get 403), and
  managed by users whose ``contacts:update`` covers the owner entity;
- **documents** belong to the entity that uploaded them (the user's active
  entity) and are seen through ``visible("documents", "read")`` only: a
  contact's share never shows another entity's documents.

A contact the user cannot read is NotFound (404) whatever its id; one they
can read but not change is Forbidden (403).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crm.access import HIDEABLE_FIELDS, Principal, Visibility
from crm.clock import utcnow
from crm.contacts import (
    Contact,
    ContactCreate,
    ContactFilter,
    ContactShare,
    ContactUpdate,
    Document,
    DocumentFile,
    DocumentUpload,
    check_create,
    check_field,
    check_master_update,
    check_not_hidden,
    check_share,
    check_upload,
    update_values,
)
from crm.errors import Forbidden, InvalidInput, NotFound
from crm.fields import without_hidden
from crm.storage.contacts import (
    SEARCHED_COLUMNS,
    NumberTaken,
    PiccoloContacts,
    contact_from_row,
)
from crm.storage.integrity import is_unique_violation

RESOURCE = "contacts"
# A drawn number can lose a race against another entity's contact taking
# the same rendered number; the create is retried this many times.
CREATE_ATTEMPTS = 3


def _not_found(contact_id: int) -> NotFound:
    return NotFound(f"there is no contact {contact_id}")


@dataclass(slots=True)
class ContactService:
    store: PiccoloContacts = field(default_factory=PiccoloContacts)
    clock: Callable[[], datetime] = utcnow

    async def _hidden(
        self, principal: Principal, contacts: Iterable[tuple[int, int | None]]
    ) -> dict[int, frozenset[str]]:
        """Contact id -> the fields hidden on it, for (id, owner entity)
        pairs: a contact is also seen through its shares, and the narrowest
        entity it is seen through decides (the shares need no look-up for
        contacts of the active entity, which no share makes narrower)."""
        contacts = list(contacts)
        shared = await self.store.shared_with(
            [c for c, owner in contacts if owner != principal.active_entity_id]
        )
        return {
            c: principal.row_hidden_fields(RESOURCE, owner, shared.get(c, ()))
            for c, owner in contacts
        }

    async def _row_hidden(self, principal: Principal, row: dict[str, Any]) -> frozenset[str]:
        return (await self._hidden(principal, [(row["id"], row["owner_entity"])]))[row["id"]]

    async def _answer(self, principal: Principal, row: dict[str, Any]) -> Contact:
        return without_hidden(contact_from_row(row), await self._row_hidden(principal, row))

    async def _stripped(self, principal: Principal, items: list[Contact]) -> list[Contact]:
        hidden = await self._hidden(principal, [(c.id, c.owner_entity_id) for c in items])
        return [without_hidden(item, hidden[item.id]) for item in items]

    @staticmethod
    def _searchable(principal: Principal) -> dict[str, Visibility]:
        """Searched column -> the entities through whose contacts it is shown."""
        return {
            column: principal.shown_within(RESOURCE, column)
            for column in SEARCHED_COLUMNS
            if column in HIDEABLE_FIELDS[RESOURCE]
        }

    async def _readable(self, principal: Principal, contact_id: int) -> dict[str, Any]:
        principal.require(RESOURCE, "read")
        row = await self.store.find(contact_id, principal.visible(RESOURCE, "read"))
        if row is None:
            raise _not_found(contact_id)
        return row

    # -- contacts -------------------------------------------------------------

    async def page(
        self, principal: Principal, where: ContactFilter, *, limit: int, offset: int
    ) -> tuple[list[Contact], int]:
        principal.require(RESOURCE, "read")
        where = _checked_filter(where)
        items, total = await self.store.page(
            where,
            principal.visible(RESOURCE, "read"),
            self._searchable(principal),
            limit=limit,
            offset=offset,
        )
        return await self._stripped(principal, items), total

    async def export(self, principal: Principal, where: ContactFilter) -> AsyncIterator[Contact]:
        """Every matching contact the user sees, its hidden fields unset. The
        checks run now; the rows are read as the caller iterates."""
        principal.require(RESOURCE, "read")
        where = _checked_filter(where)
        batches = self.store.export(
            where, principal.visible(RESOURCE, "read"), self._searchable(principal)
        )

        async def stripped() -> AsyncIterator[Contact]:
            async for batch in batches:
                for item in await self._stripped(principal, batch):
                    yield item

        return stripped()

    async def get(self, principal: Principal, contact_id: int) -> Contact:
        return await self._answer(principal, await self._readable(principal, contact_id))

    async def create(self, principal: Principal, request: ContactCreate) -> Contact:
        owner = (
            request.owner_entity_id
            if request.owner_entity_id is not None
            else principal.active_entity_id
        )
        principal.require_entity(RESOURCE, "create", owner)
        given = {
            name
            for name in request.__struct_fields__
            if getattr(request, name) not in ("", None) and name != "kind"
        }
        check_not_hidden(given, principal.row_hidden_fields(RESOURCE, owner))
        values = check_create(request)
        values["customer_number"] = check_field("customer_number", request.customer_number)
        state = await self.store.entity_state(owner)
        if not state:
            raise InvalidInput(f"there is no active entity {owner} to own the contact")
        attempt = 0
        while True:
            try:
                row = await self.store.create(values, owner_entity_id=owner, now=self.clock())
            except Exception as error:
                attempt += 1
                if not _lost_number_race(error, values, attempt):
                    raise
                continue
            return await self._answer(principal, row)

    async def update(
        self, principal: Principal, contact_id: int, request: ContactUpdate
    ) -> Contact:
        principal.require(RESOURCE, "update")
        current = await self._readable(principal, contact_id)
        writable = await self.store.find(
            contact_id, principal.visible(RESOURCE, "update"), write=True
        )
        if writable is None:
            raise Forbidden(f"you may read contact {contact_id} but not change it")
        values = update_values(request)
        check_not_hidden(values, await self._row_hidden(principal, current))
        if current["master_of_entity"] is not None:
            check_master_update(values, current)
        if "active" in values and values["active"] != current["active"]:
            self._require_owner_side(principal, current, "update", "(de)activate")
        values = {name: value for name, value in values.items() if value != current[name]}
        if not values:
            return await self._answer(principal, current)
        try:
            row = await self.store.update(contact_id, values, now=self.clock())
        except Exception as error:
            if "customer_number" in values and is_unique_violation(error):
                raise NumberTaken(f"customer number {values['customer_number']} is taken") from None
            raise
        return await self._answer(principal, row)

    async def deactivate(self, principal: Principal, contact_id: int) -> Contact:
        """Contacts are never deleted (media and invoices refer to them):
        DELETE deactivates, for users whose ``contacts:delete`` covers the owner."""
        principal.require(RESOURCE, "delete")
        current = await self._readable(principal, contact_id)
        self._require_owner_side(principal, current, "delete", "deactivate")
        if current["master_of_entity"] is not None:
            raise InvalidInput(
                f"contact {contact_id} is entity {current['master_of_entity']}'s own contact: "
                "deactivate the entity instead"
            )
        if not current["active"]:
            return await self._answer(principal, current)
        row = await self.store.update(contact_id, {"active": False}, now=self.clock())
        return await self._answer(principal, row)

    @staticmethod
    def _require_owner_side(
        principal: Principal, row: dict[str, Any], action: str, what: str
    ) -> None:
        if row["owner_entity"] not in principal.visible(RESOURCE, action):
            raise Forbidden(
                f"only users of the owner entity {row['owner_entity']} may {what} "
                f"contact {row['id']}"
            )

    # -- shares ---------------------------------------------------------------

    async def shares(self, principal: Principal, contact_id: int) -> list[ContactShare]:
        row = await self._readable(principal, contact_id)
        self._require_owner_side(principal, row, "read", "see the shares of")
        return await self.store.shares(contact_id)

    async def share(
        self,
        principal: Principal,
        contact_id: int,
        entity_id: int,
        access: str,
        *,
        replace: bool = False,
    ) -> tuple[ContactShare, bool]:
        """Shares the contact with ``entity_id``; True when the share is new.
        ``replace`` changes the access of an existing share instead of
        refusing it (Conflict)."""
        principal.require(RESOURCE, "update")
        row = await self._readable(principal, contact_id)
        self._require_owner_side(principal, row, "update", "share")
        check_share(row["owner_entity"], entity_id, access)
        state = await self.store.entity_state(entity_id)
        if state is None:
            raise InvalidInput(f"there is no entity {entity_id} to share contact {contact_id} with")
        if not state:
            raise InvalidInput(
                f"entity {entity_id} is deactivated; a contact is not shared with it"
            )
        created = await self.store.share(
            contact_id, entity_id, access, now=self.clock(), replace=replace
        )
        for share in await self.store.shares(contact_id):
            if share.entity_id == entity_id:
                return share, created
        raise NotFound(f"contact {contact_id} is not shared with entity {entity_id}")

    async def unshare(self, principal: Principal, contact_id: int, entity_id: int) -> None:
        principal.require(RESOURCE, "update")
        row = await self._readable(principal, contact_id)
        self._require_owner_side(principal, row, "update", "stop sharing")
        if not await self.store.unshare(contact_id, entity_id):
            raise NotFound(f"contact {contact_id} is not shared with entity {entity_id}")

    # -- documents --------------------------------------------------------------

    async def add_document(
        self, principal: Principal, contact_id: int, upload: DocumentUpload
    ) -> Document:
        """Attaches the file to a contact the user sees; it belongs to the
        user's active entity (not to the contact's owner)."""
        principal.require_entity("documents", "create", principal.active_entity_id)
        await self._readable(principal, contact_id)
        upload = check_upload(upload)
        return await self.store.add_document(
            contact_id, principal.active_entity_id, upload, now=self.clock()
        )

    async def documents(self, principal: Principal, contact_id: int) -> list[Document]:
        principal.require("documents", "read")
        await self._readable(principal, contact_id)
        return await self.store.documents(contact_id, principal.visible("documents", "read"))

    async def document(self, principal: Principal, document_id: int) -> DocumentFile:
        principal.require("documents", "read")
        found = await self.store.document(document_id, principal.visible("documents", "read"))
        if found is None:
            raise NotFound(f"there is no document {document_id}")
        document, content = found
        return DocumentFile(document=document, content=content)


def _checked_filter(where: ContactFilter) -> ContactFilter:
    if where.kind is not None:
        check_field("kind", where.kind)
    if where.q is not None and len(where.q) > 200:
        raise InvalidInput("q has at most 200 characters")
    return where


def _lost_number_race(error: BaseException, values: dict[str, Any], attempt: int) -> bool:
    """Whether a create that drew its number failed only because another
    transaction took the same rendered number first (then it is retried);
    a number given by hand that is taken is the caller's Conflict."""
    if not is_unique_violation(error):
        return False
    if values.get("customer_number") is not None:
        raise NumberTaken(f"customer number {values['customer_number']} is taken") from None
    if attempt >= CREATE_ATTEMPTS:
        raise NumberTaken(
            "another contact took the drawn customer number at the same moment; try again"
        ) from None
    return True
