"""Which tariff prices a session, for whom: assignments and the resolver.

Free of I/O. An assignment says that a tariff of the assigning entity (its
owner) prices the sessions of one audience:

- ``emp``: what a station's owner charges the e-mobility provider that
  issued the medium; the owner assigns, narrowing by its own stations or
  station groups and by the EMP (counterparty, the buyer);
- ``customer``: what the medium's issuing (sub-)EMP charges its end
  customers (the medium's bill-to contact); the EMP assigns, narrowing by
  the stations where its customers charge (no counterparty: the buyer is a
  contact, not an entity);
- ``sub_cpo``: what a parent pays a sub-CPO (one of its children) for
  sessions at the sub-CPO's stations; the parent assigns, narrowing by the
  sub-CPO's stations or groups and by the sub-CPO (counterparty, the
  seller).

:func:`resolve` picks, among the candidates of one owner and audience, the
one that prices a session: the most specific (station, then station group,
then all stations), then a counterparty match over none, then the higher
priority, then the newest.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime

import msgspec


class Audience(enum.StrEnum):
    """Whom a session is priced for (see the module)."""

    EMP = "emp"
    CUSTOMER = "customer"
    SUB_CPO = "sub_cpo"


class AssignmentRow(msgspec.Struct, frozen=True, kw_only=True):
    """One assignment as the rater reads it: ``tariff_id`` of
    ``owner_entity_id`` prices ``audience``'s sessions, narrowed to a
    station or a station group (neither: every station it covers) and to a
    counterparty entity (None: any)."""

    id: int
    owner_entity_id: int
    tariff_id: int
    audience: Audience
    station_id: int | None = None
    station_group_id: int | None = None
    counterparty_entity_id: int | None = None
    priority: int = 0
    created_at: datetime


def applies(
    row: AssignmentRow,
    *,
    station_id: int,
    station_group_id: int | None,
    counterparty_entity_id: int | None,
) -> bool:
    """Whether the assignment covers a session at ``station_id`` (in
    ``station_group_id``) with that counterparty."""
    if row.station_id is not None and row.station_id != station_id:
        return False
    if row.station_group_id is not None and (
        station_group_id is None or row.station_group_id != station_group_id
    ):
        return False
    return row.counterparty_entity_id is None or (
        row.counterparty_entity_id == counterparty_entity_id
    )


def _rank(row: AssignmentRow) -> tuple[int, int, int, datetime, int]:
    specificity = 2 if row.station_id is not None else 1 if row.station_group_id is not None else 0
    return (
        specificity,
        1 if row.counterparty_entity_id is not None else 0,
        row.priority,
        row.created_at,
        row.id,
    )


def resolve(
    candidates: Iterable[AssignmentRow],
    *,
    station_id: int,
    station_group_id: int | None = None,
    counterparty_entity_id: int | None = None,
) -> AssignmentRow | None:
    """The assignment that prices a session at ``station_id`` (in group
    ``station_group_id``) for ``counterparty_entity_id``, among the
    candidates (one owner, one audience); None when none applies.

    Most specific first (station > group > all), then a counterparty match
    over none, then the higher priority, then the newest (created later,
    then the higher id)."""
    matching = [
        row
        for row in candidates
        if applies(
            row,
            station_id=station_id,
            station_group_id=station_group_id,
            counterparty_entity_id=counterparty_entity_id,
        )
    ]
    return max(matching, key=_rank, default=None)
