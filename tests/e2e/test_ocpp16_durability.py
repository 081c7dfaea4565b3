"""Nothing a charger was told is accepted gets lost; stale sessions get closed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from websockets.asyncio.client import connect

from csms.bootstrap import Node
from csms.domain.writes import GroupResult, WriteGroup
from csms.storage.sessions import PiccoloSessionQueries
from csms.storage.stations import PiccoloStationAdmin
from csms.tables import ChargingSession
from simulators.ocpp16 import connect16
from tests.e2e.conftest import StartNode, fill_write_slots, ocpp_url
from tests.media_helpers import allow

NOW = "2026-11-22T10:00:00Z"


class _Outage:
    """Makes the node's storage fail until lifted."""

    def __init__(self, node: Node) -> None:
        self._sink = node.writer._sink
        self._apply = self._sink.apply
        self.failed_batches = 0

    async def failing_apply(self, groups: Sequence[WriteGroup]) -> list[GroupResult]:
        self.failed_batches += 1
        raise ConnectionError("database unreachable")

    def __enter__(self) -> _Outage:
        self._sink.apply = self.failing_apply  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        self._sink.apply = self._apply  # type: ignore[method-assign]


async def test_storage_outage_answers_internal_error_and_the_retry_is_stored(node: Node) -> None:
    """During a storage outage a StartTransaction is answered with CALLERROR
    InternalError (so the charger retries) and nothing is claimed; once the
    database is back the retried call gets its transaction id and exactly one
    session exists."""
    await PiccoloStationAdmin().add("CP-DB")
    await allow("TAG-DB")
    started = datetime.now(UTC).replace(microsecond=0)
    start = {
        "connectorId": 1,
        "idTag": "TAG-DB",
        "meterStart": 10,
        "timestamp": started.isoformat(),
    }
    async with connect(f"{ocpp_url(node)}/CP-DB", subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
        with _Outage(node) as outage:
            await ws.send(json.dumps([2, "s1", "StartTransaction", start]))
            refused = json.loads(await ws.recv())
            assert outage.failed_batches >= 1
        assert refused[0] == 4 and refused[1] == "s1"
        assert refused[2] == "InternalError"
        assert await ChargingSession.count().run() == 0
        await ws.send(json.dumps([2, "s2", "StartTransaction", start]))
        accepted = json.loads(await ws.recv())
        assert accepted[0] == 3
        transaction_id = accepted[2]["transactionId"]
        # The charger's queue may still hold the first attempt: same session.
        await ws.send(json.dumps([2, "s3", "StartTransaction", start]))
        assert json.loads(await ws.recv())[2]["transactionId"] == transaction_id
    assert await ChargingSession.count().run() == 1


async def test_a_write_slower_than_the_timeout_is_answered_internal_error_once_logged(
    start_node: StartNode, caplog: pytest.LogCaptureFixture
) -> None:
    """A StartTransaction still queued behind a stalled batch when
    CSMS_WRITE_TIMEOUT passes is answered InternalError with one warning and
    no traceback; it is never stored (issue 14: "not stored, retry"), and the
    charger's retry creates the one session."""
    node = await start_node(write_timeout=0.1)
    await PiccoloStationAdmin().add("CP-SLOW")
    await allow("TAG-SLOW")
    sink = node.writer._sink
    apply = sink.apply

    entered = asyncio.Event()

    async def slow_apply(groups: Sequence[WriteGroup]) -> list[GroupResult]:
        entered.set()
        await asyncio.sleep(0.4)
        return await apply(groups)

    start = {"connectorId": 1, "idTag": "TAG-SLOW", "meterStart": 0, "timestamp": NOW}
    async with connect(f"{ocpp_url(node)}/CP-SLOW", subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
        sink.apply = slow_apply  # type: ignore[method-assign]
        # Batches in flight for 0.4 s, as many as may be (one per
        # connection on PostgreSQL): the start waits behind them.
        await fill_write_slots(node, entered)
        await ws.send(json.dumps([2, "s1", "StartTransaction", start]))
        refused = json.loads(await ws.recv())
        sink.apply = apply  # type: ignore[method-assign]
        assert refused[:3] == [4, "s1", "InternalError"]
        await asyncio.sleep(0.5)
        assert await ChargingSession.count().run() == 0
        await ws.send(json.dumps([2, "s2", "StartTransaction", start]))
        accepted = json.loads(await ws.recv())
    assert accepted[0] == 3
    assert await ChargingSession.count().run() == 1
    session = await ChargingSession.select(ChargingSession.id).first().run()
    assert session is not None and accepted[2]["transactionId"] == session["id"]
    warnings = [r for r in caplog.records if "not committed in time" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].exc_info is None


async def test_concurrent_chargers_share_commits(node: Node) -> None:
    """Writes from many chargers at once are committed in shared batches, and
    every one of them is stored."""
    admin = PiccoloStationAdmin()
    for n in range(30):
        await admin.add(f"CP-G{n}")
    batches: list[int] = []
    observer = node.writer._observer
    original = observer.batch_committed

    def record(size: int, seconds: float) -> None:
        batches.append(size)
        original(size, seconds)

    observer.batch_committed = record  # type: ignore[method-assign]

    async def charger(n: int) -> int:
        async with connect16(ocpp_url(node), f"CP-G{n}") as cp:
            await cp.boot(vendor="Acme", model="M")
            for connector in (1, 2):
                await cp.status(connector_id=connector, status="Available")
            t = await cp.start_transaction(connector_id=1, id_tag=f"T{n}", meter_start=0)
            await cp.stop_transaction(t.transaction_id, meter_stop=1000)
            return int(t.transaction_id)

    ids = await asyncio.gather(*(charger(n) for n in range(30)))
    assert len(set(ids)) == 30
    assert await ChargingSession.count().where(ChargingSession.status == "completed").run() == 30
    assert max(batches) > 1, f"no write was shared: {batches[:20]}"


async def test_stale_sessions_are_closed_and_the_late_stop_wins(node: Node) -> None:
    """A session whose connector has started a later one is closed by the
    'superseded' rule at the later start, with its last register reading; the
    charger's own StopTransaction, arriving later, replaces what the rule wrote."""
    await PiccoloStationAdmin().add("CP-STALE")
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    async with connect16(ocpp_url(node), "CP-STALE") as cp:
        await cp.boot(vendor="Acme", model="M")
        lost = await cp.start_transaction(connector_id=1, id_tag="T", meter_start=100, timestamp=t0)
        await cp.meter_values(
            connector_id=1,
            transaction_id=lost.transaction_id,
            meter_value=[
                {
                    "timestamp": (t0 + timedelta(minutes=10)).isoformat(),
                    "sampledValue": [{"value": "2100"}],
                }
            ],
        )
        later = await cp.start_transaction(
            connector_id=1, id_tag="T", meter_start=2200, timestamp=t0 + timedelta(hours=1)
        )
        closed = await node.stale_rule.run()
        assert [(f.session.session_id, f.rule) for f in closed] == [
            (lost.transaction_id, "superseded")
        ]
        session = await PiccoloSessionQueries().get(lost.transaction_id)
        assert session.status == "completed"
        assert session.closed_by == "rule:superseded"
        assert session.meter_stop_wh == 2100
        assert session.stopped_at == t0 + timedelta(hours=1)
        assert (await PiccoloSessionQueries().get(later.transaction_id)).status == "active"
        assert await node.stale_rule.run() == []

        await cp.stop_transaction(
            lost.transaction_id, meter_stop=2150, timestamp=t0 + timedelta(minutes=20)
        )
    session = await PiccoloSessionQueries().get(lost.transaction_id)
    assert session.closed_by == "charger"
    assert session.meter_stop_wh == 2150
    assert session.stopped_at == t0 + timedelta(minutes=20)


@pytest.mark.parametrize("hours", [1])
async def test_inactive_sessions_are_closed_after_the_limit(node: Node, hours: int) -> None:
    """An open session that has shown no activity (no start, no meter value)
    for the configured hours is closed by the 'inactive' rule; a younger
    session is kept."""
    from csms.domain.stale_sessions import StaleSessionRule
    from csms.storage.sessions import PiccoloStaleSessionStore

    await PiccoloStationAdmin().add("CP-IDLE")
    async with connect16(ocpp_url(node), "CP-IDLE") as cp:
        await cp.boot(vendor="Acme", model="M")
        idle = await cp.start_transaction(connector_id=1, id_tag="T", meter_start=5)
        busy = await cp.start_transaction(connector_id=2, id_tag="U", meter_start=7)
    rule = StaleSessionRule(PiccoloStaleSessionStore(), inactive_hours=hours)
    await (
        ChargingSession.update(
            {ChargingSession.created_at: datetime.now(UTC) - timedelta(hours=hours + 2)}
        )
        .where(ChargingSession.id == idle.transaction_id)
        .run()
    )
    closed = await rule.run()
    assert [(f.session.session_id, f.rule) for f in closed] == [(idle.transaction_id, "inactive")]
    assert (await PiccoloSessionQueries().get(busy.transaction_id)).status == "active"
    assert (await PiccoloSessionQueries().get(idle.transaction_id)).meter_stop_wh == 5
