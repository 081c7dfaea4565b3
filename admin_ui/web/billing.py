"""Billing pages: runs (preview, then issue) and issued documents with
their PDF and XML, through the same billing services and views as the API
(scope holds as there)."""

from __future__ import annotations

import re
from math import ceil
from typing import Any

from litestar import Request, Response, get, post
from litestar.response import Redirect

from admin_ui.api.billing import (
    LIST_CAP,
    BillingServices,
    _download,
    _drafts_of,
    document_view,
    report_csv_download,
    run_detail,
    run_view,
)
from admin_ui.api.common import BigId
from admin_ui.api.context import ApiContext
from admin_ui.web import charts
from admin_ui.web.listing import SORT_CAP, chosen_sort, sorted_rows, text_key
from billing.services.reports import AUDIENCES, GROUPINGS, BillingReport
from billing.services.tariffs import TariffService
from billing.tariffs.records import TariffFilter
from crm.errors import InvalidInput, NotFound


def N_(message: str) -> str:
    return message


# The words of the billing data, translated where shown.
LABELS = {
    "invoice": N_("Invoice"),
    "credit_note": N_("Credit note"),
    "cancellation": N_("Cancellation"),
    "draft": N_("Draft"),
    "issued": N_("Issued"),
    "superseded": N_("Superseded"),
    "entity": N_("Entity"),
    "station": N_("Station"),
    "month": N_("Month"),
    "emp": N_("E-mobility providers"),
    "customer": N_("End customers"),
    "sub_cpo": N_("Sub-CPOs"),
}
PERIOD = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
PAGE_SIZE = 25
# The columns each list sorts by (the services' order is newest first).
RUN_SORTS: dict[str, Any] = {
    "id": lambda r: r.id,
    "entity": lambda r: r.entity_id,
    "period": lambda r: r.period,
    "status": lambda r: r.status,
    "created": lambda r: r.created_at,
    "issued": lambda r: r.issued_at,
}
DOCUMENT_SORTS: dict[str, Any] = {
    "number": lambda d: d.number,
    "kind": lambda d: d.kind,
    "recipient": lambda d: text_key(d.recipient_name),
    "issued": lambda d: (d.issue_date, d.id),
    "gross": lambda d: d.total_gross,
}
TARIFF_SORTS: dict[str, Any] = {
    "id": lambda t: t.id,
    "code": lambda t: text_key(t.code),
    "name": lambda t: text_key(t.name),
    "currency": lambda t: t.currency,
    "owner": lambda t: t.owner_entity_id,
    "changed": lambda t: t.updated_at,
}
# Search text longer than this is no operator's search.
MAX_QUERY = 100


