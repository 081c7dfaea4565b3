"""Access rules: who may charge at a station.

Free of I/O. A station's rules are its own plus those of its station group.
The decision for a valid medium:

1. a **deny** rule that matches refuses;
2. else an **allow** rule that matches admits;
3. else the station admits the medium only if it (with its group) has no
   allow rule at all: a station nobody restricted is public, so stations
   installed before access rules existed keep working.

Subjects name whom a rule is about: ``everyone``; ``owner_entity`` (media
issued by the station's owner entity) and ``owner_subtree`` (issued by the
owner or one of its descendants); ``medium`` (one uid); ``media_group``
(media whose group id, OCPP's parentIdTag, is the value); ``issuing_entity``
and ``issuing_subtree`` (media issued by the entity the value names, or by
it or one of its descendants).

For the hot path a station's rules are *compiled* once (with the entity tree
of the moment) into sets, so a decision is a handful of set lookups.
"""

from __future__ import annotations

import enum
from typing import Protocol

import msgspec

from crm.errors import InvalidInput
from crm.media import MAX_UID_LENGTH, MediumRecord
from crm.tree import EntityTree


class RuleEffect(enum.StrEnum):
    ALLOW = "allow"
    DENY = "deny"


class RuleSubject(enum.StrEnum):
    EVERYONE = "everyone"
    OWNER_ENTITY = "owner_entity"
    OWNER_SUBTREE = "owner_subtree"
    MEDIUM = "medium"
    MEDIA_GROUP = "media_group"
    ISSUING_ENTITY = "issuing_entity"
    ISSUING_SUBTREE = "issuing_subtree"


# Subjects relative to the station's owner, or about everyone: they take no value.
VALUELESS_SUBJECTS = frozenset(
    {RuleSubject.EVERYONE, RuleSubject.OWNER_ENTITY, RuleSubject.OWNER_SUBTREE}
)
# Subjects whose value is an entity id.
ENTITY_SUBJECTS = frozenset({RuleSubject.ISSUING_ENTITY, RuleSubject.ISSUING_SUBTREE})


class RuleError(InvalidInput):
    """A rule that cannot be (unknown subject, missing or bad value)."""


class Rule(msgspec.Struct, frozen=True):
    """One access rule as the decision sees it."""

    effect: RuleEffect
    subject: RuleSubject
    # The uid, the group id or the entity id (as text) the subject names;
    # empty for everyone, owner_entity and owner_subtree.
    value: str = ""

    @property
    def entity_id(self) -> int:
        return int(self.value)


def check_rule(effect: str, subject: str, value: str = "") -> Rule:
    """The rule as stored, or RuleError saying what is wrong with it. Whether
    an entity a rule names exists (and may be named by the user) is the
    service's question."""
    try:
        checked_effect = RuleEffect(effect.strip().lower())
    except ValueError:
        raise RuleError(f"effect is one of {', '.join(RuleEffect)}, not {effect!r}") from None
    try:
        checked_subject = RuleSubject(subject.strip().lower())
    except ValueError:
        raise RuleError(f"subject is one of {', '.join(RuleSubject)}, not {subject!r}") from None
    value = value.strip()
    if checked_subject in VALUELESS_SUBJECTS:
        if value:
            raise RuleError(f"subject {checked_subject} takes no value, got {value!r}")
    elif checked_subject in ENTITY_SUBJECTS:
        if not value.isdigit() or int(value) <= 0:
            raise RuleError(f"subject {checked_subject} needs an entity id as value, got {value!r}")
        value = str(int(value))
    else:
        if not value:
            what = "medium's uid" if checked_subject is RuleSubject.MEDIUM else "media group id"
            raise RuleError(f"subject {checked_subject} needs the {what} as value")
        if len(value) > MAX_UID_LENGTH:
            raise RuleError(
                f"a {checked_subject} value has at most {MAX_UID_LENGTH} characters, "
                f"got {len(value)}"
            )
    return Rule(checked_effect, checked_subject, value)


