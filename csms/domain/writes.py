"""What the domain asks storage to record.

A charger's message becomes one :class:`WriteGroup`: everything in it commits
together, and the charger is answered only after it has. Many groups share
one database transaction (group commit), so the records are plain data that a
storage implementation can turn into a few multi-row statements.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import msgspec

from csms.domain.commands import DeviceVariable
from csms.domain.meter import utc_text
from csms.domain.model import MediumFacts, Sample


class StoreNewStation(msgspec.Struct, frozen=True):
    """A station connected that the system did not know (policy pending/accept)."""

    charge_point_id: str
    registration_status: str
    at: datetime


class StoreBoot(msgspec.Struct, frozen=True):
    station_pk: int
    at: datetime
    vendor: str
    model: str
    serial_number: str = ""
    charge_box_serial_number: str = ""
    firmware_version: str = ""
    iccid: str = ""
    imsi: str = ""
    meter_type: str = ""
    meter_serial_number: str = ""


class StorePresence(msgspec.Struct, frozen=True):
    """The station's socket opened (connected) or closed on this node."""

    station_pk: int
    connected: bool
    node: str
    protocol: str
    at: datetime


class StoreLastSeen(msgspec.Struct, frozen=True):
    """Merged last-seen times (heartbeats and every other message)."""

    last_seen: dict[int, datetime]


class StoreStatus(msgspec.Struct, frozen=True):
    station_pk: int
    connector_id: int
    status: str
    error_code: str
    reported_at: datetime
    received_at: datetime
    info: str = ""
    vendor_id: str = ""
    vendor_error_code: str = ""


class StoreSessionStart(msgspec.Struct, frozen=True):
    """Open a session; a start with the same ``start_key`` is the same session."""

    station_pk: int
    connector_id: int
    id_tag: str
    started_at: datetime
    meter_start_wh: int
    start_key: str
    auth_status: str
    parent_id_tag: str = ""
    reservation_id: int | None = None
    # The medium the id tag named, as it is now (None: unknown id tag).
    medium: MediumFacts | None = None


class StoreSessionStop(msgspec.Struct, frozen=True):
    """Close a session; an unknown ``transaction_id`` is recorded as a new
    session (once: a retransmission of that stop finds it). Either way the
    session is queued for rating in the same transaction."""

    station_pk: int
    transaction_id: int
    stopped_at: datetime
    meter_stop_wh: int
    reason: str
    id_tag: str = ""
    samples: tuple[Sample, ...] = ()
    # The medium the stop's id tag named, kept on a session this stop creates.
    medium: MediumFacts | None = None
    # When the system received the stop (None: stopped_at).
    received_at: datetime | None = None


class StoreTransactionEvent(msgspec.Struct, frozen=True):
    """One OCPP 2.0.1 TransactionEvent applied to the session of the charger's
    transaction id: created if unknown (a Started, or ``started_offline`` for
    an Updated/Ended seen first), updated otherwise. An event whose seq_no is
    not above the last one applied is a repeat and changes nothing."""

    station_pk: int
    charger_transaction_id: str
    event_type: str
    seq_no: int
    timestamp: datetime
    received_at: datetime
    connector_id: int = 0
    offline: bool = False
    # The identifier the event carries (the one that authorised the session,
    # or, on an Ended of a session that has one, the one that stopped it).
    id_tag: str = ""
    auth_status: str = ""
    parent_id_tag: str = ""
    reservation_id: int | None = None
    # Energy register at the start (Transaction.Begin) and at the end
    # (Transaction.End, Ended only), in Wh.
    begin: tuple[datetime, int] | None = None
    meter_stop_wh: int | None = None
    stop_reason: str = ""
    charging_state: str = ""
    samples: tuple[Sample, ...] = ()
    # The medium ``id_tag`` names (None: unknown, or no id tag).
    medium: MediumFacts | None = None


class StoreDeviceModel(msgspec.Struct, frozen=True):
    """Variables of a station's device model, upserted per key."""

    station_pk: int
    variables: tuple[DeviceVariable, ...]
    at: datetime


class StoreMeterValues(msgspec.Struct, frozen=True):
    station_pk: int
    connector_id: int
    transaction_id: int | None
    samples: tuple[Sample, ...]
    received_at: datetime


class StoreEvent(msgspec.Struct, frozen=True):
    """A notification worth keeping: firmware, diagnostics, data transfer, boot..."""

    station_pk: int
    kind: str
    occurred_at: datetime
    received_at: datetime
    data: dict[str, Any] = {}


class StoreMessage(msgspec.Struct, frozen=True):
    """One frame of the raw OCPP message log. Make it with
    :func:`log_message`, which makes every value storable."""

    station_pk: int
    direction: str
    message_type: int
    unique_id: str
    action: str
    payload: str
    logged_at: datetime


# The message log's columns: unique_id and action are VARCHAR(64).
MESSAGE_LOG_ID_LENGTH = 64
MESSAGE_LOG_ACTION_LENGTH = 64
# Characters of one frame's text kept in the message log by default
# (CSMS_MESSAGE_LOG_MAX_CHARS); the rest is cut and marked.
MESSAGE_LOG_MAX_CHARS = 64 * 1024
TRUNCATION_MARKER = "...[truncated: {kept} of {total} kept]"


def storable_text(text: str, limit: int | None = None) -> str:
    """Text every database can hold: NUL (which PostgreSQL refuses) written
    as the JSON escape ``\\u0000``, lone surrogates (which UTF-8 cannot
    encode) replaced, and at most ``limit`` characters (cut without a
    marker: for short columns)."""
    if "\x00" in text:
        text = text.replace("\x00", "\\u0000")
    if not text.isascii():
        try:
            text.encode()
        except UnicodeEncodeError:
            text = text.encode(errors="replace").decode()
    if limit is not None and len(text) > limit:
        text = text[:limit]
    return text


