"""``csms demo``: a small world that runs on its own, so a new user sees it work.

Seeds a small multi-entity world (again on every start, skipping what
exists): an operator with a CPO and an EMP below it, an administrator who
can log in to the API, the CPO's stations with access rules, the EMP's
cards, and a public station and card for your own charger;
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
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from crm.access import Principal, system_principal
from crm.entities import EntityCreate, EntityKind
from crm.errors import Conflict
from crm.groups import GroupCreate
from crm.media import MediumCreate
from crm.services.entities import EntityService
from crm.services.groups import GroupService
from crm.services.media import MediaService
from crm.services.users import UserService
from crm.storage.tree import load_tree
from crm.users import UserCreate
from csms.bootstrap import Node
from csms.collector import tune_garbage_collector
from csms.domain.credentials import hash_secret
from csms.domain.station_admin import (
    AccessRuleCreate,
    IgnoreStationChanges,
    StationAdmin,
    StationUpdate,
)
from csms.settings import Settings, get_settings
from csms.storage.access import PiccoloStationStore
from csms.storage.migrate import migrate
from csms.storage.stations import PiccoloStationAdmin, StationExists

log = logging.getLogger(__name__)

DEMO_SECRET = "demo-secret-0123456789"
DEMO_TAGS = ("DEMO-TAG-1", "DEMO-TAG-2", "DEMO-TAG-3")
YOUR_STATION = "MY-CHARGER"
YOUR_TAG = "MY-TAG"
DEMO_OPERATOR = "Demo Operator"
DEMO_CPO = "Demo CPO Nord"
DEMO_EMP = "Demo EMP"
DEMO_ADMIN = "admin@demo.example"
DEMO_PASSWORD = "demo-password"
# The demo's own database, so `csms migrate; csms serve` afterwards starts on
# the default (var/csms.sqlite) as the README's walkthroughs expect.
DEMO_DATABASE_URL = "sqlite:///var/demo.sqlite"


def demo_settings(settings: Settings, environ: Mapping[str, str]) -> Settings:
    """The demo's defaults where the environment names none: its own
    database, chargers and API on this machine only (127.0.0.1), and any
    charger may walk in."""
    changes: dict[str, str] = {}
    if "CSMS_DATABASE_URL" not in environ:
        changes["database_url"] = DEMO_DATABASE_URL
    if "CSMS_OCPP_HOST" not in environ:
        changes["ocpp_host"] = "127.0.0.1"
    if "CSMS_UNKNOWN_STATIONS" not in environ:
        changes["unknown_stations"] = "accept"
    return dataclasses.replace(settings, **changes)  # type: ignore[arg-type]


async def _entity(principal: Principal, name: str, parent: int | None, kind: EntityKind) -> int:
    service = EntityService()
    found, _ = await service.list(principal, q=name, limit=500)
    for entity in found:
        if entity.name == name:
            return entity.id
    created = await service.create(
        principal,
        EntityCreate(name=name, parent_id=parent, kind=kind, time_zone="Europe/Berlin"),
    )
    return created.id


async def _admin(principal: Principal, root: int, password_strength: str) -> None:
    users = UserService(password_strength=password_strength)
    existing, _ = await users.list(principal, q=DEMO_ADMIN)
    if existing:
        return
    group = await GroupService().create(
        principal,
        GroupCreate(
            name="Demo administrators", owner_entity_id=root, scope="all", permissions=["*"]
        ),
    )
    await users.create(
        principal,
        UserCreate(
            email=DEMO_ADMIN,
            name="Demo Admin",
            entity_ids=[root],
            group_ids=[group.id],
            password=DEMO_PASSWORD,
        ),
    )


async def seed(chargers: int, password_strength: str = "standard") -> list[str]:
    """Creates what does not exist yet: an operator with a CPO and an EMP
    below it, an administrator, the CPO's stations (open to media of the
    CPO's subtree and of the EMP), the EMP's cards, and a public station and
    card of the operator for your own charger."""
    principal = system_principal(await load_tree())
    root = await _entity(principal, DEMO_OPERATOR, None, EntityKind.OPERATOR)
    principal = system_principal(await load_tree())
    cpo = await _entity(principal, DEMO_CPO, root, EntityKind.CPO)
    emp = await _entity(principal, DEMO_EMP, root, EntityKind.EMP)
    principal = system_principal(await load_tree())
    await _admin(principal, root, password_strength)

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
    stations = StationAdmin(PiccoloStationStore(), IgnoreStationChanges())
    for number, station_id in enumerate(station_ids):
        station = await stations.find_station(principal, station_id)
        if station.owner_entity_id is None:
            await stations.update_station(
                principal,
                station.id,
                StationUpdate(
                    owner_entity_id=cpo,
                    city="Kiel",
                    country="DE",
                    latitude=f"{54.3233 + number / 1000:.4f}",
                    longitude="10.1228",
                    time_zone="Europe/Berlin",
                ),
            )
            for subject, value in (("owner_subtree", ""), ("issuing_entity", str(emp))):
                with contextlib.suppress(Conflict):
                    await stations.add_rule(
                        principal,
                        AccessRuleCreate(subject=subject, value=value),
                        station_pk=station.id,
                    )
    yours = await stations.find_station(principal, YOUR_STATION)
    if yours.owner_entity_id is None:
        await stations.update_station(
            principal, yours.id, StationUpdate(owner_entity_id=root, time_zone="Europe/Berlin")
        )

    media = MediaService()
    for uid, issuer in (*[(tag, emp) for tag in DEMO_TAGS], (YOUR_TAG, root)):
        with contextlib.suppress(Conflict):
            await media.create(
                principal, MediumCreate(uid=uid, issuing_entity_id=issuer, note="csms demo")
            )
    return station_ids


DEMO_TARIFF = {
    "country_code": "DE",
    "party_id": "DMO",
    "id": "DEMO-AC",
    "currency": "EUR",
    "elements": [
        {
            "price_components": [
                {"type": "ENERGY", "price": 0.45, "vat": 19.0, "step_size": 1},
                {"type": "FLAT", "price": 1.00, "vat": 19.0, "step_size": 1},
            ]
        }
    ],
    "last_updated": "2026-01-01T00:00:00Z",
}


@dataclasses.dataclass(frozen=True, slots=True)
class DemoHistory:
    sessions: int
    energy_wh: int
    rated: int
    documents: int


async def seed_history(station_ids: list[str], now: datetime | None = None) -> DemoHistory:
    """The demo's last 30 days, written once: completed sessions at the demo
    stations by the EMP's cards, the CPO's tariff for EMPs and the
    operator's for its sub-CPO, every session rated, and last month's
    billing runs of both issued (the CPO's invoice to the EMP, the
    operator's credit note to the CPO), so the dashboard, sessions, CDRs
    and documents have rows."""
    from billing.rating.rater import Rater
    from billing.runs.service import BillingRuns
    from billing.services.tariffs import TariffService
    from billing.storage.runs import SqlBillingStore
    from billing.storage.sources import SqlDirectory, SqlRatingQueue
    from billing.storage.tariffs import PiccoloTariffLookup, PiccoloTariffs
    from billing.tariffs.assignments import Audience
    from billing.tariffs.records import TariffAssignmentCreate, TariffCreate
    from csms.storage.demo_history import add_past_sessions, has_sessions

    if await has_sessions(station_ids):
        return DemoHistory(0, 0, 0, 0)
    now = now or datetime.now(UTC)
    principal = system_principal(await load_tree())
    cpo = await _entity(principal, DEMO_CPO, None, EntityKind.CPO)
    past = await add_past_sessions(station_ids, DEMO_TAGS, now=now)
    root = await _entity(principal, DEMO_OPERATOR, None, EntityKind.OPERATOR)
    tariffs = TariffService(PiccoloTariffs())
    # The CPO charges EMPs; the operator pays its sub-CPO a share.
    for owner, code, price, audience, counterparty in (
        (cpo, "DEMO-AC", None, Audience.EMP, None),
        (root, "DEMO-SUB-CPO", 0.20, Audience.SUB_CPO, cpo),
    ):
        ocpi = dict(DEMO_TARIFF, id=code)
        if price is not None:
            energy = {"type": "ENERGY", "price": price, "vat": 19.0, "step_size": 1}
            ocpi["elements"] = [{"price_components": [energy]}]
        imported = await tariffs.import_tariff(
            principal,
            TariffCreate(ocpi=ocpi, owner_entity_id=owner, valid_from=now - timedelta(days=400)),
        )
        if imported.created:
            await tariffs.assign(
                principal,
                TariffAssignmentCreate(
                    tariff_id=imported.tariff.id,
                    audience=audience,
                    counterparty_entity_id=counterparty,
                ),
            )
    queue, directory, store = SqlRatingQueue(), SqlDirectory(), SqlBillingStore()
    rater = Rater(queue, directory, PiccoloTariffLookup())
    try:
        rated = await rater.rate_all()
        first_of_month = now.astimezone(ZoneInfo("Europe/Berlin")).replace(day=1)
        last_month = (first_of_month - timedelta(days=1)).strftime("%Y-%m")
        runs = BillingRuns(store, directory)
        documents = 0
        for entity in (cpo, root):
            result = await runs.run(principal, entity, last_month, preview=False)
            documents += len(result.issued)
    finally:
        await rater.close()
        for part in (queue, directory, store):
            await part.close()
    return DemoHistory(past.sessions, past.energy_wh, rated, documents)


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
    settings = demo_settings(settings, os.environ)
    # The database engine is built from the process's settings (read once
    # from the environment) when the database is first used: after this.
    os.environ["CSMS_DATABASE_URL"] = settings.database_url
    get_settings.cache_clear()
    await migrate()
    station_ids = await seed(chargers, settings.password_hashing)
    history = await seed_history(station_ids)
    if history.sessions:
        log.info(
            "demo: %d past sessions (%.0f kWh), %d rated, %d billing document(s) issued",
            history.sessions,
            history.energy_wh / 1000,
            history.rated,
            history.documents,
        )
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
    web = f"http://{settings.http_host}:{node.http_port}"
    print(
        f"""
CSMS demo is running (database: {settings.database_url})

  OCPP 1.6J endpoint   {url}/<charge_point_id>
  your charger         {url}/{YOUR_STATION}   (no password; id tag {YOUR_TAG} may charge)
  unknown stations     {settings.unknown_stations} (CSMS_UNKNOWN_STATIONS)
  simulated chargers   {", ".join(station_ids)} (basic auth, secret {DEMO_SECRET})
  web app (operators)  {web}/
  health               {web}/healthz
  operators' API       {web}/api/v1  (OpenAPI: /api/schema)
  drivers' app API     {web}/app/v1  (OpenAPI: /app/v1/schema/openapi.json)
  log in as            {DEMO_ADMIN} / {DEMO_PASSWORD}
  entities             {DEMO_OPERATOR} > {DEMO_CPO} (owns DEMO-*), {DEMO_EMP} (issues DEMO-TAG-*)

In another terminal (source .venv/bin/activate first):
  csms station list            stations, online state, firmware
  csms session list            sessions as they happen
  csms session show <tx>       one session with its meter values
  csms station messages DEMO-1 the raw OCPP log of a station
  csms entity list             the entity tree
  csms access list DEMO-1      who may charge at DEMO-1

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
