"""Scoping properties: random entity trees, users, groups, shares and rows of
every kind, read through every list, detail and export endpoint of the
operators' API, against an independent model of the visibility rules
(:mod:`tests.property.worlds`).

Each hypothesis example empties the tables and writes its own world; the
properties hold for every user, working in each of their entities.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from litestar.testing import AsyncTestClient

from admin_ui.api.context import ApiContext
from crm.access import HIDEABLE_FIELDS
from csms.domain.files import FileService
from csms.domain.local_list import LocalListService
from csms.storage.access import PiccoloStationAccessSource
from csms.storage.files import DiskBlobs, PiccoloFiles
from csms.storage.local_list import PiccoloHeldLists, PiccoloMediaRecords, PiccoloStationRefs
from tests.conftest import empty_tables
from tests.property.worlds import (
    SENTINELS,
    Built,
    Expect,
    GroupSpec,
    World,
    add_group,
    build,
    cdr_net,
    files_dir,
    group_spec,
    worlds,
    worlds_with_a_shared_contact,
    worlds_with_a_station_reader,
)
from tests.world import api_client, bearer, make_user, token_for

API = "/api/v1"
PAGE = 500

SETTINGS = settings(
    deadline=None,
    database=None,
    # One failure shrunk (shrinking a world takes minutes), not every variant.
    report_multiple_bugs=False,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Examples per property. An example is about twice as slow on PostgreSQL
# as on SQLite (with a pool for each loop, tests/loop_pools.py; six times
# without); the scoping code and its SQL are the same on both, so the full
# search runs on SQLite and a third of it on PostgreSQL.
# CSMS_PROPERTY_EXAMPLES_SCALE sets the share (e.g. 3 for a deep local run).
_ON_POSTGRESQL = os.environ.get("CSMS_DATABASE_URL", "").startswith("postgres")
EXAMPLES_SCALE = float(
    os.environ.get("CSMS_PROPERTY_EXAMPLES_SCALE", "0.3" if _ON_POSTGRESQL else "1")
)


def examples(count: int) -> int:
    return max(5, round(count * EXAMPLES_SCALE))


# GET endpoints that answer about the asking user only, not about rows.
ABOUT_ONESELF = {"/auth/me"}


def services() -> ApiContext:
    """The API with the services a node gives it (local lists, hosted files
    in ``CSMS_FILES_DIR``), without a node: no station is connected."""
    context = ApiContext()
    stations = PiccoloStationRefs()
    context.local_lists = LocalListService(
        store=PiccoloHeldLists(),
        media=PiccoloMediaRecords(),
        access=PiccoloStationAccessSource(),
        commands=context.commands,
        stations=stations,
    )
    context.files = FileService(
        store=PiccoloFiles(),
        blobs=DiskBlobs(files_dir()),
        commands=context.commands,
        stations=stations,
        public_url=lambda: "http://csms.invalid",
    )
    return context


@pytest.fixture
async def client() -> AsyncIterator[AsyncTestClient]:
    async with api_client(services()) as test_client:
        yield test_client


def read_paths(client: AsyncTestClient) -> set[str]:
    """The GET paths of the API under /api/v1, path parameters as ``{}``."""
    schema = client.app.openapi_schema
    paths = set()
    for path, item in (schema.paths or {}).items():
        if path.startswith(API) and item.get is not None:
            paths.add(re.sub(r"\{[^}]*\}", "{}", path[len(API) :]).rstrip("/") or "/")
    return paths


# -- one viewpoint: a user, working in an entity ----------------------------------------


@dataclass(frozen=True)
class View:
    world: World
    built: Built
    user: int
    working: int
    # Whether the entity is named by X-Entity-Id (else: the login's entity).
    header: bool
    groups: tuple[int, ...] | None = None

    @property
    def expect(self) -> Expect:
        return Expect(self.world, self.user, self.working, self.groups)

    @property
    def headers(self) -> dict[str, str]:
        entity = self.built.entities[self.working] if self.header else None
        return bearer(self.built.tokens[self.user], entity)

    def __str__(self) -> str:
        user = self.world.users[self.user]
        groups = user.groups if self.groups is None else self.groups
        how = "X-Entity-Id" if self.header else "login"
        return (
            f"user u{self.user} (id {self.built.users[self.user]}, entities {list(user.entities)},"
            f" groups {[self.world.groups[g] for g in groups]}) working in E{self.working}"
            f" (id {self.built.entities[self.working]}, by {how})"
        )


def rows(built: Built, kind: str) -> list[int]:
    return list(getattr(built, kind))


def seen_ids(view: View, kind: str) -> set[int]:
    """Row ids of ``kind`` the model says the view sees."""
    seen: set[int] = getattr(view.expect, f"seen_{kind}")()
    ids = rows(view.built, kind)
    return {ids[i] for i in seen}


def row_hidden(view: View, resource: str, row_id: int) -> set[str]:
    """The fields the model hides on one row (resources with hideable fields
    are rows of the kind of the same name)."""
    index = rows(view.built, resource).index(row_id)
    return view.expect.hidden(resource, view.expect.row_entities(resource, index))


def check_fields(view: View, resource: str, item: dict[str, Any], where: str) -> set[str]:
    """Every hideable field of the row present unless hidden, a hidden one
    absent; returns the row's hidden fields."""
    hideable = HIDEABLE_FIELDS.get(resource)
    if not hideable:
        return set()
    hidden = row_hidden(view, resource, item["id"])
    for name in sorted(hideable):
        if name in hidden:
            assert name not in item, f"{where}: hidden field {resource}.{name} returned, {view}"
        else:
            assert name in item, f"{where}: field {resource}.{name} missing, not hidden, {view}"
    return hidden


