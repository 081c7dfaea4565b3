"""Drivers' app properties: one driver's token never reads, changes or
stops another driver's data, sessions or cards, through any route of the
app.

Each hypothesis example empties the tables and builds a world of one
entity, a public station and two drivers, A and B, registered and verified
through the API, each with RFID cards (some blocked), sessions (active and
completed) and an invoice. Then B drives every route of the app's route
table (enumerated, so a new route cannot escape) with A's ids in the path
and generated bodies; afterwards nothing B saw names A's cards, e-mail,
name or invoice, nothing of A's changed, and no command named A's token or
sessions. Examples: CSMS_APP_PROPERTY_EXAMPLES (default 12).
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import AsyncTestClient

from admin_ui.app_api import driver_app
from billing.tables import Document
from crm.tables import Contact, DriverLogin, Medium
from csms import tables as t
from csms.commands.model import Command, RemoteStart, RemoteStop
from csms.commands.outcomes import Answered, Outcome
from tests.conftest import empty_tables
from tests.drivers_app_helpers import (
    APP,
    PASSWORD,
    app_context,
    auth,
    drivers_client,
    entity_with_code,
    mailed_code,
    registration,
    unique_email,
)

EXAMPLES = int(os.environ.get("CSMS_APP_PROPERTY_EXAMPLES", "12"))

# Every route of the app by what it is about; a route missing here fails
# test_every_route_is_classified.
PUBLIC = {
    ("POST", "/registrations"),
    ("POST", "/verification"),
    ("POST", "/login"),
    ("POST", "/token"),
    ("POST", "/password-reset"),
    ("POST", "/password-reset/confirm"),
}
OWN = {
    ("GET", "/me"),
    ("DELETE", "/login"),
    ("GET", "/cards"),
    ("POST", "/cards"),
    ("GET", "/stations"),
    ("POST", "/charging/start"),
    ("GET", "/sessions"),
    ("GET", "/invoices"),
}
# Path parameter -> which of A's ids goes in.
BY_ID = {
    ("GET", "/cards/{card_id}"): "card",
    ("POST", "/cards/{card_id}/block"): "card",
    ("GET", "/sessions/{session_id}"): "session",
    ("POST", "/sessions/{session_id}/stop"): "session",
    ("GET", "/invoices/{document_id}/pdf"): "document",
}
SCHEMA = "/schema"


@dataclass
class RecordingStations:
    """The node's local stations, all of them held here: records every
    command and answers Accepted."""

    sent: list[tuple[str, Command]] = field(default_factory=list)

    def holds(self, charge_point_id: str) -> bool:
        return True

    async def execute(self, charge_point_id: str, command: Command, timeout: float) -> Outcome:
        self.sent.append((charge_point_id, command))
        return Answered(status="Accepted")


def routes(app: Any) -> set[tuple[str, str]]:
    """(method, path) of every route of the app, parameters as {name}."""
    found = set()
    for route in app.routes:
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path).rstrip("/") or "/"
        if path.startswith(SCHEMA):
            continue
        for method in getattr(route, "methods", ()):
            if method not in ("HEAD", "OPTIONS"):
                found.add((method, path))
    return found


def test_every_route_is_classified() -> None:
    """The properties drive every route of the app: public, the driver's
    own collections, and every route that takes an id."""
    app = driver_app(app_context())
    assert routes(app) == PUBLIC | OWN | set(BY_ID)


@dataclass
class Driver:
    email: str
    name: str
    access: str
    refresh: str
    contact: int
    app_uid: str
    app_medium: int  # the medium behind app_uid, which GET /cards/{id} shows its owner
    cards: dict[int, str] = field(default_factory=dict)
    sessions: list[int] = field(default_factory=list)
    documents: list[int] = field(default_factory=list)


@dataclass
class World:
    client: AsyncTestClient
    stations: RecordingStations
    station: int
    alice: Driver
    bob: Driver


@st.composite
def plans(draw: st.DrawFn) -> dict[str, Any]:
    def side() -> st.SearchStrategy[dict[str, Any]]:
        return st.fixed_dictionaries(
            {
                "cards": st.lists(st.booleans(), max_size=3),  # True: blocked
                "sessions": st.lists(st.sampled_from(["active", "completed"]), max_size=3),
                "documents": st.integers(0, 2),
            }
        )

    return {"alice": draw(side()), "bob": draw(side())}


@pytest.fixture
async def client_and_stations(db: None) -> AsyncIterator[tuple[AsyncTestClient, RecordingStations]]:
    context = app_context(app_rate_limit=1_000_000)
    stations = RecordingStations()
    assert context.charging is not None
    context.charging.commands.local = stations
    async with drivers_client(context) as client:
        yield client, stations


async def _driver(client: AsyncTestClient, code: str, station: int, plan: dict[str, Any]) -> Driver:
    name = f"Driver {secrets.token_hex(4)}"
    email = unique_email()
    answer = await client.post(f"{APP}/registrations", json=registration(code, email, name=name))
    assert answer.status_code == 202
    verified = await client.post(
        f"{APP}/verification", json={"token": await mailed_code(email, "verify")}
    )
    assert verified.status_code == 204
    login = (await client.post(f"{APP}/login", json={"email": email, "password": PASSWORD})).json()
    row = (
        await DriverLogin.select(
            DriverLogin.contact,
            DriverLogin.entity,
            DriverLogin.app_medium,
            DriverLogin.app_medium.uid,
        )
        .where(DriverLogin.email == email)
        .first()
    )
    assert row is not None
    driver = Driver(
        email=email,
        name=name,
        access=login["access_token"],
        refresh=login["refresh_token"],
        contact=row["contact"],
        app_uid=row["app_medium.uid"],
        app_medium=row["app_medium"],
    )
    headers = auth(driver.access)
    for blocked in plan["cards"]:
        uid = f"C{secrets.token_hex(6).upper()}"
        card = (await client.post(f"{APP}/cards", json={"uid": uid}, headers=headers)).json()
        if blocked:
            await client.post(f"{APP}/cards/{card['id']}/block", headers=headers)
        driver.cards[card["id"]] = uid
    now = datetime.now(UTC)
    for connector, status in enumerate(plan["sessions"], start=1):
        (session,) = await t.ChargingSession.insert(
            t.ChargingSession(
                station=station,
                connector_id=connector,
                id_tag=driver.app_uid,
                status=status,
                started_at=now - timedelta(minutes=30),
                meter_start_wh=1000,
                stopped_at=None if status == "active" else now - timedelta(minutes=5),
                meter_stop_wh=None if status == "active" else 5000,
                owner_contact_id=driver.contact,
                bill_to_contact_id=driver.contact,
                issuing_entity_id=row["entity"],
                created_at=now,
                updated_at=now,
            )
        ).returning(t.ChargingSession.id)
        driver.sessions.append(session["id"])
    for index in range(plan["documents"]):
        (document,) = await Document.insert(
            Document(
                issuer_entity=row["entity"],
                kind="invoice",
                number=f"INV-{secrets.token_hex(4)}-{index}",
                recipient_contact=driver.contact,
                issue_date=date.today(),
                period_start=date.today(),
                period_end=date.today(),
                currency="EUR",
                total_net_e4=10_000,
                total_vat_e4=1_900,
                total_gross_e4=11_900,
                content="{}",
                issued_at=now,
            )
        ).returning(Document.id)
        driver.documents.append(document["id"])
    return driver


async def _world(
    client: AsyncTestClient, stations: RecordingStations, plan: dict[str, Any]
) -> World:
    await empty_tables(restart_ids=False)
    stations.sent.clear()
    entity, code = await entity_with_code(may_act_as_sub_emp=True)
    now = datetime.now(UTC)
    (station,) = await t.Station.insert(
        t.Station(
            charge_point_id=f"CP-{secrets.token_hex(4)}",
            owner_entity=entity,
            registration_status="Accepted",
            latitude="52.5",
            longitude="13.4",
            created_at=now,
            updated_at=now,
        )
    ).returning(t.Station.id)
    alice = await _driver(client, code, station["id"], plan["alice"])
    bob = await _driver(client, code, station["id"], plan["bob"])
    return World(client, stations, station["id"], alice, bob)


async def _snapshot(driver: Driver) -> dict[str, Any]:
    """Everything of the driver's that a route could change."""
    return {
        "login": await DriverLogin.select(
            DriverLogin.email, DriverLogin.password_hash, DriverLogin.verified, DriverLogin.active
        ).where(DriverLogin.contact == driver.contact),
        "contact": await Contact.select().where(Contact.id == driver.contact),
        "media": await Medium.select(Medium.id, Medium.uid, Medium.status, Medium.owner_contact)
        .where(Medium.owner_contact == driver.contact)
        .order_by(Medium.id),
        "sessions": await t.ChargingSession.select(
            t.ChargingSession.id, t.ChargingSession.status, t.ChargingSession.owner_contact_id
        )
        .where(t.ChargingSession.owner_contact_id == driver.contact)
        .order_by(t.ChargingSession.id),
        "documents": await Document.select(Document.id, Document.recipient_contact)
        .where(Document.recipient_contact == driver.contact)
        .order_by(Document.id),
    }


