"""``csms billing status`` and ``csms billing report``, run as operators run
them: where a session stands, and the report as a table, JSON and CSV."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime

from tests.integration.billing_world import cdr, company, master_contact, session, station

OCT = datetime(2026, 10, 14, 9, 0, tzinfo=UTC)


async def csms(*args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "csms", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
    )


async def test_status_and_report_from_the_command_line(db: None) -> None:
    root = await company("Root CLI")
    b = await company("Beta CLI", parent=root)
    s = await station(root, "CP-CLI-B")
    rated = await session(s, OCT)
    queued = await session(s, OCT, queued=True)
    await cdr(
        rated, s, "emp", seller=root, buyer_entity=b, buyer_contact=await master_contact(b),
        started_at=OCT,
    )  # fmt: skip
    status = await csms("billing", "status", str(rated), "--json")
    table = await csms("billing", "status", str(queued))
    missing = await csms("billing", "status", "987654")
    report = await csms("billing", "report", "--group-by", "month", "--json")
    text = await csms("billing", "report", "--group-by", "station", "--from", "2026-10")
    as_csv = await csms("billing", "report", "--csv", "--audience", "emp")
    bad = await csms("billing", "report", "--from", "2026-13")

    assert status.returncode == 0, status.stderr
    answer = json.loads(status.stdout)
    assert answer["state"] == "rated"
    assert [(a["audience"], a["state"]) for a in answer["audiences"]] == [("emp", "rated")]
    assert table.returncode == 0 and "not_rated (queued)" in table.stdout
    assert missing.returncode == 1 and "987654" in missing.stderr
    assert report.returncode == 0, report.stderr
    months = json.loads(report.stdout)
    assert [(r["key"], r["net"]) for r in months["rows"]] == [("2026-10", "4.0000")]
    assert "CP-CLI-B" in text.stdout and "total" in text.stdout
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout, newline="")))
    assert [(r["group"], r["emp_gross"]) for r in rows] == [
        ("entity", "4.7600"),
        ("total", "4.7600"),
    ]
    assert bad.returncode == 1 and "from" in bad.stderr


async def test_billing_a_month_for_every_entity_from_the_command_line(db: None) -> None:
    """``csms billing run --all --period`` issues one run per entity with
    unbilled CDRs of the month, in each issuer's range; running it again
    issues nothing; ``run`` without ``--entity`` or ``--all`` is refused."""
    root = await company("Root Every")
    b = await company("Beta Every", parent=root)
    c = await company("Gamma Every", parent=root)
    s = await station(root, "CP-EVERY-R")
    t = await station(b, "CP-EVERY-B")
    for seller, at, buyer in ((root, s, b), (b, t, c)):
        await cdr(
            await session(at, OCT), at, "emp", seller=seller, buyer_entity=buyer,
            buyer_contact=await master_contact(buyer), started_at=OCT,
        )  # fmt: skip

    every = await csms("billing", "run", "--all", "--period", "2026-10", "--json")
    again = await csms("billing", "run", "--all", "--period", "2026-10")
    neither = await csms("billing", "run", "--period", "2026-10")

    assert every.returncode == 0, every.stderr
    runs = json.loads(every.stdout)
    assert runs["failed"] == []
    issued = {r["run"]["entity_id"]: r for r in runs["runs"]}
    assert set(issued) == {root, b}
    assert all(r["run"]["status"] == "issued" for r in issued.values())
    assert [len(r["documents"]) for r in issued.values()] == [1, 1]
    assert again.returncode == 0, again.stderr
    assert "CP-EVERY" not in again.stdout and "issued" not in again.stdout
    assert neither.returncode == 2 and "--entity" in neither.stderr