def check_hidden_values(
    view: View, resource: str, hidden_everywhere: set[str], text: str, where: str
) -> None:
    """The value of a field hidden on every row of an answer is nowhere in
    it (the sentinels are the same on every row, so a field shown on one
    row says nothing about another)."""
    for name in sorted(hidden_everywhere):
        value = SENTINELS.get(resource, {}).get(name)
        assert value is None or value not in text, (
            f"{where}: the value of hidden field {resource}.{name} is in the answer, {view}"
        )
    if resource == "users" and "email" in hidden_everywhere:
        for email in view.built.emails:
            assert email not in text, f"{where}: a hidden e-mail address is in the answer, {view}"


async def get_all(client: AsyncTestClient, path: str, view: View) -> tuple[int, list[Any], str]:
    """Every page of a list: status, items, the raw answers."""
    items: list[Any] = []
    texts = []
    offset = 0
    while True:
        response = await client.get(
            f"{API}{path}", params={"limit": PAGE, "offset": offset}, headers=view.headers
        )
        texts.append(response.text)
        if response.status_code != 200:
            return response.status_code, [], response.text
        page = response.json()
        assert page["limit"] == PAGE and page["offset"] == offset, f"GET {path}: page {page}"
        items.extend(page["items"])
        offset += PAGE
        if not page["items"] or offset >= page["total"]:
            assert page["total"] == len(items), f"GET {path}: total {page['total']}, {view}"
            return 200, items, "".join(texts)


def compare(where: str, view: View, got: list[Any], expected: set[Any]) -> None:
    assert len(got) == len(set(got)), f"{where}: a row twice ({sorted(got)}), {view}"
    extra = set(got) - expected
    missing = expected - set(got)
    assert not extra, f"{where}: rows outside the visible set {sorted(extra)}, {view}"
    assert not missing, f"{where}: visible rows not returned {sorted(missing)}, {view}"


# -- lists ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Listing:
    path: str
    resource: str
    kind: str
    # The resource whose hideable fields the items carry.
    fields: str | None


LISTS = (
    Listing("/entities", "entities", "entities", "entities"),
    Listing("/users", "users", "users", "users"),
    Listing("/groups", "groups", "groups", None),
    Listing("/contacts", "contacts", "contacts", "contacts"),
    Listing("/media", "media", "media", "media"),
    Listing("/stations", "stations", "stations", "stations"),
    Listing("/station-groups", "station_groups", "station_groups", None),
    Listing("/sessions", "stations", "sessions", None),
    Listing("/firmware", "stations", "firmware", None),
    Listing("/tariffs", "tariffs", "tariffs", None),
    Listing("/tariff-assignments", "tariffs", "tariff_assignments", None),
    Listing("/community-partners", "tariffs", "community_partners", None),
    Listing("/cdrs", "billing", "cdrs", None),
    Listing("/billing-runs", "billing", "billing_runs", None),
    Listing("/billing-documents", "billing", "billing_documents", None),
    Listing("/audit-log", "audit_log", "audit_log", None),
)


