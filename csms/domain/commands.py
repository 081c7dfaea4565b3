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
