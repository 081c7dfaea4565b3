"""CDRs read for operators (``billing.services.cdrs.CdrStore``) and the rows
the billing reports sum (``billing.services.reports.ReportStore``).

Every read of ``cdr`` here passes through :func:`scoped_cdrs`, which turns a
request's :class:`~billing.services.cdrs.CdrScope` into the query condition
with the one scoping function (``crm.storage.scoping.scoped``): seller or
buyer visible; with force purchase prices, the buyer entity visible.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from piccolo.custom_types import Combinable

from billing.services.cdrs import (
    CdrDetail,
    CdrFilter,
    CdrRow,
    CdrScope,
    CdrSummary,
    SessionFacts,
    amount,
    kwh,
)
from billing.services.reports import ReportCdr
from billing.storage.rows import utc_time
from billing.tables import BillingRun, Cdr, Document
from crm.storage.scoping import scoped
from crm.tables import Entity
from csms.tables import ChargingSession, RatingQueue

_SUMMARY = (
    Cdr.id,
    Cdr.session,
    Cdr.audience,
    Cdr.status,
    Cdr.error,
    Cdr.station,
    Cdr.station.charge_point_id.as_alias("charge_point_id"),
    Cdr.seller_entity,
    Cdr.buyer_entity,
    Cdr.buyer_contact,
    Cdr.tariff_version,
    Cdr.medium_uid,
    Cdr.started_at,
    Cdr.stopped_at,
    Cdr.time_zone,
    Cdr.currency,
    Cdr.energy_wh,
    Cdr.charging_seconds,
    Cdr.parking_seconds,
    Cdr.total_net_e4,
    Cdr.total_gross_e4,
    Cdr.draft_run,
    Cdr.document,
    Cdr.rated_at,
)


def scoped_cdrs(query: Any, scope: CdrScope) -> Any | None:
    """``query`` limited to the CDRs of ``scope``; None when it can see none."""
    visible = scope.visible
    if visible.entity_ids is not None and not visible.entity_ids:
        return None
    if scope.buyer_only:
        # What the active entity pays: the buyer must be a visible entity
        # (a contact buyer, the end customer, never is).
        return scoped(query, Cdr.buyer_entity, visible).where(Cdr.buyer_entity.is_not_null())
    ids = sorted(visible.entity_ids) if visible.entity_ids is not None else []
    return scoped(query, Cdr.seller_entity, visible, also=Cdr.buyer_entity.is_in(ids or [0]))


def _summary(row: dict[str, Any]) -> CdrSummary:
    return CdrSummary(
        id=row["id"],
        session_id=row["session"],
        audience=row["audience"],
        status=row["status"],
        error=row["error"] or "",
        station_id=row["station"],
        charge_point_id=row["charge_point_id"] or "",
        seller_entity_id=row["seller_entity"],
        buyer_entity_id=row["buyer_entity"],
        buyer_contact_id=row["buyer_contact"],
        tariff_version_id=row["tariff_version"],
        medium_uid=row["medium_uid"] or "",
        started_at=utc_time(row["started_at"]),
        stopped_at=utc_time(row["stopped_at"]),
        time_zone=row["time_zone"] or "UTC",
        currency=row["currency"] or "",
        energy_wh=int(row["energy_wh"] or 0),
        energy_kwh=kwh(int(row["energy_wh"] or 0)),
        charging_seconds=int(row["charging_seconds"] or 0),
        parking_seconds=int(row["parking_seconds"] or 0),
        total_net=amount(int(row["total_net_e4"] or 0)),
        total_gross=amount(int(row["total_gross_e4"] or 0)),
        draft_run_id=row["draft_run"],
        document_id=row["document"],
        rated_at=utc_time(row["rated_at"]) if row["rated_at"] is not None else None,
    )


def _condition(filters: CdrFilter) -> Combinable | None:
    parts: list[Combinable] = []
    if filters.session_id is not None:
        parts.append(Cdr.session == filters.session_id)
    if filters.station_id is not None:
        parts.append(Cdr.station == filters.station_id)
    if filters.audience is not None:
        parts.append(Cdr.audience == filters.audience)
    if filters.status is not None:
        parts.append(Cdr.status == filters.status)
    if filters.billed is True:
        parts.append(Cdr.document.is_not_null())
    elif filters.billed is False:
        parts.append(Cdr.document.is_null())
    if filters.started_after is not None:
        parts.append(Cdr.started_at >= filters.started_after)
    if filters.started_before is not None:
        parts.append(Cdr.started_at < filters.started_before)
    if not parts:
        return None
    condition = parts[0]
    for part in parts[1:]:
        condition = condition & part
    return condition


class PiccoloCdrs:
    """CDR reads on the product's database."""

    async def force_purchase_prices(self, entity_id: int) -> bool:
        row = (
            await Entity.select(Entity.force_purchase_prices)
            .where(Entity.id == entity_id)
            .first()
            .run()
        )
        return bool(row and row["force_purchase_prices"])

    async def list_cdrs(
        self, scope: CdrScope, filters: CdrFilter, limit: int, offset: int
    ) -> tuple[list[CdrSummary], int]:
        query = scoped_cdrs(Cdr.select(*_SUMMARY), scope)
        count = scoped_cdrs(Cdr.count(), scope)
        if query is None or count is None:
            return [], 0
        condition = _condition(filters)
        if condition is not None:
            query = query.where(condition)
            count = count.where(condition)
        rows = await query.order_by(Cdr.id, ascending=False).limit(limit).offset(offset).run()
        return [_summary(row) for row in rows], await count.run()

    async def get_cdr(self, scope: CdrScope, cdr_id: int) -> CdrDetail | None:
        query = scoped_cdrs(Cdr.select(*_SUMMARY, Cdr.detail), scope)
        if query is None:
            return None
        row = await query.where(Cdr.id == cdr_id).first().run()
        if row is None:
            return None
        try:
            detail = msgspec.json.decode(row["detail"] or "{}")
        except msgspec.DecodeError:
            detail = {}
        summary = _summary(row)
        return CdrDetail(
            **{f: getattr(summary, f) for f in summary.__struct_fields__},
            detail=detail if isinstance(detail, dict) else {},
        )

    async def session_facts(self, session_id: int) -> SessionFacts | None:
        session = (
            await ChargingSession.select(
                ChargingSession.id,
                ChargingSession.status,
                ChargingSession.station.owner_entity.as_alias("owner"),
            )
            .where(ChargingSession.id == session_id)
            .first()
            .run()
        )
        if session is None:
            return None
        queued = await RatingQueue.exists().where(RatingQueue.session == session_id).run()
        rows = await Cdr.select(*_SUMMARY).where(Cdr.session == session_id).order_by(Cdr.id).run()
        cdrs = [_summary(row) for row in rows]
        runs = {c.draft_run_id for c in cdrs if c.draft_run_id is not None}
        documents = {c.document_id for c in cdrs if c.document_id is not None}
        run_status: dict[int, str] = {}
        if runs:
            for run in (
                await BillingRun.select(BillingRun.id, BillingRun.status)
                .where(BillingRun.id.is_in(sorted(runs)))
                .run()
            ):
                run_status[run["id"]] = run["status"]
        numbers: dict[int, str] = {}
        if documents:
            for document in (
                await Document.select(Document.id, Document.number)
                .where(Document.id.is_in(sorted(documents)))
                .run()
            ):
                numbers[document["id"]] = document["number"]
        return SessionFacts(
            session_id=session_id,
            station_owner_id=session["owner"],
            status=session["status"],
            queued=bool(queued),
            cdrs=[
                CdrRow(
                    summary=c,
                    run_status=run_status.get(c.draft_run_id) if c.draft_run_id else None,
                    document_number=numbers.get(c.document_id) if c.document_id else None,
                )
                for c in cdrs
            ],
        )

    async def report_cdrs(
        self, scope: CdrScope, *, audience: str | None, start: datetime, end: datetime
    ) -> list[ReportCdr]:
        """Rated CDRs in scope that started in [start, end) (UTC), with
        their seller's name and time zone and their station's id."""
        query = scoped_cdrs(
            Cdr.select(
                Cdr.session,
                Cdr.audience,
                Cdr.seller_entity,
                Cdr.seller_entity.name.as_alias("seller_name"),
                Cdr.seller_entity.time_zone.as_alias("seller_zone"),
                Cdr.station,
                Cdr.station.charge_point_id.as_alias("charge_point_id"),
                Cdr.time_zone,
                Cdr.currency,
                Cdr.started_at,
                Cdr.energy_wh,
                Cdr.total_net_e4,
                Cdr.total_gross_e4,
            ),
            scope,
        )
        if query is None:
            return []
        query = query.where(
            (Cdr.status == "rated") & (Cdr.started_at >= start) & (Cdr.started_at < end)
        )
        if audience is not None:
            query = query.where(Cdr.audience == audience)
        return [
            ReportCdr(
                session_id=row["session"],
                audience=row["audience"],
                seller_entity_id=row["seller_entity"],
                seller_name=row["seller_name"] or "",
                time_zone=row["seller_zone"] or row["time_zone"] or "UTC",
                station_id=row["station"],
                charge_point_id=row["charge_point_id"] or "",
                currency=row["currency"] or "",
                started_at=utc_time(row["started_at"]),
                energy_wh=int(row["energy_wh"] or 0),
                total_net_e4=int(row["total_net_e4"] or 0),
                total_gross_e4=int(row["total_gross_e4"] or 0),
            )
            for row in await query.run()
        ]