def check_user_links(view: View, user: dict[str, Any], where: str) -> None:
    """A user shows only the memberships and groups the viewer sees."""
    index = view.built.users.index(user["id"])
    expect = view.expect
    entities = [view.built.entities[e] for e in expect.shown_memberships(index)]
    groups = [view.built.groups[g] for g in expect.shown_groups(index)]
    assert sorted(user["entity_ids"]) == sorted(entities), (
        f"{where}: user {user['id']} shows memberships {user['entity_ids']}, expected {entities},"
        f" {view}"
    )
    assert sorted(user["group_ids"]) == sorted(groups), (
        f"{where}: user {user['id']} shows groups {user['group_ids']}, expected {groups}, {view}"
    )


async def check_lists(client: AsyncTestClient, paths: set[str], view: View) -> None:
    expect = view.expect
    for listing in LISTS:
        if listing.path not in paths:
            continue
        where = f"GET {listing.path}"
        status, items, text = await get_all(client, listing.path, view)
        event(f"{where}: {status}, {'some' if items else 'no'} rows")
        if expect.can(listing.resource) and expect.hidden_somewhere(listing.fields or ""):
            event(f"{where}: fields hidden")
        if not expect.can(listing.resource):
            assert status == 403, f"{where}: {status} without {listing.resource}:read, {view}"
            continue
        assert status == 200, f"{where}: {status} {text[:300]}, {view}"
        compare(where, view, [item["id"] for item in items], seen_ids(view, listing.kind))
        hidden_sets = []
        for item in items:
            if listing.fields:
                hidden_sets.append(check_fields(view, listing.fields, item, where))
            if listing.kind == "users":
                check_user_links(view, item, where)
        if listing.fields and hidden_sets:
            check_hidden_values(view, listing.fields, set.intersection(*hidden_sets), text, where)
    if "/entities/tree" in paths:
        await check_tree(client, view)
    for export, resource in (("/contacts/export.csv", "contacts"), ("/media/export.csv", "media")):
        if export in paths:
            await check_export(client, view, export, resource)
    if REPORTS & paths:
        await check_reports(client, view)
    if STALE in paths:
        await check_stale(client, view)


REPORTS = {"/reports/billing", "/reports/billing.csv"}
STALE = "/sessions/stale"


async def check_stale(client: AsyncTestClient, view: View) -> None:
    """Sessions never stopped: only at stations the user sees; 403 without
    stations:read."""
    answer = await client.get(f"{API}{STALE}", headers=view.headers)
    if not view.expect.can("stations"):
        assert answer.status_code == 403, f"GET {STALE}: {answer.status_code}, {view}"
        return
    assert answer.status_code == 200, f"GET {STALE}: {answer.text[:300]}, {view}"
    seen = {view.built.stations[s] for s in view.expect.seen_stations()}
    assert {f["station_id"] for f in answer.json()} <= seen, f"GET {STALE}: {answer.text}"


async def check_reports(client: AsyncTestClient, view: View) -> None:
    """The billing report (JSON and CSV) sums exactly the CDRs the user
    sees (force purchase prices included): net, sessions; 403 without
    billing:read."""
    expect, world = view.expect, view.world
    answers = [await client.get(f"{API}{path}", headers=view.headers) for path in sorted(REPORTS)]
    if not expect.can("billing"):
        for answer in answers:
            assert answer.status_code == 403, f"GET reports: {answer.status_code}, {view}"
        return
    report, table = answers
    assert report.status_code == 200 and table.status_code == 200, f"{report.text[:300]}, {view}"
    seen = expect.seen_cdrs()
    net = f"{sum(cdr_net(c) for c in seen)}.0000"
    sessions = len({world.cdrs[c].session for c in seen})
    totals = report.json()["totals"]
    event(f"GET /reports/billing: {'some' if seen else 'no'} CDRs")
    if not seen:
        assert totals == [], f"GET /reports/billing: totals {totals} of no CDR, {view}"
        return
    assert [(t["net"], t["sessions"]) for t in totals] == [(net, sessions)], (
        f"GET /reports/billing: totals {totals}, expected net {net} of {sessions}, {view}"
    )
    (last,) = [row for row in csv.DictReader(io.StringIO(table.text)) if row["group"] == "total"]
    assert (last["net"], last["sessions"]) == (net, str(sessions)), f"CSV {last}, {view}"


