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

from simulators.ocpp201 import ChargingStation201, IdTokenRefusedError, connect201
from tests.fake_csms201 import FakeCsms201, running_csms201, running_file_server

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
