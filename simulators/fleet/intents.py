"""What a station says and hears, independent of the OCPP version.

The station's behaviour (``station.py``) speaks in these terms; a protocol
encoding (``v16.py`` now, a 2.0.1 one later) turns them into message shapes
and back. Nothing here knows an action name or a JSON field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from simulators.meter import MeterSample

# -- a transaction as the station knows it --------------------------------------------------


@dataclass(eq=False, slots=True)
class LocalTransaction:
    """A transaction from the station's side: it exists before the server numbers it.

    ``server_id`` stays None until the server answers the start; messages queued
    for the transaction meanwhile are encoded only when they are sent, so they
    carry the id the server gave.
    """

    local_id: int
    connector_id: int
    id_tag: str
    meter_start_wh: int
    started_at: datetime
    server_id: int | None = None
    start_dropped: bool = False
    """The start could not be delivered at all; its later messages have no id to carry."""


# -- charger-initiated messages ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BootRequest:
    vendor: str
    model: str
    serial_number: str
    firmware_version: str


@dataclass(frozen=True, slots=True)
class HeartbeatRequest:
    pass


@dataclass(frozen=True, slots=True)
class StatusReport:
    connector_id: int
    status: str
    """Available, Preparing, Charging, SuspendedEV, Finishing, Unavailable, Faulted."""
    error_code: str
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class AuthorizeRequest:
    id_tag: str


@dataclass(frozen=True, slots=True)
class TransactionStart:
    transaction: LocalTransaction


@dataclass(frozen=True, slots=True)
class MeterReport:
    """Periodic samples of a connector, inside a transaction or not."""

    connector_id: int
    transaction: LocalTransaction | None
    samples: tuple[MeterSample, ...]
    measurands: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TransactionStop:
    transaction: LocalTransaction
    meter_stop_wh: int
    stopped_at: datetime
    reason: str
    """Local, EVDisconnected, Remote, DeAuthorized, Other, HardReset, SoftReset, UnlockCommand."""
    begin: MeterSample
    end: MeterSample
    measurands: tuple[str, ...]


Request = (
    BootRequest
    | HeartbeatRequest
    | StatusReport
    | AuthorizeRequest
    | TransactionStart
    | MeterReport
    | TransactionStop
)
TransactionMessage = TransactionStart | MeterReport | TransactionStop


# -- the server's answers ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BootAnswer:
    status: str
    """Accepted, Pending or Rejected."""
    interval_seconds: float


@dataclass(frozen=True, slots=True)
class AuthorizationAnswer:
    status: str
    """Accepted, Blocked, Expired, Invalid, ConcurrentTx."""


@dataclass(frozen=True, slots=True)
class StartAnswer:
    transaction_id: int
    status: str


@dataclass(frozen=True, slots=True)
class Acknowledged:
    """An answer that carries nothing the station acts on."""


Answer = BootAnswer | AuthorizationAnswer | StartAnswer | Acknowledged


# -- the server's calls -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RemoteStart:
    id_tag: str
    connector_id: int | None


@dataclass(frozen=True, slots=True)
class RemoteStop:
    transaction_id: int


@dataclass(frozen=True, slots=True)
class ResetStation:
    hard: bool


@dataclass(frozen=True, slots=True)
class ChangeAvailability:
    connector_id: int
    """0: the whole station."""
    operative: bool


@dataclass(frozen=True, slots=True)
class GetConfiguration:
    keys: tuple[str, ...]
    """Empty: every key."""


@dataclass(frozen=True, slots=True)
class ChangeConfiguration:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class TriggerMessage:
    message: str
    """BootNotification, Heartbeat, StatusNotification, MeterValues, or another name."""
    connector_id: int | None


@dataclass(frozen=True, slots=True)
class UnlockConnector:
    connector_id: int


@dataclass(frozen=True, slots=True)
class ClearCache:
    pass


ServerCommand = (
    RemoteStart
    | RemoteStop
    | ResetStation
    | ChangeAvailability
    | GetConfiguration
    | ChangeConfiguration
    | TriggerMessage
    | UnlockConnector
    | ClearCache
)


@dataclass(frozen=True, slots=True)
class CommandOutcome:
    """The station's answer to a server command, in neutral words.

    ``status`` is Accepted, Rejected, Scheduled, NotSupported, NotImplemented,
    Unlocked or UnlockFailed; GetConfiguration fills ``configuration`` and ``unknown_keys``.
    """

    status: str
    configuration: tuple[tuple[str, str, bool], ...] = ()
    """(key, value, readonly) for GetConfiguration."""
    unknown_keys: tuple[str, ...] = field(default=())
