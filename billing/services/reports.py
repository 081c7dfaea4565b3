"""Billing reports: revenue, energy and sessions per entity, station or
month, for the entities a principal may see and across them.

Figures come from rated CDRs (``billing:read``, scoped like the CDR list:
seller or buyer visible; with force purchase prices on the active entity,
only CDRs it is the buyer of; see :mod:`billing.services.cdrs`):

- ``entity`` is the CDR's seller, the entity that earns the revenue;
- ``month`` is the local month of the session's start in the seller's time
  zone (a session at 23:30 local time on the last day belongs to that
  month), and ``from``/``to`` (YYYY-MM, inclusive) select by it;
- revenue net and gross per audience (``emp``, ``customer``, ``sub_cpo``)
  and in all, exact to four places; energy in kWh and sessions count each
  session once per row however many audiences priced it;
- ``totals``: one row per currency across every row.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from billing.ports import AUDIENCES
from billing.services.cdrs import CdrScope, PurchasePriceFlags, cdr_scope
from crm.access import Principal
from crm.csv_cells import cell
from crm.errors import InvalidInput

GROUPINGS = ("entity", "station", "month")
_MONTH = re.compile(r"(\d{4})-(\d{2})")
E4 = Decimal("10000")


class ReportCdr(msgspec.Struct, frozen=True, kw_only=True):
    """What a report reads of one rated CDR."""

    session_id: int
    audience: str
    seller_entity_id: int | None
    seller_name: str
    # The seller's time zone (the CDR's station zone when it has none).
    time_zone: str
    station_id: int
    charge_point_id: str
    currency: str
    started_at: datetime
    energy_wh: int
    total_net_e4: int
    total_gross_e4: int


class Revenue(msgspec.Struct, frozen=True, kw_only=True):
    net: Decimal
    gross: Decimal


class ReportRow(msgspec.Struct, frozen=True, kw_only=True):
    """One group (an entity, a station or a month) in one currency."""

    key: str
    label: str
    currency: str
    sessions: int
    energy_kwh: Decimal
    net: Decimal
    gross: Decimal
    # audience -> revenue (only audiences with CDRs in the group)
    by_audience: dict[str, Revenue]


class BillingReport(msgspec.Struct, frozen=True, kw_only=True):
    group_by: str
    from_period: str | None
    to_period: str | None
    audience: str | None
    # Whether the active entity's force purchase prices limited the figures
    # to what it pays.
    purchase_prices_only: bool
    rows: list[ReportRow]
    totals: list[ReportRow]


class ReportStore(PurchasePriceFlags, Protocol):
    async def report_cdrs(
        self, scope: CdrScope, *, audience: str | None, start: datetime, end: datetime
    ) -> list[ReportCdr]: ...


def parse_month(name: str, text: str | None) -> date | None:
    """``YYYY-MM`` as the month's first day; InvalidInput naming ``name``."""
    if text is None or text == "":
        return None
    match = _MONTH.fullmatch(text.strip())
    if not match or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 1900:
        raise InvalidInput(f"{name}: {text!r} is not a month written YYYY-MM")
    return date(int(match.group(1)), int(match.group(2)), 1)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


class _Group:
    __slots__ = ("energy", "gross", "label", "net", "revenue")

    def __init__(self, label: str) -> None:
        self.label = label
        self.energy: dict[int, int] = {}
        self.net = 0
        self.gross = 0
        self.revenue: dict[str, list[int]] = {}

    def add(self, cdr: ReportCdr) -> None:
        self.energy[cdr.session_id] = max(self.energy.get(cdr.session_id, 0), cdr.energy_wh)
        self.net += cdr.total_net_e4
        self.gross += cdr.total_gross_e4
        pair = self.revenue.setdefault(cdr.audience, [0, 0])
        pair[0] += cdr.total_net_e4
        pair[1] += cdr.total_gross_e4

    def row(self, key: str, currency: str) -> ReportRow:
        return ReportRow(
            key=key,
            label=self.label,
            currency=currency,
            sessions=len(self.energy),
            energy_kwh=(Decimal(sum(self.energy.values())) / 1000).quantize(Decimal("0.001")),
            net=_amount(self.net),
            gross=_amount(self.gross),
            by_audience={
                audience: Revenue(net=_amount(pair[0]), gross=_amount(pair[1]))
                for audience, pair in sorted(
                    self.revenue.items(), key=lambda item: _audience_order(item[0])
                )
            },
        )


