"""The station page's operations in a real browser (Debian's Chromium,
headless) on a real node with simulated chargers connected: every remote
command form sends its command and shows the charger's answer (or the
not-connected result), bad input shows the field's message, the
configuration / device model, firmware, uploads and security sections
show what the services hold, and a station is created and removed from
the stations list.

Run: ``python -m pytest tests/e2e/test_admin_ui_station_ops.py -q -p no:randomly``
(needs /usr/bin/chromium). Screenshots: CSMS_UI_SCREENSHOTS=1 writes
docs/screenshots/station-commands.png."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from ocpp.exceptions import GenericError
from ocpp.routing import on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

from admin_ui.web.station_ops import field_message, log_facts
from csms.tables import ChargingSession, Station
from simulators.ocpp16 import ChargePoint16, connect16
from simulators.ocpp201 import connect201
from tests.e2e.command_helpers import add_station, wait_until
from tests.e2e.ui_helpers import UiNode, chromium_or_skip, login, operator_user, screenshot
from tests.media_helpers import allow
from tests.world import make_entity

TAG = "OPS-TAG-1"
COMMAND_TIMEOUT = 2.0
EMAIL = "olga@ops.example"


@pytest.fixture(scope="module")
def ui_node() -> Iterator[UiNode]:
    chromium_or_skip()
    ui = UiNode()
    try:
        # Commands wait 2 s for an answer (the timeout test waits that long).
        ui.start(command_timeout=COMMAND_TIMEOUT)
        ui.launch()
        yield ui
    finally:
        ui.stop()


async def _world() -> dict[str, Any]:
    owner = await make_entity("Ops Energie GmbH")
    station16 = await add_station("CP-OPS-16", owner)
    station201 = await add_station("CP-OPS-201", owner)
    idle = await add_station("CP-OPS-IDLE", owner)
    await allow(TAG, issuer=owner)
    await operator_user([owner], email=EMAIL)
    await operator_user([owner], email="rita@ops.example", permissions=("stations:read",))
    return {"owner": owner, "16": station16, "201": station201, "idle": idle}


@pytest.fixture
def world(ui_node: UiNode) -> dict[str, Any]:
    ui_node.empty()
    return ui_node.run(_world())


@asynccontextmanager
async def charger16(ui: UiNode, **options: Any) -> AsyncIterator[ChargePoint16]:
    cp_options = {"reboot_on_reset": False, "firmware_step_delay": 0.05, **options}
    async with connect16(ui.ocpp_url(), "CP-OPS-16", cp_options=cp_options) as cp:
        assert (await cp.boot()).status == "Accepted"
        yield cp


async def station_page(ui: UiNode, station: int, email: str = EMAIL) -> Any:
    page = await ui.new_page()
    base = ui.base_url
    await login(page, base, email)
    await page.wait_for_url(base + "/")
    await page.goto(f"{base}/stations/{station}")
    return page


async def submit(page: Any, form: str, fields: dict[str, str] | None = None) -> str:
    """Fills the command form ``form`` (data-testid cmd-<form>), submits it,
    and gives back the answer the page shows."""
    scope = page.get_by_test_id(f"cmd-{form}")
    for name, value in (fields or {}).items():
        element = scope.locator(f"[name={name}]")
        if await element.evaluate("e => e.tagName") == "SELECT":
            await element.select_option(value)
        else:
            await element.fill(value)
    async with page.expect_navigation():
        await scope.locator("button[type=submit]").click()
    return str(await page.get_by_test_id("command-result").inner_text())


def test_each_basic_command_form_sends_its_command_and_shows_the_answer(
    ui_node: UiNode, world: dict[str, Any]
) -> None:
    """Reset, unlock, availability, trigger message, clear cache and the
    local list sync each reach the connected 1.6 charger (it records the
    call) and the page shows its answer."""

    async def body() -> None:
        async with charger16(ui_node) as cp:
            page = await station_page(ui_node, world["16"])
            answer = await submit(page, "reset", {"kind": "hard"})
            assert answer == "The charger answered: Accepted"
            assert cp.received_calls("Reset")[-1]["type"] == "Hard"
            answer = await submit(page, "unlock", {"connector_id": "1"})
            assert answer == "The charger answered: Unlocked"
            assert cp.received_calls("UnlockConnector")[-1]["connector_id"] == 1
            answer = await submit(page, "availability", {"connector_id": "1", "operative": "no"})
            assert answer == "The charger answered: Accepted"
            assert cp.received_calls("ChangeAvailability")[-1]["type"] == "Inoperative"
            answer = await submit(page, "trigger", {"message": "Heartbeat"})
            assert answer == "The charger answered: Accepted"
            assert cp.received_calls("TriggerMessage")[-1]["requested_message"] == "Heartbeat"
            answer = await submit(page, "clear-cache")
            assert answer == "The charger answered: Accepted"
            assert len(cp.received_calls("ClearCache")) == 1
            answer = await submit(page, "local-list", {"full": "yes"})
            assert answer.startswith("The station holds the list: version 1, 1 entries (full")
            assert cp.received_calls("SendLocalList")[-1]["update_type"] == "Full"
            state = await page.get_by_test_id("local-list-state").inner_text()
            assert state == "Version 1, 1 entries"
            await page.context.close()

    ui_node.run(body(), timeout=90)


def test_remote_start_and_the_remote_stop_form_run_a_session(
    ui_node: UiNode, world: dict[str, Any]
) -> None:
    """Remote start with an id tag starts a session on the charger; the
    remote stop form with that session's number ends it; the page shows
    Accepted both times."""

    async def body() -> None:
        async with charger16(ui_node, remote_meter_interval=0) as cp:
            page = await station_page(ui_node, world["16"])
            answer = await submit(page, "remote-start", {"id_tag": TAG, "connector_id": "1"})
            assert answer == "The charger answered: Accepted"
            await wait_until(lambda: _session(world["16"], "active"))
            session = await _session(world["16"], "active")
            assert session is not None
            answer = await submit(page, "remote-stop", {"session_id": str(session["id"])})
            assert answer == "The charger answered: Accepted"
            assert cp.received_calls("RemoteStopTransaction")
            await wait_until(lambda: _session(world["16"], "completed"))
            await page.context.close()

    ui_node.run(body(), timeout=90)


async def _session(station: int, status: str) -> dict[str, Any] | None:
    row: dict[str, Any] | None = (
        await ChargingSession.select(ChargingSession.id)
        .where((ChargingSession.station == station) & (ChargingSession.status == status))
        .first()
        .run()
    )
    return row


def test_configuration_is_read_changed_and_shown_in_its_section(
    ui_node: UiNode, world: dict[str, Any]
) -> None:
    """Get configuration of one key shows its value in the answer's table;
    change configuration sets it on the charger (Accepted); get
    configuration of every key fills the configuration section, where
    the changed value shows."""

    async def body() -> None:
        async with charger16(ui_node) as cp:
            page = await station_page(ui_node, world["16"])
            assert "No configuration read yet" in await page.inner_text("#configuration")
            answer = await submit(page, "get-configuration", {"keys": "HeartbeatInterval"})
            assert answer == "The charger answered."
            table = await page.get_by_test_id("command-data").inner_text()
            assert "HeartbeatInterval" in table
            answer = await submit(
                page, "change-configuration", {"key": "HeartbeatInterval", "value": "123"}
            )
            assert answer == "The charger answered: Accepted"
            assert cp.config.get("HeartbeatInterval") == "123"
            await submit(page, "get-configuration", {"keys": ""})
            await page.reload()
            section = page.get_by_test_id("configuration")
            await section.locator("input[aria-label=HeartbeatInterval]").wait_for()
            value = await section.locator("input[aria-label=HeartbeatInterval]").input_value()
            assert value == "123"
            rows = await section.locator("tbody tr").count()
            assert rows > 10
            await page.context.close()

    ui_node.run(body(), timeout=90)


def test_firmware_is_uploaded_sent_and_its_status_shown(
    ui_node: UiNode, world: dict[str, Any]
) -> None:
    """A firmware image uploaded on the page is offered by the update
    form; the update sends UpdateFirmware with its download URL (the
    charger downloads it and reports Installed, which the firmware section
    shows); a diagnostics request has the charger upload a file that the
    uploads table lists and downloads."""
    image = b"\x7fELF firmware 3.0 " * 1000

    async def body() -> None:
        async with charger16(ui_node, diagnostics_step_delay=0.05) as cp:
            page = await station_page(ui_node, world["16"])
            await page.set_input_files(
                "#firmware-file",
                files=[
                    {"name": "fw-3.0.bin", "mimeType": "application/octet-stream", "buffer": image}
                ],
            )
            async with page.expect_navigation():
                await page.click("[data-testid=firmware-upload] button[type=submit]")
            result = await page.get_by_test_id("command-result").inner_text()
            assert result.startswith("Firmware fw-3.0.bin uploaded (18000 bytes)")
            select = page.locator("#firmware-update-firmware_id")
            option = select.locator("option", has_text="fw-3.0.bin")
            firmware_id = await option.get_attribute("value")
            assert firmware_id
            answer = await submit(page, "firmware-update", {"firmware_id": firmware_id})
            assert answer == "The charger answered."
            location = cp.received_calls("UpdateFirmware")[-1]["location"]
            assert "/files/firmware/" in location and location.endswith("/fw-3.0.bin")
            await wait_until(lambda: _downloaded(cp, image))
            await asyncio.sleep(0.3)
            await page.goto(f"{ui_node.base_url}/stations/{world['16']}#firmware")
            status = await page.get_by_test_id("firmware-status").inner_text()
            assert "Installed" in status
            answer = await submit(page, "log-request", {"kind": "diagnostics"})
            assert answer.startswith("The charger answered")
            await wait_until(lambda: _uploaded(cp))
            await asyncio.sleep(0.2)
            await page.goto(f"{ui_node.base_url}/stations/{world['16']}#firmware")
            link = page.get_by_test_id("uploads").locator("a")
            assert (await link.inner_text()).startswith("diagnostics-CP-OPS-16")
            async with page.expect_download() as waiting:
                await link.click()
            download = await waiting.value
            path = await download.path()
            content = await asyncio.to_thread(Path(path).read_bytes)
            assert cp.uploads[-1].ok and len(content) == cp.uploads[-1].size > 0
            await page.context.close()

    ui_node.run(body(), timeout=120)


async def _downloaded(cp: ChargePoint16, image: bytes) -> bool:
    return any(d.content == image for d in cp.downloads)


async def _uploaded(cp: ChargePoint16) -> bool:
    return bool(cp.uploads)


def test_variables_of_a_201_station_are_read_and_set(
    ui_node: UiNode, world: dict[str, Any]
) -> None:
    """On a 2.0.1 station the page offers get / set variable (not the 1.6
    configuration forms): set OCPPCommCtrlr.HeartbeatInterval answers
    Accepted and get reads the new value back in the answer's table; a full
    base report fills the device-model section."""

    async def body() -> None:
        async with connect201(ui_node.ocpp_url(), "CP-OPS-201", boot=True):
            page = await station_page(ui_node, world["201"])
            assert await page.get_by_test_id("cmd-get-configuration").count() == 0
            answer = await submit(
                page,
                "set-variables",
                {"component": "OCPPCommCtrlr", "variable": "HeartbeatInterval", "value": "77"},
            )
            assert answer == "The charger answered: Accepted"
            answer = await submit(
                page,
                "get-variables",
                {"component": "OCPPCommCtrlr", "variable": "HeartbeatInterval"},
            )
            assert answer == "The charger answered: Accepted"
            table = await page.get_by_test_id("command-data").inner_text()
            assert "HeartbeatInterval" in table and "77" in table
            assert "reported no variables yet" in await page.inner_text("#configuration")
            answer = await submit(page, "get-base-report", {"report": "FullInventory"})
            assert answer == "The charger answered: Accepted"
            await wait_until(lambda: _variables_stored(ui_node, page, world["201"]))
            variables = await page.get_by_test_id("variables").inner_text()
            assert "OCPPCommCtrlr" in variables and "HeartbeatInterval" in variables
            await page.context.close()

    ui_node.run(body(), timeout=90)


async def _variables_stored(ui: UiNode, page: Any, station: int) -> bool:
    await page.goto(f"{ui.base_url}/stations/{station}#configuration")
    return bool(await page.locator("table[data-testid=variables]").count())


def test_a_command_to_a_disconnected_station_says_not_connected(
    ui_node: UiNode, world: dict[str, Any]
) -> None:
    """No charger holds CP-OPS-IDLE: reset, get configuration and the
    local list sync each say the station is not connected."""

    async def body() -> None:
        page = await station_page(ui_node, world["idle"])
        for form, fields in (
            ("reset", {"kind": "soft"}),
            ("get-configuration", {"keys": ""}),
            ("local-list", {}),
        ):
            assert await submit(page, form, fields) == "The station is not connected.", form
        await page.context.close()

    ui_node.run(body(), timeout=60)


class SilentClearCache(ChargePoint16):
    """Answers ClearCache only once ``release`` is set."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.release = asyncio.Event()

    @on(Action.clear_cache)
    async def on_clear_cache(self, **_: Any) -> Any:
        await self.release.wait()
        return call_result.ClearCache(status="Accepted")


