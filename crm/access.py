"""Who may do what and see which rows: groups, scopes, hidden fields.

Free of I/O. A request's :class:`Principal` is computed once, from the user's
memberships, groups and active entity, and answers every question a service
asks: may this user do ``action`` on ``resource``, which entities' rows may
they see for it, which fields are hidden from them. Storage turns the
visible set into a query condition in exactly one place
(:func:`crm.storage.scoping.scoped`).

A user in several groups gets the most permissive combination, per resource
and action: the widest scope of any group granting it. Hidden fields are
decided per row: a field of a row is hidden unless some group that lets the
user read *that row* shows it. Scopes nest (own within subtree within all,
around the active entity), so a row needs a level (own for the active
entity's rows, subtree for its descendants', all for the others') and its
hidden fields are those hidden by every reading group of that level or wider.
What a user in several groups sees is exactly the union of what each group
alone shows, rows and, per row, fields.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field

import msgspec

from crm.errors import Forbidden, InvalidInput
from crm.tree import EntityTree


class Scope(enum.IntEnum):
    """Whose rows a group's members see, relative to their active entity."""

    OWN = 1
    SUBTREE = 2
    ALL = 3

    @classmethod
    def parse(cls, text: str) -> Scope:
        try:
            return _SCOPE_NAMES[text]
        except KeyError:
            raise AccessError(f"scope is one of {', '.join(_SCOPE_NAMES)}, not {text!r}") from None

    @property
    def label(self) -> str:
        return _SCOPE_LABELS[self]


_SCOPE_NAMES = {"own": Scope.OWN, "subtree": Scope.SUBTREE, "all": Scope.ALL}
_SCOPE_LABELS = {scope: name for name, scope in _SCOPE_NAMES.items()}

CRUD = ("read", "create", "update", "delete")

# Resource -> the actions a group can grant on it.
RESOURCES: dict[str, tuple[str, ...]] = {
    "entities": CRUD,
    "users": CRUD,
    "groups": CRUD,
    "contacts": CRUD,
    "documents": CRUD,
    "media": CRUD,
    "stations": (*CRUD, "command"),
    "station_groups": CRUD,
    "access_rules": CRUD,
    "sessions": ("read",),
    # Billing: tariffs with their versions, their assignments and each
    # entity's community partners (billing.services.tariffs).
    "tariffs": CRUD,
    # Billing runs, CDRs, invoices, credit notes and cancellations: "run"
    # drafts and issues runs and cancels documents (billing.runs.service).
    "billing": ("read", "run"),
    # The audit log of operator changes: read only, nothing changes it (admin_ui.api.audit).
    "audit_log": ("read",),
}

# Resource -> the fields a group may hide from its members. Only fields that
# an answer can do without are hideable (never ids or names).
HIDEABLE_FIELDS: dict[str, frozenset[str]] = {
    "entities": frozenset(
        {"vat_id", "company_number", "comment", "credit_note_address", "invoice_reply_to"}
    ),
    "users": frozenset({"email", "last_login_at"}),
    "contacts": frozenset(
        {"iban", "bic", "vat_id", "comment", "email", "phone", "fax", "street", "postal_code"}
    ),
    "media": frozenset({"note", "owner_contact_id", "bill_to_contact_id"}),
    "stations": frozenset(
        {"serial_number", "charge_box_serial_number", "iccid", "imsi", "meter_serial_number"}
    ),
}


class AccessError(InvalidInput):
    """A group definition that cannot be (unknown resource, action, field)."""


class Grant(msgspec.Struct, frozen=True):
    """What one group says: its permissions, scope and hidden fields."""

    permissions: frozenset[str]
    scope: Scope
    hidden_fields: frozenset[str] = frozenset()


def check_permissions(permissions: Iterable[str]) -> list[str]:
    """The permissions, sorted and deduplicated; AccessError names the first
    bad one. ``resource:*`` grants every action on a resource, ``*`` all."""
    checked = set()
    for permission in permissions:
        if permission == "*":
            checked.add(permission)
            continue
        resource, _, action = permission.partition(":")
        if resource not in RESOURCES:
            raise AccessError(
                f"unknown resource {resource!r} in {permission!r}; "
                f"resources: {', '.join(sorted(RESOURCES))}"
            )
        if action != "*" and action not in RESOURCES[resource]:
            raise AccessError(
                f"unknown action {action!r} in {permission!r}; "
                f"{resource} has {', '.join(RESOURCES[resource])}"
            )
        checked.add(permission)
    return sorted(checked)


