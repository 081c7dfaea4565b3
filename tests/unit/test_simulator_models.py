"""The simulator's models without a network: meter, configuration keys, profiles, helpers."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from simulators.common import (
    BackgroundTasks,
    TracingConnection,
    format_frame,
    format_timestamp,
    parse_timestamp,
    station_url,
    wait_event,
)
from simulators.meter import MeterModel
from simulators.ocpp16 import sampled_values
from simulators.ocpp16_config import ConfigurationStore16
from simulators.ocpp16_profiles import ChargingProfiles16

pytestmark = pytest.mark.backend_independent

# --- meter ---------------------------------------------------------------------------------


def test_meter_integrates_power_into_the_register() -> None:
    """11 kW for one hour adds 11 000 Wh to the register."""
    meter = MeterModel(energy_wh=500)
    meter.plug_in(soc_percent=10, battery_wh=100_000)
    meter.set_power(11_000)
    added = meter.advance(3600)
    assert added == pytest.approx(11_000)
    assert meter.register_wh == 11_500


def test_meter_register_is_whole_watt_hours_rounded_down() -> None:
    """The reported register drops fractions of a Wh."""
    meter = MeterModel(energy_wh=10.99)
    assert meter.register_wh == 10


def test_meter_stops_drawing_when_the_battery_is_full() -> None:
    """The EV draws only what fits in the battery, then the power drops to zero."""
    meter = MeterModel()
    meter.plug_in(soc_percent=99, battery_wh=10_000)  # room for 100 Wh
    meter.set_power(36_000)
    assert meter.advance(60) == pytest.approx(100)
    assert meter.soc_percent == 100
    assert meter.power_w == 0
    assert meter.set_power(36_000) == 0


def test_meter_power_is_capped_at_the_offered_power() -> None:
    """set_power never exceeds the offered power."""
    meter = MeterModel()
    meter.plug_in()
    assert meter.set_power(11_000, offered_w=4_140) == 4_140
    assert meter.sample().current_a == (6.0, 6.0, 6.0)


def test_single_phase_meter_samples_one_phase() -> None:
    """A single-phase meter reports current and voltage on L1 only."""
    meter = MeterModel(phases=1)
    meter.plug_in()
    meter.set_power(2_300)
    values = sampled_values(meter.sample(), ["Current.Import", "Voltage"], "Sample.Periodic")
    assert [(v["measurand"], v["phase"], v["value"]) for v in values] == [
        ("Current.Import", "L1", "10.00"),
        ("Voltage", "L1-N", "230.0"),
    ]


def test_soc_is_not_sampled_without_an_ev() -> None:
    """No SoC sampled value while no EV is plugged in."""
    values = sampled_values(
        MeterModel().sample(), ["SoC", "Energy.Active.Import.Register"], "Trigger"
    )
    assert [v["measurand"] for v in values] == ["Energy.Active.Import.Register"]


# --- configuration keys --------------------------------------------------------------------


def test_configuration_reports_number_of_connectors_read_only() -> None:
    """NumberOfConnectors reflects the connectors and cannot be changed."""
    store = ConfigurationStore16(connectors=3)
    known, unknown = store.report(["NumberOfConnectors", "Missing"])
    assert known == [{"key": "NumberOfConnectors", "readonly": True, "value": "3"}]
    assert unknown == ["Missing"]
    assert store.change("NumberOfConnectors", "4") == "Rejected"


def test_configuration_overrides_set_initial_values() -> None:
    """Overrides set initial values, including of read-only and unknown keys."""
    store = ConfigurationStore16(overrides={"ChargeProfileMaxStackLevel": "3", "Custom": "x"})
    assert store.get_int("ChargeProfileMaxStackLevel") == 3
    assert store.get("Custom") == "x"


def test_configuration_normalises_accepted_values() -> None:
    """Accepted values are stored normalised (integers, lower-case booleans, trimmed lists)."""
    store = ConfigurationStore16()
    assert store.change("MeterValueSampleInterval", " 030 ") == "Accepted"
    assert store.change("LocalPreAuthorize", "TRUE") == "Accepted"
    assert store.change("MeterValuesSampledData", "SoC , Voltage") == "Accepted"
    assert store.get("MeterValueSampleInterval") == "30"
    assert store.get_bool("LocalPreAuthorize") is True
    assert store.get_list("MeterValuesSampledData") == ["SoC", "Voltage"]


def test_configuration_rejects_lists_longer_than_their_max_length() -> None:
    """A measurand list longer than its ...MaxLength key is Rejected."""
    store = ConfigurationStore16(overrides={"MeterValuesSampledDataMaxLength": "2"})
    assert store.change("MeterValuesSampledData", "SoC,Voltage,Frequency") == "Rejected"


# --- charging profiles ---------------------------------------------------------------------

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


def _profile(
    profile_id: int,
    purpose: str,
    periods: list[tuple[int, float]],
    *,
    stack: int = 0,
    unit: str = "W",
    kind: str = "Absolute",
    start: datetime = T0,
    duration: int | None = None,
) -> dict:
    schedule: dict = {
        "charging_rate_unit": unit,
        "start_schedule": format_timestamp(start),
        "charging_schedule_period": [
            {"start_period": s, "limit": Decimal(str(limit))} for s, limit in periods
        ],
    }
    if duration is not None:
        schedule["duration"] = duration
    return {
        "charging_profile_id": profile_id,
        "stack_level": stack,
        "charging_profile_purpose": purpose,
        "charging_profile_kind": kind,
        "charging_schedule": schedule,
    }


def test_higher_stack_level_prevails_and_station_max_caps() -> None:
    """The highest stack level of TxDefault applies, and ChargePointMaxProfile caps it."""
    profiles = ChargingProfiles16()
    assert (
        profiles.install(
            1, _profile(1, "TxDefaultProfile", [(0, 11000)]), connectors=2, transaction_id=None
        )
        == "Accepted"
    )
    assert (
        profiles.install(
            1,
            _profile(2, "TxDefaultProfile", [(0, 7000)], stack=1),
            connectors=2,
            transaction_id=None,
        )
        == "Accepted"
    )
    assert profiles.limit_w(1, T0) == 7000
    profiles.install(
        0, _profile(3, "ChargePointMaxProfile", [(0, 5000)]), connectors=2, transaction_id=None
    )
    assert profiles.limit_w(1, T0) == 5000


def test_profile_in_amperes_is_converted_to_watts() -> None:
    """A 16 A three-phase limit is 16 * 230 * 3 W."""
    profiles = ChargingProfiles16()
    profiles.install(
        1, _profile(1, "TxDefaultProfile", [(0, 16)], unit="A"), connectors=1, transaction_id=None
    )
    assert profiles.limit_w(1, T0) == pytest.approx(16 * 230 * 3)


def test_profile_validation_rules() -> None:
    """TxProfile needs a transaction; ChargePointMaxProfile only on connector 0; stack capped."""
    profiles = ChargingProfiles16(max_stack_level=2)
    tx = _profile(1, "TxProfile", [(0, 3000)])
    assert profiles.install(1, tx, connectors=1, transaction_id=None) == "Rejected"
    assert profiles.install(1, tx, connectors=1, transaction_id=5) == "Accepted"
    assert (
        profiles.install(
            1, _profile(2, "ChargePointMaxProfile", [(0, 1)]), connectors=1, transaction_id=None
        )
        == "Rejected"
    )
    assert (
        profiles.install(
            1, _profile(3, "TxDefaultProfile", [(0, 1)], stack=3), connectors=1, transaction_id=None
        )
        == "Rejected"
    )
    profiles.end_transaction(1)
    assert profiles.installed == []


def test_composite_schedule_merges_periods() -> None:
    """The composite schedule has one period per change of the effective limit."""
    profiles = ChargingProfiles16()
    profiles.install(
        1,
        _profile(1, "TxDefaultProfile", [(0, 11000), (600, 4000)], duration=1200),
        connectors=1,
        transaction_id=None,
    )
    composite = profiles.composite(1, T0, 1800, unit="W", hardware_limit_w=22000)
    assert [(p["start_period"], p["limit"]) for p in composite["charging_schedule_period"]] == [
        (0, 11000.0),
        (600, 4000.0),
        (1200, 22000.0),
    ]
    assert composite["start_schedule"] == "2025-01-01T12:00:00.000Z"


def test_clear_charging_profile_by_purpose() -> None:
    """ClearChargingProfile by purpose removes matching profiles; nothing matching is Unknown."""
    profiles = ChargingProfiles16()
    profiles.install(
        1, _profile(1, "TxDefaultProfile", [(0, 1000)]), connectors=1, transaction_id=None
    )
    assert profiles.clear(purpose="TxDefaultProfile") == "Accepted"
    assert profiles.clear(profile_id=1) == "Unknown"


def test_recurring_daily_profile_repeats() -> None:
    """A daily recurring profile applies at the same time on the next day."""
    profiles = ChargingProfiles16()
    profile = _profile(1, "TxDefaultProfile", [(0, 2000)], kind="Recurring", duration=3600)
    profile["recurrency_kind"] = "Daily"
    profiles.install(1, profile, connectors=1, transaction_id=None)
    assert profiles.limit_w(1, T0 + timedelta(days=1, minutes=30)) == 2000
    assert profiles.limit_w(1, T0 + timedelta(days=1, hours=2)) is None


# --- helpers -------------------------------------------------------------------------------


def test_station_url_appends_the_encoded_id_and_keeps_the_query() -> None:
    """The station id becomes the last path segment; a query string on the base is kept."""
    assert station_url("ws://h:1/ocpp?x=1", "A/B") == "ws://h:1/ocpp/A%2FB?x=1"
    with pytest.raises(ValueError):
        station_url("http://h/ocpp", "CP-1")


def test_timestamps_round_trip() -> None:
    """format_timestamp writes UTC with milliseconds and Z; parse_timestamp reads it back."""
    moment = datetime(2025, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    text = format_timestamp(moment)
    assert text == "2025-05-06T07:08:09.123Z"
    assert parse_timestamp(text) == moment.replace(microsecond=123000)


async def test_wait_event_times_out_or_returns_when_set() -> None:
    """wait_event is False after the timeout and True once the event is set."""
    event = asyncio.Event()
    assert await wait_event(event, 0.01) is False
    asyncio.get_running_loop().call_later(0.01, event.set)
    assert await wait_event(event, 5) is True


async def test_background_tasks_log_failures(caplog: pytest.LogCaptureFixture) -> None:
    """A failing background task is logged; cancel_all cancels the rest."""

    async def fail() -> None:
        raise RuntimeError("boom")

    tasks = BackgroundTasks(logging.getLogger("test.sim"), "CP-1")
    failing = tasks.spawn(fail(), name="fail")
    sleeper = tasks.spawn(asyncio.sleep(30), name="sleep")
    await asyncio.wait((failing,))
    await tasks.cancel_all()
    assert sleeper.cancelled()
    assert len(tasks) == 0
    assert "boom" in caplog.text


async def test_tracing_connection_names_answers_after_their_call() -> None:
    """The tracer reports a CALLRESULT with the action of the CALL it answers."""

    class Loopback:
        def __init__(self) -> None:
            self.inbox = ['[3,"u1",{"status":"Accepted"}]', '[2,"s1","Reset",{"type":"Soft"}]']

        async def send(self, message: str) -> None:
            pass

        async def recv(self) -> str:
            return self.inbox.pop(0)

    events = []
    connection = TracingConnection(Loopback(), "CP-1", events.append)
    await connection.send('[2,"u1","BootNotification",{}]')
    await connection.recv()
    await connection.recv()
    await connection.send('[3,"s1",{"status":"Accepted"}]')
    assert [(e.kind, e.action, e.initiator) for e in events] == [
        ("call", "BootNotification", "cp"),
        ("result", "BootNotification", "cp"),
        ("call", "Reset", "csms"),
        ("result", "Reset", "csms"),
    ]
    assert "BootNotification.conf" in format_frame(events[1])
