"""Rating: completed sessions become CDRs, in batches, durably and once.

The rater takes a batch from the rating queue (``billing.ports.RatingQueue``),
decides the audiences of each session (``billing.rating.audiences``), finds
each audience's tariff assignment and the tariff version valid at the
session's start, turns what the charger reported into OCPI charging periods
(``billing.rating.periods``, split at the tariff's local-time boundaries in
the station's time zone) and prices them (``billing.tariffs.pricing``). A
session that cannot be priced for an audience gets a CDR with status
``error`` and the reason, so it shows where it stands.

The batch's CDRs are recorded and its queue rows removed in one
transaction. A crash before that rates the batch again; the unique
(session, audience) key keeps every CDR single.
"""

from __future__ import annotations

import asyncio
import logging
import time as clock
from bisect import bisect_right
from collections.abc import Callable, Collection
from datetime import datetime, time
from decimal import Decimal
from typing import Any

import msgspec

from billing.ports import CdrRecord, CompletedSession, Directory, EntityInfo, RatingQueue
from billing.rating.audiences import AudienceDecision, Communities, decide
from billing.rating.periods import Sample as PeriodSample
from billing.rating.periods import (
    SessionPeriods,
    SessionReadings,
    charging_periods,
    tariff_boundaries,
)
from billing.rating.periods import StateChange as PeriodState
from billing.rating.signed import SignedValue, verify_signed_values
from billing.tariffs.assignments import Audience, resolve
from billing.tariffs.cdr_input import CdrDimension, CdrDimensionType, ChargingPeriod
from billing.tariffs.lookup import RatingTariffs, TariffLookup, TariffVersionRow
from billing.tariffs.model import Tariff
from billing.tariffs.pricing import PricedSession, PricingError, price_session

log = logging.getLogger(__name__)

E4 = Decimal("10000")
# Sessions priced between two turns of the event loop (about 2 ms of work).
YIELD_EVERY = 20
_DETAIL = msgspec.json.Encoder(decimal_format="number")
AUDIENCES = tuple(audience.value for audience in Audience)


def _e4(amount: Decimal) -> int:
    return int((amount * E4).to_integral_value())


def _times_of_day(tariff: Tariff) -> list[time]:
    """Local times at which the tariff's price may change (midnight for
    weekday and date restrictions)."""
    found = {time(0)}
    for element in tariff.elements:
        restrictions = element.restrictions
        if restrictions is None:
            continue
        for moment in (restrictions.start_time, restrictions.end_time):
            if moment is not None:
                found.add(moment)
    return sorted(found)


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


def _pricing_periods(periods: SessionPeriods) -> list[ChargingPeriod]:
    return [
        ChargingPeriod(
            start_date_time=period.start_date_time,
            dimensions=tuple(
                CdrDimension(type=CdrDimensionType(str(d.type)), volume=d.volume)
                for d in period.dimensions
            ),
        )
        for period in periods.periods
    ]


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


class _BatchTariffs:
    """The tariff lookups of one batch: the sellers' assignments and their
    tariffs' versions read at once (``preload``), the version valid at a
    session's start picked here."""

    def __init__(self, lookup: TariffLookup) -> None:
        self._lookup = lookup
        self._assignments: dict[tuple[int, str], list[Any]] = {}
        self._versions: dict[int, tuple[list[datetime], list[TariffVersionRow]]] = {}
        self._owners: set[int] = set()

    async def preload(self, owner_entity_ids: set[int]) -> None:
        """Reads the assignments of these sellers and their tariffs' versions."""
        wanted = owner_entity_ids - self._owners
        if not wanted:
            return
        found = await self._lookup.rating_tariffs(wanted)
        for owner in wanted:
            for audience in AUDIENCES:
                self._assignments[(owner, audience)] = found.assignments.get((owner, audience), [])
        for tariff_id, rows in found.versions.items():
            self._versions[tariff_id] = ([row.valid_from for row in rows], rows)
        self._owners |= wanted

    async def assignments_for(self, owner_entity_id: int, audience: str) -> list[Any]:
        key = (owner_entity_id, audience)
        found = self._assignments.get(key)
        if found is None:
            found = self._assignments[key] = await self._lookup.assignments_for(
                owner_entity_id, audience
            )
        return found

    async def version_at(self, tariff_id: int, when: datetime) -> TariffVersionRow | None:
        known = self._versions.get(tariff_id)
        if known is None:
            rows = await self._lookup.version_rows(tariff_id)
            known = self._versions[tariff_id] = ([row.valid_from for row in rows], rows)
        starts, rows = known
        index = bisect_right(starts, when)
        return rows[index - 1] if index else None

    async def version_rows(self, tariff_id: int) -> list[TariffVersionRow]:
        return await self._lookup.version_rows(tariff_id)

    async def rating_tariffs(self, owner_entity_ids: Collection[int]) -> RatingTariffs:
        return await self._lookup.rating_tariffs(owner_entity_ids)

    async def community_of(self, entity_id: int) -> set[int]:
        return await self._lookup.community_of(entity_id)


