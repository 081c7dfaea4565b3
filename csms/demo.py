"""``csms demo``: a small world that runs on its own, so a new user sees it work.

Seeds stations and media (again on every start, skipping what exists; a
root entity issues the media, created when there is no entity yet),
starts a node on the embedded default, and runs simulated chargers that boot,
report status and charge in a loop. Part of the composition root: it wires
the simulators (a client) to the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import random
import signal

from crm.access import system_principal
from crm.errors import Conflict
from crm.media import MediumCreate
from crm.services.media import MediaService
from crm.storage.media import PiccoloMedia
from crm.storage.tree import load_tree
from csms.bootstrap import Node, tune_garbage_collector
from csms.domain.credentials import hash_secret
from csms.settings import Settings
from csms.storage.migrate import migrate
from csms.storage.stations import PiccoloStationAdmin, StationExists

log = logging.getLogger(__name__)

DEMO_SECRET = "demo-secret-0123456789"
DEMO_TAGS = ("DEMO-TAG-1", "DEMO-TAG-2", "DEMO-TAG-3")
YOUR_STATION = "MY-CHARGER"
YOUR_TAG = "MY-TAG"
DEMO_OPERATOR = "Demo Operator"


async def seed(chargers: int) -> list[str]:
    """Creates the demo stations and media that do not exist yet."""
    admin = PiccoloStationAdmin()
    station_ids = [f"DEMO-{n}" for n in range(1, chargers + 1)]
    for station_id in station_ids:
        with contextlib.suppress(StationExists):
            await admin.add(
                station_id,
                secret_hash=hash_secret(DEMO_SECRET),
                description="simulated by csms demo",
            )
    with contextlib.suppress(StationExists):
        await admin.add(YOUR_STATION, description="for your own charger or OCPP client")
    issuer = await PiccoloMedia().root_entity(create_named=DEMO_OPERATOR)
    media = MediaService()
    principal = system_principal(await load_tree())
    for uid in (*DEMO_TAGS, YOUR_TAG):
        with contextlib.suppress(Conflict):
            await media.create(
                principal, MediumCreate(uid=uid, issuing_entity_id=issuer, note="csms demo")
            )
    return station_ids


async def _simulated_charger(url: str, station_id: str, stop: asyncio.Event) -> None:
    """Boots, then charges for a minute or two, rests, and charges again."""
    from simulators.ocpp16 import connect16

    rng = random.Random(station_id)
    while not stop.is_set():
        try:
            async with connect16(url, station_id, password=DEMO_SECRET, connectors=2) as cp:
                await cp.boot(vendor="CSMS Demo", model="Sim-22", serial=station_id)
                for connector in (1, 2):
                    await cp.status(connector_id=connector, status="Available")
                while not stop.is_set():
                    session = asyncio.create_task(
                        cp.run_session(
                            connector_id=rng.choice((1, 2)),
                            id_tag=rng.choice(DEMO_TAGS),
                            duration=rng.uniform(60, 120),
                            meter_interval=10,
                            power_w=rng.choice((7400, 11000, 22000)),
                        )
                    )
                    stopping = asyncio.create_task(stop.wait())
                    await asyncio.wait({session, stopping}, return_when=asyncio.FIRST_COMPLETED)
                    if stop.is_set():
                        # Like a charger shutting down: stop the transaction first.
                        await cp.stop_all("Local")
                    stopping.cancel()
                    await session
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), rng.uniform(15, 40))
        except Exception as error:
            if stop.is_set():
                return
            log.warning("demo charger %s: %s; reconnecting in 5 s", station_id, error)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 5)


async def run_demo(settings: Settings, *, chargers: int) -> int:
    if settings.unknown_stations == "reject" and "CSMS_UNKNOWN_STATIONS" not in os.environ:
        # In the demo, any charger may walk in.
        settings = dataclasses.replace(settings, unknown_stations="accept")
    await migrate()
    station_ids = await seed(chargers)
    node = Node(settings)
    await node.start()
    tune_garbage_collector()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    host = settings.ocpp_host if settings.ocpp_host not in ("0.0.0.0", "::") else "127.0.0.1"
    url = f"ws://{host}:{node.ocpp_port}/ocpp"
    tasks = [
        asyncio.create_task(_simulated_charger(url, station_id, stop), name=station_id)
        for station_id in station_ids
    ]
    for task in tasks:
        task.add_done_callback(_log_failure)
    print(
        f"""
CSMS demo is running (database: {settings.database_url})

  OCPP 1.6J endpoint   {url}/<charge_point_id>
  your charger         {url}/{YOUR_STATION}   (no password; id tag {YOUR_TAG} may charge)
  unknown stations     {settings.unknown_stations} (CSMS_UNKNOWN_STATIONS)
  simulated chargers   {", ".join(station_ids)} (basic auth, secret {DEMO_SECRET})
  health               http://{settings.http_host}:{node.http_port}/healthz

In another terminal (source .venv/bin/activate first):
  csms station list            stations, online state, firmware
  csms session list            sessions as they happen
  csms session show <tx>       one session with its meter values
  csms station messages DEMO-1 the raw OCPP log of a station

Ctrl-C stops it.""",
        flush=True,
    )
    await stop.wait()
    print("stopping...", flush=True)
    # The chargers end their sessions, then disconnect.
    _, late = await asyncio.wait(tasks, timeout=10)
    for task in late:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await node.stop()
    return 0


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("demo charger %s failed", task.get_name(), exc_info=task.exception())
