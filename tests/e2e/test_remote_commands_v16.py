"""Remote commands to OCPP 1.6J stations, end to end: the operators' REST
API over HTTP on a real node, the 1.6 simulator as the charger, the
database. Each test checks the answer and what the charger did."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import websockets
from ocpp.exceptions import GenericError
from ocpp.routing import on
from ocpp.v16.enums import Action

from csms.bootstrap import Node
from csms.commands.model import ClearCache
from csms.commands.outcomes import Answered
from csms.tables import ChargingSession, ConnectorStatusChange
from simulators.ocpp16 import ChargePoint16, connect16
from tests.e2e.command_helpers import (
    Commands,
    add_station,
    events,
    operator_api,
    root_certificate,
    wait_until,
)
from tests.e2e.conftest import StartNode, ocpp_url
from tests.e2e.test_cli import csms
from tests.media_helpers import allow
from tests.world import admin_token, make_entity, make_group, make_user, token_for


class World(Commands):
    """A node, an admin's API client, a station and its 1.6 simulator."""

    def __init__(self, node: Node, api: httpx.AsyncClient, station_id: int, cp: ChargePoint16):
        super().__init__(api, station_id)
        self.node, self.cp = node, cp


@asynccontextmanager
async def world(
    node: Node, charge_point_id: str, cp_class: type[ChargePoint16] = ChargePoint16, **options: Any
) -> AsyncIterator[World]:
    owner = await make_entity(f"Owner of {charge_point_id}")
    station_id = await add_station(charge_point_id, owner)
    token = await admin_token(owner)
    async with (
        operator_api(node, token) as api,
        connect16(
            ocpp_url(node), charge_point_id, connectors=2, cp_class=cp_class, cp_options=options
        ) as cp,
    ):
        assert (await cp.boot()).status == "Accepted"
        yield World(node, api, station_id, cp)


# -- sessions ---------------------------------------------------------------------------


async def test_remote_start_starts_a_session_and_remote_stop_ends_it(node: Node) -> None:
    """remote-start is Accepted and the charger starts a real session (in the
    database); remote-stop of that session id is Accepted and the charger
    stops it with reason Remote."""
    await allow("REMOTE-1")
    async with world(node, "CP-RS") as w:
        result = await w.answered("remote-start", {"id_tag": "REMOTE-1", "connector_id": 1})
        assert result["status"] == "Accepted"

        async def started() -> bool:
            return bool(
                await ChargingSession.exists()
                .where(
                    (ChargingSession.station == w.station_id)
                    & (ChargingSession.id_tag == "REMOTE-1")
                    & (ChargingSession.status == "active")
                )
                .run()
            )

        await wait_until(started)
        session = (
            await ChargingSession.select()
            .where(ChargingSession.station == w.station_id)
            .first()
            .run()
        )
        assert session is not None and session["connector_id"] == 1

        stopped = await w.answered("remote-stop", {"session_id": session["id"]})
        assert stopped["status"] == "Accepted"

        async def completed() -> bool:
            row = (
                await ChargingSession.select(ChargingSession.status, ChargingSession.stop_reason)
                .where(ChargingSession.id == session["id"])
                .first()
                .run()
            )
            return row is not None and row["status"] == "completed"

        await wait_until(completed)
        row = (
            await ChargingSession.select(ChargingSession.stop_reason)
            .where(ChargingSession.id == session["id"])
            .first()
            .run()
        )
        assert row is not None and row["stop_reason"] == "Remote"


async def test_remote_stop_of_an_unknown_transaction_is_unsupported(node: Node) -> None:
    """A stop of a session the system does not know is 422, nothing sent
    (as on 2.0.1)."""
    async with world(node, "CP-RS-UNKNOWN") as w:
        response = await w.command("remote-stop", {"session_id": 999_999})
        assert response.status_code == 422, response.text


# -- reset, availability, unlock --------------------------------------------------------