class FailingUnlock(ChargePoint16):
    @on(Action.unlock_connector)
    def on_unlock_connector(self, **_: Any) -> Any:
        raise GenericError(description="the latch is stuck")


def test_no_answer_and_a_callerror_are_shown_as_such(
    ui_node: UiNode, world: dict[str, Any]
) -> None:
    """A charger that does not answer ClearCache within the command timeout
    makes the page say so (with the seconds); one that answers UnlockConnector
    with a CALLERROR makes it show the error code and text."""

    async def body() -> None:
        async with connect16(ui_node.ocpp_url(), "CP-OPS-16", cp_class=SilentClearCache) as cp:
            assert (await cp.boot()).status == "Accepted"
            page = await station_page(ui_node, world["16"])
            try:
                answer = await submit(page, "clear-cache")
            finally:
                cp.release.set()  # type: ignore[attr-defined]
            assert answer == "No answer from the charger within 2 s."
            await page.context.close()
        async with connect16(ui_node.ocpp_url(), "CP-OPS-16", cp_class=FailingUnlock) as cp:
            assert (await cp.boot()).status == "Accepted"
            page = await station_page(ui_node, world["16"])
            answer = await submit(page, "unlock", {"connector_id": "1"})
            assert answer == "The charger refused: GenericError the latch is stuck"
            await page.context.close()

    ui_node.run(body(), timeout=60)


