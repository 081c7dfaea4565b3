"""``./scripts/demo``'s world (csms.demo): the dashboard it opens on has
data, and where it listens and stores."""

from __future__ import annotations

import html
import os
import re
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _dashboard_tiles(web: str) -> dict[str, str]:
    """Logs in at the demo's address as the banner says and reads the
    dashboard's figures."""
    with httpx.Client(base_url=web, timeout=30, follow_redirects=True) as client:
        login = client.get("/login")
        (token,) = re.findall(r'name="_csrf" value="([^"]+)"', login.text)[:1]
        answer = client.post(
            "/login",
            data={"_csrf": token, "email": DEMO_ADMIN, "password": DEMO_PASSWORD, "next": "/"},
        )
        assert answer.status_code == 200 and answer.url.path == "/", answer.text[:300]
        return _tiles(answer.text)


def test_csms_demo_opens_on_a_populated_dashboard_at_the_printed_address(
    tmp_path: Path,
) -> None:
    """`csms demo` (what ./scripts/demo runs) in a fresh folder, with no
    CSMS_* settings but free ports: it prints the web app's address on
    127.0.0.1, its chargers listen on 127.0.0.1 only, its rows go to
    var/demo.sqlite (not the default var/csms.sqlite), and logging in there
    with the printed login shows a dashboard with 30 days of sessions and
    energy."""
    http_port, ocpp_port = _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CSMS_")}
    env.update(
        CSMS_HTTP_PORT=str(http_port),
        CSMS_OCPP_PORT=str(ocpp_port),
        CSMS_PASSWORD_HASHING="fast",
        CSMS_RATING_WORKERS="0",
    )
    output = tmp_path / "demo.out"
    with output.open("wb") as sink:
        demo = subprocess.Popen(
            [sys.executable, "-m", "csms", "demo"],
            cwd=tmp_path,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 90
        while "Ctrl-C stops it." not in output.read_text(errors="replace"):
            assert demo.poll() is None, output.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, output.read_text(errors="replace")[-3000:]
            time.sleep(0.5)
        banner = output.read_text(errors="replace")
        (web,) = re.findall(r"web app \(operators\)\s+(\S+)", banner)
        assert web == f"http://127.0.0.1:{http_port}/"
        assert f"ws://127.0.0.1:{ocpp_port}/ocpp" in banner
        assert f"{DEMO_ADMIN} / {DEMO_PASSWORD}" in banner
        with socket.socket() as probe:  # not on another address of this host
            probe.settimeout(2)
            outside = socket.gethostbyname(socket.gethostname())
            if not outside.startswith("127."):
                assert probe.connect_ex((outside, ocpp_port)) != 0
        assert (tmp_path / "var" / "demo.sqlite").exists()
        assert not (tmp_path / "var" / "csms.sqlite").exists()
        tiles = _dashboard_tiles(web)
        assert int(tiles["Sessions, 30 days"].replace(",", "")) >= 30, tiles
        assert float(re.sub(r"[^\d.]", "", tiles["Energy, 30 days"])) > 100, tiles
    finally:
        demo.send_signal(signal.SIGINT)
        try:
            demo.wait(30)
        except subprocess.TimeoutExpired:
            demo.kill()
            demo.wait(10)
