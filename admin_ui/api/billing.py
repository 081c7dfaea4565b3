"""Billing through the operators' API: CDRs, where each session stands,
billing runs, issued documents (invoices, credit notes, cancellations) with
their PDF and XML, and the billing reports.

Thin controllers over :class:`billing.services.cdrs.CdrService`,
:class:`billing.runs.service.BillingRuns` and
:class:`billing.services.reports.ReportService`. Permission resource
``billing``: ``read`` to see CDRs, runs, documents and reports, ``run`` to
run, issue and cancel. Without the permission at all the answer is 403;
a row outside your scope is 404, like one that does not exist. Documents
are the issuer's: a contact shared with your entity never shows another
entity's invoice to it.

Documents are immutable: there is no PUT, PATCH or DELETE (405); a wrong
document is corrected by ``POST /billing-documents/{id}/cancel``, which
issues a cancellation with its own number. (Billing documents live under
``/billing-documents``: ``/documents`` are the CRM's contact files.)

An entity with "force purchase prices" set sees, while it is the active
entity, only the CDRs it is the buyer of, on the CDR list and detail, a
session's billing status and the reports (JSON and CSV).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

import msgspec
from litestar import Controller, Response, Router, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import JSONBody, QueryParameter
from litestar.status_codes import HTTP_201_CREATED

from admin_ui.api.common import (
    MAX_BIG_ID,
    MAX_ID,
    BigId,
    Id,
    Page,
    PageParams,
    provide_page,
    provide_principal,
)
from admin_ui.api.context import ApiContext
from admin_ui.api.errors import EXCEPTION_HANDLERS
from billing.ports import BillingRunRow, DraftDocument, IssuedDocument
from billing.runs.service import BillingRuns, RunResult
from billing.services.cdrs import CdrDetail, CdrFilter, CdrService, CdrSummary, SessionBilling
from billing.services.reports import BillingReport, ReportService, report_csv
from crm.access import Principal
from crm.errors import InvalidInput

# Runs and documents listed at most (newest runs, documents in order).
LIST_CAP = 10_000
_PERIOD = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
_E4 = Decimal("10000")
_CENT = Decimal("0.01")


def _money(e4: int) -> Decimal:
    return (Decimal(e4) / _E4).quantize(_CENT)


# -- answers --------------------------------------------------------------------------------


class DraftView(msgspec.Struct, frozen=True, kw_only=True):
    """A document a run will issue (no number yet) and its content."""

    kind: str
    issuer_entity_id: int
    recipient_entity_id: int | None
    recipient_contact_id: int | None
    recipient_name: str
    currency: str
    cdr_ids: list[int]
    total_net: Decimal
    total_vat: Decimal
    total_gross: Decimal
    document: dict[str, Any]


class DocumentView(msgspec.Struct, frozen=True, kw_only=True):
    """An issued document's metadata; amounts rounded to the currency."""

    id: int
    kind: str
    number: str
    issuer_entity_id: int
    recipient_entity_id: int | None
    recipient_contact_id: int | None
    recipient_name: str
    billing_run_id: int | None
    refers_to_id: int | None
    issue_date: date
    period_start: date
    period_end: date
    currency: str
    total_net: Decimal
    total_vat: Decimal
    total_gross: Decimal
    issued_at: datetime


class DocumentDetail(DocumentView, frozen=True, kw_only=True):
    """The metadata and the document itself: issuer and recipient, lines,
    VAT breakdown per rate, totals, texts; what the PDF and XML render."""

    content: dict[str, Any]