def test_bad_command_input_shows_the_fields_message(ui_node: UiNode, world: dict[str, Any]) -> None:
    """A non-numeric connector, a configuration key with a space, an update
    without a firmware image, a connector below 1 and a component name with
    a slash are refused with the message beside the field (400), and
    nothing is sent."""

    async def body() -> None:
        async with charger16(ui_node) as cp:
            page = await station_page(ui_node, world["16"])
            response = None

            async def send(form: str, fields: dict[str, str]) -> int:
                scope = page.get_by_test_id(f"cmd-{form}")
                for name, value in fields.items():
                    await scope.locator(f"[name={name}]").fill(value)
                async with page.expect_navigation() as navigation:
                    await scope.locator("button[type=submit]").click()
                nonlocal response
                response = await navigation.value
                return int(response.status)

            assert await send("availability", {"connector_id": "one"}) == 400
            assert await page.inner_text("#availability_connector-error") == "Enter a whole number."
            assert await send("change-configuration", {"key": "Heartbeat Interval"}) == 400
            assert (await page.inner_text("#change-configuration-key-error")).startswith(
                "A configuration key is 1 to 50 letters"
            )
            assert await send("get-configuration", {"keys": "HeartbeatInterval, Bad/Key"}) == 400
            assert (await page.inner_text("#get-configuration-keys-error")).startswith(
                "A configuration key is 1 to 50 letters"
            )
            assert await send("firmware-update", {}) == 400
            assert (
                await page.inner_text("#firmware-update-firmware_id-error")
                == "Choose a firmware image."
            )
            assert await send("trigger", {"connector_id": "-4"}) == 400
            assert await page.inner_text("#trigger-connector_id-error") == (
                "Enter a number from 1 to 1000."
            )
            assert not cp.received_calls("ChangeAvailability")
            assert not cp.received_calls("ChangeConfiguration")
            assert not cp.received_calls("TriggerMessage")
            assert not cp.received_calls("GetConfiguration")
            # A station that never connected offers the 2.0.1 forms as well.
            await page.goto(f"{ui_node.base_url}/stations/{world['idle']}")
            assert await send("get-variables", {"component": "a/b", "variable": "x"}) == 400
            assert (await page.inner_text("#get-variables-component-error")).startswith(
                "Enter a name of 1 to 50"
            )
            await page.context.close()

    ui_node.run(body(), timeout=60)


