"""Stations' owners and addresses, station groups and access rules with the
CLI alone (``csms station locate``, ``csms station-group``, ``csms access``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from csms.tables import AccessRule, Station
from tests.world import make_entity


def csms(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "csms", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
    )


async def test_an_operator_locates_a_station_and_sets_its_rules(db: None) -> None:
    """Owner, address and time zone, a group, allow and deny rules, and their
    removal; mistakes exit 1 with a message and change nothing."""
    owner = await make_entity("Owner")
    partner = await make_entity("Partner")
    assert csms("station", "add", "CP-1").returncode == 0

    located = csms(
        "station", "locate", "CP-1", "--owner", str(owner), "--street", "Hafenstr. 1",
        "--city", "Hamburg", "--country", "de", "--lat", "53.54", "--lon", "9.98",
        "--time-zone", "Europe/Berlin", "--json",
    )  # fmt: skip
    assert located.returncode == 0, located.stderr
    station = json.loads(located.stdout)
    assert (station["owner_entity_id"], station["country"], station["time_zone"]) == (
        owner,
        "DE",
        "Europe/Berlin",
    )
    bad_zone = csms("station", "locate", "CP-1", "--time-zone", "Europe/Hamburg")
    assert bad_zone.returncode == 1 and "unknown time zone" in bad_zone.stderr
    far_north = csms("station", "locate", "CP-1", "--lat", "95", "--lon", "0")
    assert far_north.returncode == 1 and "between -90 and 90" in far_north.stderr

    added = csms("station-group", "add", "Harbour", "--owner", str(owner))
    assert added.returncode == 0, added.stderr
    (group,) = json.loads(csms("station-group", "list", "--json").stdout)
    assert csms("station-group", "assign", "CP-1", str(group["id"])).returncode == 0

    assert csms("access", "allow", "CP-1", "owner_subtree").returncode == 0
    assert csms("access", "allow", "CP-1", "issuing_entity", str(partner)).returncode == 0
    deny = csms("access", "deny", "--group", str(group["id"]), "medium", "STOLEN", "--note", "x")
    assert deny.returncode == 0, deny.stderr
    unknown = csms("access", "allow", "CP-1", "issuing_entity", "999999")
    assert unknown.returncode == 1 and "there is no entity 999999" in unknown.stderr
    no_value = csms("access", "allow", "CP-1", "medium")
    assert no_value.returncode == 1 and "needs the medium's uid" in no_value.stderr

    rules = json.loads(csms("access", "list", "CP-1", "--json").stdout)
    assert [(r["effect"], r["subject"], r["value"]) for r in rules] == [
        ("allow", "owner_subtree", ""),
        ("allow", "issuing_entity", str(partner)),
        ("deny", "medium", "STOLEN"),
    ]
    assert csms("access", "remove", str(rules[0]["id"])).returncode == 0
    assert csms("station-group", "remove", str(group["id"])).returncode == 0
    assert [r["value"] for r in await AccessRule.select(AccessRule.value).run()] == [str(partner)]
    row = await Station.select(Station.station_group, Station.city).first().run()
    assert row == {"station_group": None, "city": "Hamburg"}
    missing = csms("access", "list", "CP-404")
    assert missing.returncode == 1 and "there is no station 'CP-404'" in missing.stderr
