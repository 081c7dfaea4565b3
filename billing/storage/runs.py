"""Billing runs and issued documents in the database (``billing.ports.BillingStore``).

Issuing is one transaction on the group-commit driver (``csms.storage.sql``):
for each document a number is taken from the issuer's range with an atomic
``UPDATE ... RETURNING`` (PostgreSQL locks the range row until the commit,
so a concurrent run waits and then takes the next number), the document is
inserted, and its CDRs are marked billed only where no other run billed
them first. Anything amiss rolls the whole transaction back, numbers
included: a number is never skipped and never shared.

Documents are only ever inserted here; there is no update or delete path
(and the database refuses one: see the billing migrations).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import Any

import msgspec
from piccolo.engine.base import Engine

from billing.ports import (
    AlreadyBilled,
    BillingRunRow,
    DocumentSummary,
    DraftDocument,
    IssuedDocument,
    UnbilledCdr,
)
from billing.runs.drafting import IssuedContent
from billing.runs.numbering import DEFAULT_FORMATS, render_number
from billing.storage.rows import id_chunks, utc_time
from csms.storage.database import current_engine
from csms.storage.sql import SqlProgram, TransactionSql, WriteConnection

# Documents per multi-row INSERT (15 parameters each).
_ROWS_PER_INSERT = 128

_DOCUMENT_COLUMNS = (
    "id, issuer_entity, kind, number, recipient_entity, recipient_contact, billing_run,"
    " refers_to, issue_date, period_start, period_end, currency, total_net_e4,"
    " total_vat_e4, total_gross_e4, content, issued_at"
)
_RUN_COLUMNS = (
    "id, entity, period, period_start, period_end, time_zone, status, summary,"
    " created_at, issued_at"
)


def _row_chunks(rows: list[tuple[Any, ...]]) -> Iterator[list[tuple[Any, ...]]]:
    """Rows for multi-row INSERTs: up to _ROWS_PER_INSERT, smaller remainders
    in power-of-two chunks (few statement shapes for the statement caches)."""
    start = 0
    while start < len(rows):
        size = min(_ROWS_PER_INSERT, 1 << ((len(rows) - start).bit_length() - 1))
        yield rows[start : start + size]
        start += size


def _bytes(value: Any) -> bytes:
    return value.encode() if isinstance(value, str) else bytes(value)


def _date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _document(row: dict[str, Any]) -> IssuedDocument:
    return IssuedDocument(
        id=row["id"],
        kind=row["kind"],
        number=row["number"],
        issuer_entity_id=row["issuer_entity"],
        recipient_entity_id=row["recipient_entity"],
        recipient_contact_id=row["recipient_contact"],
        billing_run_id=row["billing_run"],
        refers_to_id=row["refers_to"],
        issue_date=_date(row["issue_date"]),
        period_start=_date(row["period_start"]),
        period_end=_date(row["period_end"]),
        currency=row["currency"],
        total_net_e4=row["total_net_e4"],
        total_vat_e4=row["total_vat_e4"],
        total_gross_e4=row["total_gross_e4"],
        content=_bytes(row["content"]),
        issued_at=utc_time(row["issued_at"]),
    )


def _run(row: dict[str, Any]) -> BillingRunRow:
    return BillingRunRow(
        id=row["id"],
        entity_id=row["entity"],
        period=row["period"],
        period_start=_date(row["period_start"]),
        period_end=_date(row["period_end"]),
        time_zone=row["time_zone"],
        status=row["status"],
        summary=_bytes(row["summary"]),
        created_at=utc_time(row["created_at"]),
        issued_at=utc_time(row["issued_at"]) if row["issued_at"] is not None else None,
    )


class SqlBillingStore:
    """``BillingStore`` on the product's database."""

    def __init__(self, engine: Engine | None = None) -> None:
        self._engine = engine or current_engine()
        self._sql = TransactionSql(self._engine)
        self._connection = WriteConnection(self._engine)

    async def close(self) -> None:
        await self._connection.close()

    async def _program(self, program: SqlProgram[Any]) -> Any:
        return await self._connection.run(self._sql, program)

    def _day(self, value: date) -> Any:
        return value.isoformat() if self._sql.sqlite else value

    # -- reads -------------------------------------------------------------------

    async def unbilled_cdrs(self, seller_entity_id: int, before: datetime) -> list[UnbilledCdr]:
        sql, stamp = self._sql, self._sql.timestamps()

        def program() -> SqlProgram[list[dict[str, Any]]]:
            rows = yield sql.fetch(
                "SELECT c.id, c.session, c.audience, c.seller_entity, c.buyer_entity,"
                " c.buyer_contact, s.charge_point_id, c.medium_uid, c.started_at,"
                " c.stopped_at, c.time_zone, c.currency, c.detail"
                ' FROM "cdr" c JOIN "station" s ON s.id = c.station'
                " WHERE c.seller_entity = ? AND c.document IS NULL AND c.status = 'rated'"
                " AND c.started_at < ? ORDER BY c.id",
                seller_entity_id,
                stamp(before),
            )
            return list(rows)

        return [
            UnbilledCdr(
                id=row["id"],
                session_id=row["session"],
                audience=row["audience"],
                seller_entity_id=row["seller_entity"],
                buyer_entity_id=row["buyer_entity"],
                buyer_contact_id=row["buyer_contact"],
                charge_point_id=row["charge_point_id"],
                medium_uid=row["medium_uid"],
                started_at=utc_time(row["started_at"]),
                stopped_at=utc_time(row["stopped_at"]),
                time_zone=row["time_zone"],
                currency=row["currency"],
                detail=_bytes(row["detail"]),
            )
            for row in await self._connection.read(self._sql, program())
        ]

    async def unbilled_sellers(self) -> set[int]:
        sql = self._sql

        def program() -> SqlProgram[list[Any]]:
            rows = yield sql.fetch(
                'SELECT DISTINCT seller_entity FROM "cdr"'
                " WHERE document IS NULL AND status = 'rated' AND seller_entity IS NOT NULL"
            )
            return list(rows)

        return {row["seller_entity"] for row in await self._connection.read(sql, program())}

    async def run(self, run_id: int) -> BillingRunRow | None:
        sql = self._sql

        def program() -> SqlProgram[list[dict[str, Any]]]:
            rows = yield sql.fetch(f'SELECT {_RUN_COLUMNS} FROM "billing_run" WHERE id = ?', run_id)
            return list(rows)

        rows = await self._program(program())
        return _run(rows[0]) if rows else None

    async def runs(self, entity_ids: set[int] | None, limit: int) -> list[BillingRunRow]:
        sql = self._sql

        def program() -> SqlProgram[list[dict[str, Any]]]:
            if entity_ids is None:
                rows = yield sql.fetch(
                    f'SELECT {_RUN_COLUMNS} FROM "billing_run" ORDER BY id DESC LIMIT ?', limit
                )
            elif not entity_ids:
                return []
            else:
                ids = sorted(entity_ids)
                rows = yield sql.fetch(
                    f'SELECT {_RUN_COLUMNS} FROM "billing_run" WHERE entity IN {sql.in_list(ids)}'
                    " ORDER BY id DESC LIMIT ?",
                    *ids,
                    limit,
                )
            return list(rows)

        return [_run(row) for row in await self._program(program())]

    async def document(self, document_id: int) -> IssuedDocument | None:
        sql = self._sql

        def program() -> SqlProgram[list[dict[str, Any]]]:
            rows = yield sql.fetch(
                f'SELECT {_DOCUMENT_COLUMNS} FROM "billing_document" WHERE id = ?', document_id
            )
            return list(rows)

        rows = await self._program(program())
        return _document(rows[0]) if rows else None

    async def documents(
        self, entity_ids: set[int] | None, *, kind: str | None, run_id: int | None, limit: int
    ) -> list[IssuedDocument]:
        sql = self._sql
        where: list[str] = ["1 = 1"]
        args: list[Any] = []
        if entity_ids is not None:
            if not entity_ids:
                return []
            ids = sorted(entity_ids)
            where.append(f"issuer_entity IN {sql.in_list(ids)}")
            args += ids
        if kind is not None:
            where.append("kind = ?")
            args.append(kind)
        if run_id is not None:
            where.append("billing_run = ?")
            args.append(run_id)

        def program() -> SqlProgram[list[dict[str, Any]]]:
            rows = yield sql.fetch(
                f'SELECT {_DOCUMENT_COLUMNS} FROM "billing_document" WHERE {" AND ".join(where)}'
                " ORDER BY id LIMIT ?",
                *args,
                limit,
            )
            return list(rows)

        return [_document(row) for row in await self._program(program())]

    async def contact_documents(self, contact_id: int, *, limit: int) -> list[DocumentSummary]:
        sql = self._sql

        def program() -> SqlProgram[list[dict[str, Any]]]:
            rows = yield sql.fetch(
                "SELECT id, kind, number, issuer_entity, recipient_contact, refers_to,"
                " issue_date, period_start, period_end, currency, total_net_e4, total_vat_e4,"
                ' total_gross_e4 FROM "billing_document" WHERE recipient_contact = ?'
                " ORDER BY issue_date DESC, id DESC LIMIT ?",
                contact_id,
                limit,
            )
            return list(rows)

        return [
            DocumentSummary(
                id=row["id"],
                kind=row["kind"],
                number=row["number"],
                issuer_entity_id=row["issuer_entity"],
                recipient_contact_id=row["recipient_contact"],
                refers_to_id=row["refers_to"],
                issue_date=_date(row["issue_date"]),
                period_start=_date(row["period_start"]),
                period_end=_date(row["period_end"]),
                currency=row["currency"],
                total_net_e4=row["total_net_e4"],
                total_vat_e4=row["total_vat_e4"],
                total_gross_e4=row["total_gross_e4"],
            )
            for row in await self._program(program())
        ]

    # -- writes ------------------------------------------------------------------

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
        sql, stamp = self._sql, self._sql.timestamps()
        now = stamp(datetime.now(UTC))

        def program() -> SqlProgram[BillingRunRow]:
            run = yield from self._insert_run(
                entity_id, period, period_start, period_end, time_zone, summary,
                created_at=now, issued_at=None,
            )  # fmt: skip
            for chunk in id_chunks(cdr_ids):
                yield sql.execute(
                    f'UPDATE "cdr" SET draft_run = ? WHERE id IN {sql.in_list(chunk)}'
                    " AND document IS NULL",
                    run.id,
                    *chunk,
                )
            return run

        result: BillingRunRow = await self._program(program())
        return result

    def _take_number(
        self, entity_id: int, kind: str, number_format: str, issue_date: date, now: Any
    ) -> SqlProgram[str]:
        sql = self._sql
        yield sql.execute(
            'INSERT INTO "number_range" (entity, kind, format, last_value, updated_at)'
            " VALUES (?, ?, ?, 0, ?) ON CONFLICT (entity, kind) DO NOTHING",
            entity_id,
            kind,
            number_format,
            now,
        )
        rows = yield sql.fetch(
            'UPDATE "number_range" SET last_value = last_value + 1, updated_at = ?'
            " WHERE entity = ? AND kind = ? RETURNING last_value, format",
            now,
            entity_id,
            kind,
        )
        return render_number(rows[0]["format"], int(rows[0]["last_value"]), issue_date)

    def _take_numbers(
        self, entity_id: int, kind: str, count: int, number_format: str, now: Any
    ) -> SqlProgram[tuple[str, int]]:
        """Takes the next ``count`` numbers of the range at once: its format
        and the first sequence number taken."""
        sql = self._sql
        yield sql.execute(
            'INSERT INTO "number_range" (entity, kind, format, last_value, updated_at)'
            " VALUES (?, ?, ?, 0, ?) ON CONFLICT (entity, kind) DO NOTHING",
            entity_id,
            kind,
            number_format,
            now,
        )
        rows = yield sql.fetch(
            'UPDATE "number_range" SET last_value = last_value + ?, updated_at = ?'
            " WHERE entity = ? AND kind = ? RETURNING last_value, format",
            count,
            now,
            entity_id,
            kind,
        )
        return rows[0]["format"], int(rows[0]["last_value"]) - count + 1

    def _mark_billed(
        self,
        documents: list[tuple[int, tuple[int, ...]]],
        drafted_at: Any,
        *,
        draft_run: int | None = None,
    ) -> SqlProgram[int]:
        """Marks each document's CDRs billed by it where no other document
        bills them and they were not rated again since the draft, and
        drafted by ``draft_run`` when one is given; returns how many were
        marked."""
        sql = self._sql
        also = [] if draft_run is None else [draft_run]
        and_run = "" if draft_run is None else ", draft_run = ?"
        if self._sql.sqlite:
            # (A CDR listed twice is marked once: the count tells.)
            billed = {cdr_id: document_id for document_id, ids in documents for cdr_id in ids}
            yield sql.execute(
                f'UPDATE "cdr" SET document = j.value{and_run} FROM json_each(?) AS j'
                ' WHERE "cdr".id = j.key AND +"cdr".document IS NULL AND "cdr".rated_at <= ?',
                *also,
                msgspec.json.encode(billed).decode(),
                drafted_at,
            )
            rows = yield sql.fetch("SELECT changes() AS n")
            return int(rows[0]["n"])
        cdr_ids = [cdr_id for _, ids in documents for cdr_id in ids]
        document_ids = [document_id for document_id, ids in documents for _ in ids]
        rows = yield sql.fetch(
            f'WITH marked AS (UPDATE "cdr" c SET document = v.document{and_run}'
            " FROM unnest(?::bigint[], ?::bigint[]) AS v(id, document)"
            " WHERE c.id = v.id AND c.document IS NULL AND c.rated_at <= ? RETURNING 1)"
            " SELECT count(*) AS n FROM marked",
            *also,
            cdr_ids,
            document_ids,
            drafted_at,
        )
        return int(rows[0]["n"])

    async def issue(
        self,
        run_id: int,
        drafts: list[DraftDocument],
        *,
        issue_date: date,
        number_formats: dict[tuple[int, str], str],
    ) -> list[IssuedDocument]:
        sql, stamp = self._sql, self._sql.timestamps()
        issued_at = datetime.now(UTC)
        now = stamp(issued_at)
        # The contents but for their numbers, made here rather than in the
        # transaction (on SQLite: the writer thread).
        contents = [IssuedContent(draft, issue_date) for draft in drafts]

        def program() -> SqlProgram[list[IssuedDocument]]:
            rows = yield sql.fetch(
                'SELECT status, created_at FROM "billing_run" WHERE id = ?', run_id
            )
            if not rows or rows[0]["status"] != "draft":
                raise AlreadyBilled(f"billing run {run_id} is not a draft")
            issued = yield from self._issuing(
                run_id,
                drafts,
                contents,
                issue_date=issue_date,
                number_formats=number_formats,
                issued_at=issued_at,
                drafted_at=rows[0]["created_at"],
                now=now,
                mark_run=False,
            )
            yield sql.execute(
                "UPDATE \"billing_run\" SET status = 'issued', issued_at = ? WHERE id = ?",
                now,
                run_id,
            )
            return issued

        result: list[IssuedDocument] = await self._program(program())
        return result

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
        stamp = self._sql.timestamps()
        issued_at = datetime.now(UTC)
        now = stamp(issued_at)
        contents = [IssuedContent(draft, issue_date) for draft in drafts]

        def program() -> SqlProgram[tuple[BillingRunRow, list[IssuedDocument]]]:
            run = yield from self._insert_run(
                entity_id, period, period_start, period_end, time_zone, summary,
                created_at=stamp(drafted_at), issued_at=now,
            )  # fmt: skip
            issued = yield from self._issuing(
                run.id,
                drafts,
                contents,
                issue_date=issue_date,
                number_formats=number_formats,
                issued_at=issued_at,
                drafted_at=stamp(drafted_at),
                now=now,
                mark_run=True,
            )
            return run, issued

        result: tuple[BillingRunRow, list[IssuedDocument]] = await self._program(program())
        return result

    def _insert_run(
        self,
        entity_id: int,
        period: str,
        period_start: date,
        period_end: date,
        time_zone: str,
        summary: bytes,
        *,
        created_at: Any,
        issued_at: Any,
    ) -> SqlProgram[BillingRunRow]:
        """A new run: a draft, or issued (``issued_at`` set) in the caller's
        transaction."""
        rows = yield self._sql.fetch(
            'INSERT INTO "billing_run" (entity, period, period_start, period_end, time_zone,'
            " status, summary, created_at, issued_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            f" RETURNING {_RUN_COLUMNS}",
            entity_id,
            period,
            self._day(period_start),
            self._day(period_end),
            time_zone,
            "draft" if issued_at is None else "issued",
            summary.decode(),
            created_at,
            issued_at,
        )
        return _run(rows[0])

    def _issuing(
        self,
        run_id: int,
        drafts: list[DraftDocument],
        contents: list[IssuedContent],
        *,
        issue_date: date,
        number_formats: dict[tuple[int, str], str],
        issued_at: datetime,
        drafted_at: Any,
        now: Any,
        mark_run: bool,
    ) -> SqlProgram[list[IssuedDocument]]:
        """Numbers, documents and billed CDRs of a run's drafts, in the
        caller's transaction; ``mark_run`` also marks the CDRs drafted by
        the run (a run issued as it was drafted never marked them)."""
        sql, day = self._sql, self._day
        # The drafts of each range, in order: they take its next numbers.
        ranges: dict[tuple[int, str], list[int]] = {}
        for index, draft in enumerate(drafts):
            ranges.setdefault((draft.issuer_entity_id, draft.kind), []).append(index)
        numbers = [""] * len(drafts)
        for (entity_id, kind), indices in ranges.items():
            number_format = number_formats.get((entity_id, kind), DEFAULT_FORMATS[kind])
            stored_format, first = yield from self._take_numbers(
                entity_id, kind, len(indices), number_format, now
            )
            for sequence, index in enumerate(indices, start=first):
                numbers[index] = render_number(stored_format, sequence, issue_date)
        filled = [
            content.with_number(number) for content, number in zip(contents, numbers, strict=True)
        ]
        values = []
        for draft, number, content, text in zip(drafts, numbers, contents, filled, strict=True):
            values.append(
                (
                    draft.issuer_entity_id,
                    draft.kind,
                    number,
                    draft.recipient_entity_id,
                    draft.recipient_contact_id,
                    run_id,
                    day(issue_date),
                    day(content.period_start),
                    day(content.period_end),
                    draft.currency,
                    draft.total_net_e4,
                    draft.total_vat_e4,
                    draft.total_gross_e4,
                    text.decode(),
                    now,
                )
            )
        ids: dict[tuple[int, str, str], int] = {}
        for chunk in _row_chunks(values):
            inserted = yield sql.fetch(
                'INSERT INTO "billing_document" (issuer_entity, kind, number,'
                " recipient_entity, recipient_contact, billing_run, refers_to, issue_date,"
                " period_start, period_end, currency, total_net_e4, total_vat_e4,"
                " total_gross_e4, content, issued_at) VALUES "
                + ", ".join(["(?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?)"] * len(chunk))
                + " RETURNING id, issuer_entity, kind, number",
                *[value for row in chunk for value in row],
            )
            for row in inserted:
                ids[(row["issuer_entity"], row["kind"], row["number"])] = row["id"]
        issued = [
            IssuedDocument(
                id=ids[(draft.issuer_entity_id, draft.kind, number)],
                kind=draft.kind,
                number=number,
                issuer_entity_id=draft.issuer_entity_id,
                recipient_entity_id=draft.recipient_entity_id,
                recipient_contact_id=draft.recipient_contact_id,
                billing_run_id=run_id,
                refers_to_id=None,
                issue_date=issue_date,
                period_start=content.period_start,
                period_end=content.period_end,
                currency=draft.currency,
                total_net_e4=draft.total_net_e4,
                total_vat_e4=draft.total_vat_e4,
                total_gross_e4=draft.total_gross_e4,
                content=text,
                issued_at=issued_at,
            )
            for draft, number, content, text in zip(drafts, numbers, contents, filled, strict=True)
        ]
        expected = sum(len(draft.cdr_ids) for draft in drafts)
        marked = yield from self._mark_billed(
            [(document.id, draft.cdr_ids) for document, draft in zip(issued, drafts, strict=True)],
            drafted_at,
            draft_run=run_id if mark_run else None,
        )
        if marked != expected:
            raise AlreadyBilled(
                f"{expected - marked} of the CDRs of billing run {run_id}"
                " were billed by another run first or rated again since the draft"
            )
        return issued

    async def supersede(self, run_id: int) -> None:
        """Marks a draft run that can no longer be issued as superseded."""
        sql = self._sql

        def program() -> SqlProgram[None]:
            yield sql.execute(
                "UPDATE \"billing_run\" SET status = 'superseded' WHERE id = ?"
                " AND status = 'draft'",
                run_id,
            )
            yield sql.execute(
                'UPDATE "cdr" SET draft_run = NULL WHERE draft_run = ? AND document IS NULL',
                run_id,
            )

        await self._program(program())

    async def cancel(
        self,
        document_id: int,
        build: Callable[[IssuedDocument, str, date], bytes],
        *,
        issue_date: date,
        number_format: str,
    ) -> IssuedDocument:
        sql, stamp = self._sql, self._sql.timestamps()
        now = stamp(datetime.now(UTC))
        day = self._day

        def program() -> SqlProgram[IssuedDocument]:
            rows = yield sql.fetch(
                f'SELECT {_DOCUMENT_COLUMNS} FROM "billing_document" WHERE id = ?', document_id
            )
            if not rows:
                raise LookupError(f"document {document_id} does not exist")
            original = _document(rows[0])
            if original.kind == "cancellation":
                raise ValueError("a cancellation cannot be cancelled")
            done = yield sql.fetch(
                'SELECT number FROM "billing_document" WHERE refers_to = ?', document_id
            )
            if done:
                raise ValueError(
                    f"document {original.number} is already cancelled by {done[0]['number']}"
                )
            number = yield from self._take_number(
                original.issuer_entity_id, "cancellation", number_format, issue_date, now
            )
            content = build(original, number, issue_date)
            rows = yield sql.fetch(
                'INSERT INTO "billing_document" (issuer_entity, kind, number, recipient_entity,'
                " recipient_contact, billing_run, refers_to, issue_date, period_start,"
                " period_end, currency, total_net_e4, total_vat_e4, total_gross_e4, content,"
                " issued_at) VALUES (?, 'cancellation', ?, ?, ?, NULL, ?, ?, ?, ?, ?, ?, ?, ?,"
                f" ?, ?) RETURNING {_DOCUMENT_COLUMNS}",
                original.issuer_entity_id,
                number,
                original.recipient_entity_id,
                original.recipient_contact_id,
                original.id,
                day(issue_date),
                day(original.period_start),
                day(original.period_end),
                original.currency,
                -original.total_net_e4,
                -original.total_vat_e4,
                -original.total_gross_e4,
                content.decode(),
                now,
            )
            # The cancelled document's sessions are billable again.
            yield sql.execute(
                'UPDATE "cdr" SET document = NULL, draft_run = NULL WHERE document = ?',
                document_id,
            )
            return _document(rows[0])

        result: IssuedDocument = await self._program(program())
        return result
