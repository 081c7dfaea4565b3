"""The operators' pages over HTTP, without a browser: CSRF, the cookies'
flags, the security headers, redirects to the login and the error pages
(never a 500), and the API's schema page served from our own files."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from babel.messages.frontend import parse_mapping_cfg
from litestar.testing import AsyncTestClient

from admin_ui.app import create_app
from admin_ui.web.security import CONTENT_SECURITY_POLICY
from csms.storage.stations import PiccoloStationAdmin
from csms.tables import ChargingSession, Station
from tests.e2e.ui_helpers import operator_user
from tests.world import PASSWORD, api_client, make_entity

# Words German writes as English does.
SAME_IN_GERMAN = {
    "App",
    "BIC",
    "CDRs",
    "Code",
    "Details",
    "EVSE",
    "EVSE (optional)",
    "Fax",
    "Firmware",
    "IBAN",
    "Information",
    "Medium",
    "Name",
    "Person",
    "Status",
    "Sub-CPOs",
    "UID",
    "Variable",
    "Web",
    "eMAID",
}


async def _login_form(client: AsyncTestClient) -> str:
    page = await client.get("/login")
    assert page.status_code == 200
    (token,) = re.findall(r'name="_csrf" value="([^"]+)"', page.text)[:1]
    return token


async def _logged_in(client: AsyncTestClient, email: str) -> str:
    token = await _login_form(client)
    answer = await client.post(
        "/login",
        data={"_csrf": token, "email": email, "password": PASSWORD, "next": "/"},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return token


async def test_a_form_without_the_csrf_token_is_refused(db: None) -> None:
    """A login POST whose _csrf field is missing or differs from the cookie
    is a 403 page and logs nobody in."""
    entity = await make_entity("Alpha")
    await operator_user([entity], email="anna@alpha.example")
    async with api_client() as client:
        await _login_form(client)
        missing = await client.post(
            "/login", data={"email": "anna@alpha.example", "password": PASSWORD}
        )
        forged = await client.post(
            "/login",
            data={"_csrf": "x" * 43, "email": "anna@alpha.example", "password": PASSWORD},
        )
    for answer in (missing, forged):
        assert answer.status_code == 403
        assert "did not come from this site" in answer.text
        assert "csms_session" not in answer.headers.get("set-cookie", "")


async def test_the_session_cookie_is_httponly_lax_and_secure_over_tls(
    db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The login's session cookie is HttpOnly and SameSite=Lax; Secure when
    the request came over TLS or CSMS_UI_SECURE_COOKIES=1 says so (TLS
    ended by a proxy), not on plain HTTP without the setting."""
    entity = await make_entity("Alpha")
    await operator_user([entity], email="anna@alpha.example")

    async def ready() -> dict[str, str]:
        return {"database": "ok"}

    cookies = {}
    for name, base_url, setting in (
        ("plain", "http://testserver.local", ""),
        ("tls", "https://testserver.local", ""),
        ("setting", "http://testserver.local", "1"),
    ):
        monkeypatch.setenv("CSMS_UI_SECURE_COOKIES", setting)
        app = create_app(readiness=ready, metrics=lambda: b"")
        async with AsyncTestClient(app=app, base_url=base_url) as client:
            token = await _login_form(client)
            # (A Secure cookie is not sent back over plain HTTP: send it.)
            client.cookies.set("csms_csrf", token)
            answer = await client.post(
                "/login",
                data={"_csrf": token, "email": "anna@alpha.example", "password": PASSWORD},
                follow_redirects=False,
            )
        assert answer.status_code == 303, answer.text
        (cookie,) = [c for c in answer.headers.get_list("set-cookie") if "csms_session=" in c]
        cookies[name] = cookie.lower()
    for cookie in cookies.values():
        assert "httponly" in cookie and "samesite=lax" in cookie
    assert "secure" not in cookies["plain"]
    assert "secure" in cookies["tls"]
    assert "secure" in cookies["setting"]


async def test_pages_carry_the_security_headers_and_no_inline_script(db: None) -> None:
    """Every page answers with the content security policy (no inline
    script or style) and the anti-framing and no-sniff headers; its HTML
    has no inline script, style element or style attribute."""
    entity = await make_entity("Alpha")
    await operator_user([entity], email="anna@alpha.example")
    async with api_client() as client:
        await _logged_in(client, "anna@alpha.example")
        for path in ("/login", "/", "/stations", "/sessions", "/account/password"):
            page = await client.get(path)
            assert page.status_code == 200, path
            assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
            assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
            assert page.headers["x-frame-options"] == "DENY"
            assert page.headers["x-content-type-options"] == "nosniff"
            assert not re.search(r"<script(?![^>]*\bsrc=)", page.text), path
            assert "<style" not in page.text and " style=" not in page.text, path


