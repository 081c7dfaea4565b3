"""The OCPP 2.0.1 charging-station simulator against a small real CSMS.

The CSMS (``tests/fake_csms201.py``) is the ``ocpp`` library's v201 server-side
ChargePoint on a real websockets server on port 0; it records what the station
sends, and tests make CSMS calls through it. Firmware and logs travel over a
real local HTTP server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from ocpp.v201 import call

from simulators.certificates import make_csr
from simulators.ocpp201 import ChargingStation201, IdTokenRefusedError, connect201
from tests.fake_csms201 import (
    CertificateAuthority,
    FakeCsms201,
    running_csms201,
    running_file_server,
)

FAST = {"reboot_delay": 0.01, "reconnect_delay": 0.05, "step_delay": 0.0}


@pytest.fixture
async def csms() -> AsyncIterator[FakeCsms201]:
    async with running_csms201() as server:
        yield server


def _in(seconds: float) -> str:
    moment = datetime.now(UTC) + timedelta(seconds=seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _energy(event: dict[str, Any]) -> list[float]:
    return [
        sv["value"]
        for mv in event.get("meter_value", [])
        for sv in mv["sampled_value"]
        if sv.get("measurand") == "Energy.Active.Import.Register"
    ]


async def test_boot_uses_the_201_subprotocol_and_basic_auth(csms: FakeCsms201) -> None:
    """The station connects with ocpp2.0.1 and Basic auth, boots and reports its connectors."""
    async with connect201(csms.url, "CS-1", password="0123456789abcdef", boot=True, **FAST) as cs:
        await csms.wait_for("StatusNotification")
        assert cs.registration_status == "Accepted"
    shake = csms.handshakes[0]
    assert shake.subprotocol == "ocpp2.0.1"
    assert shake.authorization is not None and shake.authorization.startswith("Basic ")
    boot = csms.payloads("BootNotification")[0]
    assert boot["reason"] == "PowerUp"
    assert boot["charging_station"]["vendor_name"] == "SimVendor"
    status = csms.payloads("StatusNotification")[0]
    assert (status["evse_id"], status["connector_id"], status["connector_status"]) == (
        1,
        1,
        "Available",
    )


async def test_a_whole_transaction_started_updated_ended(csms: FakeCsms201) -> None:
    """Started, periodic Updated with an increasing energy register, Ended with its reason;
    seqNo counts up from 0."""
    # 3.6 MW: a Wh per millisecond, so the register moves between samples
    async with connect201(
        csms.url, "CS-1", boot=True, meter_interval=0.05, max_power_w=4e6, **FAST
    ) as cs:
        tx = await cs.start_transaction(1, id_token="TAG1", power_w=3.6e6)
        await csms.wait_until(lambda: len(csms.payloads("TransactionEvent")) >= 4)
        await cs.stop_transaction(1, reason="Local")
    events = csms.payloads("TransactionEvent")
    assert [e["seq_no"] for e in events] == list(range(len(events)))
    assert events[0]["event_type"] == "Started"
    assert events[0]["trigger_reason"] == "Authorized"
    assert events[0]["id_token"] == {"id_token": "TAG1", "type": "ISO14443"}
    assert events[0]["evse"] == {"id": 1, "connector_id": 1}
    assert {e["event_type"] for e in events[1:-1]} == {"Updated"}
    assert events[-1]["event_type"] == "Ended"
    assert events[-1]["transaction_info"]["stopped_reason"] == "Local"
    assert events[-1]["trigger_reason"] == "StopAuthorized"
    assert {e["transaction_info"]["transaction_id"] for e in events} == {tx.transaction_id}
    readings = [value for e in events for value in _energy(e)]
    assert readings == sorted(readings) and readings[-1] > readings[0]
    assert csms.payloads("Authorize")[0]["id_token"]["id_token"] == "TAG1"
    statuses = [p["connector_status"] for p in csms.payloads("StatusNotification")]
    assert statuses[-2:] == ["Occupied", "Available"]


async def test_a_refused_token_starts_no_transaction(csms: FakeCsms201) -> None:
    """Authorize answered Invalid: no TransactionEvent, the connector is Available again."""
    csms.token_status["BAD"] = "Invalid"
    async with connect201(csms.url, "CS-1", boot=True, **FAST) as cs:
        with pytest.raises(IdTokenRefusedError):
            await cs.start_transaction(1, id_token="BAD")
    assert csms.payloads("TransactionEvent") == []
    assert csms.payloads("StatusNotification")[-1]["connector_status"] == "Available"


async def test_events_made_offline_are_sent_on_reconnect_flagged_offline(
    csms: FakeCsms201,
) -> None:
    """A transaction made while the socket is down reaches the CSMS after reconnecting,
    in order, every event with offline true."""
    variables = {"AuthCtrlr.OfflineTxForUnknownIdEnabled": "true"}
    async with connect201(
        csms.url, "CS-1", boot=True, variables=variables, meter_interval=0, **FAST
    ) as cs:
        await cs.disconnect()
        tx = await cs.start_transaction(1, id_token="TAG9")
        await cs.stop_transaction(1)
        assert len(cs.offline_queue) == 2
        await cs.reconnect()
        await csms.wait_for("TransactionEvent", 2)
    events = csms.payloads("TransactionEvent")
    assert [e["event_type"] for e in events] == ["Started", "Ended"]
    assert all(e["offline"] is True for e in events)
    assert {e["transaction_info"]["transaction_id"] for e in events} == {tx.transaction_id}
    assert len(csms.payloads("BootNotification")) == 1  # a reconnect is not a reboot


async def test_request_start_and_stop_transaction(csms: FakeCsms201) -> None:
    """RequestStartTransaction is Accepted and starts a transaction carrying remoteStartId;
    RequestStopTransaction ends it with stoppedReason Remote."""
    async with connect201(csms.url, "CS-1", boot=True, meter_interval=0, **FAST):
        side = await csms.station("CS-1")
        answer = await side.call(
            call.RequestStartTransaction(
                id_token={"id_token": "TAG1", "type": "ISO14443"}, remote_start_id=42, evse_id=1
            )
        )
        assert answer.status == "Accepted"
        started = (await csms.wait_for("TransactionEvent"))[0]
        assert started["trigger_reason"] == "RemoteStart"
        assert started["transaction_info"]["remote_start_id"] == 42
        tx_id = started["transaction_info"]["transaction_id"]
        stop = await side.call(call.RequestStopTransaction(transaction_id=tx_id))
        assert stop.status == "Accepted"
        ended = (await csms.wait_for("TransactionEvent", 2))[-1]
        unknown = await side.call(call.RequestStopTransaction(transaction_id="nope"))
    assert ended["event_type"] == "Ended"
    assert ended["trigger_reason"] == "RemoteStop"
    assert ended["transaction_info"]["stopped_reason"] == "Remote"
    assert unknown.status == "Rejected"


async def test_reset_reconnects_and_boots_again(csms: FakeCsms201) -> None:
    """Reset Immediate ends the running transaction (ImmediateReset), drops the socket,
    reconnects and boots with reason RemoteReset."""
    async with connect201(csms.url, "CS-1", boot=True, meter_interval=0, **FAST) as cs:
        await cs.start_transaction(1, id_token="TAG1")
        side = await csms.station("CS-1")
        answer = await side.call(call.Reset(type="Immediate"))
        await csms.wait_for("BootNotification", 2)
        await cs.wait_until(lambda: cs.connections == 2 and cs.online)
    assert answer.status == "Accepted"
    ended = csms.payloads("TransactionEvent")[-1]
    assert ended["transaction_info"]["stopped_reason"] == "ImmediateReset"
    assert ended["trigger_reason"] == "ResetCommand"
    assert [b["reason"] for b in csms.payloads("BootNotification")] == ["PowerUp", "RemoteReset"]
    assert len(csms.handshakes) == 2


async def test_new_basic_auth_password_is_used_on_the_next_connection(
    csms: FakeCsms201,
) -> None:
    """SetVariables BasicAuthPassword is Accepted; after a Reset the station authenticates
    with the new password (the CSMS refuses the old one)."""
    async with connect201(csms.url, "CS-1", password="old-password-0001", boot=True, **FAST) as cs:
        side = await csms.station("CS-1")
        answer = await side.call(
            call.SetVariables(
                set_variable_data=[
                    {
                        "component": {"name": "SecurityCtrlr"},
                        "variable": {"name": "BasicAuthPassword"},
                        "attribute_value": "new-password-0002",
                    }
                ]
            )
        )
        csms.passwords["CS-1"] = "new-password-0002"
        await side.call(call.Reset(type="Immediate"))
        await csms.wait_for("BootNotification", 2)
        assert cs.password == "new-password-0002"
    assert answer.set_variable_result[0]["attribute_status"] == "Accepted"
    assert csms.handshakes[0].authorization != csms.handshakes[-1].authorization


async def test_get_base_report_arrives_in_parts(csms: FakeCsms201) -> None:
    """GetBaseReport FullInventory is Accepted; NotifyReport parts follow with seqNo 0..n,
    tbc true on all but the last; write-only values are not reported."""
    async with connect201(csms.url, "CS-1", boot=True, **FAST):
        side = await csms.station("CS-1")
        answer = await side.call(call.GetBaseReport(request_id=7, report_base="FullInventory"))
        await csms.wait_until(
            lambda: any(p.get("tbc") is False for p in csms.payloads("NotifyReport"))
        )
    parts = csms.payloads("NotifyReport")
    assert answer.status == "Accepted"
    assert len(parts) > 1
    assert [p["seq_no"] for p in parts] == list(range(len(parts)))
    assert [p["tbc"] for p in parts] == [True] * (len(parts) - 1) + [False]
    data = [d for p in parts for d in p["report_data"]]
    by_name = {(d["component"]["name"], d["variable"]["name"]): d for d in data}
    password = by_name[("SecurityCtrlr", "BasicAuthPassword")]["variable_attribute"][0]
    assert password["mutability"] == "WriteOnly" and "value" not in password
    assert ("LocalAuthListCtrlr", "Entries") in by_name


async def test_firmware_is_downloaded_and_installed(csms: FakeCsms201) -> None:
    """UpdateFirmware: Accepted, the file is fetched over HTTP, then Downloading,
    Downloaded, Installing, Installed."""
    with running_file_server() as files:
        files.files["fw-2.bin"] = b"firmware image" * 100
        async with connect201(csms.url, "CS-1", boot=True, **FAST) as cs:
            side = await csms.station("CS-1")
            answer = await side.call(
                call.UpdateFirmware(
                    request_id=3,
                    firmware={
                        "location": f"{files.base}/files/fw-2.bin",
                        "retrieve_date_time": _in(0),
                    },
                )
            )
            await csms.wait_until(
                lambda: (
                    [p["status"] for p in csms.payloads("FirmwareStatusNotification")][-1:]
                    == ["Installed"]
                )
            )
    assert answer.status == "Accepted"
    notes = csms.payloads("FirmwareStatusNotification")
    assert [n["status"] for n in notes] == ["Downloading", "Downloaded", "Installing", "Installed"]
    assert {n["request_id"] for n in notes} == {3}
    assert cs.downloads[0].size == len(files.files["fw-2.bin"])


async def test_firmware_that_cannot_be_fetched_fails(csms: FakeCsms201) -> None:
    """A location that answers 404: Downloading, then DownloadFailed."""
    with running_file_server() as files:
        async with connect201(csms.url, "CS-1", boot=True, **FAST):
            side = await csms.station("CS-1")
            await side.call(
                call.UpdateFirmware(
                    request_id=4,
                    firmware={
                        "location": f"{files.base}/files/missing",
                        "retrieve_date_time": _in(0),
                    },
                )
            )
            await csms.wait_for("FirmwareStatusNotification", 2)
    assert [n["status"] for n in csms.payloads("FirmwareStatusNotification")] == [
        "Downloading",
        "DownloadFailed",
    ]


async def test_get_log_uploads_the_file(csms: FakeCsms201) -> None:
    """GetLog: Accepted with a file name, the file is POSTed (multipart field "file"),
    then Uploading, Uploaded."""
    with running_file_server() as files:
        async with connect201(csms.url, "CS-1", boot=True, **FAST):
            side = await csms.station("CS-1")
            answer = await side.call(
                call.GetLog(
                    log={"remote_location": f"{files.base}/upload"},
                    log_type="DiagnosticsLog",
                    request_id=9,
                )
            )
            await csms.wait_for("LogStatusNotification", 2)
    assert answer.status == "Accepted"
    assert [n["status"] for n in csms.payloads("LogStatusNotification")] == [
        "Uploading",
        "Uploaded",
    ]
    upload = files.uploads[0]
    assert upload.field == "file"
    assert upload.file_name == answer.filename
    assert b"GetLog" in upload.content


async def test_station_object_without_context_manager(csms: FakeCsms201) -> None:
    """The station can be driven by connect() / aclose() directly."""
    cs = ChargingStation201("CS-2", csms.url, **FAST)
    try:
        await cs.connect()
        result = await cs.boot()
        assert result.status == "Accepted"
    finally:
        await cs.aclose()


# --- device model -----------------------------------------------------------------------------


def _var(component: str, name: str, value: str | None = None, **extra: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"component": {"name": component, **extra}, "variable": {"name": name}}
    if value is not None:
        entry["attribute_value"] = value
    return entry


async def test_get_variables_answers_per_variable(csms: FakeCsms201) -> None:
    """Known values are returned; a write-only one is Rejected; unknown component and
    unknown variable are told apart."""
    async with connect201(csms.url, "CS-1", boot=True, **FAST):
        side = await csms.station("CS-1")
        answer = await side.call(
            call.GetVariables(
                get_variable_data=[
                    _var("OCPPCommCtrlr", "HeartbeatInterval"),
                    _var("SecurityCtrlr", "BasicAuthPassword"),
                    _var("NoSuchCtrlr", "Enabled"),
                    _var("AuthCtrlr", "NoSuchVariable"),
                    _var("Connector", "AvailabilityState", evse={"id": 1, "connector_id": 1}),
                ]
            )
        )
    results = answer.get_variable_result
    assert [r["attribute_status"] for r in results] == [
        "Accepted",
        "Rejected",
        "UnknownComponent",
        "UnknownVariable",
        "Accepted",
    ]
    assert results[0]["attribute_value"] == "300"
    assert results[4]["attribute_value"] == "Available"


async def test_set_variables_accepts_rejects_and_asks_for_a_reboot(csms: FakeCsms201) -> None:
    """A valid write is Accepted and applied, a read-only or invalid one Rejected, an unknown
    one UnknownVariable, NetworkConfigurationPriority RebootRequired."""
    async with connect201(csms.url, "CS-1", boot=True, **FAST) as cs:
        side = await csms.station("CS-1")
        answer = await side.call(
            call.SetVariables(
                set_variable_data=[
                    _var("OCPPCommCtrlr", "HeartbeatInterval", "120"),
                    _var("LocalAuthListCtrlr", "Entries", "5"),
                    _var("AuthCtrlr", "Enabled", "maybe"),
                    _var("AuthCtrlr", "NoSuchVariable", "1"),
                    _var("OCPPCommCtrlr", "NetworkConfigurationPriority", "1,0"),
                ]
            )
        )
        assert cs.heartbeat_interval == 120
    assert [r["attribute_status"] for r in answer.set_variable_result] == [
        "Accepted",
        "Rejected",
        "Rejected",
        "UnknownVariable",
        "RebootRequired",
    ]


# --- trigger, availability, unlock --------------------------------------------------------


async def test_trigger_message_sends_what_was_asked(csms: FakeCsms201) -> None:
    """Heartbeat, StatusNotification and MeterValues are Accepted and sent; BootNotification
    is Rejected once accepted; an unknown EVSE is Rejected."""
    async with connect201(csms.url, "CS-1", boot=True, **FAST):
        side = await csms.station("CS-1")
        before = len(csms.payloads("StatusNotification"))
        heartbeat = await side.call(call.TriggerMessage(requested_message="Heartbeat"))
        await csms.wait_for("Heartbeat")
        status = await side.call(
            call.TriggerMessage(
                requested_message="StatusNotification", evse={"id": 1, "connector_id": 1}
            )
        )
        await csms.wait_for("StatusNotification", before + 1)
        meter = await side.call(call.TriggerMessage(requested_message="MeterValues"))
        values = await csms.wait_for("MeterValues")
        boot = await side.call(call.TriggerMessage(requested_message="BootNotification"))
        bad = await side.call(call.TriggerMessage(requested_message="Heartbeat", evse={"id": 9}))
        tx = await side.call(call.TriggerMessage(requested_message="TransactionEvent"))
    assert [heartbeat.status, status.status, meter.status] == ["Accepted"] * 3
    assert values[0]["meter_value"][0]["sampled_value"][0]["context"] == "Trigger"
    assert boot.status == "Rejected"
    assert bad.status == "Rejected"
    assert tx.status == "Rejected"  # no transaction runs


async def test_change_availability_is_followed_by_status(csms: FakeCsms201) -> None:
    """Inoperative: Accepted, then StatusNotification Unavailable; during a transaction
    the change is Scheduled."""
    async with connect201(csms.url, "CS-1", boot=True, evses=2, meter_interval=0, **FAST) as cs:
        side = await csms.station("CS-1")
        await cs.start_transaction(2, id_token="TAG1")
        now = await side.call(
            call.ChangeAvailability(operational_status="Inoperative", evse={"id": 1})
        )
        await csms.wait_until(
            lambda: any(
                p["evse_id"] == 1 and p["connector_status"] == "Unavailable"
                for p in csms.payloads("StatusNotification")
            )
        )
        later = await side.call(
            call.ChangeAvailability(operational_status="Inoperative", evse={"id": 2})
        )
        await cs.stop_transaction(2)
    assert now.status == "Accepted"
    assert later.status == "Scheduled"
    assert csms.payloads("StatusNotification")[-1] == {
        **csms.payloads("StatusNotification")[-1],
        "evse_id": 2,
        "connector_status": "Unavailable",
    }


async def test_unlock_connector(csms: FakeCsms201) -> None:
    """Unlocked when idle, OngoingAuthorizedTransaction during one, UnknownConnector else."""
    async with connect201(csms.url, "CS-1", boot=True, meter_interval=0, **FAST) as cs:
        side = await csms.station("CS-1")
        idle = await side.call(call.UnlockConnector(evse_id=1, connector_id=1))
        await cs.start_transaction(1, id_token="TAG1")
        busy = await side.call(call.UnlockConnector(evse_id=1, connector_id=1))
        unknown = await side.call(call.UnlockConnector(evse_id=3, connector_id=1))
    assert [idle.status, busy.status, unknown.status] == [
        "Unlocked",
        "OngoingAuthorizedTransaction",
        "UnknownConnector",
    ]


# --- local list, cache, data transfer ------------------------------------------------------


def _entry(token: str, status: str | None = "Accepted") -> dict[str, Any]:
    entry: dict[str, Any] = {"id_token": {"id_token": token, "type": "ISO14443"}}
    if status is not None:
        entry["id_token_info"] = {"status": status}
    return entry


async def test_send_local_list_full_and_differential(csms: FakeCsms201) -> None:
    """Full replaces the list, a differential with a newer version adds and removes, one
    with a version not newer is VersionMismatch, one over capacity Failed."""
    variables = {"LocalAuthListCtrlr.Storage": "3"}
    async with connect201(csms.url, "CS-1", boot=True, variables=variables, **FAST) as cs:
        side = await csms.station("CS-1")
        full = await side.call(
            call.SendLocalList(
                version_number=5,
                update_type="Full",
                local_authorization_list=[_entry("A"), _entry("B", "Blocked")],
            )
        )
        diff = await side.call(
            call.SendLocalList(
                version_number=6,
                update_type="Differential",
                local_authorization_list=[_entry("C"), _entry("A", None)],
            )
        )
        stale = await side.call(
            call.SendLocalList(
                version_number=6, update_type="Differential", local_authorization_list=[_entry("D")]
            )
        )
        over = await side.call(
            call.SendLocalList(
                version_number=7,
                update_type="Differential",
                local_authorization_list=[_entry("D"), _entry("E")],
            )
        )
        version = await side.call(call.GetLocalListVersion())
        assert sorted(cs.local_list.entries) == ["B", "C"]
        assert cs.device_model.get("LocalAuthListCtrlr.Entries") == "2"
    assert [full.status, diff.status, stale.status, over.status] == [
        "Accepted",
        "Accepted",
        "VersionMismatch",
        "Failed",
    ]
    assert version.version_number == 6


async def test_clear_cache_and_data_transfer(csms: FakeCsms201) -> None:
    """ClearCache empties the authorisation cache; DataTransfer to our vendor echoes,
    to another vendor UnknownVendorId."""
    async with connect201(csms.url, "CS-1", boot=True, **FAST) as cs:
        await cs.authorize("TAG1")
        assert "TAG1" in cs.auth_cache
        side = await csms.station("CS-1")
        cleared = await side.call(call.ClearCache())
        mine = await side.call(call.DataTransfer(vendor_id="SimVendor", data="ping"))
        other = await side.call(call.DataTransfer(vendor_id="Other"))
        assert cs.auth_cache == {}
    assert cleared.status == "Accepted"
    assert (mine.status, mine.data) == ("Accepted", "ping")
    assert other.status == "UnknownVendorId"


# --- reservations and profiles --------------------------------------------------------------


async def test_reservation_expires_with_a_status_update(csms: FakeCsms201) -> None:
    """ReserveNow: Accepted, connector Reserved; on expiry ReservationStatusUpdate Expired
    and the connector is Available again."""
    async with connect201(csms.url, "CS-1", boot=True, **FAST) as cs:
        side = await csms.station("CS-1")
        answer = await side.call(
            call.ReserveNow(
                id=11,
                expiry_date_time=_in(0.3),
                id_token={"id_token": "TAG1", "type": "ISO14443"},
                evse_id=1,
            )
        )
        assert 11 in cs.reservations
        update = (await csms.wait_for("ReservationStatusUpdate"))[0]
        await csms.wait_until(
            lambda: csms.payloads("StatusNotification")[-1]["connector_status"] == "Available"
        )
    assert answer.status == "Accepted"
    assert update == {"reservation_id": 11, "reservation_update_status": "Expired"}
    statuses = [p["connector_status"] for p in csms.payloads("StatusNotification")]
    assert "Reserved" in statuses


async def test_cancel_reservation(csms: FakeCsms201) -> None:
    """CancelReservation of a known reservation is Accepted (connector Available), of an
    unknown one Rejected."""
    async with connect201(csms.url, "CS-1", boot=True, **FAST) as cs:
        side = await csms.station("CS-1")
        await side.call(
            call.ReserveNow(
                id=12, expiry_date_time=_in(600), id_token={"id_token": "T", "type": "ISO14443"}
            )
        )
        known = await side.call(call.CancelReservation(reservation_id=12))
        unknown = await side.call(call.CancelReservation(reservation_id=99))
        assert cs.reservations == {}
    assert (known.status, unknown.status) == ("Accepted", "Rejected")


def _profile(profile_id: int, purpose: str = "TxDefaultProfile", level: int = 0) -> dict:
    return {
        "id": profile_id,
        "stack_level": level,
        "charging_profile_purpose": purpose,
        "charging_profile_kind": "Absolute",
        "charging_schedule": [
            {
                "id": 1,
                "start_schedule": _in(0),
                "charging_rate_unit": "W",
                "charging_schedule_period": [{"start_period": 0, "limit": 7000.0}],
            }
        ],
    }


async def test_charging_profiles_set_get_clear(csms: FakeCsms201) -> None:
    """SetChargingProfile Accepted (a TxProfile without a transaction Rejected);
    GetChargingProfiles Accepted then ReportChargingProfiles; ClearChargingProfile."""
    async with connect201(csms.url, "CS-1", boot=True, **FAST) as cs:
        side = await csms.station("CS-1")
        ok = await side.call(call.SetChargingProfile(evse_id=1, charging_profile=_profile(1)))
        tx = await side.call(
            call.SetChargingProfile(evse_id=1, charging_profile=_profile(2, "TxProfile"))
        )
        got = await side.call(
            call.GetChargingProfiles(
                request_id=5, charging_profile={"charging_profile_purpose": "TxDefaultProfile"}
            )
        )
        report = (await csms.wait_for("ReportChargingProfiles"))[0]
        cleared = await side.call(call.ClearChargingProfile(charging_profile_id=1))
        again = await side.call(call.ClearChargingProfile(charging_profile_id=1))
        none = await side.call(
            call.GetChargingProfiles(request_id=6, charging_profile={"stack_level": 0})
        )
        assert cs.profiles.installed == []
    assert (ok.status, tx.status) == ("Accepted", "Rejected")
    assert got.status == "Accepted"
    assert report["request_id"] == 5 and report["evse_id"] == 1
    assert [p["id"] for p in report["charging_profile"]] == [1]
    assert (cleared.status, again.status, none.status) == ("Accepted", "Unknown", "NoProfiles")


# --- network profile, events ---------------------------------------------------------------


async def test_set_network_profile_is_stored_and_never_downgrades(csms: FakeCsms201) -> None:
    """A profile at the same or a higher security level is stored; a lower one Rejected."""
    async with connect201(csms.url, "CS-1", password="0123456789abcdef", **FAST) as cs:
        side = await csms.station("CS-1")
        data = {
            "ocpp_version": "OCPP20",
            "ocpp_transport": "JSON",
            "ocpp_csms_url": "wss://csms.example/ocpp",
            "message_timeout": 30,
            "security_profile": 2,
            "ocpp_interface": "Wired0",
        }
        ok = await side.call(call.SetNetworkProfile(configuration_slot=1, connection_data=data))
        low = await side.call(
            call.SetNetworkProfile(
                configuration_slot=2,
                connection_data={**data, "ocpp_csms_url": "ws://x/ocpp", "security_profile": 0},
            )
        )
        assert cs.network_profiles[1]["ocpp_csms_url"] == "wss://csms.example/ocpp"
    assert (ok.status, low.status) == ("Accepted", "Rejected")


async def test_notify_event_and_security_event(csms: FakeCsms201) -> None:
    """NotifyEvent and SecurityEventNotification reach the CSMS as sent."""
    async with connect201(csms.url, "CS-1", boot=True, **FAST) as cs:
        await cs.notify_event({"name": "EVSE", "evse": {"id": 1}}, "Problem", "true")
        await cs.security_event("FirmwareUpdated", "to 2.0")
    event = csms.payloads("NotifyEvent")[0]["event_data"][0]
    assert (event["component"]["name"], event["variable"]["name"]) == ("EVSE", "Problem")
    security = csms.payloads("SecurityEventNotification")[0]
    assert (security["type"], security["tech_info"]) == ("FirmwareUpdated", "to 2.0")


# --- certificates and TLS ----------------------------------------------------------------


async def test_install_list_and_delete_certificates(csms: FakeCsms201) -> None:
    """InstallCertificate Accepted (garbage Rejected); GetInstalledCertificateIds lists it
    by hash data; DeleteCertificate by that hash removes it, a second time NotFound."""
    root = CertificateAuthority("Root")
    async with connect201(csms.url, "CS-1", boot=True, **FAST) as cs:
        side = await csms.station("CS-1")
        ok = await side.call(
            call.InstallCertificate(certificate_type="CSMSRootCertificate", certificate=root.pem)
        )
        bad = await side.call(
            call.InstallCertificate(certificate_type="CSMSRootCertificate", certificate="junk")
        )
        ids = await side.call(
            call.GetInstalledCertificateIds(certificate_type=["CSMSRootCertificate"])
        )
        data = ids.certificate_hash_data_chain[0]["certificate_hash_data"]
        deleted = await side.call(call.DeleteCertificate(certificate_hash_data=data))
        again = await side.call(call.DeleteCertificate(certificate_hash_data=data))
        none = await side.call(call.GetInstalledCertificateIds())
        assert cs.certificates.installed == []
    assert (ok.status, bad.status, ids.status) == ("Accepted", "Rejected", "Accepted")
    assert data["serial_number"] == format(root.cert.serial_number, "x")
    assert (deleted.status, again.status, none.status) == ("Accepted", "NotFound", "NotFound")


async def test_profile_2_then_signed_certificate_and_profile_3(tmp_path: Any) -> None:
    """Over TLS with Basic auth (profile 2) the station sends a CSR when triggered; the
    chain signed from it is Accepted (one for another key Rejected); with a profile 3
    network profile first in priority, after a Reset it reconnects with its new client
    certificate and without Basic auth."""
    ca = CertificateAuthority()
    async with (
        running_csms201(ca.server_context(tmp_path)) as csms,
        connect201(
            csms.url,
            "CS-1",
            password="0123456789abcdef",
            ca_certificates=ca.pem,
            boot=True,
            **FAST,
        ) as cs,
    ):
        assert cs.security_profile == 2
        side = await csms.station("CS-1")
        trigger = await side.call(
            call.TriggerMessage(requested_message="SignChargingStationCertificate")
        )
        request = (await csms.wait_for("SignCertificate"))[0]
        stranger = CertificateAuthority("Other").sign_csr(make_csr("CS-1")[0])
        wrong = await side.call(call.CertificateSigned(certificate_chain=stranger))
        signed = await side.call(
            call.CertificateSigned(
                certificate_chain=ca.sign_csr(request["csr"]) + ca.pem,
                certificate_type="ChargingStationCertificate",
            )
        )
        profile = await side.call(
            call.SetNetworkProfile(
                configuration_slot=1,
                connection_data={
                    "ocpp_version": "OCPP20",
                    "ocpp_transport": "JSON",
                    "ocpp_csms_url": csms.url,
                    "message_timeout": 30,
                    "security_profile": 3,
                    "ocpp_interface": "Wired0",
                },
            )
        )
        priority = await side.call(
            call.SetVariables(
                set_variable_data=[_var("OCPPCommCtrlr", "NetworkConfigurationPriority", "1,0")]
            )
        )
        await side.call(call.Reset(type="Immediate"))
        await csms.wait_for("BootNotification", 2)
        assert cs.security_profile == 3
    assert trigger.status == "Accepted"
    assert "BEGIN CERTIFICATE REQUEST" in request["csr"]
    assert request["certificate_type"] == "ChargingStationCertificate"
    assert (wrong.status, signed.status, profile.status) == ("Rejected", "Accepted", "Accepted")
    assert priority.set_variable_result[0]["attribute_status"] == "RebootRequired"
    first, last = csms.handshakes[0], csms.handshakes[-1]
    assert first.authorization is not None and first.peer_certificate is None
    assert last.authorization is None
    assert last.peer_certificate is not None
    assert dict(x[0] for x in last.peer_certificate["subject"])["commonName"] == "CS-1"


# --- the command line ------------------------------------------------------------------------


async def test_cli_runs_a_201_session(csms: FakeCsms201) -> None:
    """``cp16 --ocpp 2.0.1 ... session`` boots, runs one transaction and prints a JSON
    summary with it; the frames go to stderr."""
    import io
    import json

    from simulators.cli import build_parser, run_cs201

    args = build_parser().parse_args(
        [
            "cp16",
            "--ocpp",
            "2.0.1",
            "--url",
            csms.url,
            "--id",
            "CS-CLI",
            "session",
            "--id-tag",
            "TAG1",
            "--duration",
            "0.1",
            "--meter-interval",
            "0.05",
        ]
    )
    out, err = io.StringIO(), io.StringIO()
    code = await run_cs201(args, out, err)
    summary = json.loads(out.getvalue())
    assert code == 0, summary
    assert summary["ocpp"] == "2.0.1"
    assert summary["boot"]["status"] == "Accepted"
    assert summary["sessions"][0]["stopped_reason"] == "Local"
    events = csms.payloads("TransactionEvent")
    assert [events[0]["event_type"], events[-1]["event_type"]] == ["Started", "Ended"]
    assert "TransactionEvent.req" in err.getvalue()
