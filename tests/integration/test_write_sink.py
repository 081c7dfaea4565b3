"""The database write sink, and its in-memory twin, on the same writes."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from billing.storage.rows import utc_time
from csms.domain.group_commit import GroupCommitter
from csms.domain.model import Sample
from csms.domain.writes import (
    GroupResult,
    SessionOutcome,
    StoreBoot,
    StoreExchange,
    StoreLastSeen,
    StoreMeterValues,
    StoreNewStation,
    StorePresence,
    StoreSessionStart,
    StoreSessionStop,
    StoreStatus,
    StoreTransactionEvent,
    WriteGroup,
)
from csms.storage.database import current_engine, is_sqlite
from csms.storage.memory import MemoryStore, MemoryWriteSink
from csms.storage.sql import COPY_MIN_ROWS, SqlProgram, TransactionSql, WriteConnection
from csms.storage.writes import PiccoloWriteSink
from csms.tables import (
    ChargingSession,
    Connector,
    ConnectorStatusChange,
    MeterValue,
    OcppMessage,
    SessionStateChange,
    Station,
)

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def _start(key: str, connector: int = 1, meter: int = 0) -> StoreSessionStart:
    return StoreSessionStart(
        station_pk=1,
        connector_id=connector,
        id_tag="TAG",
        started_at=T0,
        meter_start_wh=meter,
        start_key=key,
        auth_status="Accepted",
    )


def _batches() -> list[list[WriteGroup]]:
    """Batches as group commit would form them, duplicates included."""
    sample = Sample(sampled_at=T0 + timedelta(minutes=5), value="1.5", unit="kWh")
    return [
        [WriteGroup((StoreNewStation("CP-1", "Accepted", T0),))],
        [
            WriteGroup((_start("k1"),)),
            WriteGroup((_start("k1"),)),  # retransmission inside one batch
            WriteGroup((_start("k2", connector=2, meter=500),)),
        ],
        [
            WriteGroup((_start("k1"),)),  # retransmission in a later batch
            WriteGroup(
                (
                    StoreMeterValues(1, 1, 1, (sample,), T0),
                    StoreMeterValues(1, 0, 77, (sample,), T0),
                )
            ),
            WriteGroup(
                (
                    StoreSessionStop(1, 1, T0 + timedelta(hours=1), 2000, "Local"),
                    StoreSessionStop(
                        1,
                        4242,
                        T0 + timedelta(hours=2),
                        9000,
                        "PowerLoss",
                        "TAG",
                        (
                            Sample(
                                sampled_at=T0,
                                value="7000",
                                unit="Wh",
                                context="Transaction.Begin",
                            ),
                        ),
                    ),
                )
            ),
        ],
        [WriteGroup((StoreSessionStop(1, 1, T0 + timedelta(hours=1), 2000, "Local"),))],
    ]


EXPECTED = [
    [[1]],
    [[SessionOutcome(1, False)], [SessionOutcome(1, True)], [SessionOutcome(2, False)]],
    [[SessionOutcome(1, True)], [None, None], [SessionOutcome(1, True), SessionOutcome(3, False)]],
    [[SessionOutcome(1, True)]],
]


@pytest.fixture
async def sink(db: None) -> AsyncIterator[PiccoloWriteSink]:
    writer = PiccoloWriteSink(current_engine())
    yield writer
    await writer.close()


async def test_database_sink_dedups_starts_and_records_unknown_stops(
    sink: PiccoloWriteSink,
) -> None:
    """Starts with a known key return the existing session (within a batch and
    across batches); a stop for an unknown transaction creates a session from
    its Transaction.Begin sample; a repeated stop changes nothing."""
    results = [await sink.apply(batch) for batch in _batches()]
    assert results == EXPECTED
    sessions = await ChargingSession.select().order_by(ChargingSession.id).run()
    assert [(s["id"], s["status"], s["meter_stop_wh"]) for s in sessions] == [
        (1, "completed", 2000),
        (2, "active", None),
        (3, "completed", 9000),
    ]
    offline = sessions[2]
    assert offline["started_offline"] and offline["meter_start_wh"] == 7000
    assert offline["charger_transaction_id"] == "4242"
    values = await MeterValue.select().order_by(MeterValue.id).run()
    assert {(v["session"], v["reported_transaction_id"]) for v in values} == {
        (1, 1),
        (None, 77),
        (3, 4242),
    }


async def test_memory_twin_agrees_with_the_database() -> None:
    """The in-memory sink gives the same results on the same batches."""
    twin = MemoryWriteSink(MemoryStore())
    assert [await twin.apply(batch) for batch in _batches()] == EXPECTED


async def test_older_status_never_overwrites_newer(sink: PiccoloWriteSink) -> None:
    """Status reports arriving out of order keep the newest as the connector's
    state, and all of them in the history."""
    await sink.apply([WriteGroup((StoreNewStation("CP-1", "Accepted", T0),))])

    def status(name: str, minutes: int) -> StoreStatus:
        return StoreStatus(1, 1, name, "NoError", T0 + timedelta(minutes=minutes), T0)

    await sink.apply([WriteGroup((status("Charging", 10), status("Preparing", 5)))])
    await sink.apply([WriteGroup((status("Available", 1),))])
    connector = await Connector.select().first().run()
    assert connector is not None and connector["status"] == "Charging"
    assert await ConnectorStatusChange.count().run() == 3
    await sink.apply([WriteGroup((status("Finishing", 20),))])
    connector = await Connector.select().first().run()
    assert connector is not None and connector["status"] == "Finishing"


async def test_presence_and_last_seen(sink: PiccoloWriteSink) -> None:
    """Connecting sets the node; a disconnect from another node does not clear
    it; last-seen only moves forward."""
    await sink.apply([WriteGroup((StoreNewStation("CP-1", "Accepted", T0),))])
    await sink.apply([WriteGroup((StorePresence(1, True, "node-b", "ocpp1.6", T0),))])
    await sink.apply([WriteGroup((StorePresence(1, False, "node-a", "ocpp1.6", T0),))])
    row = await Station.select().first().run()
    assert row is not None and row["connected"] and row["connected_node"] == "node-b"
    later = T0 + timedelta(minutes=3)
    await sink.apply([WriteGroup((StoreLastSeen({1: later}),))])
    await sink.apply([WriteGroup((StoreLastSeen({1: T0}),))])
    row = await Station.select().first().run()
    assert row is not None and row["last_seen_at"] == later


async def test_presence_of_many_stations_in_one_batch_keeps_its_order(
    sink: PiccoloWriteSink,
) -> None:
    """A batch of connects and disconnects (a boot storm, a node's
    chargers leaving) is written per run of the same kind, in order: a
    station that connects and then leaves in one batch ends offline, the
    others connected to their node."""
    await sink.apply(
        [WriteGroup((StoreNewStation(f"CP-{n}", "Accepted", T0),)) for n in range(1, 6)]
    )
    later = T0 + timedelta(seconds=1)
    await sink.apply(
        [
            *(WriteGroup((StorePresence(n, True, "node-a", "ocpp1.6", T0),)) for n in range(1, 5)),
            WriteGroup((StorePresence(2, False, "node-a", "ocpp1.6", later),)),
            WriteGroup((StorePresence(3, False, "node-a", "ocpp1.6", later),)),
            WriteGroup((StorePresence(3, True, "node-b", "ocpp2.0.1", later),)),
        ]
    )
    rows = {r["id"]: r for r in await Station.select().run()}
    assert [rows[n]["connected"] for n in range(1, 6)] == [True, False, True, True, False]
    assert rows[3]["connected_node"] == "node-b"
    assert rows[4]["connected_node"] == "node-a"


@pytest.mark.parametrize("size", [1, 700])
async def test_large_batches_are_split_for_the_driver(sink: PiccoloWriteSink, size: int) -> None:
    """Batches beyond the driver's parameter limits are split, not refused."""
    await sink.apply([WriteGroup((StoreNewStation("CP-1", "Accepted", T0),))])
    starts = [WriteGroup((_start(f"key-{n}", connector=n % 4 + 1),)) for n in range(size)]
    results = await sink.apply(starts)
    assert len({r[0].session_id for r in results if isinstance(r[0], SessionOutcome)}) == size