class Rater:
    """Rates queued sessions in batches."""

    def __init__(
        self,
        queue: RatingQueue,
        directory: Directory,
        tariffs: TariffLookup,
        *,
        batch_size: int = 500,
        entity_cache_seconds: float = 30.0,
        now: Callable[[], float] = clock.monotonic,
    ) -> None:
        self._queue = queue
        self._directory = directory
        self._tariffs = tariffs
        self._batch_size = batch_size
        self._cache_seconds = entity_cache_seconds
        self._now = now
        self._entities: dict[int, EntityInfo] = {}
        # Per tariff version (versions never change): the local times at
        # which its price may change.
        self._times_of_day: dict[int, tuple[time, ...]] = {}
        self._communities: Communities | None = None
        self._loaded_at = float("-inf")

    async def _directory_now(self) -> tuple[dict[int, EntityInfo], Communities]:
        if self._communities is None or self._now() - self._loaded_at > self._cache_seconds:
            self._entities = await self._directory.entities()
            partners = await self._directory.community_partners()
            self._communities = Communities(self._entities, partners)
            self._loaded_at = self._now()
        return self._entities, self._communities

    async def rate_batch(self) -> int:
        """Rates one batch; returns the sessions it took (0: the queue is empty)."""
        sessions = await self._queue.next_batch(self._batch_size)
        if not sessions:
            return 0
        entities, communities = await self._directory_now()
        tariffs = _BatchTariffs(self._tariffs)
        ordered = sorted(sessions, key=lambda s: (s.started_at, s.id))
        decisions: dict[int, list[AudienceDecision]] = {}
        for session in ordered:
            try:
                decisions[session.id] = list(decide(session, entities, communities))
            except Exception:  # rate_session decides again and records the error
                continue
        await tariffs.preload(
            {
                decision.seller_entity_id
                for found in decisions.values()
                for decision in found
                if decision.seller_entity_id is not None and not decision.error
            }
        )
        cdrs: list[CdrRecord] = []
        for index, session in enumerate(ordered):
            if index and not index % YIELD_EVERY:
                # Pricing is CPU work; in a process that also serves chargers
                # (csms serve) their calls are answered in between.
                await asyncio.sleep(0)
            try:
                cdrs += await self.rate_session(
                    session, entities, communities, tariffs, decisions.get(session.id)
                )
            except Exception as error:  # one bad session must not stop the queue
                log.exception("rating session %s failed", session.id)
                cdrs.append(self._error(session, "emp", None, f"rating failed: {error}"))
        await self._queue.record(cdrs, [s.id for s in sessions])
        return len(sessions)

    async def rate_all(self) -> int:
        """Rates until the queue is empty; returns the sessions rated."""
        total = 0
        while True:
            taken = await self.rate_batch()
            if not taken:
                return total
            total += taken

    async def run_forever(self, interval: float = 5.0) -> None:
        """Rates whatever is queued, then waits ``interval`` seconds, forever."""
        while True:
            try:
                await self._rate_queue()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("rating failed; retrying in %s s", interval)
            await asyncio.sleep(interval)

    async def _rate_queue(self) -> None:
        taken = await self.rate_batch()
        while taken:
            await asyncio.sleep(0)  # let the node's other tasks in between batches
            taken = await self.rate_batch()

    async def rate_session(
        self,
        session: CompletedSession,
        entities: dict[int, EntityInfo],
        communities: Communities,
        tariffs: TariffLookup | None = None,
        decisions: list[AudienceDecision] | None = None,
    ) -> list[CdrRecord]:
        readings = _readings(session)
        lookup = tariffs or self._tariffs
        signed = _signed(session)
        # The session's periods for each set of tariff boundaries: audiences
        # whose tariffs change price at the same local times share them.
        periods: dict[tuple[time, ...], SessionPeriods] = {}
        records = []
        if decisions is None:
            decisions = list(decide(session, entities, communities))
        for decision in decisions:
            if decision.error:
                records.append(self._error(session, decision.audience, decision, decision.error))
                continue
            try:
                records.append(
                    await self._price(session, decision, readings, signed, lookup, periods)
                )
            except Exception as error:  # this audience fails; the others stand
                log.exception("rating session %s for %s failed", session.id, decision.audience)
                records.append(
                    self._error(session, decision.audience, decision, f"rating failed: {error}")
                )
        return records

    async def _price(
        self,
        session: CompletedSession,
        decision: AudienceDecision,
        readings: SessionReadings,
        signed: list[dict[str, Any]],
        tariffs: TariffLookup,
        periods_by_times: dict[tuple[time, ...], SessionPeriods],
    ) -> CdrRecord:
        assert decision.seller_entity_id is not None
        candidates = await tariffs.assignments_for(decision.seller_entity_id, decision.audience)
        counterparty = decision.buyer_entity_id if decision.audience in ("emp", "sub_cpo") else None
        assignment = resolve(
            candidates,
            station_id=session.station_id,
            station_group_id=session.station_group_id,
            counterparty_entity_id=counterparty,
        )
        if assignment is None:
            return self._error(
                session,
                decision.audience,
                decision,
                f"no tariff applies: entity {decision.seller_entity_id} assigned none"
                f" for audience {decision.audience} at this station",
            )
        version = await tariffs.version_at(assignment.tariff_id, session.started_at)
        if version is None:
            return self._error(
                session,
                decision.audience,
                decision,
                f"no tariff applies: tariff {assignment.tariff_id} has no version valid at"
                f" {session.started_at.isoformat()}",
            )
        times = self._times_of_day.get(version.id)
        if times is None:
            times = self._times_of_day[version.id] = tuple(_times_of_day(version.tariff))
        periods = periods_by_times.get(times)
        if periods is None:
            splits = tariff_boundaries(
                session.started_at, session.stopped_at, session.time_zone, times
            )
            periods = periods_by_times[times] = charging_periods(readings, splits)
        return self._priced(session, decision, periods, signed, version)

    def _priced(
        self,
        session: CompletedSession,
        decision: AudienceDecision,
        periods: SessionPeriods,
        signed: list[dict[str, Any]],
        version: TariffVersionRow,
    ) -> CdrRecord:
        tariff = version.tariff
        try:
            priced = price_session(
                tariff,
                _pricing_periods(periods),
                start=session.started_at,
                end=session.stopped_at,
                time_zone=session.time_zone,
            )
        except PricingError as error:
            return self._error(session, decision.audience, decision, str(error))
        detail = _detail(periods, priced, version, signed)
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
            detail=detail,
        )

    def _error(
        self,
        session: CompletedSession,
        audience: str,
        decision: AudienceDecision | None,
        reason: str,
    ) -> CdrRecord:
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


def _shared_vat(priced: PricedSession) -> str | None:
    rates = {line.vat for line in priced.lines}
    if len(rates) != 1:
        return None
    (rate,) = rates
    return None if rate is None else str(rate)


def _cost(cost: Any) -> dict[str, Decimal]:
    return {"excl_vat": cost.excl_vat, "incl_vat": cost.incl_vat}


def _detail(
    periods: SessionPeriods,
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
            "charging_periods": periods.to_ocpi(),
            "energy_source": periods.energy_source,
            "notes": list(periods.notes),
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
