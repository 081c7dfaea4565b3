"""Rating's CPU work: a session's CDRs from what its charger reported and
the tariff version chosen for each audience.

Pure (no I/O, no event loop), so the rater runs it in its own process or
hands it to rating worker processes (``billing.rating.workers``), in
chunks encoded by ``billing.rating.chunks``. Per audience, a failure
becomes that audience's error CDR; the session's other audiences stand.
"""

from __future__ import annotations

import logging
from datetime import time
from decimal import Decimal
from typing import Any

import msgspec

from billing.ports import CdrRecord, CompletedSession
from billing.rating.audiences import AudienceDecision
from billing.rating.periods import (
    DimensionType,
    SessionPeriods,
    SessionReadings,
    charging_periods,
    tariff_boundaries,
)
from billing.rating.periods import Sample as PeriodSample
from billing.rating.periods import StateChange as PeriodState
from billing.rating.signed import SignedValue, verify_signed_values
from billing.tariffs.cdr_input import CdrDimension, CdrDimensionType, ChargingPeriod
from billing.tariffs.lookup import TariffVersionRow
from billing.tariffs.model import Tariff
from billing.tariffs.pricing import PricedSession, PricingError, price_session

log = logging.getLogger(__name__)

E4 = Decimal("10000")
_DETAIL = msgspec.json.Encoder(decimal_format="number")


class PricingJob(msgspec.Struct, frozen=True, kw_only=True):
    """One audience of a session and the tariff version that prices it."""

    decision: AudienceDecision
    version: TariffVersionRow


class SessionWork(msgspec.Struct, frozen=True, kw_only=True):
    """A session and its audiences to price (those that could not be priced
    already have their error CDRs)."""

    session: CompletedSession
    jobs: tuple[PricingJob, ...]


def error_cdr(
    session: CompletedSession,
    audience: str,
    decision: AudienceDecision | None,
    reason: str,
) -> CdrRecord:
    """The CDR that says why ``audience`` of ``session`` could not be priced."""
    return CdrRecord(
        session_id=session.id,
        audience=audience,
        status="error",
        error=reason,
        station_id=session.station_id,
        seller_entity_id=decision.seller_entity_id if decision else None,
        buyer_entity_id=decision.buyer_entity_id if decision else None,
        buyer_contact_id=decision.buyer_contact_id if decision else None,
        tariff_version_id=None,
        medium_uid=session.id_tag,
        started_at=session.started_at,
        stopped_at=session.stopped_at,
        time_zone=session.time_zone,
        currency="",
        energy_wh=0,
        charging_seconds=0,
        parking_seconds=0,
        total_net_e4=0,
        total_gross_e4=0,
        detail=b"{}",
    )


def session_failed(session: CompletedSession, error: BaseException) -> CdrRecord:
    """A session that could not be rated at all: one error CDR says so."""
    return error_cdr(session, "emp", None, f"rating failed: {error}")


def rate_work(work: SessionWork) -> list[CdrRecord]:
    """The CDRs of ``work``'s audiences. Raises only when the session's
    readings cannot be read at all (the caller records that as
    :func:`session_failed`)."""
    session = work.session
    if not work.jobs:
        return []
    readings = _readings(session)
    signed = _signed(session)
    # The session's periods for each set of tariff boundaries: audiences
    # whose tariffs change price at the same local times share them.
    periods_by_times: dict[tuple[time, ...], _Periods] = {}
    records = []
    for job in work.jobs:
        try:
            records.append(_priced(session, job, readings, signed, periods_by_times))
        except Exception as error:  # this audience fails; the others stand
            log.exception("rating session %s for %s failed", session.id, job.decision.audience)
            records.append(
                error_cdr(session, job.decision.audience, job.decision, f"rating failed: {error}")
            )
    return records


def rate_all(works: list[SessionWork]) -> list[CdrRecord]:
    """The CDRs of every session in ``works``; a session that cannot be read
    gets its :func:`session_failed` CDR."""
    records: list[CdrRecord] = []
    for work in works:
        try:
            records += rate_work(work)
        except Exception as error:  # one bad session must not stop the others
            log.exception("rating session %s failed", work.session.id)
            records.append(session_failed(work.session, error))
    return records


def _e4(amount: Decimal) -> int:
    return int((amount * E4).to_integral_value())


def _times_of_day(version: TariffVersionRow) -> tuple[time, ...]:
    """Local times at which the version's price may change (midnight for
    weekday and date restrictions)."""
    found = {time(0)}
    tariff: Tariff = version.tariff
    for element in tariff.elements:
        restrictions = element.restrictions
        if restrictions is None:
            continue
        for moment in (restrictions.start_time, restrictions.end_time):
            if moment is not None:
                found.add(moment)
    return tuple(sorted(found))


def _readings(session: CompletedSession) -> SessionReadings:
    samples = []
    for sample in session.samples:
        if sample.format == "SignedData" or not sample.value:
            continue
        try:
            value = Decimal(sample.value)
        except ArithmeticError:
            continue
        if not value.is_finite():
            continue
        samples.append(
            PeriodSample(
                at=sample.at,
                measurand=sample.measurand,
                value=value,
                unit=sample.unit,
                phase=sample.phase,
                multiplier=sample.multiplier,
                context=sample.context,
            )
        )
    return SessionReadings(
        started_at=session.started_at,
        stopped_at=session.stopped_at,
        meter_start_wh=session.meter_start_wh,
        meter_stop_wh=session.meter_stop_wh,
        samples=samples,
        states=[PeriodState(at=s.at, state=s.state) for s in session.states],
    )


