"""Running a fleet: start the stations at the ramp rate, let them run, end them cleanly.

``run_fleet`` is the Python API (the e2e test uses it in-process); the
``load`` command wraps it with a progress line and the reports.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from simulators.common import station_url, utc_now, wait_event
from simulators.fleet.identities import FleetNames
from simulators.fleet.metrics import FleetMetrics
from simulators.fleet.scenario import Scenario
from simulators.fleet.station import Encoding, SimulatedStation, StationSettings
from simulators.fleet.v16 import Ocpp16Encoding

__all__ = ["FleetOptions", "FleetResult", "run_fleet"]

_log = logging.getLogger(__name__)

# Stations started together when ramping: one sleep per batch, not per station.
_RAMP_TICK_SECONDS = 0.05
# After the drain timeout, stations still busy get this long to close their sockets.
_SHUTDOWN_GRACE_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class FleetOptions:
    url: str
    stations: int
    duration: float
    """Seconds from the first station's start until the fleet is told to stop."""
    scenario: Scenario
    connectors: int = 2
    ramp: float | None = None
    """Stations started per second; 0 all at once; None the scenario's ``ramp_per_second``."""
    names: FleetNames = field(default_factory=FleetNames)
    first_index: int = 1
    seed: int = 1
    encoding: Encoding = field(default_factory=Ocpp16Encoding)

    @property
    def ramp_per_second(self) -> float:
        return self.scenario.ramp_per_second if self.ramp is None else self.ramp


@dataclass(slots=True)
class FleetResult:
    options: FleetOptions
    metrics: FleetMetrics
    started_at: datetime
    ended_at: datetime
    load_seconds: float
    """From the first start to the stop request."""
    total_seconds: float
    """Including the drain at the end."""
    stations_launched: int
    """Stations started before the load phase ended (a slow ramp may not reach them all)."""
    stations_cut_off: int
    """Stations that had not finished delivering when the shutdown grace ran out."""


async def run_fleet(
    options: FleetOptions,
    *,
    on_started: Callable[[FleetMetrics], None] | None = None,
    stop: asyncio.Event | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> FleetResult:
    """Run the fleet to the end and return what it measured.

    ValueError before anything starts when the URL or the names cannot work.

    Setting ``stop`` ends the load phase early (Ctrl-C); the stations still stop
    their sessions and deliver their queues.
    """
    stop = stop or asyncio.Event()
    if options.stations < 1:
        raise ValueError("a fleet has at least one station")
    options.names.check(options.first_index + options.stations - 1, options.connectors)
    station_url(options.url, options.names.station_id(options.first_index))  # ValueError if bad
    start = clock()
    started_at = utc_now()
    metrics = FleetMetrics(start)
    if on_started is not None:
        on_started(metrics)
    settings = StationSettings(
        url=options.url,
        connectors=options.connectors,
        scenario=options.scenario,
        encoding=options.encoding,
    )
    stations = [_station(options, settings, metrics, index, clock) for index in _indexes(options)]
    tasks: set[asyncio.Task[None]] = set()
    all_tasks: list[asyncio.Task[None]] = []

    def finished(task: asyncio.Task[None]) -> None:
        tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            _log.error("station task %s failed: %r", task.get_name(), error, exc_info=error)

    def launch(station: SimulatedStation) -> None:
        task = asyncio.get_running_loop().create_task(station.run(), name=station.station_id)
        tasks.add(task)
        all_tasks.append(task)
        task.add_done_callback(finished)

    deadline = start + options.duration
    await _ramp_up(stations, options.ramp_per_second, deadline, start, launch, stop, clock)
    await wait_event(stop, deadline - clock())
    load_seconds = clock() - start
    for station in stations:
        station.request_stop()
    drain = options.scenario.delivery.drain_timeout_seconds + _SHUTDOWN_GRACE_SECONDS
    cut_off = 0
    if tasks:
        _, pending = await asyncio.wait(set(tasks), timeout=drain)
        cut_off = len(pending)
        for task in pending:
            task.cancel()
        await asyncio.gather(*all_tasks, return_exceptions=True)
    if cut_off:
        _log.warning("%d station(s) were still delivering at the end and were cut off", cut_off)
    return FleetResult(
        options=options,
        metrics=metrics,
        started_at=started_at,
        ended_at=utc_now(),
        load_seconds=load_seconds,
        total_seconds=clock() - start,
        stations_launched=len(all_tasks),
        stations_cut_off=cut_off,
    )


def _indexes(options: FleetOptions) -> range:
    return range(options.first_index, options.first_index + options.stations)


def _station(
    options: FleetOptions,
    settings: StationSettings,
    metrics: FleetMetrics,
    index: int,
    clock: Callable[[], float],
) -> SimulatedStation:
    names = options.names
    return SimulatedStation(
        index=index,
        station_id=names.station_id(index),
        id_tags=[names.id_tag(index, c) for c in range(1, options.connectors + 1)],
        password=names.password(index),
        settings=settings,
        metrics=metrics,
        # one generator per station: a station behaves the same whatever the others do
        rng=random.Random(f"{options.seed}/{index}"),
        clock=clock,
    )


async def _ramp_up(
    stations: list[SimulatedStation],
    per_second: float,
    deadline: float,
    start: float,
    launch: Callable[[SimulatedStation], None],
    stop: asyncio.Event,
    clock: Callable[[], float],
) -> None:
    if per_second <= 0:
        for station in stations:
            launch(station)
        return
    launched = 0
    while launched < len(stations) and clock() < deadline and not stop.is_set():
        due = min(len(stations), int((clock() - start) * per_second) + 1)
        while launched < due:
            launch(stations[launched])
            launched += 1
        await asyncio.sleep(_RAMP_TICK_SECONDS)
