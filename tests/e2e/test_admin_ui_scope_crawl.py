"""Scope and hidden fields on every page, by a crawl in a real browser on a
real node.

Two sibling entities, A and B (under a holding), each with stations,
sessions, contacts (one with a contact document), media, users, a group,
a tariff and an access rule; B also with an issued invoice to a third
entity. A user of A, whose group sees A's subtree and hides a field of
every kind that can be hidden (a station's serial number, a contact's
e-mail and IBAN, a medium's note, a user's e-mail, an entity's comment and
VAT id), logs in; the crawl starts at the menu and follows every
same-origin GET link (and every live part a page loads) breadth-first, up
to a bound, skipping logout and event streams. Downloads (CSV, PDF, XML)
are fetched too and, when they are text, read like pages. On every page and
download: no answer of 500 or more, none of B's distinctive names, ids and
values (nor the holding's or the invoiced entity's names), and none of the
hidden values. Then B's rows are asked for directly by id (pages and API):
each answer is a 403 or 404 that holds none of their data.

The crawl follows links, so pages added later are crawled without a change
here; distinctive values name the rows of every kind the product has.

Run: ``python -m pytest tests/e2e/test_admin_ui_scope_crawl.py -q`` (needs
/usr/bin/chromium)."""

from __future__ import annotations

import os
import re
import sys
from collections import deque
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, quote_plus, unquote_plus, urldefrag, urljoin, urlsplit

import pytest
from playwright.async_api import Error as PlaywrightError

from crm.access import system_principal
from crm.contacts import ContactCreate, DocumentUpload
from crm.services.contacts import ContactService
from crm.storage.tree import load_tree
from crm.tables import Group, User
from csms.tables import AccessRule, Station
from tests.billing_world import energy_tariff, make_tariff
from tests.e2e.ui_helpers import UiNode, login, operator_user, ui_node
from tests.integration.billing_world import cdr, company, master_contact, session, station
from tests.media_helpers import allow
from tests.world import make_user

__all__ = ["ui_node"]

CRAWLER = "crawler@alpha.example"
# The crawl's bound: pages and downloads fetched at most.
MAX_FETCHES = 400
OCT = datetime(2026, 10, 14, 9, 0, tzinfo=UTC)

# What A's user may never see: B's rows (and the entities outside A's subtree).
B_VALUES = (
    "Bravo Mobility",
    "CP-BRAVO-1",
    "CP-BRAVO-2",
    "Bremerhaven",
    "Bruno Bravomann",
    "bruno@bravo.example",
    "B0B0B0B0",
    "BRAVO-NOTE",
    "bert@bravo.example",
    "Bert Bravo",
    "Bravo Dispatch",
    "BRAVO-DC",
    "BRV-2026-",
    "Bravo Rahmenvertrag",
    "Bravo night rule",
    "Charlie Fleet",
    "Operator Holding",
)
# A's own values that A's user's group hides.
HIDDEN_VALUES = {
    "stations.serial_number": "SER-ALPHA-HIDDEN-77",
    "contacts.email": "anton.secret@alpha.example",
    "contacts.iban": "DE02120300000000202051",
    "media.note": "ALPHA-NOTE-HIDDEN",
    "users.email": "colleague.hidden@alpha.example",
    "entities.comment": "ALPHA-COMMENT-HIDDEN",
    "entities.vat_id": "DE811907980",
}
# What the crawl shows it reached (A's own rows, shown to A's user).
A_VALUES = (
    "CP-ALPHA-1",
    "Anton Alphauser",
    "Alpha Liefervertrag",
    "A1A1A1A1",
    "Alpha day rule",
    "Carla Colleague",
    "ALPHA-AC",
    "Alpha Nord",
)


async def _station(owner: int, name: str, city: str, serial: str = "") -> int:
    station_id = await station(owner, name)
    await (
        Station.update(
            {Station.city: city, Station.serial_number: serial, Station.description: name}
        )
        .where(Station.id == station_id)
        .run()
    )
    return station_id