def check_hidden_fields(fields: Iterable[str]) -> list[str]:
    """The hidden fields (``resource.field``), sorted and deduplicated."""
    checked = set()
    for name in fields:
        resource, _, field_name = name.partition(".")
        hideable = HIDEABLE_FIELDS.get(resource)
        if hideable is None or field_name not in hideable:
            options = ", ".join(
                f"{r}.{f}" for r in sorted(HIDEABLE_FIELDS) for f in sorted(HIDEABLE_FIELDS[r])
            )
            raise AccessError(f"{name!r} is not a field a group can hide; these are: {options}")
        checked.add(name)
    return sorted(checked)


def _expand(permission: str) -> Iterable[tuple[str, str]]:
    if permission == "*":
        for resource, actions in RESOURCES.items():
            for action in actions:
                yield resource, action
        return
    resource, _, action = permission.partition(":")
    if resource not in RESOURCES:
        return
    if action == "*":
        for each in RESOURCES[resource]:
            yield resource, each
    elif action in RESOURCES[resource]:
        yield resource, action


def _hidden_of(grant: Grant, resource: str) -> frozenset[str]:
    return frozenset(
        f.partition(".")[2] for f in grant.hidden_fields if f.partition(".")[0] == resource
    )


@dataclass(frozen=True, slots=True)
class AccessProfile:
    """The most permissive combination of a user's groups."""

    # (resource, action) -> the widest scope any group grants it with
    scopes: dict[tuple[str, str], Scope]
    # resource -> level -> the fields hidden by every group that grants read
    # on the resource with that scope or a wider one; a level no reading
    # group reaches is absent. Growing with the level: a wider level has
    # fewer groups, so fewer fields shown.
    hidden_from: dict[str, dict[Scope, frozenset[str]]]

    @classmethod
    def combine(cls, grants: Iterable[Grant]) -> AccessProfile:
        scopes: dict[tuple[str, str], Scope] = {}
        reading: dict[str, list[tuple[Scope, frozenset[str]]]] = {}
        for grant in grants:
            for key in {pair for p in grant.permissions for pair in _expand(p)}:
                if scopes.get(key, 0) < grant.scope:
                    scopes[key] = grant.scope
                if key[1] == "read":
                    reading.setdefault(key[0], []).append((grant.scope, _hidden_of(grant, key[0])))
        hidden_from: dict[str, dict[Scope, frozenset[str]]] = {}
        for resource, reads in reading.items():
            levels: dict[Scope, frozenset[str]] = {}
            for level in Scope:
                wide_enough = [hidden for scope, hidden in reads if scope >= level]
                if wide_enough:
                    # Most permissive: hidden only where every group reaching
                    # this level hides it.
                    levels[level] = frozenset.intersection(*wide_enough)
            hidden_from[resource] = levels
        return cls(scopes, hidden_from)

    def scope(self, resource: str, action: str) -> Scope | None:
        return self.scopes.get((resource, action))

    def hidden_at(self, resource: str, level: Scope) -> frozenset[str] | None:
        """The fields hidden on a row that needs ``level``; None when no
        reading group reaches it."""
        return self.hidden_from.get(resource, {}).get(level)

    def hidden_anywhere(self, resource: str) -> frozenset[str]:
        """The fields hidden on some row the user may read: those of the
        widest level reached (the levels' sets only grow)."""
        levels = self.hidden_from.get(resource)
        return levels[max(levels)] if levels else frozenset()

    def hidden_everywhere(self, resource: str) -> frozenset[str]:
        """The fields hidden on every row the user may read: those of the
        narrowest level reached."""
        levels = self.hidden_from.get(resource)
        return levels[min(levels)] if levels else frozenset()


class Visibility(msgspec.Struct, frozen=True):
    """The entities whose rows a request may see; ``entity_ids`` None means
    every entity, including rows that belong to none yet."""

    entity_ids: frozenset[int] | None

    @property
    def everything(self) -> bool:
        return self.entity_ids is None

    def __contains__(self, entity_id: object) -> bool:
        return self.entity_ids is None or entity_id in self.entity_ids


NOTHING = Visibility(frozenset())