async def test_an_opened_sink_writes_on_the_connection_it_opened(sink: PiccoloWriteSink) -> None:
    """open() makes the writer's connection before any batch (a node calls
    it at start), and the first batch runs on that connection, not on
    another one opened then; opening again opens nothing more."""
    writer = sink._connection
    await sink.open()
    if is_sqlite():
        opened = writer._sqlite
        assert opened is not None and writer._thread is not None
        assert writer._checkpoint_connection is not None
    else:
        [own] = writer._idle
        opened = own.connection
    await sink.open()
    [[station]] = await sink.apply([WriteGroup((StoreNewStation("CP-1", "Accepted", T0),))])
    assert isinstance(station, int)
    if is_sqlite():
        assert writer._sqlite is opened
    else:
        assert [own.connection for own in writer._idle] == [opened]
    assert await Station.count().run() == 1


async def test_a_broken_write_connection_is_replaced(sink: PiccoloWriteSink) -> None:
    """The group-commit connection is the writer's own and lasts from batch
    to batch; when it breaks, the next batch runs on a new connection and
    commits (on SQLite the batch that meets the broken connection fails: its
    chargers get an error and retry; a PostgreSQL connection the server
    ended is noticed before the batch, tests/e2e/test_outage_short.py ends
    one during a batch)."""
    [[station]] = await sink.apply([WriteGroup((StoreNewStation("CP-1", "Accepted", T0),))])
    assert isinstance(station, int)
    writer = sink._connection
    if is_sqlite():
        # Closed behind the writer's back, as a failing disk would leave it;
        # in the writer's own thread, since an sqlite3 connection is bound
        # to it.
        assert writer._thread is not None and writer._sqlite is not None
        await asyncio.get_running_loop().run_in_executor(writer._thread, writer._sqlite.close)
        with pytest.raises(sqlite3.ProgrammingError, match="closed database"):
            await sink.apply([WriteGroup((StoreLastSeen({station: T0}),))])
    else:
        # Ended by the server, as a restart or an administrator would.
        [first] = writer._idle
        await sink.apply([WriteGroup((StoreLastSeen({station: T0}),))])
        assert writer._idle == [first], "a batch took another connection"
        pid = first.connection.get_server_pid()
        ended = await Station.raw("SELECT pg_terminate_backend({})", pid).run()
        assert ended == [{"pg_terminate_backend": True}]
        await asyncio.sleep(0.1)
    later = T0 + timedelta(minutes=3)
    await sink.apply([WriteGroup((StoreLastSeen({station: later}),))])
    row = await Station.select(Station.last_seen_at).first().run()
    assert row is not None and row["last_seen_at"] == later
    if not is_sqlite():
        [second] = writer._idle
        assert second is not first and second.connection.get_server_pid() != pid


