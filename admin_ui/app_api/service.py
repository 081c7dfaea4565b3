"""The driver's stations, charging and history: what the app shows beside
the account (``crm.drivers.service``).

Every read is narrowed to the driver: stations by the access rules applied
to the driver's own media (``csms.domain.access_rules``), sessions by the
contact the medium belonged to at the start, CDRs by the ``customer``
audience billed to the driver, documents by their recipient contact.
Prices come from billing: the ``customer`` tariff assignment of the entity
that invoices the driver (the issuer, or its nearest ancestor that may act
as sub-EMP), and the live cost from the rating engine's charging periods
priced with that tariff.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

import msgspec

from billing.ports import Directory, DocumentSummary, IssuedDocument
from billing.rating.audiences import acting_sub_emp
from billing.rating.periods import Sample, SessionReadings, StateChange, charging_periods
from billing.services.cdrs import SessionFacts
from billing.tariffs.assignments import resolve
from billing.tariffs.cdr_input import CdrDimension, CdrDimensionType, ChargingPeriod
from billing.tariffs.lookup import TariffLookup, TariffVersionRow
from billing.tariffs.pricing import price_session
from crm.clock import utcnow
from crm.drivers.model import Driver
from crm.errors import Conflict, Forbidden, InvalidInput, NotFound
from crm.media import MediumKind, MediumStatus
from csms.commands import model as m
from csms.commands.outcomes import Outcome
from csms.commands.service import CommandService
from csms.domain.access_rules import StationAccessSource
from csms.domain.driver_app import ConnectorView, DriverAppReads, SessionRow, StationPlace

log = logging.getLogger(__name__)

EARTH_RADIUS_KM = 6371.0088
# Seconds a remote start or stop waits for the charger's answer.
COMMAND_TIMEOUT = 30.0
# Invoices a driver's list shows (newest first): years of monthly invoices.
INVOICES_LISTED = 1_000


class CdrFacts(Protocol):
    async def session_facts(self, session_id: int) -> SessionFacts | None: ...


class Documents(Protocol):
    async def document(self, document_id: int) -> IssuedDocument | None: ...

    async def contact_documents(self, contact_id: int, *, limit: int) -> list[DocumentSummary]: ...


# -- answers ----------------------------------------------------------------------------


class TariffInfo(msgspec.Struct, frozen=True, kw_only=True):
    """The tariff that prices your charging at this station (OCPI 2.2.1)."""

    tariff_id: int
    version_id: int
    currency: str
    ocpi: dict[str, Any]


class StationView(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    charge_point_id: str
    description: str
    street: str
    postal_code: str
    city: str
    country: str
    latitude: Decimal | None
    longitude: Decimal | None
    # From the position asked about; None without one.
    distance_km: Decimal | None
    connected: bool
    connectors: list[ConnectorView]
    tariff: TariffInfo | None


class StationPage(msgspec.Struct, frozen=True):
    items: list[StationView]
    total: int
    limit: int
    offset: int


class Price(msgspec.Struct, frozen=True, kw_only=True):
    currency: str
    total_net: Decimal
    total_gross: Decimal


class SessionView(msgspec.Struct, frozen=True, kw_only=True):
    """One of your sessions. Active: energy and cost so far (``cost``
    priced now with your tariff); completed: the price of its CDR once
    rated (``cost`` None until then), and the invoice that billed it."""

    id: int
    station_id: int
    charge_point_id: str
    connector_id: int
    status: str
    started_at: datetime | None
    stopped_at: datetime | None
    energy_wh: int | None
    duration_seconds: int | None
    stop_reason: str
    cost: Price | None
    document_id: int | None = None


class SessionPage(msgspec.Struct, frozen=True):
    items: list[SessionView]
    total: int
    limit: int
    offset: int


class InvoiceView(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    kind: str
    number: str
    issue_date: Any
    period_start: Any
    period_end: Any
    currency: str
    total_net: Decimal
    total_gross: Decimal


class StartRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Start charging at ``station_id`` on ``connector_id`` with your app token."""

    station_id: int
    connector_id: int = 1


class CommandAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """What the charger said: ``result`` answered (``status`` Accepted or
    Rejected), timed_out, busy, not_connected or call_failed."""

    result: str
    status: str | None = None
    detail: str = ""


def _e4(value: int) -> Decimal:
    return (Decimal(value) / 10_000).quantize(Decimal("0.0001"))


def _distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


_OCPI = msgspec.json.Encoder(decimal_format="number")


def _ocpi(tariff: Any) -> dict[str, Any]:
    """The OCPI tariff object as JSON has it (prices as numbers)."""
    decoded: dict[str, Any] = msgspec.json.decode(_OCPI.encode(tariff))
    return decoded


def answer_of(outcome: Outcome) -> CommandAnswer:
    data = msgspec.to_builtins(outcome)
    return CommandAnswer(
        result=str(data.get("result", "")),
        status=data.get("status"),
        detail=str(data.get("description") or data.get("reason") or ""),
    )


@dataclass(slots=True)
class DriverCharging:
    reads: DriverAppReads
    access: StationAccessSource
    tariffs: TariffLookup
    directory: Directory
    cdrs: CdrFacts
    documents: Documents
    render_pdf: Callable[[IssuedDocument], bytes]
    commands: CommandService = field(default_factory=CommandService)
    clock: Callable[[], datetime] = utcnow

    # -- stations ----------------------------------------------------------------

    async def _seller(self, entity_id: int) -> int | None:
        """The entity that invoices the driver (billing's customer audience)."""
        return acting_sub_emp(entity_id, await self.directory.entities())

    async def _tariff(
        self, seller: int | None, station_id: int, group_id: int | None
    ) -> TariffVersionRow | None:
        if seller is None:
            return None
        rows = await self.tariffs.assignments_for(seller, "customer")
        chosen = resolve(rows, station_id=station_id, station_group_id=group_id)
        if chosen is None:
            return None
        return await self.tariffs.version_at(chosen.tariff_id, self.clock())

    async def _usable(self, driver: Driver) -> tuple[list[StationPlace], list[Any]]:
        """Stations at which one of the driver's valid media may charge."""
        now = self.clock()
        media = [
            own.record
            for own in await self.reads.media(driver.contact_id)
            if own.record.status is MediumStatus.ACTIVE
            and (own.record.valid_from is None or own.record.valid_from <= now)
            and (own.record.valid_until is None or now < own.record.valid_until)
        ]
        if not media:
            return [], media
        tree = await self.access.entity_tree()
        accesses = await self.reads.station_accesses()
        usable = []
        for station in await self.reads.stations():
            access = accesses.get(station.id)
            if access is None:
                continue
            compiled = access.compile(tree)
            if any(compiled.admits(medium) for medium in media):
                usable.append(station)
        return usable, media

    async def stations(
        self,
        driver: Driver,
        *,
        latitude: float | None,
        longitude: float | None,
        radius_km: float | None,
        limit: int,
        offset: int,
    ) -> StationPage:
        """The stations the driver's media may charge at, nearest first when
        a position is given (within ``radius_km`` of it), else by id."""
        if (latitude is None) != (longitude is None):
            raise InvalidInput("give lat and lon together")
        if radius_km is not None and latitude is None:
            raise InvalidInput("radius_km needs lat and lon")
        stations, _ = await self._usable(driver)
        placed: list[tuple[float, StationPlace]] = []
        for station in stations:
            if latitude is None or longitude is None:
                placed.append((0.0, station))
                continue
            if station.latitude is None or station.longitude is None:
                continue
            distance = _distance_km(
                latitude, longitude, float(station.latitude), float(station.longitude)
            )
            if radius_km is None or distance <= radius_km:
                placed.append((distance, station))
        placed.sort(key=lambda item: (item[0], item[1].id))
        seller = await self._seller(driver.entity_id)
        items = []
        for distance, station in placed[offset : offset + limit]:
            version = await self._tariff(seller, station.id, station.station_group_id)
            items.append(
                StationView(
                    id=station.id,
                    charge_point_id=station.charge_point_id,
                    description=station.description,
                    street=station.street,
                    postal_code=station.postal_code,
                    city=station.city,
                    country=station.country,
                    latitude=station.latitude,
                    longitude=station.longitude,
                    distance_km=None if latitude is None else Decimal(str(round(distance, 3))),
                    connected=station.connected,
                    connectors=station.connectors,
                    tariff=None
                    if version is None
                    else TariffInfo(
                        tariff_id=version.tariff_id,
                        version_id=version.id,
                        currency=version.currency,
                        ocpi=_ocpi(version.tariff),
                    ),
                )
            )
        return StationPage(items=items, total=len(placed), limit=limit, offset=offset)

    # -- charging ----------------------------------------------------------------

    async def start(self, driver: Driver, data: StartRequest) -> CommandAnswer:
        """Remote start with the driver's app token: Forbidden until the
        e-mail is verified or when the token is not active, NotFound for a
        station the driver may not use."""
        if not driver.verified:
            raise Forbidden("confirm your e-mail address before charging")
        if not 1 <= data.connector_id <= 1000:
            raise InvalidInput("connector_id is between 1 and 1000")
        own = [o for o in await self.reads.media(driver.contact_id) if o.id == driver.app_medium_id]
        if not own or own[0].record.kind is not MediumKind.APP:
            raise Forbidden("you have no app token")
        token = own[0].record
        if token.status is not MediumStatus.ACTIVE:
            raise Forbidden(f"your app token is {token.status.value}")
        station = await self._station(driver, data.station_id)
        outcome = await self.commands.send(
            station.charge_point_id,
            m.RemoteStart(id_tag=token.uid, connector_id=data.connector_id),
            timeout=COMMAND_TIMEOUT,
        )
        return answer_of(outcome)

    async def _station(self, driver: Driver, station_id: int) -> StationPlace:
        stations, _ = await self._usable(driver)
        for station in stations:
            if station.id == station_id:
                return station
        raise NotFound(f"there is no station {station_id} you may charge at")

    async def stop(self, driver: Driver, session_id: int) -> CommandAnswer:
        """Remote stop of one of the driver's own active sessions."""
        session = await self.reads.session(driver.contact_id, session_id)
        if session is None:
            raise NotFound(f"you have no session {session_id}")
        if session.status != "active":
            raise Conflict(f"session {session_id} has ended")
        outcome = await self.commands.send(
            session.charge_point_id, m.RemoteStop(session_id=session.id), timeout=COMMAND_TIMEOUT
        )
        return answer_of(outcome)

    # -- sessions ----------------------------------------------------------------

    async def sessions(
        self, driver: Driver, *, active: bool | None, limit: int, offset: int
    ) -> SessionPage:
        rows, total = await self.reads.sessions(
            driver.contact_id, limit=limit, offset=offset, active=active
        )
        items = [await self._view(driver, row) for row in rows]
        return SessionPage(items=items, total=total, limit=limit, offset=offset)

    async def session(self, driver: Driver, session_id: int) -> SessionView:
        row = await self.reads.session(driver.contact_id, session_id)
        if row is None:
            raise NotFound(f"you have no session {session_id}")
        return await self._view(driver, row)

    async def _view(self, driver: Driver, row: SessionRow) -> SessionView:
        if row.status == "active":
            return await self._live(driver, row)
        facts = await self.cdrs.session_facts(row.id)
        cost, document = None, None
        for cdr in facts.cdrs if facts else []:
            summary = cdr.summary
            if (
                summary.audience == "customer"
                and summary.buyer_contact_id == driver.contact_id
                and summary.status == "rated"
            ):
                cost = Price(
                    currency=summary.currency,
                    total_net=summary.total_net,
                    total_gross=summary.total_gross,
                )
                document = summary.document_id
        energy = (
            row.meter_stop_wh - row.meter_start_wh
            if row.meter_stop_wh is not None and row.meter_start_wh is not None
            else None
        )
        return self._session_view(row, energy, row.stopped_at, cost, document)

    def _session_view(
        self,
        row: SessionRow,
        energy: int | None,
        until: datetime | None,
        cost: Price | None,
        document: int | None,
    ) -> SessionView:
        duration = (
            int((until - row.started_at).total_seconds())
            if until is not None and row.started_at is not None
            else None
        )
        return SessionView(
            id=row.id,
            station_id=row.station_id,
            charge_point_id=row.charge_point_id,
            connector_id=row.connector_id,
            status=row.status,
            started_at=row.started_at,
            stopped_at=row.stopped_at,
            energy_wh=energy,
            duration_seconds=duration,
            stop_reason=row.stop_reason,
            cost=cost,
            document_id=document,
        )

    async def _live(self, driver: Driver, row: SessionRow) -> SessionView:
        """Energy and cost so far: the rating engine's charging periods up to
        now, priced with the driver's tariff at the session's start."""
        now = self.clock()
        if row.started_at is None:
            return self._session_view(row, None, None, None, None)
        samples = []
        for r in await self.reads.readings(row.id):
            if r["format"] == "SignedData" or not r["value"]:
                continue
            try:
                value = Decimal(r["value"])
            except ArithmeticError:
                continue
            if not value.is_finite() or r["sampled_at"] < row.started_at:
                continue
            samples.append(
                Sample(
                    at=r["sampled_at"],
                    measurand=r["measurand"],
                    value=value,
                    unit=r["unit"],
                    phase=r["phase"],
                    multiplier=r["multiplier"],
                    context=r["context"],
                )
            )
        end = max(now, row.started_at)
        try:
            periods = charging_periods(
                SessionReadings(
                    started_at=row.started_at,
                    stopped_at=end,
                    meter_start_wh=row.meter_start_wh,
                    meter_stop_wh=None,
                    samples=samples,
                    states=[
                        StateChange(at=at, state=state)
                        for at, state in await self.reads.states(row)
                        if at <= end
                    ],
                )
            )
        except Exception:
            log.exception("live periods of session %s could not be computed", row.id)
            return self._session_view(row, None, end, None, None)
        energy = int(periods.energy_wh)
        cost = None
        seller = await self._seller(row.issuing_entity_id or driver.entity_id)
        version = await self._tariff_at(seller, row)
        if version is not None and periods.periods:
            try:
                priced = price_session(
                    version.tariff,
                    [
                        ChargingPeriod(
                            start_date_time=p.start_date_time,
                            dimensions=tuple(
                                CdrDimension(type=CdrDimensionType(str(d.type)), volume=d.volume)
                                for d in p.dimensions
                            ),
                        )
                        for p in periods.periods
                    ],
                    start=row.started_at,
                    end=end,
                    time_zone=row.time_zone,
                )
                cost = Price(
                    currency=version.currency,
                    total_net=priced.total_cost.excl_vat,
                    total_gross=priced.total_cost.incl_vat,
                )
            except Exception:
                log.exception("live cost of session %s could not be priced", row.id)
        return self._session_view(row, energy, end, cost, None)

    async def _tariff_at(self, seller: int | None, row: SessionRow) -> TariffVersionRow | None:
        if seller is None or row.started_at is None:
            return None
        rows = await self.tariffs.assignments_for(seller, "customer")
        chosen = resolve(rows, station_id=row.station_id, station_group_id=row.station_group_id)
        if chosen is None:
            return None
        return await self.tariffs.version_at(chosen.tariff_id, row.started_at)

    # -- invoices ----------------------------------------------------------------

    async def invoices(self, driver: Driver) -> list[InvoiceView]:
        """The driver's invoices (and their cancellations), newest first."""
        documents = await self.documents.contact_documents(driver.contact_id, limit=INVOICES_LISTED)
        return [
            InvoiceView(
                id=d.id,
                kind=d.kind,
                number=d.number,
                issue_date=d.issue_date,
                period_start=d.period_start,
                period_end=d.period_end,
                currency=d.currency,
                total_net=_e4(d.total_net_e4),
                total_gross=_e4(d.total_gross_e4),
            )
            for d in documents
        ]

    async def invoice_pdf(self, driver: Driver, document_id: int) -> tuple[str, bytes]:
        document = await self.documents.document(document_id)
        if document is None or document.recipient_contact_id != driver.contact_id:
            raise NotFound(f"you have no invoice {document_id}")
        return f"{document.number}.pdf", self.render_pdf(document)
