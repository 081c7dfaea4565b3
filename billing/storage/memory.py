"""In-memory twins of :mod:`billing.storage.sources` and
:mod:`billing.storage.runs` for unit tests, behaving as the SQL ones do.

- :class:`MemoryCdrs` is the ``cdr`` table (and the charge point ids of the
  ``station`` table that reads join): the rating queue writes it, the
  billing store reads and marks it. Give both the same object.
- :class:`MemoryRatingQueue` holds the sessions a test puts in;
  ``next_batch`` changes nothing and ``record`` stores the CDRs (a second
  one per session and audience is ignored, as ``ON CONFLICT DO NOTHING``)
  and removes the sessions from the queue, all at once.
  :meth:`MemoryRatingQueue.crash_before_record` makes the next ``record``
  raise :class:`SimulatedCrash` having changed nothing, as a rater that dies
  between taking a batch and committing it.
- :class:`MemoryDirectory` answers with the entities, contacts and
  community partners a test gives it.
- :class:`MemoryBillingStore` keeps runs, documents and number ranges.
  ``issue`` and ``cancel`` stage every change and apply it only when the
  whole operation succeeded, so a failure (``AlreadyBilled``, a bad number
  format, a failing ``build``) takes no number and changes nothing. Issued
  documents are frozen values that no method replaces or removes.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import msgspec

from billing.documents.model import from_json
from billing.ports import (
    AlreadyBilled,
    BillingRunRow,
    CdrRecord,
    CompletedSession,
    ContactInfo,
    DocumentSummary,
    DraftDocument,
    EntityInfo,
    IssuedDocument,
    UnbilledCdr,
    summary_of,
)
from billing.runs.drafting import with_number
from billing.runs.numbering import DEFAULT_FORMATS, render_number
from crm.tree import EntityTree

__all__ = [
    "CdrRow",
    "MemoryBillingStore",
    "MemoryCdrs",
    "MemoryDirectory",
    "MemoryRatingQueue",
    "SimulatedCrash",
]


class SimulatedCrash(RuntimeError):
    """The rater "died" before its batch was committed."""


def _now() -> datetime:
    return datetime.now(UTC)


class CdrRow(msgspec.Struct, frozen=True, kw_only=True):
    """A row of ``cdr``: the rater's record and what billing did with it."""

    id: int
    record: CdrRecord
    rated_at: datetime
    # The draft run that last included it, and the document that billed it.
    draft_run_id: int | None = None
    document_id: int | None = None


@dataclass
class MemoryCdrs:
    """The ``cdr`` table, unique per (session, audience), and the stations'
    charge point ids (``unbilled_cdrs`` joins the station: a CDR of an
    unknown station is not listed, as the SQL inner join does)."""

    rows: dict[int, CdrRow] = field(default_factory=dict)
    stations: dict[int, str] = field(default_factory=dict)
    _keys: dict[tuple[int, str], int] = field(default_factory=dict)
    _next_id: int = 0

    def add_station(self, station_id: int, charge_point_id: str) -> int:
        self.stations[station_id] = charge_point_id
        return station_id

    def insert(self, records: Iterable[CdrRecord]) -> list[int | None]:
        """Stores each record unless its (session, audience) is stored already;
        the new row's id, or None for one ignored."""
        now = _now()
        ids: list[int | None] = []
        for record in records:
            key = (record.session_id, record.audience)
            if key in self._keys:
                # Rated again: an unbilled CDR takes the new rating and
                # leaves any draft; a billed one stays as billed.
                known = self.rows[self._keys[key]]
                if known.document_id is None:
                    self.rows[known.id] = CdrRow(id=known.id, record=record, rated_at=now)
                ids.append(None)
                continue
            self._next_id += 1
            self.rows[self._next_id] = CdrRow(id=self._next_id, record=record, rated_at=now)
            self._keys[key] = self._next_id
            ids.append(self._next_id)
        return ids

    def of_session(self, session_id: int) -> dict[str, CdrRow]:
        """The session's CDRs by audience."""
        return {
            row.record.audience: row
            for row in self.rows.values()
            if row.record.session_id == session_id
        }


# -- rating queue -----------------------------------------------------------------------