async def test_hard_reset_reboots_the_charger(node: Node) -> None:
    """reset hard is Accepted; the charger gets a Hard reset and boots again."""
    async with world(node, "CP-RESET") as w:
        boots_before = len(await events(w.station_id, "boot"))
        assert (await w.answered("reset", {"kind": "hard"}))["status"] == "Accepted"

        async def rebooted() -> bool:
            return len(await events(w.station_id, "boot")) > boots_before

        await wait_until(rebooted)
        assert w.cp.resets == ["Hard"]


async def test_soft_reset_is_soft(node: Node) -> None:
    """reset without a body is a soft reset."""
    async with world(node, "CP-SOFT", reboot_on_reset=False) as w:
        assert (await w.answered("reset", {}))["status"] == "Accepted"
        assert w.cp.resets == ["Soft"]


async def test_change_availability_makes_a_connector_inoperative(node: Node) -> None:
    """change-availability of connector 2 to inoperative is Accepted; the
    charger reports it Unavailable."""
    async with world(node, "CP-AVAIL") as w:
        result = await w.answered("change-availability", {"connector_id": 2, "operative": False})
        assert result["status"] == "Accepted"
        assert w.cp.connectors[2].operative is False

        async def reported() -> bool:
            row = (
                await ConnectorStatusChange.select(ConnectorStatusChange.status)
                .where(
                    (ConnectorStatusChange.station == w.station_id)
                    & (ConnectorStatusChange.connector_id == 2)
                )
                .order_by(ConnectorStatusChange.id, ascending=False)
                .first()
                .run()
            )
            return row is not None and row["status"] == "Unavailable"

        await wait_until(reported)


async def test_unlock_connector(node: Node) -> None:
    """unlock-connector answers Unlocked for a connector the charger has,
    NotSupported for one it has not."""
    async with world(node, "CP-UNLOCK") as w:
        assert (await w.answered("unlock-connector", {"connector_id": 1}))["status"] == "Unlocked"
        missing = await w.answered("unlock-connector", {"connector_id": 9})
        assert missing["status"] == "NotSupported"


# -- configuration ----------------------------------------------------------------------


async def test_change_configuration_changes_the_chargers_configuration(node: Node) -> None:
    """change-configuration is Accepted and get-configuration reads the new
    value back; an unknown key is listed as such."""
    async with world(node, "CP-CONF") as w:
        changed = await w.answered(
            "change-configuration", {"key": "HeartbeatInterval", "value": "77"}
        )
        assert changed["status"] == "Accepted"
        assert w.cp.config.get("HeartbeatInterval") == "77"

        read = await w.answered("get-configuration", {"keys": ["HeartbeatInterval", "NoSuchKey"]})
        assert read["data"]["configuration"] == [
            {"key": "HeartbeatInterval", "readonly": False, "value": "77"}
        ]
        assert read["data"]["unknown_keys"] == ["NoSuchKey"]


async def test_get_configuration_without_keys_reads_every_key(node: Node) -> None:
    """get-configuration with no body lists the charger's keys."""
    async with world(node, "CP-CONF-ALL") as w:
        read = await w.answered("get-configuration")
        keys = {item["key"] for item in read["data"]["configuration"]}
        assert {"HeartbeatInterval", "NumberOfConnectors"} <= keys


# -- messages, cache, local list --------------------------------------------------------


async def test_trigger_message_makes_the_charger_send_a_status(node: Node) -> None:
    """trigger-message StatusNotification for connector 1 is Accepted and a
    status report of connector 1 arrives."""
    async with world(node, "CP-TRIGGER") as w:

        async def reports() -> int:
            return await ConnectorStatusChange.count().where(
                (ConnectorStatusChange.station == w.station_id)
                & (ConnectorStatusChange.connector_id == 1)
            )

        before = await reports()
        result = await w.answered(
            "trigger-message", {"message": "StatusNotification", "connector_id": 1}
        )
        assert result["status"] == "Accepted"

        async def arrived() -> bool:
            return await reports() > before

        await wait_until(arrived)


