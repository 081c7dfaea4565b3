"""The local authorisation list (csms.domain.local_list): which media it
holds, the differences between two lists, versions and parts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crm.media import MediumRecord, MediumStatus
from crm.tree import EntityTree
from csms.commands.model import LocalListEntry
from csms.domain.access_rules import StationAccess, check_rule
from csms.domain.local_list import (
    HeldList,
    apply,
    changes,
    entry_for,
    plan,
    wanted_entries,
)

pytestmark = pytest.mark.backend_independent

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
TREE = EntityTree({1: None, 2: 1, 9: None})


def medium(uid: str, issuer: int = 2, **fields: object) -> MediumRecord:
    return MediumRecord(uid=uid, issuing_entity_id=issuer, **fields)  # type: ignore[arg-type]


def access(*rules: str) -> object:
    parsed = []
    for text in rules:
        effect, subject, *value = text.split()
        parsed.append(check_rule(effect, subject, value[0] if value else ""))
    return StationAccess(7, owner_entity_id=2, rules=tuple(parsed)).compile(TREE)


def entry(tag: str, status: str | None = "Accepted") -> LocalListEntry:
    return LocalListEntry(id_tag=tag, status=status)


def test_an_active_admitted_medium_is_accepted_with_its_expiry_and_group() -> None:
    """Accepted, expiry = valid_until, parent = the medium's group."""
    until = NOW + timedelta(days=30)
    found = entry_for(medium("A", valid_until=until, group_uid="FLEET"), access(), NOW)
    assert found == LocalListEntry("A", "Accepted", expires_at=until, parent_id="FLEET")


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({"status": MediumStatus.BLOCKED}, "Blocked"),
        ({"status": MediumStatus.LOST}, "Blocked"),
        ({"status": MediumStatus.EXPIRED}, "Expired"),
        ({"valid_until": NOW - timedelta(seconds=1)}, "Expired"),
    ],
)
def test_blocked_lost_and_expired_media_are_sent_as_standing_refusals(
    fields: dict[str, object], status: str
) -> None:
    """A charger offline must refuse them, so they are in the list as such."""
    found = entry_for(medium("A", **fields), access(), NOW)
    assert found is not None and found.status == status


def test_media_not_valid_yet_or_refused_by_the_rules_are_left_out() -> None:
    """No OCPP status says 'later'; a rule's refusal is the CSMS's answer."""
    compiled = access("allow owner_entity")
    media = [
        medium("LATER", valid_from=NOW + timedelta(days=1)),
        medium("FOREIGN", issuer=9),
        medium("OWN"),
    ]
    assert list(wanted_entries(media, compiled, NOW)) == ["OWN"]  # type: ignore[arg-type]


def test_changes_name_added_changed_and_removed_tags() -> None:
    """Removed ones carry no status (OCPP: no idTagInfo means delete)."""
    held = {"A": entry("A"), "B": entry("B"), "C": entry("C")}
    wanted = {"A": entry("A"), "B": entry("B", "Blocked"), "D": entry("D")}
    diff = changes(held, wanted)
    assert diff.added == (entry("D"),)
    assert diff.changed == (entry("B", "Blocked"),)
    assert diff.removed == (LocalListEntry("C"),)
    assert apply(held, "differential", diff.entries) == wanted


def test_a_station_holding_our_version_gets_a_differential_with_the_next_version() -> None:
    """Only the change, version + 1."""
    held = HeldList(version=4, entries=(entry("A"), entry("B")))
    result = plan(4, held, {"A": entry("A"), "B": entry("B", "Blocked")}, 100)
    assert result.update == "differential"
    assert [(p.update, p.version, p.entries) for p in result.parts] == [
        ("differential", 5, (entry("B", "Blocked"),))
    ]


def test_a_station_holding_the_wanted_list_gets_nothing() -> None:
    held = HeldList(version=4, entries=(entry("A"),))
    result = plan(4, held, {"A": entry("A")}, 100)
    assert result.update == "none" and result.parts == ()


@pytest.mark.parametrize(
    ("charger_version", "held"),
    [
        (0, None),  # we never sent it anything
        (3, HeldList(version=4, entries=(entry("A"),))),  # it lost a version
        (9, HeldList(version=4, entries=(entry("A"),))),  # someone else sent one
    ],
)
def test_a_station_whose_version_is_not_ours_gets_the_full_list(
    charger_version: int, held: HeldList | None
) -> None:
    """Full, with a version above both its and ours."""
    result = plan(charger_version, held, {"A": entry("A"), "B": entry("B")}, 100)
    assert result.update == "full"
    (part,) = result.parts
    assert part.update == "full" and part.entries == (entry("A"), entry("B"))
    assert part.version == max(charger_version, held.version if held else 0) + 1


