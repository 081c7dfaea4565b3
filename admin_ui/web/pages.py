"""The operators' pages: login, logout, password change, the entity and
language switches, the dashboard, stations and sessions.

Server-rendered (Jinja2); every form carries the CSRF token; a failure a
user can cause is a page with a message, never a 500."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from math import ceil
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar import MediaType, Request, Response, Router, get, post
from litestar.datastructures import FormMultiDict
from litestar.exceptions import NotFoundException, PermissionDeniedException
from litestar.params import FromPath
from litestar.response import Redirect, ServerSentEvent

from admin_ui.api.commands import provide_operator_commands
from admin_ui.api.common import SESSION_COOKIE, BigId, Id
from admin_ui.api.context import ApiContext
from admin_ui.api.sessions import provide_sessions
from admin_ui.api.stations import provide_station_admin
from admin_ui.web import charts, fleet, metering
from admin_ui.web.billing import billing_handlers
from admin_ui.web.checks import check_handlers
from admin_ui.web.commands import (
    ATTRIBUTE_TYPES,
    BASE_REPORTS,
    TRIGGERS,
    command_of,
    describe,
    live_events,
)
from admin_ui.web.customers import customer_handlers
from admin_ui.web.directory import directory_handlers
from admin_ui.web.i18n import LANGUAGES, translations, zone
from admin_ui.web.listing import SORT_CAP, chosen_sort, sorted_rows, text_key
from admin_ui.web.metering import MessageReader, MeterReader
from admin_ui.web.security import (
    CSRF_COOKIE,
    CSRF_FIELD,
    LANGUAGE_COOKIE,
    clear_session_cookie,
    finish,
    secure_cookies,
    set_session_cookie,
)
from admin_ui.web.shell import WebServices
from admin_ui.web.station_ops import StationSections, station_ops_handlers
from billing.services.layouts import LayoutService
from billing.services.tariffs import TariffService
from crm.access import Principal
from crm.errors import Forbidden, InvalidInput, NotFound, TooManyAttempts, Unauthenticated
from crm.passwords import check_password, hash_password_off_loop
from csms.domain.live import LiveFeed
from csms.domain.sessions_view import SessionFilter
from csms.domain.station_admin import StationFilter

log = logging.getLogger("admin_ui.web")

TEMPLATES_DIR = Path(__file__).parent / "templates"
PAGE_SIZE = 25
# The latest OCPP messages a station page shows.
MESSAGES = 20
# The session list's columns an operator can sort by.
SESSION_SORTS: dict[str, Any] = {
    "id": lambda s: s.id,
    "station": lambda s: text_key(s.charge_point_id),
    "id_tag": lambda s: text_key(s.id_tag),
    "status": lambda s: s.status,
    "started_at": lambda s: s.started_at,
    "stopped_at": lambda s: s.stopped_at,
    "energy": lambda s: s.energy_wh,
}
# Search text longer than this is no operator's search.
MAX_QUERY = 100

_env = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def N_(message: str) -> str:
    """Marks a message for extraction; translated where it is shown."""
    return message


def render(name: str, values: Mapping[str, Any], status_code: int = 200) -> Response[str]:
    html = _env.get_template(name).render(**values)
    return Response(html, media_type=MediaType.HTML, status_code=status_code)


def safe_next(value: str | None) -> str:
    """Only a path of this site (never //host or a scheme) to go on to."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def back(request: Request) -> str:
    """Where a switch returns to: the page it came from (this site only)."""
    referer = request.headers.get("referer", "")
    base = str(request.base_url).rstrip("/")
    if referer.startswith(base + "/"):
        return safe_next(referer[len(base) :])
    return "/"


def form_text(form: FormMultiDict, name: str, limit: int = 500) -> str:
    value = form.get(name, "")
    return value[:limit] if isinstance(value, str) else ""


def csrf_ok(request: Request, form: FormMultiDict) -> None:
    cookie = request.cookies.get(CSRF_COOKIE, "")
    sent = form.get(CSRF_FIELD, "")
    if not cookie or not isinstance(sent, str) or not hmac.compare_digest(cookie, sent):
        raise PermissionDeniedException(
            "The form has expired or did not come from this site: reload the page and try again."
        )


def int_param(value: str | None, default: int, low: int = 1, high: int = 10**9) -> int:
    try:
        number = int(value or default)
    except ValueError:
        return default
    return min(max(number, low), high)


class Pager:
    """Page numbers and the links of a list."""

    def __init__(
        self,
        request: Request,
        total: int,
        page: int,
        size: int = PAGE_SIZE,
        default_sort: str = "",
    ) -> None:
        self.default_sort = default_sort
        self.total = total
        self.size = size
        self.pages = max(1, ceil(total / size))
        self.page = min(max(page, 1), self.pages)
        self.offset = (self.page - 1) * size
        # (Not "part": the links lead to the whole page, not a live part.)
        self._query = {k: v for k, v in request.query_params.items() if k not in ("page", "part")}
        self._path = request.url.path

    def link(self, page: int) -> str:
        return self._path + "?" + urlencode({**self._query, "page": page})

    def sort_link(self, column: str) -> str:
        current = self._query.get("sort") or self.default_sort
        new = "-" + column if current == column else column
        return self._path + "?" + urlencode({**self._query, "sort": new, "page": 1})


def web_router(
    context: ApiContext,
    layouts: LayoutService | None = None,
    live: LiveFeed | None = None,
    meter_values: MeterReader | None = None,
    tariffs: TariffService | None = None,
    message_log: MessageReader | None = None,
) -> Router:
    services = WebServices(context, layouts)
    stations = provide_station_admin(context)
    sessions = provide_sessions(context)
    operator = provide_operator_commands(context)
    sections = StationSections(context, message_log)

    async def page(
        request: Request,
        template: str,
        principal: Principal | None,
        status_code: int = 200,
        **values: Any,
    ) -> Response[str]:
        shell = await services.shell(request, principal)
        return finish(request, render(template, {**shell, **values}, status_code))  # type: ignore[return-value]

    # -- login, logout, password -----------------------------------------------------------

    @get("/login")
    async def login_form(request: Request) -> Response[str]:
        target = safe_next(request.query_params.get("next"))
        return await page(request, "login.html", None, next=target, email="")

    @post("/login")
    async def login(request: Request) -> Response[Any]:
        form = await request.form()
        csrf_ok(request, form)
        email = form_text(form, "email", 254).strip()
        password = form_text(form, "password", 1000)
        target = safe_next(form_text(form, "next", 2000))
        address = request.client.host if request.client else None
        _ = translations(services_language(request)).gettext
        errors: dict[str, str] = {}
        if not email:
            errors["email"] = _("Enter your e-mail address.")
        if not password:
            errors["password"] = _("Enter your password.")
        if not errors:
            try:
                result = await context.auth.login(email, password, "ui", address)
            except Unauthenticated:
                errors["form"] = _("Wrong e-mail or password.")
            except TooManyAttempts:
                errors["form"] = _("Too many failed attempts: wait a few minutes and try again.")
            except Forbidden:
                errors["form"] = _("This user belongs to no active entity.")
            else:
                response: Response[Any] = Redirect(path=target, status_code=303)
                set_session_cookie(request, response, result.token, context.auth.session_hours)
                return finish(request, response)
        return await page(request, "login.html", None, 400, next=target, email=email, errors=errors)

    @post("/logout")
    async def logout(request: Request) -> Response[Any]:
        form = await request.form()
        csrf_ok(request, form)
        token = request.cookies.get(SESSION_COOKIE, "")
        if token:
            await context.auth.logout(token)
        response: Response[Any] = Redirect(path="/login", status_code=303)
        clear_session_cookie(response)
        return finish(request, response)

    @get("/account/password")
    async def password_form(request: Request) -> Response[str]:
        principal = await services.principal(request)
        return await page(request, "password.html", principal, errors={}, done=False)

    @post("/account/password")
    async def change_password(request: Request) -> Response[str]:
        """The user's own password: their e-mail and current password are
        checked as a login is (the same rate limits), the new one as every
        password is; their other sessions end."""
        principal = await services.principal(request)
        form = await request.form()
        csrf_ok(request, form)
        _ = translations(services_language(request)).gettext
        email = form_text(form, "email", 254).strip()
        current = form_text(form, "current", 1000)
        new = form_text(form, "new", 1000)
        repeat = form_text(form, "repeat", 1000)
        errors: dict[str, str] = {}
        if not email:
            errors["email"] = _("Enter your e-mail address.")
        if not current:
            errors["current"] = _("Enter your current password.")
        try:
            check_password(new)
        except InvalidInput as error:
            errors["new"] = str(error)
        except ValueError as error:
            errors["new"] = str(error)
        if not errors.get("new") and new != repeat:
            errors["repeat"] = _("The two new passwords differ.")
        if not errors:
            address = request.client.host if request.client else None
            try:
                check = await context.auth.login(email, current, "api", address)
            except (Unauthenticated, Forbidden):
                errors["current"] = _("Wrong e-mail or password.")
            except TooManyAttempts:
                errors["current"] = _("Too many failed attempts: wait a few minutes.")
            else:
                await context.auth.logout(check.token)
                if check.user_id != principal.user_id:
                    errors["email"] = _("That is not your e-mail address.")
                else:
                    logins = context.auth.logins
                    await logins.set_password_hash(
                        principal.user_id,
                        await hash_password_off_loop(new, context.auth.password_strength),
                    )
        status = 400 if errors else 200
        return await page(
            request, "password.html", principal, status, errors=errors, done=not errors
        )

    # -- switches ---------------------------------------------------------------------------

    @post("/entity")
    async def switch_entity(request: Request) -> Response[Any]:
        await services.principal(request)
        form = await request.form()
        csrf_ok(request, form)
        entity_id = int_param(form_text(form, "entity_id", 12), 0, 0, 2**31 - 1)
        await context.auth.switch_entity(request.cookies.get(SESSION_COOKIE, ""), entity_id)
        return finish(request, Redirect(path=back(request), status_code=303))

    @post("/language")
    async def switch_language(request: Request) -> Response[Any]:
        form = await request.form()
        csrf_ok(request, form)
        language = form_text(form, "language", 5)
        response: Response[Any] = Redirect(path=back(request), status_code=303)
        if language in LANGUAGES:
            response.set_cookie(
                LANGUAGE_COOKIE,
                language,
                max_age=365 * 86400,
                samesite="lax",
                httponly=True,
                secure=secure_cookies(request),
                path="/",
            )
        return finish(request, response)

    # -- branding -----------------------------------------------------------------------------

    @get("/brand.css")
    async def brand_css(request: Request) -> Response[str]:
        """The active entity's colours as CSS variables (no inline style)."""
        try:
            principal = await services.principal(request)
            brand = await services.brand(principal)
            primary, secondary = brand.primary, brand.secondary
        except (Unauthenticated, Forbidden):
            from admin_ui.web.shell import DEFAULT_PRIMARY, DEFAULT_SECONDARY

            primary, secondary = DEFAULT_PRIMARY, DEFAULT_SECONDARY
        css = f":root {{ --brand-primary: {primary}; --brand-secondary: {secondary}; }}\n"
        response = Response(css, media_type="text/css")
        response.headers["Cache-Control"] = "no-store"
        return finish(request, response)  # type: ignore[return-value]

    @get("/brand/logo.png")
    async def brand_logo(request: Request) -> Response[bytes]:
        principal = await services.principal(request)
        brand = await services.brand(principal)
        if brand.logo_png is None:
            raise NotFoundException("no logo")
        return Response(brand.logo_png, media_type="image/png")

    # -- dashboard --------------------------------------------------------------------------

    @get("/")
    async def dashboard(request: Request) -> Response[str]:
        principal = await services.principal(request)
        brand = await services.brand(principal)
        # A user who may not read stations (a user administrator, a billing
        # clerk) gets the dashboard without the fleet, not a 403 at login.
        may_read_stations = principal.can("stations", "read")
        fleet_rows, _ = (
            await fleet.all_rows(
                lambda limit, offset: stations.list_stations(
                    principal, StationFilter(), limit=limit, offset=offset
                )
            )
            if may_read_stations
            else ([], 0)
        )
        state = fleet.fleet_state(fleet_rows)
        local = zone(brand.time_zone)
        now = datetime.now(local)
        today = now.replace(hour=0, minute=0, second=0, microsecond=0)
        first = today - timedelta(days=29)
        recent, total_30 = (
            await fleet.all_rows(
                lambda limit, offset: sessions.list_sessions(
                    principal, SessionFilter(started_after=first), limit=limit, offset=offset
                )
            )
            if may_read_stations
            else ([], 0)
        )
        energy_by_day = dict.fromkeys(((first + timedelta(days=d)).date() for d in range(30)), 0)
        count_by_day = dict.fromkeys(energy_by_day, 0)
        for item in recent:
            if item.started_at is None:
                continue
            day = item.started_at.astimezone(local).date()
            if day in energy_by_day:
                energy_by_day[day] += item.energy_wh or 0
                count_by_day[day] += 1
        today_key = today.date()
        active, active_total = (
            await sessions.list_sessions(
                principal, SessionFilter(status="active"), limit=10, offset=0
            )
            if may_read_stations
            else ([], 0)
        )
        shell_language = services_language(request)
        return await page(
            request,
            "dashboard.html",
            principal,
            state=state,
            sessions_today=count_by_day[today_key],
            energy_today=energy_by_day[today_key],
            sessions_30=total_30,
            energy_30=sum(energy_by_day.values()),
            energy_chart=charts.bar_chart(
                [(d.strftime("%d.%m"), wh / 1000) for d, wh in energy_by_day.items()],
                unit="kWh",
                label=translations(shell_language).gettext("Energy per day (kWh)"),
            ),
            sessions_chart=charts.bar_chart(
                [(d.strftime("%d.%m"), float(n)) for d, n in count_by_day.items()],
                unit="",
                label=translations(shell_language).gettext("Sessions per day"),
            ),
            active=active,
            active_total=active_total,
            fleet_shown=may_read_stations,
        )

    # -- stations ---------------------------------------------------------------------------

    @get("/stations")
    async def station_list(request: Request) -> Response[str]:
        principal = await services.principal(request)
        return await show_stations(request, principal)

    async def show_stations(
        request: Request, principal: Principal, status_code: int = 200, **extra: Any
    ) -> Response[str]:
        """The station list (its query's search, sort and page) with the
        create form; ``extra``: its errors, entered values, a notice."""
        q = (request.query_params.get("q") or "")[:MAX_QUERY].strip()
        state = request.query_params.get("state") or ""
        connected = {"online": True, "offline": False}.get(state)
        number = int_param(request.query_params.get("page"), 1)
        filters = StationFilter(q=q, connected=connected)
        sort = request.query_params.get("sort") or "charge_point_id"
        column = sort.removeprefix("-")
        if column not in fleet.STATION_SORTS:
            sort = column = "charge_point_id"
        if sort == "charge_point_id":
            # The storage's own order: one page read.
            _, total = await stations.list_stations(principal, filters, limit=1, offset=0)
            pager = Pager(request, total, number, default_sort="charge_point_id")
            rows, total = await stations.list_stations(
                principal, filters, limit=pager.size, offset=pager.offset
            )
        else:
            every, total = await fleet.all_rows(
                lambda limit, offset: stations.list_stations(
                    principal, filters, limit=limit, offset=offset
                )
            )
            every.sort(key=fleet.STATION_SORTS[column], reverse=sort.startswith("-"))  # type: ignore[arg-type]
            pager = Pager(request, len(every), number, default_sort="charge_point_id")
            rows = every[pager.offset : pager.offset + pager.size]
        part = request.query_params.get("part") == "rows"
        query = urlencode({k: v for k, v in request.query_params.items() if k != "part"})
        removed = (request.query_params.get("removed") or "")[:MAX_QUERY]
        _ = translations(services_language(request)).gettext
        values: dict[str, Any] = {
            "errors": {},
            "entered": {},
            "notice": (
                {"kind": "ok", "text": _("Station %(id)s removed.") % {"id": removed}}
                if removed
                else None
            ),
            "may_create": principal.profile.scope("stations", "create") is not None,
            "may_remove": principal.profile.scope("stations", "delete") is not None,
            **extra,
        }
        return await page(
            request,
            "_station_rows.html" if part else "stations.html",
            principal,
            status_code,
            rows=rows,
            pager=pager,
            q=q,
            state=state,
            sort=sort,
            query=query,
            **values,
        )

    async def station_values(principal: Principal, station_id: int) -> dict[str, Any]:
        station = await stations.get_station(principal, station_id)
        rows, total = await sessions.list_sessions(
            principal, SessionFilter(station_id=station_id), limit=20, offset=0
        )
        try:
            await operator.station_for(principal, station_id)
            may_command = True
        except (Forbidden, NotFound):
            may_command = False
        # The raw frames carry what hidden fields hide (serial numbers in a
        # BootNotification): their text only for who sees every field.
        messages = (
            list(reversed(await message_log(station.charge_point_id, limit=MESSAGES)))
            if message_log is not None
            else []
        )
        payloads = not principal.row_hidden_fields("stations", station.owner_entity_id)
        return {
            "station": station,
            "messages": messages,
            "payloads": payloads,
            "sessions": rows,
            "total": total,
            "may_command": may_command,
            "triggers": TRIGGERS,
            "attribute_types": ATTRIBUTE_TYPES,
            "base_reports": BASE_REPORTS,
        }

    async def show_station(
        request: Request,
        principal: Principal,
        station_id: int,
        status_code: int = 200,
        **extra: Any,
    ) -> Response[str]:
        """The whole station page: its live part, its sections (read
        through their services) and what an operation ``extra`` says."""
        values = await station_values(principal, station_id)
        values.update(await sections.values(request, principal, values["station"]))
        values["may_upload_firmware"] = (
            context.files is not None and principal.profile.scope("stations", "update") is not None
        )
        values["may_remove"] = principal.profile.scope("stations", "delete") is not None
        values.update(errors={}, result=None, command="")
        values.update(extra)
        return await page(request, "station.html", principal, status_code, **values)

    @get("/stations/{station_id:int}")
    async def station_page(request: Request, station_id: Id) -> Response[str]:
        principal = await services.principal(request)
        return await show_station(request, principal, station_id)

    @get("/stations/{station_id:int}/live")
    async def station_live(request: Request, station_id: Id) -> Response[str]:
        """The live part of the station page (connectors, sessions), which
        the page fetches again on each change event."""
        principal = await services.principal(request)
        values = await station_values(principal, station_id)
        part = "_station_log.html" if request.query_params.get("part") == "log" else None
        return await page(request, part or "_station_live.html", principal, **values)

    @get("/stations/events")
    async def stations_events(request: Request) -> ServerSentEvent:
        """Server-sent events for the station list: ``change`` whenever a
        station the user may see changed on any node."""
        principal = await services.principal(request)
        principal.require("stations", "read")
        return ServerSentEvent(live_events(live, None))

    @get("/stations/{station_id:int}/events")
    async def station_events(request: Request, station_id: Id) -> ServerSentEvent:
        """Server-sent events: ``change`` whenever the station's state
        changed on any node (heard on the bus), a comment every
        KEEPALIVE_SECONDS; the stream ends after STREAM_SECONDS (the browser
        reconnects) or when the node stops."""
        principal = await services.principal(request)
        await stations.get_station(principal, station_id)
        return ServerSentEvent(live_events(live, station_id))

    @post("/stations/{station_id:int}/commands/{name:str}")
    async def station_command(
        request: Request, station_id: Id, name: FromPath[str]
    ) -> Response[str]:
        """A remote command from the station page, through the API's
        command service; the page shows the charger's answer or the
        timeout, busy or not-connected result."""
        principal = await services.principal(request)
        form = await request.form()
        csrf_ok(request, form)
        _ = translations(services_language(request)).gettext
        errors: dict[str, str] = {}
        command = command_of(name, form, errors, _)
        result: dict[str, str] | None = None
        status = 400
        if command is not None and not errors:
            outcome = await operator.send(principal, station_id, command)
            result = describe(outcome, _)
            status = 200
        return await show_station(
            request, principal, station_id, status, errors=errors, result=result, command=name
        )

    # -- sessions ---------------------------------------------------------------------------

    @get("/sessions")
    async def session_list(request: Request) -> Response[str]:
        principal = await services.principal(request)
        status = request.query_params.get("status") or ""
        if status not in {"", "active", "completed"}:
            status = ""
        id_tag = (request.query_params.get("q") or "")[:MAX_QUERY].strip()
        number = int_param(request.query_params.get("page"), 1)
        # One station's sessions (its page links here); 0: every station.
        station_id = int_param(request.query_params.get("station_id"), 0, low=0, high=2**31 - 1)
        filters = SessionFilter(
            station_id=station_id or None, status=status or None, id_tag=id_tag or None
        )
        sort = chosen_sort(request.query_params.get("sort"), SESSION_SORTS, "-started_at")
        if sort == "-started_at":  # the service's own order: read one page
            _, total = await sessions.list_sessions(principal, filters, limit=1, offset=0)
            pager = Pager(request, total, number, default_sort="-started_at")
            rows, total = await sessions.list_sessions(
                principal, filters, limit=pager.size, offset=pager.offset
            )
        else:
            every, _ = await sessions.list_sessions(principal, filters, limit=SORT_CAP, offset=0)
            every = sorted_rows(every, sort, SESSION_SORTS)
            pager = Pager(request, len(every), number, default_sort="-started_at")
            rows = every[pager.offset : pager.offset + pager.size]
        return await page(
            request,
            "sessions.html",
            principal,
            rows=rows,
            pager=pager,
            q=id_tag,
            status=status,
            station_id=station_id,
            sortable=True,
        )

    @get("/sessions/{session_id:int}")
    async def session_page(request: Request, session_id: BigId) -> Response[str]:
        """A session with its energy and power over time (server-side SVG)."""
        principal = await services.principal(request)
        item = await sessions.get_session(principal, session_id)
        values = await meter_values(session_id) if meter_values is not None else []
        brand = await services.brand(principal)
        local = zone(brand.time_zone)
        energy = [
            (at.astimezone(local), kwh)
            for at, kwh in metering.energy_since_start(metering.series(values, metering.ENERGY))
        ]
        power = [(at.astimezone(local), kw) for at, kw in metering.series(values, metering.POWER)]
        _ = translations(services_language(request)).gettext
        return await page(
            request,
            "session.html",
            principal,
            item=item,
            samples=len(values),
            energy_chart=charts.line_chart(energy, unit="kWh", label=_("Energy (kWh)")),
            power_chart=charts.line_chart(power, unit="kW", label=_("Power (kW)")),
        )

    # -- errors ---------------------------------------------------------------------------------

    def to_login(request: Request, _: Exception) -> Response[Any]:
        target = safe_next(
            request.url.path + ("?" + request.url.query if request.url.query else "")
        )
        response: Response[Any] = Redirect(
            path="/login?" + urlencode({"next": target}), status_code=303
        )
        clear_session_cookie(response)
        return finish(request, response)

    def error_page(status: int, title: str) -> Any:
        def handle(request: Request, error: Exception) -> Response[str]:
            language = services_language(request)
            _ = translations(language).gettext
            detail = getattr(error, "detail", None) or str(error)
            html = _env.get_template("error.html").render(
                _=_,
                language=language,
                title=_(title),
                detail=detail,
                status=status,
                brand=None,
            )
            return finish(request, Response(html, media_type=MediaType.HTML, status_code=status))  # type: ignore[return-value]

        return handle

    helpers = SimpleNamespace(
        principal=services.principal,
        render_page=page,
        csrf_ok=csrf_ok,
        form_text=form_text,
        int_param=int_param,
        Pager=Pager,
        finish=finish,
        gettext=lambda request: translations(services_language(request)).gettext,
        brand=services.brand,
    )

    return Router(
        path="/",
        route_handlers=[
            *billing_handlers(context, helpers, tariffs),
            *check_handlers(context, helpers),
            *directory_handlers(context, helpers, services),
            *customer_handlers(context, helpers),
            *station_ops_handlers(context, helpers, show_station, show_stations, stations),
            login_form,
            login,
            logout,
            password_form,
            change_password,
            switch_entity,
            switch_language,
            brand_css,
            brand_logo,
            dashboard,
            station_list,
            station_page,
            station_live,
            station_events,
            stations_events,
            station_command,
            session_list,
            session_page,
        ],
        exception_handlers={
            Unauthenticated: to_login,
            Forbidden: error_page(403, N_("Not allowed")),
            PermissionDeniedException: error_page(403, N_("Not allowed")),
            NotFound: error_page(404, N_("Not found")),
            NotFoundException: error_page(404, N_("Not found")),
            InvalidInput: error_page(400, N_("Bad input")),
            TooManyAttempts: error_page(429, N_("Too many attempts")),
        },
        include_in_schema=False,
    )


def services_language(request: Request) -> str:
    from admin_ui.web.i18n import choose_language

    return choose_language(
        request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language")
    )
