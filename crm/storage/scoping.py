"""The one place where who-may-see-what becomes a query condition.

Every read of entity-owned data, in ``crm`` and in the packages above it,
passes its query through :func:`scoped` with the owning-entity column and
the request's :class:`~crm.access.Visibility`. Keeping it in one function is
the tenant-isolation promise: a reviewer checks one place, and the property
tests drive every endpoint through it.
"""

from __future__ import annotations

from typing import Any, TypeVar

from piccolo.columns import Column
from piccolo.columns.combination import Or, WhereRaw
from piccolo.query import Count, Objects, Select

from crm.access import Visibility

Q = TypeVar("Q", Select, Count, Objects, Any)


def visible_condition(
    owner: Column, visibility: Visibility, *, also: Any | None = None
) -> Any | None:
    """The WHERE condition limiting rows to the visible entities; None when
    everything is visible. ``also`` is a further condition that admits a row
    on its own (a contact shared with a visible entity)."""
    if visibility.entity_ids is None:
        return None
    ids = sorted(visibility.entity_ids)
    condition: Any = owner.is_in(ids) if ids else WhereRaw("1 = 0")
    if also is not None:
        condition = Or(condition, also) if ids else also
    return condition


def scoped(query: Q, owner: Column, visibility: Visibility, *, also: Any | None = None) -> Q:
    """``query`` limited to rows whose ``owner`` column is a visible entity
    (or that ``also`` admits)."""
    condition = visible_condition(owner, visibility, also=also)
    return query if condition is None else query.where(condition)