async def test_clear_cache_empties_the_chargers_cache(node: Node) -> None:
    """clear-cache is Accepted and the charger's authorisation cache is empty."""
    async with world(node, "CP-CACHE") as w:
        w.cp.auth_cache["CACHED"] = {"status": "Accepted"}
        assert (await w.answered("clear-cache"))["status"] == "Accepted"
        assert w.cp.auth_cache == {}


async def test_send_local_list_and_read_its_version(node: Node) -> None:
    """get-local-list-version reads 0; after a full send-local-list of
    version 3 the charger holds the list and reads 3; a differential update
    removes an entry."""
    async with world(node, "CP-LIST") as w:
        assert (await w.answered("get-local-list-version"))["data"] == {"list_version": 0}
        sent = await w.answered(
            "send-local-list",
            {
                "version": 3,
                "update": "full",
                "entries": [
                    {"id_tag": "LIST-1", "status": "Accepted"},
                    {"id_tag": "LIST-2", "status": "Blocked", "parent_id": "GROUP"},
                ],
            },
        )
        assert sent["status"] == "Accepted"
        assert set(w.cp.local_list) == {"LIST-1", "LIST-2"}
        assert (await w.answered("get-local-list-version"))["data"] == {"list_version": 3}

        removed = await w.answered(
            "send-local-list",
            {"version": 4, "update": "differential", "entries": [{"id_tag": "LIST-2"}]},
        )
        assert removed["status"] == "Accepted"
        assert set(w.cp.local_list) == {"LIST-1"}


# -- reservations -------------------------------------------------------------------------


async def test_reserve_now_and_cancel_reservation(node: Node) -> None:
    """reserve-now reserves connector 1 at the charger; cancel-reservation
    releases it."""
    async with world(node, "CP-RESERVE") as w:
        expires = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        reserved = await w.answered(
            "reserve-now",
            {"reservation_id": 5, "connector_id": 1, "id_tag": "RES-1", "expires_at": expires},
        )
        assert reserved["status"] == "Accepted"
        reservation = w.cp.connectors[1].reservation
        assert reservation is not None and reservation.id_tag == "RES-1"

        cancelled = await w.answered("cancel-reservation", {"reservation_id": 5})
        assert cancelled["status"] == "Accepted"
        assert w.cp.connectors[1].reservation is None


async def test_reserve_now_needs_a_zoned_expiry(node: Node) -> None:
    """An expiry without a time zone is refused by the API (400), nothing sent."""
    async with world(node, "CP-RESERVE-NAIVE") as w:
        response = await w.command(
            "reserve-now",
            {
                "reservation_id": 5,
                "connector_id": 1,
                "id_tag": "RES-1",
                "expires_at": "2030-01-01T00:00:00",
            },
        )
        assert response.status_code == 400, response.text
        assert w.cp.connectors[1].reservation is None


# -- charging profiles --------------------------------------------------------------------

PROFILE = {
    "profile_id": 11,
    "stack_level": 0,
    "purpose": "TxDefaultProfile",
    "kind": "Absolute",
    "schedule": {
        "rate_unit": "W",
        "start_schedule": "2026-01-01T00:00:00Z",
        "periods": [{"start_period": 0, "limit": 7400.0}],
    },
}


