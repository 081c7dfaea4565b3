"""The access-rule decision table (csms.domain.access_rules), free of I/O."""

from __future__ import annotations

import pytest

from crm.errors import InvalidInput
from crm.media import MediumRecord
from crm.tree import EntityTree
from csms.domain.access_rules import Rule, StationAccess, admits, check_rule

pytestmark = pytest.mark.backend_independent

# 1 ── 2 ── 3        (operator 1, its subsidiary 2, 2's site company 3)
#  └── 4             (another subsidiary)
# 9                  (an unrelated entity, a roaming partner)
TREE = EntityTree({1: None, 2: 1, 3: 2, 4: 1, 9: None})


def medium(issuer: int, uid: str = "CARD", group: str = "") -> MediumRecord:
    return MediumRecord(uid=uid, issuing_entity_id=issuer, group_uid=group)


def station(*rules: str, owner: int | None = 2, group_rules: tuple[str, ...] = ()) -> StationAccess:
    """A station owned by ``owner`` with rules written 'allow subject value'."""

    def parse(text: str) -> Rule:
        effect, subject, *value = text.split()
        return check_rule(effect, subject, value[0] if value else "")

    return StationAccess(
        station_pk=7,
        owner_entity_id=owner,
        station_group_id=5 if group_rules else None,
        rules=tuple(parse(r) for r in (*rules, *group_rules)),
    )


def test_a_station_without_rules_admits_every_valid_medium() -> None:
    """No rules at all: public, as every station was before rules existed."""
    access = station()
    assert all(admits(access, medium(issuer), TREE) for issuer in (1, 2, 3, 4, 9))


def test_a_station_with_only_deny_rules_stays_public_for_everyone_else() -> None:
    """Deny rules alone do not close a station: no allow rule means public."""
    access = station("deny medium BAD")
    assert admits(access, medium(9, uid="GOOD"), TREE)
    assert not admits(access, medium(9, uid="BAD"), TREE)


def test_stations_compiled_one_after_another_do_not_share_their_rules() -> None:
    """Stations without rules of one side share an empty matcher; compiling
    a station with rules afterwards never puts them into that shared one."""
    open_station = station().compile(TREE)
    deny_only = station("deny medium BAD").compile(TREE)
    closed = station("allow medium MINE", "deny everyone").compile(TREE)
    allow_only = station("allow issuing_entity 9").compile(TREE)
    assert not closed.admits(medium(9, uid="MINE"))
    assert allow_only.admits(medium(9)) and not allow_only.admits(medium(2))
    assert open_station.admits(medium(2, uid="BAD")) and open_station.admits(medium(9))
    assert deny_only.admits(medium(2)) and not deny_only.admits(medium(9, uid="BAD"))
    assert open_station.public and deny_only.public
    assert not closed.public and not allow_only.public


def test_owner_entity_admits_only_media_issued_by_the_owner_itself() -> None:
    """owner_entity: the station owner's own media, not its parent's or children's."""
    access = station("allow owner_entity")
    assert admits(access, medium(2), TREE)
    assert not admits(access, medium(1), TREE)
    assert not admits(access, medium(3), TREE)
    assert not admits(access, medium(9), TREE)


def test_owner_subtree_admits_media_of_the_owner_and_its_descendants() -> None:
    """owner_subtree: owner 2 and its descendant 3, but not the parent 1 or sibling 4."""
    access = station("allow owner_subtree")
    assert admits(access, medium(2), TREE)
    assert admits(access, medium(3), TREE)
    assert not admits(access, medium(1), TREE)
    assert not admits(access, medium(4), TREE)


def test_owner_rules_admit_nobody_at_a_station_without_owner() -> None:
    """A station nobody owns has no owner's media; the allow rule still closes it."""
    access = station("allow owner_entity", "allow owner_subtree", owner=None)
    assert not admits(access, medium(2), TREE)


def test_medium_rule_admits_exactly_that_uid() -> None:
    access = station("allow medium CARD-1")
    assert admits(access, medium(9, uid="CARD-1"), TREE)
    assert not admits(access, medium(9, uid="CARD-2"), TREE)


