"""Remote commands to OCPP 2.0.1 stations, end to end: the operators' REST
API over HTTP on a real node, the 2.0.1 simulator as the charging station,
the database. Each test checks the answer and what the station did."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from ocpp.exceptions import GenericError

from csms.bootstrap import Node
from simulators.ocpp201 import ChargingStation201, connect201
from tests.e2e.command_helpers import (
    Commands,
    add_station,
    operator_api,
    root_certificate,
    session_of,
    session_status,
    wait_until,
)
from tests.e2e.conftest import ocpp_url
from tests.media_helpers import allow
from tests.world import admin_token, make_entity


class World(Commands):
    def __init__(
        self, node: Node, api: httpx.AsyncClient, station_id: int, cs: ChargingStation201
    ) -> None:
        super().__init__(api, station_id)
        self.node, self.cs = node, cs


@asynccontextmanager
async def world(node: Node, charge_point_id: str, **options: Any) -> AsyncIterator[World]:
    owner = await make_entity(f"Owner of {charge_point_id}")
    station_id = await add_station(charge_point_id, owner)
    token = await admin_token(owner)
    async with (
        operator_api(node, token) as api,
        connect201(ocpp_url(node), charge_point_id, boot=True, evses=2, **options) as cs,
    ):
        assert cs.registration_status == "Accepted"
        yield World(node, api, station_id, cs)


async def test_remote_start_and_stop(node: Node) -> None:
    """remote-start is RequestStartTransaction: Accepted, with the
    remoteStartId in the data, and the station's transaction is a session in
    the database; remote-stop of that session stops the station's
    transaction (its own transaction id) remotely."""
    await allow("04A1B2C3")
    async with world(node, "CS-RS") as w:
        result = await w.answered("remote-start", {"id_tag": "04A1B2C3", "connector_id": 1})
        assert result["status"] == "Accepted"
        assert isinstance(result["data"]["remote_start_id"], int)

        async def started() -> bool:
            return await session_of(w.station_id, "04A1B2C3") is not None

        await wait_until(started)
        session = await session_of(w.station_id, "04A1B2C3")
        assert session is not None
        (transaction,) = w.cs.transactions.values()
        assert session["charger_transaction_id"] == transaction.transaction_id
        assert transaction.remote_start_id == result["data"]["remote_start_id"]

        stopped = await w.answered("remote-stop", {"session_id": session["id"]})
        assert stopped["status"] == "Accepted"

        async def ended() -> bool:
            return (await session_status(session["id"]))["status"] == "completed"

        await wait_until(ended)


async def test_remote_stop_of_a_session_of_no_transaction_is_unsupported(node: Node) -> None:
    """A session id the station has no transaction for is 422, nothing sent."""
    async with world(node, "CS-RS-NONE") as w:
        response = await w.command("remote-stop", {"session_id": 424242})
        assert response.status_code == 422
        assert "424242" in response.json()["reason"]
        assert not any(call.action == "RequestStopTransaction" for call in w.cs.received)


async def test_hard_reset_is_immediate_and_reboots(node: Node) -> None:
    """reset hard is an Immediate reset; the station reboots and boots again
    (reason RemoteReset)."""
    async with world(node, "CS-RESET") as w:
        assert (await w.answered("reset", {"kind": "hard"}))["status"] == "Accepted"
        assert w.cs.resets == ["Immediate"]

        async def rebooted() -> bool:
            return "RemoteReset" in w.cs.boots and w.cs.accepted.is_set()

        await wait_until(rebooted)


async def test_soft_reset_is_on_idle(node: Node) -> None:
    """reset soft is an OnIdle reset."""
    async with world(node, "CS-SOFT") as w:
        await w.answered("reset", {"kind": "soft"})
        assert w.cs.resets == ["OnIdle"]


async def test_change_availability_of_an_evse(node: Node) -> None:
    """change-availability of connector 2 is ChangeAvailability of EVSE 2."""
    async with world(node, "CS-AVAIL") as w:
        result = await w.answered("change-availability", {"connector_id": 2, "operative": False})
        assert result["status"] == "Accepted"
        assert w.cs.evses[2].operative is False
        assert w.cs.evses[1].operative is True


async def test_unlock_connector(node: Node) -> None:
    """unlock-connector unlocks connector 1 of the EVSE; an unknown EVSE is
    UnknownConnector."""
    async with world(node, "CS-UNLOCK") as w:
        assert (await w.answered("unlock-connector", {"connector_id": 1}))["status"] == "Unlocked"
        missing = await w.answered("unlock-connector", {"connector_id": 7})
        assert missing["status"] == "UnknownConnector"


async def test_set_and_get_variables(node: Node) -> None:
    """set-variables changes the station's device model; get-variables reads
    the new value back."""
    async with world(node, "CS-VARS") as w:
        variable = {"component": "OCPPCommCtrlr", "variable": "HeartbeatInterval"}
        changed = await w.answered("set-variables", {"variables": [{**variable, "value": "77"}]})
        assert changed["status"] == "Accepted"
        assert w.cs.device_model.get("OCPPCommCtrlr.HeartbeatInterval") == "77"

        read = await w.answered("get-variables", {"variables": [variable]})
        (item,) = read["data"]["results"]
        assert (item["attribute_status"], item["attribute_value"]) == ("Accepted", "77")


async def test_get_base_report_sends_the_report(node: Node) -> None:
    """get-base-report is Accepted and the station sends NotifyReport with
    the request id given back in the answer."""
    async with world(node, "CS-REPORT") as w:
        result = await w.answered("get-base-report", {"report": "FullInventory"})
        assert result["status"] == "Accepted"
        request_id = result["data"]["request_id"]

        async def reported() -> bool:
            return request_id in w.cs.reports

        await wait_until(reported)


async def test_trigger_message(node: Node) -> None:
    """trigger-message StatusNotification for EVSE 1 is Accepted and the
    station sends it."""
    async with world(node, "CS-TRIGGER") as w:
        before = sum(1 for action, _ in w.cs.sent if action == "StatusNotification")
        result = await w.answered(
            "trigger-message", {"message": "StatusNotification", "connector_id": 1}
        )
        assert result["status"] == "Accepted"

        async def sent() -> bool:
            return sum(1 for action, _ in w.cs.sent if action == "StatusNotification") > before

        await wait_until(sent)


async def test_clear_cache(node: Node) -> None:
    """clear-cache empties the station's authorisation cache."""
    async with world(node, "CS-CACHE") as w:
        w.cs.auth_cache["CACHED"] = {"status": "Accepted"}
        assert (await w.answered("clear-cache"))["status"] == "Accepted"
        assert w.cs.auth_cache == {}