async def _rule(station_id: int, uid: str, note: str) -> int:
    (row,) = (
        await AccessRule.insert(
            AccessRule(
                station=station_id,
                effect="allow",
                subject="medium",
                value=uid,
                note=note,
                created_at=datetime.now(UTC),
            )
        )
        .returning(AccessRule.id)
        .run()
    )
    return int(row["id"])


async def _world(billing: Any) -> dict[str, Any]:
    holding = await company("Operator Holding")
    a = await company(
        "Alpha Energie",
        parent=holding,
        city="Hamburg",
        vat_id=HIDDEN_VALUES["entities.vat_id"],
        comment=HIDDEN_VALUES["entities.comment"],
    )
    north = await company("Alpha Nord", parent=a, city="Kiel")
    b = await company(
        "Bravo Mobility",
        parent=holding,
        city="Bremerhaven",
        invoice_number_range="BRV-{yyyy}-{seq:06d}",
    )
    charlie = await company("Charlie Fleet", parent=holding)
    ids: dict[str, Any] = {"a": a, "north": north, "b": b, "holding": holding, "charlie": charlie}

    # Stations and sessions (one of October, one of today each).
    alpha_1 = await _station(a, "CP-ALPHA-1", "Hamburg", HIDDEN_VALUES["stations.serial_number"])
    await _station(north, "CP-ALPHA-NORD", "Kiel")
    bravo_1 = await _station(b, "CP-BRAVO-1", "Bremerhaven", "SER-BRAVO-1")
    bravo_2 = await _station(b, "CP-BRAVO-2", "Bremerhaven")
    now = datetime.now(UTC).replace(microsecond=0)
    await session(alpha_1, now - timedelta(hours=3), id_tag="A1A1A1A1")
    bravo_october = await session(bravo_1, OCT, id_tag="B0B0B0B0")
    bravo_today = await session(bravo_2, now - timedelta(hours=2), id_tag="B0B0B0B0")
    ids.update(b_stations=[bravo_1, bravo_2], b_sessions=[bravo_october, bravo_today])

    # Contacts (a person each, a document of B's), media, tariffs, access rules.
    contacts = ContactService()
    tree = await load_tree()
    anton = await contacts.create(
        system_principal(tree, a),
        ContactCreate(
            kind="person",
            owner_entity_id=a,
            first_name="Anton",
            last_name="Alphauser",
            email=HIDDEN_VALUES["contacts.email"],
            iban=HIDDEN_VALUES["contacts.iban"],
            city="Hamburg",
        ),
    )
    bruno = await contacts.create(
        system_principal(tree, b),
        ContactCreate(
            kind="person",
            owner_entity_id=b,
            first_name="Bruno",
            last_name="Bravomann",
            email="bruno@bravo.example",
            city="Bremerhaven",
        ),
    )
    document = await contacts.add_document(
        system_principal(tree, b),
        bruno.id,
        DocumentUpload(
            title="Bravo Rahmenvertrag",
            kind="contract",
            file_name="bravo-rahmenvertrag.txt",
            media_type="text/plain",
            content=b"Bravo Rahmenvertrag: Bruno Bravomann, B0B0B0B0",
        ),
    )
    await contacts.add_document(
        system_principal(tree, a),
        anton.id,
        DocumentUpload(
            title="Alpha Liefervertrag",
            kind="contract",
            file_name="alpha-liefervertrag.txt",
            media_type="text/plain",
            content=b"Alpha Liefervertrag: Anton Alphauser, A1A1A1A1",
        ),
    )
    await allow("A1A1A1A1", issuer=a, note=HIDDEN_VALUES["media.note"])
    await allow("B0B0B0B0", issuer=b, note="BRAVO-NOTE")
    await make_tariff(a, energy_tariff("ALPHA-AC"), audience="customer")
    await make_tariff(b, energy_tariff("BRAVO-DC", per_kwh="0.69"), audience="customer")
    await _rule(alpha_1, "A1A1A1A1", "Alpha day rule")
    b_rule = await _rule(bravo_1, "B0B0B0B0", "Bravo night rule")
    ids.update(anton=anton.id, bruno=bruno.id, b_document=document.id, b_rule=b_rule)

    # B's invoice to Charlie for October, issued.
    await cdr(
        bravo_october,
        bravo_1,
        "emp",
        seller=b,
        buyer_entity=charlie,
        buyer_contact=await master_contact(charlie),
        started_at=OCT,
    )
    run = await billing.run(system_principal(tree, b), b, "2026-10", preview=False)
    ids["b_run"] = run.run.id
    ids["b_billing_documents"] = [d.id for d in run.issued]
    assert all(d.number.startswith("BRV-2026-") for d in run.issued)
    assert ids["b_billing_documents"], "B's run issued an invoice"

    # Users: A's crawler (hiding a field of every kind), A's colleague, B's dispatcher.
    hidden = tuple(HIDDEN_VALUES)
    ids["crawler"] = await operator_user([a], email=CRAWLER, scope="subtree", hidden=hidden)
    ids["colleague"] = await make_user([a], email=HIDDEN_VALUES["users.email"])
    await User.update({User.name: "Carla Colleague"}).where(User.id == ids["colleague"]).run()
    bert = await operator_user([b], email="bert@bravo.example", scope="own")
    await User.update({User.name: "Bert Bravo"}).where(User.id == bert).run()
    (group,) = await Group.select(Group.id).where(Group.owner_entity == b).run()
    await Group.update({Group.name: "Bravo Dispatch"}).where(Group.id == group["id"]).run()
    ids.update(bert=bert, b_group=group["id"])
    return ids


