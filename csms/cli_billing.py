"""``csms billing``: rating, billing runs and documents from the command line.

The CLI acts with every right (``crm.access.system_principal``). Documents
are never changed or deleted: a wrong one is cancelled (``csms billing
cancel``), which issues a cancellation with its own number.
"""

from __future__ import annotations

import argparse
import base64
import sys
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from csms.settings import Settings

_DOCUMENT_HEADERS = ["ID", "KIND", "NUMBER", "ISSUER", "RECIPIENT", "NET", "VAT", "GROSS", "CUR"]


def _amount(e4: int) -> str:
    return str((Decimal(e4) / 10000).quantize(Decimal("0.01")))


def _document_json(document: Any) -> dict[str, Any]:
    import msgspec

    content = msgspec.json.decode(document.content)
    return {
        "id": document.id,
        "kind": document.kind,
        "number": document.number,
        "issuer_entity_id": document.issuer_entity_id,
        "recipient_entity_id": document.recipient_entity_id,
        "recipient_contact_id": document.recipient_contact_id,
        "recipient_name": content["recipient"]["name"],
        "billing_run_id": document.billing_run_id,
        "refers_to_id": document.refers_to_id,
        "issue_date": document.issue_date.isoformat(),
        "period_start": document.period_start.isoformat(),
        "period_end": document.period_end.isoformat(),
        "currency": document.currency,
        "total_net": _amount(document.total_net_e4),
        "total_vat": _amount(document.total_vat_e4),
        "total_gross": _amount(document.total_gross_e4),
        "lines": len(content["lines"]),
    }


def _document_row(document: Any) -> list[Any]:
    data = _document_json(document)
    return [
        data["id"],
        data["kind"],
        data["number"],
        data["issuer_entity_id"],
        data["recipient_name"],
        data["total_net"],
        data["total_vat"],
        data["total_gross"],
        data["currency"],
    ]


def _run_json(run: Any) -> dict[str, Any]:
    return {
        "id": run.id,
        "entity_id": run.entity_id,
        "period": run.period,
        "period_start": run.period_start.isoformat(),
        "period_end": run.period_end.isoformat(),
        "time_zone": run.time_zone,
        "status": run.status,
        "created_at": run.created_at,
        "issued_at": run.issued_at,
    }


def _draft_json(draft: Any) -> dict[str, Any]:
    import msgspec

    content = msgspec.json.decode(draft.content)
    return {
        "kind": draft.kind,
        "issuer_entity_id": draft.issuer_entity_id,
        "recipient_entity_id": draft.recipient_entity_id,
        "recipient_contact_id": draft.recipient_contact_id,
        "recipient_name": content["recipient"]["name"],
        "cdrs": len(draft.cdr_ids),
        "currency": draft.currency,
        "total_net": _amount(draft.total_net_e4),
        "total_vat": _amount(draft.total_vat_e4),
        "total_gross": _amount(draft.total_gross_e4),
    }


# The templates of a document layout, as options --invoice-pre-text ...
_LAYOUT_TEXTS = (
    "invoice_pre_text",
    "invoice_post_text",
    "credit_note_pre_text",
    "credit_note_post_text",
    "cancellation_pre_text",
    "cancellation_post_text",
)
# A logo file is read up to a byte past what a layout takes (256 KiB), so a
# larger one is refused by the layout's check without reading it all.
_LOGO_READ_LIMIT = 256 * 1024 + 1


def _logo_base64(path: str) -> str:
    from csms.cli import CommandError

    try:
        with open(path, "rb") as file:
            data = file.read(_LOGO_READ_LIMIT)
    except OSError as error:
        raise CommandError(f"--logo: cannot read {path}: {error.strerror}") from None
    return base64.b64encode(data).decode("ascii")


def _print_layout(layout: Any) -> None:
    logo = layout.logo_png_base64
    shown = {
        "entity": layout.entity_id,
        "display_name": layout.display_name or "- (the entity's name)",
        "language": layout.language or "- (by the entity's country)",
        "logo": f"PNG, {len(base64.b64decode(logo))} bytes" if logo else "-",
        "payment_terms": layout.payment_terms or "- (the standard terms)",
        **{name: getattr(layout, name) or "-" for name in _LAYOUT_TEXTS},
        "updated_at": layout.updated_at or "- (never saved)",
    }
    for name, value in shown.items():
        text = str(value).replace("\n", "\n  ")
        print(f"{name}: {text}")


def _write(path: str | None, name: str, data: bytes) -> None:
    target = path or name
    if target == "-":
        sys.stdout.buffer.write(data)
        return
    with open(target, "wb") as file:
        file.write(data)
    print(f"wrote {target} ({len(data)} bytes)")


