"""Groups: permissions per resource and action, one visibility scope, and
fields hidden from their members. Structs and validation, free of I/O."""

from __future__ import annotations

from datetime import datetime

import msgspec
from msgspec import UNSET, UnsetType

from crm.access import Grant, Scope, check_hidden_fields, check_permissions
from crm.errors import InvalidInput

ScopeName = str


class Group(msgspec.Struct, frozen=True):
    id: int
    owner_entity_id: int
    name: str
    description: str
    # own, subtree or all
    scope: str
    permissions: list[str]
    hidden_fields: list[str]
    # Only the members the asker may see as users.
    member_ids: list[int]
    created_at: datetime
    updated_at: datetime


class GroupCreate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str
    # Defaults to the entity you work in.
    owner_entity_id: int | None = None
    description: str = ""
    scope: str = "own"
    # "resource:action", "resource:*" or "*"
    permissions: list[str] = []
    # "resource.field"
    hidden_fields: list[str] = []


class GroupUpdate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str | UnsetType = UNSET
    description: str | UnsetType = UNSET
    scope: str | UnsetType = UNSET
    permissions: list[str] | UnsetType = UNSET
    hidden_fields: list[str] | UnsetType = UNSET


def check_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise InvalidInput("a group needs a name")
    if len(name) > 100:
        raise InvalidInput("a group's name has at most 100 characters")
    return name


def grant_of(scope: str, permissions: list[str], hidden_fields: list[str]) -> Grant:
    """The grant a group definition gives, validated."""
    return Grant(
        permissions=frozenset(check_permissions(permissions)),
        scope=Scope.parse(scope),
        hidden_fields=frozenset(check_hidden_fields(hidden_fields)),
    )