async def check_tree(client: AsyncTestClient, view: View) -> None:
    where = "GET /entities/tree"
    response = await client.get(f"{API}/entities/tree", headers=view.headers)
    if not view.expect.can("entities"):
        assert response.status_code == 403, f"{where}: {response.status_code}, {view}"
        return
    assert response.status_code == 200, f"{where}: {response.text[:300]}, {view}"
    found: list[int] = []

    def walk(nodes: list[dict[str, Any]]) -> None:
        for node in nodes:
            found.append(node["id"])
            walk(node["children"])

    walk(response.json())
    compare(where, view, found, seen_ids(view, "entities"))


async def check_export(client: AsyncTestClient, view: View, path: str, resource: str) -> None:
    where = f"GET {path}"
    response = await client.get(f"{API}{path}", headers=view.headers)
    expect = view.expect
    if not expect.can(resource):
        assert response.status_code == 403, f"{where}: {response.status_code}, {view}"
        return
    assert response.status_code == 200, f"{where}: {response.text[:300]}, {view}"
    table = list(csv.DictReader(io.StringIO(response.text, newline="")))
    header = set(csv.reader(io.StringIO(response.text)).__next__())
    if resource == "contacts":
        got = [int(row["id"]) for row in table]
        compare(where, view, got, seen_ids(view, "contacts"))
    else:
        uids = view.built.medium_uids
        got = [view.built.media[uids.index(row["uid"])] for row in table]
        compare(where, view, got, seen_ids(view, "media"))
    # A column every reading group hides is left out; the others are there,
    # and blank on the rows that hide them.
    left_out = expect.hidden_by_every_group(resource)
    assert not header & left_out, f"{where}: hidden columns {sorted(header & left_out)}, {view}"
    shown = set(HIDEABLE_FIELDS[resource]) - left_out
    assert shown <= header, f"{where}: columns missing, not hidden: {sorted(shown - header)}"
    hidden_sets = [row_hidden(view, resource, row_id) for row_id in got]
    for row, hidden in zip(table, hidden_sets, strict=True):
        for name in sorted(hidden & header):
            assert row[name] == "", f"{where}: hidden {resource}.{name} exported, {view}"
    everywhere = set.intersection(left_out, *hidden_sets) if hidden_sets else left_out
    check_hidden_values(view, resource, everywhere | left_out, response.text, where)


# -- details and the lists under one row ------------------------------------------------------


@dataclass(frozen=True)
class Detail:
    path: str
    resource: str
    kind: str
    fields: str | None


DETAILS = (
    Detail("/entities/{}", "entities", "entities", "entities"),
    Detail("/users/{}", "users", "users", "users"),
    Detail("/groups/{}", "groups", "groups", None),
    Detail("/contacts/{}", "contacts", "contacts", "contacts"),
    Detail("/documents/{}", "documents", "documents", None),
    Detail("/media/{}", "media", "media", "media"),
    Detail("/stations/{}", "stations", "stations", "stations"),
    Detail("/station-groups/{}", "station_groups", "station_groups", None),
    Detail("/sessions/{}", "stations", "sessions", None),
    Detail("/firmware/{}", "stations", "firmware", None),
    Detail("/uploads/{}/content", "stations", "uploads", None),
    Detail("/tariffs/{}", "tariffs", "tariffs", None),
    Detail("/tariffs/{}/ocpi", "tariffs", "tariffs", None),
    Detail("/cdrs/{}", "billing", "cdrs", None),
    Detail("/billing-runs/{}", "billing", "billing_runs", None),
    Detail("/billing-documents/{}", "billing", "billing_documents", None),
    Detail("/billing-documents/{}/pdf", "billing", "billing_documents", None),
    Detail("/billing-documents/{}/xml", "billing", "billing_documents", None),
)

# A row id that no world has: it must answer as an invisible row does.
NO_SUCH_ID = 987_654


