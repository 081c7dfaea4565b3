"""Random multi-entity worlds for the scoping properties, and an independent
model of who sees what in them.

A :class:`World` is plain data in index space (entity 0, group 2, ...):
hypothesis generates and shrinks it, :func:`build` writes it into the
database and maps every index to its row id, and :class:`Expect` says what
one user, working in one entity, must see of it. ``Expect`` deliberately
re-derives the rules from the issue's wording instead of calling
:mod:`crm.access`, so the properties compare two implementations:

- per (resource, action), the widest scope of the user's groups granting it
  (``*``, ``resource:*`` or ``resource:action``): own = the entity the user
  works in, subtree = it and its descendants, all = everything (also rows
  that belong to no entity);
- a contact is seen when its owner is, or when it is shared (read or write)
  with an entity seen for contacts; documents only through their own
  entity, never through a share;
- a user is seen when one of their memberships is, showing only the
  memberships (and groups) the viewer sees;
- a charging session is seen when its station is (stations:read on the
  station's owner), and so are the station's security state, security
  events, uploads (and their content), 2.0.1 variables and local list;
- a firmware image is seen through its owner entity, with stations:read;
- a tariff (its detail and OCPI export) and a tariff assignment through
  their owner entity, a community partner row through the entity naming
  it, all with tariffs:read;
- a CDR is seen with billing:read when its seller or its buyer entity is;
  when the entity the user works in has force purchase prices, only when
  its buyer is an entity seen (never a CDR sold to a contact); billing runs
  and documents through their own (issuing) entity, never through a shared
  contact; a session's billing status when the session is, listing the
  CDRs of it that are seen;
- a hideable field is hidden only when every group granting read on the
  resource hides it;
- a user works only in an active entity they belong to.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
from hypothesis import strategies as st

from billing.documents.model import to_json
from billing.tables import (
    BillingRun,
    Cdr,
    CommunityPartner,
    Tariff,
    TariffAssignment,
    TariffVersion,
)
from billing.tables import Document as BillingDocument
from crm.access import HIDEABLE_FIELDS, RESOURCES
from crm.tables import AuditEntry, Contact, ContactDocument, ContactShare, Medium
from csms.settings import Settings
from csms.tables import (
    AccessRule,
    ChargingSession,
    FirmwareFile,
    LocalListState,
    SecurityEvent,
    Station,
    StationGroup,
    StationUpload,
    StationVariable,
    UploadSlot,
)
from tests.world import make_entity, make_group, make_user, token_for

SCOPES = ("own", "subtree", "all")
_RANK = {scope: rank for rank, scope in enumerate(SCOPES)}

HIDEABLE = tuple(
    f"{resource}.{name}"
    for resource in sorted(HIDEABLE_FIELDS)
    for name in sorted(HIDEABLE_FIELDS[resource])
)


# -- the world, in index space ----------------------------------------------------------


@dataclass(frozen=True)
class GroupSpec:
    owner: int
    scope: str
    permissions: tuple[str, ...]
    hidden: tuple[str, ...]


@dataclass(frozen=True)
class UserSpec:
    # Distinct entity indices; the first is the default (the login's entity).
    entities: tuple[int, ...]
    groups: tuple[int, ...]


@dataclass(frozen=True)
class ContactSpec:
    owner: int
    # (entity, "read" | "write"), never the owner.
    shares: tuple[tuple[int, str], ...]


@dataclass(frozen=True)
class DocumentSpec:
    # Index into World.contact_owners (the entities' own contacts first).
    contact: int
    owner: int


@dataclass(frozen=True)
class MediumSpec:
    issuer: int
    owner_contact: int | None


@dataclass(frozen=True)
class StationSpec:
    owner: int | None
    group: int | None


@dataclass(frozen=True)
class RuleSpec:
    # Exactly one of them.
    station: int | None
    station_group: int | None


@dataclass(frozen=True)
class CdrSpec:
    # Index into World.sessions; (session, audience) unique.
    session: int
    audience: str
    seller: int
    # None: sold to a contact (an end customer).
    buyer: int | None


@dataclass(frozen=True)
class World:
    parents: tuple[int | None, ...]
    active: tuple[bool, ...]
    groups: tuple[GroupSpec, ...]
    users: tuple[UserSpec, ...]
    contacts: tuple[ContactSpec, ...]
    documents: tuple[DocumentSpec, ...]
    media: tuple[MediumSpec, ...]
    station_groups: tuple[int, ...]
    stations: tuple[StationSpec, ...]
    rules: tuple[RuleSpec, ...]
    # The station (index) of each charging session: seen when its station is.
    sessions: tuple[int, ...] = ()
    # The owner entity (index) of each firmware image.
    firmware: tuple[int, ...] = ()
    # The entity (index) each audit-log entry concerns.
    audit: tuple[int, ...] = ()
    # The station (index) of each security event, upload (each in a slot of
    # its own, its bytes on disk) and reported 2.0.1 variable.
    security_events: tuple[int, ...] = ()
    uploads: tuple[int, ...] = ()
    variables: tuple[int, ...] = ()
    # (station, number of entries) of each station holding a local list
    # (at most one a station).
    local_lists: tuple[tuple[int, int], ...] = ()
    # The owner entity (index) of each tariff, the tariff (index) of each
    # tariff assignment (owned by the tariff's owner), and the (entity,
    # partner) of each community partner row.
    tariffs: tuple[int, ...] = ()
    tariff_assignments: tuple[int, ...] = ()
    community_partners: tuple[tuple[int, int], ...] = ()
    # Billing: each entity's force-purchase-prices flag (none: all off), the
    # CDRs of sessions, and the entity of each billing run and of each
    # issued document's issuer.
    force: tuple[bool, ...] = ()
    cdrs: tuple[CdrSpec, ...] = ()
    billing_runs: tuple[int, ...] = ()
    billing_documents: tuple[int, ...] = ()

    def forces(self, entity: int) -> bool:
        return bool(self.force) and self.force[entity]

    @property
    def entity_count(self) -> int:
        return len(self.parents)

    @property
    def contact_owners(self) -> tuple[int, ...]:
        """Owner of every contact: entity i's own contact is contact i, then
        the extra contacts."""
        return tuple(range(self.entity_count)) + tuple(c.owner for c in self.contacts)

    def contact_shares(self, contact: int) -> tuple[tuple[int, str], ...]:
        extra = contact - self.entity_count
        return self.contacts[extra].shares if extra >= 0 else ()

    def descendants(self, entity: int) -> set[int]:
        """The entity and everything below it."""
        found = {entity}
        changed = True
        while changed:
            changed = False
            for child, parent in enumerate(self.parents):
                if parent in found and child not in found:
                    found.add(child)
                    changed = True
        return found


@st.composite
def permissions(draw: st.DrawFn) -> tuple[str, ...]:
    """Now and then everything (``*``); else, per resource, nothing, reading,
    every action (``resource:*``) or some action other than reading, in the
    notations a group may use."""
    if draw(st.integers(0, 9)) == 9:
        return ("*",)
    granted: list[str] = []
    for resource, actions in RESOURCES.items():
        choice = draw(st.sampled_from(("none", "read", "every", "other")))
        if choice == "read":
            granted.append(f"{resource}:read")
        elif choice == "every":
            granted.append(f"{resource}:*")
        elif choice == "other" and len(actions) > 1:
            others = [action for action in actions if action != "read"]
            granted.append(f"{resource}:{draw(st.sampled_from(others))}")
    return tuple(granted)


def group_spec(entities: int) -> st.SearchStrategy[GroupSpec]:
    """A group of one of ``entities`` entities: scope, permissions and
    hidden fields."""
    return st.builds(
        GroupSpec,
        owner=st.integers(0, entities - 1),
        scope=st.sampled_from(SCOPES),
        permissions=permissions(),
        hidden=st.lists(st.sampled_from(HIDEABLE), max_size=12, unique=True).map(tuple),
    )


@st.composite
def worlds(
    draw: st.DrawFn, *, min_entities: int = 1, max_entities: int = 8, max_users: int = 3
) -> World:
    """A random tree (1-8 entities, some deactivated, sometimes several
    roots), groups, users in 1-3 entities and 0-3 groups, contacts shared
    with random entities, documents, media, station groups, stations and
    their access rules, charging sessions, security events, uploads, 2.0.1
    variables and local lists, and firmware images."""
    n = draw(st.integers(min_entities, max_entities), label="entities")
    parents: list[int | None] = [None]
    for index in range(1, n):
        parent = draw(st.integers(-1, index - 1))
        parents.append(None if parent < 0 else parent)
    active = (True, *(draw(st.integers(0, 5)) != 5 for _ in range(1, n)))
    entity = st.integers(0, n - 1)

    groups = tuple(draw(st.lists(group_spec(n), max_size=4), label="groups"))
    group_index = st.integers(0, len(groups) - 1) if groups else st.nothing()
    users = draw(
        st.lists(
            st.builds(
                UserSpec,
                entities=st.lists(entity, min_size=1, max_size=3, unique=True).map(tuple),
                groups=st.lists(group_index, max_size=min(3, len(groups)), unique=True).map(tuple),
            ),
            min_size=1,
            max_size=max_users,
        ).map(tuple),
        label="users",
    )

    contacts = []
    for _ in range(draw(st.integers(0, 5), label="contacts")):
        owner = draw(entity)
        shares = draw(
            st.lists(
                st.tuples(entity, st.sampled_from(("read", "write"))),
                max_size=3,
                unique_by=lambda share: share[0],
            )
        )
        contacts.append(ContactSpec(owner, tuple(s for s in shares if s[0] != owner)))
    contact_count = n + len(contacts)
    contact = st.integers(0, contact_count - 1)

    documents = draw(
        st.lists(st.builds(DocumentSpec, contact=contact, owner=entity), max_size=4).map(tuple),
        label="documents",
    )
    media = draw(
        st.lists(
            st.builds(MediumSpec, issuer=entity, owner_contact=st.none() | contact), max_size=4
        ).map(tuple),
        label="media",
    )
    station_groups = draw(st.lists(entity, max_size=2).map(tuple), label="station groups")
    station_group = st.integers(0, len(station_groups) - 1) if station_groups else st.nothing()
    stations = draw(
        st.lists(
            st.builds(StationSpec, owner=st.none() | entity, group=st.none() | station_group),
            max_size=3,
        ).map(tuple),
        label="stations",
    )
    targets: list[st.SearchStrategy[RuleSpec]] = []
    if stations:
        targets.append(
            st.builds(RuleSpec, station=st.integers(0, len(stations) - 1), station_group=st.none())
        )
    if station_groups:
        targets.append(st.builds(RuleSpec, station=st.none(), station_group=station_group))
    rules = draw(st.lists(st.one_of(targets), max_size=3).map(tuple)) if targets else ()
    station = st.integers(0, len(stations) - 1) if stations else st.nothing()

    def of_stations(label: str) -> tuple[int, ...]:
        return draw(st.lists(station, max_size=3 if stations else 0).map(tuple), label=label)

    sessions = of_stations("sessions")
    firmware = draw(st.lists(entity, max_size=3).map(tuple), label="firmware")
    audit = draw(st.lists(entity, max_size=3).map(tuple), label="audit")
    security_events = of_stations("security events")
    uploads = of_stations("uploads")
    variables = of_stations("variables")
    local_lists = draw(
        st.lists(
            st.tuples(station, st.integers(1, 3)),
            max_size=len(stations),
            unique_by=lambda held: held[0],
        ).map(tuple),
        label="local lists",
    )
    tariffs = draw(st.lists(entity, max_size=3).map(tuple), label="tariffs")
    tariff_assignments = draw(
        st.lists(st.integers(0, len(tariffs) - 1), max_size=3).map(tuple)
        if tariffs
        else st.just(()),
        label="tariff assignments",
    )
    community_partners = draw(
        st.lists(
            st.tuples(entity, entity).filter(lambda pair: pair[0] != pair[1]),
            max_size=2,
            unique=True,
        ).map(tuple),
        label="community partners",
    )
    session = st.integers(0, len(sessions) - 1) if sessions else st.nothing()
    cdrs = draw(
        st.lists(
            st.builds(
                CdrSpec,
                session=session,
                audience=st.sampled_from(("emp", "customer", "sub_cpo")),
                seller=entity,
                buyer=st.none() | entity,
            ),
            max_size=4 if sessions else 0,
            unique_by=lambda c: (c.session, c.audience),
        ).map(tuple),
        label="cdrs",
    )
    force = tuple(draw(st.integers(0, 3)) == 3 for _ in range(n))
    billing_runs = draw(st.lists(entity, max_size=2).map(tuple), label="billing runs")
    billing_documents = draw(st.lists(entity, max_size=2).map(tuple), label="billing documents")
    return World(
        parents=tuple(parents),
        active=active,
        groups=groups,
        users=users,
        contacts=tuple(contacts),
        documents=documents,
        media=media,
        station_groups=station_groups,
        stations=stations,
        rules=rules,
        sessions=sessions,
        firmware=firmware,
        audit=audit,
        security_events=security_events,
        uploads=uploads,
        variables=variables,
        local_lists=local_lists,
        tariffs=tariffs,
        tariff_assignments=tariff_assignments,
        community_partners=community_partners,
        force=force,
        cdrs=cdrs,
        billing_runs=billing_runs,
        billing_documents=billing_documents,
    )


@st.composite
def worlds_with_a_shared_contact(draw: st.DrawFn) -> World:
    """A world whose (one) user reads contacts and documents, in a group of
    any scope, and works in an entity another entity shares a contact with;
    that contact has documents of its owner, of the user's entity and of
    others."""
    world = draw(worlds(min_entities=2, max_users=1))
    user = world.users[0]
    working = user.entities[0]
    n = world.entity_count
    owner = draw(st.integers(0, n - 1).filter(lambda e: e != working), label="contact owner")
    reader = GroupSpec(
        owner=working,
        scope=draw(st.sampled_from(SCOPES), label="reader scope"),
        permissions=("contacts:read", "documents:read"),
        hidden=(),
    )
    access = draw(st.sampled_from(("read", "write")))
    contact = n + len(world.contacts)
    others = draw(st.lists(st.integers(0, n - 1), max_size=2), label="other document owners")
    documents = tuple(DocumentSpec(contact, e) for e in (owner, working, *others))
    return replace(
        world,
        groups=(*world.groups, reader),
        users=(replace(user, groups=(*user.groups, len(world.groups))),),
        contacts=(*world.contacts, ContactSpec(owner, ((working, access),))),
        documents=(*world.documents, *documents),
    )


@st.composite
def worlds_with_a_station_reader(draw: st.DrawFn) -> World:
    """A world whose (one) user reads stations, in a group of any scope, and
    works in an entity that owns a station; another station has a random
    owner (or none). Each of the two has a session, a security event, an
    upload, a variable and a local list, and there are firmware images of
    the user's entity and of a random one. (In :func:`worlds`, a user who
    sees a station at all is rare.)"""
    world = draw(worlds(max_users=1))
    user = world.users[0]
    working = user.entities[0]
    n = world.entity_count
    reader = GroupSpec(
        owner=working,
        scope=draw(st.sampled_from(SCOPES), label="reader scope"),
        permissions=("stations:read",),
        hidden=(),
    )
    other = draw(st.none() | st.integers(0, n - 1), label="other station owner")
    first = len(world.stations)
    new = (first, first + 1)
    return replace(
        world,
        groups=(*world.groups, reader),
        users=(replace(user, groups=(*user.groups, len(world.groups))),),
        stations=(*world.stations, StationSpec(working, None), StationSpec(other, None)),
        sessions=(*world.sessions, *new),
        security_events=(*world.security_events, *new),
        uploads=(*world.uploads, *new),
        variables=(*world.variables, *new),
        local_lists=(*world.local_lists, *((s, 2) for s in new)),
        firmware=(*world.firmware, working, draw(st.integers(0, n - 1), label="firmware owner")),
    )


# -- writing it into the database -------------------------------------------------------


@dataclass
class Built:
    """Row ids of a world's rows, by index, and a login per user."""

    entities: list[int] = field(default_factory=list)
    groups: list[int] = field(default_factory=list)
    users: list[int] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)
    contacts: list[int] = field(default_factory=list)
    documents: list[int] = field(default_factory=list)
    media: list[int] = field(default_factory=list)
    medium_uids: list[str] = field(default_factory=list)
    station_groups: list[int] = field(default_factory=list)
    stations: list[int] = field(default_factory=list)
    rules: list[int] = field(default_factory=list)
    sessions: list[int] = field(default_factory=list)
    firmware: list[int] = field(default_factory=list)
    audit_log: list[int] = field(default_factory=list)
    security_events: list[int] = field(default_factory=list)
    uploads: list[int] = field(default_factory=list)
    # The bytes of each upload, as written to its file.
    upload_contents: list[bytes] = field(default_factory=list)
    # The variable name of each reported variable (they have no id).
    variables: list[str] = field(default_factory=list)
    # The id tags of each local list's entries.
    local_list_tags: list[list[str]] = field(default_factory=list)
    tariffs: list[int] = field(default_factory=list)
    tariff_assignments: list[int] = field(default_factory=list)
    community_partners: list[int] = field(default_factory=list)
    cdrs: list[int] = field(default_factory=list)
    billing_runs: list[int] = field(default_factory=list)
    billing_documents: list[int] = field(default_factory=list)


