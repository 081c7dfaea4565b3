"""A billing world in memory: entities, contacts, sessions, tariffs and the
twins of billing.storage.memory wired as the composition root wires the SQL
ones (rater -> CDRs -> billing runs).

The pipeline world mirrors tests/integration/test_billing_pipeline.py: a
parent operator P with a sub-CPO A (station CP-A in Berlin) and a CPO B
(CP-B); an EMP X (may act as sub-EMP) whose card is billed to contact C.
A charges X, B charges X, X charges C, P pays A (credit note).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from billing.ports import (
    CdrRecord,
    CompletedSession,
    ContactInfo,
    EntityInfo,
    MeterSample,
    StateAt,
)
from billing.rating.rater import Rater
from billing.runs.service import BillingRuns
from billing.storage.memory import (
    MemoryBillingStore,
    MemoryCdrs,
    MemoryDirectory,
    MemoryRatingQueue,
)
from billing.storage.memory_tariffs import MemoryTariffs
from billing.tariffs.assignments import Audience
from billing.tariffs.records import TariffAssignmentCreate
from crm.access import AccessProfile, Grant, Principal, Scope, system_principal

EPOCH = datetime(2020, 1, 1, tzinfo=UTC)
BERLIN = "Europe/Berlin"
REGISTER = "Energy.Active.Import.Register"


def entity(entity_id: int, name: str, parent: int | None = None, **fields: Any) -> EntityInfo:
    fields.setdefault("country", "DE")
    fields.setdefault("time_zone", BERLIN)
    fields.setdefault("street", "Straße 1")
    fields.setdefault("postal_code", "10115")
    fields.setdefault("city", "Berlin")
    return EntityInfo(id=entity_id, parent_id=parent, name=name, **fields)


def contact(contact_id: int, owner: int, name: str, **fields: Any) -> ContactInfo:
    fields.setdefault("country", "DE")
    fields.setdefault("street", "Hauptstraße 1")
    fields.setdefault("postal_code", "10115")
    fields.setdefault("city", "Berlin")
    return ContactInfo(id=contact_id, owner_entity_id=owner, name=name, **fields)


def register(at: datetime, wh: int) -> MeterSample:
    return MeterSample(at=at, measurand=REGISTER, value=str(wh), unit="Wh")


def session(
    session_id: int,
    *,
    station_id: int = 11,
    owner: int | None = 2,
    started_at: datetime = datetime(2026, 10, 5, 10, tzinfo=UTC),
    minutes: int = 60,
    energy_wh: int = 10_000,
    issuer: int | None = 4,
    bill_to: int | None = None,
    time_zone: str = BERLIN,
    charge_point_id: str | None = None,
    states: tuple[StateAt, ...] = (),
    extra_samples: tuple[MeterSample, ...] = (),
    meter_public_key: str = "",
    id_tag: str = "CARD-X",
    meter_start_wh: int = 1_000_000,
) -> CompletedSession:
    """A completed session with register samples at start and stop, as the
    SQL queue reads one."""
    stopped_at = started_at + timedelta(minutes=minutes)
    samples = (
        register(started_at, meter_start_wh),
        register(stopped_at, meter_start_wh + energy_wh),
        *extra_samples,
    )
    return CompletedSession(
        id=session_id,
        station_id=station_id,
        charge_point_id=charge_point_id or f"CP-{station_id}",
        station_owner_id=owner,
        station_group_id=None,
        time_zone=time_zone,
        connector_id=1,
        id_tag=id_tag,
        started_at=started_at,
        stopped_at=stopped_at,
        meter_start_wh=meter_start_wh,
        meter_stop_wh=meter_start_wh + energy_wh,
        medium_id=1 if issuer is not None else None,
        issuing_entity_id=issuer,
        bill_to_contact_id=bill_to,
        meter_public_key=meter_public_key,
        samples=tuple(sorted(samples, key=lambda s: s.at)),
        states=states,
    )


def component(kind: str, price: str, *, vat: str | None = "19", step: int = 1) -> dict[str, Any]:
    found: dict[str, Any] = {"type": kind, "price": float(price), "step_size": step}
    if vat is not None:
        found["vat"] = float(vat)
    return found


def ocpi(code: str, *elements: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """An OCPI tariff of the given elements (each {"price_components": ...})."""
    return {
        "country_code": "DE",
        "party_id": "CSM",
        "id": code,
        "currency": extra.pop("currency", "EUR"),
        "elements": list(elements),
        "last_updated": "2026-01-01T00:00:00Z",
        **extra,
    }


def energy_tariff(
    code: str, *, per_kwh: str = "0.40", flat: str | None = "1.00", vat: str | None = "19"
) -> dict[str, Any]:
    """A price per kWh and a session fee (as tests/billing_world.py)."""
    components = [component("ENERGY", per_kwh, vat=vat)]
    if flat is not None:
        components.append(component("FLAT", flat, vat=vat))
    return ocpi(code, {"price_components": components})


async def add_tariff(
    tariffs: MemoryTariffs,
    owner: int,
    data: dict[str, Any],
    *,
    audience: str,
    valid_from: datetime = EPOCH,
    station: int | None = None,
    counterparty: int | None = None,
) -> int:
    """A tariff with one version, assigned for ``audience``; its id."""
    tariff, _ = await tariffs.add(
        owner, data["id"], data["id"], data["currency"], valid_from, json.dumps(data)
    )
    await tariffs.add_assignment(
        owner,
        TariffAssignmentCreate(
            tariff_id=tariff.id,
            audience=Audience(audience),
            station_id=station,
            counterparty_entity_id=counterparty,
        ),
    )
    return tariff.id


def narrow_principal(world: World, entity_id: int) -> Principal:
    """A user who may run and read billing of ``entity_id`` only."""
    return Principal(
        user_id=1,
        active_entity_id=entity_id,
        member_entity_ids=frozenset({entity_id}),
        profile=AccessProfile.combine(
            [Grant(frozenset({"billing:run", "billing:read"}), Scope.OWN)]
        ),
        tree=world.directory.tree(),
    )


@dataclass
class Today:
    """The billing runs' clock: a settable local date."""

    day: date = date(2026, 11, 2)

    def __call__(self, time_zone: str) -> date:
        return self.day


