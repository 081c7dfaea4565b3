"""Identification media: what drivers present at chargers (RFID cards, app
tokens, eMAIDs), who issued them and who pays for them.

This is the domain of the media registry, free of I/O; storage lives in
:mod:`crm.storage.media`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Protocol

import msgspec

from crm.errors import InvalidInput

# OCPP 1.6 limits idTag to 20 characters; 2.0.1 idTokens reach 36.
MAX_UID_LENGTH = 36


class MediumKind(enum.StrEnum):
    RFID = "rfid"
    EMAID = "emaid"
    APP = "app"
    KEY_CODE = "key_code"
    OTHER = "other"


class MediumStatus(enum.StrEnum):
    ACTIVE = "active"
    BLOCKED = "blocked"
    EXPIRED = "expired"
    LOST = "lost"


class MediumRecord(msgspec.Struct, frozen=True):
    """What authorisation needs to know about a medium."""

    uid: str
    issuing_entity_id: int
    status: MediumStatus = MediumStatus.ACTIVE
    kind: MediumKind = MediumKind.RFID
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    group_uid: str = ""


class MediumError(InvalidInput):
    """A medium that cannot be stored as given (bad uid, duplicate, ...)."""


class MediaLookup(Protocol):
    """Finds media by the uid a charger sends."""

    async def lookup(self, uid: str) -> MediumRecord | None: ...


def check_uid(uid: str) -> str:
    """The uid as stored, or MediumError when it cannot be one."""
    uid = uid.strip()
    if not uid:
        raise MediumError("a medium's uid must not be empty")
    if len(uid) > MAX_UID_LENGTH:
        raise MediumError(f"a medium's uid has at most {MAX_UID_LENGTH} characters, got {len(uid)}")
    return uid


IMPORT_COLUMNS = frozenset(
    {"uid", "kind", "status", "group", "valid_from", "valid_until", "note", "issuing_entity"}
)


def medium_from_row(
    values: Mapping[str, str],
    parse_time: Callable[[str], datetime],
    default_issuer: int,
) -> tuple[MediumRecord, str]:
    """The medium (and its note) one row of an import describes; ValueError
    says what is wrong with the row."""
    uid = check_uid(values.get("uid", ""))
    kind_text = values.get("kind", "") or "rfid"
    status_text = values.get("status", "") or "active"
    try:
        kind = MediumKind(kind_text.lower())
    except ValueError:
        raise MediumError(f"kind is one of {', '.join(MediumKind)}, not {kind_text!r}") from None
    try:
        status = MediumStatus(status_text.lower())
    except ValueError:
        raise MediumError(
            f"status is one of {', '.join(MediumStatus)}, not {status_text!r}"
        ) from None
    group = values.get("group", "")
    issuer_text = values.get("issuing_entity", "")
    try:
        issuer = int(issuer_text) if issuer_text else default_issuer
    except ValueError:
        raise MediumError(f"issuing_entity is an entity id, not {issuer_text!r}") from None
    valid_from = values.get("valid_from", "")
    valid_until = values.get("valid_until", "")
    record = MediumRecord(
        uid=uid,
        issuing_entity_id=issuer,
        status=status,
        kind=kind,
        valid_from=parse_time(valid_from) if valid_from else None,
        valid_until=parse_time(valid_until) if valid_until else None,
        group_uid=check_uid(group) if group else "",
    )
    if record.valid_from and record.valid_until and record.valid_until <= record.valid_from:
        raise MediumError("valid_until must be after valid_from")
    return record, values.get("note", "")
