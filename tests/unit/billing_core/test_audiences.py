"""For whom a session is priced and who bills whom (billing.rating.audiences)."""

from __future__ import annotations

import pytest

from billing.ports import EntityInfo
from billing.rating.audiences import AudienceDecision, Communities, acting_sub_emp, decide

from .world import entity, session

pytestmark = pytest.mark.backend_independent

# A root operator 1 with CPO 2 (a sub-CPO) and EMP 3 below it; EMP 5 below 3
# may not act as sub-EMP, 3 may; an independent CPO 6 and EMP 7 (no
# sub-EMP anywhere up its tree).
ENTITIES = {
    e.id: e
    for e in (
        entity(1, "Operator", kind="operator", master_contact_id=901),
        entity(2, "Sub-CPO", parent=1, kind="cpo", master_contact_id=902),
        entity(3, "EMP", parent=1, kind="emp", may_act_as_sub_emp=True, master_contact_id=903),
        entity(5, "Sub-EMP", parent=3, kind="emp", master_contact_id=905),
        entity(6, "CPO", kind="cpo", master_contact_id=906),
        entity(7, "Lone EMP", kind="emp", master_contact_id=907),
    )
}


def _decide(
    *,
    owner: int | None,
    issuer: int | None,
    bill_to: int | None = None,
    partners: dict[int, set[int]] | None = None,
    entities: dict[int, EntityInfo] = ENTITIES,
) -> dict[str, AudienceDecision]:
    decisions = decide(
        session(1, owner=owner, issuer=issuer, bill_to=bill_to),
        entities,
        Communities(entities, partners or {}),
    )
    by_audience = {d.audience: d for d in decisions}
    assert len(by_audience) == len(decisions), "one decision per audience"
    return by_audience


def test_an_issuer_outside_the_community_is_invoiced_by_station() -> None:
    """CPO 6 invoices EMP 7 (not in its community), addressed to the EMP's
    master contact."""
    emp = _decide(owner=6, issuer=7)["emp"]
    assert (emp.seller_entity_id, emp.buyer_entity_id, emp.buyer_contact_id) == (6, 7, 907)
    assert emp.error == ""


def test_the_owners_subtree_is_its_community() -> None:
    """Media issued by the station owner itself or its descendants are not
    invoiced by station."""
    assert "emp" not in _decide(owner=1, issuer=1)
    assert "emp" not in _decide(owner=1, issuer=3)
    assert "emp" not in _decide(owner=1, issuer=5)
    # An ancestor is not part of the owner's community.
    assert "emp" in _decide(owner=3, issuer=1)


def test_named_partners_are_the_owners_community_too() -> None:
    """A partner named by the station owner is community; one named by
    someone else is not."""
    assert "emp" not in _decide(owner=6, issuer=7, partners={6: {7}})
    assert "emp" in _decide(owner=6, issuer=7, partners={7: {6}})


def test_a_customer_is_billed_by_the_issuer_when_it_may_act_as_sub_emp() -> None:
    """EMP 3 may act as sub-EMP: it bills the bill-to contact itself."""
    customer = _decide(owner=6, issuer=3, bill_to=55)["customer"]
    assert customer.seller_entity_id == 3
    assert customer.buyer_contact_id == 55
    assert customer.buyer_entity_id is None
    assert customer.error == ""


def test_the_nearest_ancestor_that_may_acts_as_sub_emp() -> None:
    """EMP 5 may not act as sub-EMP: its parent 3 (the nearest that may, not
    the root) bills 5's customers."""
    assert acting_sub_emp(5, ENTITIES) == 3
    assert _decide(owner=6, issuer=5, bill_to=55)["customer"].seller_entity_id == 3


def test_no_entity_that_may_act_as_sub_emp_is_an_error() -> None:
    """EMP 7 and nobody above it may act as sub-EMP: the customer audience is
    an error decision naming why."""
    assert acting_sub_emp(7, ENTITIES) is None
    customer = _decide(owner=6, issuer=7, bill_to=55)["customer"]
    assert customer.seller_entity_id is None
    assert "may act as sub-EMP" in customer.error


def test_a_medium_without_bill_to_has_no_customer_audience() -> None:
    """Without a bill-to contact nobody is invoiced by medium."""
    assert "customer" not in _decide(owner=6, issuer=3, bill_to=None)


def test_an_unknown_medium_is_an_error() -> None:
    """An id tag no medium is known for: the station owner's emp audience is
    an error decision naming the tag, and no customer audience."""
    decisions = _decide(owner=6, issuer=None, bill_to=None)
    assert set(decisions) == {"emp"}
    assert decisions["emp"].seller_entity_id == 6
    assert "CARD-X" in decisions["emp"].error
    assert "no known medium" in decisions["emp"].error


def test_a_cpo_with_a_parent_is_paid_by_it() -> None:
    """Sessions at sub-CPO 2's stations: parent 1 credits 2 (sub_cpo),
    addressed to 2's master contact."""
    sub = _decide(owner=2, issuer=7)["sub_cpo"]
    assert (sub.seller_entity_id, sub.buyer_entity_id, sub.buyer_contact_id) == (1, 2, 902)


def test_sub_cpo_needs_kind_cpo_and_a_parent() -> None:
    """A root CPO (6) and a non-CPO with a parent (EMP 3 owning a station)
    get no sub_cpo audience."""
    assert "sub_cpo" not in _decide(owner=6, issuer=7)
    assert "sub_cpo" not in _decide(owner=3, issuer=7)


def test_an_unknown_medium_at_a_sub_cpo_station_still_credits_the_sub_cpo() -> None:
    """The sub-CPO is paid for its station's sessions even when the medium is
    unknown."""
    decisions = _decide(owner=2, issuer=None)
    assert decisions["emp"].error
    assert decisions["sub_cpo"].error == ""


def test_a_station_without_owner_is_an_error() -> None:
    """No owner entity (none, or one that no longer exists): a single emp
    error decision and nothing else."""
    for owner in (None, 99):
        decisions = _decide(owner=owner, issuer=7, bill_to=55)
        assert list(decisions) == ["emp"]
        assert decisions["emp"].seller_entity_id is None
        assert decisions["emp"].error == "the station has no owner entity"


def test_communities_are_computed_once_per_owner() -> None:
    """A community is the owner's subtree plus its named partners."""
    communities = Communities(ENTITIES, {1: {6}})
    assert communities.of(1) == {1, 2, 3, 5, 6}
    assert communities.of(1) is communities.of(1)
    assert communities.of(7) == {7}
