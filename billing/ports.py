"""What billing reads and writes, as small interfaces of its own.

The composition root connects them to storage (``billing.storage``); unit
tests use the in-memory twins (``billing.storage.memory``). Billing reads
completed sessions, stations, entities, contacts and media through these,
never through ``csms`` or ``crm`` services.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime
from typing import Any, Protocol

import msgspec

# Audiences a session is priced for (see billing.rating.audiences).
AUDIENCES = ("emp", "customer", "sub_cpo")


class EntityInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What billing needs of an entity."""

    id: int
    parent_id: int | None
    name: str
    kind: str = "other"
    street: str = ""
    postal_code: str = ""
    city: str = ""
    country: str = ""
    vat_id: str = ""
    email: str = ""
    customer_number: str | None = None
    may_act_as_sub_emp: bool = False
    force_purchase_prices: bool = False
    time_zone: str = "UTC"
    credit_note_address: str = ""
    invoice_number_range: str = ""
    credit_note_number_range: str = ""
    invoice_reply_to: str = ""
    branding: dict[str, Any] = {}
    # The CRM contact the entity's master fields live on.
    master_contact_id: int | None = None


class ContactInfo(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    owner_entity_id: int
    name: str
    company: str = ""
    street: str = ""
    postal_code: str = ""
    city: str = ""
    country: str = ""
    vat_id: str = ""
    email: str = ""
    customer_number: str | None = None


class MeterSample(msgspec.Struct, frozen=True, kw_only=True):
    at: datetime
    measurand: str
    value: str
    unit: str = ""
    phase: str = ""
    multiplier: int = 0
    context: str = ""
    format: str = ""
    signed_data: str = ""
    signing_method: str = ""
    encoding_method: str = ""
    public_key: str = ""


class StateAt(msgspec.Struct, frozen=True, kw_only=True):
    at: datetime
    state: str


class CompletedSession(msgspec.Struct, frozen=True, kw_only=True):
    """A completed charging session as billing prices it, with the medium as
    it was at the start."""

    id: int
    station_id: int
    charge_point_id: str
    station_owner_id: int | None
    station_group_id: int | None
    time_zone: str
    connector_id: int
    id_tag: str
    started_at: datetime
    stopped_at: datetime
    meter_start_wh: int | None
    meter_stop_wh: int | None
    medium_id: int | None = None
    issuing_entity_id: int | None = None
    bill_to_contact_id: int | None = None
    meter_public_key: str = ""
    samples: tuple[MeterSample, ...] = ()
    states: tuple[StateAt, ...] = ()
    # Its place in the rating queue (ascending in queue order): a rater
    # reading the next batch while it prices this one asks for what comes
    # after it.
    queue_position: int = 0
    # Its queue row's revision when taken (see RatingQueue.record).
    queue_revision: int = 0


class CdrRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One session priced (or refused) for one audience; a row of ``cdr``."""

    session_id: int
    audience: str
    status: str  # rated or error
    error: str
    station_id: int
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
    charging_seconds: int
    parking_seconds: int
    total_net_e4: int
    total_gross_e4: int
    detail: bytes


class RatingQueue(Protocol):
    """Completed sessions waiting to be rated (the csms ``rating_queue``)."""

    async def next_batch(self, limit: int, *, after: int = 0) -> list[CompletedSession]:
        """Up to ``limit`` queued sessions, oldest first, of those queued at a
        ``queue_position`` after ``after``; taking them changes nothing, so a
        crash before :meth:`record` only means rating again."""
        ...

    async def record(self, cdrs: list[CdrRecord], taken: list[CompletedSession]) -> int:
        """In one transaction: stores the CDRs (one per session and audience;
        a second one is ignored) and removes the taken sessions' queue rows
        as they were taken. A session that completed anew since it was taken
        (its row's revision moved on) stays queued and is rated again.
        Returns the CDRs offered."""
        ...


class Directory(Protocol):
    """Entities and contacts, as billing reads them."""

    async def entities(self, ids: Collection[int] | None = None) -> dict[int, EntityInfo]:
        """Every entity, or only those of ``ids`` (an id that names none is
        left out)."""
        ...

    async def contacts(self, ids: set[int]) -> dict[int, ContactInfo]: ...

    async def community_partners(self) -> dict[int, set[int]]:
        """Per entity, the entities it names as its community partners."""
        ...


class UnbilledCdr(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    session_id: int
    audience: str
    seller_entity_id: int
    buyer_entity_id: int | None
    buyer_contact_id: int | None
    charge_point_id: str
    medium_uid: str
    started_at: datetime
    stopped_at: datetime
    time_zone: str
    currency: str
    detail: bytes


class DraftDocument(msgspec.Struct, frozen=True, kw_only=True):
    """A document a run will issue: its content without a number yet."""

    kind: str
    issuer_entity_id: int
    recipient_entity_id: int | None
    recipient_contact_id: int | None
    currency: str
    cdr_ids: tuple[int, ...]
    # billing.documents.model.Document as JSON, with number "".
    content: bytes
    total_net_e4: int
    total_vat_e4: int
    total_gross_e4: int
    # The issuer's pre- and post-text templates, filled again when the
    # document is issued (its number and issue date are known then).
    pre_template: str = ""
    post_template: str = ""


class IssuedDocument(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    kind: str
    number: str
    issuer_entity_id: int
    recipient_entity_id: int | None
    recipient_contact_id: int | None
    billing_run_id: int | None
    refers_to_id: int | None
    issue_date: date
    period_start: date
    period_end: date
    currency: str
    total_net_e4: int
    total_vat_e4: int
    total_gross_e4: int
    content: bytes
    issued_at: datetime


class DocumentSummary(msgspec.Struct, frozen=True, kw_only=True):
    """An issued document without its content (lists)."""

    id: int
    kind: str
    number: str
    issuer_entity_id: int
    recipient_contact_id: int | None
    refers_to_id: int | None
    issue_date: date
    period_start: date
    period_end: date
    currency: str
    total_net_e4: int
    total_vat_e4: int
    total_gross_e4: int


def summary_of(document: IssuedDocument) -> DocumentSummary:
    """``document`` without its content."""
    return DocumentSummary(
        id=document.id,
        kind=document.kind,
        number=document.number,
        issuer_entity_id=document.issuer_entity_id,
        recipient_contact_id=document.recipient_contact_id,
        refers_to_id=document.refers_to_id,
        issue_date=document.issue_date,
        period_start=document.period_start,
        period_end=document.period_end,
        currency=document.currency,
        total_net_e4=document.total_net_e4,
        total_vat_e4=document.total_vat_e4,
        total_gross_e4=document.total_gross_e4,
    )


class BillingRunRow(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    entity_id: int
    period: str
    period_start: date
    period_end: date
    time_zone: str
    status: str
    summary: bytes
    created_at: datetime
    issued_at: datetime | None


class BillingStore(Protocol):
    """Billing runs and documents."""

    async def unbilled_cdrs(self, seller_entity_id: int, before: datetime) -> list[UnbilledCdr]:
        """Rated CDRs the entity issues that no document has billed yet, of
        sessions that started before ``before`` (earlier periods' late
        sessions included)."""
        ...

    async def unbilled_sellers(self) -> set[int]:
        """The entities that issue rated CDRs no document has billed yet."""
        ...

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
        """Stores a draft run and marks its CDRs as drafted by it."""
        ...

    async def issue(
        self,
        run_id: int,
        drafts: list[DraftDocument],
        *,
        issue_date: date,
        number_formats: dict[tuple[int, str], str],
    ) -> list[IssuedDocument]:
        """In one transaction: takes a number per document from its issuer's
        range, stores the documents and marks their CDRs billed. Raises
        :class:`AlreadyBilled` (and changes nothing) when another run billed
        one of the CDRs first."""
        ...

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
        """A run issued as it is drafted, in one transaction: the run, a
        number per document, the documents, and their CDRs marked billed
        (and drafted by the run). Raises :class:`AlreadyBilled` (and stores
        nothing) when another run billed one of the CDRs first or one was
        rated again after ``drafted_at``."""
        ...

    async def cancel(
        self,
        document_id: int,
        build: Any,
        *,
        issue_date: date,
        number_format: str,
    ) -> IssuedDocument:
        """Issues the cancellation of a document: ``build(original, number)``
        gives its content; its CDRs become unbilled again."""
        ...

    async def run(self, run_id: int) -> BillingRunRow | None: ...

    async def runs(self, entity_ids: set[int] | None, limit: int) -> list[BillingRunRow]: ...

    async def document(self, document_id: int) -> IssuedDocument | None: ...

    async def documents(
        self, entity_ids: set[int] | None, *, kind: str | None, run_id: int | None, limit: int
    ) -> list[IssuedDocument]: ...

    async def contact_documents(self, contact_id: int, *, limit: int) -> list[DocumentSummary]:
        """The documents addressed to a contact, newest issue date first,
        without their content."""
        ...


class AlreadyBilled(Exception):
    """Another run billed some of a run's CDRs first; nothing was issued."""
