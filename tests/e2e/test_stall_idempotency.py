"""Issue 14, item 1: a stalled database. An answer of InternalError means "not
stored, retry", the retry is stored once, and /readyz answers 503 in time.

The stall is a write batch held in flight (the sink waits on an event, as a
SIGSTOPped PostgreSQL does); calls queued behind it pass CSMS_WRITE_TIMEOUT.
The outage suite (benchmarks/outage.py) does the same with a real SIGSTOP.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

import csms.bootstrap
from csms.bootstrap import Node
from csms.domain.writes import GroupResult, WriteGroup
from csms.logsummary import OUTAGE_LOGGERS, RepeatSummary
from csms.storage.stations import PiccoloStationAdmin
from csms.tables import ChargingSession, ConnectorStatusChange, MeterValue
from tests.e2e.conftest import StartNode, fill_write_slots, ocpp_url

T0 = "2026-11-22T10:00:00Z"


class Stall:
    """Holds every batch in flight until released: a hung database, on which
    each of the committer's connections waits (CSMS_WRITE_BATCHES_IN_FLIGHT
    of them on PostgreSQL)."""

    def __init__(self, node: Node) -> None:
        self._node = node
        self._sink = node.writer._sink
        self._apply = self._sink.apply
        self.released = asyncio.Event()
        self.entered = asyncio.Event()

    async def _stalled_apply(self, groups: Sequence[WriteGroup]) -> list[GroupResult]:
        self.entered.set()
        await self.released.wait()
        return await self._apply(groups)

    async def __aenter__(self) -> Stall:
        self._sink.apply = self._stalled_apply  # type: ignore[method-assign]
        # Writes of the node's own are the batches that hang, one in each slot.
        await fill_write_slots(self._node, self.entered)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.released.set()
        self._sink.apply = self._apply  # type: ignore[method-assign]
        # Whatever was queued behind the stall is committed (or dropped) now.
        for _ in range(100):
            if self._node.writer.pending == 0:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)


async def call(ws: ClientConnection, unique_id: str, action: str, payload: Any) -> list[Any]:
    await ws.send(json.dumps([2, unique_id, action, payload]))
    return json.loads(await ws.recv())  # type: ignore[no-any-return]


@asynccontextmanager
async def station(
    node: Node, name: str, version: str = "ocpp1.6"
) -> AsyncIterator[ClientConnection]:
    async with connect(f"{ocpp_url(node)}/{name}", subprotocols=[version]) as ws:  # type: ignore[list-item]
        yield ws


def meter_values(value: int) -> dict[str, Any]:
    return {
        "connectorId": 1,
        "meterValue": [
            {
                "timestamp": T0,
                "sampledValue": [
                    {"value": str(value), "measurand": "Energy.Active.Import.Register"},
                    {"value": "16.0", "measurand": "Current.Import", "unit": "A"},
                ],
            }
        ],
    }


async def test_meter_values_answered_internal_error_are_stored_once_with_the_retry(
    start_node: StartNode,
) -> None:
    """MeterValues queued behind a stalled batch are answered InternalError and
    not stored; the charger's retry stores each sample exactly once."""
    node = await start_node(write_timeout=0.2)
    await PiccoloStationAdmin().add("CP-MV")
    async with station(node, "CP-MV") as ws:
        async with Stall(node):
            refused = await call(ws, "m1", "MeterValues", meter_values(1000))
            assert refused[:3] == [4, "m1", "InternalError"]
        assert await MeterValue.count().run() == 0
        assert (await call(ws, "m2", "MeterValues", meter_values(1000)))[0] == 3
        # A second retry of the same samples (the charger's queue) adds none.
        assert (await call(ws, "m3", "MeterValues", meter_values(1000)))[0] == 3
    assert await MeterValue.count().run() == 2


async def test_a_call_in_the_stalled_batch_is_answered_when_it_commits(
    start_node: StartNode,
) -> None:
    """A call whose batch is already sent is waited for past the write
    timeout, not abandoned: it is answered accepted once the database comes
    back, and stored once."""
    node = await start_node(write_timeout=0.2)
    await PiccoloStationAdmin().add("CP-INFLIGHT")
    status = {"connectorId": 1, "status": "Charging", "errorCode": "NoError", "timestamp": T0}
    async with station(node, "CP-INFLIGHT") as ws:
        stall = Stall(node)
        stall._sink.apply = stall._stalled_apply  # type: ignore[method-assign]
        answer = asyncio.create_task(call(ws, "s1", "StatusNotification", status))
        try:
            await asyncio.wait_for(stall.entered.wait(), 5)
            await asyncio.sleep(0.5)
            assert not answer.done()
        finally:
            stall.released.set()
        assert (await answer)[:2] == [3, "s1"]
    assert await ConnectorStatusChange.count().run() == 1


