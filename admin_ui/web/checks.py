"""Two operator tools the CLI and the API have, on pages: the sessions a
charger never stopped (the stale-session rule's findings, closed on
request) and a price check (an OCPI tariff and CDR priced, nothing
stored). Same services as ``GET /api/v1/sessions/stale`` and ``POST
/api/v1/tariffs/price``."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, get, post

from admin_ui.api.context import ApiContext
from admin_ui.api.sessions import provide_stale_review, stale_view
from admin_ui.api.tariffs import price_check
from crm.errors import InvalidInput

# The longest OCPI tariff or CDR text the price form takes.
MAX_OCPI_TEXT = 200_000
PRICE_FIELDS = ("tariff", "cdr", "time_zone")


def check_handlers(context: ApiContext, pages: Any) -> list[Any]:
    """The pages' handlers; ``pages`` gives the shared helpers of
    admin_ui.web.pages."""

    async def stale_page(
        request: Request, principal: Any, closed: list[Any] | None = None
    ) -> Response[str]:
        findings = await provide_stale_review(context).findings(principal)
        return await pages.render_page(  # type: ignore[no-any-return]
            request,
            "sessions_stale.html",
            principal,
            rows=[stale_view(f) for f in findings],
            closed=None if closed is None else [stale_view(f) for f in closed],
            may_close=principal.can("stations", "update"),
            hours=context.stale_session_hours,
        )

    @get("/sessions/stale")
    async def stale_sessions(request: Request) -> Response[str]:
        """Open sessions the stale-session rule would close, at the
        stations the user may read."""
        principal = await pages.principal(request)
        return await stale_page(request, principal)

    @post("/sessions/stale/close")
    async def close_stale_sessions(request: Request) -> Response[str]:
        """Closes them now at the stations the user may update."""
        principal = await pages.principal(request)
        form = await request.form()
        pages.csrf_ok(request, form)
        closed = await provide_stale_review(context).close(principal)
        return await stale_page(request, principal, closed)

    async def price_page(
        request: Request,
        principal: Any,
        entered: dict[str, str],
        errors: dict[str, str],
        priced: Any = None,
        status_code: int = 200,
    ) -> Response[str]:
        return await pages.render_page(  # type: ignore[no-any-return]
            request,
            "tariff_price.html",
            principal,
            status_code,
            entered=entered,
            errors=errors,
            priced=priced,
        )

    @get("/tariffs/price")
    async def price_form(request: Request) -> Response[str]:
        principal = await pages.principal(request)
        principal.require("tariffs", "read")
        return await price_page(request, principal, {}, {})

    @post("/tariffs/price")
    async def price(request: Request) -> Response[str]:
        """Prices the CDR's charging periods with the tariff; each part's
        problem beside its field."""
        principal = await pages.principal(request)
        form = await request.form()
        pages.csrf_ok(request, form)
        principal.require("tariffs", "read")
        _ = pages.gettext(request)
        entered = {name: pages.form_text(form, name, MAX_OCPI_TEXT) for name in PRICE_FIELDS}
        errors: dict[str, str] = {}
        for name in ("tariff", "cdr"):
            text = entered[name].strip()
            if not text:
                errors[name] = _("Paste the OCPI JSON here.")
                continue
            try:
                msgspec.json.decode(text)
            except msgspec.DecodeError as error:
                errors[name] = _("This is not JSON: {error}").format(error=error)
        if not errors:
            zone = entered["time_zone"].strip()
            body = (
                b'{"tariff": '
                + entered["tariff"].encode()
                + b', "cdr": '
                + entered["cdr"].encode()
                + (b', "time_zone": ' + msgspec.json.encode(zone) if zone else b"")
                + b"}"
            )
            try:
                priced = price_check(body)
            except InvalidInput as error:
                message = str(error)
                field, _sep, rest = message.partition(": ")
                errors[field if field in PRICE_FIELDS else "tariff"] = rest or message
            else:
                return await price_page(request, principal, entered, {}, priced)
        return await price_page(request, principal, entered, errors, status_code=400)

    return [stale_sessions, close_stale_sessions, price_form, price]