@dataclass
class MemoryRatingQueue:
    """``billing.ports.RatingQueue`` over sessions put in with :meth:`put`."""

    cdrs: MemoryCdrs = field(default_factory=MemoryCdrs)
    _queue: list[CompletedSession] = field(default_factory=list)
    _queued: int = 0
    _crashes: int = 0
    # How many times record() ran to the end (a crash does not count).
    recorded: int = 0

    def put(self, *sessions: CompletedSession) -> None:
        """Queues completed sessions (oldest first) and knows their stations.
        A session still queued is replaced, as the SQL queue's upsert does:
        in its place, one revision newer."""
        for session in sessions:
            self.cdrs.stations.setdefault(session.station_id, session.charge_point_id)
            index = next((i for i, s in enumerate(self._queue) if s.id == session.id), None)
            if index is not None:
                waiting = self._queue[index]
                self._queue[index] = msgspec.structs.replace(
                    session,
                    queue_position=waiting.queue_position,
                    queue_revision=waiting.queue_revision + 1,
                )
                continue
            self._queued += 1
            self._queue.append(msgspec.structs.replace(session, queue_position=self._queued))

    def crash_before_record(self, times: int = 1) -> None:
        """The next ``times`` calls of :meth:`record` raise SimulatedCrash and
        change nothing."""
        self._crashes += times

    async def pending(self) -> int:
        return len(self._queue)

    async def next_batch(self, limit: int, *, after: int = 0) -> list[CompletedSession]:
        return [s for s in self._queue if s.queue_position > after][: max(limit, 0)]

    async def record(self, cdrs: list[CdrRecord], taken: list[CompletedSession]) -> int:
        if self._crashes:
            self._crashes -= 1
            raise SimulatedCrash("the rater stopped before recording its batch")
        self.cdrs.insert(cdrs)
        done = {(s.id, s.queue_revision) for s in taken}
        self._queue = [s for s in self._queue if (s.id, s.queue_revision) not in done]
        self.recorded += 1
        return len(cdrs)


# -- directory -----------------------------------------------------------------------------


@dataclass
class MemoryDirectory:
    """``billing.ports.Directory`` over what a test gives it."""

    entity_rows: dict[int, EntityInfo] = field(default_factory=dict)
    contact_rows: dict[int, ContactInfo] = field(default_factory=dict)
    partners: dict[int, set[int]] = field(default_factory=dict)

    def add_entity(self, entity: EntityInfo) -> int:
        self.entity_rows[entity.id] = entity
        return entity.id

    def add_contact(self, contact: ContactInfo) -> int:
        self.contact_rows[contact.id] = contact
        return contact.id

    def add_partner(self, entity_id: int, partner_entity_id: int) -> None:
        self.partners.setdefault(entity_id, set()).add(partner_entity_id)

    def tree(self) -> EntityTree:
        """The entity tree, for building principals."""
        return EntityTree({e.id: e.parent_id for e in self.entity_rows.values()})

    async def entities(self, ids: Collection[int] | None = None) -> dict[int, EntityInfo]:
        if ids is None:
            return dict(self.entity_rows)
        return {i: self.entity_rows[i] for i in ids if i in self.entity_rows}

    async def contacts(self, ids: set[int]) -> dict[int, ContactInfo]:
        return {i: self.contact_rows[i] for i in ids if i in self.contact_rows}

    async def community_partners(self) -> dict[int, set[int]]:
        return {entity: set(found) for entity, found in self.partners.items() if found}


# -- billing store --------------------------------------------------------------------------


class _NumberRange(msgspec.Struct, frozen=True):
    format: str
    last_value: int