# Values for every hideable field, so that a field is never absent merely
# because it is empty, and distinctive enough that finding one anywhere in an
# answer that should hide it is a leak.
CONTACT_DETAILS: dict[str, Any] = {
    "street": "ct-street-QX",
    "postal_code": "ct-zip-QX",
    "phone": "ct-phone-QX",
    "fax": "ct-fax-QX",
    "email": "ct-email-qx@example.com",
    "vat_id": "ct-vat-QX",
    "iban": "ct-iban-QX",
    "bic": "ct-bic-QX",
    "comment": "ct-comment-QX",
}
ENTITY_DETAILS: dict[str, Any] = {
    "vat_id": "en-vat-QX",
    "company_number": "en-company-QX",
    "comment": "en-comment-QX",
    "credit_note_address": "en-credit-QX",
    "invoice_reply_to": "en-reply-qx@example.com",
}
STATION_DETAILS: dict[str, Any] = {
    "serial_number": "st-serial-QX",
    "charge_box_serial_number": "st-box-QX",
    "iccid": "st-iccid-QX",
    "imsi": "st-imsi-QX",
    "meter_serial_number": "st-meter-QX",
}
MEDIUM_NOTE = "md-note-QX"
# resource -> hideable field -> the text it holds in every row.
SENTINELS: dict[str, dict[str, str]] = {
    "contacts": CONTACT_DETAILS,
    "entities": ENTITY_DETAILS,
    "stations": STATION_DETAILS,
    "media": {"note": MEDIUM_NOTE},
}


