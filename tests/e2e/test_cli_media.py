"""`csms medium` and its compatibility alias `csms tag`, run as operators'
scripts run them."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from crm.tables import Entity
from tests.e2e.test_cli import csms
from tests.world import make_entity


async def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    if stdin is None:
        return await asyncio.to_thread(csms, *args)
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "csms", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def listed(*args: str) -> dict[str, dict[str, object]]:
    answer = await run("medium", "list", "--json", *args)
    assert answer.returncode == 0, answer.stderr
    return {m["uid"]: m for m in json.loads(answer.stdout)}


async def test_media_are_issued_listed_and_blocked_with_the_cli(db: None) -> None:
    """An operator issues media for entities, lists, shows, blocks, unblocks
    and marks them lost; mistakes exit 1 with a message."""
    root = await make_entity("Root")
    child = await make_entity("Child", parent=root)
    added = await run(
        "medium", "add", "CARD-1", "--group", "FLEET", "--valid-until", "2030-01-01T00:00:00Z"
    )
    assert added.returncode == 0, added.stderr
    assert f"issued by entity {root}" in added.stdout
    app = await run("medium", "add", "APP-1", "--kind", "app", "--issuer", str(child))
    assert app.returncode == 0, app.stderr
    again = await run("medium", "add", "CARD-1", "--issuer", str(child))
    assert again.returncode == 1 and "exists already" in again.stderr
    naive = await run("medium", "add", "CARD-2", "--valid-until", "2030-01-01T00:00:00")
    assert naive.returncode == 1 and "time zone" in naive.stderr
    nowhere = await run("medium", "add", "CARD-3", "--issuer", "999999")
    assert nowhere.returncode == 1 and "entity 999999" in nowhere.stderr

    media = await listed()
    assert set(media) == {"APP-1", "CARD-1"}
    assert (media["CARD-1"]["group_uid"], media["CARD-1"]["issuing_entity_id"]) == ("FLEET", root)
    assert media["APP-1"]["kind"] == "app"
    assert set(await listed("--issuer", str(child))) == {"APP-1"}

    assert (await run("medium", "block", "CARD-1")).returncode == 0
    assert set(await listed("--status", "blocked")) == {"CARD-1"}
    shown = json.loads((await run("medium", "show", "CARD-1", "--json")).stdout)
    assert shown["status"] == "blocked"
    assert (await run("medium", "unblock", "CARD-1")).returncode == 0
    assert (await run("medium", "set-status", "APP-1", "lost")).returncode == 0
    media = await listed()
    assert (media["CARD-1"]["status"], media["APP-1"]["status"]) == ("active", "lost")
    table = await run("medium", "list")
    assert "CARD-1" in table.stdout and "FLEET" in table.stdout
    missing = await run("medium", "block", "NOPE")
    assert missing.returncode == 1 and "no medium 'NOPE'" in missing.stderr


async def test_without_an_entity_media_need_one_first(db: None) -> None:
    """With no entity at all, `medium add` says to create one first and
    adds nothing; with several roots it asks which one issues."""
    refused = await run("medium", "add", "CARD-1")
    assert refused.returncode == 1 and "csms entity add" in refused.stderr
    assert await listed() == {}
    await make_entity("One")
    await make_entity("Two")
    ambiguous = await run("medium", "add", "CARD-1")
    assert ambiguous.returncode == 1 and "--issuer" in ambiguous.stderr


async def test_media_are_imported_all_or_nothing(db: None, tmp_path: Path) -> None:
    """`csms medium import` names every bad line and imports nothing, or
    imports every row; --skip-existing leaves existing uids alone."""
    root = await make_entity("Root")
    child = await make_entity("Child", parent=root)
    bad = tmp_path / "bad.csv"
    bad.write_text("uid,kind,valid_until\nOK-1,,\nBAD-1,card,\nBAD-2,,2030-01-01\nOK-1,,\n")
    refused = await run("medium", "import", str(bad))
    assert refused.returncode == 1
    for expected in ("line 3: kind", "line 4: give a time zone", "line 5: 'OK-1' repeats"):
        assert expected in refused.stderr
    assert await listed() == {}

    assert (await run("medium", "add", "OLD-1")).returncode == 0
    good = "uid,issuing_entity,status\nNEW-1,,\nNEW-2,,blocked\nOLD-1,,\n"
    clash = await run("medium", "import", "-", "--issuer", str(child), stdin=good)
    assert clash.returncode == 1 and "line 4: a medium with uid 'OLD-1'" in clash.stderr
    imported = await run(
        "medium", "import", "-", "--issuer", str(child), "--skip-existing", stdin=good
    )
    assert imported.returncode == 0, imported.stderr
    assert "imported 2 medium/media, skipped 1 that exist already" in imported.stdout
    media = await listed()
    assert [(media[u]["issuing_entity_id"], media[u]["status"]) for u in ("NEW-1", "NEW-2")] == [
        (child, "active"),
        (child, "blocked"),
    ]


async def test_tag_commands_still_work_and_create_the_operator(db: None) -> None:
    """`csms tag` keeps working on a fresh system: the first tag creates the
    root entity "Operator" that issues tags; `tag remove` marks the tag lost
    (it lists as Blocked, as chargers are told) instead of deleting it."""
    assert (await run("tag", "add", "RFID-1", "--parent", "FLEET")).returncode == 0
    (operator,) = await Entity.select(Entity.id, Entity.name, Entity.parent).run()
    assert (operator["name"], operator["parent"]) == ("Operator", None)
    assert (await run("tag", "import", "-", stdin="uid,status\nRFID-2,expired\n")).returncode == 0
    removed = await run("tag", "remove", "RFID-1")
    assert removed.returncode == 0 and "marked lost" in removed.stdout
    tags = {t["uid"]: t for t in json.loads((await run("tag", "list", "--json")).stdout)}
    assert tags["RFID-1"] == {
        "uid": "RFID-1",
        "status": "Blocked",
        "parent_uid": "FLEET",
        "expires_at": None,
        "note": "",
    }
    assert tags["RFID-2"]["status"] == "Expired"
    media = await listed()
    assert media["RFID-1"]["status"] == "lost"
    assert {m["issuing_entity_id"] for m in media.values()} == {operator["id"]}
    assert await Entity.count().run() == 1
    help_text = (await run("tag", "--help")).stdout
    assert "compatibility" in help_text or "kept for scripts" in help_text
