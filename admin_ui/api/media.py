"""Identification media (RFID cards, eMAIDs, app tokens): list, detail,
issue, change, block, import and export.

There is no DELETE: a medium is never deleted. Block it
(``PATCH {"status": "blocked"}``) or mark it lost, and it stops charging at
once while sessions and invoices that name it stay intact.
"""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, Response, get, patch, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, QueryParameter

from admin_ui.api.common import MAX_ID, Id, Page, PageParams
from admin_ui.api.context import ApiContext
from crm.access import Principal
from crm.errors import InvalidInput
from crm.media import MediaFilter, Medium, MediumCreate, MediumKind, MediumStatus, MediumUpdate
from crm.services.media import ImportResult, MediaService


def _service(context: ApiContext) -> MediaService:
    return MediaService(changes=context.crm_changes)


def _filters(
    q: str,
    status: MediumStatus | None,
    kind: MediumKind | None,
    issuing_entity_id: int | None,
    group_uid: str | None,
    owner_contact_id: int | None,
) -> MediaFilter:
    return MediaFilter(
        q=q.strip(),
        status=status,
        kind=kind,
        issuing_entity_id=issuing_entity_id,
        group_uid=group_uid,
        owner_contact_id=owner_contact_id,
    )


Q = Annotated[str, QueryParameter(description="part of the uid, any case")]
STATUS = Annotated[MediumStatus | None, QueryParameter(description="only media in this status")]
KIND = Annotated[MediumKind | None, QueryParameter(description="only media of this kind")]
ISSUER = Annotated[
    int | None, QueryParameter(ge=1, le=MAX_ID, description="only media this entity issued")
]
GROUP = Annotated[str | None, QueryParameter(description="only media of this group id")]
OWNER = Annotated[
    int | None, QueryParameter(ge=1, le=MAX_ID, description="only media this contact owns")
]


class MediaController(Controller):
    path = "/media"
    tags = ["media"]

    @get("/")
    async def list_media(
        self,
        principal: NamedDependency[Principal],
        context: NamedDependency[ApiContext],
        page: NamedDependency[PageParams],
        q: Q = "",
        status: STATUS = None,
        kind: KIND = None,
        issuing_entity_id: ISSUER = None,
        group_uid: GROUP = None,
        owner_contact_id: OWNER = None,
    ) -> Page[Medium]:
        """The media you may see (issued by your visible entities), by uid."""
        filters = _filters(q, status, kind, issuing_entity_id, group_uid, owner_contact_id)
        items, total = await _service(context).list_media(
            principal, filters, limit=page.limit, offset=page.offset
        )
        return Page(items=items, total=total, limit=page.limit, offset=page.offset)

    @post("/")
    async def create_medium(
        self,
        data: JSONBody[MediumCreate],
        principal: NamedDependency[Principal],
        context: NamedDependency[ApiContext],
    ) -> Medium:
        """Issue a medium; without issuing_entity_id your active entity issues
        it. A uid exists once in the whole instance (409 otherwise)."""
        return await _service(context).create(principal, data)

    @get("/{medium_id:int}")
    async def get_medium(
        self,
        medium_id: Id,
        principal: NamedDependency[Principal],
        context: NamedDependency[ApiContext],
    ) -> Medium:
        """One medium (404 for one you may not see)."""
        return await _service(context).get(principal, medium_id)

    @patch("/{medium_id:int}")
    async def update_medium(
        self,
        medium_id: Id,
        data: JSONBody[MediumUpdate],
        principal: NamedDependency[Principal],
        context: NamedDependency[ApiContext],
    ) -> Medium:
        """Change a medium: {"status": "blocked"} blocks it at once, "lost"
        marks it lost (media are never deleted). Moving it to another issuing
        entity needs the right to update media of both."""
        return await _service(context).update(principal, medium_id, data)

    @post("/import")
    async def import_media(
        self,
        request: Request,
        principal: NamedDependency[Principal],
        context: NamedDependency[ApiContext],
        skip_existing: Annotated[
            bool, QueryParameter(description="leave media whose uid exists as they are")
        ] = False,
    ) -> ImportResult:
        """Import media from a CSV body (text/csv, a header line; columns
        uid (required), kind, status, group, valid_from, valid_until,
        issuing_entity, owner_contact_id, bill_to_contact_id, note). All or
        nothing: a 400 names every line to fix."""
        import csv
        import io

        try:
            text = (await request.body()).decode("utf-8-sig")
        except UnicodeDecodeError:
            raise InvalidInput("the body is not UTF-8 text") from None
        try:
            reader = csv.DictReader(io.StringIO(text, newline=""))
            header = list(reader.fieldnames or ())
            rows = list(reader)
        except csv.Error as error:
            raise InvalidInput(f"not a CSV table: {error}") from None
        return await _service(context).import_rows(
            principal, header, rows, skip_existing=skip_existing
        )

    @get("/export.csv", media_type="text/csv")
    async def export_media(
        self,
        principal: NamedDependency[Principal],
        context: NamedDependency[ApiContext],
        q: Q = "",
        status: STATUS = None,
        kind: KIND = None,
        issuing_entity_id: ISSUER = None,
        group_uid: GROUP = None,
        owner_contact_id: OWNER = None,
    ) -> Response[str]:
        """The media you may see as CSV (the import's columns), fields hidden
        from you left out."""
        filters = _filters(q, status, kind, issuing_entity_id, group_uid, owner_contact_id)
        text = await _service(context).export_csv(principal, filters)
        return Response(
            text,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="media.csv"'},
        )
