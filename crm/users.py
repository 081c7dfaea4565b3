"""Users: one user base for all entities. Structs and validation."""

from __future__ import annotations

from datetime import datetime

import msgspec
from msgspec import UNSET, UnsetType

from crm import validation
from crm.errors import InvalidInput


class User(msgspec.Struct, frozen=True):
    id: int
    name: str
    # None when the asker cannot see that entity.
    default_entity_id: int | None
    active: bool
    # Only the entities and groups the asking user can see.
    entity_ids: list[int]
    group_ids: list[int]
    created_at: datetime
    # Hideable (crm.access.HIDEABLE_FIELDS["users"]).
    email: str | UnsetType = UNSET
    last_login_at: datetime | UnsetType | None = UNSET


class UserCreate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    email: str
    # The entities the user belongs to; the first is the default unless
    # default_entity_id says otherwise.
    entity_ids: list[int]
    name: str = ""
    default_entity_id: int | None = None
    group_ids: list[int] = []
    # Optional: a user without one cannot log in until it is set.
    password: str | None = None


class UserUpdate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str | UnsetType = UNSET
    email: str | UnsetType = UNSET
    default_entity_id: int | UnsetType = UNSET
    # false: logins end at once and no new ones are allowed.
    active: bool | UnsetType = UNSET
    password: str | UnsetType = UNSET


class MembershipCreate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    entity_id: int


class GroupMembershipCreate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    group_id: int


def check_email(email: str) -> str:
    email = email.strip().lower()
    if not email:
        raise InvalidInput("a user needs an e-mail address to log in with")
    return validation.check_email(email)


def check_name(name: str) -> str:
    name = name.strip()
    if len(name) > 200:
        raise InvalidInput("a user's name has at most 200 characters")
    return name
