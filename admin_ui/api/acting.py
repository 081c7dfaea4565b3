"""Who a request acts for, once known: the audit trail (a middleware, which
runs before the principal is computed) reads it after the handler."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

from crm.access import Principal


@dataclass(slots=True)
class Acting:
    principal: Principal | None = None


acting: ContextVar[Acting | None] = ContextVar("csms_acting", default=None)


def note_principal(principal: Principal) -> None:
    """Called once the request's principal is known (``provide_principal``)."""
    current = acting.get()
    if current is not None:
        current.principal = principal