async def test_checkpoints_copy_the_wal_without_blocking_writes(sink: PiccoloWriteSink) -> None:
    """On SQLite a background checkpoint copies every committed WAL frame into
    the database while the writer goes on; PostgreSQL has none to run."""
    if not is_sqlite():
        assert await sink.checkpoint() is None
        return
    await sink.apply([WriteGroup((StoreNewStation("CP-1", "Accepted", T0),))])
    writes = [
        sink.apply([WriteGroup((StoreLastSeen({1: T0 + timedelta(seconds=n)}),))])
        for n in range(20)
    ]
    result, *_ = await asyncio.gather(sink.checkpoint(), *writes)
    assert result is not None
    frames, copied = await sink.checkpoint() or (0, -1)
    assert frames > 0 and copied == frames
    row = await Station.select(Station.last_seen_at).first().run()
    assert row is not None and row["last_seen_at"] == T0 + timedelta(seconds=19)


def _event(tx: str, kind: str, seq: int, minutes: int, **extra: Any) -> StoreTransactionEvent:
    at = T0 + timedelta(minutes=minutes)
    return StoreTransactionEvent(
        station_pk=1,
        charger_transaction_id=tx,
        event_type=kind,
        seq_no=seq,
        timestamp=at,
        received_at=at,
        connector_id=1,
        **extra,
    )