class RunView(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    entity_id: int
    period: str
    period_start: date
    period_end: date
    time_zone: str
    # draft, issued or superseded
    status: str
    created_at: datetime
    issued_at: datetime | None


class RunDetail(RunView, frozen=True, kw_only=True):
    """A run with the documents it drafted (and, issued, their numbers in
    ``documents``)."""

    drafts: list[DraftView]
    documents: list[DocumentView] = []


class RunCreate(msgspec.Struct, frozen=True, kw_only=True):
    """Bill ``entity_id``'s month ``period`` (YYYY-MM, the entity's time
    zone); ``preview``: only draft, issue later."""

    entity_id: int
    period: str
    preview: bool = False


class _Summary(msgspec.Struct, frozen=True):
    drafts: list[DraftDocument] = []


def _content(data: bytes) -> dict[str, Any]:
    decoded = msgspec.json.decode(data)
    return decoded if isinstance(decoded, dict) else {}


def _recipient_name(content: dict[str, Any]) -> str:
    recipient = content.get("recipient")
    return str(recipient.get("name", "")) if isinstance(recipient, dict) else ""


def draft_view(draft: DraftDocument) -> DraftView:
    content = _content(draft.content)
    return DraftView(
        kind=draft.kind,
        issuer_entity_id=draft.issuer_entity_id,
        recipient_entity_id=draft.recipient_entity_id,
        recipient_contact_id=draft.recipient_contact_id,
        recipient_name=_recipient_name(content),
        currency=draft.currency,
        cdr_ids=list(draft.cdr_ids),
        total_net=_money(draft.total_net_e4),
        total_vat=_money(draft.total_vat_e4),
        total_gross=_money(draft.total_gross_e4),
        document=content,
    )


def _document_fields(document: IssuedDocument, content: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": document.id,
        "kind": document.kind,
        "number": document.number,
        "issuer_entity_id": document.issuer_entity_id,
        "recipient_entity_id": document.recipient_entity_id,
        "recipient_contact_id": document.recipient_contact_id,
        "recipient_name": _recipient_name(content),
        "billing_run_id": document.billing_run_id,
        "refers_to_id": document.refers_to_id,
        "issue_date": document.issue_date,
        "period_start": document.period_start,
        "period_end": document.period_end,
        "currency": document.currency,
        "total_net": _money(document.total_net_e4),
        "total_vat": _money(document.total_vat_e4),
        "total_gross": _money(document.total_gross_e4),
        "issued_at": document.issued_at,
    }


def document_view(document: IssuedDocument) -> DocumentView:
    return DocumentView(**_document_fields(document, _content(document.content)))


def document_detail(document: IssuedDocument) -> DocumentDetail:
    content = _content(document.content)
    return DocumentDetail(**_document_fields(document, content), content=content)


def _run_fields(run: BillingRunRow) -> dict[str, Any]:
    return {
        "id": run.id,
        "entity_id": run.entity_id,
        "period": run.period,
        "period_start": run.period_start,
        "period_end": run.period_end,
        "time_zone": run.time_zone,
        "status": run.status,
        "created_at": run.created_at,
        "issued_at": run.issued_at,
    }


def run_view(run: BillingRunRow) -> RunView:
    return RunView(**_run_fields(run))


def run_detail(
    run: BillingRunRow, drafts: list[DraftDocument], documents: list[IssuedDocument]
) -> RunDetail:
    return RunDetail(
        **_run_fields(run),
        drafts=[draft_view(d) for d in drafts],
        documents=[document_view(d) for d in documents],
    )


def result_detail(result: RunResult) -> RunDetail:
    return run_detail(result.run, result.drafts, result.issued)


def _drafts_of(run: BillingRunRow) -> list[DraftDocument]:
    try:
        return msgspec.json.decode(run.summary or b"{}", type=_Summary).drafts
    except msgspec.DecodeError:
        return []


def check_period(period: str) -> str:
    text = period.strip()
    if not _PERIOD.fullmatch(text):
        raise InvalidInput(f"period: {period!r} is not a month written YYYY-MM")
    return text


# -- dependencies ---------------------------------------------------------------------------


class BillingServices:
    """The billing services one app uses; the runs come from the context
    (the composition root's) or are made on first use."""

    def __init__(self, context: ApiContext) -> None:
        self._context = context
        store = context.ports.cdrs
        self.cdrs = CdrService(store)
        self.reports = ReportService(store)

    @property
    def runs(self) -> BillingRuns:
        return self._context.billing_runs()


# -- controllers ----------------------------------------------------------------------------

AUDIENCE = Annotated[str | None, QueryParameter(description="emp, customer or sub_cpo")]
ZONED = "with a zone: 2026-11-24T12:00:00Z"


class CdrController(Controller):
    path = "/cdrs"
    tags = ["billing"]

    @get("/")
    async def list_cdrs(
        self,
        principal: NamedDependency[Principal],
        billing: NamedDependency[BillingServices],
        page: NamedDependency[PageParams],
        session_id: Annotated[
            int | None, QueryParameter(ge=1, le=MAX_ID, description="of this session")
        ] = None,
        station_id: Annotated[
            int | None, QueryParameter(ge=1, le=MAX_ID, description="at this station")
        ] = None,
        audience: AUDIENCE = None,
        status: Annotated[str | None, QueryParameter(description="rated or error")] = None,
        billed: Annotated[
            bool | None, QueryParameter(description="true: billed by a document; false: not")
        ] = None,
        started_after: Annotated[
            datetime | None, QueryParameter(description=f"started at or after, {ZONED}")
        ] = None,
        started_before: Annotated[
            datetime | None, QueryParameter(description=f"started before, {ZONED}")
        ] = None,
    ) -> Page[CdrSummary]:
        """CDRs whose seller or buyer you may see (with force purchase prices:
        those you are the buyer of), newest first."""
        filters = CdrFilter(
            session_id=session_id,
            station_id=station_id,
            audience=audience,
            status=status,
            billed=billed,
            started_after=started_after,
            started_before=started_before,
        )
        items, total = await billing.cdrs.list_cdrs(
            principal, filters, limit=page.limit, offset=page.offset
        )
        return Page(items=items, total=total, limit=page.limit, offset=page.offset)

    @get("/{cdr_id:int}")
    async def get_cdr(
        self,
        cdr_id: BigId,
        principal: NamedDependency[Principal],
        billing: NamedDependency[BillingServices],
    ) -> CdrDetail:
        """One CDR with its OCPI charging periods, totals, supplied lines and
        signed meter values with their verification (404 out of scope)."""
        return await billing.cdrs.get_cdr(principal, cdr_id)


class SessionBillingController(Controller):
    path = "/sessions/{session_id:int}/billing"
    tags = ["billing", "sessions"]

    @get("/")
    async def session_billing(
        self,
        session_id: Id,
        principal: NamedDependency[Principal],
        billing: NamedDependency[BillingServices],
    ) -> SessionBilling:
        """Where a session stands: not_rated (active or queued), or per
        audience rated, in_draft, billed (document id and number) or error
        (the reason). Seen exactly when the session is."""
        return await billing.cdrs.session_billing(principal, session_id)


class BillingRunController(Controller):
    path = "/billing-runs"
    tags = ["billing"]

    @post("/", status_code=HTTP_201_CREATED)
    async def create_run(
        self,
        data: JSONBody[RunCreate],
        principal: NamedDependency[Principal],
        billing: NamedDependency[BillingServices],
    ) -> RunDetail:
        """Bill an entity's month: drafts its documents from its unbilled
        CDRs and issues them (numbers taken) unless ``preview``. Running a
        period again bills nothing twice."""
        principal.require("billing", "run")
        period = check_period(data.period)
        result = await billing.runs.run(principal, data.entity_id, period, preview=data.preview)
        return result_detail(result)

    @get("/")
    async def list_runs(
        self,
        principal: NamedDependency[Principal],
        billing: NamedDependency[BillingServices],
        page: NamedDependency[PageParams],
    ) -> Page[RunView]:
        """Billing runs of the entities you may see, newest first."""
        principal.require("billing", "read")
        runs = await billing.runs.runs(principal, LIST_CAP)
        items = [run_view(r) for r in runs[page.offset : page.offset + page.limit]]
        return Page(items=items, total=len(runs), limit=page.limit, offset=page.offset)

    @get("/{run_id:int}")
    async def get_run(
        self,
        run_id: BigId,
        principal: NamedDependency[Principal],
        billing: NamedDependency[BillingServices],
    ) -> RunDetail:
        """One run with the documents it drafted and those it issued."""
        principal.require("billing", "read")
        run = await billing.runs.get_run(principal, run_id)
        documents = await billing.runs.documents(principal, run_id=run_id, limit=LIST_CAP)
        return run_detail(run, _drafts_of(run), documents)

    @post("/{run_id:int}/issue", status_code=HTTP_201_CREATED)
    async def issue_run(
        self,
        run_id: BigId,
        principal: NamedDependency[Principal],
        billing: NamedDependency[BillingServices],
    ) -> RunDetail:
        """Issue a drafted run: numbers from each issuer's range, documents
        stored, CDRs billed, in one transaction."""
        principal.require("billing", "run")
        return result_detail(await billing.runs.issue(principal, run_id))


class BillingDocumentController(Controller):
    path = "/billing-documents"
    tags = ["billing"]

    @get("/")
    async def list_documents(
        self,
        principal: NamedDependency[Principal],
        billing: NamedDependency[BillingServices],
        page: NamedDependency[PageParams],
        kind: Annotated[
            str | None, QueryParameter(description="invoice, credit_note or cancellation")
        ] = None,
        run_id: Annotated[
            int | None, QueryParameter(ge=1, le=MAX_BIG_ID, description="issued by this run")
        ] = None,
    ) -> Page[DocumentView]:
        """Documents issued by the entities you may see, in issue order."""
        principal.require("billing", "read")
        if kind is not None and kind not in ("invoice", "credit_note", "cancellation"):
            raise InvalidInput(f"kind is one of invoice, credit_note, cancellation, not {kind!r}")
        documents = await billing.runs.documents(
            principal, kind=kind, run_id=run_id, limit=LIST_CAP
        )
        items = [document_view(d) for d in documents[page.offset : page.offset + page.limit]]
        return Page(items=items, total=len(documents), limit=page.limit, offset=page.offset)

    @get("/{document_id:int}")
    async def get_document(
        self,
        document_id: BigId,
        principal: NamedDependency[Principal],
        billing: NamedDependency[BillingServices],
    ) -> DocumentDetail:
        """One document: metadata and content (parties, lines, VAT per rate,
        totals)."""
        principal.require("billing", "read")
        return document_detail(await billing.runs.document(principal, document_id))

    @get("/{document_id:int}/pdf", media_type="application/pdf")
    async def document_pdf(
        self,
        document_id: BigId,
        principal: NamedDependency[Principal],
        billing: NamedDependency[BillingServices],
    ) -> Response[bytes]:
        """The document as PDF/A-3 with its Factur-X XML embedded."""
        principal.require("billing", "read")
        name, data = await billing.runs.pdf(principal, document_id)
        return _download(data, "application/pdf", name)

    @get("/{document_id:int}/xml", media_type="application/xml")
    async def document_xml(
        self,
        document_id: BigId,
        principal: NamedDependency[Principal],
        billing: NamedDependency[BillingServices],
    ) -> Response[bytes]:
        """The document's EN 16931 (Factur-X / ZUGFeRD CII) XML."""
        principal.require("billing", "read")
        name, data = await billing.runs.xml(principal, document_id)
        return _download(data, "application/xml", name)

    @post("/{document_id:int}/cancel", status_code=HTTP_201_CREATED)
    async def cancel_document(
        self,
        document_id: BigId,
        principal: NamedDependency[Principal],
        billing: NamedDependency[BillingServices],
    ) -> DocumentDetail:
        """Issue the cancellation of a document (its own number, referring to
        the original); the original's sessions are billed again by the next
        run."""
        principal.require("billing", "run")
        return document_detail(await billing.runs.cancel(principal, document_id))


def _download(data: bytes, media_type: str, name: str) -> Response[bytes]:
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name) or "document"
    return Response(
        data,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{safe}"'},
    )