def capped_text(text: str, max_chars: int = MESSAGE_LOG_MAX_CHARS) -> str:
    """At most ``max_chars`` characters of ``text``, with the truncation
    marker when it was longer (free text a charger sends, kept in events)."""
    if len(text) <= max_chars:
        return text
    return text[:max_chars] + TRUNCATION_MARKER.format(kept=max_chars, total=len(text))


def log_message(
    station_pk: int,
    direction: str,
    message_type: int,
    unique_id: str,
    action: str,
    payload: str | bytes,
    logged_at: datetime,
    *,
    max_chars: int = MESSAGE_LOG_MAX_CHARS,
) -> StoreMessage:
    """A message-log row whose every value the database can hold, so one
    hostile frame never fails the group commit it shares with others: the
    id and action cut to their columns, NUL escaped, and a payload above
    ``max_chars`` characters (bytes, for a raw frame, which is then decoded
    only that far) cut to that many with a marker that says so."""
    total = len(payload)
    if isinstance(payload, bytes):
        payload = payload[:max_chars].decode(errors="replace")
    payload = storable_text(payload)
    if total > max_chars or len(payload) > max_chars:
        total = max(total, len(payload))
        payload = payload[:max_chars] + TRUNCATION_MARKER.format(kept=max_chars, total=total)
    return StoreMessage(
        station_pk,
        direction,
        message_type,
        storable_text(unique_id, MESSAGE_LOG_ID_LENGTH),
        storable_text(action, MESSAGE_LOG_ACTION_LENGTH),
        payload,
        logged_at,
    )


class StoreExchange(msgspec.Struct, frozen=True):
    """A charger's call and our answer for the message log, as they went over
    the wire. The sink makes its two rows (:meth:`messages`) where it builds
    the batch's other rows, in the writer, so the event loop keeps only the
    bytes: making them storable cost it about as much as the rest of a
    Heartbeat."""

    station_pk: int
    unique_id: str
    action: str
    request: bytes
    request_type: int
    answer: bytes
    answer_type: int
    logged_at: datetime
    max_chars: int = MESSAGE_LOG_MAX_CHARS

    def messages(self) -> tuple[StoreMessage, StoreMessage]:
        return (
            log_message(
                self.station_pk,
                "in",
                self.request_type,
                self.unique_id,
                self.action,
                self.request,
                self.logged_at,
                max_chars=self.max_chars,
            ),
            log_message(
                self.station_pk,
                "out",
                self.answer_type,
                self.unique_id,
                self.action,
                self.answer,
                self.logged_at,
                max_chars=self.max_chars,
            ),
        )


Write = (
    StoreNewStation
    | StoreBoot
    | StorePresence
    | StoreLastSeen
    | StoreStatus
    | StoreSessionStart
    | StoreSessionStop
    | StoreTransactionEvent
    | StoreDeviceModel
    | StoreMeterValues
    | StoreEvent
    | StoreMessage
    | StoreExchange
)


class SessionOutcome(msgspec.Struct, frozen=True):
    """What storage did with a StoreSessionStart or StoreSessionStop."""

    session_id: int
    # StoreSessionStart: False when it was a retransmission of a known start.
    # StoreSessionStop: False when the system had never seen the transaction.
    existed: bool


class TransactionOutcome(msgspec.Struct, frozen=True):
    """What storage did with a StoreTransactionEvent."""

    session_id: int
    # The session was created by this event.
    created: bool
    # The event's seq_no was not above the last applied: nothing changed.
    repeated: bool
    # The seq_no applied before this event (None for a new session).
    previous_seq_no: int | None


class WriteGroup(msgspec.Struct, frozen=True):
    """Records that commit together: one charger message, usually."""

    writes: tuple[Write, ...]


# One entry per write: a SessionOutcome for session writes, a
# TransactionOutcome for transaction events, the new station's primary key
# for StoreNewStation, None for everything else.
GroupResult = list[SessionOutcome | TransactionOutcome | int | None]


# Stands, among a group's conflict keys, for rows of the station table that
# many groups update (boots, presence, last seen): two transactions updating
# several of them in different orders would deadlock.
STATION_ROWS = "station rows"


def conflict_keys(group: WriteGroup) -> frozenset[int | str]:
    """What a group's writes touch that another transaction's may too: the
    stations whose sessions, connectors, samples and settings they write
    (their order matters: a stop after its start, a disconnect after its
    connect) and STATION_ROWS. Groups sharing a key are never committed at
    the same time (group_commit); the message log and station events are
    inserts alone and touch nothing another group reads."""
    keys: set[int | str] = set()
    for write in group.writes:
        if isinstance(write, StoreBoot | StorePresence):
            keys.add(write.station_pk)
            keys.add(STATION_ROWS)
        elif isinstance(write, StoreLastSeen | StoreNewStation):
            # Last seen only moves forward ("< ?" in its UPDATE): its order
            # with a station's other writes does not matter, its locks do.
            keys.add(STATION_ROWS)
        elif isinstance(write, StoreEvent | StoreMessage | StoreExchange):
            continue
        else:
            keys.add(write.station_pk)
    return frozenset(keys)


def stop_start_key(write: StoreSessionStop) -> str:
    """The start key of a session a stop created (its start never seen):
    station, the charger's transaction id, stop time and reading, so a
    retransmitted stop finds it, and a charger that gives every offline
    transaction the same id still gets one session per transaction."""
    text = "|".join(
        (
            str(write.station_pk),
            str(write.transaction_id),
            utc_text(write.stopped_at),
            str(write.meter_stop_wh),
        )
    )
    return "stop:" + hashlib.sha256(text.encode()).hexdigest()[:40]
