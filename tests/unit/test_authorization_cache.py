"""The Authorizer's verdicts and its in-memory cache (csms.domain.authorization),
with in-memory sources that count their loads."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from crm.media import MediumRecord, MediumStatus
from crm.tree import EntityTree
from csms.domain.access_rules import StationAccess, check_rule
from csms.domain.authorization import Authorizer
from csms.domain.invalidation import BroadcastInvalidation
from csms.domain.model import AuthorizationStatus as S
from csms.messaging.in_process import InProcessBus

pytestmark = pytest.mark.backend_independent

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)


class Media:
    def __init__(self, *records: MediumRecord) -> None:
        self.records = {r.uid: r for r in records}
        self.loads: list[str] = []
        self.gate: asyncio.Event | None = None
        self.fail = False

    async def lookup(self, uid: str) -> MediumRecord | None:
        self.loads.append(uid)
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise ConnectionError("database down")
        return self.records.get(uid)


class Access:
    def __init__(self, tree: EntityTree) -> None:
        self.tree = tree
        self.stations: dict[int, StationAccess] = {}
        self.station_loads = 0
        self.tree_loads = 0

    def set(self, pk: int, owner: int, *rules: str) -> None:
        parsed = []
        for text in rules:
            effect, subject, *value = text.split()
            parsed.append(check_rule(effect, subject, value[0] if value else ""))
        self.stations[pk] = StationAccess(pk, owner, None, tuple(parsed))

    async def station_access(self, station_pk: int) -> StationAccess | None:
        self.station_loads += 1
        return self.stations.get(station_pk)

    async def entity_tree(self) -> EntityTree:
        self.tree_loads += 1
        return self.tree


class Sessions:
    def __init__(self) -> None:
        self.charging: set[str] = set()
        self.asked = 0

    async def active_elsewhere(
        self, id_tag: str, *, station_pk: int, connector_id: int | None
    ) -> bool:
        self.asked += 1
        return id_tag in self.charging


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


# Entity 1 owns the stations, 2 is its subsidiary, 9 a partner.
TREE = EntityTree({1: None, 2: 1, 9: None})


def card(uid: str = "CARD", issuer: int = 1, **fields: object) -> MediumRecord:
    return MediumRecord(uid=uid, issuing_entity_id=issuer, **fields)  # type: ignore[arg-type]


def make(*records: MediumRecord, **options: object) -> tuple[Authorizer, Media, Access, Sessions]:
    media, access, sessions = Media(*records), Access(TREE), Sessions()
    access.set(10, 1)  # public
    authorizer = Authorizer(media, sessions, access, clock=lambda: NOW, **options)  # type: ignore[arg-type]
    return authorizer, media, access, sessions


# -- verdicts ------------------------------------------------------------------------------


async def test_unknown_medium_is_invalid() -> None:
    authorizer, *_ = make()
    assert (await authorizer.authorize("NOPE", station_pk=10)).status is S.INVALID


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, S.ACCEPTED),
        ({"status": MediumStatus.BLOCKED}, S.BLOCKED),
        ({"status": MediumStatus.LOST}, S.BLOCKED),
        ({"status": MediumStatus.EXPIRED}, S.EXPIRED),
        ({"valid_until": NOW - timedelta(seconds=1)}, S.EXPIRED),
        ({"valid_until": NOW + timedelta(days=1)}, S.ACCEPTED),
        ({"valid_from": NOW + timedelta(days=1)}, S.INVALID),
        ({"valid_from": NOW - timedelta(days=1)}, S.ACCEPTED),
        # Blocked wins over every date.
        ({"status": MediumStatus.BLOCKED, "valid_until": NOW - timedelta(1)}, S.BLOCKED),
    ],
)
async def test_the_medium_decides_first(fields: dict[str, object], expected: S) -> None:
    authorizer, *_ = make(card(**fields))  # type: ignore[arg-type]
    assert (await authorizer.authorize("CARD", station_pk=10)).status is expected


async def test_answers_carry_the_group_and_the_expiry() -> None:
    """parentIdTag is the medium's group id, expiryDate its valid_until."""
    until = NOW + timedelta(days=30)
    authorizer, *_ = make(card(group_uid="FLEET", valid_until=until))
    token = await authorizer.authorize("CARD", station_pk=10)
    assert (token.status, token.parent_id, token.expires_at) == (S.ACCEPTED, "FLEET", until)