@dataclass
class MemoryBillingStore:
    """``billing.ports.BillingStore`` (and ``supersede``) in memory."""

    cdrs: MemoryCdrs = field(default_factory=MemoryCdrs)
    _runs: dict[int, BillingRunRow] = field(default_factory=dict)
    _documents: dict[int, IssuedDocument] = field(default_factory=dict)
    # (entity, kind) -> the range: its format is the one given when it was
    # first used, as the SQL store keeps it.
    ranges: dict[tuple[int, str], _NumberRange] = field(default_factory=dict)
    _next_run: int = 0
    _next_document: int = 0

    def add_cdr(self, record: CdrRecord, *, charge_point_id: str | None = None) -> int | None:
        """Stores a CDR as the rater would (None when its session and audience
        has one already); ``charge_point_id`` names its station."""
        if charge_point_id is not None:
            self.cdrs.add_station(record.station_id, charge_point_id)
        (cdr_id,) = self.cdrs.insert([record])
        return cdr_id

    # -- reads ----------------------------------------------------------------------------

    async def unbilled_sellers(self) -> set[int]:
        return {
            row.record.seller_entity_id
            for row in self.cdrs.rows.values()
            if row.document_id is None
            and row.record.status == "rated"
            and row.record.seller_entity_id is not None
        }

    async def unbilled_cdrs(self, seller_entity_id: int, before: datetime) -> list[UnbilledCdr]:
        found = []
        for row in sorted(self.cdrs.rows.values(), key=lambda r: r.id):
            cdr = row.record
            charge_point_id = self.cdrs.stations.get(cdr.station_id)
            if (
                charge_point_id is None
                or cdr.seller_entity_id != seller_entity_id
                or row.document_id is not None
                or cdr.status != "rated"
                or not cdr.started_at < before
            ):
                continue
            found.append(
                UnbilledCdr(
                    id=row.id,
                    session_id=cdr.session_id,
                    audience=cdr.audience,
                    seller_entity_id=seller_entity_id,
                    buyer_entity_id=cdr.buyer_entity_id,
                    buyer_contact_id=cdr.buyer_contact_id,
                    charge_point_id=charge_point_id,
                    medium_uid=cdr.medium_uid,
                    started_at=cdr.started_at,
                    stopped_at=cdr.stopped_at,
                    time_zone=cdr.time_zone,
                    currency=cdr.currency,
                    detail=cdr.detail,
                )
            )
        return found

    async def run(self, run_id: int) -> BillingRunRow | None:
        return self._runs.get(run_id)

    async def runs(self, entity_ids: set[int] | None, limit: int) -> list[BillingRunRow]:
        found = [
            run
            for _, run in sorted(self._runs.items(), reverse=True)
            if entity_ids is None or run.entity_id in entity_ids
        ]
        return found[: max(limit, 0)]

    async def document(self, document_id: int) -> IssuedDocument | None:
        return self._documents.get(document_id)

    async def documents(
        self, entity_ids: set[int] | None, *, kind: str | None, run_id: int | None, limit: int
    ) -> list[IssuedDocument]:
        found = [
            document
            for _, document in sorted(self._documents.items())
            if (entity_ids is None or document.issuer_entity_id in entity_ids)
            and kind in (None, document.kind)
            and run_id in (None, document.billing_run_id)
        ]
        return found[: max(limit, 0)]

    async def contact_documents(self, contact_id: int, *, limit: int) -> list[DocumentSummary]:
        found = sorted(
            (d for d in self._documents.values() if d.recipient_contact_id == contact_id),
            key=lambda d: (d.issue_date, d.id),
            reverse=True,
        )
        return [summary_of(d) for d in found[: max(limit, 0)]]

    # -- writes ---------------------------------------------------------------------------

    async def create_run(
        self,
        *,
        entity_id: int,
        period: str,
        period_start: date,
        period_end: date,
        time_zone: str,
        summary: bytes,
        cdr_ids: list[int],
    ) -> BillingRunRow:
        self._next_run += 1
        run = BillingRunRow(
            id=self._next_run,
            entity_id=entity_id,
            period=period,
            period_start=period_start,
            period_end=period_end,
            time_zone=time_zone,
            status="draft",
            summary=summary,
            created_at=_now(),
            issued_at=None,
        )
        self._runs[run.id] = run
        for cdr_id in set(cdr_ids):
            row = self.cdrs.rows.get(cdr_id)
            if row is not None and row.document_id is None:
                self.cdrs.rows[cdr_id] = msgspec.structs.replace(row, draft_run_id=run.id)
        return run

    def _take_number(
        self,
        ranges: dict[tuple[int, str], _NumberRange],
        entity_id: int,
        kind: str,
        number_format: str,
        issue_date: date,
    ) -> str:
        """The next number of the range, counted in ``ranges`` (a staged copy)."""
        current = ranges.get((entity_id, kind)) or _NumberRange(number_format, 0)
        taken = _NumberRange(current.format, current.last_value + 1)
        ranges[(entity_id, kind)] = taken
        return render_number(taken.format, taken.last_value, issue_date)

    async def issue(
        self,
        run_id: int,
        drafts: list[DraftDocument],
        *,
        issue_date: date,
        number_formats: dict[tuple[int, str], str],
    ) -> list[IssuedDocument]:
        run = self._runs.get(run_id)
        if run is None or run.status != "draft":
            raise AlreadyBilled(f"billing run {run_id} is not a draft")
        now = _now()
        ranges = dict(self.ranges)
        rows = dict(self.cdrs.rows)
        next_document = self._next_document
        issued: list[IssuedDocument] = []
        for draft in drafts:
            number_format = number_formats.get(
                (draft.issuer_entity_id, draft.kind), DEFAULT_FORMATS[draft.kind]
            )
            number = self._take_number(
                ranges, draft.issuer_entity_id, draft.kind, number_format, issue_date
            )
            content = with_number(draft, number, issue_date)
            stored = from_json(content)
            next_document += 1
            issued_document = IssuedDocument(
                id=next_document,
                kind=draft.kind,
                number=number,
                issuer_entity_id=draft.issuer_entity_id,
                recipient_entity_id=draft.recipient_entity_id,
                recipient_contact_id=draft.recipient_contact_id,
                billing_run_id=run_id,
                refers_to_id=None,
                issue_date=issue_date,
                period_start=stored.period_start,
                period_end=stored.period_end,
                currency=draft.currency,
                total_net_e4=draft.total_net_e4,
                total_vat_e4=draft.total_vat_e4,
                total_gross_e4=draft.total_gross_e4,
                content=content,
                issued_at=now,
            )
            marked = 0
            for cdr_id in set(draft.cdr_ids):
                row = rows.get(cdr_id)
                if row is not None and row.document_id is None and row.rated_at <= run.created_at:
                    rows[cdr_id] = msgspec.structs.replace(row, document_id=issued_document.id)
                    marked += 1
            if marked != len(draft.cdr_ids):
                raise AlreadyBilled(
                    f"{len(draft.cdr_ids) - marked} of the CDRs of billing run {run_id}"
                    " were billed by another run first or rated again since the draft"
                )
            issued.append(issued_document)
        # Everything succeeded: commit.
        self.ranges = ranges
        self.cdrs.rows = rows
        self._next_document = next_document
        for document in issued:
            self._documents[document.id] = document
        self._runs[run_id] = msgspec.structs.replace(run, status="issued", issued_at=now)
        return issued

    async def create_issued_run(
        self,
        *,
        entity_id: int,
        period: str,
        period_start: date,
        period_end: date,
        time_zone: str,
        summary: bytes,
        drafts: list[DraftDocument],
        drafted_at: datetime,
        issue_date: date,
        number_formats: dict[tuple[int, str], str],
    ) -> tuple[BillingRunRow, list[IssuedDocument]]:
        # Staged like one transaction: the run and its CDRs' marks go back
        # when issuing fails (nothing awaits in between).
        runs, rows, next_run = dict(self._runs), dict(self.cdrs.rows), self._next_run
        run = await self.create_run(
            entity_id=entity_id,
            period=period,
            period_start=period_start,
            period_end=period_end,
            time_zone=time_zone,
            summary=summary,
            cdr_ids=[cdr_id for draft in drafts for cdr_id in draft.cdr_ids],
        )
        self._runs[run.id] = run = msgspec.structs.replace(run, created_at=drafted_at)
        try:
            issued = await self.issue(
                run.id, drafts, issue_date=issue_date, number_formats=number_formats
            )
        except BaseException:
            self._runs, self.cdrs.rows, self._next_run = runs, rows, next_run
            raise
        return self._runs[run.id], issued

    async def supersede(self, run_id: int) -> None:
        """Marks a draft run that can no longer be issued as superseded."""
        run = self._runs.get(run_id)
        if run is not None and run.status == "draft":
            self._runs[run_id] = msgspec.structs.replace(run, status="superseded")
        for cdr_id, row in list(self.cdrs.rows.items()):
            if row.draft_run_id == run_id and row.document_id is None:
                self.cdrs.rows[cdr_id] = msgspec.structs.replace(row, draft_run_id=None)

    async def cancel(
        self,
        document_id: int,
        build: Callable[[IssuedDocument, str, date], bytes],
        *,
        issue_date: date,
        number_format: str,
    ) -> IssuedDocument:
        original = self._documents.get(document_id)
        if original is None:
            raise LookupError(f"document {document_id} does not exist")
        if original.kind == "cancellation":
            raise ValueError("a cancellation cannot be cancelled")
        done = [d for _, d in sorted(self._documents.items()) if d.refers_to_id == document_id]
        if done:
            raise ValueError(f"document {original.number} is already cancelled by {done[0].number}")
        ranges = dict(self.ranges)
        number = self._take_number(
            ranges, original.issuer_entity_id, "cancellation", number_format, issue_date
        )
        content = build(original, number, issue_date)
        cancellation = IssuedDocument(
            id=self._next_document + 1,
            kind="cancellation",
            number=number,
            issuer_entity_id=original.issuer_entity_id,
            recipient_entity_id=original.recipient_entity_id,
            recipient_contact_id=original.recipient_contact_id,
            billing_run_id=None,
            refers_to_id=original.id,
            issue_date=issue_date,
            period_start=original.period_start,
            period_end=original.period_end,
            currency=original.currency,
            total_net_e4=-original.total_net_e4,
            total_vat_e4=-original.total_vat_e4,
            total_gross_e4=-original.total_gross_e4,
            content=bytes(content),
            issued_at=_now(),
        )
        # Everything succeeded: commit, and the cancelled document's sessions
        # are billable again.
        self.ranges = ranges
        self._next_document = cancellation.id
        self._documents[cancellation.id] = cancellation
        for cdr_id, row in list(self.cdrs.rows.items()):
            if row.document_id == document_id:
                self.cdrs.rows[cdr_id] = msgspec.structs.replace(
                    row, document_id=None, draft_run_id=None
                )
        return cancellation
