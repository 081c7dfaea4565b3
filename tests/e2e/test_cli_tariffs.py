"""`csms tariff import|list|show|export|assign|assignments|unassign` and
`csms tariff partner add|list|remove`, run as operators' scripts run them."""

from __future__ import annotations

import asyncio
import json
import subprocess
from decimal import Decimal
from pathlib import Path

from csms.tables import Station
from tests.e2e.test_cli import csms
from tests.unit.billing_tariffs.samples import TARIFF_TEXT, tariff
from tests.world import make_entity


async def run(*args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(csms, *args)


def _write(directory: str, name: str, text: str) -> str:
    path = Path(directory) / name
    path.write_text(text)
    return str(path)


async def test_tariffs_are_imported_versioned_listed_and_exported(db: None, tmp_dir: str) -> None:
    """An operator imports a tariff and a second version of it, lists, shows
    and exports it at a moment with the numbers exactly as in the file."""
    root = await make_entity("Root")
    first = _write(tmp_dir, "first.json", TARIFF_TEXT)
    second_data = tariff()
    second_data["elements"][0]["price_components"][0]["price"] = 0.45
    second = _write(tmp_dir, "second.json", json.dumps(second_data))

    imported = await run(
        "tariff", "import", first, "--entity", str(root), "--valid-from", "2026-01-01T00:00:00Z"
    )
    assert imported.returncode == 0, imported.stderr
    assert "imported tariff" in imported.stdout and "AC-STANDARD" in imported.stdout
    version = await run(
        "tariff", "import", second, "--entity", str(root), "--valid-from", "2026-03-01T00:00:00Z",
        "--name", "AC",
    )  # fmt: skip
    assert version.returncode == 0, version.stderr
    assert "added a version to tariff" in version.stdout

    listed = await run("tariff", "list", "--json", "--entity", str(root))
    (entry,) = json.loads(listed.stdout)
    assert (entry["code"], entry["name"], entry["owner_entity_id"]) == ("AC-STANDARD", "AC", root)
    shown = json.loads((await run("tariff", "show", str(entry["id"]), "--json")).stdout)
    assert len(shown["versions"]) == 2
    table = await run("tariff", "show", str(entry["id"]))
    assert "2026-03-01 00:00:00Z" in table.stdout

    february = await run("tariff", "export", str(entry["id"]), "--at", "2026-02-01T00:00:00Z")
    assert february.returncode == 0, february.stderr
    assert "0.391234567890123456789" in february.stdout
    now = json.loads((await run("tariff", "export", str(entry["id"]))).stdout, parse_float=Decimal)
    assert now["elements"][0]["price_components"][0]["price"] == Decimal("0.45")
    early = await run("tariff", "export", str(entry["id"]), "--at", "2025-01-01T00:00:00Z")
    assert early.returncode == 1 and "no version valid" in early.stderr


async def test_a_refused_import_exits_1_naming_every_field(db: None, tmp_dir: str) -> None:
    """An invalid tariff exits 1 with each bad field on stderr and stores
    nothing; a file that cannot be read or a missing --entity is usage (2)."""
    root = await make_entity("Root")
    bad = tariff(currency="euro")
    bad["elements"][0]["price_components"][0]["price"] = -1
    path = _write(tmp_dir, "bad.json", json.dumps(bad))
    refused = await run("tariff", "import", path, "--entity", str(root))
    assert refused.returncode == 1
    assert "currency:" in refused.stderr
    assert "elements[0].price_components[0].price:" in refused.stderr
    assert json.loads((await run("tariff", "list", "--json")).stdout) == []
    missing = await run("tariff", "import", str(Path(tmp_dir) / "nope.json"), "--entity", "1")
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    usage = await run("tariff", "import", path)
    assert usage.returncode == 2 and "--entity" in usage.stderr
    nowhere = await run(
        "tariff", "import", _write(tmp_dir, "ok.json", TARIFF_TEXT), "--entity", "999999"
    )
    assert nowhere.returncode == 1 and "entity 999999" in nowhere.stderr


async def test_tariffs_are_assigned_and_unassigned(db: None, tmp_dir: str) -> None:
    """An operator assigns a tariff at a station (named by charge point id)
    for an EMP, lists and removes the assignment; a station of another
    entity is refused naming the field, and a tariff in use is not deleted."""
    root = await make_entity("Root")
    emp = await make_entity("EMP", parent=root)
    other = await make_entity("Other", parent=root)
    await Station.insert(Station(charge_point_id="CP-ROOT", owner_entity=root)).run()
    await Station.insert(Station(charge_point_id="CP-OTHER", owner_entity=other)).run()
    path = _write(tmp_dir, "t.json", TARIFF_TEXT)
    assert (await run("tariff", "import", path, "--entity", str(root))).returncode == 0
    (entry,) = json.loads((await run("tariff", "list", "--json")).stdout)
    tariff_id = str(entry["id"])

    assigned = await run(
        "tariff", "assign", tariff_id, "--audience", "emp", "--station", "CP-ROOT",
        "--counterparty", str(emp), "--priority", "5",
    )  # fmt: skip
    assert assigned.returncode == 0, assigned.stderr
    foreign = await run("tariff", "assign", tariff_id, "--audience", "emp", "--station", "CP-OTHER")
    assert foreign.returncode == 1 and "station_id" in foreign.stderr
    unknown = await run("tariff", "assign", tariff_id, "--audience", "emp", "--station", "CP-X")
    assert unknown.returncode == 1 and "no station 'CP-X'" in unknown.stderr
    bad_audience = await run("tariff", "assign", tariff_id, "--audience", "everyone")
    assert bad_audience.returncode == 2

    (assignment,) = json.loads((await run("tariff", "assignments", "--json")).stdout)
    assert (assignment["audience"], assignment["priority"]) == ("emp", 5)
    assert assignment["counterparty_entity_id"] == emp
    table = await run("tariff", "assignments", "--entity", str(root))
    assert "emp" in table.stdout
    removed = await run("tariff", "unassign", str(assignment["id"]))
    assert removed.returncode == 0, removed.stderr
    assert json.loads((await run("tariff", "assignments", "--json")).stdout) == []
    again = await run("tariff", "unassign", str(assignment["id"]))
    assert again.returncode == 1 and "no tariff assignment" in again.stderr


async def test_community_partners_with_the_cli(db: None) -> None:
    """An operator names a community partner, lists and removes it; the
    entity's own child is refused as always being community."""
    root = await make_entity("Root")
    child = await make_entity("Child", parent=root)
    partner = await make_entity("Partner")
    added = await run("tariff", "partner", "add", str(partner), "--entity", str(root))
    assert added.returncode == 0, added.stderr
    own = await run("tariff", "partner", "add", str(child), "--entity", str(root))
    assert own.returncode == 1 and "own subtree" in own.stderr
    twice = await run("tariff", "partner", "add", str(partner), "--entity", str(root))
    assert twice.returncode == 1 and "already" in twice.stderr
    (row,) = json.loads((await run("tariff", "partner", "list", "--json")).stdout)
    assert (row["entity_id"], row["partner_entity_id"]) == (root, partner)
    assert (await run("tariff", "partner", "remove", str(row["id"]))).returncode == 0
    assert json.loads((await run("tariff", "partner", "list", "--json")).stdout) == []