async def test_set_and_clear_charging_profile(node: Node) -> None:
    """set-charging-profile installs the profile at the charger; the composite
    schedule is Accepted; clear-charging-profile removes it."""
    async with world(node, "CP-PROFILE") as w:
        installed = await w.answered(
            "set-charging-profile", {"connector_id": 1, "profile": PROFILE}
        )
        assert installed["status"] == "Accepted"
        assert (
            w.cp.profiles.clear(profile_id=11, connector_id=None, purpose=None, stack_level=None)
            == "Accepted"
        )
        # Installed again, then cleared through the API.
        await w.answered("set-charging-profile", {"connector_id": 1, "profile": PROFILE})
        schedule = await w.answered(
            "get-composite-schedule", {"connector_id": 1, "duration": 600, "rate_unit": "W"}
        )
        assert schedule["status"] == "Accepted"
        assert schedule["data"]["charging_schedule"]["charging_rate_unit"] == "W"
        cleared = await w.answered("clear-charging-profile", {"profile_id": 11})
        assert cleared["status"] == "Accepted"
        again = await w.answered("clear-charging-profile", {"profile_id": 11})
        assert again["status"] == "Unknown"


# -- firmware, diagnostics, data transfer ---------------------------------------------------


async def test_update_firmware_runs_the_update(node: Node) -> None:
    """update-firmware is answered (1.6 has no status); the charger downloads
    from the location and reports the installation."""
    async with world(node, "CP-FW", firmware_step_delay=0.0) as w:
        result = await w.answered(
            "update-firmware",
            {
                "location": f"http://127.0.0.1:{node.http_port}/healthz",
                "retrieve_at": datetime.now(UTC).isoformat(),
            },
        )
        assert result["status"] is None

        async def installed() -> bool:
            statuses = [e["status"] for e in await events(w.station_id, "firmware_status")]
            return "Installed" in statuses

        await wait_until(installed)


async def test_get_diagnostics_uploads(node: Node) -> None:
    """get-diagnostics answers the file name; the charger starts the upload
    to the location and reports how it ended (here UploadFailed: nothing
    takes uploads at that path)."""
    location = f"http://127.0.0.1:{node.http_port}/nowhere"
    async with world(node, "CP-DIAG", diagnostics_step_delay=0.0) as w:
        result = await w.answered("get-diagnostics", {"location": location})
        assert result["data"]["file_name"].startswith("diagnostics-CP-DIAG")

        async def finished() -> bool:
            statuses = [e["status"] for e in await events(w.station_id, "diagnostics_status")]
            return statuses[:1] == ["Uploading"] and len(statuses) == 2

        await wait_until(finished)
        statuses = [e["status"] for e in await events(w.station_id, "diagnostics_status")]
        assert statuses == ["Uploading", "UploadFailed"]


async def test_data_transfer_is_answered(node: Node) -> None:
    """data-transfer to the charger's vendor id comes back with its data."""
    async with world(node, "CP-DT") as w:
        result = await w.answered(
            "data-transfer", {"vendor_id": "SimVendor", "message_id": "echo", "data": "ping"}
        )
        assert result == {"result": "answered", "status": "Accepted", "data": {"data": "ping"}}
        other = await w.answered("data-transfer", {"vendor_id": "Other"})
        assert other["status"] == "UnknownVendorId"


# -- the security extension -------------------------------------------------------------------


async def test_get_log_of_the_security_extension(node: Node) -> None:
    """get-log is the security extension's GetLog with the caller's request id."""
    async with world(node, "CP-LOG") as w:
        result = await w.answered(
            "get-log",
            {
                "location": f"http://127.0.0.1:{node.http_port}/nowhere",
                "log_type": "SecurityLog",
                "request_id": 31,
            },
        )
        assert result["status"] == "Accepted"
        assert result["data"]["filename"].startswith("SecurityLog-CP-LOG")
        assert w.cp.log_request_id == 31


async def test_install_list_and_delete_a_certificate(node: Node) -> None:
    """install-certificate of a CSMSRootCertificate is 1.6's
    CentralSystemRootCertificate; get-installed-certificate-ids lists it and
    delete-certificate removes it."""
    async with world(node, "CP-CERT") as w:
        installed = await w.answered(
            "install-certificate",
            {"certificate_type": "CSMSRootCertificate", "certificate": root_certificate()},
        )
        assert installed["status"] == "Accepted"
        listed = await w.answered("get-installed-certificate-ids")
        assert listed["status"] == "Accepted"
        (hash_data,) = listed["data"]["certificate_hash_data"]
        assert (await w.answered("delete-certificate", hash_data))["status"] == "Accepted"
        listed = await w.answered("get-installed-certificate-ids")
        assert listed["status"] == "NotFound"