def _audience_order(audience: str) -> int:
    return AUDIENCES.index(audience) if audience in AUDIENCES else len(AUDIENCES)


def _amount(e4: int) -> Decimal:
    return (Decimal(e4) / E4).quantize(Decimal("0.0001"))


def summarise(
    cdrs: Iterable[ReportCdr],
    *,
    group_by: str,
    first: date | None,
    last: date | None,
) -> tuple[list[ReportRow], list[ReportRow]]:
    """Rows per group and currency (sorted by key) and totals per currency.
    ``first``/``last``: the first days of the first and last months kept."""
    groups: dict[tuple[str, str], _Group] = {}
    totals: dict[str, _Group] = {}
    for cdr in cdrs:
        local = cdr.started_at.astimezone(_zone(cdr.time_zone)).date()
        month = local.replace(day=1)
        if (first is not None and month < first) or (last is not None and month > last):
            continue
        if group_by == "entity":
            key, label = str(cdr.seller_entity_id or ""), cdr.seller_name
        elif group_by == "station":
            key, label = str(cdr.station_id), cdr.charge_point_id
        else:
            key = label = f"{month.year:04d}-{month.month:02d}"
        group = groups.get((key, cdr.currency))
        if group is None:
            group = groups[(key, cdr.currency)] = _Group(label)
        group.add(cdr)
        total = totals.get(cdr.currency)
        if total is None:
            total = totals[cdr.currency] = _Group("total")
        total.add(cdr)

    def order(item: tuple[tuple[str, str], _Group]) -> tuple[int, str, str]:
        key, currency = item[0]
        return (int(key) if key.isdigit() and group_by != "month" else 0, key, currency)

    rows = [group.row(k, c) for (k, c), group in sorted(groups.items(), key=order)]
    return rows, [totals[c].row("total", c) for c in sorted(totals)]


CSV_COLUMNS = (
    "group",
    "key",
    "label",
    "currency",
    "sessions",
    "energy_kwh",
    "net",
    "gross",
    *(f"{audience}_{part}" for audience in AUDIENCES for part in ("net", "gross")),
)


def report_csv(report: BillingReport) -> str:
    """The report as CSV: a line per row, then the totals (group ``total``)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for group, rows in ((report.group_by, report.rows), ("total", report.totals)):
        for row in rows:
            cells: list[str] = [
                group,
                row.key,
                row.label,
                row.currency,
                str(row.sessions),
                str(row.energy_kwh),
                str(row.net),
                str(row.gross),
            ]
            for audience in AUDIENCES:
                revenue = row.by_audience.get(audience)
                cells += ["", ""] if revenue is None else [str(revenue.net), str(revenue.gross)]
            writer.writerow(cell(c) for c in cells)
    return out.getvalue()


class ReportService:
    """Billing reports for a principal."""

    def __init__(self, store: ReportStore) -> None:
        self._store = store

    async def billing_report(
        self,
        principal: Principal,
        *,
        group_by: str = "entity",
        from_period: str | None = None,
        to_period: str | None = None,
        audience: str | None = None,
    ) -> BillingReport:
        principal.require("billing", "read")
        if group_by not in GROUPINGS:
            raise InvalidInput(f"group_by is one of {', '.join(GROUPINGS)}, not {group_by!r}")
        if audience is not None and audience not in AUDIENCES:
            raise InvalidInput(f"audience is one of {', '.join(AUDIENCES)}, not {audience!r}")
        first = parse_month("from", from_period)
        last = parse_month("to", to_period)
        if first is not None and last is not None and first > last:
            raise InvalidInput("from is later than to")
        scope = await cdr_scope(principal, self._store)
        # Local months in any zone lie within a day of the UTC ones.
        start = (
            datetime.combine(first - timedelta(days=2), datetime.min.time(), UTC)
            if first is not None
            else datetime(1970, 1, 1, tzinfo=UTC)
        )
        end = (
            datetime.combine(_next_month(last) + timedelta(days=2), datetime.min.time(), UTC)
            if last is not None
            else datetime(9999, 1, 1, tzinfo=UTC)
        )
        cdrs = await self._store.report_cdrs(scope, audience=audience, start=start, end=end)
        rows, totals = summarise(cdrs, group_by=group_by, first=first, last=last)
        return BillingReport(
            group_by=group_by,
            from_period=from_period or None,
            to_period=to_period or None,
            audience=audience,
            purchase_prices_only=scope.buyer_only,
            rows=rows,
            totals=totals,
        )


def _next_month(first: date) -> date:
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)
