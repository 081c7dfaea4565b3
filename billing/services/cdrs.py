"""CDRs for a principal, and where each session stands in billing.

**Who sees a CDR.** A principal with ``billing:read`` sees a CDR when its
seller entity or its buyer entity is in ``principal.visible("billing")``:
the station owner sees what it charges an EMP, the EMP what it is charged
and what it charges its customers, a parent what it pays its sub-CPOs and
the sub-CPO what it is paid.

**Force purchase prices.** When the principal's *active* entity has
``force_purchase_prices`` set, it sees CDRs only where the buyer is an
entity in its visible set (what it pays), never a CDR whose buyer is not:
in particular never an end customer's price (audience ``customer``, whose
buyer is a contact), even of sessions at its own stations. The rule is one
value, :class:`CdrScope`, computed once per request and applied by the
storage to every read of CDRs: the CDR list and detail, a session's billing
status, the reports and their CSV export.

**Where a session stands** (:meth:`CdrService.session_billing`): seen
exactly when the session is (``stations:read`` on the station's owner, like
``/sessions/{id}``); ``not_rated`` while it is active or waiting in the
rating queue, else per audience of the CDRs the principal sees: ``rated``,
``in_draft`` (drafted by a billing run not issued yet), ``billed`` (with the
document's id and number) or ``error`` (with the reason).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

import msgspec

from billing.ports import AUDIENCES
from crm.access import Principal, Visibility
from crm.errors import InvalidInput, NotFound

CDR_STATUSES = ("rated", "error")
E4 = Decimal("10000")


def amount(e4: int) -> Decimal:
    """Ten-thousandths as an exact Decimal with four places."""
    return (Decimal(e4) / E4).quantize(Decimal("0.0001"))


def kwh(wh: int) -> Decimal:
    return (Decimal(wh) / 1000).quantize(Decimal("0.001"))


@dataclass(frozen=True, slots=True)
class CdrScope:
    """Which CDRs one request may see: seller or buyer in ``visible``; with
    ``buyer_only`` (force purchase prices) only those whose buyer entity is
    in ``visible``."""

    visible: Visibility
    buyer_only: bool

    def admits(self, seller_entity_id: int | None, buyer_entity_id: int | None) -> bool:
        if self.buyer_only:
            return buyer_entity_id is not None and buyer_entity_id in self.visible
        ids = self.visible.entity_ids
        if ids is None:
            return True
        return seller_entity_id in ids or buyer_entity_id in ids


class CdrFilter(msgspec.Struct, frozen=True, kw_only=True):
    session_id: int | None = None
    station_id: int | None = None
    audience: str | None = None
    # rated or error
    status: str | None = None
    # True: billed by a document; False: not (yet).
    billed: bool | None = None
    started_after: datetime | None = None
    started_before: datetime | None = None


class CdrSummary(msgspec.Struct, frozen=True, kw_only=True):
    """One CDR: one session priced (or refused, ``status`` ``error``) for
    one audience. Money exact to four places (the document rounds);
    ``draft_run_id`` the billing run that drafted it, ``document_id`` the
    document that billed it."""

    id: int
    session_id: int
    audience: str
    status: str
    error: str
    station_id: int
    charge_point_id: str
    seller_entity_id: int | None
    buyer_entity_id: int | None
    buyer_contact_id: int | None
    tariff_version_id: int | None
    medium_uid: str
    started_at: datetime
    stopped_at: datetime
    time_zone: str
    currency: str
    energy_wh: int
    energy_kwh: Decimal
    charging_seconds: int
    parking_seconds: int
    total_net: Decimal
    total_gross: Decimal
    draft_run_id: int | None
    document_id: int | None
    rated_at: datetime | None


class CdrDetail(CdrSummary, frozen=True, kw_only=True):
    """A CDR with what the rater priced: ``detail`` holds the OCPI
    ``charging_periods``, the totals per dimension (``total_cost``,
    ``total_energy_cost``, ..., ``total_energy``, ``total_time``,
    ``total_parking_time``), the ``supplied`` lines (dimension, price,
    volumes, amounts), the tariff and its version, and
    ``signed_meter_values`` with each one's verification."""

    detail: dict[str, Any]


class AudienceBilling(msgspec.Struct, frozen=True, kw_only=True):
    """Where a session stands for one audience."""

    audience: str
    # rated, in_draft, billed or error
    state: str
    cdr_id: int
    error: str = ""
    run_id: int | None = None
    document_id: int | None = None
    document_number: str | None = None
    currency: str = ""
    total_net: Decimal = Decimal("0")
    total_gross: Decimal = Decimal("0")


class SessionBilling(msgspec.Struct, frozen=True, kw_only=True):
    """Where a session stands: ``not_rated`` (``reason`` active or queued)
    or ``rated``, then per audience (the CDRs you may see)."""

    session_id: int
    state: str
    reason: str = ""
    audiences: list[AudienceBilling] = []