async def check_details(client: AsyncTestClient, paths: set[str], view: View) -> None:
    """Every row of every kind: 200 iff seen, else 404 (403 only when no
    group grants reading at all)."""
    expect = view.expect
    for detail in DETAILS:
        if detail.path not in paths:
            continue
        seen = seen_ids(view, detail.kind)
        rendered = False
        for index, row_id in enumerate([*rows(view.built, detail.kind), NO_SUCH_ID]):
            where = f"GET {detail.path.format(row_id)}"
            if detail.path.endswith(("/pdf", "/xml")) and row_id in seen:
                # Rendering costs a tenth of a second: one seen document per
                # view proves the rendition is served; every unseen one is
                # still asked for (its 404 is what scoping promises).
                if rendered:
                    continue
                rendered = True
            response = await client.get(f"{API}{detail.path.format(row_id)}", headers=view.headers)
            expected = 200 if row_id in seen else 404
            if not expect.can(detail.resource):
                expected = 403
            event(f"GET {detail.path}: {expected}")
            assert response.status_code == expected, (
                f"{where}: {response.status_code}, expected {expected}: {response.text[:200]},"
                f" {view}"
            )
            if expected == 200 and detail.kind == "uploads":
                content = view.built.upload_contents[index]
                assert response.content == content, f"{where}: {response.content!r}, {view}"
            elif expected == 200 and (detail.fields or detail.kind == "firmware"):
                item = response.json()
                assert item["id"] == row_id, f"{where}: answered row {item['id']}"
                if detail.fields:
                    hidden = check_fields(view, detail.fields, item, where)
                    check_hidden_values(view, detail.fields, hidden, response.text, where)
                if detail.kind == "users":
                    check_user_links(view, item, where)


Expectation = tuple[int, set[Any] | None]


def contact_shares(view: View, contact: int) -> Expectation:
    """Shares are the owner's data: seen through the owner entity only."""
    expect, world, built = view.expect, view.world, view.built
    if not expect.can("contacts"):
        return 403, None
    if contact not in expect.seen_contacts():
        return 404, None
    if not expect.sees("contacts", world.contact_owners[contact]):
        return 403, None
    return 200, {built.entities[e] for e, _ in world.contact_shares(contact)}


def contact_documents(view: View, contact: int) -> Expectation:
    """A contact's documents of the entities whose documents the user sees,
    never another's through the share."""
    expect, world, built = view.expect, view.world, view.built
    if not expect.can("documents") or not expect.can("contacts"):
        return 403, None
    if contact not in expect.seen_contacts():
        return 404, None
    return 200, {
        built.documents[d]
        for d, document in enumerate(world.documents)
        if document.contact == contact and expect.sees("documents", document.owner)
    }


def station_rules(view: View, station: int) -> Expectation:
    expect, world, built = view.expect, view.world, view.built
    if not expect.can("access_rules"):
        return 403, None
    if station not in expect.seen_stations():
        return 404, None
    if not expect.sees("access_rules", world.stations[station].owner):
        return 403, None
    return 200, {built.rules[r] for r, rule in enumerate(world.rules) if rule.station == station}


def station_group_rules(view: View, group: int) -> Expectation:
    expect, world, built = view.expect, view.world, view.built
    if not expect.can("access_rules"):
        return 403, None
    if group not in expect.seen_station_groups():
        return 404, None
    if not expect.sees("access_rules", world.station_groups[group]):
        return 403, None
    return 200, {
        built.rules[r] for r, rule in enumerate(world.rules) if rule.station_group == group
    }


def of_station(view: View, station: int | None, found: set[Any] | None) -> Expectation:
    """What a station's own data answers: visible exactly when the station
    is (stations:read on its owner); ``station`` None: a station that does
    not exist."""
    if not view.expect.can("stations"):
        return 403, None
    if station is None or station not in view.expect.seen_stations():
        return 404, None
    return 200, found


def station_security(view: View, station: int | None) -> Expectation:
    found = {view.built.stations[station]} if station is not None else set()
    return of_station(view, station, found)


def station_security_events(view: View, station: int | None) -> Expectation:
    ids = view.built.security_events
    return of_station(
        view, station, {ids[e] for e, s in enumerate(view.world.security_events) if s == station}
    )


def station_uploads(view: View, station: int | None) -> Expectation:
    ids = view.built.uploads
    return of_station(
        view, station, {ids[u] for u, s in enumerate(view.world.uploads) if s == station}
    )


def station_variables(view: View, station: int | None) -> Expectation:
    names = view.built.variables
    return of_station(
        view, station, {names[v] for v, s in enumerate(view.world.variables) if s == station}
    )


def station_local_list(view: View, station: int | None) -> Expectation:
    tags = view.built.local_list_tags
    return of_station(
        view,
        station,
        {t for h, (s, _) in enumerate(view.world.local_lists) if s == station for t in tags[h]},
    )