def cmd_billing(args: argparse.Namespace, settings: Settings) -> int:
    from billing.rating.rater import Rater
    from billing.rating.workers import RatingWorkers
    from billing.runs.service import BillingRuns
    from billing.storage.runs import SqlBillingStore
    from billing.storage.sources import SqlDirectory, SqlRatingQueue
    from billing.storage.tariffs import PiccoloTariffLookup
    from crm.access import system_principal
    from crm.errors import InvalidInput, NotFound
    from crm.storage.tree import load_tree
    from csms.cli import CommandError, _print_json, _print_table, _run_async
    from csms.collector import tune_garbage_collector
    from csms.storage.database import (
        close_database,
        open_database,
        share_the_gil_with_sqlite_threads,
    )

    async def main() -> int:
        share_the_gil_with_sqlite_threads()
        # A pool: without one, every piccolo query on PostgreSQL opens a connection.
        await open_database(pool_size=2)
        # Rating and billing runs allocate as a busy node does (many
        # short-lived objects, no cycles): the node's collector settings.
        tune_garbage_collector()
        store, directory, queue = SqlBillingStore(), SqlDirectory(), SqlRatingQueue()
        try:
            return await act(store, directory, queue)
        except (InvalidInput, NotFound) as error:
            raise CommandError(str(error)) from None
        finally:
            for part in (store, directory, queue):
                await part.close()
            await close_database()

    async def run_every(service: BillingRuns, principal: Any) -> int:
        every = await service.run_every(principal, args.period, preview=args.preview)
        if args.json:
            _print_json(
                {
                    "runs": [
                        {
                            "run": _run_json(result.run),
                            "documents": [_document_json(d) for d in result.issued],
                        }
                        for result in every.results
                    ],
                    "failed": [
                        {"entity_id": entity_id, "error": why}
                        for entity_id, why in sorted(every.failed.items())
                    ],
                }
            )
        else:
            _print_table(
                ["RUN", "ENTITY", "PERIOD", "STATUS", "DRAFTS", "DOCUMENTS"],
                [
                    [
                        r.run.id,
                        r.run.entity_id,
                        r.run.period,
                        r.run.status,
                        len(r.drafts),
                        ", ".join(d.number for d in r.issued),
                    ]
                    for r in every.results
                ],
            )
            for entity_id, why in sorted(every.failed.items()):
                print(f"entity {entity_id}: not billed: {why}", file=sys.stderr)
        return 1 if every.failed else 0

    async def act(store: Any, directory: Any, queue: Any) -> int:
        action = args.billing_command
        if action == "layout":
            return await layout()
        if action in ("rate", "rater"):
            processes = settings.rating_workers if args.workers is None else args.workers
            workers = RatingWorkers(processes) if processes else None
            rater = Rater(queue, directory, PiccoloTariffLookup(), workers=workers)
            try:
                if action == "rater":
                    print(f"rating completed sessions every {args.interval} s (Ctrl-C stops)")
                    await rater.run_forever(args.interval)
                rated = await rater.rate_all()
            finally:
                await rater.close()
            print(f"rated {rated} session(s); {await queue.pending()} waiting")
            return 0
        service = BillingRuns(store, directory)
        principal = system_principal(await load_tree())
        if action == "run" and args.every:
            return await run_every(service, principal)
        if action == "run":
            result = await service.run(principal, args.entity, args.period, preview=args.preview)
            if args.json:
                _print_json(
                    {
                        "run": _run_json(result.run),
                        "drafts": [_draft_json(d) for d in result.drafts],
                        "documents": [_document_json(d) for d in result.issued],
                    }
                )
                return 0
            run = result.run
            print(
                f"billing run {run.id}: entity {run.entity_id}, {run.period}"
                f" ({run.period_start} to {run.period_end}, {run.time_zone}), {run.status}"
            )
            if result.issued:
                _print_table(_DOCUMENT_HEADERS, [_document_row(d) for d in result.issued])
            else:
                _print_table(
                    ["KIND", "RECIPIENT", "CDRS", "NET", "VAT", "GROSS", "CUR"],
                    [
                        [
                            d["kind"],
                            d["recipient_name"],
                            d["cdrs"],
                            d["total_net"],
                            d["total_vat"],
                            d["total_gross"],
                            d["currency"],
                        ]
                        for d in map(_draft_json, result.drafts)
                    ],
                )
                if args.preview and result.drafts:
                    print(f"a draft: issue it with `csms billing issue {run.id}`")
            return 0
        if action == "issue":
            result = await service.issue(principal, args.run_id)
            if args.json:
                _print_json([_document_json(d) for d in result.issued])
                return 0
            print(f"billing run {result.run.id} issued")
            _print_table(_DOCUMENT_HEADERS, [_document_row(d) for d in result.issued])
            return 0
        if action == "runs":
            runs = await service.runs(principal, args.limit)
            if args.json:
                _print_json([_run_json(r) for r in runs])
                return 0
            _print_table(
                ["ID", "ENTITY", "PERIOD", "STATUS", "CREATED", "ISSUED"],
                [[r.id, r.entity_id, r.period, r.status, r.created_at, r.issued_at] for r in runs],
            )
            return 0
        if action == "documents":
            documents = await service.documents(
                principal, kind=args.kind, run_id=args.run_id, limit=args.limit
            )
            if args.json:
                _print_json([_document_json(d) for d in documents])
                return 0
            _print_table(_DOCUMENT_HEADERS, [_document_row(d) for d in documents])
            return 0
        if action == "pdf":
            name, data = await service.pdf(principal, args.id)
            _write(args.output, name, data)
            return 0
        if action == "xml":
            name, data = await service.xml(principal, args.id)
            _write(args.output, name, data)
            return 0
        if action == "cancel":
            document = await service.cancel(principal, args.id)
            print(
                f"issued cancellation {document.number} of document {args.id}"
                f" ({_amount(document.total_gross_e4)} {document.currency})"
            )
            return 0
        if action in ("status", "report"):
            return await cdr_reads(action)
        raise CommandError(f"unknown billing command {action}")

    async def layout() -> int:
        """Shows an entity's document layout, or sets the fields given."""
        from billing.documents.layouts import DocumentLayoutUpdate
        from billing.services.layouts import LayoutService
        from billing.storage.layouts import PiccoloLayouts

        service = LayoutService(PiccoloLayouts())
        principal = system_principal(await load_tree())
        changes: dict[str, Any] = {
            name: getattr(args, name)
            for name in (*_LAYOUT_TEXTS, "payment_terms", "display_name")
            if getattr(args, name) is not None
        }
        if args.language is not None:
            changes["language"] = "" if args.language == "auto" else args.language
        if args.no_logo:
            changes["logo_png_base64"] = None
        elif args.logo is not None:
            changes["logo_png_base64"] = _logo_base64(args.logo)
        if changes:
            found = await service.update(principal, args.entity_id, DocumentLayoutUpdate(**changes))
        else:
            found = await service.get(principal, args.entity_id)
        if args.json:
            _print_json(found)
            return 0
        if changes:
            print(f"document layout of entity {found.entity_id} saved: {', '.join(changes)}")
        _print_layout(found)
        return 0

    async def cdr_reads(action: str) -> int:
        """Where a session stands, and the billing report. With every right
        and no entity's force purchase prices, unless --as-entity names the
        entity whose view (its force purchase prices) to take."""
        from billing.services.cdrs import CdrService
        from billing.services.reports import ReportService, report_csv
        from billing.storage.cdrs import PiccoloCdrs

        class EveryPrice(PiccoloCdrs):
            async def force_purchase_prices(self, entity_id: int) -> bool:
                return False

        tree = await load_tree()
        if args.as_entity is not None:
            if args.as_entity not in tree:
                raise CommandError(f"entity {args.as_entity} does not exist")
            store: PiccoloCdrs = PiccoloCdrs()
            principal = system_principal(tree, args.as_entity)
        else:
            store, principal = EveryPrice(), system_principal(tree)
        if action == "status":
            status = await CdrService(store).session_billing(principal, args.session_id)
            if args.json:
                _print_json(status)
                return 0
            print(
                f"session {status.session_id}: {status.state}"
                + (f" ({status.reason})" if status.reason else "")
            )
            if status.audiences:
                _print_table(
                    ["AUDIENCE", "STATE", "CDR", "RUN", "DOCUMENT", "NET", "GROSS", "CUR", "ERROR"],
                    [
                        [
                            a.audience,
                            a.state,
                            a.cdr_id,
                            a.run_id,
                            a.document_number,
                            a.total_net,
                            a.total_gross,
                            a.currency,
                            a.error,
                        ]
                        for a in status.audiences
                    ],
                )
            return 0
        report = await ReportService(store).billing_report(
            principal,
            group_by=args.group_by,
            from_period=args.from_period,
            to_period=args.to_period,
            audience=args.audience,
        )
        if args.csv:
            sys.stdout.write(report_csv(report))
            return 0
        if args.json:
            _print_json(report)
            return 0
        _print_table(
            [args.group_by.upper(), "NAME", "CUR", "SESSIONS", "KWH", "NET", "GROSS"],
            [
                [r.key, r.label, r.currency, r.sessions, r.energy_kwh, r.net, r.gross]
                for r in [*report.rows, *report.totals]
            ],
        )
        return 0

    return _run_async(main)