class CdrRow(msgspec.Struct, frozen=True, kw_only=True):
    """A CDR as storage reads it, with the run and document it is in."""

    summary: CdrSummary
    run_status: str | None = None
    document_number: str | None = None


class SessionFacts(msgspec.Struct, frozen=True, kw_only=True):
    session_id: int
    station_owner_id: int | None
    status: str
    queued: bool
    cdrs: list[CdrRow]


class PurchasePriceFlags(Protocol):
    async def force_purchase_prices(self, entity_id: int) -> bool:
        """Whether the entity has "force purchase prices" set."""
        ...


class CdrStore(PurchasePriceFlags, Protocol):
    async def list_cdrs(
        self, scope: CdrScope, filters: CdrFilter, limit: int, offset: int
    ) -> tuple[list[CdrSummary], int]:
        """CDRs in scope, newest first, and how many match."""
        ...

    async def get_cdr(self, scope: CdrScope, cdr_id: int) -> CdrDetail | None: ...

    async def session_facts(self, session_id: int) -> SessionFacts | None:
        """The session, its station's owner, whether it waits for rating,
        and all its CDRs (unscoped: the service filters)."""
        ...


async def cdr_scope(principal: Principal, store: PurchasePriceFlags) -> CdrScope:
    """The request's CDR scope: ``billing:read`` visibility and the active
    entity's force-purchase-prices flag."""
    return CdrScope(
        visible=principal.visible("billing", "read"),
        buyer_only=await store.force_purchase_prices(principal.active_entity_id),
    )


def _zoned(name: str, value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise InvalidInput(f"{name} needs a time zone (e.g. 2026-11-24T12:00:00Z)")
    return value.astimezone(UTC)


def check_filter(filters: CdrFilter) -> CdrFilter:
    """The filter checked, times in UTC; InvalidInput names the field."""
    if filters.audience is not None and filters.audience not in AUDIENCES:
        raise InvalidInput(f"audience is one of {', '.join(AUDIENCES)}, not {filters.audience!r}")
    if filters.status is not None and filters.status not in CDR_STATUSES:
        raise InvalidInput(f"status is one of {', '.join(CDR_STATUSES)}, not {filters.status!r}")
    after = _zoned("started_after", filters.started_after)
    before = _zoned("started_before", filters.started_before)
    if after is not None and before is not None and after > before:
        raise InvalidInput("started_after is later than started_before")
    return msgspec.structs.replace(filters, started_after=after, started_before=before)


def audience_state(row: CdrRow) -> AudienceBilling:
    cdr = row.summary
    common: dict[str, Any] = {
        "audience": cdr.audience,
        "cdr_id": cdr.id,
        "currency": cdr.currency,
        "total_net": cdr.total_net,
        "total_gross": cdr.total_gross,
    }
    if cdr.status == "error":
        return AudienceBilling(state="error", error=cdr.error, **common)
    if cdr.document_id is not None:
        return AudienceBilling(
            state="billed",
            document_id=cdr.document_id,
            document_number=row.document_number,
            run_id=cdr.draft_run_id,
            **common,
        )
    if cdr.draft_run_id is not None and row.run_status == "draft":
        return AudienceBilling(state="in_draft", run_id=cdr.draft_run_id, **common)
    return AudienceBilling(state="rated", **common)


class CdrService:
    """CDR reads and session billing status, for a principal."""

    def __init__(self, store: CdrStore) -> None:
        self._store = store

    async def scope(self, principal: Principal) -> CdrScope:
        return await cdr_scope(principal, self._store)

    async def list_cdrs(
        self, principal: Principal, filters: CdrFilter, *, limit: int, offset: int
    ) -> tuple[list[CdrSummary], int]:
        principal.require("billing", "read")
        checked = check_filter(filters)
        return await self._store.list_cdrs(await self.scope(principal), checked, limit, offset)

    async def get_cdr(self, principal: Principal, cdr_id: int) -> CdrDetail:
        principal.require("billing", "read")
        cdr = await self._store.get_cdr(await self.scope(principal), cdr_id)
        if cdr is None:
            raise NotFound(f"there is no CDR {cdr_id}")
        return cdr

    async def session_billing(self, principal: Principal, session_id: int) -> SessionBilling:
        """Where the session stands; NotFound unless its station is seen."""
        principal.require("stations", "read")
        facts = await self._store.session_facts(session_id)
        if facts is None or facts.station_owner_id not in principal.visible("stations"):
            raise NotFound(f"there is no session {session_id}")
        if facts.status != "completed":
            return SessionBilling(session_id=session_id, state="not_rated", reason="active")
        if facts.queued:
            return SessionBilling(session_id=session_id, state="not_rated", reason="queued")
        scope = await self.scope(principal)
        shown = [
            audience_state(row)
            for row in facts.cdrs
            if scope.admits(row.summary.seller_entity_id, row.summary.buyer_entity_id)
        ]
        shown.sort(key=lambda a: AUDIENCES.index(a.audience) if a.audience in AUDIENCES else 9)
        return SessionBilling(session_id=session_id, state="rated", audiences=shown)
