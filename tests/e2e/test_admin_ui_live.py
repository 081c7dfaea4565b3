"""The station page live, in a real browser: two real nodes sharing a bus
(as an installation's processes share Redis), the page served by node one,
a simulated OCPP 1.6 charger connected to node two. The charger's session
appears on the page without a reload (server-sent events fed from the
bus), a remote stop from the page ends it, and bad command input shows the
field's message.

Run: ``python -m pytest tests/e2e/test_admin_ui_live.py -q`` (needs
/usr/bin/chromium)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from csms.bootstrap import InProcessCluster
from csms.tables import ChargingSession
from simulators.ocpp16 import connect16
from tests.e2e.command_helpers import add_station, wait_until
from tests.e2e.ui_helpers import (
    UiNode,
    chromium_or_skip,
    follow_live_link,
    logged_in_page,
    operator_user,
    screenshot,
)
from tests.media_helpers import allow
from tests.world import make_entity

TAG = "LIVE-TAG-1"


@pytest.fixture(scope="module")
def ui_node() -> Iterator[UiNode]:
    """Node one (serves the pages) and node two (holds the charger), one
    browser."""
    chromium_or_skip()
    ui = UiNode()
    try:
        cluster = InProcessCluster()
        ui.start(cluster=cluster, node_name="node-one")
        ui.start_node(cluster=cluster, node_name="node-two")
        ui.launch()
        yield ui
    finally:
        ui.stop()


async def _world() -> dict[str, Any]:
    owner = await make_entity("Alpha Energie GmbH")
    station = await add_station("CP-LIVE-1", owner)
    await allow(TAG, issuer=owner)
    await operator_user([owner], email="anna@alpha.example")
    await operator_user([owner], email="hugo@alpha.example", hidden=("stations.serial_number",))
    return {"owner": owner, "station": station}


@pytest.fixture
def world(ui_node: UiNode) -> dict[str, Any]:
    ui_node.empty()
    return ui_node.run(_world())


async def _session_status(station: int) -> str | None:
    rows = await ChargingSession.select(ChargingSession.status).where(
        ChargingSession.station == station
    )
    return rows[0]["status"] if rows else None


def test_a_chargers_session_appears_live_and_the_page_stops_it(
    ui_node: UiNode, world: dict[str, Any]
) -> None:
    """With the station page open on node one, a charger on node two boots
    and starts a session: the page shows it Online and Charging without
    navigating; its Stop button sends RemoteStopTransaction (the page shows
    the charger's 'Accepted') and the session ends (Completed, live)."""
    station = world["station"]
    two = ui_node.nodes[1]

    async def body() -> None:
        page = await logged_in_page(ui_node, "anna@alpha.example", f"/stations/{station}")
        await page.wait_for_selector("#live[data-listening]")
        assert await page.get_by_test_id("station-state").inner_text() == "Offline"
        # A marker that a navigation (reload) would wipe out.
        await page.evaluate("window.stillTheSamePage = true")
        async with connect16(ui_node.ocpp_url(two), "CP-LIVE-1") as cp:
            assert (await cp.boot()).status == "Accepted"
            charging = asyncio.create_task(
                cp.run_session(1, id_tag=TAG, duration=None, meter_interval=0)
            )
            await page.wait_for_selector("[data-testid=station-sessions] >> text=Charging")
            assert await page.get_by_test_id("station-state").inner_text() == "Online"
            assert await page.evaluate("window.stillTheSamePage") is True
            log = await page.inner_text("[data-testid=messages]")
            assert "BootNotification" in log and "StartTransaction" in log
            await screenshot(page, "station")
            await page.click("[data-testid=station-sessions] button:has-text('Stop')")
            result = await page.get_by_test_id("command-result").inner_text()
            assert result == "The charger answered: Accepted"
            report = await asyncio.wait_for(charging, 10)
            assert report.transaction_id is not None
            await wait_until(lambda: _status_is(station, "completed"))
            await page.wait_for_selector("[data-testid=station-sessions] >> text=Completed")
        await page.context.close()

    ui_node.run(body(), timeout=60)


async def _status_is(station: int, status: str) -> bool:
    return await _session_status(station) == status


def test_a_command_with_bad_input_shows_the_fields_message(
    ui_node: UiNode, world: dict[str, Any]
) -> None:
    """Remote start without an id tag, or unlock of connector 'x', answers
    400 with the message beside the field and sends nothing; a command to
    a station no node holds says it is not connected."""
    station = world["station"]

    async def body() -> None:
        page = await logged_in_page(ui_node, "anna@alpha.example", f"/stations/{station}")
        await page.click("button:has-text('Remote start')")
        assert await page.inner_text("#id_tag-error") == "Enter the id tag (1 to 20 characters)."
        await page.fill("#unlock_connector", "x")
        await page.click("button:has-text('Unlock')")
        assert await page.inner_text("#unlock_connector-error") == "Enter a whole number."
        await page.click("button:has-text('Clear cache')")
        result = await page.get_by_test_id("command-result").inner_text()
        assert result == "The station is not connected."
        await page.context.close()

    ui_node.run(body(), timeout=60)


def test_a_sessions_page_draws_its_energy_and_power(ui_node: UiNode, world: dict[str, Any]) -> None:
    """A session the charger metered every 0.2 s: its page (reached from
    the station's session list) draws energy and power over time as SVG
    lines, and says how many meter values it has."""
    station = world["station"]
    two = ui_node.nodes[1]

    async def body() -> None:
        async with connect16(ui_node.ocpp_url(two), "CP-LIVE-1") as cp:
            assert (await cp.boot()).status == "Accepted"
            report = await cp.run_session(1, id_tag=TAG, duration=1.2, meter_interval=0.2)
            assert report.transaction_id is not None
        await wait_until(lambda: _status_is(station, "completed"))
        base = ui_node.base_url
        page = await logged_in_page(ui_node, "anna@alpha.example", f"/stations/{station}")
        await page.wait_for_selector("#live[data-listening]")
        link = page.locator(
            f"[data-testid=station-sessions] a[href='/sessions/{report.transaction_id}']"
        )
        await follow_live_link(page, link, f"{base}/sessions/{report.transaction_id}")
        for chart in ("energy-chart", "power-chart"):
            line = page.locator(f"[data-testid={chart}] svg polyline")
            assert await line.count() == 1, chart
            points = (await line.get_attribute("points") or "").split()
            assert len(points) >= 4, chart
        await screenshot(page, "session")
        await page.context.close()

    ui_node.run(body(), timeout=60)


def test_the_dashboard_counts_charging_and_faulted_stations(
    ui_node: UiNode, world: dict[str, Any]
) -> None:
    """A charger on node two charging on connector 1 with connector 2
    Faulted (GroundFailure): node one's dashboard counts the station online,
    charging and faulted, and lists the fault under recent faults."""

    async def body() -> None:
        async with connect16(ui_node.ocpp_url(ui_node.nodes[1]), "CP-LIVE-1", connectors=2) as cp:
            assert (await cp.boot()).status == "Accepted"
            charging = asyncio.create_task(
                cp.run_session(1, id_tag=TAG, duration=None, meter_interval=0)
            )
            await cp.status(2, "Faulted", "GroundFailure", info="RCD tripped")
            await wait_until(lambda: _status_is(world["station"], "active"))
            page = await logged_in_page(ui_node, "anna@alpha.example")
            figures = {
                name: await page.get_by_test_id(name).inner_text()
                for name in ("total", "online", "offline", "charging", "faulted")
            }
            assert figures == {
                "total": "1",
                "online": "1",
                "offline": "0",
                "charging": "1",
                "faulted": "1",
            }
            faults = await page.inner_text("[data-testid=faults]")
            assert "CP-LIVE-1" in faults and "GroundFailure" in faults
            await screenshot(page, "dashboard-live")
            await page.context.close()
            await cp.stop_all()
            await asyncio.wait_for(charging, 10)

    ui_node.run(body(), timeout=60)


def test_the_message_log_hides_frames_from_who_may_not_see_every_field(
    ui_node: UiNode, world: dict[str, Any]
) -> None:
    """A user whose group hides the stations' serial numbers sees the
    station's messages by action but not their text (a BootNotification
    carries the serial number); a user without hidden fields sees it."""
    station = world["station"]

    async def body() -> None:
        async with connect16(ui_node.ocpp_url(ui_node.nodes[1]), "CP-LIVE-1") as cp:
            assert (await cp.boot()).status == "Accepted"
        seen = {}
        for email in ("anna@alpha.example", "hugo@alpha.example"):
            page = await logged_in_page(ui_node, email, f"/stations/{station}")
            seen[email] = await page.inner_text("[data-testid=messages]")
            await page.context.close()
        assert "BootNotification" in seen["hugo@alpha.example"]
        assert "(hidden)" in seen["hugo@alpha.example"]
        assert "chargePointSerialNumber" not in seen["hugo@alpha.example"]
        assert "chargePointVendor" in seen["anna@alpha.example"]

    ui_node.run(body(), timeout=60)


def test_the_station_list_shows_a_station_coming_online_without_a_reload(
    ui_node: UiNode, world: dict[str, Any]
) -> None:
    """With the station list open on node one, a charger connecting to
    node two turns its row from Offline to Online without navigating."""

    async def body() -> None:
        page = await logged_in_page(ui_node, "anna@alpha.example", "/stations")
        await page.wait_for_selector("#station-rows[data-listening]")
        assert "Offline" in await page.inner_text("#station-rows tbody")
        await page.evaluate("window.stillTheSamePage = true")
        async with connect16(ui_node.ocpp_url(ui_node.nodes[1]), "CP-LIVE-1") as cp:
            assert (await cp.boot()).status == "Accepted"
            await page.wait_for_selector("#station-rows tbody >> text=Online")
            assert await page.evaluate("window.stillTheSamePage") is True
        await page.context.close()

    ui_node.run(body(), timeout=60)


def test_a_live_refresh_keeps_what_did_not_change(ui_node: UiNode, world: dict[str, Any]) -> None:
    """When a charger comes online, the station list's refresh changes that
    row's state in place: the sort header and the row's link are the same
    elements as before, so a click landing on them during the refresh is
    not lost with a replaced element."""

    async def body() -> None:
        page = await logged_in_page(ui_node, "anna@alpha.example", "/stations")
        await page.wait_for_selector("#station-rows[data-listening]")
        await page.evaluate(
            """() => {
                window.header = document.querySelector("th a[data-sort=charge_point_id]");
                window.rowLink = document.querySelector("#station-rows tbody td a");
            }"""
        )
        async with connect16(ui_node.ocpp_url(ui_node.nodes[1]), "CP-LIVE-1") as cp:
            assert (await cp.boot()).status == "Accepted"
            await page.wait_for_selector("#station-rows tbody >> text=Online")
        kept = await page.evaluate(
            """() => [
                window.header === document.querySelector("th a[data-sort=charge_point_id]"),
                window.rowLink === document.querySelector("#station-rows tbody td a"),
                window.header.isConnected,
            ]"""
        )
        assert kept == [True, True, True]
        await page.context.close()

    ui_node.run(body(), timeout=60)