@pytest.fixture
def world(ui_node: UiNode) -> dict[str, Any]:
    ui_node.empty()
    assert ui_node.node is not None
    return ui_node.run(_world(ui_node.node.api.billing), timeout=60)


_CSRF = re.compile(r'name="_csrf" value="[^"]*"|value="[^"]*" name="_csrf"')
_ATTRIBUTE = re.compile(r'(?:value|href|action|data-live)="[^"]*"')
TEXT_TYPES = ("text/", "application/json", "application/xml", "application/csv")
SKIP = re.compile(
    r"/logout$|/events(\?|$)|^/static/|^/brand|^/api/schema|^/schema|^/favicon", re.IGNORECASE
)


def _searched(url: str) -> list[str]:
    """What a search URL asked for (a page may repeat it in its search box
    and its links: not a row of B)."""
    query = urlsplit(url).query
    found = []
    for part in query.split("&"):
        name, _, value = part.partition("=")
        if name == "q" and value:
            found.append(value)
    return found


def offending(text: str, url: str) -> list[str]:
    """B's values and the hidden values that ``text`` shows."""
    text = _CSRF.sub("", text)
    for searched in _searched(url):
        variants = {searched, quote(searched), quote_plus(searched), unquote_plus(searched)}

        def unless_searched(match: re.Match[str], variants: set[str] = variants) -> str:
            return "" if any(v in match.group(0) for v in variants) else match.group(0)

        text = _ATTRIBUTE.sub(unless_searched, text)
    return [value for value in (*B_VALUES, *HIDDEN_VALUES.values()) if value in text]