def billing_handlers(
    context: ApiContext, pages: Any, tariffs: TariffService | None = None
) -> list[Any]:
    """The billing pages' handlers; ``pages`` gives the shared helpers
    (principal, page rendering, CSRF, forms) of admin_ui.web.pages."""
    billing = BillingServices(context)

    async def render(
        request: Request, template: str, principal: Any, *args: Any, **values: Any
    ) -> Response[str]:
        return await pages.render_page(  # type: ignore[no-any-return]
            request, template, principal, *args, labels=LABELS, **values
        )

    async def runs_page(
        request: Request,
        principal: Any,
        status_code: int = 200,
        errors: dict[str, str] | None = None,
        entered: dict[str, str] | None = None,
    ) -> Response[str]:
        principal.require("billing", "read")
        runs = [run_view(r) for r in await billing.runs.runs(principal, LIST_CAP)]
        q = (request.query_params.get("q") or "")[:MAX_QUERY].strip()
        if q:  # a month (2026-10) or a part of it, or an entity's id
            runs = [r for r in runs if q in r.period or q == str(r.entity_id)]
        sort = chosen_sort(request.query_params.get("sort"), RUN_SORTS, "-id")
        if sort != "-id":
            runs = sorted_rows(runs, sort, RUN_SORTS)
        number = pages.int_param(request.query_params.get("page"), 1)
        total_pages = max(1, ceil(len(runs) / PAGE_SIZE))
        number = min(number, total_pages)
        rows = runs[(number - 1) * PAGE_SIZE : number * PAGE_SIZE]
        pager = pages.Pager(request, len(runs), number, PAGE_SIZE, default_sort="-id")
        return await render(
            request,
            "billing_runs.html",
            principal,
            status_code,
            rows=rows,
            pager=pager,
            q=q,
            errors=errors or {},
            entered=entered or {},
        )

    @get("/billing")
    async def billing_runs(request: Request) -> Response[str]:
        principal = await pages.principal(request)
        return await runs_page(request, principal)

    @post("/billing/runs")
    async def preview_run(request: Request) -> Response[Any]:
        """A preview of an entity's month: a draft run (no numbers)."""
        principal = await pages.principal(request)
        form = await request.form()
        pages.csrf_ok(request, form)
        _ = pages.gettext(request)
        period = pages.form_text(form, "period", 20).strip()
        entity_text = pages.form_text(form, "entity_id", 12).strip()
        errors: dict[str, str] = {}
        if not PERIOD.fullmatch(period):
            errors["period"] = _("Enter a month as YYYY-MM, e.g. 2026-10.")
        entity_id = pages.int_param(entity_text, 0, 0, 2**31 - 1)
        if entity_id not in principal.member_entity_ids:
            errors["entity_id"] = _("Choose one of your entities.")
        if not errors:
            try:
                result = await billing.runs.run(principal, entity_id, period, preview=True)
            except InvalidInput as error:
                errors["period"] = str(error)
            else:
                return pages.finish(
                    request, Redirect(path=f"/billing/runs/{result.run.id}", status_code=303)
                )
        entered = {"period": period, "entity_id": entity_text}
        return await runs_page(request, principal, 400, errors, entered)

    @get("/billing/runs/{run_id:int}")
    async def billing_run(request: Request, run_id: BigId) -> Response[str]:
        principal = await pages.principal(request)
        principal.require("billing", "read")
        run = await billing.runs.get_run(principal, run_id)
        documents = await billing.runs.documents(principal, run_id=run_id, limit=LIST_CAP)
        detail = run_detail(run, _drafts_of(run), documents)
        return await render(request, "billing_run.html", principal, run=detail)

    @post("/billing/runs/{run_id:int}/issue")
    async def issue_run(request: Request, run_id: BigId) -> Response[Any]:
        """Issues a previewed run: numbers, documents, CDRs billed."""
        principal = await pages.principal(request)
        form = await request.form()
        pages.csrf_ok(request, form)
        principal.require("billing", "run")
        await billing.runs.issue(principal, run_id)
        return pages.finish(request, Redirect(path=f"/billing/runs/{run_id}", status_code=303))

    @get("/billing/documents")
    async def billing_documents(request: Request) -> Response[str]:
        principal = await pages.principal(request)
        principal.require("billing", "read")
        kind = request.query_params.get("kind") or ""
        if kind not in ("", "invoice", "credit_note", "cancellation"):
            kind = ""
        documents = [
            document_view(d)
            for d in await billing.runs.documents(principal, kind=kind or None, limit=LIST_CAP)
        ]
        q = (request.query_params.get("q") or "")[:MAX_QUERY].strip()
        if q:  # a number or a part of the recipient's name
            folded = q.casefold()
            documents = [
                d
                for d in documents
                if folded in d.number.casefold() or folded in d.recipient_name.casefold()
            ]
        sort = chosen_sort(request.query_params.get("sort"), DOCUMENT_SORTS, "-issued")
        if sort != "-issued":
            documents = sorted_rows(documents, sort, DOCUMENT_SORTS)
        number = pages.int_param(request.query_params.get("page"), 1)
        pager = pages.Pager(request, len(documents), number, PAGE_SIZE, default_sort="-issued")
        rows = documents[pager.offset : pager.offset + PAGE_SIZE]
        return await render(
            request,
            "billing_documents.html",
            principal,
            rows=rows,
            pager=pager,
            kind=kind,
            q=q,
            sortable=True,
        )

    @get("/billing/documents/{document_id:int}/pdf")
    async def document_pdf(request: Request, document_id: BigId) -> Response[bytes]:
        principal = await pages.principal(request)
        principal.require("billing", "read")
        name, data = await billing.runs.pdf(principal, document_id)
        return _download(data, "application/pdf", name)

    @get("/billing/documents/{document_id:int}/xml")
    async def document_xml(request: Request, document_id: BigId) -> Response[bytes]:
        principal = await pages.principal(request)
        principal.require("billing", "read")
        name, data = await billing.runs.xml(principal, document_id)
        return _download(data, "application/xml", name)

    @get("/billing/documents/{document_id:int}/cancel")
    async def cancel_form(request: Request, document_id: BigId) -> Response[str]:
        """What a cancellation would reverse, and the button that issues it."""
        principal = await pages.principal(request)
        principal.require("billing", "run")
        document = document_view(await billing.runs.document(principal, document_id))
        return await render(request, "billing_cancel.html", principal, document=document)

    @post("/billing/documents/{document_id:int}/cancel")
    async def cancel_document(request: Request, document_id: BigId) -> Response[Any]:
        """Issues the cancellation (its own number, referring to the
        original); the original's sessions are billed again by the next run."""
        principal = await pages.principal(request)
        form = await request.form()
        pages.csrf_ok(request, form)
        principal.require("billing", "run")
        try:
            await billing.runs.cancel(principal, document_id)
        except InvalidInput as error:
            document = document_view(await billing.runs.document(principal, document_id))
            return await render(
                request, "billing_cancel.html", principal, 400, document=document, error=str(error)
            )
        return pages.finish(
            request, Redirect(path="/billing/documents?kind=cancellation", status_code=303)
        )

    @get("/reports")
    async def reports(request: Request) -> Response[str]:
        """Revenue, energy and sessions per entity, station or month, as
        charts and a table, for the entities the user may see."""
        principal = await pages.principal(request)
        principal.require("billing", "read")
        query = request.query_params
        chosen = {
            "group_by": query.get("group_by") or "month",
            "from": (query.get("from") or "")[:7],
            "to": (query.get("to") or "")[:7],
            "audience": query.get("audience") or "",
        }
        if chosen["group_by"] not in GROUPINGS:
            chosen["group_by"] = "month"
        if chosen["audience"] not in AUDIENCES:
            chosen["audience"] = ""
        _ = pages.gettext(request)
        errors: dict[str, str] = {}
        for field in ("from", "to"):
            if chosen[field] and not PERIOD.fullmatch(chosen[field]):
                errors[field] = _("Enter a month as YYYY-MM, e.g. 2026-10.")
        report: BillingReport | None = None
        if not errors:
            try:
                report = await billing.reports.billing_report(
                    principal,
                    group_by=chosen["group_by"],
                    from_period=chosen["from"] or None,
                    to_period=chosen["to"] or None,
                    audience=chosen["audience"] or None,
                )
            except InvalidInput as error:
                errors["to"] = str(error)
        figures: list[dict[str, Any]] = []
        if report is not None:
            for total in report.totals:
                rows = [r for r in report.rows if r.currency == total.currency]
                figures.append(
                    {
                        "currency": total.currency,
                        "revenue": charts.bar_chart(
                            [(r.label, float(r.net)) for r in rows],
                            unit=total.currency,
                            label=_("Net revenue ({currency})").format(currency=total.currency),
                        ),
                        "energy": charts.bar_chart(
                            [(r.label, float(r.energy_kwh)) for r in rows],
                            unit="kWh",
                            label=_("Energy (kWh)"),
                        ),
                    }
                )
        return await render(
            request,
            "reports.html",
            principal,
            400 if errors else 200,
            report=report,
            figures=figures,
            chosen=chosen,
            errors=errors,
            groupings=GROUPINGS,
            audiences=AUDIENCES,
            csv_query=request.url.query,
        )

    @get("/reports/billing.csv")
    async def reports_csv(request: Request) -> Response[str]:
        """The report as CSV (the totals as the last lines)."""
        principal = await pages.principal(request)
        query = request.query_params
        report = await billing.reports.billing_report(
            principal,
            group_by=query.get("group_by") or "month",
            from_period=(query.get("from") or "")[:7] or None,
            to_period=(query.get("to") or "")[:7] or None,
            audience=query.get("audience") or None,
        )
        return report_csv_download(report)

    @get("/tariffs")
    async def tariff_list(request: Request) -> Response[str]:
        """Tariffs of the entities the user may read, by id; a search by
        the OCPI code (exact)."""
        principal = await pages.principal(request)
        if tariffs is None:
            raise NotFound("there are no tariffs here")
        code = (request.query_params.get("q") or "").strip()[:36]
        filters = TariffFilter(code=code or None)
        number = pages.int_param(request.query_params.get("page"), 1)
        sort = chosen_sort(request.query_params.get("sort"), TARIFF_SORTS, "id")
        if sort == "id":  # the service's own order: read one page
            _, total = await tariffs.list_tariffs(principal, filters, limit=1, offset=0)
            pager = pages.Pager(request, total, number, PAGE_SIZE, default_sort="id")
            rows, _ = await tariffs.list_tariffs(
                principal, filters, limit=PAGE_SIZE, offset=pager.offset
            )
        else:
            every, _ = await tariffs.list_tariffs(principal, filters, limit=SORT_CAP, offset=0)
            every = sorted_rows(every, sort, TARIFF_SORTS)
            pager = pages.Pager(request, len(every), number, PAGE_SIZE, default_sort="id")
            rows = every[pager.offset : pager.offset + PAGE_SIZE]
        return await render(request, "tariffs.html", principal, rows=rows, pager=pager, q=code)

    return [
        tariff_list,
        billing_runs,
        preview_run,
        billing_run,
        issue_run,
        billing_documents,
        document_pdf,
        document_xml,
        cancel_form,
        cancel_document,
        reports,
        reports_csv,
    ]