def _now() -> datetime:
    return datetime.now(UTC)


async def add_group(built: Built, group: GroupSpec) -> int:
    group_id = await make_group(
        built.entities[group.owner],
        scope=group.scope,
        permissions=group.permissions,
        hidden=group.hidden,
    )
    built.groups.append(group_id)
    return group_id


async def build(world: World) -> Built:
    """Writes ``world`` into empty tables."""
    built = Built()
    tag = secrets.token_hex(3)
    for index, parent in enumerate(world.parents):
        built.entities.append(
            await make_entity(
                f"E{index}-{tag}",
                parent=None if parent is None else built.entities[parent],
                active=world.active[index],
                force_purchase_prices=world.forces(index),
                **ENTITY_DETAILS,
            )
        )
    # make_entity gives every entity its own contact, in order.
    rows = await Contact.select(Contact.id, Contact.master_of_entity).run()
    masters = {row["master_of_entity"]: row["id"] for row in rows}
    built.contacts.extend(masters[entity_id] for entity_id in built.entities)
    await Contact.update(dict[Any, Any](CONTACT_DETAILS), force=True).run()

    for group in world.groups:
        await add_group(built, group)
    for index, user in enumerate(world.users):
        email = f"u{index}-{tag}@example.com"
        user_id = await make_user(
            [built.entities[e] for e in user.entities],
            [built.groups[g] for g in user.groups],
            email=email,
        )
        built.users.append(user_id)
        built.emails.append(email)
        built.tokens.append(await token_for(user_id, built.entities[user.entities[0]]))

    now = _now()
    for index, contact in enumerate(world.contacts):
        (row,) = (
            await Contact.insert(
                Contact(
                    owner_entity=built.entities[contact.owner],
                    kind="person",
                    name=f"C{index}-{tag}",
                    created_at=now,
                    updated_at=now,
                    **CONTACT_DETAILS,
                )
            )
            .returning(Contact.id)
            .run()
        )
        built.contacts.append(int(row["id"]))
        for entity, access in contact.shares:
            await ContactShare.insert(
                ContactShare(
                    contact=row["id"], entity=built.entities[entity], access=access, created_at=now
                )
            ).run()
    for index, document in enumerate(world.documents):
        (row,) = (
            await ContactDocument.insert(
                ContactDocument(
                    contact=built.contacts[document.contact],
                    owner_entity=built.entities[document.owner],
                    title=f"D{index}",
                    file_name=f"d{index}.txt",
                    media_type="text/plain",
                    content=b"secret",
                    size=6,
                    created_at=now,
                )
            )
            .returning(ContactDocument.id)
            .run()
        )
        built.documents.append(int(row["id"]))
    for index, medium in enumerate(world.media):
        uid = f"M{index}{tag}".upper()
        (row,) = (
            await Medium.insert(
                Medium(
                    uid=uid,
                    issuing_entity=built.entities[medium.issuer],
                    owner_contact=None
                    if medium.owner_contact is None
                    else built.contacts[medium.owner_contact],
                    note=MEDIUM_NOTE,
                    created_at=now,
                    updated_at=now,
                )
            )
            .returning(Medium.id)
            .run()
        )
        built.media.append(int(row["id"]))
        built.medium_uids.append(uid)
    for index, owner in enumerate(world.station_groups):
        (row,) = (
            await StationGroup.insert(
                StationGroup(
                    owner_entity=built.entities[owner],
                    name=f"SG{index}",
                    created_at=now,
                    updated_at=now,
                )
            )
            .returning(StationGroup.id)
            .run()
        )
        built.station_groups.append(int(row["id"]))
    for index, station in enumerate(world.stations):
        (row,) = (
            await Station.insert(
                Station(
                    charge_point_id=f"CP{index}-{tag}",
                    owner_entity=None if station.owner is None else built.entities[station.owner],
                    station_group=None
                    if station.group is None
                    else built.station_groups[station.group],
                    created_at=now,
                    updated_at=now,
                    **STATION_DETAILS,
                )
            )
            .returning(Station.id)
            .run()
        )
        built.stations.append(int(row["id"]))
    for rule in world.rules:
        (row,) = (
            await AccessRule.insert(
                AccessRule(
                    station=None if rule.station is None else built.stations[rule.station],
                    station_group=None
                    if rule.station_group is None
                    else built.station_groups[rule.station_group],
                    effect="allow",
                    subject="everyone",
                    created_at=now,
                )
            )
            .returning(AccessRule.id)
            .run()
        )
        built.rules.append(int(row["id"]))
    rated = {c.session for c in world.cdrs}
    for index, session_station in enumerate(world.sessions):
        (row,) = (
            await ChargingSession.insert(
                ChargingSession(
                    station=built.stations[session_station],
                    connector_id=1,
                    id_tag=f"T{index}-{tag}",
                    # Sessions with CDRs are completed (and rated).
                    status="completed" if index in rated else "active",
                    stopped_at=now if index in rated else None,
                    started_at=now,
                    meter_start_wh=0,
                    created_at=now,
                    updated_at=now,
                )
            )
            .returning(ChargingSession.id)
            .run()
        )
        built.sessions.append(int(row["id"]))
    await _build_station_files(world, built, tag)
    await _build_tariffs(world, built)
    await _build_billing(world, built, tag)
    return built