class Crawl:
    """Breadth-first over the same-origin GET links of the pages. A list's
    sort and page links multiply (every column, both ways, on every
    page): of one list (its path and filters) at most VARIANTS are
    fetched."""

    VARIANTS = 4

    def __init__(self, page: Any, base: str) -> None:
        self.page = page
        self.base = base
        self.seen: set[str] = set()
        self.variants: dict[str, int] = {}
        self.queue: deque[str] = deque()
        self.fetched: list[tuple[str, int, str]] = []
        self.problems: list[str] = []
        self.texts: dict[str, str] = {}

    def add(self, href: str, at: str) -> None:
        url, _ = urldefrag(urljoin(at, href.strip()))
        if not url.startswith(self.base + "/") and url != self.base:
            return
        path = url[len(self.base) :] or "/"
        if SKIP.search(path) or url in self.seen:
            return
        parts = urlsplit(url)
        filters = sorted(
            p for p in parts.query.split("&") if p.split("=")[0] not in ("sort", "page", "part")
        )
        key = parts.path + "?" + "&".join(filters)
        if self.variants.get(key, 0) >= self.VARIANTS:
            return
        self.variants[key] = self.variants.get(key, 0) + 1
        self.seen.add(url)
        self.queue.append(url)

    def check(self, url: str, kind: str, text: str) -> None:
        self.texts[url] = text
        for value in offending(text, url):
            self.problems.append(f"{url} ({kind}) shows {value!r}")

    async def visit(self, url: str) -> None:
        try:
            response = await self.page.goto(url)
        except PlaywrightError as error:
            if "Download is starting" not in str(error):
                raise
            response = None
        if response is None:
            # A download: fetched in the same session, read when it is text.
            answer = await self.page.context.request.get(url)
            kind = answer.headers.get("content-type", "")
            self.fetched.append((url, answer.status, kind))
            if answer.status >= 500:
                self.problems.append(f"{url} answered {answer.status}")
            elif kind.startswith(TEXT_TYPES):
                self.check(url, kind, await answer.text())
            return
        kind = response.headers.get("content-type", "")
        self.fetched.append((url, response.status, kind))
        if response.status >= 500:
            self.problems.append(f"{url} answered {response.status}")
            return
        if "text/html" not in kind:
            if kind.startswith(TEXT_TYPES):
                self.check(url, kind, await response.text())
            return
        self.check(url, kind, await self.page.content())
        links = await self.page.eval_on_selector_all(
            "a[href], [data-live]",
            "els => els.map(e => e.getAttribute('href') || e.getAttribute('data-live'))",
        )
        for link in links:
            if link and not link.startswith(("mailto:", "tel:", "javascript:")):
                self.add(link, self.page.url)

    async def run(self, starts: list[str]) -> None:
        for start in starts:
            self.add(start, self.base + "/")
        while self.queue and len(self.fetched) < MAX_FETCHES:
            await self.visit(self.queue.popleft())


def test_a_user_of_a_sees_nothing_of_b_and_no_hidden_field_on_any_page(
    ui_node: UiNode, world: dict[str, Any]
) -> None:
    """The crawl from the menu reaches A's rows of every kind and finds,
    on no page and in no download, an answer of 500, a value of B or a
    hidden value; searches for B's names and by hidden values find
    nothing either."""

    async def body() -> None:
        base = ui_node.base_url
        page = await ui_node.new_page()
        await login(page, base, CRAWLER)
        await page.wait_for_url(base + "/")
        menu = await page.eval_on_selector_all(
            "nav.menu a[href], header a[href]", "links => links.map(a => a.getAttribute('href'))"
        )
        searches = [
            f"/{path}?q={quote_plus(text)}"
            for path in ("stations", "sessions", "contacts", "media", "users", "entities", "groups")
            for text in (
                "Bravo",
                "B0B0B0B0",
                "Bruno",
                "Bremerhaven",
                "anton.secret",
                "colleague.hidden",
                "ALPHA-NOTE",
            )
        ]
        crawl = Crawl(page, base)
        # Forms the crawl does not fill in: the access rules of A's station.
        chosen = ["/access-rules?station=CP-ALPHA-1"]
        await crawl.run([*menu, "/", *searches, *chosen])
        if os.environ.get("CSMS_CRAWL_LOG") == "1":
            for url, status, kind in crawl.fetched:
                print(status, kind, url[len(base) :], file=sys.stderr)
        assert not crawl.problems, "\n".join(crawl.problems)
        assert len(crawl.queue) == 0, f"the crawl stopped at {MAX_FETCHES} fetches"
        everything = "\n".join(crawl.texts.values())
        for value in A_VALUES:
            assert value in everything, f"the crawl never reached {value!r}"
        for path in ("/entities", "/users", "/groups", "/stations", "/sessions"):
            assert any(u.startswith(base + path) for u, _, _ in crawl.fetched), path
        # A search by a hidden value finds nothing (else the list would be an oracle).
        for url, text in crawl.texts.items():
            if "q=colleague.hidden" in url and "/users" in url:
                assert "Carla Colleague" not in text, url
            if "q=anton.secret" in url and "/contacts" in url:
                assert "Anton Alphauser" not in text, url
            if "q=ALPHA-NOTE" in url and "/media" in url:
                assert "A1A1A1A1" not in _CSRF.sub("", text), url
        await page.context.close()

    ui_node.run(body(), timeout=600)


