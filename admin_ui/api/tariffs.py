"""Tariffs (OCPI 2.2.1, versioned), their assignments and community
partners: thin controllers over :class:`billing.services.tariffs.TariffService`.

Scoped like every entity-owned resource (permission resource ``tariffs``):
rows of entities the user may not read are 404. An OCPI tariff that is not
valid is a 422 whose ``errors`` name every bad field (``ocpi.<path>``); any
other bad input is a 400 naming the field.

The tariff bodies are read twice: once by the framework (checking the
envelope's types and documenting it) and once by hand, so that the OCPI
object's numbers reach the parser as the exact JSON text, never as floats.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

import msgspec
from litestar import Controller, MediaType, Request, Response, Router, delete, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import JSONBody, QueryParameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from admin_ui.api.common import MAX_ID, Id, Page, PageParams, provide_page, provide_principal
from admin_ui.api.context import ApiContext
from admin_ui.api.errors import EXCEPTION_HANDLERS
from billing.services.tariffs import InvalidTariff, TariffService
from billing.tariffs.assignments import Audience
from billing.tariffs.records import (
    AssignmentFilter,
    CommunityPartner,
    CommunityPartnerCreate,
    TariffAssignment,
    TariffAssignmentCreate,
    TariffCreate,
    TariffDetail,
    TariffEntry,
    TariffFilter,
    TariffImported,
    TariffVersionCreate,
)
from crm.access import Principal
from crm.errors import InvalidInput

HTTP_422_UNPROCESSABLE = 422


class _RawTariffCreate(msgspec.Struct, frozen=True, kw_only=True):
    ocpi: msgspec.Raw
    owner_entity_id: int | None = None
    valid_from: datetime | None = None
    name: str | None = None


class _RawVersionCreate(msgspec.Struct, frozen=True, kw_only=True):
    ocpi: msgspec.Raw
    valid_from: datetime | None = None


class PriceCheck(msgspec.Struct, frozen=True, kw_only=True):
    """An OCPI 2.2.1 Tariff and an OCPI CDR (its ``charging_periods``, and
    its location's time zone if it names one), as ``csms tariff price``
    reads them from files."""

    tariff: Any
    cdr: Any
    # The time zone of the periods when the CDR's location names none.
    time_zone: str | None = None


class _RawPriceCheck(msgspec.Struct, frozen=True, kw_only=True):
    tariff: msgspec.Raw
    cdr: msgspec.Raw
    time_zone: str | None = None


class PriceTotal(msgspec.Struct, frozen=True):
    excl_vat: Decimal
    incl_vat: Decimal


class PricedCdr(msgspec.Struct, frozen=True, kw_only=True):
    """The CDR's totals, as ``csms tariff price`` prints them (amounts at 4
    decimals, written as strings so that no float rounds them)."""

    total_cost: PriceTotal
    total_energy_cost: PriceTotal
    total_time_cost: PriceTotal
    total_parking_cost: PriceTotal
    total_fixed_cost: PriceTotal
    total_reservation_cost: PriceTotal
    total_energy: Decimal
    total_time: Decimal
    total_parking_time: Decimal


def price_check(body: bytes) -> PricedCdr:
    """Prices the check's CDR with its tariff; InvalidInput naming the part
    and the field of what is wrong."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from billing.tariffs import PricingError, parse_cdr_input, parse_tariff, price_cdr

    try:
        check = msgspec.json.decode(body, type=_RawPriceCheck)
    except msgspec.DecodeError as error:
        raise InvalidInput(f"the body is not a tariff and a CDR: {error}") from None
    if check.time_zone is not None:
        try:
            ZoneInfo(check.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidInput(f"time_zone: unknown time zone {check.time_zone!r}") from None
    try:
        tariff = parse_tariff(bytes(check.tariff))
    except ValueError as error:
        raise InvalidInput(f"tariff: {error}") from None
    try:
        cdr = parse_cdr_input(bytes(check.cdr))
    except ValueError as error:
        raise InvalidInput(f"cdr: {error}") from None
    try:
        priced = price_cdr(tariff, cdr, time_zone=check.time_zone)
    except PricingError as error:
        raise InvalidInput(f"cdr: cannot be priced with this tariff: {error}") from None
    totals = {
        name: PriceTotal(getattr(priced, name).excl_vat, getattr(priced, name).incl_vat)
        for name in PricedCdr.__struct_fields__
        if name.endswith("_cost")
    }
    return PricedCdr(
        **totals,
        total_energy=priced.total_energy,
        total_time=priced.total_time,
        total_parking_time=priced.total_parking_time,
    )


def _exact(body: bytes, kind: type[Any]) -> Any:
    """The body with its ``ocpi`` member as the exact JSON text."""
    try:
        return msgspec.json.decode(body, type=kind)
    except msgspec.DecodeError as error:
        raise InvalidInput(f"the body is not a tariff import: {error}") from None


def invalid_tariff(_: Request, error: InvalidTariff) -> Response:
    """422 with every bad field of the OCPI object, under ``ocpi``."""
    errors = [
        {"field": "ocpi" if path == "(document)" else f"ocpi.{path}", "message": message}
        for path, message in error.errors
    ]
    return Response(
        {"status_code": HTTP_422_UNPROCESSABLE, "detail": str(error), "errors": errors},
        status_code=HTTP_422_UNPROCESSABLE,
        media_type=MediaType.JSON,
    )


AT = Annotated[
    datetime | None,
    QueryParameter(description="the moment (ISO 8601 with zone) whose version; default now"),
]
OWNER = Annotated[
    int | None, QueryParameter(ge=1, le=MAX_ID, description="only rows of this owner entity")
]


class TariffController(Controller):
    path = "/tariffs"
    tags = ["tariffs"]

    @get("/")
    async def list_tariffs(
        self,
        principal: NamedDependency[Principal],
        tariffs: NamedDependency[TariffService],
        page: NamedDependency[PageParams],
        owner_entity_id: OWNER = None,
        code: Annotated[str | None, QueryParameter(description="the OCPI tariff id")] = None,
    ) -> Page[TariffEntry]:
        """The tariffs of entities you may read, by id."""
        items, total = await tariffs.list_tariffs(
            principal,
            TariffFilter(owner_entity_id=owner_entity_id, code=code),
            limit=page.limit,
            offset=page.offset,
        )
        return Page(items=items, total=total, limit=page.limit, offset=page.offset)

    @post("/", status_code=HTTP_201_CREATED)
    async def import_tariff(
        self,
        request: Request,
        data: JSONBody[TariffCreate],
        principal: NamedDependency[Principal],
        tariffs: NamedDependency[TariffService],
    ) -> TariffImported:
        """Import an OCPI 2.2.1 Tariff (``ocpi``) for ``owner_entity_id``
        (default: your active entity). Its ``id`` is the tariff's code: a
        code the owner has gets a new version (``created`` false), valid from
        ``valid_from`` (default: the tariff's start_date_time, else now).
        422 names every bad field of the tariff."""
        raw = _exact(await request.body(), _RawTariffCreate)
        return await tariffs.import_tariff(
            principal,
            TariffCreate(
                ocpi=bytes(raw.ocpi),
                owner_entity_id=raw.owner_entity_id,
                valid_from=raw.valid_from,
                name=raw.name,
            ),
        )

    @post("/price", status_code=200)
    async def price(
        self, request: Request, data: JSONBody[PriceCheck], principal: NamedDependency[Principal]
    ) -> PricedCdr:
        """What a tariff makes of a CDR (``csms tariff price``): the totals
        of its charging periods priced in the CDR's location's time zone,
        else ``time_zone``, else UTC. Nothing is stored. 400 names the part
        (``tariff``, ``cdr``, ``time_zone``) and the field."""
        principal.require("tariffs", "read")
        return price_check(await request.body())

    @get("/{tariff_id:int}")
    async def get_tariff(
        self,
        tariff_id: Id,
        principal: NamedDependency[Principal],
        tariffs: NamedDependency[TariffService],
    ) -> TariffDetail:
        """One tariff with its versions (404 for one you may not read)."""
        return await tariffs.get(principal, tariff_id)

    @get("/{tariff_id:int}/ocpi", media_type=MediaType.JSON)
    async def export_tariff(
        self,
        tariff_id: Id,
        principal: NamedDependency[Principal],
        tariffs: NamedDependency[TariffService],
        at: AT = None,
    ) -> Response[bytes]:
        """The OCPI JSON of the version valid at ``at`` (default: now),
        numbers exactly as imported; 404 when none is valid then."""
        text = await tariffs.export(principal, tariff_id, at)
        return Response(text.encode(), media_type=MediaType.JSON)

    @post("/{tariff_id:int}/versions", status_code=HTTP_201_CREATED)
    async def add_version(
        self,
        request: Request,
        tariff_id: Id,
        data: JSONBody[TariffVersionCreate],
        principal: NamedDependency[Principal],
        tariffs: NamedDependency[TariffService],
    ) -> TariffImported:
        """A new version: an OCPI Tariff with the tariff's code and currency,
        valid from ``valid_from`` (default: its start_date_time, else now).
        Versions are never changed: one from the same moment is a 409."""
        raw = _exact(await request.body(), _RawVersionCreate)
        return await tariffs.add_version(
            principal,
            tariff_id,
            TariffVersionCreate(ocpi=bytes(raw.ocpi), valid_from=raw.valid_from),
        )

    @delete("/{tariff_id:int}", status_code=HTTP_204_NO_CONTENT)
    async def delete_tariff(
        self,
        tariff_id: Id,
        principal: NamedDependency[Principal],
        tariffs: NamedDependency[TariffService],
    ) -> None:
        """Delete a tariff nothing refers to (409 while an assignment or a
        CDR does)."""
        await tariffs.delete(principal, tariff_id)


class TariffAssignmentController(Controller):
    path = "/tariff-assignments"
    tags = ["tariffs"]

    @get("/")
    async def list_assignments(
        self,
        principal: NamedDependency[Principal],
        tariffs: NamedDependency[TariffService],
        page: NamedDependency[PageParams],
        owner_entity_id: OWNER = None,
        tariff_id: Annotated[
            int | None, QueryParameter(ge=1, le=MAX_ID, description="of this tariff")
        ] = None,
        audience: Annotated[Audience | None, QueryParameter(description="for whom")] = None,
    ) -> Page[TariffAssignment]:
        """The assignments of entities you may read, by id."""
        items, total = await tariffs.list_assignments(
            principal,
            AssignmentFilter(
                owner_entity_id=owner_entity_id, tariff_id=tariff_id, audience=audience
            ),
            limit=page.limit,
            offset=page.offset,
        )
        return Page(items=items, total=total, limit=page.limit, offset=page.offset)

    @post("/", status_code=HTTP_201_CREATED)
    async def assign(
        self,
        data: JSONBody[TariffAssignmentCreate],
        principal: NamedDependency[Principal],
        tariffs: NamedDependency[TariffService],
    ) -> TariffAssignment:
        """Assign a tariff for its owner: audience emp (your stations, an EMP
        counterparty), customer (stations you can see, no counterparty) or
        sub_cpo (a child's stations, the child as counterparty)."""
        return await tariffs.assign(principal, data)

    @delete("/{assignment_id:int}", status_code=HTTP_204_NO_CONTENT)
    async def unassign(
        self,
        assignment_id: Id,
        principal: NamedDependency[Principal],
        tariffs: NamedDependency[TariffService],
    ) -> None:
        await tariffs.unassign(principal, assignment_id)


class CommunityPartnerController(Controller):
    path = "/community-partners"
    tags = ["tariffs"]

    @get("/")
    async def list_partners(
        self,
        principal: NamedDependency[Principal],
        tariffs: NamedDependency[TariffService],
        page: NamedDependency[PageParams],
        entity_id: Annotated[
            int | None, QueryParameter(ge=1, le=MAX_ID, description="named by this entity")
        ] = None,
    ) -> Page[CommunityPartner]:
        """The community partners named by entities you may read (each
        entity's own subtree is always its community and not listed)."""
        items, total = await tariffs.list_partners(
            principal, entity_id, limit=page.limit, offset=page.offset
        )
        return Page(items=items, total=total, limit=page.limit, offset=page.offset)

    @post("/", status_code=HTTP_201_CREATED)
    async def add_partner(
        self,
        data: JSONBody[CommunityPartnerCreate],
        principal: NamedDependency[Principal],
        tariffs: NamedDependency[TariffService],
    ) -> CommunityPartner:
        """``entity_id`` (default: your active entity) counts
        ``partner_entity_id`` as its community: sessions of media it issued
        are not invoiced by station."""
        return await tariffs.add_partner(principal, data)

    @delete("/{partner_id:int}", status_code=HTTP_204_NO_CONTENT)
    async def remove_partner(
        self,
        partner_id: Id,
        principal: NamedDependency[Principal],
        tariffs: NamedDependency[TariffService],
    ) -> None:
        await tariffs.remove_partner(principal, partner_id)


def tariff_router(context: ApiContext, service: TariffService, prefix: str) -> Router:
    """The tariff controllers under ``prefix`` (/api/v1), with the API's
    dependencies and error answers, and the service the composition root
    built."""
    return Router(
        path=prefix,
        route_handlers=[TariffController, TariffAssignmentController, CommunityPartnerController],
        dependencies={
            "context": Provide(lambda: context, sync_to_thread=False, use_cache=True),
            "principal": Provide(provide_principal),
            "page": Provide(provide_page, sync_to_thread=False),
            "tariffs": Provide(lambda: service, sync_to_thread=False, use_cache=True),
        },
        exception_handlers={**EXCEPTION_HANDLERS, InvalidTariff: invalid_tariff},  # type: ignore[dict-item]
    )