def cdr_net(index: int) -> int:
    """CDR ``index``'s net amount in whole currency units (reports sum them)."""
    return index + 1


async def _build_billing(world: World, built: Built, tag: str) -> None:
    """CDRs, draft billing runs and issued documents (a sample invoice's
    content, so they render)."""
    from tests.unit.billing_documents.samples import document

    now = _now()
    for index, spec in enumerate(world.cdrs):
        (row,) = (
            await Cdr.insert(
                Cdr(
                    session=built.sessions[spec.session],
                    audience=spec.audience,
                    status="rated",
                    station=built.stations[world.sessions[spec.session]],
                    seller_entity=built.entities[spec.seller],
                    buyer_entity=None if spec.buyer is None else built.entities[spec.buyer],
                    medium_uid=f"T{spec.session}-{tag}",
                    started_at=now,
                    stopped_at=now,
                    currency="EUR",
                    energy_wh=1000,
                    total_net_e4=cdr_net(index) * 10_000,
                    total_gross_e4=cdr_net(index) * 11_900,
                    rated_at=now,
                )
            )
            .returning(Cdr.id)
            .run()
        )
        built.cdrs.append(int(row["id"]))
    for entity in world.billing_runs:
        (row,) = (
            await BillingRun.insert(
                BillingRun(
                    entity=built.entities[entity],
                    period="2026-10",
                    period_start=date(2026, 10, 1),
                    period_end=date(2026, 10, 31),
                    status="draft",
                    summary='{"drafts": []}',
                    created_at=now,
                )
            )
            .returning(BillingRun.id)
            .run()
        )
        built.billing_runs.append(int(row["id"]))
    for index, issuer in enumerate(world.billing_documents):
        number = f"RE-{tag}-{index}"
        sample = document(number=number)
        (row,) = (
            await BillingDocument.insert(
                BillingDocument(
                    issuer_entity=built.entities[issuer],
                    kind="invoice",
                    number=number,
                    recipient_contact=built.contacts[issuer],
                    issue_date=sample.issue_date,
                    period_start=sample.period_start,
                    period_end=sample.period_end,
                    currency=sample.currency,
                    total_net_e4=int(sample.total_net * 10_000),
                    total_vat_e4=int(sample.total_vat * 10_000),
                    total_gross_e4=int(sample.total_gross * 10_000),
                    content=to_json(sample).decode(),
                    issued_at=now,
                )
            )
            .returning(BillingDocument.id)
            .run()
        )
        built.billing_documents.append(int(row["id"]))