async def test_a_valid_medium_the_rules_refuse_is_not_at_this_location() -> None:
    authorizer, _, access, sessions = make(card(issuer=9))
    access.set(11, 1, "allow owner_entity")
    assert (await authorizer.authorize("CARD", station_pk=11)).status is S.NOT_AT_THIS_LOCATION
    assert sessions.asked == 0


async def test_a_blocked_medium_is_blocked_even_where_the_rules_would_refuse_it() -> None:
    authorizer, _, access, _ = make(card(issuer=9, status=MediumStatus.BLOCKED))
    access.set(11, 1, "allow owner_entity")
    assert (await authorizer.authorize("CARD", station_pk=11)).status is S.BLOCKED


async def test_concurrent_tx_only_for_an_admitted_medium_and_only_when_asked() -> None:
    authorizer, _, _, sessions = make(card())
    sessions.charging.add("CARD")
    assert (await authorizer.authorize("CARD", station_pk=10)).status is S.CONCURRENT_TX
    stop = await authorizer.authorize("CARD", station_pk=10, check_concurrency=False)
    assert stop.status is S.ACCEPTED


# -- the cache -------------------------------------------------------------------------------


async def test_a_known_medium_is_loaded_once() -> None:
    authorizer, media, access, _ = make(card())
    for _ in range(5):
        assert (await authorizer.authorize("CARD", station_pk=10)).status is S.ACCEPTED
    assert media.loads == ["CARD"]
    assert access.station_loads == 1
    assert access.tree_loads == 1


async def test_an_unknown_medium_is_remembered_too() -> None:
    authorizer, media, *_ = make()
    for _ in range(3):
        await authorizer.authorize("NOPE", station_pk=10)
    assert media.loads == ["NOPE"]


async def test_media_changed_drops_those_uids_only() -> None:
    """A blocked card counts at the next decision once announced; other
    cards stay cached."""
    authorizer, media, *_ = make(card("A"), card("B"))
    await authorizer.authorize("A", station_pk=10)
    await authorizer.authorize("B", station_pk=10)
    media.records["A"] = card("A", status=MediumStatus.BLOCKED)
    assert (await authorizer.authorize("A", station_pk=10)).status is S.ACCEPTED  # cached
    BroadcastInvalidation(InProcessBus(), "test", authorizer).media_changed(frozenset({"A"}))
    assert (await authorizer.authorize("A", station_pk=10)).status is S.BLOCKED
    await authorizer.authorize("B", station_pk=10)
    assert media.loads == ["A", "B", "A"]


async def test_media_changed_turns_a_remembered_unknown_into_a_known_medium() -> None:
    authorizer, media, *_ = make()
    assert (await authorizer.authorize("NEW", station_pk=10)).status is S.INVALID
    media.records["NEW"] = card("NEW")
    authorizer.media_changed(["NEW"])
    assert (await authorizer.authorize("NEW", station_pk=10)).status is S.ACCEPTED


async def test_stations_changed_reloads_that_station() -> None:
    authorizer, _, access, _ = make(card(issuer=9))
    access.set(11, 1)
    assert (await authorizer.authorize("CARD", station_pk=11)).status is S.ACCEPTED
    access.set(11, 1, "allow owner_entity")
    assert (await authorizer.authorize("CARD", station_pk=11)).status is S.ACCEPTED  # cached
    BroadcastInvalidation(InProcessBus(), "test", authorizer).stations_changed(frozenset({11}))
    assert (await authorizer.authorize("CARD", station_pk=11)).status is S.NOT_AT_THIS_LOCATION


async def test_stations_changed_none_reloads_every_station() -> None:
    authorizer, _, access, _ = make(card(issuer=9))
    access.set(11, 1)
    access.set(12, 1)
    for pk in (11, 12):
        await authorizer.authorize("CARD", station_pk=pk)
    access.set(11, 1, "deny everyone")
    access.set(12, 1, "deny everyone")
    authorizer.stations_changed(None)
    for pk in (11, 12):
        assert (await authorizer.authorize("CARD", station_pk=pk)).status is S.NOT_AT_THIS_LOCATION


