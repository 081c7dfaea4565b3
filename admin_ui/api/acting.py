"""Who a request acts for, once known: the audit trail (a middleware, which
runs before the principal is computed) reads it after the handler."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

from crm.access import Principal


@dataclass(slots=True)
class Acting:
    principal: Principal | None = None
    # The entity the change concerns, when the answer cannot tell (a DELETE).
    entity_id: int | None = None


acting: ContextVar[Acting | None] = ContextVar("csms_acting", default=None)


def note_principal(principal: Principal) -> None:
    """Called once the request's principal is known (``provide_principal``)."""
    current = acting.get()
    if current is not None:
        current.principal = principal


def note_entity(entity_id: int | None) -> None:
    """Called by a handler whose answer names no owner (a DELETE answers
    nothing): the entity the change concerns, for the audit trail."""
    current = acting.get()
    if current is not None and entity_id is not None:
        current.entity_id = entity_id