async def test_a_status_answered_internal_error_is_not_stored_and_its_retry_is_stored_once(
    start_node: StartNode,
) -> None:
    """A StatusNotification (no natural key: its history row is a plain
    insert) answered InternalError during a stall is not committed when the
    database comes back; its retry adds exactly one history row."""
    node = await start_node(write_timeout=0.2)
    await PiccoloStationAdmin().add("CP-ST")
    status = {"connectorId": 1, "status": "Faulted", "errorCode": "GroundFailure", "timestamp": T0}
    async with station(node, "CP-ST") as ws:
        async with Stall(node):
            refused = await call(ws, "s1", "StatusNotification", status)
            assert refused[:3] == [4, "s1", "InternalError"]
        assert await ConnectorStatusChange.count().run() == 0
        assert (await call(ws, "s2", "StatusNotification", status))[0] == 3
    assert await ConnectorStatusChange.count().run() == 1


async def test_a_201_transaction_answered_internal_error_is_stored_once_with_the_retry(
    start_node: StartNode,
) -> None:
    """An OCPP 2.0.1 TransactionEvent Started answered InternalError during a
    stall, then retried: one session, and its Ended closes it."""
    node = await start_node(write_timeout=0.2)
    await PiccoloStationAdmin().add("CS-ST")

    def event(kind: str, seq_no: int) -> dict[str, Any]:
        return {
            "eventType": kind,
            "timestamp": T0,
            "triggerReason": "Authorized",
            "seqNo": seq_no,
            "transactionInfo": {"transactionId": "TX-STALL"},
            "evse": {"id": 1, "connectorId": 1},
        }

    async with station(node, "CS-ST", "ocpp2.0.1") as ws:
        async with Stall(node):
            refused = await call(ws, "t1", "TransactionEvent", event("Started", 0))
            assert refused[:3] == [4, "t1", "InternalError"]
        assert await ChargingSession.count().run() == 0
        assert (await call(ws, "t2", "TransactionEvent", event("Started", 0)))[0] == 3
        assert (await call(ws, "t3", "TransactionEvent", event("Ended", 1)))[0] == 3
    sessions = await ChargingSession.select(ChargingSession.status).run()
    assert sessions == [{"status": "completed"}]


async def test_readyz_answers_503_within_two_seconds_when_the_database_hangs(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    """/readyz bounds each check: with the database ping hanging it answers
    503 within 2 s and names the check that timed out."""

    async def hung_ping() -> None:
        await asyncio.sleep(30)

    monkeypatch.setattr(csms.bootstrap, "ping", hung_ping)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{node.http_port}") as client:
        started = time.monotonic()
        response = await client.get("/readyz", timeout=5)
        elapsed = time.monotonic() - started
    assert elapsed < 2.0
    assert response.status_code == 503
    assert response.json()["checks"]["database"].startswith("timed out")


async def test_a_storage_outage_logs_one_traceback_not_one_per_call(
    start_node: StartNode, caplog: pytest.LogCaptureFixture
) -> None:
    """200 calls failing alike during a storage outage (issue 14, item 8: a
    database outage wrote 10,000 tracebacks in 20 s) log one traceback; the
    rest are held back and counted by the next line after the interval."""
    for name in OUTAGE_LOGGERS:
        logger = logging.getLogger(name)
        for existing in [f for f in logger.filters if isinstance(f, RepeatSummary)]:
            logger.removeFilter(existing)
    node = await start_node()
    sink = node.writer._sink
    apply = sink.apply

    async def failing_apply(groups: Sequence[WriteGroup]) -> list[GroupResult]:
        raise ConnectionError("database unreachable")

    await PiccoloStationAdmin().add("CP-DOWN")
    async with station(node, "CP-DOWN") as ws:
        sink.apply = failing_apply  # type: ignore[method-assign]
        try:
            for n in range(200):
                refused = await call(ws, f"m{n}", "MeterValues", meter_values(n))
                assert refused[2] == "InternalError"
        finally:
            sink.apply = apply  # type: ignore[method-assign]
    tracebacks = [r for r in caplog.records if r.exc_info is not None]
    assert len(tracebacks) == 1, [r.getMessage() for r in tracebacks[:5]]
    failed = [r for r in caplog.records if "MeterValues failed" in r.getMessage()]
    assert len(failed) == 1