def _transaction_batches() -> list[list[WriteGroup]]:
    """Many transactions' events in one batch, as a busy fleet sends them:
    most transactions once per batch (read and updated together), some
    several times, repeats, an identifier that comes late, and ends."""
    txs = [f"tx-{n}" for n in range(6)]
    starts = [WriteGroup((_event(tx, "Started", 0, 0, begin=(T0, 1000)),)) for tx in txs]
    updates = [WriteGroup((_event(tx, "Updated", 1, 5, charging_state="Charging"),)) for tx in txs]
    mixed = [
        WriteGroup((_event("tx-0", "Updated", 2, 10, charging_state="SuspendedEV"),)),
        WriteGroup((_event("tx-0", "Updated", 3, 11),)),  # twice in the batch
        WriteGroup((_event("tx-1", "Updated", 1, 10, charging_state="Idle"),)),  # a repeat
        WriteGroup((_event("tx-2", "Updated", 2, 10, id_tag="LATE", auth_status="Accepted"),)),
        WriteGroup((_event("tx-3", "Ended", 2, 10, meter_stop_wh=1500, stop_reason="Local"),)),
        WriteGroup((_event("tx-4", "Updated", 2, 10, charging_state="EVConnected"),)),
        WriteGroup((_event("tx-5", "Updated", 2, 10, charging_state="Charging"),)),  # no change
        WriteGroup((_event("tx-9", "Updated", 4, 10, offline=True),)),  # first seen
    ]
    return [[WriteGroup((StoreNewStation("CP-1", "Accepted", T0),))], starts, updates, mixed]


async def test_many_transactions_in_one_batch_agree_with_the_twin(
    sink: PiccoloWriteSink,
) -> None:
    """2.0.1 events of many sessions in one batch give the in-memory twin's
    outcomes and leave each session as the events, applied in order, say;
    only the events that change a session's charging state add to its
    timeline, as in the twin."""
    store = MemoryStore()
    twin = MemoryWriteSink(store)
    expected = [await twin.apply(batch) for batch in _transaction_batches()]
    assert [await sink.apply(batch) for batch in _transaction_batches()] == expected
    rows = {
        r["charger_transaction_id"]: r
        for r in await ChargingSession.select().order_by(ChargingSession.id).run()
    }
    assert {tx: (r["last_seq_no"], r["charging_state"]) for tx, r in rows.items()} == {
        "tx-0": (3, "SuspendedEV"),
        "tx-1": (1, "Charging"),
        "tx-2": (2, "Charging"),
        "tx-3": (2, "Charging"),
        "tx-4": (2, "EVConnected"),
        "tx-5": (2, "Charging"),
        "tx-9": (4, ""),
    }
    ids = {r["id"]: tx for tx, r in rows.items()}
    states = await SessionStateChange.select(
        SessionStateChange.session, SessionStateChange.seq_no, SessionStateChange.charging_state
    ).run()
    timeline = sorted((ids[r["session"]], r["seq_no"], r["charging_state"]) for r in states)
    assert timeline == sorted(
        [(f"tx-{n}", 1, "Charging") for n in range(6)]
        + [("tx-0", 2, "SuspendedEV"), ("tx-4", 2, "EVConnected")]
    )
    twin_ids = {session.id: session.charger_transaction_id for session in store.sessions.values()}
    assert timeline == sorted(
        (twin_ids[session], seq_no, state)
        for (session, seq_no), (state, _) in store.state_changes.items()
    )
    assert rows["tx-2"]["id_tag"] == "LATE"
    assert (rows["tx-3"]["status"], rows["tx-3"]["meter_stop_wh"]) == ("completed", 1500)
    assert rows["tx-0"]["updated_at"] == T0 + timedelta(minutes=11)


