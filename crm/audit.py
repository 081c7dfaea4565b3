"""The audit log: every operator change made through the API, kept for good.

An entry says who (user id and e-mail), when, which entity the change
concerns, what (method, path, the kind and id of the object, the names of
the fields sent, never their values) and from where (the client address).
Entries are only ever added: no code path changes or deletes one, and the
database refuses it too. A user reads the entries of the entities within
their ``audit_log:read`` scope.
"""

from __future__ import annotations

from datetime import datetime

import msgspec


class AuditRecord(msgspec.Struct, frozen=True):
    """What the API records for one change."""

    user_id: int
    entity_id: int
    acting_entity_id: int
    method: str
    path: str
    kind: str
    object_id: str
    fields: list[str]
    status: int
    client_address: str
    request_id: str


class AuditEntry(msgspec.Struct, frozen=True):
    id: int
    at: datetime
    user_id: int
    user_email: str
    entity_id: int
    acting_entity_id: int
    method: str
    path: str
    kind: str
    object_id: str
    fields: list[str]
    status: int
    client_address: str
    request_id: str


class AuditFilter(msgspec.Struct, frozen=True):
    entity_id: int | None = None
    user_id: int | None = None
    kind: str | None = None
    # From (inclusive) and until (exclusive), with a zone.
    since: datetime | None = None
    until: datetime | None = None