async def test_local_list(node: Node) -> None:
    """send-local-list (full, then differential) sets the station's list and
    version; get-local-list-version reads it."""
    async with world(node, "CS-LIST") as w:
        assert (await w.answered("get-local-list-version"))["data"] == {"list_version": 0}
        full = await w.answered(
            "send-local-list",
            {
                "version": 3,
                "entries": [
                    {"id_tag": "04A1B2C3", "status": "Accepted"},
                    {"id_tag": "app-user", "status": "Blocked", "parent_id": "G"},
                ],
            },
        )
        assert full["status"] == "Accepted"
        assert set(w.cs.local_list.entries) == {"04A1B2C3", "app-user"}
        assert (await w.answered("get-local-list-version"))["data"] == {"list_version": 3}
        removed = await w.answered(
            "send-local-list",
            {"version": 4, "update": "differential", "entries": [{"id_tag": "app-user"}]},
        )
        assert removed["status"] == "Accepted"
        assert set(w.cs.local_list.entries) == {"04A1B2C3"}


async def test_reserve_now_and_cancel(node: Node) -> None:
    """reserve-now reserves EVSE 1; cancel-reservation drops it."""
    async with world(node, "CS-RESERVE") as w:
        expires = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        reserved = await w.answered(
            "reserve-now",
            {"reservation_id": 8, "connector_id": 1, "id_tag": "04A1B2C3", "expires_at": expires},
        )
        assert reserved["status"] == "Accepted"
        assert w.cs.reservations[8].evse_id == 1
        assert (await w.answered("cancel-reservation", {"reservation_id": 8}))[
            "status"
        ] == "Accepted"
        assert 8 not in w.cs.reservations


async def test_charging_profiles(node: Node) -> None:
    """set-charging-profile installs a TxDefaultProfile on EVSE 1;
    clear-charging-profile removes it (a second clear finds nothing). (The
    simulator has no GetCompositeSchedule; its translation is checked
    against the schema in the unit tests.)"""
    profile = {
        "profile_id": 21,
        "stack_level": 0,
        "purpose": "TxDefaultProfile",
        "kind": "Absolute",
        "schedule": {
            "rate_unit": "A",
            "start_schedule": "2026-01-01T00:00:00Z",
            "periods": [{"start_period": 0, "limit": 16.0}],
        },
    }
    async with world(node, "CS-PROFILE") as w:
        installed = await w.answered(
            "set-charging-profile", {"connector_id": 1, "profile": profile}
        )
        assert installed["status"] == "Accepted"
        assert (await w.answered("clear-charging-profile", {"profile_id": 21}))[
            "status"
        ] == "Accepted"
        assert (await w.answered("clear-charging-profile", {"profile_id": 21}))[
            "status"
        ] == "Unknown"


