"""Version-neutral commands a charger's messages become, and their answers.

The OCPP 1.6 and 2.0.1 adapters translate calls into these and the answers
back into their version's results; a session looks the same to CRM and
billing whichever version the charger speaks.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from csms.domain.model import RegistrationStatus, Sample, TokenInfo


class BootStation(msgspec.Struct, frozen=True):
    vendor: str
    model: str
    serial_number: str = ""
    charge_box_serial_number: str = ""
    firmware_version: str = ""
    iccid: str = ""
    imsi: str = ""
    meter_type: str = ""
    meter_serial_number: str = ""
    reason: str = ""


class BootDecision(msgspec.Struct, frozen=True):
    status: RegistrationStatus
    interval: int
    current_time: datetime


class ReportStatus(msgspec.Struct, frozen=True):
    connector_id: int
    status: str
    error_code: str = "NoError"
    timestamp: datetime | None = None
    info: str = ""
    vendor_id: str = ""
    vendor_error_code: str = ""


class AuthorizeToken(msgspec.Struct, frozen=True):
    id_tag: str
    connector_id: int | None = None


class StartSession(msgspec.Struct, frozen=True):
    connector_id: int
    id_tag: str
    meter_start_wh: int
    timestamp: datetime
    reservation_id: int | None = None


class SessionStarted(msgspec.Struct, frozen=True):
    transaction_id: int
    token: TokenInfo


class RecordMeterValues(msgspec.Struct, frozen=True):
    connector_id: int
    transaction_id: int | None
    samples: tuple[Sample, ...]


class EndSession(msgspec.Struct, frozen=True):
    transaction_id: int
    meter_stop_wh: int
    timestamp: datetime
    reason: str = ""
    id_tag: str | None = None
    samples: tuple[Sample, ...] = ()


class SessionEnded(msgspec.Struct, frozen=True):
    # The verdict on the identifier that stopped the session, if one was given.
    token: TokenInfo | None


class RecordNotification(msgspec.Struct, frozen=True):
    """A notification kept in the station's event log (firmware, diagnostics,
    data transfer, security events...)."""

    kind: str
    data: dict[str, Any]
    timestamp: datetime | None = None


class RecordTransactionEvent(msgspec.Struct, frozen=True):
    """OCPP 2.0.1 TransactionEvent: one step of a transaction the charger
    names with its own string id. Started / Updated / Ended all land in the
    same charging session; ``seq_no`` orders them and makes a repeat harmless."""

    event_type: str  # Started, Updated or Ended
    charger_transaction_id: str
    seq_no: int
    timestamp: datetime
    trigger_reason: str
    # The EVSE (the domain's connector); None when the event names none.
    connector_id: int | None = None
    # The 2.0.1 connector within the EVSE, kept with the event only.
    evse_connector_id: int | None = None
    id_tag: str | None = None
    id_token_type: str = ""
    offline: bool = False
    charging_state: str = ""
    stopped_reason: str = ""
    reservation_id: int | None = None
    remote_start_id: int | None = None
    samples: tuple[Sample, ...] = ()


class TransactionEventRecorded(msgspec.Struct, frozen=True):
    session_id: int
    # The verdict on the identifier the event carried, if it carried one.
    token: TokenInfo | None


class DeviceVariable(msgspec.Struct, frozen=True):
    """One attribute of one variable of a station's device model (2.0.1)."""

    component: str
    variable: str
    component_instance: str = ""
    evse_id: int = 0  # 0: not on an EVSE
    connector_id: int = 0  # 0: not on a connector
    variable_instance: str = ""
    attribute_type: str = "Actual"
    value: str | None = None
    mutability: str = ""
    data_type: str = ""
    unit: str = ""


class ReportDeviceModel(msgspec.Struct, frozen=True):
    """One part of a NotifyReport (a report comes in parts: seq_no, tbc)."""

    request_id: int
    seq_no: int
    tbc: bool
    generated_at: datetime
    variables: tuple[DeviceVariable, ...]