def test_the_commands_section_with_an_answer(ui_node: UiNode, world: dict[str, Any]) -> None:
    """The commands section after a configuration read shows the answer's
    keys as a table (screenshot station-commands.png); the section links of
    the page lead to each section."""

    async def body() -> None:
        async with charger16(ui_node):
            page = await station_page(ui_node, world["16"])
            links = await page.get_by_test_id("station-sections").locator("a").all_inner_texts()
            assert links[:6] == [
                "Status",
                "Commands",
                "Configuration",
                "Firmware and uploads",
                "Security",
                "OCPP messages",
            ]
            await submit(
                page,
                "get-configuration",
                {"keys": "HeartbeatInterval, MeterValueSampleInterval, NumberOfConnectors"},
            )
            rows = page.get_by_test_id("command-data").locator("tbody tr")
            assert await rows.count() == 3
            await page.locator("#commands").scroll_into_view_if_needed()
            await page.evaluate("document.getElementById('commands').scrollIntoView()")
            await screenshot(page, "station-commands")
            await page.context.close()

    ui_node.run(body(), timeout=60)


def test_a_reader_sees_the_sections_but_no_command_forms(
    ui_node: UiNode, world: dict[str, Any]
) -> None:
    """A user with stations:read only sees configuration, firmware and
    security sections but no command form, and a POST of a command answers
    403."""

    async def body() -> None:
        page = await station_page(ui_node, world["16"], "rita@ops.example")
        assert await page.locator("#commands").count() == 0
        for section in ("#configuration", "#firmware", "#security", "#live-log"):
            assert await page.locator(section).count() == 1, section
        await page.context.close()

    ui_node.run(body(), timeout=60)