def test_media_group_rule_admits_media_of_that_group_only() -> None:
    """media_group matches the medium's group id; a medium without group never matches."""
    access = station("allow media_group FLEET-A")
    assert admits(access, medium(9, group="FLEET-A"), TREE)
    assert not admits(access, medium(9, group="FLEET-B"), TREE)
    assert not admits(access, medium(9), TREE)


def test_issuing_entity_rule_admits_media_issued_by_that_entity_only() -> None:
    access = station("allow issuing_entity 9")
    assert admits(access, medium(9), TREE)
    assert not admits(access, medium(2), TREE)


def test_issuing_subtree_rule_admits_the_entity_and_its_descendants() -> None:
    access = station("allow issuing_subtree 1", owner=9)
    assert all(admits(access, medium(issuer), TREE) for issuer in (1, 2, 3, 4))
    assert not admits(access, medium(9), TREE)


def test_everyone_rule_admits_everybody_despite_other_allows() -> None:
    access = station("allow owner_entity", "allow everyone")
    assert admits(access, medium(9), TREE)


def test_deny_beats_a_matching_allow() -> None:
    """A medium both allowed (by its issuer) and denied (by uid) is refused."""
    access = station("allow owner_subtree", "deny medium STOLEN")
    assert admits(access, medium(3, uid="FINE"), TREE)
    assert not admits(access, medium(3, uid="STOLEN"), TREE)


def test_deny_everyone_closes_the_station() -> None:
    access = station("allow everyone", "deny everyone")
    assert not admits(access, medium(2), TREE)


def test_deny_subtree_refuses_the_whole_branch() -> None:
    access = station("deny issuing_subtree 2", owner=1)
    assert not admits(access, medium(2), TREE)
    assert not admits(access, medium(3), TREE)
    assert admits(access, medium(4), TREE)


def test_group_and_station_rules_combine() -> None:
    """The group's allow and the station's allow both admit; the group's deny
    refuses even what the station's own rule allows."""
    access = station(
        "allow issuing_entity 9",
        group_rules=("allow owner_entity", "deny medium LOST-1"),
    )
    assert admits(access, medium(9), TREE)
    assert admits(access, medium(2), TREE)
    assert not admits(access, medium(4), TREE)
    assert not admits(access, medium(9, uid="LOST-1"), TREE)


def test_a_group_allow_rule_closes_a_station_without_rules_of_its_own() -> None:
    """Public means no allow rule on the station *or* its group."""
    access = station(group_rules=("allow owner_entity",))
    assert not admits(access, medium(9), TREE)


def test_subtree_rules_follow_the_tree_they_are_compiled_with() -> None:
    """After 4 moves under 2, owner_subtree of 2 admits 4's media."""
    access = station("allow owner_subtree")
    assert not admits(access, medium(4), TREE)
    assert admits(access, medium(4), TREE.moved(4, 2))


@pytest.mark.parametrize(
    ("effect", "subject", "value", "message"),
    [
        ("permit", "everyone", "", "effect is one of allow, deny"),
        ("allow", "anyone", "", "subject is one of everyone"),
        ("allow", "owner_entity", "3", "takes no value"),
        ("allow", "medium", "", "needs the medium's uid"),
        ("allow", "media_group", " ", "needs the media group id"),
        ("allow", "medium", "X" * 37, "at most 36 characters"),
        ("allow", "issuing_entity", "abc", "needs an entity id"),
        ("deny", "issuing_subtree", "0", "needs an entity id"),
    ],
)
def test_bad_rules_are_refused_with_a_reason(
    effect: str, subject: str, value: str, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        check_rule(effect, subject, value)


def test_rules_are_normalised() -> None:
    """Case of effect and subject and spaces around values do not matter."""
    rule = check_rule(" DENY ", "Issuing_Entity", " 007 ")
    assert (rule.effect, rule.subject, rule.value) == ("deny", "issuing_entity", "7")
