"""The fleet simulator against a real node and database: nothing the server confirmed is
missing from the database, and the ``load`` command writes its reports."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from csms.bootstrap import Node
from csms.storage.stations import PiccoloStationAdmin
from csms.tables import ChargingSession, MeterValue, Station
from simulators.cli import main
from simulators.fleet.identities import FleetNames
from simulators.fleet.report import build_report
from simulators.fleet.runner import FleetOptions, run_fleet
from simulators.fleet.scenario import parse_scenario
from tests.e2e.conftest import StartNode, ocpp_url
from tests.media_helpers import allow
from tests.world import make_entity

_STATIONS = 200
_CONNECTORS = 2
_DURATION = 20.0
_ROOT = Path(__file__).resolve().parents[2]

# Busy and unreliable on purpose: most connectors charge in short sessions with meter
# values every 2 s, and stations drop off the network for a few seconds, so sessions
# start and stop while offline and their messages are delivered after the reconnect.
_BUSY_WITH_RECONNECTS = {
    "description": "e2e: busy, short sessions, frequent reconnects and faults",
    "sessions": {
        "charging_fraction": 0.8,
        "duration": {"distribution": "uniform", "min": 4, "max": 12},
        "meter_interval_seconds": 2,
        "power_kw": [11.0, 22.0],
    },
    "faults": {"per_station_hour": 30, "duration": {"distribution": "uniform", "min": 1, "max": 4}},
    "reconnects": {
        "per_station_hour": 60,
        "offline": {"distribution": "uniform", "min": 2, "max": 6},
    },
    "delivery": {
        "retry_interval_seconds": 1,
        "drain_timeout_seconds": 30,
        "reconnect_backoff": {"distribution": "uniform", "min": 0.5, "max": 2},
    },
}


async def _provision(names: FleetNames, stations: int, connectors: int) -> None:
    admin = PiccoloStationAdmin()
    issuer = await make_entity("Fleet issuer")
    for index in range(1, stations + 1):
        await admin.add(names.station_id(index))
        for connector in range(1, connectors + 1):
            await allow(names.id_tag(index, connector), issuer=issuer)


async def test_a_busy_fleet_with_reconnects_loses_nothing_the_server_accepted(
    start_node: StartNode,
) -> None:
    """200 stations for 20 s with sessions, faults and reconnects, run in-process: the
    sessions and meter values in the database are exactly those the fleet counted as
    accepted, every session the fleet stopped is completed, and no call got a CALLERROR."""
    names = FleetNames(id_prefix="LOAD-", tag_prefix="LT-")
    await _provision(names, _STATIONS, _CONNECTORS)
    node: Node = await start_node()
    options = FleetOptions(
        url=ocpp_url(node),
        stations=_STATIONS,
        duration=_DURATION,
        scenario=parse_scenario(_BUSY_WITH_RECONNECTS, name="e2e-busy"),
        connectors=_CONNECTORS,
        ramp=100,
        names=names,
        seed=20261123,
    )
    result = await run_fleet(options)
    report = build_report(result)
    metrics, accounting = result.metrics, result.metrics.accounting

    # the run did what the scenario asks for, so the checks below mean something
    assert report["exit_status"] == 0
    assert metrics.booted == _STATIONS
    assert report["connections"]["refused_by_http_status"] == {}
    assert metrics.reconnects >= 3, "the scenario should have made a few reconnects"
    assert accounting.transaction_messages_resent > 0, "some messages should have waited"
    # sessions begun offline: their StopTransaction waited behind an unanswered start
    assert accounting.sessions_started_offline > 0
    assert len(accounting.transaction_ids) > _STATIONS  # several sessions per station
    assert accounting.meter_values_accepted > 10 * _STATIONS

    # no CALLERROR, no timeout, nothing lost on the fleet's side
    assert dict(metrics.call_errors) == {}
    assert dict(metrics.timeouts) == {}
    assert accounting.transaction_messages_dropped == 0
    assert accounting.transaction_messages_undelivered == 0
    assert result.stations_cut_off == 0
    assert accounting.sessions_started == accounting.sessions_stopped
    # nothing was sent twice without an answer, so the database must match exactly
    assert accounting.maybe_duplicated_rows == 0

    fleet_stations = [
        row["id"]
        for row in await Station.select(Station.id)
        .where(Station.charge_point_id.like("LOAD-%"))
        .run()
    ]
    assert len(fleet_stations) == _STATIONS
    sessions = await ChargingSession.select(
        ChargingSession.id, ChargingSession.status, ChargingSession.closed_by
    ).run()
    assert {row["id"] for row in sessions} == accounting.transaction_ids
    assert accounting.stopped_transaction_ids == accounting.transaction_ids
    not_completed = [
        row for row in sessions if (row["status"], row["closed_by"]) != ("completed", "charger")
    ]
    assert not_completed == []
    stored_meter_values = await MeterValue.count().run()
    assert stored_meter_values == accounting.meter_values_accepted
    in_sessions = await MeterValue.count().where(MeterValue.session.is_not_null()).run()
    assert in_sessions == stored_meter_values  # every value was linked to its session


def _run(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=_ROOT,
        env=dict(os.environ),
    )


async def test_the_load_command_provisions_runs_and_writes_its_reports(
    start_node: StartNode, tmp_path: Path
) -> None:
    """`provision` writes the CSV files `csms station import` and `csms tag import` take;
    `load` then runs against the node with per-station passwords (two more stations than
    provisioned, which the server refuses with 404) and writes report.json and report.html
    holding the run's numbers, with exit status 0."""
    stations_csv, tags_csv = tmp_path / "stations.csv", tmp_path / "tags.csv"
    provisioned = _run(
        "simulators", "provision",
        "--stations", "10",
        "--connectors", "2",
        "--id-prefix", "CLI-",
        "--password-template", "pw-{id}-0123456789",
        "--stations-csv", str(stations_csv),
        "--tags-csv", str(tags_csv),
        timeout=30,
    )  # fmt: skip
    assert provisioned.returncode == 0, provisioned.stderr
    for kind, path in (("station", stations_csv), ("tag", tags_csv)):
        imported = _run("csms", kind, "import", str(path), timeout=60)
        assert imported.returncode == 0, imported.stderr
    node = await start_node()
    report_dir = tmp_path / "report"
    # the node serves from this test's event loop: the command must not block it
    load = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "simulators", "load",
        "--url", ocpp_url(node),
        "--stations", "12",
        "--connectors", "2",
        "--id-prefix", "CLI-",
        "--password", "pw-{id}-0123456789",
        "--duration", "4",
        "--scenario", "busy-evening",
        "--ramp", "0",
        "--report-dir", str(report_dir),
        cwd=_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(120):
        stdout, stderr = await load.communicate()
    assert load.returncode == 0, stderr.decode()
    report = json.loads((report_dir / "report.json").read_text())
    assert report["connections"]["succeeded"] == 10
    assert report["connections"]["refused_by_http_status"]["404"] >= 2
    assert report["run"]["stations_booted"] == 10
    assert report["calls"]["by_action"]["BootNotification"]["answered"] == 10
    assert report["calls"]["call_errors"] == 0
    assert report["latency_ms"]["p99"] > 0
    sessions = await ChargingSession.count().run()
    assert report["accounting"]["sessions_accepted"] == sessions
    assert report["accounting"]["meter_values_accepted"] == await MeterValue.count().run()
    page = (report_dir / "report.html").read_text()
    assert page.count("<svg") == 2
    assert f"{report['calls']['sent']} / {report['calls']['answered']}" in page
    assert "StatusNotification" in stdout.decode()  # the table on stdout


def test_the_load_command_exits_non_zero_when_nobody_can_connect(tmp_path: Path) -> None:
    """Against a port nobody listens on, `load` ends promptly with exit status 1 and still
    writes a report saying why."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    report_dir = tmp_path / "report"
    started = time.monotonic()
    code = main(
        [
            "load",
            "--url", f"ws://127.0.0.1:{port}/ocpp",
            "--stations", "5",
            "--duration", "1",
            "--quiet",
            "--report-dir", str(report_dir),
        ]
    )  # fmt: skip
    assert code == 1
    assert time.monotonic() - started < 15
    report = json.loads((report_dir / "report.json").read_text())
    assert report["connections"]["succeeded"] == 0
    assert report["connections"]["failed"]["connection refused"] >= 5