# The CDR dimension of each rating dimension (the same names).
_CDR_TYPE = {kind: CdrDimensionType(str(kind)) for kind in DimensionType}


class _Periods:
    """A session's periods for one set of tariff boundaries, in the forms
    pricing and the CDR detail read; audiences whose tariffs change price
    at the same local times share it."""

    __slots__ = ("ocpi", "pricing", "session")

    def __init__(self, periods: SessionPeriods) -> None:
        self.session = periods
        self.pricing = [
            ChargingPeriod(
                start_date_time=period.start_date_time,
                dimensions=tuple(
                    CdrDimension(type=_CDR_TYPE[d.type], volume=d.volume) for d in period.dimensions
                ),
            )
            for period in periods.periods
        ]
        self.ocpi = msgspec.Raw(_DETAIL.encode(periods.to_ocpi()))


def _signed(session: CompletedSession) -> list[dict[str, Any]]:
    values = [
        SignedValue(
            s.signed_data,
            signing_method=s.signing_method,
            encoding_method=s.encoding_method,
            public_key=s.public_key,
            at=s.at,
            context=s.context,
        )
        for s in session.samples
        if s.signed_data
    ]
    if not values:
        return []
    return [
        msgspec.to_builtins(v)
        for v in verify_signed_values(values, session.meter_public_key or None)
    ]


def _priced(
    session: CompletedSession,
    job: PricingJob,
    readings: SessionReadings,
    signed: list[dict[str, Any]],
    periods_by_times: dict[tuple[time, ...], _Periods],
) -> CdrRecord:
    decision, version = job.decision, job.version
    times = _times_of_day(version)
    shared = periods_by_times.get(times)
    if shared is None:
        splits = tariff_boundaries(session.started_at, session.stopped_at, session.time_zone, times)
        shared = periods_by_times[times] = _Periods(charging_periods(readings, splits))
    periods = shared.session
    try:
        priced = price_session(
            version.tariff,
            shared.pricing,
            start=session.started_at,
            end=session.stopped_at,
            time_zone=session.time_zone,
        )
    except PricingError as error:
        return error_cdr(session, decision.audience, decision, str(error))
    return CdrRecord(
        session_id=session.id,
        audience=decision.audience,
        status="rated",
        error="",
        station_id=session.station_id,
        seller_entity_id=decision.seller_entity_id,
        buyer_entity_id=decision.buyer_entity_id,
        buyer_contact_id=decision.buyer_contact_id,
        tariff_version_id=version.id,
        medium_uid=session.id_tag,
        started_at=session.started_at,
        stopped_at=session.stopped_at,
        time_zone=session.time_zone,
        currency=priced.currency,
        energy_wh=int(periods.energy_wh),
        charging_seconds=int(periods.charging_seconds),
        parking_seconds=int(periods.parking_seconds),
        total_net_e4=_e4(priced.total_cost.excl_vat),
        total_gross_e4=_e4(priced.total_cost.incl_vat),
        detail=_detail(shared, priced, version, signed),
    )


def _shared_vat(priced: PricedSession) -> str | None:
    rates = {line.vat for line in priced.lines}
    if len(rates) != 1:
        return None
    (rate,) = rates
    return None if rate is None else str(rate)


def _cost(cost: Any) -> dict[str, Decimal]:
    return {"excl_vat": cost.excl_vat, "incl_vat": cost.incl_vat}


def _detail(
    periods: _Periods,
    priced: PricedSession,
    version: TariffVersionRow,
    signed: list[dict[str, Any]],
) -> bytes:
    """The CDR's detail: OCPI charging periods and totals, what was supplied
    at which price (the invoice lines) and the signed meter data."""
    return _DETAIL.encode(
        {
            "tariff": {"id": priced.tariff_id, "version_id": version.id},
            "currency": priced.currency,
            "charging_periods": periods.ocpi,
            "energy_source": periods.session.energy_source,
            "notes": list(periods.session.notes),
            "total_cost": _cost(priced.total_cost),
            "total_energy_cost": _cost(priced.total_energy_cost),
            "total_time_cost": _cost(priced.total_time_cost),
            "total_parking_cost": _cost(priced.total_parking_cost),
            "total_fixed_cost": _cost(priced.total_fixed_cost),
            "total_energy": priced.total_energy,
            "total_time": priced.total_time,
            "total_parking_time": priced.total_parking_time,
            "price_adjustment_excl_vat": str(priced.price_adjustment.excl_vat),
            # A min/max price adjustment is taxed like what it adjusts: the
            # one VAT rate the supplied lines share (None: they differ, and
            # the document uses the issuer's standard rate).
            "adjustment_vat": _shared_vat(priced),
            "supplied": [
                {
                    "dimension": str(line.dimension),
                    "reservation": line.reservation,
                    "price": str(line.price),
                    "vat": None if line.vat is None else str(line.vat),
                    "volume": str(line.volume),
                    "billed_volume": str(line.billed_volume),
                    "excl_vat": str(line.cost.excl_vat),
                    "incl_vat": str(line.cost.incl_vat),
                }
                for line in priced.supplied()
            ],
            "signed_meter_values": signed,
        }
    )
