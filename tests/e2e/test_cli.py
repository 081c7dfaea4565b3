"""The csms command, run as operators and their scripts run it."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from csms.bootstrap import Node
from simulators.ocpp16 import connect16
from tests.e2e.conftest import StartNode, ocpp_url
from tests.media_helpers import allow


def csms(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "csms", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_provisioning_stations_with_the_cli(db: None) -> None:
    """An operator adds, lists, shows, accepts and removes stations, and sets
    secrets, with the CLI alone; mistakes exit 1 with a message."""
    added = csms("station", "add", "CP-CLI", "--generate-secret", "--description", "yard")
    assert added.returncode == 0, added.stderr
    secret = re.search(r"secret: (\S+)", added.stdout)
    assert secret and len(secret.group(1)) == 32
    assert csms("station", "add", "CP-OPEN").returncode == 0
    again = csms("station", "add", "CP-CLI")
    assert again.returncode == 1 and "exists" in again.stderr
    bad = csms("station", "add", "CP/SLASH")
    assert bad.returncode == 1 and "must not contain" in bad.stderr
    short = csms("station", "set-secret", "CP-OPEN", "--secret", "short")
    assert short.returncode == 1 and "16 to 40" in short.stderr

    listed = json.loads(csms("station", "list", "--json").stdout)
    assert [(s["charge_point_id"], s["has_secret"]) for s in listed] == [
        ("CP-CLI", True),
        ("CP-OPEN", False),
    ]
    assert csms("station", "reject", "CP-OPEN").returncode == 0
    shown = json.loads(csms("station", "show", "CP-OPEN", "--json").stdout)
    assert shown["registration_status"] == "Rejected"
    assert csms("station", "set", "CP-OPEN", "--assume-ocpp16", "yes").returncode == 0
    assert json.loads(csms("station", "show", "CP-OPEN", "--json").stdout)["assume_ocpp16"]
    assert csms("station", "remove", "CP-OPEN").returncode == 0
    missing = csms("station", "show", "CP-OPEN")
    assert missing.returncode == 1 and "no station" in missing.stderr


def test_id_tags_with_the_cli(db: None) -> None:
    """Id tags are added, listed, blocked and unblocked with the CLI."""
    assert csms("tag", "add", "RFID-1", "--parent", "FLEET", "--note", "van 7").returncode == 0
    assert csms("tag", "add", "RFID-2", "--expires", "2030-01-01T00:00:00Z").returncode == 0
    naive = csms("tag", "add", "RFID-3", "--expires", "2030-01-01T00:00:00")
    assert naive.returncode == 1 and "time zone" in naive.stderr
    too_long = csms("tag", "add", "X" * 37)
    assert too_long.returncode == 1 and "36" in too_long.stderr
    assert csms("tag", "block", "RFID-1").returncode == 0
    tags = {t["uid"]: t for t in json.loads(csms("tag", "list", "--json").stdout)}
    assert tags["RFID-1"]["status"] == "Blocked"
    assert tags["RFID-1"]["parent_uid"] == "FLEET"
    assert tags["RFID-2"]["expires_at"].startswith("2030-01-01T00:00:00")
    assert csms("tag", "unblock", "RFID-1").returncode == 0
    assert csms("tag", "block", "NOPE").returncode == 1


async def test_stations_imported_from_csv_connect_with_their_secrets(
    start_node: StartNode, tmp_path: Path
) -> None:
    """`csms station import` registers every station of a CSV file with its
    secret and status; an imported station then connects with that secret."""
    csv_file = tmp_path / "stations.csv"
    csv_file.write_text(
        "charge_point_id,secret,status,description\n"
        "CP-IMP-1,imported-secret-0001,,north yard\n"
        "CP-IMP-2,,pending,\n"
    )
    imported = await asyncio.to_thread(csms, "station", "import", str(csv_file))
    assert imported.returncode == 0, imported.stderr
    assert "imported 2 station(s)" in imported.stdout
    listed = json.loads((await asyncio.to_thread(csms, "station", "list", "--json")).stdout)
    assert {(s["charge_point_id"], s["registration_status"], s["has_secret"]) for s in listed} == {
        ("CP-IMP-1", "Accepted", True),
        ("CP-IMP-2", "Pending", False),
    }
    node = await start_node()
    async with connect16(ocpp_url(node), "CP-IMP-1", password="imported-secret-0001") as cp:
        boot = await cp.boot(vendor="Acme", model="M")
    assert boot.status == "Accepted"


def test_a_station_import_with_a_bad_line_imports_nothing(db: None, tmp_path: Path) -> None:
    """A CSV with bad lines is refused whole, every bad line named, and an
    existing station refuses the import unless --skip-existing is given."""
    bad = tmp_path / "bad.csv"
    bad.write_text("charge_point_id,secret\nGOOD-1,\nBAD/1,\nGOOD-2,short\nGOOD-1,\n")
    refused = csms("station", "import", str(bad))
    assert refused.returncode == 1
    for expected in ("line 3", "must not contain", "line 4", "16 to 40", "line 5", "repeats"):
        assert expected in refused.stderr
    assert json.loads(csms("station", "list", "--json").stdout) == []
    typo = tmp_path / "typo.csv"
    typo.write_text("charge_point_id,secert\nX,y\n")
    assert "unknown column(s) secert" in csms("station", "import", str(typo)).stderr

    assert csms("station", "add", "GOOD-1").returncode == 0
    good = tmp_path / "good.csv"
    good.write_text("charge_point_id\nGOOD-1\nGOOD-2\n")
    clash = csms("station", "import", str(good))
    assert clash.returncode == 1 and "exist already: GOOD-1" in clash.stderr
    skipped = csms("station", "import", str(good), "--skip-existing")
    assert skipped.returncode == 0
    assert "imported 1 station(s), skipped 1 that exist already" in skipped.stdout
    ids = [s["charge_point_id"] for s in json.loads(csms("station", "list", "--json").stdout)]
    assert ids == ["GOOD-1", "GOOD-2"]


def test_id_tags_are_imported_from_csv_on_standard_input(db: None) -> None:
    """`csms tag import -` reads a CSV from standard input: all tags or, with a
    bad line, none."""
    rows = "uid,parent,expires,status\nT-1,FLEET,2030-01-01T00:00:00Z,\nT-2,,,blocked\n"
    imported = subprocess.run(
        [sys.executable, "-m", "csms", "tag", "import", "-"],
        input=rows,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert imported.returncode == 0, imported.stderr
    tags = {t["uid"]: t for t in json.loads(csms("tag", "list", "--json").stdout)}
    assert (tags["T-1"]["parent_uid"], tags["T-1"]["status"]) == ("FLEET", "Accepted")
    assert tags["T-1"]["expires_at"].startswith("2030-01-01T00:00:00")
    assert tags["T-2"]["status"] == "Blocked"
    naive = subprocess.run(
        [sys.executable, "-m", "csms", "tag", "import", "-"],
        input="uid,expires\nT-3,\nT-4,2030-01-01T00:00:00\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert naive.returncode == 1 and "line 3: give a time zone" in naive.stderr
    assert set(tags) == {t["uid"] for t in json.loads(csms("tag", "list", "--json").stdout)}


async def test_sessions_are_visible_from_the_cli(node: Node) -> None:
    """After a charger ran a session, `csms session list` and `show` report it
    with its energy and meter values."""
    assert csms("station", "add", "CP-SEEN").returncode == 0
    await allow("TAG-SEEN")
    async with connect16(ocpp_url(node), "CP-SEEN") as cp:
        await cp.boot(vendor="Acme", model="M")
        report = await cp.run_session(
            connector_id=1, id_tag="TAG-SEEN", duration=0.3, meter_interval=0.1, power_w=22000
        )
    listed = await asyncio.to_thread(csms, "session", "list", "--json", "--station", "CP-SEEN")
    sessions = json.loads(listed.stdout)
    assert [s["transaction_id"] for s in sessions] == [report.transaction_id]
    shown = await asyncio.to_thread(csms, "session", "show", str(report.transaction_id), "--json")
    body = json.loads(shown.stdout)
    assert body["session"]["status"] == "completed"
    # The stop's transactionData repeats the Begin and End energy registers.
    assert len(body["meter_values"]) == report.sampled_values_sent - 2
    stale = await asyncio.to_thread(csms, "session", "stale")
    assert stale.returncode == 0 and "superseded" in stale.stdout
    messages = await asyncio.to_thread(csms, "station", "messages", "CP-SEEN")
    assert "StartTransaction" in messages.stdout


def test_migrate_reports_an_up_to_date_database(db: None) -> None:
    """`csms migrate --check` exits 0 on a current schema; `migrate` is idempotent."""
    assert csms("migrate").returncode == 0
    check = csms("migrate", "--check")
    assert check.returncode == 0 and "up to date" in check.stdout


def test_bad_settings_are_refused_before_anything_runs(db: None) -> None:
    """An unusable CSMS_* value stops the command with exit 2 and the variable named."""
    result = csms("station", "list", env={"CSMS_UNKNOWN_STATIONS": "sometimes"})
    assert result.returncode == 2
    assert "CSMS_UNKNOWN_STATIONS" in result.stderr


@pytest.mark.parametrize("command", [["serve"]])
async def test_serve_runs_the_product_until_sigterm(db: None, command: list[str]) -> None:
    """`csms serve` prints where to connect, serves a charger on that address,
    and stops cleanly on SIGTERM."""
    await asyncio.to_thread(csms, "station", "add", "CP-SERVE")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "csms",
        *command,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={
            **os.environ,
            "CSMS_OCPP_HOST": "127.0.0.1",
            "CSMS_OCPP_PORT": "0",
            "CSMS_HTTP_PORT": "0",
        },
    )
    try:
        assert process.stdout is not None
        lines: list[str] = []
        while len(lines) < 2:
            line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
            assert line, "csms serve exited early"
            lines.append(line)
        url = re.search(r"(ws://\S+)/ocpp/", lines[0])
        assert url, lines
        async with connect16(url.group(1) + "/ocpp", "CP-SERVE") as cp:
            assert (await cp.boot(vendor="Acme", model="M")).status == "Accepted"
    finally:
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), 30)
    assert code == 0