def session_billing(view: View, session: int | None) -> Expectation:
    """Seen exactly when the session is; lists the CDRs of it the user
    sees (billing:read, force purchase prices)."""
    expect, world, built = view.expect, view.world, view.built
    if not expect.can("stations"):
        return 403, None
    if session is None or session not in expect.seen_sessions():
        return 404, None
    return 200, {built.cdrs[c] for c in expect.seen_cdrs() if world.cdrs[c].session == session}


def station_log(view: View, station: int | None) -> Expectation:
    """A station's events and OCPP message log: answered exactly when the
    station is seen (the world writes neither, so only the answer's status
    is compared)."""
    return of_station(view, station, None)


def session_meter_values(view: View, session: int | None) -> Expectation:
    """A session's meter values: answered exactly when the session is seen
    (the world samples none: the status is compared)."""
    if not view.expect.can("stations"):
        return 403, None
    if session is None or session not in view.expect.seen_sessions():
        return 404, None
    return 200, None


def entity_document_layout(view: View, entity: int | None) -> Expectation:
    """An entity's document layout: seen exactly when billing rows of that
    entity are (billing:read in scope)."""
    expect = view.expect
    if not expect.can("billing"):
        return 403, None
    if entity is None or not expect.sees("billing", entity):
        return 404, None
    return 200, {view.built.entities[entity]}


@dataclass(frozen=True)
class SubList:
    path: str
    parent: str
    # An index of the parent (None: a parent that does not exist, asked for
    # only when ``no_such`` says so).
    expectation: Callable[[View, Any], Expectation]
    # The key naming each item.
    key: str
    # The items: the answer itself, else every page of it (``paged``), else
    # what ``items`` takes from the one object answered.
    paged: bool = False
    items: Callable[[Any], list[dict[str, Any]]] | None = None
    no_such: bool = False


SUBLISTS = (
    SubList("/contacts/{}/shares", "contacts", contact_shares, "entity_id"),
    SubList("/contacts/{}/documents", "contacts", contact_documents, "id"),
    SubList("/stations/{}/access-rules", "stations", station_rules, "id"),
    SubList("/station-groups/{}/access-rules", "station_groups", station_group_rules, "id"),
    SubList(
        "/stations/{}/security",
        "stations",
        station_security,
        "station_id",
        items=lambda state: [state],
        no_such=True,
    ),
    SubList(
        "/stations/{}/security-events",
        "stations",
        station_security_events,
        "id",
        paged=True,
        no_such=True,
    ),
    SubList("/stations/{}/uploads", "stations", station_uploads, "id", no_such=True),
    SubList(
        "/stations/{}/variables",
        "stations",
        station_variables,
        "variable",
        paged=True,
        no_such=True,
    ),
    SubList(
        "/stations/{}/local-list",
        "stations",
        station_local_list,
        "id_tag",
        items=lambda held: held["entries"],
        no_such=True,
    ),
    SubList(
        "/entities/{}/document-layout",
        "entities",
        entity_document_layout,
        "entity_id",
        items=lambda layout: [layout],
        no_such=True,
    ),
    SubList("/stations/{}/events", "stations", station_log, "id", paged=True, no_such=True),
    SubList("/stations/{}/messages", "stations", station_log, "id", paged=True, no_such=True),
    SubList(
        "/sessions/{}/meter-values", "sessions", session_meter_values, "sampled_at", no_such=True
    ),
    SubList(
        "/sessions/{}/billing",
        "sessions",
        session_billing,
        "cdr_id",
        items=lambda status: status["audiences"],
        no_such=True,
    ),
)


async def check_sublists(client: AsyncTestClient, paths: set[str], view: View) -> None:
    for sub in SUBLISTS:
        if sub.path not in paths:
            continue
        parents: list[tuple[int | None, int]] = list(enumerate(rows(view.built, sub.parent)))
        if sub.no_such:
            parents.append((None, NO_SUCH_ID))
        for index, parent_id in parents:
            path = sub.path.format(parent_id)
            where = f"GET {path}"
            status, expected = sub.expectation(view, index)
            event(f"GET {sub.path}: {status}")
            if sub.paged:
                got_status, items, text = await get_all(client, path, view)
            else:
                response = await client.get(f"{API}{path}", headers=view.headers)
                got_status, text = response.status_code, response.text
                items = []
                if got_status == 200:
                    answer = response.json()
                    items = answer if sub.items is None else sub.items(answer)
            assert got_status == status, (
                f"{where}: {got_status}, expected {status}: {text[:200]}, {view}"
            )
            if expected is not None:
                compare(where, view, [item[sub.key] for item in items], expected)


