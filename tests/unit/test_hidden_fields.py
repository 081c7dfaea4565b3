"""Hidden fields are decided per row: a field of a row is hidden unless some
group that lets the user read that row shows it (crm/access.py)."""

from __future__ import annotations

import pytest

from crm.access import AccessProfile, Grant, Principal, Scope
from crm.tree import EntityTree

pytestmark = pytest.mark.backend_independent

# 1 is the root; 2 its child (the user's active entity), 3 a child of 2;
# 4 another child of 1, outside the active entity's subtree.
TREE = EntityTree({1: None, 2: 1, 3: 2, 4: 1})


def principal(*grants: Grant) -> Principal:
    return Principal(
        user_id=7,
        active_entity_id=2,
        member_entity_ids=frozenset({2}),
        profile=AccessProfile.combine(grants),
        tree=TREE,
    )


def grant(scope: Scope, *permissions: str, hidden: tuple[str, ...] = ()) -> Grant:
    return Grant(frozenset(permissions), scope, frozenset(hidden))


def everywhere_but_own(resource: str, field: str) -> Principal:
    """Group A: read everything everywhere, hiding the field; group B: all
    rights on the active entity's own rows, hiding nothing."""
    return principal(
        grant(Scope.ALL, f"{resource}:read", hidden=(f"{resource}.{field}",)),
        grant(Scope.OWN, f"{resource}:*"),
    )


def test_media_of_other_entities_keep_the_field_the_all_scope_group_hides() -> None:
    """The counter-example the property test found: a field the only group
    reaching other entities' media hides stays hidden on their media, and
    is shown on the active entity's own media."""
    user = everywhere_but_own("media", "bill_to_contact_id")
    assert user.row_hidden_fields("media", 4) == {"bill_to_contact_id"}
    assert user.row_hidden_fields("media", 3) == {"bill_to_contact_id"}
    assert user.row_hidden_fields("media", 2) == frozenset()


def test_contacts_seen_through_a_share_with_the_active_entity_show_the_field() -> None:
    """A contact of another entity shared with the active entity is read
    through the own-scope group too, so the field it shows is shown."""
    user = everywhere_but_own("contacts", "iban")
    assert user.row_hidden_fields("contacts", 4) == {"iban"}
    assert user.row_hidden_fields("contacts", 4, [3]) == {"iban"}
    assert user.row_hidden_fields("contacts", 4, [3, 2]) == frozenset()


def test_users_are_decided_by_their_narrowest_visible_membership() -> None:
    """A user is seen through their memberships: one in the active entity
    lets the own-scope group show them."""
    user = everywhere_but_own("users", "email")
    assert user.row_hidden_fields("users", 4) == {"email"}
    assert user.row_hidden_fields("users", 4, [2]) == frozenset()


def test_stations_without_an_owner_need_the_widest_scope() -> None:
    """A station of no entity is seen only through an all-scope group."""
    user = everywhere_but_own("stations", "iccid")
    assert user.row_hidden_fields("stations", None) == {"iccid"}
    assert user.row_hidden_fields("stations", 2) == frozenset()


def test_subtree_rows_use_the_groups_of_subtree_scope_or_wider() -> None:
    """Levels nest: a descendant's rows are shown by subtree and all groups,
    an outsider's by all groups only."""
    user = principal(
        grant(Scope.ALL, "entities:read", hidden=("entities.vat_id", "entities.comment")),
        grant(Scope.SUBTREE, "entities:read", hidden=("entities.vat_id",)),
        grant(Scope.OWN, "entities:read", hidden=("entities.comment",)),
    )
    assert user.row_hidden_fields("entities", 4) == {"vat_id", "comment"}
    assert user.row_hidden_fields("entities", 3) == {"vat_id"}
    assert user.row_hidden_fields("entities", 2) == frozenset()


def test_a_field_every_reading_group_hides_is_hidden_on_every_row() -> None:
    """Two groups that both hide a field hide it wherever the user reads."""
    user = principal(
        grant(Scope.ALL, "media:read", hidden=("media.note",)),
        grant(Scope.OWN, "media:*", hidden=("media.note",)),
    )
    assert all(user.row_hidden_fields("media", e) == {"note"} for e in (None, 2, 3, 4))
    assert user.hidden_on_every_row("media") == {"note"}


def test_without_a_row_the_answer_is_the_most_restrictive() -> None:
    """Where no row answers (a filter, a search): hidden if hidden on some
    visible row; an export drops only the columns hidden on every row."""
    user = everywhere_but_own("media", "owner_contact_id")
    assert user.hidden_fields("media") == {"owner_contact_id"}
    assert user.hidden_on_every_row("media") == frozenset()


def test_a_search_on_a_field_only_matches_where_it_is_shown() -> None:
    """The entities through whose rows a field is shown: the active one for
    a field only the own-scope group shows, everything for one shown
    everywhere, nothing for one hidden everywhere."""
    user = principal(
        grant(Scope.ALL, "contacts:read", hidden=("contacts.email", "contacts.phone")),
        grant(Scope.OWN, "contacts:*", hidden=("contacts.phone",)),
    )
    assert user.shown_within("contacts", "email").entity_ids == {2}
    assert user.shown_within("contacts", "iban").everything
    assert user.shown_within("contacts", "phone").entity_ids == frozenset()


def test_granting_a_wide_group_needs_the_fields_shown_that_widely() -> None:
    """Nobody grants what they do not see: a user who sees a field only on
    their own entity's rows cannot grant an all-scope group that shows it,
    and can grant an own-scope one."""
    user = everywhere_but_own("media", "note")
    assert not user.covers(grant(Scope.ALL, "media:read"))
    assert user.covers(grant(Scope.ALL, "media:read", hidden=("media.note",)))
    assert user.covers(grant(Scope.OWN, "media:read"))