async def _station_named(charge_point_id: str) -> dict[str, Any] | None:
    row: dict[str, Any] | None = (
        await Station.select(Station.id, Station.description, Station.auth_secret_hash)
        .where(Station.charge_point_id == charge_point_id)
        .first()
        .run()
    )
    return row


def test_a_station_is_created_and_removed_from_the_stations_list(
    ui_node: UiNode, world: dict[str, Any]
) -> None:
    """The list's form adds a station (a generated secret is shown once and
    stored as a hash); an id with a slash and a taken id show the field's
    message; the new station's Remove link asks for confirmation and then
    removes it, while a station with a session is kept with the reason."""

    async def body() -> None:
        page = await ui_node.new_page()
        base = ui_node.base_url
        await login(page, base, EMAIL)
        await page.wait_for_url(base + "/")
        await page.goto(base + "/stations")
        form = page.get_by_test_id("create-station")
        await form.locator("summary").click()
        await page.fill("#new-charge_point_id", "CP/BAD")
        async with page.expect_navigation() as navigation:
            await page.click("button:has-text('Add station')")
        assert (await navigation.value).status == 400
        assert await page.inner_text("#new-charge_point_id-error") != ""
        await page.fill("#new-charge_point_id", "CP-OPS-16")
        async with page.expect_navigation():
            await page.click("button:has-text('Add station')")
        assert (
            await page.inner_text("#new-charge_point_id-error")
            == "A station with this charge point id exists."
        )
        await page.fill("#new-charge_point_id", "CP-OPS-NEW")
        await page.fill("#new-description", "Depot bay 4")
        await page.check("[name=generate_secret]")
        async with page.expect_navigation() as navigation:
            await page.click("button:has-text('Add station')")
        assert (await navigation.value).status == 201
        notice = await page.get_by_test_id("stations-notice").inner_text()
        assert notice.startswith(
            "Station CP-OPS-NEW added. Its basic-auth secret, shown this once:"
        )
        secret = notice.split("shown this once: ")[1].split()[0]
        row = await _station_named("CP-OPS-NEW")
        assert row is not None and row["description"] == "Depot bay 4"
        assert row["auth_secret_hash"] and secret not in row["auth_secret_hash"]
        await page.goto(base + "/stations?q=CP-OPS-NEW")
        await page.click("[data-testid=remove-CP-OPS-NEW]")
        await page.wait_for_url(f"{base}/stations/{row['id']}/remove")
        assert await _station_named("CP-OPS-NEW") is not None
        await page.click("[data-testid=remove-confirmation] button:has-text('Remove station')")
        await page.wait_for_url(base + "/stations?removed=CP-OPS-NEW")
        assert await page.get_by_test_id("stations-notice").inner_text() == (
            "Station CP-OPS-NEW removed."
        )
        assert await _station_named("CP-OPS-NEW") is None
        # A station with a session stays, and the page says why.
        async with charger16(ui_node) as cp:
            await cp.run_session(1, id_tag=TAG, duration=0.1, meter_interval=0)
        await page.goto(f"{base}/stations/{world['16']}/remove")
        async with page.expect_navigation() as navigation:
            await page.click("[data-testid=remove-confirmation] button:has-text('Remove station')")
        assert (await navigation.value).status == 409
        assert "has sessions" in await page.get_by_test_id("remove-error").inner_text()
        assert await _station_named("CP-OPS-16") is not None
        await page.context.close()

    ui_node.run(body(), timeout=90)