def views(world: World, built: Built, *, every_entity: bool) -> list[View]:
    """Each user in their login's entity and, with ``every_entity``, in each
    of their entities by X-Entity-Id."""
    found = []
    for user, spec in enumerate(world.users):
        found.append(View(world, built, user, spec.entities[0], header=False))
        if every_entity:
            found.extend(View(world, built, user, e, header=True) for e in spec.entities)
    return found


# -- the properties ---------------------------------------------------------------------------


def test_every_read_endpoint_has_a_property(client: AsyncTestClient) -> None:
    """Every GET endpoint of the API is one the properties below drive, so a
    new list or detail endpoint cannot escape them unnoticed."""
    covered = (
        {listing.path for listing in LISTS}
        | {detail.path for detail in DETAILS}
        | {sub.path for sub in SUBLISTS}
        | {"/entities/tree", "/contacts/export.csv", "/media/export.csv"}
        | REPORTS
        | {STALE}
        | ABOUT_ONESELF
    )
    assert read_paths(client) - covered == set()


@settings(SETTINGS, max_examples=examples(40))
@given(world=worlds())
async def test_lists_show_exactly_the_visible_rows_without_hidden_fields(
    db: None, client: AsyncTestClient, world: World
) -> None:
    """Every list, the entity tree and the CSV exports return exactly the
    rows the user sees in the entity they work in (by login and by
    X-Entity-Id, in each of their entities), no hidden field or its value,
    and 403 exactly when no group lets them read the resource."""
    await empty_tables(restart_ids=False)
    built = await build(world)
    paths = read_paths(client)
    for view in views(world, built, every_entity=True):
        await check_lists(client, paths, view)


@settings(SETTINGS, max_examples=examples(40))
@given(world=worlds(), data=st.data())
async def test_details_answer_404_for_every_row_outside_the_visible_set(
    db: None, client: AsyncTestClient, world: World, data: st.DataObject
) -> None:
    """Asked for every row of every kind by id, a user gets 200 (without
    hidden fields) for the rows they see and 404 for every other row, like
    for an id that does not exist; the lists and states under a row
    (shares, documents, access rules; a station's security, security
    events, uploads, variables and local list) follow the same rules, and a
    shared contact never shows another entity's documents."""
    await empty_tables(restart_ids=False)
    built = await build(world)
    paths = read_paths(client)
    for user, spec in enumerate(world.users):
        working = data.draw(st.sampled_from(spec.entities), label=f"u{user} works in")
        view = View(world, built, user, working, header=working != spec.entities[0])
        await check_details(client, paths, view)
        await check_sublists(client, paths, view)


@settings(SETTINGS, max_examples=examples(25))
@given(world=worlds_with_a_shared_contact())
async def test_a_shared_contact_never_shows_another_entitys_documents(
    db: None, client: AsyncTestClient, world: World
) -> None:
    """A user who reads contacts and documents sees a contact another entity
    shares with theirs, but of its documents only those of entities whose
    documents they see (by list and by id), never the owner's through the
    share."""
    await empty_tables(restart_ids=False)
    built = await build(world)
    paths = read_paths(client)
    view = View(world, built, 0, world.users[0].entities[0], header=False)
    shared = len(world.contact_owners) - 1
    assert shared in view.expect.seen_contacts() or not view.expect.works_here
    await check_details(client, paths, view)
    await check_sublists(client, paths, view)


@settings(SETTINGS, max_examples=examples(15))
@given(world=worlds_with_a_station_reader())
async def test_a_station_reader_sees_exactly_the_data_of_the_stations_they_see(
    db: None, client: AsyncTestClient, world: World
) -> None:
    """A user who reads stations gets, of each station they see, exactly
    its sessions, security state and events, uploads (and their content),
    variables and local list, and the firmware of the entities in their
    scope; of every other station, 404 for each of them."""
    await empty_tables(restart_ids=False)
    built = await build(world)
    paths = read_paths(client)
    view = View(world, built, 0, world.users[0].entities[0], header=False)
    assert len(world.stations) - 2 in view.expect.seen_stations() or not view.expect.works_here
    await check_details(client, paths, view)
    await check_sublists(client, paths, view)


