"""The tariff service on the in-memory twin: importing versions, exports,
scoping, assignment rules per audience, community partners and the rater's
lookup."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from billing.services.tariffs import InvalidTariff, TariffService
from billing.storage.memory_tariffs import MemoryTariffs
from billing.tariffs.assignments import Audience
from billing.tariffs.records import (
    AssignmentFilter,
    CommunityPartnerCreate,
    TariffAssignmentCreate,
    TariffCreate,
    TariffFilter,
    TariffVersionCreate,
)
from crm.access import AccessProfile, Grant, Principal, Scope, system_principal
from crm.errors import Conflict, Forbidden, InvalidInput, NotFound
from crm.tree import EntityTree
from tests.unit.billing_tariffs.samples import TARIFF_TEXT, priced, tariff

ROOT, A, A1, B = 1, 2, 3, 4
STATION_A, STATION_A1, STATION_B = 10, 11, 12
GROUP_A, GROUP_A1 = 20, 21
NOW = datetime(2026, 6, 1, tzinfo=UTC)
JAN, MAR = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)


def world() -> MemoryTariffs:
    """root -> a -> a1 (a's sub-CPO), root -> b; a station and a group each."""
    store = MemoryTariffs()
    store.add_entity(ROOT)
    store.add_entity(A, ROOT)
    store.add_entity(A1, A)
    store.add_entity(B, ROOT)
    store.add_station(STATION_A, A)
    store.add_station(STATION_A1, A1)
    store.add_station(STATION_B, B)
    store.add_station_group(GROUP_A, A)
    store.add_station_group(GROUP_A1, A1)
    return store


def user(store: MemoryTariffs, entity: int, *perms: str, scope: Scope = Scope.OWN) -> Principal:
    return Principal(
        user_id=7,
        active_entity_id=entity,
        member_entity_ids=frozenset({entity}),
        profile=AccessProfile.combine([Grant(frozenset(perms or ("*",)), scope)]),
        tree=EntityTree(store.entities),
    )


def admin(store: MemoryTariffs, entity: int = ROOT) -> Principal:
    return system_principal(EntityTree(store.entities), entity)


def service(store: MemoryTariffs) -> TariffService:
    return TariffService(store, clock=lambda: NOW)


async def imported(store: MemoryTariffs, owner: int = A, **body: Any) -> int:
    result = await service(store).import_tariff(
        admin(store), TariffCreate(ocpi=body.pop("ocpi", tariff()), owner_entity_id=owner, **body)
    )
    return result.tariff.id


async def test_importing_a_known_code_adds_a_version_and_versions_are_found_by_moment() -> None:
    """The first import creates the tariff, the second (same code) a new
    version; the version valid at a moment is the latest valid_from at or
    before it, and none before the first."""
    store = world()
    svc = service(store)
    first = await svc.import_tariff(
        admin(store), TariffCreate(ocpi=priced("0.30"), owner_entity_id=A, valid_from=JAN)
    )
    second = await svc.import_tariff(
        admin(store), TariffCreate(ocpi=priced("0.35"), owner_entity_id=A, valid_from=MAR)
    )
    assert first.created and not second.created
    assert second.tariff.id == first.tariff.id
    assert [v.valid_from for v in second.tariff.versions] == [JAN, MAR]
    feb = await store.version_at(first.tariff.id, datetime(2026, 2, 1, tzinfo=UTC))
    later = await store.version_at(first.tariff.id, MAR)
    assert feb is not None and later is not None
    assert feb.tariff.elements[0].price_components[0].price == Decimal("0.30")
    assert later.tariff.elements[0].price_components[0].price == Decimal("0.35")
    assert later.currency == "EUR" and later.id == second.version.id
    assert await store.version_at(first.tariff.id, datetime(2025, 1, 1, tzinfo=UTC)) is None


async def test_valid_from_defaults_to_start_date_time_else_now() -> None:
    """Without valid_from a version is valid from the OCPI start_date_time,
    or from now when the tariff has none."""
    store = world()
    svc = service(store)
    started = await svc.import_tariff(
        admin(store),
        TariffCreate(ocpi=tariff(start_date_time="2026-02-01T00:00:00Z"), owner_entity_id=A),
    )
    plain = await svc.import_tariff(
        admin(store), TariffCreate(ocpi=tariff(id="OTHER"), owner_entity_id=A)
    )
    assert started.version.valid_from == datetime(2026, 2, 1, tzinfo=UTC)
    assert plain.version.valid_from == NOW


async def test_a_second_version_at_the_same_moment_is_a_conflict() -> None:
    """Versions are never changed: one valid from the same moment is refused."""
    store = world()
    tariff_id = await imported(store, valid_from=JAN)
    with pytest.raises(Conflict, match="versions are never changed"):
        await service(store).add_version(
            admin(store), tariff_id, TariffVersionCreate(ocpi=priced("0.99"), valid_from=JAN)
        )


async def test_a_version_must_keep_the_code_and_currency() -> None:
    """A new version naming another OCPI id or currency is refused, both named."""
    store = world()
    tariff_id = await imported(store)
    with pytest.raises(InvalidTariff) as refused:
        await service(store).add_version(
            admin(store), tariff_id, TariffVersionCreate(ocpi=tariff(id="X", currency="CHF"))
        )
    assert [path for path, _ in refused.value.errors] == ["id", "currency"]


async def test_an_invalid_tariff_names_every_bad_field() -> None:
    """A tariff with several bad fields is refused listing each of them."""
    store = world()
    bad = tariff(currency="euro", last_updated="yesterday")
    bad["elements"][0]["price_components"][0]["price"] = -1
    with pytest.raises(InvalidTariff) as refused:
        await service(store).import_tariff(admin(store), TariffCreate(ocpi=bad, owner_entity_id=A))
    paths = {path for path, _ in refused.value.errors}
    assert {"currency", "last_updated", "elements[0].price_components[0].price"} <= paths
    assert "elements[0].price_components[0].price" in str(refused.value)
    assert store.tariffs == {}


async def test_export_gives_the_numbers_exactly_as_imported() -> None:
    """A price with 21 decimals comes back from the export unchanged."""
    store = world()
    tariff_id = await imported(store, ocpi=TARIFF_TEXT, valid_from=JAN)
    text = await service(store).export(admin(store), tariff_id)
    assert "0.391234567890123456789" in text
    assert json.loads(text, parse_float=Decimal)["id"] == "AC-STANDARD"


async def test_export_before_the_first_version_is_not_found() -> None:
    """A moment before every version has nothing to export."""
    store = world()
    tariff_id = await imported(store, valid_from=MAR)
    with pytest.raises(NotFound, match="no version valid"):
        await service(store).export(admin(store), tariff_id, JAN)


async def test_users_see_only_tariffs_of_their_visible_entities() -> None:
    """A user of B (own scope) lists none of A's tariffs, and A's tariff's
    detail, export, new version and deletion are NotFound for them."""
    store = world()
    tariff_id = await imported(store, owner=A)
    mine = await imported(store, owner=B)
    svc = service(store)
    b_user = user(store, B, "tariffs:*")
    items, total = await svc.list_tariffs(b_user, TariffFilter(), limit=50, offset=0)
    assert [t.id for t in items] == [mine] and total == 1
    for attempt in (
        svc.get(b_user, tariff_id),
        svc.export(b_user, tariff_id),
        svc.add_version(b_user, tariff_id, TariffVersionCreate(ocpi=tariff())),
        svc.delete(b_user, tariff_id),
    ):
        with pytest.raises(NotFound):
            await attempt


async def test_a_subtree_reader_may_not_change_what_it_only_reads() -> None:
    """Reading a child's tariff through subtree scope gives no right to add
    versions when updating is granted on the own entity only."""
    store = world()
    tariff_id = await imported(store, owner=A1)
    reader = Principal(
        user_id=7,
        active_entity_id=A,
        member_entity_ids=frozenset({A}),
        profile=AccessProfile.combine(
            [
                Grant(frozenset({"tariffs:read"}), Scope.SUBTREE),
                Grant(frozenset({"tariffs:update"}), Scope.OWN),
            ]
        ),
        tree=EntityTree(store.entities),
    )
    assert (await service(store).get(reader, tariff_id)).owner_entity_id == A1
    with pytest.raises(Forbidden):
        await service(store).add_version(reader, tariff_id, TariffVersionCreate(ocpi=tariff()))


async def test_importing_without_permission_is_forbidden() -> None:
    """A user who may only read tariffs cannot import one."""
    store = world()
    with pytest.raises(Forbidden):
        await service(store).import_tariff(
            user(store, A, "tariffs:read"), TariffCreate(ocpi=tariff())
        )


async def test_a_tariff_in_use_is_not_deleted() -> None:
    """A tariff with an assignment, or whose version priced a CDR, is kept
    (Conflict saying why); one nothing refers to is deleted."""
    store = world()
    svc = service(store)
    assigned = await imported(store)
    rated = await imported(store, ocpi=tariff(id="RATED"))
    free = await imported(store, ocpi=tariff(id="FREE"))
    await svc.assign(
        admin(store), TariffAssignmentCreate(tariff_id=assigned, audience=Audience.EMP)
    )
    store.cdr_versions.append((await store.versions(rated))[0].id)
    with pytest.raises(Conflict, match="1 assignment"):
        await svc.delete(admin(store), assigned)
    with pytest.raises(Conflict, match="1 CDR"):
        await svc.delete(admin(store), rated)
    await svc.delete(admin(store), free)
    assert set(store.tariffs) == {assigned, rated}


async def test_emp_assignments_name_only_the_assigning_entitys_stations() -> None:
    """For audience emp the station and group must be the tariff owner's own
    (a child's or another entity's are refused alike); the EMP must exist
    and differ from the owner."""
    store = world()
    svc = service(store)
    tariff_id = await imported(store, owner=A)

    def emp(**fields: Any) -> TariffAssignmentCreate:
        return TariffAssignmentCreate(tariff_id=tariff_id, audience=Audience.EMP, **fields)

    ok = await svc.assign(admin(store), emp(station_id=STATION_A, counterparty_entity_id=B))
    assert (ok.owner_entity_id, ok.station_id, ok.counterparty_entity_id) == (A, STATION_A, B)
    for fields, field in (
        ({"station_id": STATION_A1}, "station_id: no station 11 of entity 2"),
        ({"station_id": 999}, "station_id: no station 999 of entity 2"),
        ({"station_group_id": GROUP_A1}, "station_group_id"),
        ({"counterparty_entity_id": A}, "counterparty_entity_id"),
        ({"counterparty_entity_id": 999}, "counterparty_entity_id"),
        ({"station_id": STATION_A, "station_group_id": GROUP_A}, "not both"),
        ({"priority": 2**40}, "priority"),
    ):
        with pytest.raises(InvalidInput, match=field):
            await svc.assign(admin(store), emp(**fields))


async def test_sub_cpo_assignments_name_a_childs_stations_and_the_child() -> None:
    """For audience sub_cpo the station or group is a child's and the
    counterparty that child; the parent's own station, a grandparent's view
    of someone else's child, or a station of another child than the
    counterparty are refused."""
    store = world()
    svc = service(store)
    tariff_id = await imported(store, owner=A)

    def sub_cpo(**fields: Any) -> TariffAssignmentCreate:
        return TariffAssignmentCreate(tariff_id=tariff_id, audience=Audience.SUB_CPO, **fields)

    ok = await svc.assign(admin(store), sub_cpo(station_id=STATION_A1, counterparty_entity_id=A1))
    assert ok.audience is Audience.SUB_CPO
    await svc.assign(admin(store), sub_cpo(station_group_id=GROUP_A1))
    store.add_entity(5, A)
    for fields, message in (
        ({"station_id": STATION_A}, "station_id: no station 10 of a sub-CPO"),
        ({"counterparty_entity_id": B}, "counterparty_entity_id"),
        ({"station_id": STATION_A1, "counterparty_entity_id": 5}, "not the counterparty"),
    ):
        with pytest.raises(InvalidInput, match=message):
            await svc.assign(admin(store), sub_cpo(**fields))


async def test_customer_assignments_name_visible_stations_and_no_counterparty() -> None:
    """For audience customer a station must be one the user may read; a
    counterparty is refused (the buyer is a contact)."""
    store = world()
    tariff_id = await imported(store, owner=A)
    svc = service(store)
    a_user = user(store, A, "tariffs:*", "stations:read")

    def customer(**fields: Any) -> TariffAssignmentCreate:
        return TariffAssignmentCreate(tariff_id=tariff_id, audience=Audience.CUSTOMER, **fields)

    assert (await svc.assign(a_user, customer(station_id=STATION_A))).station_id == STATION_A
    with pytest.raises(InvalidInput, match="station_id: no station 12 that you can see"):
        await svc.assign(a_user, customer(station_id=STATION_B))
    with pytest.raises(InvalidInput, match="counterparty_entity_id"):
        await svc.assign(a_user, customer(counterparty_entity_id=B))


async def test_another_entitys_tariff_cannot_be_assigned_or_unassigned() -> None:
    """A user of B assigning A's tariff gets NotFound, and A's assignment
    is invisible and NotFound for them."""
    store = world()
    tariff_id = await imported(store, owner=A)
    svc = service(store)
    mine = await svc.assign(
        admin(store), TariffAssignmentCreate(tariff_id=tariff_id, audience=Audience.EMP)
    )
    b_user = user(store, B, "tariffs:*")
    with pytest.raises(NotFound, match="tariff_id"):
        await svc.assign(b_user, TariffAssignmentCreate(tariff_id=tariff_id, audience=Audience.EMP))
    assert await svc.list_assignments(b_user, AssignmentFilter(), limit=50, offset=0) == ([], 0)
    with pytest.raises(NotFound):
        await svc.unassign(b_user, mine.id)
    await svc.unassign(user(store, A, "tariffs:*"), mine.id)
    assert store.assignments == {}


async def test_the_lookup_lists_assignments_per_owner_and_audience() -> None:
    """The rater's lookup gives an entity's assignments of one audience only."""
    store = world()
    tariff_id = await imported(store, owner=A)
    svc = service(store)
    emp = await svc.assign(
        admin(store), TariffAssignmentCreate(tariff_id=tariff_id, audience=Audience.EMP)
    )
    await svc.assign(
        admin(store), TariffAssignmentCreate(tariff_id=tariff_id, audience=Audience.CUSTOMER)
    )
    rows = await store.assignments_for(A, "emp")
    assert [r.id for r in rows] == [emp.id] and rows[0].audience is Audience.EMP
    assert await store.assignments_for(B, "emp") == []


async def test_parsed_versions_are_cached() -> None:
    """Asking for the same version twice parses its OCPI text once."""
    store = world()
    tariff_id = await imported(store, valid_from=JAN)
    first = await store.version_at(tariff_id, NOW)
    second = await store.version_at(tariff_id, NOW)
    assert first is not None and second is not None and first.tariff is second.tariff
    assert store.parses == 1


async def test_community_is_the_own_subtree_and_the_named_partners() -> None:
    """An entity's community is its subtree plus its partners; naming one of
    its own subtree, an unknown entity or a partner twice is refused."""
    store = world()
    svc = service(store)
    added = await svc.add_partner(
        admin(store), CommunityPartnerCreate(entity_id=A, partner_entity_id=B)
    )
    assert await store.community_of(A) == {A, A1, B}
    assert await store.community_of(B) == {B}
    with pytest.raises(InvalidInput, match="own subtree"):
        await svc.add_partner(
            admin(store), CommunityPartnerCreate(entity_id=A, partner_entity_id=A1)
        )
    with pytest.raises(InvalidInput, match="partner_entity_id: entity 999"):
        await svc.add_partner(
            admin(store), CommunityPartnerCreate(entity_id=A, partner_entity_id=999)
        )
    with pytest.raises(Conflict):
        await svc.add_partner(
            admin(store), CommunityPartnerCreate(entity_id=A, partner_entity_id=B)
        )
    b_user = user(store, B, "tariffs:*")
    assert await svc.list_partners(b_user, None, limit=50, offset=0) == ([], 0)
    with pytest.raises(NotFound):
        await svc.remove_partner(b_user, added.id)
    await svc.remove_partner(admin(store), added.id)
    assert await store.community_of(A) == {A, A1}
