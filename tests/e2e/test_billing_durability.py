"""Billing under concurrency and crashes, with real `csms billing` processes
on the test database: runs started at once issue distinct, gapless numbers;
a rater or a run killed with SIGKILL and started again loses nothing and
duplicates nothing."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from datetime import UTC, datetime
from typing import Any

import pytest

from billing.tables import Cdr, Document
from csms.tables import RatingQueue
from tests.billing_world import (
    energy_tariff,
    make_medium,
    make_station,
    make_tariff,
    many_sessions,
)
from tests.world import make_entity

pytestmark = pytest.mark.usefixtures("db")
OCTOBER = datetime(2026, 10, 1, 8, tzinfo=UTC)


async def process(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "csms",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "CSMS_LOG_LEVEL": "WARNING"},
    )


async def finished(*args: str) -> tuple[int, str, str]:
    child = await process(*args)
    out, err = await asyncio.wait_for(child.communicate(), 120)
    return child.returncode or 0, out.decode(), err.decode()


async def world(emps: int, sessions_each: int) -> dict[str, Any]:
    """A CPO whose station the cards of ``emps`` EMPs charged at."""
    cpo = await make_entity("CPO", kind="cpo", country="DE", time_zone="Europe/Berlin")
    station = await make_station(cpo, "CP-1", time_zone="Europe/Berlin")
    await make_tariff(cpo, energy_tariff("CPO-EMP"), audience="emp")
    for index in range(emps):
        emp = await make_entity(f"EMP {index}", kind="emp", country="DE")
        uid = f"CARD-{index}"
        card = await make_medium(uid, emp)
        await many_sessions(
            station, sessions_each, id_tag=uid, first_start=OCTOBER, medium=card, issuer=emp
        )
    return {"cpo": cpo, "station": station}


def numbers_of(documents: list[dict[str, Any]], prefix: str) -> list[int]:
    found = []
    for document in documents:
        match = re.fullmatch(rf"{prefix}-2026-(\d+)", document["number"])
        assert match, document["number"]
        found.append(int(match.group(1)))
    return sorted(found)


async def test_runs_started_at_once_issue_distinct_gapless_numbers() -> None:
    """Two `csms billing run` processes for the same entity and month at
    once: the documents are issued once, numbered 1..n without a gap or a
    repeat, every CDR billed by exactly one; then six cancellations at once
    take cancellation numbers 1..6."""
    setup = await world(emps=6, sessions_each=20)
    rated = await finished("billing", "rate")
    assert rated[0] == 0, rated[2]
    period = ("billing", "run", "--entity", str(setup["cpo"]), "--period", "2026-10")
    outcomes = await asyncio.gather(finished(*period), finished(*period))
    codes = sorted(code for code, _, _ in outcomes)
    assert codes in ([0, 0], [0, 1]), outcomes
    for code, _, err in outcomes:
        if code == 1:
            assert "billed by another run" in err
    documents = await Document.select().where(Document.kind == "invoice")
    assert numbers_of(documents, "RE") == [1, 2, 3, 4, 5, 6]
    billed = await Cdr.select(Cdr.document).where(Cdr.audience == "emp")
    assert len(billed) == 120 and all(row["document"] is not None for row in billed)
    per_document = {d["id"]: 0 for d in documents}
    for row in billed:
        per_document[row["document"]] += 1
    assert set(per_document.values()) == {20}

    cancels = await asyncio.gather(
        *(finished("billing", "cancel", str(d["id"])) for d in documents)
    )
    assert all(code == 0 for code, _, _ in cancels), cancels
    cancellations = await Document.select().where(Document.kind == "cancellation")
    assert numbers_of(cancellations, "ST") == [1, 2, 3, 4, 5, 6]
    assert sorted(c["refers_to"] for c in cancellations) == sorted(d["id"] for d in documents)


async def _kill_when(child: asyncio.subprocess.Process, ready: Any, timeout: float = 60) -> bool:
    """SIGKILLs ``child`` once ``ready()`` holds; False if it ended first."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if child.returncode is not None:
            return False
        if await ready():
            child.send_signal(signal.SIGKILL)
            await child.wait()
            return True
        await asyncio.sleep(0.02)
    child.send_signal(signal.SIGKILL)
    await child.wait()
    raise AssertionError("the condition to kill on never held")


async def test_a_rater_killed_mid_queue_loses_and_duplicates_nothing() -> None:
    """A rater killed while it works through the queue, then run again: every
    session has exactly its CDRs, the queue is empty."""
    setup = await world(emps=2, sessions_each=1500)
    rater = await process("billing", "rater", "--interval", "0.1")

    async def some_rated() -> bool:
        return await Cdr.count() > 0

    killed = await _kill_when(rater, some_rated)
    assert killed, "the rater finished before it could be killed; queue more sessions"
    assert 0 < await Cdr.count() < 3000
    assert await RatingQueue.count() > 0
    again = await finished("billing", "rate")
    assert again[0] == 0, again[2]
    assert await RatingQueue.count() == 0
    assert await Cdr.count() == 3000  # one emp CDR per session (no bill-to, no sub-CPO)
    sessions = {row["session"] for row in await Cdr.select(Cdr.session)}
    assert len(sessions) == 3000
    assert setup["cpo"] > 0


async def test_a_run_killed_while_issuing_bills_everything_once_after_restart() -> None:
    """A billing run killed at some moment of its work, then run again:
    every CDR is billed by exactly one document, numbers are gapless, each
    document's total is the sum of its CDRs."""
    setup = await world(emps=4, sessions_each=1000)
    rated = await finished("billing", "rate")
    assert rated[0] == 0, rated[2]
    run = ("billing", "run", "--entity", str(setup["cpo"]), "--period", "2026-10")
    child = await process(*run)
    await asyncio.sleep(1.0)  # mid-way through drafting or issuing (or done)
    if child.returncode is None:
        child.send_signal(signal.SIGKILL)
    await child.wait()
    again = await finished(*run)
    assert again[0] == 0, again[2]
    documents = await Document.select().where(Document.kind == "invoice")
    assert numbers_of(documents, "RE") == list(range(1, len(documents) + 1))
    assert len(documents) == 4
    rows = await Cdr.select(Cdr.document, Cdr.total_net_e4)
    assert len(rows) == 4000 and all(row["document"] is not None for row in rows)
    for document in documents:
        net = sum(r["total_net_e4"] for r in rows if r["document"] == document["id"])
        assert document["total_net_e4"] == net