@dataclass
class World:
    parent: int = 1
    sub_cpo: int = 2
    cpo_b: int = 3
    emp: int = 4
    customer: int = 101
    station_a: int = 11
    station_b: int = 12
    cdrs: MemoryCdrs = field(default_factory=MemoryCdrs)
    directory: MemoryDirectory = field(default_factory=MemoryDirectory)
    tariffs: MemoryTariffs = field(default_factory=MemoryTariffs)
    today: Today = field(default_factory=Today)
    queue: MemoryRatingQueue = field(init=False)
    store: MemoryBillingStore = field(init=False)
    rater: Rater = field(init=False)
    runs: BillingRuns = field(init=False)
    _next_session: int = 0

    def __post_init__(self) -> None:
        self.queue = MemoryRatingQueue(self.cdrs)
        self.store = MemoryBillingStore(self.cdrs)
        self.rater = Rater(self.queue, self.directory, self.tariffs)
        self.runs = BillingRuns(self.store, self.directory, today=self.today)

    @property
    def system(self) -> Principal:
        return system_principal(self.directory.tree())

    def charge(
        self, station: int, started_at: datetime, energy_wh: int = 10_000, **fields: Any
    ) -> int:
        """Queues a session of the EMP's card (billed to C) at ``station``."""
        self._next_session += 1
        owner = {self.station_a: self.sub_cpo, self.station_b: self.cpo_b}.get(station)
        fields.setdefault("bill_to", self.customer)
        self.queue.put(
            session(
                self._next_session,
                station_id=station,
                owner=fields.pop("owner", owner),
                charge_point_id="CP-A" if station == self.station_a else "CP-B",
                started_at=started_at,
                energy_wh=energy_wh,
                issuer=self.emp,
                **fields,
            )
        )
        return self._next_session

    def cdr(self, session_id: int, audience: str) -> CdrRecord:
        return self.cdrs.of_session(session_id)[audience].record

    def billed_sessions(self, document_id: int) -> set[int]:
        return {
            row.record.session_id
            for row in self.cdrs.rows.values()
            if row.document_id == document_id
        }


async def pipeline_world() -> World:
    world = World()
    d = world.directory
    d.add_entity(entity(1, "Parent Operator GmbH", kind="operator", master_contact_id=201))
    d.add_entity(
        entity(
            2,
            "Sub-CPO Süd GmbH",
            parent=1,
            kind="cpo",
            invoice_number_range="A-RE-{yyyy}-{seq:04d}",
            master_contact_id=202,
        )
    )
    d.add_entity(entity(3, "CPO Nord GmbH", kind="cpo", master_contact_id=203))
    d.add_entity(
        entity(4, "EMP XY GmbH", kind="emp", may_act_as_sub_emp=True, master_contact_id=204)
    )
    for contact_id, owner, name in (
        (201, 1, "Parent Operator GmbH"),
        (202, 2, "Sub-CPO Süd GmbH"),
        (203, 3, "CPO Nord GmbH"),
        (204, 4, "EMP XY GmbH"),
    ):
        d.add_contact(contact(contact_id, owner, name, company=name))
    d.add_contact(contact(101, 4, "Erika Mustermann", customer_number="K-1"))
    t = world.tariffs
    await add_tariff(t, 2, energy_tariff("A-EMP", per_kwh="0.40"), audience="emp")
    await add_tariff(t, 3, energy_tariff("B-EMP", per_kwh="0.30", flat=None), audience="emp")
    await add_tariff(t, 4, energy_tariff("X-END", per_kwh="0.59"), audience="customer")
    await add_tariff(t, 1, energy_tariff("P-SUB", per_kwh="0.20", flat=None), audience="sub_cpo")
    return world