class StationAccess(msgspec.Struct, frozen=True):
    """What decides who may charge at one station: its owner entity, its
    group, and the rules of both."""

    station_pk: int
    owner_entity_id: int | None = None
    station_group_id: int | None = None
    rules: tuple[Rule, ...] = ()

    def compile(self, tree: EntityTree) -> CompiledAccess:
        return CompiledAccess.build(self, tree)


class _Matcher:
    """The media one effect's rules match, as sets."""

    __slots__ = ("everyone", "groups", "issuers", "uids")

    def __init__(self) -> None:
        self.everyone = False
        self.uids: set[str] = set()
        self.groups: set[str] = set()
        self.issuers: set[int] = set()

    def add(self, rule: Rule, owner: int | None, tree: EntityTree) -> None:
        subject = rule.subject
        if subject is RuleSubject.EVERYONE:
            self.everyone = True
        elif subject is RuleSubject.MEDIUM:
            self.uids.add(rule.value)
        elif subject is RuleSubject.MEDIA_GROUP:
            self.groups.add(rule.value)
        elif subject is RuleSubject.OWNER_ENTITY:
            # A station without an owner has no owner's media.
            if owner is not None:
                self.issuers.add(owner)
        elif subject is RuleSubject.OWNER_SUBTREE:
            if owner is not None:
                self.issuers.add(owner)
                self.issuers.update(tree.subtree(owner))
        elif subject is RuleSubject.ISSUING_ENTITY:
            self.issuers.add(rule.entity_id)
        elif subject is RuleSubject.ISSUING_SUBTREE:
            self.issuers.add(rule.entity_id)
            self.issuers.update(tree.subtree(rule.entity_id))

    def matches(self, medium: MediumRecord) -> bool:
        return (
            self.everyone
            or medium.issuing_entity_id in self.issuers
            or medium.uid in self.uids
            or (bool(medium.group_uid) and medium.group_uid in self.groups)
        )


# Never added to: CompiledAccess.build replaces it before a rule is added.
_MATCHES_NOTHING = _Matcher()


class CompiledAccess:
    """A station's rules as sets, for the entity tree they were compiled with."""

    __slots__ = ("_allow", "_deny", "access", "public")

    def __init__(self, access: StationAccess, allow: _Matcher, deny: _Matcher, public: bool):
        self.access = access
        self._allow = allow
        self._deny = deny
        # No allow rule at all: every valid medium not denied may charge.
        self.public = public

    @classmethod
    def build(cls, access: StationAccess, tree: EntityTree) -> CompiledAccess:
        # A side without rules shares one empty matcher: the cache holds a
        # compiled entry per station, and most stations have no rules of
        # one side or of both (six empty sets were 1.3 KiB per station).
        allow = deny = _MATCHES_NOTHING
        for rule in access.rules:
            if rule.effect is RuleEffect.DENY:
                if deny is _MATCHES_NOTHING:
                    deny = _Matcher()
                deny.add(rule, access.owner_entity_id, tree)
            else:
                if allow is _MATCHES_NOTHING:
                    allow = _Matcher()
                allow.add(rule, access.owner_entity_id, tree)
        return cls(access, allow, deny, public=allow is _MATCHES_NOTHING)

    def admits(self, medium: MediumRecord) -> bool:
        """Whether this station's rules let ``medium`` (a valid one) charge."""
        if self._deny.matches(medium):
            return False
        return self.public or self._allow.matches(medium)


def admits(access: StationAccess, medium: MediumRecord, tree: EntityTree) -> bool:
    """The decision without a cache: compiles the rules and asks."""
    return access.compile(tree).admits(medium)


class StationAccessSource(Protocol):
    """Where the authorisation cache loads what it holds from."""

    async def station_access(self, station_pk: int) -> StationAccess | None:
        """The station's owner, group and rules (its own and its group's);
        None for a station that does not exist."""
        ...

    async def entity_tree(self) -> EntityTree: ...
