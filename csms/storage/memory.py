"""In-memory twins of the storage interfaces, for fast tests of domain logic.

They follow the database implementations' semantics (a contract test runs
the same writes through both), without any I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from csms.domain.meter import register_wh, sample_key
from csms.domain.model import MediumFacts, Sample, StationProfile
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
    WriteGroup,
    stop_start_key,
)


@dataclass
class MemorySession:
    id: int
    station_pk: int
    connector_id: int
    id_tag: str
    started_at: datetime | None
    meter_start_wh: int | None
    start_key: str | None = None
    auth_status: str = ""
    stopped_at: datetime | None = None
    meter_stop_wh: int | None = None
    stop_reason: str = ""
    status: str = "active"
    closed_by: str = ""
    started_offline: bool = False
    charger_transaction_id: str = ""
    last_seq_no: int | None = None
    charging_state: str = ""
    stop_id_tag: str = ""
    medium: MediumFacts | None = None


@dataclass
class MemoryStation:
    pk: int
    charge_point_id: str
    registration_status: str
    connected: bool = False
    node: str = ""
    last_seen_at: datetime | None = None
    boot: StoreBoot | None = None


@dataclass
class MemoryStore:
    """All rows, kept as plain Python objects."""

    stations: dict[int, MemoryStation] = field(default_factory=dict)
    sessions: dict[int, MemorySession] = field(default_factory=dict)
    meter_values: list[tuple[int, int, int | None, int | None, Sample]] = field(
        default_factory=list
    )
    connectors: dict[tuple[int, int], StoreStatus] = field(default_factory=dict)
    status_history: list[StoreStatus] = field(default_factory=list)
    events: list[StoreEvent] = field(default_factory=list)
    variables: dict[tuple[Any, ...], Any] = field(default_factory=dict)
    messages: list[StoreMessage] = field(default_factory=list)
    # Sample keys stored per station (a retransmitted sample is skipped).
    sample_keys: set[tuple[int, str]] = field(default_factory=set)
    # session id -> completed_at: the rating queue.
    rating_queue: dict[int, datetime] = field(default_factory=dict)
    # (session, seq_no) -> (charging_state, changed_at)
    state_changes: dict[tuple[int, int], tuple[str, datetime]] = field(default_factory=dict)
    fail_next: Exception | None = None

    def add_samples(
        self,
        station_pk: int,
        connector_id: int,
        session_id: int | None,
        reported: int | None,
        samples: Sequence[Sample],
    ) -> None:
        for sample in samples:
            key = (station_pk, sample_key(connector_id, sample))
            if key not in self.sample_keys:
                self.sample_keys.add(key)
                self.meter_values.append((station_pk, connector_id, session_id, reported, sample))

    def add_station(self, charge_point_id: str, registration_status: str = "Accepted") -> int:
        pk = len(self.stations) + 1
        self.stations[pk] = MemoryStation(pk, charge_point_id, registration_status)
        return pk


class MemoryWriteSink:
    def __init__(self, store: MemoryStore) -> None:
        self.store = store
        self.batches: list[int] = []

    async def apply(self, groups: Sequence[WriteGroup]) -> list[GroupResult]:
        if self.store.fail_next is not None:
            error, self.store.fail_next = self.store.fail_next, None
            raise error
        self.batches.append(len(groups))
        return [[self._apply(write) for write in group.writes] for group in groups]

    def _apply(self, write: Any) -> SessionOutcome | TransactionOutcome | int | None:
        store = self.store
        if isinstance(write, StoreNewStation):
            for station in store.stations.values():
                if station.charge_point_id == write.charge_point_id:
                    return station.pk
            return store.add_station(write.charge_point_id, write.registration_status)
        if isinstance(write, StoreBoot):
            store.stations[write.station_pk].boot = write
        elif isinstance(write, StorePresence):
            station = store.stations[write.station_pk]
            if write.connected:
                station.connected, station.node = True, write.node
            elif station.node == write.node:
                station.connected, station.node = False, ""
        elif isinstance(write, StoreLastSeen):
            for pk, seen in write.last_seen.items():
                station = store.stations[pk]
                if station.last_seen_at is None or station.last_seen_at < seen:
                    station.last_seen_at = seen
        elif isinstance(write, StoreStatus):
            store.status_history.append(write)
            key = (write.station_pk, write.connector_id)
            known = store.connectors.get(key)
            if known is None or known.reported_at <= write.reported_at:
                store.connectors[key] = write
        elif isinstance(write, StoreSessionStart):
            return self._start(write)
        elif isinstance(write, StoreSessionStop):
            return self._stop(write)
        elif isinstance(write, StoreMeterValues):
            session = store.sessions.get(write.transaction_id or -1)
            session_id = session.id if session and session.station_pk == write.station_pk else None
            store.add_samples(
                write.station_pk,
                write.connector_id,
                session_id,
                write.transaction_id,
                write.samples,
            )
        elif isinstance(write, StoreTransactionEvent):
            return self._transaction_event(write)
        elif isinstance(write, StoreDeviceModel):
            for v in write.variables:
                variable_key = (
                    write.station_pk,
                    v.component,
                    v.component_instance,
                    v.evse_id,
                    v.connector_id,
                    v.variable,
                    v.variable_instance,
                    v.attribute_type,
                )
                store.variables[variable_key] = v
        elif isinstance(write, StoreEvent):
            store.events.append(write)
        elif isinstance(write, StoreMessage):
            store.messages.append(write)
        elif isinstance(write, StoreExchange):
            store.messages.extend(write.messages())
        else:
            raise TypeError(f"unknown write {write!r}")
        return None

    def _start(self, write: StoreSessionStart) -> SessionOutcome:
        for session in self.store.sessions.values():
            if session.start_key == write.start_key:
                return SessionOutcome(session.id, existed=True)
        session = MemorySession(
            id=len(self.store.sessions) + 1,
            station_pk=write.station_pk,
            connector_id=write.connector_id,
            id_tag=write.id_tag,
            started_at=write.started_at,
            meter_start_wh=write.meter_start_wh,
            start_key=write.start_key,
            auth_status=write.auth_status,
            medium=write.medium,
        )
        self.store.sessions[session.id] = session
        return SessionOutcome(session.id, existed=False)

    def _stop(self, write: StoreSessionStop) -> SessionOutcome:
        session = self.store.sessions.get(write.transaction_id)
        if session is not None and session.station_pk == write.station_pk:
            if session.closed_by != "charger":
                session.stopped_at = write.stopped_at
                session.meter_stop_wh = write.meter_stop_wh
                session.stop_reason = write.reason
                session.status, session.closed_by = "completed", "charger"
                self.store.rating_queue[session.id] = write.stopped_at
                self._samples(write, session)
            return SessionOutcome(session.id, existed=True)
        key = stop_start_key(write)
        for known in self.store.sessions.values():
            if known.start_key == key:
                return SessionOutcome(known.id, existed=False)
        begin = next(
            (
                (s.sampled_at, register_wh(s))
                for s in write.samples
                if s.context == "Transaction.Begin" and register_wh(s) is not None
            ),
            (None, None),
        )
        session = MemorySession(
            id=len(self.store.sessions) + 1,
            station_pk=write.station_pk,
            connector_id=0,
            id_tag=write.id_tag,
            started_at=begin[0],
            meter_start_wh=begin[1],
            stopped_at=write.stopped_at,
            meter_stop_wh=write.meter_stop_wh,
            stop_reason=write.reason,
            status="completed",
            closed_by="charger",
            started_offline=True,
            charger_transaction_id=str(write.transaction_id),
            start_key=key,
            medium=write.medium,
        )
        self.store.sessions[session.id] = session
        self.store.rating_queue[session.id] = write.stopped_at
        self._samples(write, session)
        return SessionOutcome(session.id, existed=False)

    def _transaction_event(self, write: StoreTransactionEvent) -> TransactionOutcome:
        ended = write.event_type == "Ended"
        found = next(
            (
                x
                for x in self.store.sessions.values()
                if x.station_pk == write.station_pk
                and x.charger_transaction_id == write.charger_transaction_id
            ),
            None,
        )
        state_changed = bool(write.charging_state)
        if found is None:
            session = MemorySession(
                id=len(self.store.sessions) + 1,
                station_pk=write.station_pk,
                connector_id=write.connector_id,
                id_tag=write.id_tag,
                started_at=write.begin[0] if write.begin else (None if ended else write.timestamp),
                meter_start_wh=write.begin[1] if write.begin else None,
                auth_status=write.auth_status,
                stopped_at=write.timestamp if ended else None,
                meter_stop_wh=write.meter_stop_wh if ended else None,
                stop_reason=write.stop_reason,
                status="completed" if ended else "active",
                closed_by="charger" if ended else "",
                started_offline=write.offline or write.event_type != "Started",
                charger_transaction_id=write.charger_transaction_id,
                last_seq_no=write.seq_no,
                charging_state=write.charging_state,
                medium=write.medium,
            )
            self.store.sessions[session.id] = session
            if ended:
                self.store.rating_queue[session.id] = write.timestamp
            outcome = TransactionOutcome(session.id, True, False, None)
        else:
            session, previous = found, found.last_seq_no
            # As the SQL sink: a late event is a repeat (its samples still
            # kept, keyed) unless it is an Ended the charger has not sent yet.
            late = previous is not None and write.seq_no <= previous
            if late and not (ended and session.closed_by != "charger"):
                self.store.add_samples(
                    write.station_pk, write.connector_id, session.id, None, write.samples
                )
                return TransactionOutcome(session.id, False, True, previous)
            if not late:
                session.last_seq_no = write.seq_no
            # As the SQL sink: a state the session is in already is no change.
            state_changed = state_changed and write.charging_state != session.charging_state
            session.charging_state = write.charging_state or session.charging_state
            if session.connector_id == 0:
                session.connector_id = write.connector_id
            if write.id_tag and not session.id_tag:
                session.id_tag, session.auth_status = write.id_tag, write.auth_status
                session.medium = write.medium
            elif write.id_tag and ended and write.id_tag != session.id_tag:
                session.stop_id_tag = write.id_tag
            if write.begin is not None and session.meter_start_wh is None:
                session.meter_start_wh = write.begin[1]
                session.started_at = session.started_at or write.begin[0]
            if ended and session.closed_by != "charger":
                session.stopped_at = write.timestamp
                session.meter_stop_wh = write.meter_stop_wh
                session.stop_reason = write.stop_reason
                session.status, session.closed_by = "completed", "charger"
                self.store.rating_queue[session.id] = write.timestamp
            outcome = TransactionOutcome(session.id, False, False, previous)
        if state_changed:
            self.store.state_changes.setdefault(
                (session.id, write.seq_no), (write.charging_state, write.timestamp)
            )
        self.store.add_samples(
            write.station_pk, write.connector_id, session.id, None, write.samples
        )
        return outcome

    def _samples(self, write: StoreSessionStop, session: MemorySession) -> None:
        self.store.add_samples(
            write.station_pk, session.connector_id, session.id, write.transaction_id, write.samples
        )


class MemoryStationDirectory:
    def __init__(self, store: MemoryStore, profiles: dict[str, StationProfile] | None = None):
        self.store = store
        self.profiles = profiles if profiles is not None else {}

    async def find(self, charge_point_id: str) -> StationProfile | None:
        return self.profiles.get(charge_point_id)

    async def all_profiles(self) -> list[StationProfile]:
        return list(self.profiles.values())


class MemoryActiveSessions:
    def __init__(self, store: MemoryStore) -> None:
        self.store = store

    async def active_elsewhere(
        self, id_tag: str, *, station_pk: int, connector_id: int | None
    ) -> bool:
        for session in self.store.sessions.values():
            if session.id_tag != id_tag or session.status != "active":
                continue
            station = self.store.stations.get(session.station_pk)
            if station is None or not station.connected:
                continue
            if session.station_pk != station_pk:
                return True
            if connector_id is not None and session.connector_id != connector_id:
                return True
        return False
