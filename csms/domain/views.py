"""Read models: what operators see of stations, connectors and sessions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec


class ConnectorView(msgspec.Struct, frozen=True):
    connector_id: int
    status: str
    error_code: str
    info: str
    status_at: datetime | None


class StationView(msgspec.Struct, frozen=True):
    charge_point_id: str
    registration_status: str
    connected: bool
    protocol: str
    vendor: str
    model: str
    serial_number: str
    firmware_version: str
    has_secret: bool
    assume_ocpp16: bool
    leniency: list[str]
    last_boot_at: datetime | None
    last_seen_at: datetime | None
    created_at: datetime
    owner_entity_id: int | None = None
    description: str = ""
    connectors: list[ConnectorView] = []
    # The public key of the station's meter (hex), for signed meter values.
    meter_public_key: str = ""


class SessionView(msgspec.Struct, frozen=True):
    transaction_id: int
    charge_point_id: str
    connector_id: int
    id_tag: str
    status: str
    started_at: datetime | None
    stopped_at: datetime | None
    meter_start_wh: int | None
    meter_stop_wh: int | None
    stop_reason: str
    closed_by: str
    started_offline: bool
    start_auth_status: str
    # The charger's own transaction id (OCPP 2.0.1 transactionId; 1.6 only
    # for a stop the system never saw the start of).
    charger_transaction_id: str = ""
    # The medium that authorised it, as it was at the start (None: unknown).
    medium_id: int | None = None
    issuing_entity_id: int | None = None
    bill_to_contact_id: int | None = None
    owner_contact_id: int | None = None

    @property
    def energy_wh(self) -> int | None:
        if self.meter_start_wh is None or self.meter_stop_wh is None:
            return None
        return self.meter_stop_wh - self.meter_start_wh


class MeterValueView(msgspec.Struct, frozen=True):
    sampled_at: datetime
    measurand: str
    value: str
    unit: str
    phase: str
    context: str
    location: str
    format: str
    # OCPP 2.0.1 unitOfMeasure.multiplier (value x 10^multiplier unit).
    multiplier: int = 0


class EventView(msgspec.Struct, frozen=True):
    kind: str
    occurred_at: datetime
    data: dict[str, Any]