OCPI_TARIFF = (
    '{"id": "T", "currency": "EUR", "last_updated": "2026-01-01T00:00:00Z", '
    '"elements": [{"price_components": [{"type": "ENERGY", "price": 0.3, "step_size": 1}]}]}'
)


async def _build_tariffs(world: World, built: Built) -> None:
    """Tariffs (each with a version valid since 2020), their assignments and
    community partner rows."""
    now = _now()
    for index, owner in enumerate(world.tariffs):
        (row,) = (
            await Tariff.insert(
                Tariff(
                    owner_entity=built.entities[owner],
                    code=f"T{index}",
                    name=f"Tariff {index}",
                    currency="EUR",
                    created_at=now,
                    updated_at=now,
                )
            )
            .returning(Tariff.id)
            .run()
        )
        built.tariffs.append(int(row["id"]))
        await TariffVersion.insert(
            TariffVersion(
                tariff=row["id"],
                valid_from=datetime(2020, 1, 1, tzinfo=UTC),
                ocpi=OCPI_TARIFF.replace('"T"', f'"T{index}"'),
                created_at=now,
            )
        ).run()
    for tariff in world.tariff_assignments:
        (row,) = (
            await TariffAssignment.insert(
                TariffAssignment(
                    owner_entity=built.entities[world.tariffs[tariff]],
                    tariff=built.tariffs[tariff],
                    audience="emp",
                    created_at=now,
                )
            )
            .returning(TariffAssignment.id)
            .run()
        )
        built.tariff_assignments.append(int(row["id"]))
    for entity, partner in world.community_partners:
        (row,) = (
            await CommunityPartner.insert(
                CommunityPartner(
                    entity=built.entities[entity],
                    partner_entity=built.entities[partner],
                    created_at=now,
                )
            )
            .returning(CommunityPartner.id)
            .run()
        )
        built.community_partners.append(int(row["id"]))