@settings(SETTINGS, max_examples=examples(20))
@given(world=worlds(max_users=1))
async def test_a_user_works_only_in_their_active_entities(
    db: None, client: AsyncTestClient, world: World
) -> None:
    """Naming an entity the user does not belong to, or a deactivated one,
    is 403 on every read, whatever their groups."""
    await empty_tables(restart_ids=False)
    built = await build(world)
    paths = read_paths(client)
    for entity in range(world.entity_count):
        view = View(world, built, 0, entity, header=True)
        if view.expect.works_here:
            continue
        for listing in LISTS:
            if listing.path in paths:
                response = await client.get(f"{API}{listing.path}", headers=view.headers)
                assert response.status_code == 403, f"GET {listing.path}: {response.text}, {view}"


async def visible_state(
    client: AsyncTestClient, paths: set[str], view: View, users: set[int]
) -> dict[str, tuple[set[int], set[str]]]:
    """What a view sees through the lists: per list, the ids (of users: of
    ``users`` only) and the hideable fields shown (nothing for a 403)."""
    state = {}
    for listing in LISTS:
        if listing.path not in paths:
            continue
        status, items, _ = await get_all(client, listing.path, view)
        assert status in (200, 403), f"GET {listing.path}: {status}, {view}"
        shown: set[str] = set()
        if listing.fields:
            hideable = HIDEABLE_FIELDS[listing.fields]
            shown = {name for item in items for name in item if name in hideable}
        ids = {item["id"] for item in items}
        if listing.kind == "users":
            ids &= users
        state[listing.path] = (ids, shown)
    return state


@settings(SETTINGS, max_examples=examples(30))
@given(world=worlds(max_users=1), extra=group_spec(1), data=st.data())
async def test_the_most_permissive_group_wins(
    db: None, client: AsyncTestClient, world: World, extra: GroupSpec, data: st.DataObject
) -> None:
    """A user in several groups sees exactly the union of what each of
    their groups alone shows (each group's widest scope; a field hidden
    only if every reading group hides it), and adding a group never takes
    anything away."""
    await empty_tables(restart_ids=False)
    built = await build(world)
    paths = read_paths(client)
    spec = world.users[0]
    working = data.draw(st.sampled_from(spec.entities), label="works in")
    # The users compared: the others, made below, join the users list.
    original = {built.users[0]}
    current = world

    async def add_user(groups: tuple[int, ...]) -> View:
        """One more user of user 0's entities, in exactly ``groups``."""
        nonlocal current
        current = replace(current, users=(*current.users, replace(spec, groups=groups)))
        user_id = await make_user(
            [built.entities[e] for e in spec.entities], [built.groups[g] for g in groups]
        )
        built.users.append(user_id)
        built.tokens.append(await token_for(user_id, built.entities[working]))
        return View(current, built, len(current.users) - 1, working, header=False)

    together = await visible_state(
        client, paths, View(world, built, 0, working, header=True), original
    )
    parts = [
        await visible_state(client, paths, await add_user((group,)), original)
        for group in spec.groups
    ]
    for path, (ids, shown) in together.items():
        union_ids: set[int] = set().union(*(part[path][0] for part in parts))
        union_shown: set[str] = set().union(*(part[path][1] for part in parts))
        assert ids == union_ids, (
            f"GET {path}: groups {spec.groups} together show {sorted(ids)}, "
            f"one by one {sorted(union_ids)}"
        )
        assert shown == union_shown, (
            f"GET {path}: groups {spec.groups} together show fields {sorted(shown)}, "
            f"one by one {sorted(union_shown)}"
        )

    # User 0's groups and one more: never less, and as the model says.
    current = replace(current, groups=(*current.groups, replace(extra, owner=working)))
    await add_group(built, current.groups[-1])
    more = await add_user((*spec.groups, len(current.groups) - 1))
    await check_lists(client, paths, more)
    after = await visible_state(client, paths, more, original)
    for path, (ids, shown) in together.items():
        more_ids, more_shown = after[path]
        assert ids <= more_ids, f"GET {path}: a new group took rows {sorted(ids - more_ids)}"
        assert shown <= more_shown, f"GET {path}: a new group took fields {shown - more_shown}"