async def test_entities_changed_recompiles_subtree_rules_with_the_new_tree() -> None:
    """Entity 9 moves under the owner: owner_subtree admits its media once announced."""
    authorizer, _, access, _ = make(card(issuer=9))
    access.set(11, 1, "allow owner_subtree")
    assert (await authorizer.authorize("CARD", station_pk=11)).status is S.NOT_AT_THIS_LOCATION
    access.tree = TREE.moved(9, 2)
    assert (await authorizer.authorize("CARD", station_pk=11)).status is S.NOT_AT_THIS_LOCATION
    BroadcastInvalidation(InProcessBus(), "test", authorizer).entities_changed()
    assert (await authorizer.authorize("CARD", station_pk=11)).status is S.ACCEPTED
    assert access.tree_loads == 2


async def test_concurrent_cold_lookups_share_one_load() -> None:
    """100 chargers asking for the same uncached card cost one query."""
    authorizer, media, access, _ = make(card())
    media.gate = asyncio.Event()
    asks = [asyncio.create_task(authorizer.authorize("CARD", station_pk=10)) for _ in range(100)]
    await asyncio.sleep(0)
    media.gate.set()
    answers = await asyncio.gather(*asks)
    assert {a.status for a in answers} == {S.ACCEPTED}
    assert media.loads == ["CARD"]
    assert access.station_loads == 1
    assert access.tree_loads == 1


async def test_a_change_during_a_load_is_not_lost() -> None:
    """A load in flight when its medium changes still answers its callers,
    but is not kept: the next decision reads the new state."""
    authorizer, media, *_ = make(card())
    media.gate = asyncio.Event()
    first = asyncio.create_task(authorizer.authorize("CARD", station_pk=10))
    await asyncio.sleep(0)
    media.records["CARD"] = card(status=MediumStatus.BLOCKED)
    authorizer.media_changed(["CARD"])
    media.gate.set()
    await first
    assert (await authorizer.authorize("CARD", station_pk=10)).status is S.BLOCKED
    assert len(media.loads) == 2


async def test_a_failed_load_fails_every_waiter_and_is_not_kept() -> None:
    authorizer, media, *_ = make(card())
    media.gate = asyncio.Event()
    media.fail = True
    asks = [asyncio.create_task(authorizer.authorize("CARD", station_pk=10)) for _ in range(3)]
    await asyncio.sleep(0)
    media.gate.set()
    results = await asyncio.gather(*asks, return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)
    media.fail = False
    assert (await authorizer.authorize("CARD", station_pk=10)).status is S.ACCEPTED
    assert len(media.loads) == 2


async def test_a_caller_giving_up_does_not_cancel_the_shared_load() -> None:
    authorizer, media, *_ = make(card())
    media.gate = asyncio.Event()
    impatient = asyncio.create_task(authorizer.authorize("CARD", station_pk=10))
    patient = asyncio.create_task(authorizer.authorize("CARD", station_pk=10))
    await asyncio.sleep(0)
    impatient.cancel()
    media.gate.set()
    assert (await patient).status is S.ACCEPTED
    assert media.loads == ["CARD"]


async def test_the_media_cache_is_bounded_least_recently_used_out_first() -> None:
    authorizer, media, *_ = make(card("A"), card("B"), card("C"), media_cache_size=2)
    for uid in ("A", "B", "A", "C"):  # B is the least recently used when C comes
        await authorizer.authorize(uid, station_pk=10)
    assert authorizer.cached_media == 2
    await authorizer.authorize("A", station_pk=10)
    await authorizer.authorize("B", station_pk=10)
    assert media.loads == ["A", "B", "C", "B"]


async def test_unknown_uids_cannot_push_known_media_out() -> None:
    """Unknown uids have a bound of their own: a flood of made-up uids
    leaves the known cards cached."""
    authorizer, media, *_ = make(card("A"), media_cache_size=10, unknown_media_cache_size=5)
    await authorizer.authorize("A", station_pk=10)
    for n in range(100):
        await authorizer.authorize(f"RANDOM-{n}", station_pk=10)
    await authorizer.authorize("A", station_pk=10)
    assert media.loads.count("A") == 1
    assert authorizer.cached_media == 1 + 5


async def test_entries_older_than_max_age_are_read_again() -> None:
    """Changes made by another process (no announcement yet) count after max_age."""
    ticks = Ticks()
    authorizer, media, *_ = make(card(), max_age=60.0, ticks=ticks)
    await authorizer.authorize("CARD", station_pk=10)
    media.records["CARD"] = card(status=MediumStatus.BLOCKED)
    ticks.now = 59.0
    assert (await authorizer.authorize("CARD", station_pk=10)).status is S.ACCEPTED
    ticks.now = 61.0
    assert (await authorizer.authorize("CARD", station_pk=10)).status is S.BLOCKED
