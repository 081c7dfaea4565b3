"""The operators' pages in a real browser (Debian's Chromium, headless) on a
real node: login, the entity switcher and branding, scoping across
entities on every page reachable from the menu, the password change, the
language, and the API's schema page offline. Screenshots of the main pages
are saved to docs/screenshots/.

Run: ``python -m pytest tests/e2e/test_admin_ui.py -q`` (needs
/usr/bin/chromium: ``apt-get install -y chromium``; ./scripts/test does it).
Each test hands its async body to the node's thread (tests/e2e/ui_helpers.py)."""

from __future__ import annotations

import collections
import re
from typing import Any

import pytest

from crm.tables import Entity
from csms.storage.stations import PiccoloStationAdmin
from csms.tables import Station
from tests.e2e.ui_helpers import UiNode, login, operator_user, screenshot, ui_node
from tests.world import make_entity

__all__ = ["ui_node"]

A_STATIONS = ("CP-ALPHA-1", "CP-ALPHA-2", "CP-ALPHA-3")
B_STATIONS = ("CP-BRAVO-1", "CP-BRAVO-2")


async def _world() -> dict[str, Any]:
    operator = await make_entity("Operator Holding")
    a = await make_entity("Alpha Energie GmbH", parent=operator)
    b = await make_entity("Bravo Mobility AG", parent=operator)
    await (
        Entity.update(
            {
                Entity.branding: '{"logo_url": "", "primary_color": "#0f7b6c", '
                '"secondary_color": "#0b3d36"}'
            }
        )
        .where(Entity.id == a)
        .run()
    )
    stations = PiccoloStationAdmin()
    for owner, names, city in ((a, A_STATIONS, "Hamburg"), (b, B_STATIONS, "Bremen")):
        for name in names:
            await stations.add(name, description=f"{name} car park")
            await (
                Station.update({Station.owner_entity: owner, Station.city: city})
                .where(Station.charge_point_id == name)
                .run()
            )
    await operator_user([a], email="anna@alpha.example")
    await operator_user([a, b], email="max@both.example")
    return {"operator": operator, "a": a, "b": b}


@pytest.fixture
def world(ui_node: UiNode) -> dict[str, Any]:
    ui_node.empty()
    return ui_node.run(_world())


def test_a_bad_password_shows_the_message_on_the_login_page(
    ui_node: UiNode, world: dict[str, Any]
) -> None:
    """A wrong password keeps the user on the login page with the message
    'Wrong e-mail or password.' and no session cookie."""

    async def body() -> None:
        page = await ui_node.new_page()
        await login(page, ui_node.base_url, "anna@alpha.example", "not the password")
        assert await page.get_by_test_id("form-error").inner_text() == ("Wrong e-mail or password.")
        assert "/login" in page.url
        cookies = await page.context.cookies()
        assert not [c for c in cookies if c["name"] == "csms_session"]
        await screenshot(page, "login-error")
        await page.context.close()

    ui_node.run(body())


def test_login_opens_the_dashboard_with_the_entity_branding(
    ui_node: UiNode, world: dict[str, Any]
) -> None:
    """After login the dashboard shows the active entity's name in the top
    bar, in its colours (from /brand.css), and its station counts; the
    session cookie is HttpOnly and SameSite=Lax."""

    async def body() -> None:
        page = await ui_node.new_page()
        await page.goto(ui_node.base_url + "/login")
        await screenshot(page, "login")
        await login(page, ui_node.base_url, "anna@alpha.example")
        await page.wait_for_url(ui_node.base_url + "/")
        assert await page.get_by_test_id("brand-name").inner_text() == "Alpha Energie GmbH"
        assert await page.get_by_test_id("offline").inner_text() == str(len(A_STATIONS))
        bar = await page.eval_on_selector(".topbar", "e => getComputedStyle(e).backgroundColor")
        assert bar == "rgb(11, 61, 54)"  # #0b3d36, the entity's secondary colour
        (cookie,) = [c for c in await page.context.cookies() if c["name"] == "csms_session"]
        assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
        await screenshot(page, "dashboard")
        await page.context.close()

    ui_node.run(body())


def test_the_entity_switcher_changes_the_entity_and_keeps_it(
    ui_node: UiNode, world: dict[str, Any]
) -> None:
    """A user of A and B picks B in the drop-down: the page shows B's name
    and B's stations, and still does after a reload (kept in the session)."""

    async def body() -> None:
        page = await ui_node.new_page()
        await login(page, ui_node.base_url, "max@both.example")
        await page.wait_for_url(ui_node.base_url + "/")
        await page.goto(ui_node.base_url + "/stations")
        assert await page.get_by_test_id("brand-name").inner_text() == "Alpha Energie GmbH"
        await page.select_option("#entity-switch", str(world["b"]))
        await page.wait_for_function(
            "() => document.querySelector('[data-testid=brand-name]').innerText"
            " === 'Bravo Mobility AG'"
        )
        assert page.url == ui_node.base_url + "/stations"
        await page.reload()
        assert await page.get_by_test_id("brand-name").inner_text() == "Bravo Mobility AG"
        text = await page.inner_text("main")
        assert "CP-BRAVO-1" in text
        assert "CP-ALPHA-1" not in text
        await page.context.close()

    ui_node.run(body())