def test_a_full_list_longer_than_one_message_is_a_full_part_then_differential_parts() -> None:
    """Each part at most items_per_message entries, each with the next version."""
    wanted = {f"T{i:02}": entry(f"T{i:02}") for i in range(7)}
    result = plan(0, None, wanted, 3)
    assert [(p.update, p.version, len(p.entries)) for p in result.parts] == [
        ("full", 1, 3),
        ("differential", 2, 3),
        ("differential", 3, 1),
    ]
    held: dict[str, LocalListEntry] = {}
    for part in result.parts:
        held = apply(held, part.update, part.entries)
    assert held == wanted


def test_an_empty_wanted_list_is_one_empty_full_part() -> None:
    """It clears what the station holds."""
    result = plan(2, None, {}, 100)
    assert [(p.update, p.version, p.entries) for p in result.parts] == [("full", 3, ())]


def test_forcing_full_sends_full_even_when_versions_match() -> None:
    held = HeldList(version=4, entries=(entry("A"),))
    result = plan(4, held, {"A": entry("A")}, 100, full=True)
    assert [(p.update, p.version) for p in result.parts] == [("full", 5)]


# -- the sync, against a fake charger ---------------------------------------------------


class FakeCharger:
    """Answers GetLocalListVersion and SendLocalList with scripted statuses."""

    def __init__(self, version: int, statuses: list[str]) -> None:
        self.version = version
        self.statuses = statuses
        self.sent: list[object] = []

    async def send(self, charge_point_id: str, command: object, *, timeout: float | None = None):  # type: ignore[no-untyped-def]
        from csms.commands.outcomes import Answered

        self.sent.append(command)
        if type(command).__name__ == "GetLocalListVersion":
            return Answered(None, {"list_version": self.version})
        status = self.statuses.pop(0)
        if status == "Accepted":
            self.version = command.version  # type: ignore[attr-defined]
        return Answered(status, {})


class MemoryHeld:
    def __init__(self, held: HeldList | None = None) -> None:
        self.value = held

    async def held(self, station_pk: int) -> HeldList | None:
        return self.value

    async def updated_at(self, station_pk: int) -> None:
        return None

    async def record(self, station_pk: int, version: int, entries: dict) -> None:  # type: ignore[type-arg]
        self.value = HeldList(version, tuple(entries[t] for t in sorted(entries)))

    async def set_items_per_message(self, station_pk: int, items: int | None) -> None:
        raise AssertionError("not used")


class Registry:
    def __init__(self, *media: MediumRecord) -> None:
        self.media = list(media)

    async def all_media(self) -> list[MediumRecord]:
        return self.media

    async def station_access(self, station_pk: int) -> StationAccess:
        return StationAccess(station_pk, owner_entity_id=2)

    async def entity_tree(self) -> EntityTree:
        return TREE


def service(charger: FakeCharger, held: MemoryHeld, registry: Registry):  # type: ignore[no-untyped-def]
    from csms.domain.local_list import LocalListService

    return LocalListService(
        store=held,
        media=registry,
        access=registry,
        commands=charger,
        stations=None,  # type: ignore[arg-type]
        clock=lambda: NOW,
    )


async def test_a_version_mismatch_is_retried_once_as_a_full_list() -> None:
    """The differential is refused; the full list that follows is recorded."""
    charger = FakeCharger(4, ["VersionMismatch", "Accepted"])
    held = MemoryHeld(HeldList(4, (entry("A"),)))
    result = await service(charger, held, Registry(medium("A"), medium("B"))).sync(7, "CP")
    kinds = [getattr(c, "update", None) for c in charger.sent]
    assert kinds == [None, "differential", "full"]
    assert result.synced and result.retried_full and result.version == 6
    assert held.value == HeldList(6, (entry("A"), entry("B")))


async def test_a_refused_list_is_not_recorded_and_the_status_comes_back() -> None:
    """Failed: what we recorded stays, the operator sees Failed."""
    charger = FakeCharger(0, ["Failed"])
    held = MemoryHeld()
    result = await service(charger, held, Registry(medium("A"))).sync(7, "CP")
    assert not result.synced and result.outcome is not None
    assert result.outcome.status == "Failed"  # type: ignore[union-attr]
    assert held.value is None


async def test_a_part_refused_midway_leaves_the_parts_accepted_before_recorded() -> None:
    """Full part accepted, second part failed: the record is the first part."""
    charger = FakeCharger(0, ["Accepted", "Failed"])
    held = MemoryHeld()
    svc = service(charger, held, Registry(*(medium(f"T{i}") for i in range(3))))
    svc.items_per_message = 2
    result = await svc.sync(7, "CP")
    assert not result.synced and result.parts == 1
    assert held.value == HeldList(1, (entry("T0"), entry("T1")))