def _bodies(world: World) -> dict[tuple[str, str], st.SearchStrategy[Any]]:
    """Bodies B sends, many of them naming A's things."""
    alice = world.alice
    a_uids = [alice.app_uid, *alice.cards.values()]
    return {
        ("POST", "/cards"): st.fixed_dictionaries({"uid": st.sampled_from(a_uids)}),
        ("POST", "/charging/start"): st.fixed_dictionaries(
            {"station_id": st.just(world.station), "connector_id": st.integers(1, 3)}
        ),
        ("POST", "/login"): st.fixed_dictionaries(
            {"email": st.just(alice.email), "password": st.text(min_size=10, max_size=12)}
        ),
        ("POST", "/token"): st.fixed_dictionaries({"refresh_token": st.just(world.bob.refresh)}),
        ("POST", "/password-reset"): st.fixed_dictionaries({"email": st.just(alice.email)}),
        ("POST", "/password-reset/confirm"): st.fixed_dictionaries(
            {"token": st.text(max_size=43), "password": st.just("x" * 12)}
        ),
        ("POST", "/verification"): st.fixed_dictionaries({"token": st.text(max_size=43)}),
        ("POST", "/registrations"): st.just({**registration("X", alice.email), "name": "Mallory"}),
    }


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    report_multiple_bugs=False,
    suppress_health_check=list(HealthCheck),
)
@given(plan=plans(), data=st.data())
async def test_one_driver_never_reaches_another_drivers_data(
    client_and_stations: tuple[AsyncTestClient, RecordingStations],
    plan: dict[str, Any],
    data: st.DataObject,
) -> None:
    """B, through every route with A's ids and bodies naming A's things:
    every id of A's is 404, no answer names A's cards, app token, e-mail,
    name or invoice numbers, A's rows are as they were, and no command
    names A's token or A's sessions."""
    client, stations = client_and_stations
    world = await _world(client, stations, plan)
    alice, bob = world.alice, world.bob
    before = await _snapshot(alice)
    a_documents = {
        row["number"]
        for row in await Document.select(Document.number).where(
            Document.recipient_contact == alice.contact
        )
    }
    secrets_of_a = [alice.email, alice.name, alice.app_uid, *alice.cards.values(), *a_documents]
    bodies = _bodies(world)
    ids = {
        "card": [
            *alice.cards,
            alice.app_medium,
            data.draw(st.integers(1, 2**31 - 1), label="card id"),
        ],
        "session": [*alice.sessions, data.draw(st.integers(1, 2**31 - 1), label="session id")],
        "document": [*alice.documents, data.draw(st.integers(1, 2**31 - 1), label="doc id")],
    }
    own_ids = {
        "card": {*bob.cards, bob.app_medium},
        "session": set(bob.sessions),
        "document": set(bob.documents),
    }
    order = sorted(PUBLIC | OWN | set(BY_ID))
    order = data.draw(st.permutations(order), label="route order")
    for method, path in order:
        if (method, path) == ("DELETE", "/login"):
            continue  # B logging out ends the run's token: done last
        if (method, path) in BY_ID:
            kind = BY_ID[(method, path)]
            for target in ids[kind]:
                if target in own_ids[kind]:
                    continue
                url = APP + re.sub(r"\{\w+\}", str(target), path)
                answer = await client.request(method, url, headers=auth(bob.access))
                assert answer.status_code == 404, (method, url, answer.status_code, answer.text)
                _no_secrets(answer.text, secrets_of_a, method, path)
            continue
        body = data.draw(bodies[(method, path)], label=path) if (method, path) in bodies else None
        answer = await client.request(method, APP + path, headers=auth(bob.access), json=body)
        assert answer.status_code < 500, (method, path, answer.text)
        # (What B sent may come back, as in "uid ... is known already".)
        sent = str(body).lower()
        _no_secrets(answer.text, [x for x in secrets_of_a if x.lower() not in sent], method, path)
    out = await client.delete(f"{APP}/login", headers=auth(bob.access))
    assert out.status_code == 204
    after = await _snapshot(alice)
    assert after == before
    for _, command in stations.sent:
        if isinstance(command, RemoteStart):
            assert command.id_tag == bob.app_uid
        if isinstance(command, RemoteStop):
            assert command.session_id not in alice.sessions
    # A still works: A's own token reads A's own data.
    me = await client.get(f"{APP}/me", headers=auth(alice.access))
    assert me.status_code == 200 and me.json()["email"] == alice.email


def _no_secrets(text: str, secrets_of_a: list[str], method: str, path: str) -> None:
    for secret in secrets_of_a:
        assert secret.lower() not in text.lower(), (method, path, secret, text[:300])