def _message(
    direction: str, message_type: int, unique_id: str, action: str, payload: str
) -> SimpleNamespace:
    return SimpleNamespace(
        direction=direction,
        message_type=message_type,
        unique_id=unique_id,
        action=action,
        payload=payload,
        logged_at=datetime(2026, 12, 6, tzinfo=UTC),
    )


def test_the_configuration_section_merges_a_partial_read_into_the_full_one() -> None:
    """From the message log: a full GetConfiguration, then a read of one
    key: every key of the full read shows, the newer value wins, and an
    older full read before it is not looked at; the latest firmware status
    is the newest FirmwareStatusNotification's."""
    full = '{"configurationKey": [%s]}'
    key = '{"key": "%s", "readonly": %s, "value": "%s"}'
    messages = [
        _message("out", 2, "a", "GetConfiguration", "{}"),
        _message("in", 3, "a", "GetConfiguration", full % key % ("Stale", "false", "1")),
        _message("in", 2, "f1", "FirmwareStatusNotification", '{"status": "Downloading"}'),
        _message("out", 2, "b", "GetConfiguration", "{}"),
        _message(
            "in",
            3,
            "b",
            "GetConfiguration",
            full
            % ", ".join([key % ("HeartbeatInterval", "false", "300"), key % ("X", "true", "y")]),
        ),
        _message("out", 2, "c", "GetConfiguration", '{"key": ["HeartbeatInterval"]}'),
        _message(
            "in", 3, "c", "GetConfiguration", full % key % ("HeartbeatInterval", "false", "60")
        ),
        _message("in", 2, "f2", "FirmwareStatusNotification", '{"status": "Installed"}'),
    ]
    facts = log_facts(messages)
    assert facts["configuration"] == [
        {"key": "HeartbeatInterval", "value": "60", "readonly": False},
        {"key": "X", "value": "y", "readonly": True},
    ]
    assert facts["firmware_status"]["status"] == "Installed"
    assert facts["upload_status"] is None


def test_an_api_message_naming_a_field_goes_beside_that_field() -> None:
    """ "charge_point_id: ..." belongs to that field; a message naming no
    field of the form is the form's."""
    fields = ("charge_point_id", "secret")
    assert field_message("charge_point_id: too long", fields) == ("charge_point_id", "too long")
    assert field_message("owner_entity_id: no", fields) == ("form", "owner_entity_id: no")
    assert field_message("plain", fields) == ("form", "plain")
