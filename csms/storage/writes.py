"""The database side of group commit: a batch of write groups, one transaction.

Writes of a kind are gathered across the batch and sent as few statements as
possible: meter values, status history, events and the message log go in with
``executemany``; session starts are deduplicated against the database and the
batch in one query; last-seen times are merged per second.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime
from itertools import groupby
from typing import Any

import msgspec
from piccolo.engine.base import Engine

from csms.domain.meter import ENERGY_REGISTER, register_wh, sample_keys
from csms.domain.model import MediumFacts, Sample
from csms.domain.writes import (
    GroupResult,
    SessionOutcome,
    StoreBoot,
    StoreDeviceModel,
    StoreEvent,
    StoreExchange,
    StoreLastSeen,
    StoreMessage,
    StoreMeterValues,
    StoreNewStation,
    StorePresence,
    StoreSessionStart,
    StoreSessionStop,
    StoreStatus,
    StoreTransactionEvent,
    TransactionOutcome,
    Write,
    WriteGroup,
    stop_start_key,
)
from csms.storage.sql import (
    SQLITE_GATEWAY_CACHE_KIB,
    SqlProgram,
    TransactionSql,
    WriteConnection,
)

# A sample already stored (same station and sample key: a retransmitted
# MeterValues) is skipped; the rest of the batch goes in.
_METER_COLUMNS = (
    "station",
    "connector_id",
    "session",
    "reported_transaction_id",
    "sampled_at",
    "value",
    "measurand",
    "phase",
    "unit",
    "context",
    "location",
    "format",
    "signed_data",
    "signing_method",
    "encoding_method",
    "public_key",
    "multiplier",
    "sample_key",
    "received_at",
)
# The transactional outbox billing reads: one row per completed session. A
# completion that replaces another (the charger's stop after a rule's)
# moves the time of a row still waiting and makes it a new revision.
_ENQUEUE_RATING = (
    "INSERT INTO rating_queue (session, completed_at, enqueued_at) VALUES (?, ?, ?)"
    " ON CONFLICT (session) DO UPDATE SET completed_at = excluded.completed_at,"
    " revision = rating_queue.revision + 1"
)
# OCPP 2.0.1 chargingState history; an event applied twice (two nodes) adds one row.
_STATE_CHANGE_COLUMNS = (
    "session",
    "station",
    "connector_id",
    "charging_state",
    "changed_at",
    "seq_no",
    "received_at",
)
_STATUS_CHANGE_COLUMNS = (
    "station",
    "connector_id",
    "status",
    "error_code",
    "info",
    "vendor_id",
    "vendor_error_code",
    "reported_at",
    "received_at",
)
# A report older than what is stored never overwrites it (queued messages
# arrive late after a reconnect).
_UPSERT_CONNECTOR = (
    "INSERT INTO connector (station, connector_id, status, error_code, info, vendor_id,"
    " vendor_error_code, status_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (station, connector_id) DO UPDATE SET status = excluded.status,"
    " error_code = excluded.error_code, info = excluded.info, vendor_id = excluded.vendor_id,"
    " vendor_error_code = excluded.vendor_error_code, status_at = excluded.status_at,"
    " updated_at = excluded.updated_at"
    " WHERE connector.status_at IS NULL OR connector.status_at <= excluded.status_at"
)
_INSERT_EVENT = (
    "INSERT INTO station_event (station, kind, occurred_at, received_at, data)"
    " VALUES (?, ?, ?, ?, ?)"
)
_MESSAGE_COLUMNS = (
    "station",
    "direction",
    "message_type",
    "unique_id",
    "action",
    "payload",
    "logged_at",
)
_INSERT_SESSION = (
    "INSERT INTO charging_session (station, connector_id, id_tag, parent_id_tag,"
    " start_auth_status, reservation_id, started_at, meter_start_wh, stopped_at, meter_stop_wh,"
    " stop_reason, stop_id_tag, status, closed_by, started_offline, charger_transaction_id,"
    " start_key, medium_id, issuing_entity_id, bill_to_contact_id, owner_contact_id,"
    " created_at, updated_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"
)
# An OCPP 2.0.1 transaction: the session row with its seqNo and charging state.
_INSERT_TRANSACTION = (
    "INSERT INTO charging_session (station, connector_id, id_tag, parent_id_tag,"
    " start_auth_status, reservation_id, started_at, meter_start_wh, stopped_at, meter_stop_wh,"
    " stop_reason, stop_id_tag, status, closed_by, started_offline, charger_transaction_id,"
    " start_key, last_seq_no, charging_state, medium_id, issuing_entity_id,"
    " bill_to_contact_id, owner_contact_id, created_at, updated_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " RETURNING id"
)
# What applying a TransactionEvent reads of its session, one session or a
# batch's at once (_find_transactions).
_TRANSACTION_FIELDS = (
    "id, connector_id, id_tag, started_at IS NULL AS no_start, meter_start_wh, closed_by,"
    " last_seq_no, charging_state"
)
_FIND_TRANSACTION = (
    f"SELECT {_TRANSACTION_FIELDS} FROM charging_session"
    " WHERE station = ? AND charger_transaction_id = ?"
)
# The columns an ordinary TransactionEvent (Updated, no identifier) changes,
# with their PostgreSQL types: such updates go in one statement per batch.
_SESSION_COLUMN_TYPES = {
    "updated_at": "timestamptz",
    "last_seq_no": "integer",
    "charging_state": "text",
}
_LAST_REGISTER = (
    "SELECT sampled_at, value, measurand, unit, format, multiplier FROM meter_value"
    " WHERE session = ? AND measurand = ? ORDER BY sampled_at DESC LIMIT 1"
)
_UPSERT_VARIABLE = (
    "INSERT INTO station_variable (station, component, component_instance, evse_id,"
    " connector_id, variable, variable_instance, attribute_type, value, mutability, data_type,"
    " unit, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (station, component, component_instance, evse_id, connector_id, variable,"
    " variable_instance, attribute_type) DO UPDATE SET value = excluded.value,"
    " mutability = excluded.mutability, data_type = excluded.data_type, unit = excluded.unit,"
    " updated_at = excluded.updated_at"
)
_STOP_SESSION = (
    "UPDATE charging_session SET stopped_at = ?, meter_stop_wh = ?, stop_reason = ?,"
    " stop_id_tag = ?, status = 'completed', closed_by = 'charger', updated_at = ?"
    " WHERE id = ?"
)
_BOOT = (
    "UPDATE station SET vendor = ?, model = ?, serial_number = ?, charge_box_serial_number = ?,"
    " firmware_version = ?, iccid = ?, imsi = ?, meter_type = ?, meter_serial_number = ?,"
    " last_boot_at = ?, last_seen_at = ?, updated_at = ? WHERE id = ?"
)
_PRESENCE = (
    "UPDATE station SET connected = ?, connected_node = ?, protocol = ?, last_seen_at = ?,"
    " updated_at = ? WHERE id = ?"
)
# A disconnect only clears the flag if no other node took the station since.
_ABSENCE = (
    "UPDATE station SET connected = ?, connected_node = '', last_seen_at = ?, updated_at = ?"
    " WHERE id = ? AND connected_node = ?"
)
_INSERT_STATION = (
    "INSERT INTO station (charge_point_id, owner_entity, description, vendor, model,"
    " serial_number, charge_box_serial_number, firmware_version, iccid, imsi, meter_type,"
    " meter_serial_number, registration_status, auth_secret_hash, assume_ocpp16, leniency,"
    " protocol, connected, connected_node, created_at, updated_at)"
    " VALUES (?, NULL, '', '', '', '', '', '', '', '', '', '', ?, '', ?, '', '', ?, '', ?, ?)"
    " RETURNING id"
)


_encode_json = msgspec.json.Encoder().encode


def _json_text(data: Any) -> str:
    """A JSON column's text, encoded in C (a 2.0.1 charger's every
    TransactionEvent logs one; the standard library's encoder was a tenth
    of the writer thread's time with them)."""
    return _encode_json(data).decode()