@pytest.mark.parametrize("extra", [0, COPY_MIN_ROWS], ids=["small batch", "COPY-sized batch"])
async def test_rows_sent_again_are_stored_once_beside_the_new_ones(
    sink: PiccoloWriteSink, extra: int
) -> None:
    """A meter value or charging-state change sent again (in its batch or a
    later one: an answer was lost) is stored once, the batch's new rows go
    in with it, and the message log keeps every exchange, repeats included;
    in small batches and in batches large enough for PostgreSQL's COPY (a
    staging table and one INSERT that skips duplicates)."""
    await sink.apply([WriteGroup((StoreNewStation("CP-1", "Accepted", T0),))])
    await sink.apply([WriteGroup((_event("tx-1", "Started", 0, 0, begin=(T0, 1000)),))])

    def meter(minute: int) -> StoreMeterValues:
        at = T0 + timedelta(minutes=minute)
        return StoreMeterValues(1, 1, 1, (Sample(sampled_at=at, value=str(minute), unit="Wh"),), at)

    def exchange(unique_id: str) -> StoreExchange:
        return StoreExchange(
            1, unique_id, "MeterValues", b'[2,"x","MeterValues",{}]', 2, b'[3,"x",{}]', 3, T0
        )

    state = _event("tx-1", "Updated", 1, 5, charging_state="SuspendedEV")
    fillers = [WriteGroup((meter(100 + n), exchange(f"f{n}"))) for n in range(extra)]
    await sink.apply(
        [
            WriteGroup((meter(1), exchange("a"))),
            WriteGroup((meter(1), exchange("a"))),
            WriteGroup((meter(2),)),
            WriteGroup((state,)),
            *fillers,
        ]
    )
    await sink.apply(
        [WriteGroup((meter(2), exchange("b"))), WriteGroup((meter(3),)), WriteGroup((state,))]
    )
    await sink.apply([WriteGroup((meter(4),)), *fillers])
    values = await MeterValue.select(MeterValue.value).order_by(MeterValue.sampled_at).run()
    assert [v["value"] for v in values] == ["1", "2", "3", "4"] + [
        str(100 + n) for n in range(extra)
    ]
    states = await SessionStateChange.select(SessionStateChange.charging_state).run()
    assert [s["charging_state"] for s in states] == ["SuspendedEV"]
    logged = await OcppMessage.select(OcppMessage.unique_id, OcppMessage.direction).run()
    fillers_logged = [(f"f{n}", way) for n in range(extra) for way in ("in", "out")] * 2
    assert sorted((m["unique_id"], m["direction"]) for m in logged) == sorted(
        [
            ("a", "in"),
            ("a", "in"),
            ("a", "out"),
            ("a", "out"),
            ("b", "in"),
            ("b", "out"),
            *fillers_logged,
        ]
    )


class _CountingSink:
    """The database sink, counting the batches it has in flight at once."""

    def __init__(self, sink: PiccoloWriteSink) -> None:
        self.sink = sink
        self.flying = 0
        self.most_flying = 0

    async def apply(self, groups: Sequence[WriteGroup]) -> list[GroupResult]:
        self.flying += 1
        self.most_flying = max(self.most_flying, self.flying)
        try:
            return await self.sink.apply(groups)
        finally:
            self.flying -= 1