def test_b_rows_asked_for_by_id_are_refused_without_their_data(
    ui_node: UiNode, world: dict[str, Any]
) -> None:
    """Each of B's rows by its id, as a page and through the API, in the
    browser of A's user: 403 or 404, and none of B's values in the answer."""

    async def body() -> None:
        base = ui_node.base_url
        page = await ui_node.new_page()
        await login(page, base, CRAWLER)
        await page.wait_for_url(base + "/")
        w = world
        paths = [
            *(f"/stations/{s}" for s in w["b_stations"]),
            *(f"/stations/{s}/live" for s in w["b_stations"]),
            *(f"/stations/{s}/remove" for s in w["b_stations"]),
            *(f"/sessions/{s}" for s in w["b_sessions"]),
            *(f"/entities/{e}" for e in (w["b"], w["holding"], w["charlie"])),
            f"/users/{w['bert']}",
            f"/groups/{w['b_group']}",
            f"/contacts/{w['bruno']}",
            f"/contacts/{w['bruno']}/edit",
            f"/billing/runs/{w['b_run']}",
            *(f"/billing/documents/{d}/pdf" for d in w["b_billing_documents"]),
            *(f"/billing/documents/{d}/xml" for d in w["b_billing_documents"]),
            *(f"/api/v1/stations/{s}" for s in w["b_stations"]),
            *(f"/api/v1/sessions/{s}" for s in w["b_sessions"]),
            f"/api/v1/entities/{w['b']}",
            f"/api/v1/users/{w['bert']}",
            f"/api/v1/groups/{w['b_group']}",
            f"/api/v1/contacts/{w['bruno']}",
            f"/api/v1/documents/{w['b_document']}",
        ]
        for path in paths:
            answer = await page.context.request.get(base + path)
            assert answer.status in (403, 404), f"{path} answered {answer.status}"
            shown = offending(await answer.text(), base + path)
            assert not shown, f"{path} shows {shown}"
        # Forms and filters naming B's id: no row of B in them.
        for path in (f"/entities/new?parent={w['b']}", f"/users?entity={w['b']}"):
            answer = await page.context.request.get(base + path)
            assert answer.status in (200, 403, 404), f"{path} answered {answer.status}"
            shown = offending(await answer.text(), base + path)
            assert not shown, f"{path} shows {shown}"
        # B's station named in a form: its rules are not shown.
        answer = await page.context.request.get(base + "/access-rules?station=CP-BRAVO-1")
        assert answer.status < 500
        assert "Bravo night rule" not in await answer.text()
        # The browser shows the error page, not the row.
        response = await page.goto(f"{base}/stations/{w['b_stations'][0]}")
        assert response is not None and response.status in (403, 404)
        assert "CP-BRAVO-1" not in await page.content()
        await page.context.close()

    ui_node.run(body(), timeout=120)