def files_dir() -> Path:
    """Where the API reads hosted files from (``CSMS_FILES_DIR``, which
    tests/conftest.py points into the run's temporary directory)."""
    return Path(Settings.from_env().files_dir)


async def _build_station_files(world: World, built: Built, tag: str) -> None:
    """Firmware images, security events, uploads (a slot each, the bytes on
    disk), variables and local lists of the world."""
    now = _now()
    for index, owner in enumerate(world.firmware):
        token = f"fw{index}{tag}{secrets.token_hex(12)}"
        (row,) = (
            await FirmwareFile.insert(
                FirmwareFile(
                    owner_entity=built.entities[owner],
                    filename=f"fw{index}.bin",
                    description=f"F{index}",
                    size=4,
                    sha256=hashlib.sha256(b"fw!!").hexdigest(),
                    token=token,
                    stored_as=f"firmware/{token}",
                    created_at=now,
                )
            )
            .returning(FirmwareFile.id)
            .run()
        )
        built.firmware.append(int(row["id"]))
    for entity in world.audit:
        (row,) = (
            await AuditEntry.insert(
                AuditEntry(
                    at=now,
                    user_id=0,
                    user_email="",
                    entity_id=built.entities[entity],
                    acting_entity_id=built.entities[entity],
                    method="PATCH",
                    path=f"/api/v1/entities/{built.entities[entity]}",
                    kind="entities",
                    object_id=str(built.entities[entity]),
                    fields='["name"]',
                    status=200,
                )
            )
            .returning(AuditEntry.id)
            .run()
        )
        built.audit_log.append(int(row["id"]))
    for index, station in enumerate(world.security_events):
        (row,) = (
            await SecurityEvent.insert(
                SecurityEvent(
                    station=built.stations[station],
                    type="FirmwareUpdated",
                    timestamp=now,
                    tech_info=f"S{index}-{tag}",
                    received_at=now,
                )
            )
            .returning(SecurityEvent.id)
            .run()
        )
        built.security_events.append(int(row["id"]))
    root = files_dir()
    for index, station in enumerate(world.uploads):
        station_id = built.stations[station]
        (slot,) = (
            await UploadSlot.insert(
                UploadSlot(
                    station=station_id,
                    kind="diagnostics",
                    token=f"up{index}{tag}{secrets.token_hex(12)}",
                    request_id=index + 1,
                    created_at=now,
                    expires_at=now + timedelta(hours=1),
                )
            )
            .returning(UploadSlot.id)
            .run()
        )
        content = f"upload {index} of station {station_id} ({tag})".encode()
        stored_as = f"uploads/{station_id}/{secrets.token_urlsafe(16)}"
        path = root / stored_as
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        (row,) = (
            await StationUpload.insert(
                StationUpload(
                    slot=slot["id"],
                    station=station_id,
                    kind="diagnostics",
                    filename=f"u{index}.log",
                    size=len(content),
                    sha256=hashlib.sha256(content).hexdigest(),
                    stored_as=stored_as,
                    received_at=now,
                )
            )
            .returning(StationUpload.id)
            .run()
        )
        built.uploads.append(int(row["id"]))
        built.upload_contents.append(content)
    for index, station in enumerate(world.variables):
        name = f"Var{index}{tag}"
        await StationVariable.insert(
            StationVariable(
                station=built.stations[station],
                component="OCPPCommCtrlr",
                variable=name,
                value=f"v{index}",
                updated_at=now,
            )
        ).run()
        built.variables.append(name)
    for index, (station, count) in enumerate(world.local_lists):
        tags = [f"L{index}-{entry}-{tag}".upper() for entry in range(count)]
        entries = [{"id_tag": id_tag, "status": "Accepted"} for id_tag in tags]
        await LocalListState.insert(
            LocalListState(
                station=built.stations[station],
                version=index + 1,
                entries=msgspec.json.encode(entries).decode(),
                updated_at=now,
            )
        ).run()
        built.local_list_tags.append(tags)