async def test_update_firmware_downloads(node: Node) -> None:
    """update-firmware is Accepted with its request id; the station downloads
    from the location and reports the steps with that request id."""
    async with world(node, "CS-FW") as w:
        result = await w.answered(
            "update-firmware",
            {
                "location": f"http://127.0.0.1:{node.http_port}/healthz",
                "retrieve_at": datetime.now(UTC).isoformat(),
            },
        )
        assert result["status"] == "Accepted"
        assert w.cs.firmware_request_id == result["data"]["request_id"]

        async def installed() -> bool:
            return "Installed" in w.cs.firmware_statuses

        await wait_until(installed)


async def test_get_diagnostics_is_a_diagnostics_log(node: Node) -> None:
    """get-diagnostics asks the station for a DiagnosticsLog (GetLog) with
    the request id given back."""
    async with world(node, "CS-DIAG") as w:
        result = await w.answered(
            "get-diagnostics", {"location": f"http://127.0.0.1:{node.http_port}/nowhere"}
        )
        assert result["status"] == "Accepted"
        assert result["data"]["filename"].startswith("DiagnosticsLog-CS-DIAG")
        assert w.cs.log_request_id == result["data"]["request_id"]


async def test_get_log_security_log(node: Node) -> None:
    """get-log of a SecurityLog is sent with the caller's request id."""
    async with world(node, "CS-LOG") as w:
        result = await w.answered(
            "get-log",
            {
                "location": f"http://127.0.0.1:{node.http_port}/nowhere",
                "log_type": "SecurityLog",
                "request_id": 77,
            },
        )
        assert result["status"] == "Accepted"
        assert result["data"]["filename"].startswith("SecurityLog-CS-LOG")
        assert w.cs.log_request_id == 77


async def test_install_list_and_delete_a_certificate(node: Node) -> None:
    """install-certificate installs a CSMS root at the station;
    get-installed-certificate-ids lists its hash data; delete-certificate
    with that hash data removes it."""
    async with world(node, "CS-CERT") as w:
        installed = await w.answered(
            "install-certificate",
            {"certificate_type": "CSMSRootCertificate", "certificate": root_certificate()},
        )
        assert installed["status"] == "Accepted"
        listed = await w.answered(
            "get-installed-certificate-ids", {"certificate_types": ["CSMSRootCertificate"]}
        )
        assert listed["status"] == "Accepted"
        (chain,) = listed["data"]["certificate_hash_data_chain"]
        deleted = await w.answered("delete-certificate", chain["certificate_hash_data"])
        assert deleted["status"] == "Accepted"
        assert w.cs.certificates.installed == []


async def test_data_transfer(node: Node) -> None:
    """data-transfer carries any JSON in 2.0.1 and comes back with it."""
    async with world(node, "CS-DT") as w:
        result = await w.answered(
            "data-transfer", {"vendor_id": "SimVendor", "data": {"ping": [1, 2]}}
        )
        assert result == {
            "result": "answered",
            "status": "Accepted",
            "data": {"data": {"ping": [1, 2]}},
        }


async def test_callerror_is_call_failed(node: Node) -> None:
    """A CALLERROR from a 2.0.1 station is 502 call_failed with its code."""

    def refuse(vendor_id: str, message_id: str | None, data: Any) -> tuple[str, Any]:
        raise GenericError(description="not today")

    async with world(node, "CS-FAIL") as w:
        w.cs.data_transfer_handler = refuse
        response = await w.command("data-transfer", {"vendor_id": "SimVendor"})
        assert response.status_code == 502, response.text
        assert response.json() == {
            "result": "call_failed",
            "error_code": "GenericError",
            "description": "not today",
            "details": {},
        }


async def test_1_6_only_commands_are_unsupported(node: Node) -> None:
    """get-configuration and change-configuration are 422 on 2.0.1."""
    async with world(node, "CS-UNSUP") as w:
        for name, body in (
            ("get-configuration", None),
            ("change-configuration", {"key": "HeartbeatInterval", "value": "1"}),
        ):
            response = await w.command(name, body)
            assert response.status_code == 422, response.text
            assert response.json()["result"] == "unsupported"