def test_a_user_of_entity_a_never_sees_entity_b_on_any_page(
    ui_node: UiNode, world: dict[str, Any]
) -> None:
    """A crawl of every page reachable from the menu (and the links of its
    lists, searches for B's names included) for a user of A finds none of
    B's names."""

    async def body() -> None:
        page = await ui_node.new_page()
        base = ui_node.base_url
        await login(page, base, "anna@alpha.example")
        await page.wait_for_url(base + "/")
        menu = await page.eval_on_selector_all("nav.menu a", "links => links.map(a => a.href)")
        assert len(menu) >= 3
        seen: set[str] = set()
        # Breadth first: every menu page, then what their lists link to.
        queue = collections.deque([*menu, base + "/stations?q=BRAVO", base + "/stations?q=Bremen"])
        forbidden = re.compile("|".join([*B_STATIONS, "Bravo Mobility", "Bremen"]))
        while queue:
            url = queue.popleft().split("#")[0]  # (an anchor is the same page)
            if url in seen or not url.startswith(base) or len(seen) > 150:
                continue
            seen.add(url)
            response = await page.goto(url)
            assert response is not None and response.status < 400, url
            # (The search box and the sort and page links repeat what was
            # searched for: not a row of B.)
            html = re.sub(r'(value|href|data-live)="[^"]*"', "", await page.content())
            found = forbidden.search(html)
            assert found is None, f"{url} shows {found.group(0) if found else ''}"
            links = await page.eval_on_selector_all("main a", "links => links.map(a => a.href)")
            queue.extend(
                link
                for link in links
                if "/stations/" in link or "/sessions" in link or "page=" in link
            )
        assert any(re.search(r"/stations/\d+$", url) for url in seen)
        await page.goto(base + "/stations")
        assert await page.locator("main tbody tr").count() == len(A_STATIONS)
        await screenshot(page, "stations")
        await page.context.close()

    # A crawl of every page a user can reach (some hundred loads): it took
    # 28 s on SQLite and passed the helper's default 30 s on PostgreSQL with
    # two test workers on a slow day. What it checks is isolation, not speed.
    ui_node.run(body(), timeout=180)


def test_the_station_list_sorts_by_its_column_headers(
    ui_node: UiNode, world: dict[str, Any]
) -> None:
    """Clicking 'Charge point' sorts descending (it was ascending), again
    ascending; the order holds for the whole list, not one page."""

    async def body() -> None:
        page = await ui_node.new_page()
        base = ui_node.base_url
        await login(page, base, "anna@alpha.example")
        await page.wait_for_url(base + "/")
        await page.goto(base + "/stations")

        async def order() -> list[str]:
            cells = await page.eval_on_selector_all(
                "main tbody tr td:first-child a", "cells => cells.map(c => c.innerText)"
            )
            return list(cells)

        assert await order() == list(A_STATIONS)
        await page.click("th a[data-sort=charge_point_id]")
        await page.wait_for_url(re.compile(r".*sort=-charge_point_id.*"))
        assert await order() == list(reversed(A_STATIONS))
        await page.click("th a[data-sort=charge_point_id]")
        await page.wait_for_url(re.compile(r".*sort=charge_point_id.*"))
        assert await order() == list(A_STATIONS)
        await page.context.close()

    ui_node.run(body())


def test_the_password_change_checks_each_field_and_then_changes_it(
    ui_node: UiNode, world: dict[str, Any]
) -> None:
    """Bad input shows each field's message (a wrong current password, the
    two new ones differing); a good change lets the user log in with the
    new password only."""

    async def fill(page: Any, current: str, new: str, repeat: str) -> None:
        await page.fill("#email", "anna@alpha.example")
        await page.fill("#current", current)
        await page.fill("#new", new)
        await page.fill("#repeat", repeat)
        await page.click("button.primary")

    async def body() -> None:
        page = await ui_node.new_page()
        base = ui_node.base_url
        await login(page, base, "anna@alpha.example")
        await page.wait_for_url(base + "/")
        await page.goto(base + "/account/password")
        better = "a much better passphrase"
        await fill(page, "wrong wrong wrong", better, better)
        assert await page.inner_text("#current-error") == "Wrong e-mail or password."
        await fill(page, "correct horse battery staple", better, "another passphrase entirely")
        assert await page.inner_text("#repeat-error") == "The two new passwords differ."
        await fill(page, "correct horse battery staple", better, better)
        assert await page.get_by_role("status").inner_text() == ("Your password has been changed.")
        await page.click("text=Log out")
        await page.wait_for_url(re.compile(r".*/login$"))
        await login(page, base, "anna@alpha.example")
        assert await page.get_by_test_id("form-error").inner_text() == ("Wrong e-mail or password.")
        await login(page, base, "anna@alpha.example", better)
        await page.wait_for_url(base + "/")
        await page.context.close()

    ui_node.run(body())


def test_german_is_kept_once_chosen(ui_node: UiNode, world: dict[str, Any]) -> None:
    """Choosing Deutsch translates the menu, and the choice outlives the
    session (a cookie): after logging out and in again it is still German."""

    async def body() -> None:
        page = await ui_node.new_page()
        base = ui_node.base_url
        await login(page, base, "anna@alpha.example")
        await page.wait_for_url(base + "/")
        await page.select_option("select[name=language]", "de")
        await page.wait_for_selector("nav.menu >> text=Ladestationen")
        assert "Übersicht" in await page.inner_text("nav.menu")
        await screenshot(page, "dashboard-de")
        await page.click("text=Abmelden")
        await page.wait_for_url(re.compile(r".*/login$"))
        assert await page.inner_text("h1") == "Anmelden"
        await page.context.close()

    ui_node.run(body())


def test_the_api_schema_page_renders_without_the_internet(
    ui_node: UiNode, world: dict[str, Any]
) -> None:
    """/api/schema renders Redoc from the app's own files: with every
    request to another host refused, the API's title is on the page."""

    async def body() -> None:
        page = await ui_node.new_page()
        await page.route(re.compile(r"^(?!http://127\.0\.0\.1:).*"), lambda r: r.abort())
        await page.goto(ui_node.base_url + "/api/schema")
        await page.wait_for_selector('h1:has-text("csms operators\' API")')
        await page.context.close()

    ui_node.run(body())