# -- the model: what one user, in one entity, sees ----------------------------------------

ALL = None  # "every entity, and rows of none"


@dataclass(frozen=True)
class Expect:
    """What user ``user`` (index) sees working in entity ``working`` (index),
    with the groups ``groups`` (indices; default: the user's)."""

    world: World
    user: int
    working: int
    groups: tuple[int, ...] | None = None

    @property
    def _groups(self) -> list[GroupSpec]:
        indices = self.world.users[self.user].groups if self.groups is None else self.groups
        return [self.world.groups[g] for g in indices]

    @property
    def works_here(self) -> bool:
        """A request in this entity is answered at all (else 403)."""
        return (
            self.working in self.world.users[self.user].entities and self.world.active[self.working]
        )

    def scope(self, resource: str, action: str = "read") -> str | None:
        """The widest scope of the groups granting ``resource:action``."""
        wanted = {"*", f"{resource}:*", f"{resource}:{action}"}
        scopes = [g.scope for g in self._groups if wanted & set(g.permissions)]
        return max(scopes, key=_RANK.__getitem__) if scopes else None

    def can(self, resource: str, action: str = "read") -> bool:
        return self.works_here and self.scope(resource, action) is not None

    def entities(self, resource: str, action: str = "read") -> set[int] | None:
        """Entity indices whose rows are seen; ALL (None) for everything."""
        scope = self.scope(resource, action) if self.works_here else None
        if scope is None:
            return set()
        if scope == "all":
            return ALL
        if scope == "subtree":
            return self.world.descendants(self.working)
        return {self.working}

    def sees(self, resource: str, entity: int | None) -> bool:
        """Whether rows of ``entity`` (None: of no entity) are seen."""
        seen = self.entities(resource)
        return seen is ALL or (entity is not None and entity in seen)

    def _reading_groups(self, resource: str) -> list[GroupSpec]:
        wanted = {"*", f"{resource}:*", f"{resource}:read"}
        return [g for g in self._groups if wanted & set(g.permissions)]

    @staticmethod
    def _hides(group: GroupSpec, resource: str) -> set[str]:
        return {h.partition(".")[2] for h in group.hidden if h.partition(".")[0] == resource}

    def _reaches(self, scope: str, entity: int | None) -> bool:
        """Whether a group of ``scope`` alone lets the user see rows of ``entity``."""
        if scope == "all":
            return True
        if entity is None:
            return False
        if scope == "subtree":
            return entity in self.world.descendants(self.working)
        return entity == self.working

    def hidden(self, resource: str, entities: Iterable[int | None]) -> set[str]:
        """The fields hidden on a row seen through ``entities`` (its owner;
        a contact's shares too; a user's shown memberships): hidden unless
        some group that lets the user read that row, by its own scope,
        shows it. The union of what each group alone shows."""
        reached = list(entities)
        hiding = [
            self._hides(g, resource)
            for g in self._reading_groups(resource)
            if any(self._reaches(g.scope, e) for e in reached)
        ]
        if not hiding:
            return self.hidden_somewhere(resource)
        return set.intersection(*hiding)

    def hidden_by_every_group(self, resource: str) -> set[str]:
        """Fields every reading group hides: hidden on any row whatever."""
        hiding = [self._hides(g, resource) for g in self._reading_groups(resource)]
        return set.intersection(*hiding) if hiding else set()

    def hidden_somewhere(self, resource: str) -> set[str]:
        """Fields some reading group hides (the most that may be hidden)."""
        found: set[str] = set()
        for g in self._reading_groups(resource):
            found |= self._hides(g, resource)
        return found

    def row_entities(self, kind: str, index: int) -> list[int | None]:
        """The entities a row of ``kind`` is seen through."""
        world = self.world
        if kind == "entities":
            return [index]
        if kind == "users":
            return list(self.shown_memberships(index))
        if kind == "contacts":
            return [world.contact_owners[index], *(e for e, _ in world.contact_shares(index))]
        if kind == "media":
            return [world.media[index].issuer]
        if kind == "stations":
            return [world.stations[index].owner]
        raise ValueError(f"no hideable fields on {kind}")

    # Rows seen, by index.

    def seen_entities(self) -> set[int]:
        return {e for e in range(self.world.entity_count) if self.sees("entities", e)}

    def seen_users(self) -> set[int]:
        return {
            u
            for u, user in enumerate(self.world.users)
            if any(self.sees("users", e) for e in user.entities)
        }

    def shown_memberships(self, user: int) -> list[int]:
        return [e for e in self.world.users[user].entities if self.sees("users", e)]

    def shown_groups(self, user: int) -> list[int]:
        return [
            g
            for g in self.world.users[user].groups
            if self.sees("groups", self.world.groups[g].owner)
        ]

    def seen_groups(self) -> set[int]:
        return {g for g, group in enumerate(self.world.groups) if self.sees("groups", group.owner)}

    def seen_contacts(self) -> set[int]:
        return {
            c
            for c, owner in enumerate(self.world.contact_owners)
            if self.sees("contacts", owner)
            or any(self.sees("contacts", e) for e, _ in self.world.contact_shares(c))
        }

    def seen_documents(self) -> set[int]:
        """Documents by their own entity only (never through a share)."""
        return {
            d for d, doc in enumerate(self.world.documents) if self.sees("documents", doc.owner)
        }

    def seen_media(self) -> set[int]:
        return {m for m, medium in enumerate(self.world.media) if self.sees("media", medium.issuer)}

    def seen_stations(self) -> set[int]:
        return {
            s
            for s, station in enumerate(self.world.stations)
            if self.sees("stations", station.owner)
        }

    def seen_sessions(self) -> set[int]:
        """Sessions through their station's owner (stations:read)."""
        return {
            s
            for s, station in enumerate(self.world.sessions)
            if self.sees("stations", self.world.stations[station].owner)
        }

    def seen_audit_log(self) -> set[int]:
        """Audit-log entries through the entity they concern (audit_log:read)."""
        return {a for a, entity in enumerate(self.world.audit) if self.sees("audit_log", entity)}

    def seen_firmware(self) -> set[int]:
        """Firmware through its owner entity (stations:read)."""
        return {f for f, owner in enumerate(self.world.firmware) if self.sees("stations", owner)}

    def seen_uploads(self) -> set[int]:
        """Uploads (their content) through their station's owner."""
        return {
            u
            for u, station in enumerate(self.world.uploads)
            if self.sees("stations", self.world.stations[station].owner)
        }

    def seen_tariffs(self) -> set[int]:
        """Tariffs through their owner entity (tariffs:read)."""
        return {t for t, owner in enumerate(self.world.tariffs) if self.sees("tariffs", owner)}

    def seen_tariff_assignments(self) -> set[int]:
        """Assignments through their owner, the tariff's (tariffs:read)."""
        return {
            a
            for a, tariff in enumerate(self.world.tariff_assignments)
            if self.sees("tariffs", self.world.tariffs[tariff])
        }

    def seen_community_partners(self) -> set[int]:
        """Community partner rows through the entity naming them (tariffs:read)."""
        return {
            c
            for c, (entity, _) in enumerate(self.world.community_partners)
            if self.sees("tariffs", entity)
        }

    def seen_station_groups(self) -> set[int]:
        return {
            g
            for g, owner in enumerate(self.world.station_groups)
            if self.sees("station_groups", owner)
        }

    def seen_cdrs(self) -> set[int]:
        """CDRs by their seller or buyer entity (billing:read); with force
        purchase prices on the working entity, by their buyer entity only."""
        found = set()
        for c, cdr in enumerate(self.world.cdrs):
            buyer_seen = cdr.buyer is not None and self.sees("billing", cdr.buyer)
            if self.world.forces(self.working):
                seen = buyer_seen
            else:
                seen = buyer_seen or self.sees("billing", cdr.seller)
            if seen:
                found.add(c)
        return found

    def seen_billing_runs(self) -> set[int]:
        return {r for r, e in enumerate(self.world.billing_runs) if self.sees("billing", e)}

    def seen_billing_documents(self) -> set[int]:
        """Documents by their issuer only (a shared contact shows none)."""
        return {d for d, e in enumerate(self.world.billing_documents) if self.sees("billing", e)}
