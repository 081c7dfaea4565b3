"""Rating: completed sessions become CDRs, in batches, durably and once.

The rater takes a batch from the rating queue (``billing.ports.RatingQueue``),
decides the audiences of each session (``billing.rating.audiences``), finds
each audience's tariff assignment and the tariff version valid at the
session's start, and has ``billing.rating.compute`` turn what the charger
reported into OCPI charging periods (split at the tariff's local-time
boundaries in the station's time zone) and price them, in this process or
in rating worker processes (``billing.rating.workers``). A session that
cannot be priced for an audience gets a CDR with status ``error`` and the
reason, so it shows where it stands.

The batch's CDRs are recorded and its queue rows removed in one
transaction. A crash before that rates the batch again; the unique
(session, audience) key keeps every CDR single.
"""

from __future__ import annotations

import asyncio
import logging
import time as clock
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Collection
from datetime import datetime
from typing import Any

from billing.ports import CdrRecord, CompletedSession, Directory, EntityInfo, RatingQueue
from billing.rating.audiences import AudienceDecision, Communities, decide
from billing.rating.compute import (
    PricingJob,
    SessionWork,
    error_cdr,
    rate_work,
    session_failed,
)
from billing.rating.workers import RatingWorkers
from billing.tariffs.assignments import Audience, resolve
from billing.tariffs.lookup import RatingTariffs, TariffLookup, TariffVersionRow

log = logging.getLogger(__name__)