class PiccoloWriteSink:
    """Applies write groups with as few statements as the batch allows."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._sql = TransactionSql(engine)
        self._connection = WriteConnection(
            engine, dedicated=True, cache_kib=SQLITE_GATEWAY_CACHE_KIB
        )

    async def open(self) -> None:
        """See WriteConnection.open."""
        await self._connection.open()

    async def apply(self, groups: Sequence[WriteGroup]) -> list[GroupResult]:
        return await self._connection.run(self._sql, self._batch(groups))

    def _batch(self, groups: Sequence[WriteGroup]) -> SqlProgram[list[GroupResult]]:
        """The whole batch as one program of statements: the connection runs
        it in one transaction (on SQLite in its own thread, in one hop)."""
        results: list[GroupResult] = [[None] * len(group.writes) for group in groups]
        by_kind: dict[type, list[tuple[int, int, Write]]] = defaultdict(list)
        for group_index, group in enumerate(groups):
            for write_index, write in enumerate(group.writes):
                by_kind[type(write)].append((group_index, write_index, write))

        for group_index, write_index, write in by_kind[StoreNewStation]:
            assert isinstance(write, StoreNewStation)
            results[group_index][write_index] = yield from self._new_station(write)
        yield from self._boots([w for _, _, w in by_kind[StoreBoot]])  # type: ignore[misc]
        yield from self._presence([w for _, _, w in by_kind[StorePresence]])  # type: ignore[misc]
        yield from self._last_seen([w for _, _, w in by_kind[StoreLastSeen]])  # type: ignore[misc]
        yield from self._statuses([w for _, _, w in by_kind[StoreStatus]])  # type: ignore[misc]
        yield from self._starts(by_kind[StoreSessionStart], results)
        stamp = self._sql.timestamps()
        rows = _BatchRows(stamp)
        yield from self._stops(by_kind[StoreSessionStop], results, rows)
        yield from self._transaction_events(by_kind[StoreTransactionEvent], results, rows)
        yield from self._meter_values(
            [w for _, _, w in by_kind[StoreMeterValues]],  # type: ignore[misc]
            rows,
        )
        yield self._sql.insert_rows("meter_value", _METER_COLUMNS, rows.meter, skip_duplicates=True)
        yield self._sql.insert_rows(
            "session_state_change", _STATE_CHANGE_COLUMNS, rows.states, skip_duplicates=True
        )
        yield self._sql.executemany(_ENQUEUE_RATING, rows.ratings)
        yield from self._device_model(
            [w for _, _, w in by_kind[StoreDeviceModel]],  # type: ignore[misc]
        )
        yield self._sql.executemany(
            _INSERT_EVENT,
            [
                (
                    w.station_pk,
                    w.kind,
                    stamp(w.occurred_at),
                    stamp(w.received_at),
                    _json_text(w.data),
                )
                for _, _, w in by_kind[StoreEvent]
                if isinstance(w, StoreEvent)
            ],
        )
        messages = [w for _, _, w in by_kind[StoreMessage] if isinstance(w, StoreMessage)]
        for _, _, exchange in by_kind[StoreExchange]:
            assert isinstance(exchange, StoreExchange)
            messages.extend(exchange.messages())
        yield self._sql.insert_rows(
            "ocpp_message",
            _MESSAGE_COLUMNS,
            [
                (
                    w.station_pk,
                    w.direction,
                    w.message_type,
                    w.unique_id,
                    w.action,
                    w.payload,
                    stamp(w.logged_at),
                )
                for w in messages
            ],
        )
        return results

    async def checkpoint(self) -> tuple[int, int] | None:
        """See WriteConnection.checkpoint."""
        return await self._connection.checkpoint()

    async def close(self) -> None:
        await self._connection.close()

    # -- stations -------------------------------------------------------------

    def _new_station(self, write: StoreNewStation) -> SqlProgram[int]:
        existing = yield self._sql.fetch(
            "SELECT id FROM station WHERE charge_point_id = ?", write.charge_point_id
        )
        if existing:
            return int(existing[0]["id"])
        rows = yield self._sql.fetch(
            _INSERT_STATION,
            write.charge_point_id,
            write.registration_status,
            False,
            False,
            write.at,
            write.at,
        )
        return int(rows[0]["id"])

    def _boots(self, boots: list[StoreBoot]) -> SqlProgram[None]:
        yield self._sql.executemany(
            _BOOT,
            [
                (
                    b.vendor,
                    b.model,
                    b.serial_number,
                    b.charge_box_serial_number,
                    b.firmware_version,
                    b.iccid,
                    b.imsi,
                    b.meter_type,
                    b.meter_serial_number,
                    b.at,
                    b.at,
                    b.at,
                    b.station_pk,
                )
                for b in boots
            ],
        )

    def _presence(self, changes: list[StorePresence]) -> SqlProgram[None]:
        # One statement per run of connects or of disconnects (a boot storm
        # is one run), in order: a station that connects and leaves in the
        # same batch ends offline.
        for connected, run in groupby(changes, key=lambda change: change.connected):
            if connected:
                yield self._sql.executemany(
                    _PRESENCE,
                    [(True, c.node, c.protocol, c.at, c.at, c.station_pk) for c in run],
                )
            else:
                yield self._sql.executemany(
                    _ABSENCE, [(False, c.at, c.at, c.station_pk, c.node) for c in run]
                )

    def _last_seen(self, writes: list[StoreLastSeen]) -> SqlProgram[None]:
        merged: dict[int, datetime] = {}
        for write in writes:
            for pk, seen in write.last_seen.items():
                if pk not in merged or merged[pk] < seen:
                    merged[pk] = seen
        # Stations seen in the same second share one statement.
        by_second: dict[datetime, list[int]] = defaultdict(list)
        for pk, seen in merged.items():
            by_second[seen.replace(microsecond=0)].append(pk)
        for second, pks in by_second.items():
            for chunk in _padded_chunks(pks):
                yield self._sql.execute(
                    "UPDATE station SET last_seen_at = ? WHERE id IN "
                    + self._sql.in_list(chunk)
                    + " AND (last_seen_at IS NULL OR last_seen_at < ?)",
                    second,
                    *chunk,
                    second,
                )

    # -- connectors -------------------------------------------------------------

    def _statuses(self, statuses: list[StoreStatus]) -> SqlProgram[None]:
        if not statuses:
            return
        yield self._sql.insert_rows(
            "connector_status_change",
            _STATUS_CHANGE_COLUMNS,
            [
                (
                    s.station_pk,
                    s.connector_id,
                    s.status,
                    s.error_code,
                    s.info,
                    s.vendor_id,
                    s.vendor_error_code,
                    s.reported_at,
                    s.received_at,
                )
                for s in statuses
            ],
        )
        # One upsert per connector: the newest report of the batch.
        latest: dict[tuple[int, int], StoreStatus] = {}
        for s in statuses:
            key = (s.station_pk, s.connector_id)
            if key not in latest or latest[key].reported_at <= s.reported_at:
                latest[key] = s
        yield self._sql.executemany(
            _UPSERT_CONNECTOR,
            [
                (
                    s.station_pk,
                    s.connector_id,
                    s.status,
                    s.error_code,
                    s.info,
                    s.vendor_id,
                    s.vendor_error_code,
                    s.reported_at,
                    s.received_at,
                )
                for s in latest.values()
            ],
        )

    # -- sessions ---------------------------------------------------------------

    def _starts(
        self, starts: list[tuple[int, int, Write]], results: list[GroupResult]
    ) -> SqlProgram[None]:
        if not starts:
            return
        known: dict[str, int] = {}
        keys = list({w.start_key for _, _, w in starts if isinstance(w, StoreSessionStart)})
        for chunk in _padded_chunks(keys):
            rows = yield self._sql.fetch(
                "SELECT id, start_key FROM charging_session WHERE start_key IN "
                + self._sql.in_list(chunk),
                *chunk,
            )
            known.update({row["start_key"]: int(row["id"]) for row in rows})
        for group_index, write_index, write in starts:
            assert isinstance(write, StoreSessionStart)
            session_id = known.get(write.start_key)
            if session_id is not None:
                results[group_index][write_index] = SessionOutcome(session_id, existed=True)
                continue
            rows = yield self._sql.fetch(
                _INSERT_SESSION,
                write.station_pk,
                write.connector_id,
                write.id_tag,
                write.parent_id_tag,
                write.auth_status,
                write.reservation_id,
                write.started_at,
                write.meter_start_wh,
                None,
                None,
                "",
                "",
                "active",
                "",
                False,
                "",
                write.start_key,
                *_medium_columns(write.medium),
                write.started_at,
                write.started_at,
            )
            session_id = int(rows[0]["id"])
            known[write.start_key] = session_id
            results[group_index][write_index] = SessionOutcome(session_id, existed=False)

    def _stops(
        self,
        stops: list[tuple[int, int, Write]],
        results: list[GroupResult],
        rows_out: _BatchRows,
    ) -> SqlProgram[None]:
        for group_index, write_index, write in stops:
            assert isinstance(write, StoreSessionStop)
            rows = yield self._sql.fetch(
                "SELECT id, closed_by, connector_id FROM charging_session"
                " WHERE id = ? AND station = ?",
                write.transaction_id,
                write.station_pk,
            )
            if rows:
                session_id = int(rows[0]["id"])
                connector_id = int(rows[0]["connector_id"])
                results[group_index][write_index] = SessionOutcome(session_id, existed=True)
                if rows[0]["closed_by"] == "charger":
                    # A retransmitted stop: already recorded, samples included.
                    continue
                yield self._sql.execute(
                    _STOP_SESSION,
                    write.stopped_at,
                    write.meter_stop_wh,
                    write.reason,
                    write.id_tag,
                    write.stopped_at,
                    session_id,
                )
            else:
                key = stop_start_key(write)
                known = yield self._sql.fetch(
                    "SELECT id FROM charging_session WHERE start_key = ?", key
                )
                if known:
                    # A retransmission of a stop that created its session.
                    results[group_index][write_index] = SessionOutcome(
                        int(known[0]["id"]), existed=False
                    )
                    continue
                session_id = yield from self._session_from_stop(write, key)
                connector_id = 0
                results[group_index][write_index] = SessionOutcome(session_id, existed=False)
            rows_out.rating(session_id, write.stopped_at, write.received_at or write.stopped_at)
            received_at = rows_out.stamp(write.stopped_at)
            rows_out.meter.extend(
                rows_out.meter_row(
                    write.station_pk,
                    connector_id,
                    session_id,
                    write.transaction_id,
                    s,
                    received_at,
                )
                for s in write.samples
            )

    def _session_from_stop(self, write: StoreSessionStop, key: str) -> SqlProgram[int]:
        """A stop for a transaction the system never saw: record what it tells,
        taking the start from its Transaction.Begin sample when it has one.
        Its start key is the stop's, so a retransmission finds it."""
        begin = _transaction_begin(write.samples)
        rows = yield self._sql.fetch(
            _INSERT_SESSION,
            write.station_pk,
            0,
            write.id_tag,
            "",
            "",
            None,
            begin[0] if begin else None,
            begin[1] if begin else None,
            write.stopped_at,
            write.meter_stop_wh,
            write.reason,
            write.id_tag,
            "completed",
            "charger",
            True,
            str(write.transaction_id),
            key,
            *_medium_columns(write.medium),
            write.stopped_at,
            write.stopped_at,
        )
        return int(rows[0]["id"])

    # -- OCPP 2.0.1 transactions ------------------------------------------------

    def _transaction_events(
        self,
        events: list[tuple[int, int, Write]],
        results: list[GroupResult],
        rows_out: _BatchRows,
    ) -> SqlProgram[None]:
        """Each event in batch order, so two events of one transaction in one
        batch see each other.

        A transaction with one event in the batch (a busy fleet's usual case)
        is read with the others in one query, and its update, when it moves
        only the seqNo, state and time, goes with the others in one
        statement: one statement per event cost a round of SQLite's writer
        each, and made 2.0.1 three quarters as fast as 1.6. A transaction
        with several events in the batch is read and written event by event."""
        counts: dict[tuple[int, str], int] = defaultdict(int)
        for _, _, write in events:
            assert isinstance(write, StoreTransactionEvent)
            counts[(write.station_pk, write.charger_transaction_id)] += 1
        known = yield from self._find_transactions([k for k, n in counts.items() if n == 1])
        deferred: dict[tuple[str, ...], list[tuple[Any, ...]]] = defaultdict(list)
        for group_index, write_index, write in events:
            assert isinstance(write, StoreTransactionEvent)
            key = (write.station_pk, write.charger_transaction_id)
            outcome, connector_id, completed, state_changed = yield from self._transaction_event(
                write, known.get(key), deferred if counts[key] == 1 else None, rows_out.stamp
            )
            results[group_index][write_index] = outcome
            received_at = rows_out.stamp(write.received_at)
            # Samples are keyed (a retransmitted one is stored once), so even
            # an event not above the last seqNo keeps its readings: firmware
            # that numbers every event 0 would lose them otherwise.
            rows_out.meter.extend(
                rows_out.meter_row(
                    write.station_pk,
                    write.connector_id,
                    outcome.session_id,
                    None,
                    s,
                    received_at,
                )
                for s in write.samples
            )
            if outcome.repeated:
                continue
            if completed:
                rows_out.rating(outcome.session_id, write.timestamp, write.received_at)
            if state_changed:
                rows_out.states.append(
                    (
                        outcome.session_id,
                        write.station_pk,
                        connector_id,
                        write.charging_state,
                        rows_out.stamp(write.timestamp),
                        write.seq_no,
                        received_at,
                    )
                )
        for columns, values in deferred.items():
            yield from self._update_sessions(columns, values)

    def _find_transactions(
        self, keys: list[tuple[int, str]]
    ) -> SqlProgram[dict[tuple[int, str], dict[str, Any]]]:
        """_FIND_TRANSACTION's row for each (station, transaction id) found."""
        found: dict[tuple[int, str], dict[str, Any]] = {}
        for chunk in _padded_chunks(keys):
            pair = "(?, ?)" if self._sql.sqlite else "(?::bigint, ?::text)"
            rows = yield self._sql.fetch(
                "WITH k (station, tx) AS (VALUES " + ", ".join([pair] * len(chunk)) + ")"
                f" SELECT s.station, s.charger_transaction_id, {_TRANSACTION_FIELDS}"
                " FROM k JOIN charging_session s"
                " ON s.station = k.station AND s.charger_transaction_id = k.tx",
                *(value for key in chunk for value in key),
            )
            for row in rows:
                found[(int(row["station"]), row["charger_transaction_id"])] = row
        return found

    def _update_sessions(
        self, columns: tuple[str, ...], values: list[tuple[Any, ...]]
    ) -> SqlProgram[None]:
        """One UPDATE for many sessions' same columns: (id, *values) each."""
        casts = ("bigint", *(_SESSION_COLUMN_TYPES[column] for column in columns))
        row = (
            "(" + ", ".join("?" for _ in casts) + ")"
            if self._sql.sqlite
            else "(" + ", ".join(f"?::{cast}" for cast in casts) + ")"
        )
        assignments = ", ".join(
            f"{column} = v.column{index}" for index, column in enumerate(columns, start=2)
        )
        for chunk in _padded_chunks(values, 4096 // len(casts)):
            yield self._sql.execute(
                f"UPDATE charging_session SET {assignments}"
                " FROM (VALUES " + ", ".join([row] * len(chunk)) + ") AS v"
                " WHERE charging_session.id = v.column1",
                *(value for entry in chunk for value in entry),
            )

    def _transaction_event(
        self,
        write: StoreTransactionEvent,
        row: dict[str, Any] | None,
        deferred: dict[tuple[str, ...], list[tuple[Any, ...]]] | None,
        stamp: Callable[[datetime], Any],
    ) -> SqlProgram[tuple[TransactionOutcome, int, bool, bool]]:
        """The event applied: its outcome, the session's connector (EVSE),
        whether the event completed the session and whether it changed the
        session's charging state (a state the session is in already adds
        nothing to its timeline, and most Updated events repeat it). ``row`` is the session's
        _FIND_TRANSACTION row when the caller read it already; with
        ``deferred``, an update of only the columns _SESSION_COLUMN_TYPES
        names is left there for the caller's one UPDATE; ``stamp`` is the
        batch's timestamp converter (TransactionSql.timestamps)."""
        rows = (
            [row]
            if row is not None
            else (
                yield self._sql.fetch(
                    _FIND_TRANSACTION, write.station_pk, write.charger_transaction_id
                )
            )
        )
        ended = write.event_type == "Ended"
        if not rows:
            started = write.event_type == "Started"
            if write.begin is not None:
                started_at: datetime | None = write.begin[0]
            else:
                started_at = write.timestamp if not ended else None
            inserted = yield self._sql.fetch(
                _INSERT_TRANSACTION,
                write.station_pk,
                write.connector_id,
                write.id_tag,
                write.parent_id_tag,
                write.auth_status,
                write.reservation_id,
                started_at,
                write.begin[1] if write.begin else None,
                write.timestamp if ended else None,
                write.meter_stop_wh if ended else None,
                write.stop_reason,
                "",
                "completed" if ended else "active",
                "charger" if ended else "",
                write.offline or not started,
                write.charger_transaction_id,
                transaction_start_key(write.station_pk, write.charger_transaction_id),
                write.seq_no,
                write.charging_state,
                *_medium_columns(write.medium),
                write.received_at,
                write.received_at,
            )
            outcome = TransactionOutcome(int(inserted[0]["id"]), True, False, None)
            return outcome, write.connector_id, ended, bool(write.charging_state)
        row = rows[0]
        session_id = int(row["id"])
        previous = row["last_seq_no"]
        connector_id = int(row["connector_id"]) or write.connector_id
        late = previous is not None and write.seq_no <= previous
        # seqNo only tells a repeat of the very same event: an event not
        # above the last one changes nothing, except an Ended of a session
        # the charger has not ended yet. That cannot be a retransmission (the
        # session would be ended), so it is firmware that restarts or never
        # counts seqNo, and the session ends with its meter value.
        if late and not (ended and row["closed_by"] != "charger"):
            outcome = TransactionOutcome(session_id, False, True, previous)
            return outcome, connector_id, False, False
        changes: dict[str, Any] = {"updated_at": stamp(write.received_at)}
        if not late:
            changes["last_seq_no"] = write.seq_no
        state_changed = bool(write.charging_state) and write.charging_state != row["charging_state"]
        if state_changed:
            changes["charging_state"] = write.charging_state
        if row["connector_id"] == 0 and write.connector_id:
            changes["connector_id"] = write.connector_id
        if write.id_tag:
            if not row["id_tag"]:
                # The identifier came after the start (2.0.1 allows it).
                changes["id_tag"] = write.id_tag
                changes["parent_id_tag"] = write.parent_id_tag
                changes["start_auth_status"] = write.auth_status
                changes.update(zip(_MEDIUM_COLUMNS, _medium_columns(write.medium), strict=True))
            elif ended and write.id_tag != row["id_tag"]:
                changes["stop_id_tag"] = write.id_tag
        if write.begin is not None and row["meter_start_wh"] is None:
            changes["meter_start_wh"] = write.begin[1]
            if row["no_start"]:
                changes["started_at"] = write.begin[0]
        completed = ended and row["closed_by"] != "charger"
        if completed:
            # The charger's end replaces a closure by rule.
            stop_wh = write.meter_stop_wh
            if stop_wh is None:
                stop_wh = yield from self._last_register(session_id)
            changes.update(
                stopped_at=write.timestamp,
                meter_stop_wh=stop_wh,
                stop_reason=write.stop_reason,
                status="completed",
                closed_by="charger",
            )
        if deferred is not None and changes.keys() <= _SESSION_COLUMN_TYPES.keys():
            deferred[tuple(changes)].append((session_id, *changes.values()))
        else:
            yield self._sql.execute(
                "UPDATE charging_session SET "
                + ", ".join(f"{column} = ?" for column in changes)
                + " WHERE id = ?",
                *changes.values(),
                session_id,
            )
        outcome = TransactionOutcome(session_id, False, False, previous)
        return outcome, connector_id, completed, state_changed

    def _last_register(self, session_id: int) -> SqlProgram[int | None]:
        """The last energy register stored for a session, in Wh."""
        rows = yield self._sql.fetch(_LAST_REGISTER, session_id, ENERGY_REGISTER)
        if not rows:
            return None
        row = rows[0]
        return register_wh(
            Sample(
                sampled_at=row["sampled_at"],
                value=row["value"],
                measurand=row["measurand"],
                unit=row["unit"],
                format=row["format"],
                multiplier=row["multiplier"] or 0,
            )
        )

    def _device_model(self, writes: list[StoreDeviceModel]) -> SqlProgram[None]:
        # One row per key: the last of the batch wins.
        latest: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        for write in writes:
            for v in write.variables:
                key = (
                    write.station_pk,
                    v.component,
                    v.component_instance,
                    v.evse_id,
                    v.connector_id,
                    v.variable,
                    v.variable_instance,
                    v.attribute_type,
                )
                latest[key] = (*key, v.value, v.mutability, v.data_type, v.unit, write.at)
        yield self._sql.executemany(_UPSERT_VARIABLE, list(latest.values()))

    def _meter_values(
        self, writes: list[StoreMeterValues], rows_out: _BatchRows
    ) -> SqlProgram[None]:
        # A transactionId counts only if it names a session of the same station.
        claimed = {(w.station_pk, w.transaction_id) for w in writes if w.transaction_id is not None}
        sessions: set[tuple[int, int]] = set()
        ids = sorted({tx for _, tx in claimed if tx is not None})
        for chunk in _padded_chunks(ids):
            rows = yield self._sql.fetch(
                "SELECT id, station FROM charging_session WHERE id IN " + self._sql.in_list(chunk),
                *chunk,
            )
            sessions.update((int(row["station"]), int(row["id"])) for row in rows)
        for w in writes:
            session_id = (
                w.transaction_id
                if w.transaction_id is not None and (w.station_pk, w.transaction_id) in sessions
                else None
            )
            received_at = rows_out.stamp(w.received_at)
            rows_out.meter.extend(
                rows_out.meter_row(
                    w.station_pk,
                    w.connector_id,
                    session_id,
                    w.transaction_id,
                    s,
                    received_at,
                )
                for s in w.samples
            )


class _BatchRows:
    """Rows a batch inserts at its end, each kind in one statement."""

    __slots__ = ("_key", "meter", "ratings", "stamp", "states")

    def __init__(self, stamp: Callable[[datetime], Any]) -> None:
        self.stamp = stamp
        self._key = sample_keys()
        self.meter: list[tuple[Any, ...]] = []
        self.states: list[tuple[Any, ...]] = []
        self.ratings: list[tuple[Any, ...]] = []

    def rating(self, session_id: int, completed_at: datetime, enqueued_at: datetime) -> None:
        self.ratings.append((session_id, self.stamp(completed_at), self.stamp(enqueued_at)))

    def meter_row(
        self,
        station_pk: int,
        connector_id: int,
        session_id: int | None,
        reported_transaction_id: int | None,
        sample: Sample,
        received_at: Any,
    ) -> tuple[Any, ...]:
        return (
            station_pk,
            connector_id,
            session_id,
            reported_transaction_id,
            self.stamp(sample.sampled_at),
            sample.value,
            sample.measurand,
            sample.phase,
            sample.unit,
            sample.context,
            sample.location,
            sample.format,
            sample.signed_data,
            sample.signing_method,
            sample.encoding_method,
            sample.public_key,
            sample.multiplier,
            self._key(connector_id, sample),
            received_at,
        )


_MEDIUM_COLUMNS = ("medium_id", "issuing_entity_id", "bill_to_contact_id", "owner_contact_id")


def _medium_columns(medium: MediumFacts | None) -> tuple[int | None, ...]:
    if medium is None:
        return (None, None, None, None)
    return (
        medium.medium_id,
        medium.issuing_entity_id,
        medium.bill_to_contact_id,
        medium.owner_contact_id,
    )


def transaction_start_key(station_pk: int, charger_transaction_id: str) -> str:
    """The start key of a 2.0.1 transaction: unique per station and the
    charger's transactionId, so two nodes cannot both create it."""
    digest = hashlib.sha256(charger_transaction_id.encode()).hexdigest()[:40]
    return f"201:{station_pk}:{digest}"


def _transaction_begin(samples: Sequence[Sample]) -> tuple[datetime, int] | None:
    for sample in samples:
        if sample.context == "Transaction.Begin":
            wh = register_wh(sample)
            if wh is not None:
                return sample.sampled_at, wh
    return None


def _padded_chunks(values: Sequence[Any], most: int = 256) -> list[Sequence[Any]]:
    """Chunks of at most ``most`` (a power of two or not) whose lengths are
    powers of two, the last padded with repeats of its last value: a few
    statement shapes instead of one per batch size (each shape is a prepared
    statement kept by the driver). For lookups and updates that a repeated
    value does not change. Powers of two, not four as for INSERTs
    (``power_of_four_at_most``): a repeat here is work, a join row probed
    or a session updated again, and padding to a power of four repeats up
    to three times what it looks up."""
    chunks: list[Sequence[Any]] = []
    top = 1 << (most.bit_length() - 1)
    for start in range(0, len(values), top):
        chunk = list(values[start : start + top])
        size = 1 << (len(chunk) - 1).bit_length()
        chunks.append(chunk + [chunk[-1]] * (size - len(chunk)))
    return chunks