GROUP_BY = Annotated[str, QueryParameter(description="entity, station or month")]
FROM = Annotated[
    str | None, QueryParameter(name="from", description="first month, YYYY-MM (inclusive)")
]
TO = Annotated[str | None, QueryParameter(name="to", description="last month, YYYY-MM")]


class ReportController(Controller):
    path = "/reports"
    tags = ["billing", "reports"]

    @get("/billing")
    async def billing_report(
        self,
        principal: NamedDependency[Principal],
        billing: NamedDependency[BillingServices],
        group_by: GROUP_BY = "entity",
        from_period: FROM = None,
        to_period: TO = None,
        audience: AUDIENCE = None,
    ) -> BillingReport:
        """Revenue (net and gross, per audience), energy (kWh) and sessions
        per entity (the seller), station or local month, for the entities
        you may see, with totals across them per currency."""
        return await billing.reports.billing_report(
            principal,
            group_by=group_by,
            from_period=from_period,
            to_period=to_period,
            audience=audience,
        )

    @get("/billing.csv", media_type="text/csv")
    async def billing_report_csv(
        self,
        principal: NamedDependency[Principal],
        billing: NamedDependency[BillingServices],
        group_by: GROUP_BY = "entity",
        from_period: FROM = None,
        to_period: TO = None,
        audience: AUDIENCE = None,
    ) -> Response[str]:
        """The report as CSV, the totals as the last lines (group "total")."""
        report = await billing.reports.billing_report(
            principal,
            group_by=group_by,
            from_period=from_period,
            to_period=to_period,
            audience=audience,
        )
        return report_csv_download(report)


def report_csv_download(report: BillingReport) -> Response[str]:
    """The report as a CSV download (the API's and the reports page's)."""
    return Response(
        report_csv(report),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="billing-{report.group_by}.csv"'},
    )


def billing_router(context: ApiContext, prefix: str) -> Router:
    """The billing controllers under ``prefix`` (/api/v1), with the API's
    dependencies and error answers."""
    services = BillingServices(context)
    return Router(
        path=prefix,
        route_handlers=[
            CdrController,
            SessionBillingController,
            BillingRunController,
            BillingDocumentController,
            ReportController,
        ],
        dependencies={
            "context": Provide(lambda: context, sync_to_thread=False, use_cache=True),
            "principal": Provide(provide_principal),
            "page": Provide(provide_page, sync_to_thread=False),
            "billing": Provide(lambda: services, sync_to_thread=False, use_cache=True),
        },
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
    )
