"""For whom a completed session is priced, and who bills whom.

A session is priced once per audience that applies to it:

- ``emp`` (by station): the station's owner invoices the e-mobility
  provider that issued the medium, unless that issuer belongs to the
  owner's community: the owner's own subtree plus the entities the owner
  names as community partners. The invoice goes to the issuer's master
  contact.
- ``customer`` (by medium): the issuing entity invoices the medium's bill-to
  contact when it may act as a sub-EMP; otherwise its nearest ancestor that
  may does. A medium without a bill-to contact is nobody's to invoice.
- ``sub_cpo`` (credit note): a station owner of kind ``cpo`` that has a
  parent is paid by that parent for the sessions at its stations; the parent
  issues the credit note (self-billing).

Each decision names who assigns the tariff (the seller of the ``emp`` and
``customer`` audiences, the paying parent for ``sub_cpo``). A session whose
audience cannot be billed (an unknown medium, no entity that may act as
sub-EMP) gets an error decision, so it shows where it stands instead of
waiting unnoticed.
"""

from __future__ import annotations

import msgspec

from billing.ports import CompletedSession, EntityInfo


class AudienceDecision(msgspec.Struct, frozen=True, kw_only=True):
    audience: str
    # The entity whose tariff assignment prices it and who issues the document.
    seller_entity_id: int | None
    buyer_entity_id: int | None = None
    buyer_contact_id: int | None = None
    # Set when the audience applies but cannot be billed.
    error: str = ""


def subtree_of(entity_id: int, entities: dict[int, EntityInfo]) -> set[int]:
    """The entity and all its descendants."""
    children: dict[int, list[int]] = {}
    for entity in entities.values():
        if entity.parent_id is not None:
            children.setdefault(entity.parent_id, []).append(entity.id)
    found, todo = set(), [entity_id]
    while todo:
        current = todo.pop()
        if current in found:
            continue
        found.add(current)
        todo.extend(children.get(current, ()))
    return found


def acting_sub_emp(entity_id: int, entities: dict[int, EntityInfo]) -> int | None:
    """The entity itself when it may act as sub-EMP, else its nearest ancestor
    that may; None when no entity up to the root may."""
    seen: set[int] = set()
    current: int | None = entity_id
    while current is not None and current not in seen:
        seen.add(current)
        entity = entities.get(current)
        if entity is None:
            return None
        if entity.may_act_as_sub_emp:
            return entity.id
        current = entity.parent_id
    return None


class Communities:
    """Each station owner's community, computed once per rating batch."""

    def __init__(self, entities: dict[int, EntityInfo], partners: dict[int, set[int]]) -> None:
        self._entities = entities
        self._partners = partners
        self._cache: dict[int, set[int]] = {}

    def of(self, entity_id: int) -> set[int]:
        community = self._cache.get(entity_id)
        if community is None:
            community = subtree_of(entity_id, self._entities) | self._partners.get(entity_id, set())
            self._cache[entity_id] = community
        return community


def decide(
    session: CompletedSession,
    entities: dict[int, EntityInfo],
    communities: Communities,
) -> list[AudienceDecision]:
    """The audiences ``session`` is priced for."""
    decisions: list[AudienceDecision] = []
    owner = entities.get(session.station_owner_id) if session.station_owner_id else None
    issuer_id = session.issuing_entity_id
    if owner is None:
        decisions.append(
            AudienceDecision(
                audience="emp",
                seller_entity_id=None,
                error="the station has no owner entity",
            )
        )
        return decisions
    if issuer_id is None:
        decisions.append(
            AudienceDecision(
                audience="emp",
                seller_entity_id=owner.id,
                error=f"id tag {session.id_tag!r} is no known medium: nobody to bill",
            )
        )
    else:
        if issuer_id not in communities.of(owner.id):
            issuer = entities.get(issuer_id)
            decisions.append(
                AudienceDecision(
                    audience="emp",
                    seller_entity_id=owner.id,
                    buyer_entity_id=issuer_id,
                    buyer_contact_id=issuer.master_contact_id if issuer else None,
                )
            )
        if session.bill_to_contact_id is not None:
            acting = acting_sub_emp(issuer_id, entities)
            decisions.append(
                AudienceDecision(
                    audience="customer",
                    seller_entity_id=acting,
                    buyer_contact_id=session.bill_to_contact_id,
                    error=""
                    if acting is not None
                    else "neither the medium's issuer nor an ancestor may act as sub-EMP",
                )
            )
    if owner.kind == "cpo" and owner.parent_id is not None:
        decisions.append(
            AudienceDecision(
                audience="sub_cpo",
                seller_entity_id=owner.parent_id,
                buyer_entity_id=owner.id,
                buyer_contact_id=owner.master_contact_id,
            )
        )
    return decisions