async def test_a_page_without_login_leads_to_the_login_and_back(db: None) -> None:
    """Without a session a page redirects to /login?next=<the page>; a
    next that leaves the site is replaced by /."""
    async with api_client() as client:
        page = await client.get("/stations?q=x", follow_redirects=False)
        assert page.status_code == 303
        assert page.headers["location"] == "/login?next=%2Fstations%3Fq%3Dx"
        form = await client.get("/login", params={"next": "//evil.example/"})
    assert 'name="next" value="/"' in form.text


async def test_unknown_and_foreign_rows_are_error_pages_not_500(db: None) -> None:
    """A station id that does not exist or another entity's is a 404 page;
    a huge page number or junk in the query is a normal page."""
    a = await make_entity("Alpha")
    await operator_user([a], email="anna@alpha.example")
    async with api_client() as client:
        await _logged_in(client, "anna@alpha.example")
        missing = await client.get("/stations/999999")
        junk = await client.get("/stations", params={"page": "-5x", "q": "a" * 5000})
        huge = await client.get("/sessions", params={"page": "99999999999999999999"})
    assert missing.status_code == 404
    assert "there is no station" in missing.text
    assert junk.status_code == 200
    assert huge.status_code == 200


async def test_the_sessions_list_shows_one_stations_sessions(db: None) -> None:
    """/sessions?station_id=N (the station page's "all sessions" link)
    lists that station's sessions only, and keeps the filter in its search
    form; a station id of another entity lists nothing."""
    a, b = await make_entity("Alpha"), await make_entity("Bravo")
    await operator_user([a], email="anna@alpha.example")
    stations = PiccoloStationAdmin()
    pks = {}
    for name, owner in (("CP-ONE", a), ("CP-TWO", a), ("CP-BRAVO", b)):
        await stations.add(name)
        await (
            Station.update({Station.owner_entity: owner})
            .where(Station.charge_point_id == name)
            .run()
        )
        row = await Station.select(Station.id).where(Station.charge_point_id == name).first()
        assert row is not None
        pks[name] = row["id"]
        await ChargingSession.insert(
            ChargingSession(
                station=pks[name],
                connector_id=1,
                id_tag=f"TAG-{name}",
                started_at=datetime(2026, 12, 1, 8, tzinfo=UTC),
            )
        ).run()
    async with api_client() as client:
        await _logged_in(client, "anna@alpha.example")
        one = await client.get("/sessions", params={"station_id": pks["CP-ONE"]})
        every = await client.get("/sessions")
        foreign = await client.get("/sessions", params={"station_id": pks["CP-BRAVO"]})
    assert "TAG-CP-ONE" in one.text and "TAG-CP-TWO" not in one.text
    assert f'name="station_id" value="{pks["CP-ONE"]}"' in one.text
    assert "TAG-CP-ONE" in every.text and "TAG-CP-TWO" in every.text
    assert "TAG-CP-BRAVO" not in every.text
    assert foreign.status_code == 200 and "TAG-" not in foreign.text


async def test_the_sessions_list_sorts_by_a_column_for_the_whole_list(db: None) -> None:
    """Sorting by energy orders every session (not one page), ascending then
    descending, sessions without energy last; an unknown column is the
    default order (newest first)."""
    a = await make_entity("Alpha")
    await operator_user([a], email="anna@alpha.example")
    await PiccoloStationAdmin().add("CP-SORT")
    await (
        Station.update({Station.owner_entity: a}).where(Station.charge_point_id == "CP-SORT").run()
    )
    row = await Station.select(Station.id).where(Station.charge_point_id == "CP-SORT").first()
    assert row is not None
    energies = [700, None, 5, 300] + [100 + n for n in range(30)]
    for n, energy in enumerate(energies):
        await ChargingSession.insert(
            ChargingSession(
                station=row["id"],
                connector_id=1,
                id_tag=f"T{n:03d}",
                started_at=datetime(2026, 12, 1, 8, n, tzinfo=UTC),
                meter_start_wh=0 if energy is not None else None,
                meter_stop_wh=energy,
                status="completed",
            )
        ).run()

    def tags(html: str) -> list[str]:
        return re.findall(r"<td>(T\d{3})</td>", html)

    async with api_client() as client:
        await _logged_in(client, "anna@alpha.example")
        up = await client.get("/sessions", params={"sort": "energy"})
        down = await client.get("/sessions", params={"sort": "-energy"})
        last_page = await client.get("/sessions", params={"sort": "energy", "page": "2"})
        unknown = await client.get("/sessions", params={"sort": "password"})
    assert tags(up.text)[:3] == ["T002", "T004", "T005"]
    assert tags(down.text)[:2] == ["T000", "T003"]
    assert tags(last_page.text)[-1] == "T001"  # no energy: last either way
    assert tags(unknown.text)[0] == "T033"  # newest first
    assert 'href="/sessions?sort=-energy' in up.text


