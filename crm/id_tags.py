"""The minimal authorisation list: identifiers drivers present at chargers.

The media registry of the multi-entity kernel replaces this list; until then
it answers who may charge.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Protocol

import msgspec

# OCPP 1.6 limits idTag to 20 characters; 2.0.1 idTokens reach 36.
MAX_UID_LENGTH = 36


class IdTagStatus(enum.StrEnum):
    ACCEPTED = "Accepted"
    BLOCKED = "Blocked"
    EXPIRED = "Expired"


class IdTagRecord(msgspec.Struct, frozen=True):
    uid: str
    status: IdTagStatus = IdTagStatus.ACCEPTED
    parent_uid: str = ""
    expires_at: datetime | None = None
    note: str = ""


class IdTagError(ValueError):
    """An identifier that cannot be stored (too long, empty, duplicate...)."""


class IdTagRegistry(Protocol):
    async def lookup(self, uid: str) -> IdTagRecord | None: ...


def check_uid(uid: str) -> str:
    """The uid as stored, or IdTagError when it cannot be one."""
    uid = uid.strip()
    if not uid:
        raise IdTagError("an id tag must not be empty")
    if len(uid) > MAX_UID_LENGTH:
        raise IdTagError(f"an id tag has at most {MAX_UID_LENGTH} characters, got {len(uid)}")
    return uid


TAG_COLUMNS = frozenset({"uid", "parent", "expires", "status", "note"})


def tag_from_row(values: Mapping[str, str], parse_time: Callable[[str], datetime]) -> IdTagRecord:
    """The id tag one row of an import describes; ValueError says what is
    wrong with it."""
    uid = check_uid(values.get("uid", ""))
    parent = values.get("parent", "")
    status_text = values.get("status", "") or "accepted"
    try:
        status = IdTagStatus(status_text.capitalize())
    except ValueError:
        raise IdTagError(f"status is accepted, blocked or expired, not {status_text!r}") from None
    expires = values.get("expires", "")
    return IdTagRecord(
        uid=uid,
        status=status,
        parent_uid=check_uid(parent) if parent else "",
        expires_at=parse_time(expires) if expires else None,
        note=values.get("note", ""),
    )