# Sessions priced between two turns of the event loop (a few ms of work).
YIELD_EVERY = 20
# Batches being priced or recorded at once: one priced while the one
# before it is recorded.
IN_FLIGHT = 2
AUDIENCES = tuple(audience.value for audience in Audience)


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
        workers: RatingWorkers | None = None,
    ) -> None:
        self._queue = queue
        self._directory = directory
        self._tariffs = tariffs
        self._batch_size = batch_size
        self._cache_seconds = entity_cache_seconds
        self._now = now
        self._workers = workers
        self._entities: dict[int, EntityInfo] = {}
        self._communities: Communities | None = None
        self._loaded_at = float("-inf")

    async def close(self) -> None:
        """Stops the worker processes, if any."""
        if self._workers is not None:
            await self._workers.close()

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
        await self._finish(*await self._prepare(sessions))
        return len(sessions)

    async def _prepare(
        self, sessions: list[CompletedSession]
    ) -> tuple[list[CompletedSession], list[CdrRecord], list[SessionWork]]:
        """What pricing a batch needs (audiences, tariffs), and the CDRs of
        the sessions that cannot be priced."""
        entities, communities = await self._directory_now()
        tariffs = _BatchTariffs(self._tariffs)
        ordered = sorted(sessions, key=lambda s: (s.started_at, s.id))
        decisions: dict[int, list[AudienceDecision]] = {}
        for session in ordered:
            try:
                decisions[session.id] = list(decide(session, entities, communities))
            except Exception:  # _work decides again and records the error
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
        works: list[SessionWork] = []
        for session in ordered:
            try:
                errors, work = await self._work(
                    session, entities, communities, tariffs, decisions.get(session.id)
                )
            except Exception as error:  # one bad session must not stop the queue
                log.exception("rating session %s failed", session.id)
                cdrs.append(session_failed(session, error))
                continue
            cdrs += errors
            works.append(work)
        return sessions, cdrs, works

    async def _finish(
        self,
        sessions: list[CompletedSession],
        cdrs: list[CdrRecord],
        works: list[SessionWork],
        previous: asyncio.Task[None] | None = None,
    ) -> None:
        """Prices a prepared batch and records it, after ``previous`` (the
        batch before it) is recorded: pricing overlaps the previous batch's
        recording, the records keep queue order. A previous batch that
        failed fails this one too, unrecorded (both stay queued)."""
        cdrs = cdrs + await self._rate(works)
        if previous is not None:
            await previous
        await self._queue.record(cdrs, sessions)

    async def _rate(self, works: list[SessionWork]) -> list[CdrRecord]:
        if self._workers is not None:
            return await self._workers.rate(works)
        cdrs: list[CdrRecord] = []
        for index, work in enumerate(works):
            if index and not index % YIELD_EVERY:
                # Pricing is CPU work; in a process that also serves chargers
                # (csms serve) their calls are answered in between.
                await asyncio.sleep(0)
            try:
                cdrs += rate_work(work)
            except Exception as error:  # one bad session must not stop the queue
                log.exception("rating session %s failed", work.session.id)
                cdrs.append(session_failed(work.session, error))
        return cdrs

    async def rate_all(self, limit: int | None = None) -> int:
        """Rates until the queue is empty (or ``limit`` sessions are taken);
        returns the sessions rated.

        Pipelined: while one batch is priced, the batch before it is
        recorded and the next one is read and prepared, so the database's
        reads and writes, this process and the rating workers overlap
        instead of taking turns. At most ``IN_FLIGHT`` batches are being
        priced or recorded; they are recorded in queue order. The next batch
        is read from after the previous one's last queue position (its rows
        stay queued until it is recorded)."""
        total = 0
        in_flight: deque[asyncio.Task[None]] = deque()
        after = 0
        try:
            while limit is None or total < limit:
                size = self._batch_size if limit is None else min(self._batch_size, limit - total)
                sessions = await self._queue.next_batch(size, after=after)
                if not sessions:
                    break
                after = max(s.queue_position for s in sessions)
                prepared = await self._prepare(sessions)
                while len(in_flight) >= IN_FLIGHT:
                    await in_flight.popleft()
                previous = in_flight[-1] if in_flight else None
                in_flight.append(
                    asyncio.create_task(self._finish(*prepared, previous), name="rating-batch")
                )
                total += len(sessions)
            while in_flight:
                await in_flight.popleft()
        except asyncio.CancelledError:
            # Stopped while batches were being priced or recorded: each is
            # recorded whole or not at all, and rated again if not.
            for task in in_flight:
                task.cancel()
            await asyncio.gather(*in_flight, return_exceptions=True)
            raise
        except BaseException:
            # The next batch failed (or one in flight did): those in flight
            # are still recorded, as far as they can be.
            await asyncio.gather(*in_flight, return_exceptions=True)
            raise
        return total

    async def run_forever(self, interval: float = 5.0) -> None:
        """Rates whatever is queued, then waits ``interval`` seconds, forever."""
        while True:
            try:
                await self.rate_all()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("rating failed; retrying in %s s", interval)
            await asyncio.sleep(interval)

    async def rate_session(
        self,
        session: CompletedSession,
        entities: dict[int, EntityInfo],
        communities: Communities,
        tariffs: TariffLookup | None = None,
        decisions: list[AudienceDecision] | None = None,
    ) -> list[CdrRecord]:
        """The CDRs of one session, priced in this process."""
        errors, work = await self._work(
            session, entities, communities, tariffs or self._tariffs, decisions
        )
        return errors + rate_work(work)

    async def _work(
        self,
        session: CompletedSession,
        entities: dict[int, EntityInfo],
        communities: Communities,
        tariffs: TariffLookup,
        decisions: list[AudienceDecision] | None,
    ) -> tuple[list[CdrRecord], SessionWork]:
        """The session's audiences: the error CDRs of those that cannot be
        priced, and the tariff version of each of the others."""
        if decisions is None:
            decisions = list(decide(session, entities, communities))
        errors: list[CdrRecord] = []
        jobs: list[PricingJob] = []
        for decision in decisions:
            if decision.error:
                errors.append(error_cdr(session, decision.audience, decision, decision.error))
                continue
            try:
                found = await self._version(session, decision, tariffs)
            except Exception as error:  # this audience fails; the others stand
                log.exception("rating session %s for %s failed", session.id, decision.audience)
                errors.append(
                    error_cdr(session, decision.audience, decision, f"rating failed: {error}")
                )
                continue
            if isinstance(found, str):
                errors.append(error_cdr(session, decision.audience, decision, found))
            else:
                jobs.append(PricingJob(decision=decision, version=found))
        return errors, SessionWork(session=session, jobs=tuple(jobs))

    async def _version(
        self, session: CompletedSession, decision: AudienceDecision, tariffs: TariffLookup
    ) -> TariffVersionRow | str:
        """The tariff version that prices the audience, or why none does."""
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
            return (
                f"no tariff applies: entity {decision.seller_entity_id} assigned none"
                f" for audience {decision.audience} at this station"
            )
        version = await tariffs.version_at(assignment.tariff_id, session.started_at)
        if version is None:
            return (
                f"no tariff applies: tariff {assignment.tariff_id} has no version valid at"
                f" {session.started_at.isoformat()}"
            )
        return version
