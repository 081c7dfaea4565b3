"""CRM contacts, their shares and documents.

- ``GET /contacts`` (paginated; filters ``q``, ``kind``, ``owner_entity_id``,
  ``customer_number``, ``active``), ``GET /contacts/export.csv`` (the same
  filters, every row; hidden fields are absent columns), ``GET /contacts/{id}``,
  ``POST /contacts`` (201), ``PATCH /contacts/{id}``, ``DELETE /contacts/{id}``
  (deactivates: contacts are never deleted; answers the contact).
- ``GET|POST /contacts/{id}/shares``, ``PUT|DELETE /contacts/{id}/shares/{entity_id}``.
- ``GET|POST /contacts/{id}/documents`` (upload: multipart ``file``, ``title``,
  ``kind``), ``GET /documents/{id}`` (the file itself).

Who may do what is :mod:`crm.services.contacts`'s business.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from litestar import Controller, Response, delete, get, patch, post, put
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.exceptions import ClientException
from litestar.params import JSONBody, MultipartBody, QueryParameter
from litestar.response import Stream
from litestar.status_codes import (
    HTTP_200_OK,
    HTTP_201_CREATED,
    HTTP_204_NO_CONTENT,
    HTTP_413_REQUEST_ENTITY_TOO_LARGE,
)

from admin_ui.api.common import MAX_ID, Id, Page, PageParams
from crm.access import Principal
from crm.contacts import (
    EXPORT_COLUMNS,
    MAX_DOCUMENT_BYTES,
    Contact,
    ContactCreate,
    ContactFilter,
    ContactShare,
    ContactShareCreate,
    ContactShareUpdate,
    ContactUpdate,
    Document,
    DocumentTooLarge,
    DocumentUpload,
)
from crm.csv_cells import cell
from crm.services.contacts import ContactService

SERVICE = ContactService()

# Multipart framing around the file: the body may exceed the file by this.
_FORM_OVERHEAD = 64 * 1024


def _filter(
    q: str | None,
    kind: str | None,
    owner_entity_id: int | None,
    customer_number: str | None,
    active: bool | None,
) -> ContactFilter:
    return ContactFilter(
        q=q or None,
        kind=kind or None,
        owner_entity_id=owner_entity_id,
        customer_number=customer_number or None,
        active=active,
    )


_Q = Annotated[
    str | None,
    QueryParameter(description="part of the name, company, e-mail or customer number (any case)"),
]
_KIND = Annotated[str | None, QueryParameter(description="person or company")]
_OWNER = Annotated[
    int | None, QueryParameter(ge=1, le=MAX_ID, description="contacts owned by this entity")
]
_NUMBER = Annotated[str | None, QueryParameter(description="exactly this customer number")]
_ACTIVE = Annotated[bool | None, QueryParameter(description="active (true) or deactivated (false)")]


async def _csv_lines(contacts: AsyncIterator[Contact], columns: list[str]) -> AsyncIterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    async for contact in contacts:
        writer.writerow([cell(getattr(contact, name)) for name in columns])
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


@dataclass
class DocumentForm:
    """A multipart upload: the file, its title (default: the file's name)
    and kind (contract or file)."""

    file: UploadFile
    title: str = ""
    kind: str = "file"


class ContactController(Controller):
    path = "/contacts"
    tags = ["contacts"]

    @get("/")
    async def list_contacts(
        self,
        principal: NamedDependency[Principal],
        page: NamedDependency[PageParams],
        q: _Q = None,
        kind: _KIND = None,
        owner_entity_id: _OWNER = None,
        customer_number: _NUMBER = None,
        active: _ACTIVE = None,
    ) -> Page[Contact]:
        """Contacts you see (owned by your visible entities or shared with
        them), by name; fields your groups hide are absent."""
        where = _filter(q, kind, owner_entity_id, customer_number, active)
        items, total = await SERVICE.page(principal, where, limit=page.limit, offset=page.offset)
        return Page(items=items, total=total, limit=page.limit, offset=page.offset)

    @get("/export.csv", media_type="text/csv")
    async def export_contacts(
        self,
        principal: NamedDependency[Principal],
        q: _Q = None,
        kind: _KIND = None,
        owner_entity_id: _OWNER = None,
        customer_number: _NUMBER = None,
        active: _ACTIVE = None,
    ) -> Stream:
        """The contacts of the list (same filters, every page) as CSV; a
        field hidden from you on every contact is not a column, one hidden
        on some contacts is blank on those."""
        where = _filter(q, kind, owner_entity_id, customer_number, active)
        contacts = await SERVICE.export(principal, where)
        # A field hidden on every contact you see is not a column; one hidden
        # on some is blank on those.
        hidden = principal.hidden_on_every_row("contacts")
        columns = [name for name in EXPORT_COLUMNS if name not in hidden]
        return Stream(
            _csv_lines(contacts, columns),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="contacts.csv"'},
        )

    @get("/{contact_id:int}")
    async def get_contact(self, principal: NamedDependency[Principal], contact_id: Id) -> Contact:
        """One contact you see."""
        return await SERVICE.get(principal, contact_id)

    @post("/", status_code=HTTP_201_CREATED)
    async def create_contact(
        self, principal: NamedDependency[Principal], data: JSONBody[ContactCreate]
    ) -> Contact:
        """A new contact of your active entity (or of ``owner_entity_id``,
        if you may create contacts there). Without ``customer_number`` the
        next number of the owner entity's format is drawn."""
        return await SERVICE.create(principal, data)

    @patch("/{contact_id:int}")
    async def update_contact(
        self,
        principal: NamedDependency[Principal],
        contact_id: Id,
        data: JSONBody[ContactUpdate],
    ) -> Contact:
        """Change a contact owned by an entity you may update contacts of,
        or shared with one for writing. An entity's own contact keeps its
        master fields (edit the entity); ``active`` is the owner's to change."""
        return await SERVICE.update(principal, contact_id, data)

    @delete("/{contact_id:int}", status_code=HTTP_200_OK)
    async def deactivate_contact(
        self, principal: NamedDependency[Principal], contact_id: Id
    ) -> Contact:
        """Deactivates the contact (contacts are never deleted; PATCH
        active=true brings it back) and answers it."""
        return await SERVICE.deactivate(principal, contact_id)

    # -- shares -------------------------------------------------------------

    @get("/{contact_id:int}/shares")
    async def list_shares(
        self, principal: NamedDependency[Principal], contact_id: Id
    ) -> list[ContactShare]:
        """The entities the contact is shared with (for users who see it
        through its owner entity; others get 403)."""
        return await SERVICE.shares(principal, contact_id)

    @post("/{contact_id:int}/shares", status_code=HTTP_201_CREATED)
    async def add_share(
        self,
        principal: NamedDependency[Principal],
        contact_id: Id,
        data: JSONBody[ContactShareCreate],
    ) -> ContactShare:
        """Share the contact with another entity, read-only or writable
        (409 if it is shared with it already)."""
        share, _ = await SERVICE.share(principal, contact_id, data.entity_id, data.access)
        return share

    @put("/{contact_id:int}/shares/{entity_id:int}")
    async def set_share(
        self,
        principal: NamedDependency[Principal],
        contact_id: Id,
        entity_id: Id,
        data: JSONBody[ContactShareUpdate],
    ) -> Response[ContactShare]:
        """Share the contact with the entity with this access, or change the
        access of its share (201 when new, 200 when changed)."""
        share, created = await SERVICE.share(
            principal, contact_id, entity_id, data.access, replace=True
        )
        return Response(share, status_code=HTTP_201_CREATED if created else HTTP_200_OK)

    @delete("/{contact_id:int}/shares/{entity_id:int}", status_code=HTTP_204_NO_CONTENT)
    async def remove_share(
        self,
        principal: NamedDependency[Principal],
        contact_id: Id,
        entity_id: Id,
    ) -> None:
        """Stop sharing the contact with the entity."""
        await SERVICE.unshare(principal, contact_id, entity_id)

    # -- documents --------------------------------------------------------------

    @get("/{contact_id:int}/documents")
    async def list_documents(
        self, principal: NamedDependency[Principal], contact_id: Id
    ) -> list[Document]:
        """The contact's documents of the entities whose documents you see
        (never another entity's through a shared contact); metadata only."""
        return await SERVICE.documents(principal, contact_id)

    @post(
        "/{contact_id:int}/documents",
        status_code=HTTP_201_CREATED,
        request_max_body_size=MAX_DOCUMENT_BYTES + _FORM_OVERHEAD,
    )
    async def upload_document(
        self,
        principal: NamedDependency[Principal],
        contact_id: Id,
        data: MultipartBody[DocumentForm],
    ) -> Document:
        """Attach a file (multipart: ``file``, ``title``, ``kind`` contract
        or file; at most 10 MiB) to a contact you see. It belongs to your
        active entity."""
        content = await data.file.read(MAX_DOCUMENT_BYTES + 1)
        upload = DocumentUpload(
            title=data.title,
            kind=data.kind,
            file_name=data.file.filename or "",
            media_type=data.file.content_type or "",
            content=content,
        )
        try:
            return await SERVICE.add_document(principal, contact_id, upload)
        except DocumentTooLarge as error:
            raise ClientException(
                detail=str(error), status_code=HTTP_413_REQUEST_ENTITY_TOO_LARGE
            ) from None


class DocumentController(Controller):
    path = "/documents"
    tags = ["contacts"]

    @get("/{document_id:int}", media_type="application/octet-stream")
    async def download_document(
        self, principal: NamedDependency[Principal], document_id: Id
    ) -> Response[bytes]:
        """The document's file, if it belongs to an entity whose documents
        you see."""
        found = await SERVICE.document(principal, document_id)
        name = found.document.file_name or f"document-{document_id}"
        fallback = name.encode("ascii", "replace").decode().replace("?", "_")
        return Response(
            found.content,
            media_type=found.document.media_type,
            headers={
                "Content-Disposition": (
                    f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name)}"
                ),
                "X-Content-Type-Options": "nosniff",
            },
        )