def register(commands: Any, listing: Callable[[argparse.ArgumentParser], None]) -> None:
    billing = commands.add_parser(
        "billing", help="rate sessions, run billing, read and cancel documents"
    )
    sub = billing.add_subparsers(dest="billing_command", required=True)
    rate = sub.add_parser("rate", help="rate every completed session waiting now, then exit")
    rater = sub.add_parser("rater", help="rate completed sessions as they come (a process)")
    rater.add_argument("--interval", type=float, default=5.0, help="seconds between rounds")
    for parser in (rate, rater):
        parser.add_argument(
            "--workers",
            type=int,
            metavar="N",
            help="processes that price sessions (default CSMS_RATING_WORKERS, 1; 0: this one)",
        )
    run = sub.add_parser("run", help="bill an entity's period: draft, then issue")
    whose = run.add_mutually_exclusive_group(required=True)
    whose.add_argument("--entity", type=int, help="the issuing entity's id")
    whose.add_argument(
        "--all",
        dest="every",
        action="store_true",
        help="every entity with unbilled CDRs, one run each",
    )
    run.add_argument("--period", required=True, help="a month, YYYY-MM, in the entity's zone")
    run.add_argument("--preview", action="store_true", help="only draft; issue it later")
    run.add_argument("--json", action="store_true")
    issue = sub.add_parser("issue", help="issue a drafted run")
    issue.add_argument("run_id", metavar="RUN", type=int)
    issue.add_argument("--json", action="store_true")
    runs = sub.add_parser("runs", help="billing runs, newest first")
    runs.add_argument("--limit", type=int, default=50)
    runs.add_argument("--json", action="store_true")
    documents = sub.add_parser("documents", help="issued invoices, credit notes, cancellations")
    documents.add_argument("--run", dest="run_id", type=int)
    documents.add_argument("--kind", choices=("invoice", "credit_note", "cancellation"))
    documents.add_argument("--limit", type=int, default=500)
    documents.add_argument("--json", action="store_true")
    for name, text in (
        ("pdf", "write a document as PDF (Factur-X inside)"),
        ("xml", "write a document's EN 16931 XML"),
    ):
        render = sub.add_parser(name, help=text)
        render.add_argument("id", type=int)
        render.add_argument("-o", "--output", help="file to write (- for stdout)")
    cancel = sub.add_parser("cancel", help="issue the cancellation of a document")
    cancel.add_argument("id", type=int)
    status = sub.add_parser(
        "status", help="where a session stands: not rated, rated, in a draft, billed, error"
    )
    status.add_argument("session_id", metavar="SESSION_ID", type=int)
    status.add_argument("--as-entity", type=int, help="see it as this entity would")
    status.add_argument("--json", action="store_true")
    report = sub.add_parser("report", help="revenue, energy and sessions from the CDRs")
    report.add_argument("--group-by", choices=("entity", "station", "month"), default="entity")
    report.add_argument("--from", dest="from_period", help="first month, YYYY-MM")
    report.add_argument("--to", dest="to_period", help="last month, YYYY-MM")
    report.add_argument("--audience", choices=("emp", "customer", "sub_cpo"))
    report.add_argument("--as-entity", type=int, help="see it as this entity would")
    report.add_argument("--csv", action="store_true", help="CSV on stdout")
    report.add_argument("--json", action="store_true")
    layout = sub.add_parser(
        "layout",
        help="an entity's document layout: texts, payment terms, logo (no options: show it)",
        description="Texts may use fields such as {{customer_name}}, {{document_number}},"
        " {{period}}, {{total_gross}} (billing.documents.texts); an empty text clears one.",
    )
    layout.add_argument("entity_id", metavar="ENTITY_ID", type=int)
    for name in _LAYOUT_TEXTS:
        layout.add_argument(f"--{name.replace('_', '-')}", dest=name, metavar="TEXT")
    layout.add_argument("--payment-terms", metavar="TEXT", help="plain text, no fields")
    logo = layout.add_mutually_exclusive_group()
    logo.add_argument("--logo", metavar="FILE.png", help="a PNG of at most 256 KiB")
    logo.add_argument("--no-logo", action="store_true", help="remove the logo")
    layout.add_argument("--display-name", metavar="NAME", help="the name in the header")
    layout.add_argument(
        "--language", choices=("de", "en", "auto"), help="auto: by the entity's country"
    )
    layout.add_argument("--json", action="store_true")
    billing.set_defaults(run=cmd_billing)