@dataclass(frozen=True, slots=True)
class Principal:
    """The user a request acts for, in the entity they work in."""

    user_id: int
    active_entity_id: int
    member_entity_ids: frozenset[int]
    profile: AccessProfile
    tree: EntityTree
    # The active entity and its descendants, computed once per request.
    active_subtree: frozenset[int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "active_subtree", self.tree.subtree(self.active_entity_id))

    def can(self, resource: str, action: str) -> bool:
        return self.profile.scope(resource, action) is not None

    def require(self, resource: str, action: str) -> Scope:
        scope = self.profile.scope(resource, action)
        if scope is None:
            raise Forbidden(f"you may not {action} {resource.replace('_', ' ')}")
        return scope

    def visible(self, resource: str, action: str = "read") -> Visibility:
        """Whose rows this user may ``action``; NOTHING without permission."""
        scope = self.profile.scope(resource, action)
        if scope is None:
            return NOTHING
        return self._visibility(scope)

    def _visibility(self, scope: Scope) -> Visibility:
        if scope is Scope.ALL:
            return Visibility(None)
        if scope is Scope.SUBTREE:
            return Visibility(self.active_subtree)
        return Visibility(frozenset({self.active_entity_id}))

    def sees_entity(self, entity_id: int) -> bool:
        """Whether the user may know that entity ``entity_id`` exists: one
        they work in, or one within the widest scope any of their groups
        grants for anything (every row they can see is of such an entity)."""
        if entity_id not in self.tree:
            return False
        if entity_id in self.member_entity_ids:
            return True
        widest = max(self.profile.scopes.values(), default=None)
        return widest is not None and entity_id in self._visibility(widest)

    def require_entity(self, resource: str, action: str, entity_id: int | None) -> None:
        """Forbidden unless the user may ``action`` rows of ``entity_id``. An
        entity the user may not know of (``sees_entity``) gets the answer an
        absent one gets, InvalidInput "there is no entity N", so that the
        answer tells nothing about whether it exists."""
        self.require(resource, action)
        if entity_id not in self.visible(resource, action):
            if entity_id is not None and not self.sees_entity(entity_id):
                raise InvalidInput(f"there is no entity {entity_id}")
            raise Forbidden(
                f"you may not {action} {resource.replace('_', ' ')} of entity {entity_id}"
            )

    def level(self, entity_id: int | None) -> Scope:
        """The narrowest scope that shows rows of ``entity_id`` (None: a row
        of no entity, which only "all" shows)."""
        if entity_id == self.active_entity_id:
            return Scope.OWN
        if entity_id is not None and entity_id in self.active_subtree:
            return Scope.SUBTREE
        return Scope.ALL

    def hidden_fields(self, resource: str) -> frozenset[str]:
        """Without a row: the fields hidden on *some* row the user may read,
        the most restrictive answer. For what no row answers, such as
        whether a filter or search on a field may be used (a filter by a
        field hidden on some visible rows would reveal it there)."""
        return self.profile.hidden_anywhere(resource)

    def row_hidden_fields(
        self, resource: str, owner_entity_id: int | None, through: Iterable[int | None] = ()
    ) -> frozenset[str]:
        """The fields hidden on one row: owned by ``owner_entity_id`` and
        also visible through the entities ``through`` (a contact's shares,
        a user's memberships). A field is shown when some group that lets
        the user read this row shows it: the row needs the narrowest level
        of its entities. A row no reading group reaches (which the user
        should not see at all) gets the most restrictive answer."""
        level = min((self.level(e) for e in (owner_entity_id, *through)), default=Scope.ALL)
        hidden = self.profile.hidden_at(resource, level)
        return self.hidden_fields(resource) if hidden is None else hidden

    def hidden_on_every_row(self, resource: str) -> frozenset[str]:
        """The fields hidden on every row the user may read: the columns an
        export leaves out altogether (the others are blank where hidden)."""
        return self.profile.hidden_everywhere(resource)

    def shown_within(self, resource: str, field_name: str) -> Visibility:
        """The entities through whose rows ``field_name`` is shown: a search
        on that field may only match rows seen through them."""
        levels = self.profile.hidden_from.get(resource, {})
        shown = [level for level, hidden in levels.items() if field_name not in hidden]
        if not shown:
            return NOTHING
        return self._visibility(max(shown))

    def covers(self, grant: Grant) -> bool:
        """Whether this user holds everything ``grant`` gives: each of its
        permissions at least as widely, and sees no field it would reveal
        on the rows it reaches. Nobody hands out (to a group, or a group to
        a user) more than they have themselves."""
        for pair in {pair for p in grant.permissions for pair in _expand(p)}:
            mine = self.profile.scope(*pair)
            if mine is None or mine < grant.scope:
                return False
            if pair[1] == "read":
                # The rows the grant shows need at most its scope, and the
                # sets only grow with the level: compare at its scope.
                hidden = self.profile.hidden_at(pair[0], grant.scope)
                if hidden is None or not hidden <= _hidden_of(grant, pair[0]):
                    return False
        return True

    def require_covers(self, grant: Grant) -> None:
        if not self.covers(grant):
            raise Forbidden("you cannot grant rights you do not have yourself")


def system_principal(tree: EntityTree, entity_id: int | None = None) -> Principal:
    """Every right on every entity: the operator's own tools (the CLI, the
    demo, migrations) that act with database access rather than a login."""
    active = entity_id if entity_id is not None else min(tree.ids, default=0)
    return Principal(
        user_id=0,
        active_entity_id=active,
        member_entity_ids=tree.ids,
        profile=AccessProfile.combine([Grant(frozenset({"*"}), Scope.ALL)]),
        tree=tree,
    )