async def test_security_triggers_go_as_extended_trigger_message(node: Node) -> None:
    """trigger-message LogStatusNotification is an ExtendedTriggerMessage the
    charger accepts (plain 1.6 TriggerMessage has no such message)."""
    async with world(node, "CP-XTRIGGER") as w:
        result = await w.answered("trigger-message", {"message": "LogStatusNotification"})
        assert result["status"] == "Accepted"


# -- results other than an answer -------------------------------------------------------------


class FailingClearCache(ChargePoint16):
    @on(Action.clear_cache)
    def on_clear_cache(self, **_: Any) -> Any:
        raise GenericError(description="cache is on fire")


class HoldingClearCache(ChargePoint16):
    """Answers ClearCache only once ``release`` is set."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    @on(Action.clear_cache)
    async def on_clear_cache(self, **_: Any) -> Any:
        from ocpp.v16 import call_result

        self.entered.set()
        await self.release.wait()
        return call_result.ClearCache(status="Accepted")


async def test_callerror_is_call_failed(node: Node) -> None:
    """A CALLERROR from the charger is 502 call_failed with its code and text."""
    async with world(node, "CP-FAIL", cp_class=FailingClearCache) as w:
        response = await w.command("clear-cache")
        assert response.status_code == 502
        assert response.json() == {
            "result": "call_failed",
            "error_code": "GenericError",
            "description": "cache is on fire",
            "details": {},
        }


async def test_no_answer_is_timed_out(node: Node) -> None:
    """A charger that does not answer within the timeout gives 504 timed_out."""
    async with world(node, "CP-SLOW", cp_class=HoldingClearCache) as w:
        assert isinstance(w.cp, HoldingClearCache)
        try:
            response = await w.command("clear-cache", timeout=0.2)
            assert response.status_code == 504, response.text
            assert response.json() == {"result": "timed_out", "seconds": 0.2}
        finally:
            w.cp.release.set()


async def test_full_queue_is_busy(start_node: StartNode) -> None:
    """With one call in flight and CSMS_COMMAND_QUEUE (1) waiting, the next
    command is 503 busy with Retry-After and is not sent; the queued one is
    sent once the first is answered."""
    node = await start_node(command_queue=1)
    async with world(node, "CP-BUSY", cp_class=HoldingClearCache) as w:
        cp = w.cp
        assert isinstance(cp, HoldingClearCache)
        first = asyncio.create_task(w.command("clear-cache"))
        await cp.entered.wait()
        second = asyncio.create_task(w.command("get-local-list-version"))
        rpc = node.gateway.registry.get("CP-BUSY").rpc  # type: ignore[union-attr]

        async def queued() -> bool:
            return bool(rpc.calls_waiting == 1)

        await wait_until(queued)
        busy = await w.command("get-configuration")
        assert busy.status_code == 503
        assert busy.headers["Retry-After"] == "5"
        assert busy.json() == {"result": "busy", "queued": 1}

        cp.release.set()
        assert (await first).json()["status"] == "Accepted"
        assert (await second).json()["data"] == {"list_version": 0}


async def test_station_not_connected(node: Node) -> None:
    """A known station without a connection is 409 not_connected."""
    owner = await make_entity("Owner")
    station_id = await add_station("CP-OFF", owner)
    async with operator_api(node, await admin_token(owner)) as api:
        response = await api.post(f"/stations/{station_id}/commands/clear-cache")
    assert response.status_code == 409
    assert response.json() == {"result": "not_connected"}


async def test_2_0_1_only_command_is_unsupported(node: Node) -> None:
    """get-variables on a 1.6 station is 422 unsupported, nothing is sent."""
    async with world(node, "CP-UNSUP") as w:
        response = await w.command(
            "get-variables", {"variables": [{"component": "OCPPCommCtrlr", "variable": "X"}]}
        )
        assert response.status_code == 422
        assert response.json()["result"] == "unsupported"
        assert "2.0.1" in response.json()["reason"]


# -- who may command --------------------------------------------------------------------------


async def test_permission_and_scope(node: Node) -> None:
    """Without stations:command 403; another entity's station 404 (even for
    a user who may command its own stations); with stations:command on the
    owner the command goes through."""
    operator = await make_entity("Operator")
    owner = await make_entity("Owner", parent=operator)
    other = await make_entity("Other", parent=operator)
    station_id = await add_station("CP-SCOPE", owner)
    reader = await make_user([owner], [await make_group(owner, permissions=["stations:read"])])
    outsider = await make_user([other], [await make_group(other, permissions=["*"])])
    commander = await make_user(
        [owner], [await make_group(owner, permissions=["stations:read", "stations:command"])]
    )
    async with connect16(ocpp_url(node), "CP-SCOPE") as cp:
        await cp.boot()
        for user, entity, expected in (
            (reader, owner, 403),
            (outsider, other, 404),
            (commander, owner, 200),
        ):
            async with operator_api(node, await token_for(user, entity)) as api:
                response = await api.post(f"/stations/{station_id}/commands/clear-cache")
            assert response.status_code == expected, (user, response.text)


# -- the connection while a command waits -----------------------------------------------------


async def test_charger_calls_are_answered_while_a_command_waits(node: Node) -> None:
    """While our call waits for its answer, the charger's own call is
    answered, and our answer (sent after it) is matched to our call."""
    await add_station("CP-RAW")
    async with websockets.connect(
        f"{ocpp_url(node)}/CP-RAW", subprotocols=[websockets.Subprotocol("ocpp1.6")]
    ) as ws:
        await ws.send(
            json.dumps(
                [2, "boot", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]
            )
        )
        assert json.loads(await ws.recv())[2]["status"] == "Accepted"

        command = asyncio.create_task(node.commands.send("CP-RAW", ClearCache()))
        ours = json.loads(await ws.recv())
        assert ours[0] == 2 and ours[2] == "ClearCache"

        await ws.send(json.dumps([2, "hb-1", "Heartbeat", {}]))
        heartbeat = json.loads(await ws.recv())
        assert heartbeat[0] == 3 and heartbeat[1] == "hb-1" and "currentTime" in heartbeat[2]
        assert not command.done()

        await ws.send(json.dumps([3, ours[1], {"status": "Rejected"}]))
        assert await command == Answered(status="Rejected", data={})


async def test_commands_and_the_chargers_answers_are_in_the_message_log(node: Node) -> None:
    """The system's own calls are logged like the charger's: the call going
    out and the charger's answer coming in, under one unique id, readable
    with `csms station messages`."""
    async with world(node, "CP-LOGGED") as w:
        await w.answered("change-configuration", {"key": "HeartbeatInterval", "value": "91"})

        async def logged() -> list[dict[str, Any]]:
            shown = await asyncio.to_thread(
                csms, "station", "messages", "CP-LOGGED", "--json", "--limit", "100"
            )
            assert shown.returncode == 0, shown.stderr
            rows: list[dict[str, Any]] = json.loads(shown.stdout)
            return [r for r in rows if r["action"] == "ChangeConfiguration"]

        async def both_logged() -> bool:
            return len(await logged()) == 2

        await wait_until(both_logged)
        call, answer = await logged()
        assert (call["direction"], call["message_type"]) == ("out", 2)
        assert json.loads(call["payload"]) == {"key": "HeartbeatInterval", "value": "91"}
        assert (answer["direction"], answer["message_type"]) == ("in", 3)
        assert json.loads(answer["payload"]) == {"status": "Accepted"}
        assert call["unique_id"] == answer["unique_id"]
