"""What a run's summary keeps: a preview its drafts' contents, a run issued
at once only what the documents do not hold, in the one transaction that
issues it; such a run an earlier version left a draft (its process stopped
between its two transactions) is drafted again from its CDRs on issue."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from billing.documents.model import from_json
from billing.ports import BillingRunRow, IssuedDocument
from crm.errors import InvalidInput

from .world import World, pipeline_world

pytestmark = pytest.mark.backend_independent

OCTOBER_5 = datetime(2026, 10, 5, 10, tzinfo=UTC)


@pytest.fixture
async def world() -> World:
    found = await pipeline_world()
    return found


def _drafts(summary: bytes) -> list[dict[str, Any]]:
    drafts: list[dict[str, Any]] = msgspec.json.decode(summary)["drafts"]
    return drafts


async def test_a_preview_keeps_its_contents_a_run_issued_at_once_does_not(world: World) -> None:
    world.charge(world.station_a, OCTOBER_5)
    await world.rater.rate_all()
    preview = await world.runs.run(world.system, world.sub_cpo, "2026-10", preview=True)
    (kept,) = _drafts(preview.run.summary)
    assert kept["cdr_ids"] == list(preview.drafts[0].cdr_ids)
    issued = await world.runs.issue(world.system, preview.run.id)
    assert from_json(issued.issued[0].content).lines == from_json(preview.drafts[0].content).lines

    world.charge(world.station_a, datetime(2026, 10, 6, 10, tzinfo=UTC))
    await world.rater.rate_all()
    at_once = await world.runs.run(world.system, world.sub_cpo, "2026-10", preview=False)
    (compact,) = _drafts(at_once.run.summary)
    assert compact["cdr_ids"] == list(at_once.drafts[0].cdr_ids)
    assert len(at_once.run.summary) < len(preview.run.summary) / 2
    assert at_once.issued[0].content != b"{}"


async def _left_by_an_earlier_version(world: World) -> BillingRunRow:
    """A run an earlier version left a draft: made to be issued at once (its
    summary without the drafts' contents), its process stopped before the
    second transaction issued it. Runs issued at once are one transaction
    now; such rows may still be in a database."""
    preview = await world.runs.run(world.system, world.sub_cpo, "2026-10", preview=True)
    await world.store.supersede(preview.run.id)
    compact = [msgspec.structs.replace(draft, content=b"{}") for draft in preview.drafts]
    return await world.store.create_run(
        entity_id=world.sub_cpo,
        period="2026-10",
        period_start=preview.run.period_start,
        period_end=preview.run.period_end,
        time_zone=preview.run.time_zone,
        summary=msgspec.json.encode({"drafts": compact, "contents": False}),
        cdr_ids=[cdr_id for draft in preview.drafts for cdr_id in draft.cdr_ids],
    )


async def test_a_run_issued_at_once_that_fails_stores_nothing(world: World) -> None:
    world.charge(world.station_a, OCTOBER_5)
    await world.rater.rate_all()
    store_issue = world.store.issue

    async def stopped(*args: Any, **kwargs: Any) -> list[IssuedDocument]:
        raise RuntimeError("stopped")

    world.store.issue = stopped  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        await world.runs.run(world.system, world.sub_cpo, "2026-10", preview=False)
    world.store.issue = store_issue  # type: ignore[method-assign]
    assert await world.store.runs(None, 10) == []
    again = await world.runs.run(world.system, world.sub_cpo, "2026-10", preview=False)
    (invoice,) = again.issued
    assert invoice.number == "A-RE-2026-0001"


async def test_a_run_left_before_issuing_is_drafted_again_on_issue(world: World) -> None:
    world.charge(world.station_a, OCTOBER_5)
    await world.rater.rate_all()
    run = await _left_by_an_earlier_version(world)

    (invoice,) = (await world.runs.issue(world.system, run.id)).issued
    document = from_json(invoice.content)
    assert document.number == invoice.number == "A-RE-2026-0001"
    assert document.total_net > 0 and document.lines
    with pytest.raises(InvalidInput, match="not a draft"):
        await world.runs.issue(world.system, run.id)


async def test_a_left_run_whose_cdrs_were_billed_since_is_superseded(world: World) -> None:
    world.charge(world.station_a, OCTOBER_5)
    await world.rater.rate_all()
    stale = await _left_by_an_earlier_version(world)
    await world.runs.run(world.system, world.sub_cpo, "2026-10", preview=False)
    with pytest.raises(InvalidInput, match="billed by another run"):
        await world.runs.issue(world.system, stale.id)
    assert (await world.store.run(stale.id)).status == "superseded"  # type: ignore[union-attr]