async def test_stations_sessions_stay_whole_with_two_batches_in_flight(
    sink: PiccoloWriteSink,
) -> None:
    """Forty stations connect, boot, charge and leave, their presence and
    the message log not waited for, last seen flushed now and then, through
    a committer with two batches in flight: every station ends offline with
    one completed session holding its samples and its stop, every exchange
    is logged, and (on PostgreSQL, which commits batches at once) two
    batches were in flight without a deadlock."""
    stations = []
    for n in range(40):
        [[pk]] = await sink.apply([WriteGroup((StoreNewStation(f"CP-{n}", "Accepted", T0),))])
        assert isinstance(pk, int)
        stations.append(pk)
    counting = _CountingSink(sink)
    writer = GroupCommitter(counting, in_flight=2, timeout=30)
    writer.start()

    async def life(pk: int) -> None:
        at = T0
        writer.submit_nowait(WriteGroup((StorePresence(pk, True, "node-a", "ocpp1.6", at),)))
        await writer.submit(WriteGroup((StoreBoot(pk, at, "Vendor", "Model"),)))
        [outcome] = await writer.submit(
            WriteGroup(
                (StoreSessionStart(pk, 1, "TAG", at, 1000, f"start-{pk}", "Accepted", medium=None),)
            )
        )
        assert isinstance(outcome, SessionOutcome)
        for minute in range(1, 6):
            at = T0 + timedelta(minutes=minute)
            sample = Sample(sampled_at=at, value=str(1000 + minute * 100), unit="Wh")
            await writer.submit(
                WriteGroup((StoreMeterValues(pk, 1, outcome.session_id, (sample,), at),))
            )
            writer.record_nowait(
                StoreExchange(pk, f"m{minute}", "MeterValues", b"[2]", 2, b"[3]", 3, at)
            )
            if minute % 2:
                writer.submit_nowait(WriteGroup((StoreLastSeen({p: at for p in stations}),)))
            await asyncio.sleep(0)
        stop = T0 + timedelta(minutes=6)
        await writer.submit(
            WriteGroup((StoreSessionStop(pk, outcome.session_id, stop, 1600, "Local"),))
        )
        writer.submit_nowait(WriteGroup((StorePresence(pk, False, "node-a", "ocpp1.6", stop),)))

    try:
        await asyncio.gather(*(life(pk) for pk in stations))
    finally:
        await writer.stop()
    sessions = await ChargingSession.select().run()
    assert len(sessions) == 40
    assert {(s["status"], s["meter_start_wh"], s["meter_stop_wh"]) for s in sessions} == {
        ("completed", 1000, 1600)
    }
    assert sorted(s["station"] for s in sessions) == sorted(stations)
    values = await MeterValue.select(MeterValue.session).run()
    assert len(values) == 200 and {v["session"] for v in values} == {s["id"] for s in sessions}
    rows = await Station.select(Station.connected, Station.vendor, Station.last_seen_at).run()
    assert {(r["connected"], r["vendor"]) for r in rows} == {(False, "Vendor")}
    assert await OcppMessage.count().run() == 40 * 5 * 2
    if not is_sqlite():
        assert counting.most_flying == 2


async def test_a_writers_commits_checkpoint_the_wal_in_the_background(db: None) -> None:
    """On SQLite a writer's commit starts a background checkpoint (at most one
    a second): the database file takes the committed pages though nobody
    calls checkpoint() and the WAL is far below the commit-path backstop."""
    engine = current_engine()
    if not is_sqlite(engine):
        pytest.skip("SQLite only: PostgreSQL has no WAL file to checkpoint")
    path = engine.path  # type: ignore[attr-defined]
    writer = WriteConnection(engine)
    sql = TransactionSql(engine)
    body = "x" * 4000

    def program() -> SqlProgram[None]:
        yield sql.execute('CREATE TABLE IF NOT EXISTS "wal_probe" (id INTEGER PRIMARY KEY, body)')
        yield sql.executemany(
            'INSERT INTO "wal_probe" (body) VALUES (?)', [(body,) for _ in range(500)]
        )

    def size() -> int:
        return os.path.getsize(path)

    try:
        before = await asyncio.to_thread(size)
        await writer.run(sql, program())
        for _ in range(200):  # 10 s at most
            if await asyncio.to_thread(size) >= before + 1_000_000:
                break
            await asyncio.sleep(0.05)
        assert await asyncio.to_thread(size) >= before + 1_000_000
    finally:
        await writer.close()


