"""Identification media: what drivers present at chargers (RFID cards, app
tokens, eMAIDs), who issued them and who pays for them.

This is the domain of the media registry, free of I/O; storage lives in
:mod:`crm.storage.media`, the rules of who may do what in
:mod:`crm.services.media`.

A medium is never deleted: a card that must stop charging is blocked, one
that went missing is marked lost, so sessions and invoices that name it keep
their meaning.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Protocol

import msgspec
from msgspec import UNSET, UnsetType

from crm.csv_cells import cell
from crm.errors import InvalidInput

# OCPP 1.6 limits idTag to 20 characters; 2.0.1 idTokens reach 36.
MAX_UID_LENGTH = 36
MAX_NOTE_LENGTH = 255


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


class Medium(msgspec.Struct, frozen=True, kw_only=True):
    """A medium as the API answers it. The hideable fields (see
    ``crm.access.HIDEABLE_FIELDS["media"]``) are UNSET, and so absent, for a
    user whose groups hide them."""

    id: int
    uid: str
    kind: MediumKind
    issuing_entity_id: int
    status: MediumStatus
    valid_from: datetime | None
    valid_until: datetime | None
    # The OCPP group id (parentIdTag / groupIdToken) media share.
    group_uid: str
    created_at: datetime
    updated_at: datetime
    owner_contact_id: int | UnsetType | None = UNSET
    bill_to_contact_id: int | UnsetType | None = UNSET
    note: str | UnsetType = UNSET


class MediumCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A new medium. Without ``issuing_entity_id`` the user's active entity
    issues it."""

    uid: str
    kind: MediumKind = MediumKind.RFID
    issuing_entity_id: int | None = None
    owner_contact_id: int | None = None
    bill_to_contact_id: int | None = None
    status: MediumStatus = MediumStatus.ACTIVE
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    group_uid: str = ""
    note: str = ""


class MediumUpdate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Changes to a medium; what is left out stays as it is, null clears a
    contact or a validity date. The uid is what chargers send and never
    changes: a new card is a new medium."""

    kind: MediumKind | UnsetType = UNSET
    issuing_entity_id: int | UnsetType = UNSET
    owner_contact_id: int | UnsetType | None = UNSET
    bill_to_contact_id: int | UnsetType | None = UNSET
    status: MediumStatus | UnsetType = UNSET
    valid_from: datetime | UnsetType | None = UNSET
    valid_until: datetime | UnsetType | None = UNSET
    group_uid: str | UnsetType = UNSET
    note: str | UnsetType = UNSET

    def changes(self) -> dict[str, object]:
        """The fields given, by name."""
        return {
            name: getattr(self, name)
            for name in self.__struct_fields__
            if getattr(self, name) is not UNSET
        }


class MediaFilter(msgspec.Struct, frozen=True, kw_only=True):
    """What a list or an export is narrowed to (scoping comes on top)."""

    q: str = ""  # part of the uid, any case
    status: MediumStatus | None = None
    kind: MediumKind | None = None
    issuing_entity_id: int | None = None
    group_uid: str | None = None
    owner_contact_id: int | None = None


def check_aware(name: str, value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise MediumError(f"{name} needs a time zone, e.g. 2030-01-01T00:00:00Z")
    return value


def check_validity(valid_from: datetime | None, valid_until: datetime | None) -> None:
    """MediumError unless both times are aware and until comes after from."""
    check_aware("valid_from", valid_from)
    check_aware("valid_until", valid_until)
    if valid_from is not None and valid_until is not None and valid_until <= valid_from:
        raise MediumError("valid_until must be after valid_from")


def check_group_uid(group_uid: str) -> str:
    group_uid = group_uid.strip()
    if not group_uid:
        return ""
    try:
        return check_uid(group_uid)
    except MediumError as error:
        raise MediumError(f"group_uid: {error}") from None


def check_note(note: str) -> str:
    if len(note) > MAX_NOTE_LENGTH:
        raise MediumError(f"a note has at most {MAX_NOTE_LENGTH} characters, got {len(note)}")
    return note


def checked_create(data: MediumCreate) -> MediumCreate:
    """``data`` with its uid and group trimmed, or MediumError naming what
    cannot be stored."""
    check_validity(data.valid_from, data.valid_until)
    return msgspec.structs.replace(
        data,
        uid=check_uid(data.uid),
        group_uid=check_group_uid(data.group_uid),
        note=check_note(data.note),
    )


# Columns of a media CSV file; an export writes them (less hidden fields) and
# an import reads them back.
IMPORT_COLUMNS = frozenset(
    {
        "uid",
        "kind",
        "status",
        "group",
        "valid_from",
        "valid_until",
        "note",
        "issuing_entity",
        "owner_contact_id",
        "bill_to_contact_id",
    }
)
EXPORT_COLUMNS = (
    "uid",
    "kind",
    "status",
    "issuing_entity",
    "group",
    "valid_from",
    "valid_until",
    "owner_contact_id",
    "bill_to_contact_id",
    "note",
)


def _optional_id(values: Mapping[str, str], name: str) -> int | None:
    text = values.get(name, "")
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise MediumError(f"{name} is an id, not {text!r}") from None


def medium_from_row(
    values: Mapping[str, str],
    parse_time: Callable[[str], datetime],
    default_issuer: int | None,
) -> MediumCreate:
    """The medium one row of an import describes (``default_issuer`` issues
    it when the row names no issuing entity); ValueError says what is wrong
    with the row."""
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
    issuer_text = values.get("issuing_entity", "")
    try:
        issuer = int(issuer_text) if issuer_text else default_issuer
    except ValueError:
        raise MediumError(f"issuing_entity is an entity id, not {issuer_text!r}") from None
    valid_from = values.get("valid_from", "")
    valid_until = values.get("valid_until", "")
    return checked_create(
        MediumCreate(
            uid=values.get("uid", ""),
            kind=kind,
            issuing_entity_id=issuer,
            owner_contact_id=_optional_id(values, "owner_contact_id"),
            bill_to_contact_id=_optional_id(values, "bill_to_contact_id"),
            status=status,
            valid_from=parse_time(valid_from) if valid_from else None,
            valid_until=parse_time(valid_until) if valid_until else None,
            group_uid=values.get("group", ""),
            note=values.get("note", ""),
        )
    )


def export_row(medium: Medium) -> dict[str, str]:
    """One line of an export: the import's columns, hidden fields left out."""
    row = {
        "uid": cell(medium.uid),
        "kind": medium.kind.value,
        "status": medium.status.value,
        "issuing_entity": str(medium.issuing_entity_id),
        "group": cell(medium.group_uid),
        "valid_from": cell(medium.valid_from),
        "valid_until": cell(medium.valid_until),
    }
    for name in ("owner_contact_id", "bill_to_contact_id", "note"):
        value = getattr(medium, name)
        if value is not UNSET:
            row[name] = cell(value)
    return row
