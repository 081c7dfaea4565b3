"""``./scripts/demo``'s world (csms.demo): the dashboard it opens on has
data, and where it listens and stores."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

from csms.demo import (
    DEMO_ADMIN,
    DEMO_DATABASE_URL,
    DEMO_PASSWORD,
    demo_settings,
    seed,
    seed_history,
)
from csms.settings import Settings
from tests.world import api_client


def _tiles(page: str) -> dict[str, str]:
    """The dashboard's figures by their label."""
    found = re.findall(r'<span class="figure">([^<]*)</span><span>([^<]*)</span>', page, flags=re.S)
    return {html.unescape(label): html.unescape(figure) for figure, label in found}


async def test_the_demo_opens_on_a_dashboard_with_sessions_energy_and_documents(
    db: None,
) -> None:
    """After the demo's seeding the administrator it prints logs in and the
    dashboard shows sessions and energy over 30 days, both charts have bars,
    and the billing pages list the documents of last month's runs."""
    now = datetime.now(UTC)
    stations = await seed(2, "fast")
    history = await seed_history(stations, now=now)
    assert history.sessions > 30 and history.rated == history.sessions
    assert history.documents == 2
    again = await seed_history(stations, now=now)
    assert again.sessions == 0  # written once, not on every start

    async with api_client() as client:
        login = await client.get("/login")
        (token,) = re.findall(r'name="_csrf" value="([^"]+)"', login.text)[:1]
        answer = await client.post(
            "/login",
            data={"_csrf": token, "email": DEMO_ADMIN, "password": DEMO_PASSWORD, "next": "/"},
            follow_redirects=False,
        )
        assert answer.status_code == 303, answer.text
        dashboard = await client.get("/")
        documents = await client.get("/billing/documents")
    assert dashboard.status_code == 200
    tiles = _tiles(dashboard.text)
    assert int(tiles["Sessions, 30 days"].replace(",", "")) >= 30, tiles
    energy = tiles["Energy, 30 days"]
    assert re.match(r"[\d,.]+ kWh", energy) and float(re.sub(r"[^\d.]", "", energy)) > 100
    assert dashboard.text.count("<rect") > 30  # bars of both charts
    assert documents.status_code == 200
    assert "RE-" in documents.text and "GS-" in documents.text


def test_the_demo_listens_on_this_machine_only_and_keeps_its_own_database() -> None:
    """Unless the environment says otherwise, the demo binds chargers to
    127.0.0.1 (as the README and its banner say) and uses var/demo.sqlite,
    so `csms migrate; csms serve` afterwards starts on a database of its own;
    the environment still wins."""
    defaults = demo_settings(Settings.from_env({}), {})
    assert defaults.ocpp_host == "127.0.0.1" and defaults.http_host == "127.0.0.1"
    assert defaults.database_url == DEMO_DATABASE_URL != Settings.from_env({}).database_url
    assert defaults.unknown_stations == "accept"
    env = {
        "CSMS_OCPP_HOST": "0.0.0.0",
        "CSMS_DATABASE_URL": "sqlite:///x.sqlite",
        "CSMS_UNKNOWN_STATIONS": "reject",
    }
    chosen = demo_settings(Settings.from_env(env), env)
    assert chosen.ocpp_host == "0.0.0.0"
    assert chosen.database_url == "sqlite:///x.sqlite"
    assert chosen.unknown_stations == "reject"