async def test_a_read_program_sees_stored_values_and_cannot_write(db: None) -> None:
    """``WriteConnection.read`` runs a program that only reads: on SQLite on a
    connection of its own without piccolo's converters (a timestamp is its
    stored text, which ``utc_time`` reads as the same instant), where a
    write fails and changes nothing; on PostgreSQL typed rows as ``run``
    gives them."""
    engine = current_engine()
    writer = WriteConnection(engine)
    sql = TransactionSql(engine)
    await Station.insert(Station(charge_point_id="CP-READ", last_seen_at=T0)).run()

    def reading() -> SqlProgram[list[Any]]:
        rows = yield sql.fetch(
            'SELECT charge_point_id, last_seen_at FROM "station" WHERE charge_point_id = ?',
            "CP-READ",
        )
        return list(rows)

    def writing() -> SqlProgram[None]:
        yield sql.execute(
            'UPDATE "station" SET charge_point_id = ? WHERE charge_point_id = ?',
            "CP-WRITTEN",
            "CP-READ",
        )

    try:
        (row,) = await writer.read(sql, reading())
        assert row["charge_point_id"] == "CP-READ"
        assert utc_time(row["last_seen_at"]) == T0
        if is_sqlite(engine):
            assert isinstance(row["last_seen_at"], str)
            with pytest.raises(sqlite3.OperationalError, match="readonly"):
                await writer.read(sql, writing())
            assert await Station.exists().where(Station.charge_point_id == "CP-READ").run()
    finally:
        await writer.close()


async def test_packed_values_are_the_rows_values(db: None) -> None:
    """``TransactionSql.fetch_values`` gives each row's values in column
    order, the same as a plain fetch: NULL, text beyond ASCII, quotes and
    large integers survive SQLite's JSON packing; no row is an empty list;
    the same program runs through ``read`` and ``run``."""
    engine = current_engine()
    writer = WriteConnection(engine)
    sql = TransactionSql(engine)
    names = ['CP-"Süd"\\1', "CP-日本", "CP-PLAIN"]
    for name in names:
        await Station.insert(Station(charge_point_id=name, last_seen_at=T0)).run()

    def packed(wanted: list[str]) -> SqlProgram[tuple[list[Any], list[Any]]]:
        where = f'FROM "station" WHERE charge_point_id IN {sql.in_list(wanted)}'
        values = yield sql.fetch_values(
            ("charge_point_id", "owner_entity", "id * 4294967296", "last_seen_at"),
            where,
            *wanted,
        )
        rows = yield sql.fetch(
            f"SELECT charge_point_id, owner_entity, id * 4294967296 AS big, last_seen_at {where}",
            *wanted,
        )
        return list(values), list(rows)

    try:
        for run in (writer.read, writer.run):
            values, rows = await run(sql, packed(names))
            # A timestamp is packed as its stored text (piccolo's converters
            # make it a datetime in ``run``'s plain fetch): the same instant.
            assert sorted((*v[:3], utc_time(v[3])) for v in values) == sorted(
                (r["charge_point_id"], r["owner_entity"], r["big"], utc_time(r["last_seen_at"]))
                for r in rows
            )
            assert {v[0] for v in values} == set(names)
            assert all(v[1] is None and v[2] >= 4294967296 for v in values)
            assert all(utc_time(v[3]) == T0 for v in values)
            nothing, _ = await run(sql, packed(["CP-NONE"]))
            assert nothing == []
    finally:
        await writer.close()