async def test_a_user_who_may_not_read_stations_gets_a_dashboard_without_the_fleet(
    db: None,
) -> None:
    """A user administrator without stations:read lands on a dashboard that
    says why it shows no fleet (it answered 403 at login before)."""
    a = await make_entity("Alpha")
    await operator_user([a], email="ursula@alpha.example", permissions=("users:read",))
    async with api_client() as client:
        await _logged_in(client, "ursula@alpha.example")
        dashboard = await client.get("/")
    assert dashboard.status_code == 200
    assert 'data-testid="no-fleet"' in dashboard.text


async def test_the_schema_page_loads_redoc_from_the_app(db: None) -> None:
    """/api/schema names our own copy of Redoc and no other host; the copy
    is served with its licence next to it."""
    async with api_client() as client:
        page = await client.get("/api/schema")
        bundle = await client.get("/static/vendor/redoc.standalone.js")
        licence = await client.get("/static/vendor/redoc.LICENSE")
    assert page.status_code == 200
    assert '<script src="/static/vendor/redoc.standalone.js"' in page.text
    assert not re.search(r"(src|href)=['\"]https?://", page.text)
    assert bundle.status_code == 200 and len(bundle.content) > 500_000
    assert "MIT License" in licence.text


def test_every_message_of_the_pages_has_a_compiled_german_translation() -> None:
    """Each message the pages and templates mark (extracted as pybabel
    does, admin_ui/web/babel.cfg) is in the compiled German catalogue: a
    new English text without its translation (or without recompiling the
    .mo) fails here."""
    from babel.messages.extract import extract_from_dir

    from admin_ui.web import i18n

    web = Path(i18n.__file__).parent
    with open(web / "babel.cfg") as config:
        method_map, options_map = parse_mapping_cfg(config)
    marked = {
        message
        for _, _, message, _, _ in extract_from_dir(
            str(web), method_map=method_map, options_map=options_map
        )
        if isinstance(message, str)
    }
    assert len(marked) > 50
    german = i18n.translations("de")
    untranslated = sorted(m for m in marked if german.gettext(m) == m and m not in SAME_IN_GERMAN)
    assert untranslated == []


async def test_no_page_answers_500_to_junk(db: None) -> None:
    """Every route of the pages (enumerated from the app, so a new page is
    covered), asked with junk ids, queries and form fields, logged in and
    with the CSRF token, answers below 500."""
    from litestar import Litestar

    a = await make_entity("Alpha")
    await operator_user([a], email="anna@alpha.example")
    junk_ids = ("1", "999999", "9223372036854775808")
    query = {"page": "-1", "q": "\u00e4" * 300, "sort": "-nonsense", "state": "x", "kind": "y"}
    async with api_client() as client:
        token = await _logged_in(client, "anna@alpha.example")
        app = client.app
        assert isinstance(app, Litestar)
        checked = 0
        for route in app.routes:
            path = route.path
            if path.startswith(("/api", "/app", "/static", "/files", "/healthz", "/readyz")):
                continue
            if path in ("/metrics", "/logout"):
                continue
            for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
                for junk in junk_ids:
                    url = re.sub(r"\{[^}]+\}", junk, path).replace("{name}", "reset")
                    if method == "GET":
                        if path.endswith("/events"):
                            continue  # a stream: its start is checked in the live tests
                        answer = await client.get(url, params=query)
                    else:
                        answer = await client.post(
                            url,
                            data={
                                "_csrf": token,
                                "entity_id": "x",
                                "period": "2026-13",
                                "id_tag": "",
                                "connector_id": "-1",
                                "session_id": "0",
                                "language": "xx",
                                "kind": "z",
                                "email": "",
                            },
                            follow_redirects=False,
                        )
                    assert answer.status_code < 500, (method, url, answer.text[:300])
                    checked += 1
    assert checked > 40
