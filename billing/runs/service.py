"""Billing runs, documents and their renderings, for a principal.

A run of entity E for a period (a month in E's time zone) drafts E's
documents from E's unbilled CDRs of sessions that started before the
period's end (a session rated after its period's run is billed by the next
run). A draft changes no document and takes no number; issuing takes the
numbers and marks the CDRs billed in one transaction. Running a period
again finds nothing unbilled and issues nothing.

Permissions: ``billing:read`` to see runs and documents of the entities in
scope (documents are the issuer's: a contact shared with another entity
never shares them), ``billing:run`` to run, issue and cancel. Out of scope
reads as absent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import NamedTuple, NoReturn
from zoneinfo import ZoneInfo

import msgspec

from billing.documents.einvoice import render_cii
from billing.documents.model import cancellation_of, from_json, to_json
from billing.documents.texts import fill_document_texts
from billing.ports import (
    AlreadyBilled,
    BillingRunRow,
    BillingStore,
    ContactInfo,
    Directory,
    DraftDocument,
    EntityInfo,
    IssuedDocument,
    UnbilledCdr,
)
from billing.runs.drafting import draft_documents, parse_period, period_bounds
from billing.runs.numbering import DEFAULT_FORMATS, check_format
from crm.access import Principal
from crm.errors import InvalidInput, NotFound


class RunResult(msgspec.Struct, frozen=True, kw_only=True):
    run: BillingRunRow
    drafts: list[DraftDocument]
    issued: list[IssuedDocument]


class EveryRun(msgspec.Struct, frozen=True, kw_only=True):
    """The runs of a period for every entity: those made, and per entity
    whose run could not be issued, why."""

    results: list[RunResult]
    failed: dict[int, str]


class _Drafted(NamedTuple):
    entity: EntityInfo
    period: str
    first: date
    last: date
    drafts: list[DraftDocument]
    drafted_at: datetime


class _Summary(msgspec.Struct, frozen=True):
    drafts: list[DraftDocument]
    # False for a run issued as it was drafted: its drafts are stored
    # without their contents (the documents have them), content "{}".
    contents: bool = True


_summary_decoder = msgspec.json.Decoder(_Summary)


def number_formats(entity: EntityInfo) -> dict[str, str]:
    """The entity's format per document kind: its own where it set one that
    is valid, else the default."""
    formats = dict(DEFAULT_FORMATS)
    for kind, own in (
        ("invoice", entity.invoice_number_range),
        ("credit_note", entity.credit_note_number_range),
    ):
        if own:
            try:
                check_format(own)
            except ValueError:
                continue
            formats[kind] = own
    return formats


def local_today(time_zone: str) -> date:
    return datetime.now(UTC).astimezone(ZoneInfo(time_zone)).date()


class BillingRuns:
    """The one way to run billing and read its documents."""

    def __init__(
        self,
        store: BillingStore,
        directory: Directory,
        *,
        today: Callable[[str], date] = local_today,
    ) -> None:
        self._store = store
        self._directory = directory
        self._today = today

    async def _entity(self, entity_id: int) -> EntityInfo:
        entity = (await self._directory.entities((entity_id,))).get(entity_id)
        if entity is None:
            raise NotFound(f"entity {entity_id} does not exist")
        return entity

    async def _parties(
        self, seller: EntityInfo, cdrs: list[UnbilledCdr]
    ) -> tuple[dict[int, EntityInfo], dict[int, ContactInfo]]:
        """The entities and contacts the CDRs' documents go to (the seller
        among the entities): read for these CDRs only, not the whole
        directory, so a run costs the same among ten entities or ten
        thousand."""
        buyers = {c.buyer_entity_id for c in cdrs if c.buyer_entity_id is not None}
        entities = await self._directory.entities(buyers - {seller.id}) if buyers else {}
        entities[seller.id] = seller
        contacts = await self._directory.contacts(
            {c.buyer_contact_id for c in cdrs if c.buyer_contact_id is not None}
        )
        return entities, contacts

    async def run(
        self, principal: Principal, entity_id: int, period: str, *, preview: bool
    ) -> RunResult:
        """Drafts entity ``entity_id``'s documents for ``period`` (YYYY-MM),
        and issues them unless ``preview``."""
        if entity_id not in principal.visible("billing", "run"):
            raise NotFound(f"entity {entity_id} does not exist")
        first, last = _period(period)
        drafted = await self._draft(await self._entity(entity_id), period, first, last)
        return await self._store_run(drafted, preview=preview)

    async def run_every(self, principal: Principal, period: str, *, preview: bool) -> EveryRun:
        """Runs ``period`` for every entity you may bill that has unbilled
        CDRs: one run each, as :meth:`run` makes it. An entity none of whose
        unbilled CDRs started before its period's end gets no run.

        Pipelined: the next entity's CDRs are read and drafted while the
        run before is stored and issued (each entity's run is still its own
        transaction). An entity whose run another run got ahead of (its CDRs
        billed first) is reported in ``failed`` and the others go on."""
        visible = principal.visible("billing", "run")
        first, last = _period(period)
        sellers = sorted(s for s in await self._store.unbilled_sellers() if s in visible)
        entities = await self._directory.entities(sellers)
        results: list[RunResult] = []
        failed: dict[int, str] = {}
        # The run being stored, and its entity.
        storing: tuple[int, asyncio.Task[RunResult]] | None = None

        async def collect() -> None:
            nonlocal storing
            if storing is None:
                return
            (entity_id, task), storing = storing, None
            try:
                results.append(await task)
            except InvalidInput as error:
                failed[entity_id] = str(error)

        try:
            for seller in sellers:
                entity = entities.get(seller)
                if entity is None:
                    continue
                drafted = await self._draft(entity, period, first, last)
                await collect()
                if drafted.drafts:
                    task = asyncio.create_task(
                        self._store_run(drafted, preview=preview), name="billing-run"
                    )
                    storing = (seller, task)
            await collect()
        finally:
            if storing is not None and not storing[1].done():
                # Drafting the next entity failed, or was cancelled, while a
                # run was stored: it commits whole or not at all; wait for it
                # rather than leave it.
                await asyncio.gather(storing[1], return_exceptions=True)
        return EveryRun(results=results, failed=failed)

    async def _draft(self, entity: EntityInfo, period: str, first: date, last: date) -> _Drafted:
        _, end = period_bounds(first, last, entity.time_zone)
        # A CDR rated again after this instant is not issued from this draft.
        drafted_at = datetime.now(UTC)
        cdrs = await self._store.unbilled_cdrs(entity.id, end)
        entities, contacts = await self._parties(entity, cdrs)
        drafts = draft_documents(
            cdrs,
            seller=entity,
            entities=entities,
            contacts=contacts,
            period_start=first,
            period_end=last,
            issue_date=self._today(entity.time_zone),
        )
        return _Drafted(entity, period, first, last, drafts, drafted_at)

    async def _store_run(self, drafted: _Drafted, *, preview: bool) -> RunResult:
        entity, drafts = drafted.entity, drafted.drafts
        if preview:
            # A preview keeps its drafts' contents: they are what issuing
            # it issues.
            run = await self._store.create_run(
                entity_id=entity.id,
                period=drafted.period,
                period_start=drafted.first,
                period_end=drafted.last,
                time_zone=entity.time_zone,
                summary=msgspec.json.encode(_Summary(drafts)),
                cdr_ids=_ids(drafts),
            )
            return RunResult(run=run, drafts=drafts, issued=[])
        # Issued as drafted, in one transaction: the run keeps its drafts
        # without their contents (its documents have them).
        try:
            run, issued = await self._store.create_issued_run(
                entity_id=entity.id,
                period=drafted.period,
                period_start=drafted.first,
                period_end=drafted.last,
                time_zone=entity.time_zone,
                summary=msgspec.json.encode(_Summary(_compact(drafts), contents=False)),
                drafts=drafts,
                drafted_at=drafted.drafted_at,
                issue_date=self._today(entity.time_zone),
                number_formats={(entity.id, k): f for k, f in number_formats(entity).items()},
            )
        except AlreadyBilled as error:
            raise InvalidInput(f"{error}; nothing was issued: run the period again") from None
        return RunResult(run=run, drafts=drafts, issued=issued)

    async def issue(self, principal: Principal, run_id: int) -> RunResult:
        """Issues a drafted run: numbers, documents, CDRs billed."""
        run = await self._store.run(run_id)
        if run is None or run.entity_id not in principal.visible("billing", "run"):
            raise NotFound(f"billing run {run_id} does not exist")
        if run.status != "draft":
            raise InvalidInput(f"billing run {run_id} is {run.status}, not a draft")
        entity = await self._entity(run.entity_id)
        summary = _summary_decoder.decode(run.summary)
        drafts = summary.drafts
        if not summary.contents:
            # A run meant to be issued at once that was not (its process
            # stopped in between): drafted again from its CDRs.
            try:
                drafts = await self._redraft(run, drafts, entity)
            except AlreadyBilled as error:
                await self._supersede(run, error)
        issued = await self._issue(run, drafts, entity)
        return RunResult(run=await self._store.run(run_id) or run, drafts=drafts, issued=issued)

    async def _redraft(
        self,
        run: BillingRunRow,
        drafts: list[DraftDocument],
        entity: EntityInfo,
    ) -> list[DraftDocument]:
        ids = set(_ids(drafts))
        _, end = period_bounds(run.period_start, run.period_end, entity.time_zone)
        cdrs = [c for c in await self._store.unbilled_cdrs(run.entity_id, end) if c.id in ids]
        entities, contacts = await self._parties(entity, cdrs)
        again = draft_documents(
            cdrs,
            seller=entity,
            entities=entities,
            contacts=contacts,
            period_start=run.period_start,
            period_end=run.period_end,
            issue_date=self._today(entity.time_zone),
        )
        missing = len(ids) - len(set(_ids(again)))
        if missing:
            raise AlreadyBilled(
                f"{missing} of the CDRs of billing run {run.id} were billed by another run first"
            )
        return again

    async def _issue(
        self, run: BillingRunRow, drafts: list[DraftDocument], entity: EntityInfo
    ) -> list[IssuedDocument]:
        formats = number_formats(entity)
        try:
            return await self._store.issue(
                run.id,
                drafts,
                issue_date=self._today(entity.time_zone),
                number_formats={(entity.id, kind): f for kind, f in formats.items()},
            )
        except AlreadyBilled as error:
            await self._supersede(run, error)

    async def _supersede(self, run: BillingRunRow, error: AlreadyBilled) -> NoReturn:
        supersede = getattr(self._store, "supersede", None)
        if supersede is not None:
            await supersede(run.id)
        raise InvalidInput(f"{error}; the run is superseded: run the period again") from None

    async def cancel(self, principal: Principal, document_id: int) -> IssuedDocument:
        """Issues the cancellation of a document; its sessions can be billed
        again by the next run."""
        original = await self._store.document(document_id)
        if original is None or original.issuer_entity_id not in principal.visible("billing", "run"):
            raise NotFound(f"document {document_id} does not exist")
        entity = await self._entity(original.issuer_entity_id)
        # The issuer's cancellation texts, filled with the cancellation's
        # number and the cancelled one's ({{refers_to_number}}).
        texts = entity.branding or {}
        pre_template = str(texts.get("cancellation_pre_text") or "")
        post_template = str(texts.get("cancellation_post_text") or "")

        def build(document: IssuedDocument, number: str, issued_on: date) -> bytes:
            cancellation = cancellation_of(from_json(document.content), number, issued_on)
            return to_json(fill_document_texts(cancellation, pre_template, post_template))

        try:
            return await self._store.cancel(
                document_id,
                build,
                issue_date=self._today(entity.time_zone),
                number_format=number_formats(entity)["cancellation"],
            )
        except ValueError as error:
            raise InvalidInput(str(error)) from None

    async def runs(self, principal: Principal, limit: int = 100) -> list[BillingRunRow]:
        visible = principal.visible("billing", "read")
        ids = None if visible.entity_ids is None else set(visible.entity_ids)
        return await self._store.runs(ids, limit)

    async def get_run(self, principal: Principal, run_id: int) -> BillingRunRow:
        run = await self._store.run(run_id)
        if run is None or run.entity_id not in principal.visible("billing", "read"):
            raise NotFound(f"billing run {run_id} does not exist")
        return run

    async def documents(
        self,
        principal: Principal,
        *,
        kind: str | None = None,
        run_id: int | None = None,
        limit: int = 500,
    ) -> list[IssuedDocument]:
        visible = principal.visible("billing", "read")
        ids = None if visible.entity_ids is None else set(visible.entity_ids)
        return await self._store.documents(ids, kind=kind, run_id=run_id, limit=limit)

    async def document(self, principal: Principal, document_id: int) -> IssuedDocument:
        document = await self._store.document(document_id)
        if document is None or document.issuer_entity_id not in principal.visible(
            "billing", "read"
        ):
            raise NotFound(f"document {document_id} does not exist")
        return document

    async def pdf(self, principal: Principal, document_id: int) -> tuple[str, bytes]:
        """The document as PDF/A-3 with its Factur-X XML embedded."""
        document = await self.document(principal, document_id)
        # fpdf and factur-x take 0.3 s to import: only when a PDF is asked for,
        # not in every command and node start.
        from billing.documents.pdf import render_pdf

        return f"{document.number}.pdf", render_pdf(from_json(document.content))

    async def xml(self, principal: Principal, document_id: int) -> tuple[str, bytes]:
        """The document's EN 16931 CII XML."""
        document = await self.document(principal, document_id)
        return f"{document.number}.xml", render_cii(from_json(document.content))


def _period(period: str) -> tuple[date, date]:
    try:
        return parse_period(period)
    except ValueError as error:
        raise InvalidInput(str(error)) from None


def _compact(drafts: list[DraftDocument]) -> list[DraftDocument]:
    return [msgspec.structs.replace(draft, content=b"{}") for draft in drafts]


def _ids(drafts: list[DraftDocument]) -> list[int]:
    return [cdr_id for draft in drafts for cdr_id in draft.cdr_ids]
