"""Database tables of the multi-entity kernel and CRM (piccolo app ``crm``).

Only storage modules import this. Every table of entity-owned data has an
owning-entity column; reads of it go through :mod:`crm.storage.scoping`.
"""

from __future__ import annotations

from piccolo.columns import (
    JSON,
    BigSerial,
    Boolean,
    Bytea,
    ForeignKey,
    Integer,
    Serial,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.base import OnDelete
from piccolo.table import Table


class Entity(Table, tablename="entity"):
    """One unit of the operator's organisation; entities form a tree.

    Never deleted while anything refers to it: deactivated instead.
    """

    id = Serial(primary_key=True)
    # The root has none; moving an entity changes this (never to a descendant).
    parent: ForeignKey = ForeignKey(
        references="self", on_delete=OnDelete.restrict, null=True, index=True
    )
    name = Varchar(length=200)
    # operator, subsidiary, cpo, emp, customer, other
    kind = Varchar(length=16, default="other")
    street = Varchar(length=200, default="")
    postal_code = Varchar(length=20, default="")
    city = Varchar(length=100, default="")
    # ISO 3166-1 alpha-2
    country = Varchar(length=2, default="")
    vat_id = Varchar(length=32, default="")
    # Unique in the instance when set; its CRM contact carries it too.
    customer_number = Varchar(length=64, null=True, default=None, unique=True)
    company_number = Varchar(length=64, default="")
    phone = Varchar(length=64, default="")
    fax = Varchar(length=64, default="")
    # Invoices and credit notes are delivered to it.
    email = Varchar(length=254, default="")
    web = Varchar(length=254, default="")
    comment = Text(default="")
    may_act_as_sub_emp = Boolean(default=False)
    customer_self_registration = Boolean(default=False)
    # e.g. DE*ABC: the id it has as CPO or EMP (Hubject, OCPI).
    operator_id = Varchar(length=16, default="")
    # Names of the number ranges billing draws invoice / credit-note numbers from.
    invoice_number_range = Varchar(length=64, default="")
    credit_note_number_range = Varchar(length=64, default="")
    invoice_reply_to = Varchar(length=254, default="")
    force_purchase_prices = Boolean(default=False)
    credit_note_address = Text(default="")
    # IANA name; billing runs of this entity work in it.
    time_zone = Varchar(length=64, default="UTC")
    # Numbers of contacts this entity creates, e.g. "AA0-%d".
    customer_number_format = Varchar(length=64, default="%d")
    # The last number drawn for the format (taken with UPDATE ... RETURNING).
    customer_number_counter = Integer(default=0)
    # {"logo_url": ..., "primary_color": ..., "secondary_color": ...}
    branding = JSON(default="{}")
    active = Boolean(default=True)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class Contact(Table, tablename="contact"):
    """A person or company in the CRM, owned by one entity."""

    id = Serial(primary_key=True)
    owner_entity = ForeignKey(
        references=Entity, on_delete=OnDelete.restrict, null=False, index=True
    )
    # Set on the contact an entity creates for itself: its master fields are
    # the entity's and are edited there only.
    master_of_entity = ForeignKey(
        references=Entity, on_delete=OnDelete.restrict, null=True, unique=True
    )
    # person or company
    kind = Varchar(length=8, default="person")
    customer_number = Varchar(length=64, null=True, default=None, unique=True)
    name = Varchar(length=200)
    first_name = Varchar(length=100, default="")
    last_name = Varchar(length=100, default="")
    company = Varchar(length=200, default="")
    street = Varchar(length=200, default="")
    postal_code = Varchar(length=20, default="")
    city = Varchar(length=100, default="")
    country = Varchar(length=2, default="")
    phone = Varchar(length=64, default="")
    fax = Varchar(length=64, default="")
    email = Varchar(length=254, default="", index=True)
    web = Varchar(length=254, default="")
    vat_id = Varchar(length=32, default="")
    iban = Varchar(length=34, default="")
    bic = Varchar(length=11, default="")
    comment = Text(default="")
    active = Boolean(default=True)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class ContactShare(Table, tablename="contact_share"):
    """A contact shared with another entity, read-only or writable.

    Unique (contact, entity): an index created in the migration.
    """

    id = Serial(primary_key=True)
    contact = ForeignKey(references=Contact, on_delete=OnDelete.cascade, null=False, index=True)
    entity = ForeignKey(references=Entity, on_delete=OnDelete.restrict, null=False, index=True)
    # read or write
    access = Varchar(length=8, default="read")
    created_at = Timestamptz()


class ContactDocument(Table, tablename="contact_document"):
    """A contract or file about a contact, private to the entity it is
    assigned to: sharing the contact never shares it."""

    id = Serial(primary_key=True)
    contact = ForeignKey(references=Contact, on_delete=OnDelete.restrict, null=False, index=True)
    owner_entity = ForeignKey(
        references=Entity, on_delete=OnDelete.restrict, null=False, index=True
    )
    # contract, file
    kind = Varchar(length=16, default="file")
    title = Varchar(length=200)
    file_name = Varchar(length=255, default="")
    media_type = Varchar(length=127, default="application/octet-stream")
    content = Bytea(default=b"")
    size = Integer(default=0)
    created_at = Timestamptz()


class User(Table, tablename="app_user"):
    """Someone who logs in to the admin UI or the API (one user base for all
    entities)."""

    id = Serial(primary_key=True)
    email = Varchar(length=254, unique=True)
    name = Varchar(length=200, default="")
    # argon2id, in the PHC string format.
    password_hash = Varchar(length=255, default="")
    default_entity = ForeignKey(references=Entity, on_delete=OnDelete.restrict, null=False)
    active = Boolean(default=True)
    last_login_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class Membership(Table, tablename="membership"):
    """A user belongs to an entity. Unique (user, entity): migration index."""

    id = Serial(primary_key=True)
    user = ForeignKey(references=User, on_delete=OnDelete.cascade, null=False, index=True)
    entity = ForeignKey(references=Entity, on_delete=OnDelete.restrict, null=False, index=True)
    created_at = Timestamptz()


class Group(Table, tablename="user_group"):
    """Grants permissions, one visibility scope and hidden fields to its
    members."""

    id = Serial(primary_key=True)
    owner_entity = ForeignKey(
        references=Entity, on_delete=OnDelete.restrict, null=False, index=True
    )
    name = Varchar(length=100)
    description = Text(default="")
    # own, subtree or all
    scope = Varchar(length=8, default="own")
    # ["contacts:read", "media:update", ...]
    permissions = JSON(default="[]")
    # ["contacts.iban", ...]
    hidden_fields = JSON(default="[]")
    created_at = Timestamptz()
    updated_at = Timestamptz()


class GroupMember(Table, tablename="group_member"):
    """A user in a group. Unique (group, user): migration index."""

    id = Serial(primary_key=True)
    group = ForeignKey(references=Group, on_delete=OnDelete.cascade, null=False, index=True)
    user = ForeignKey(references=User, on_delete=OnDelete.cascade, null=False, index=True)
    created_at = Timestamptz()


class LoginSession(Table, tablename="login_session"):
    """A login: a browser session (cookie) or an API bearer token. Only the
    token's SHA-256 is stored."""

    id = Serial(primary_key=True)
    token_hash = Varchar(length=64, unique=True)
    user = ForeignKey(references=User, on_delete=OnDelete.cascade, null=False, index=True)
    # The entity the user works in for this session; a request may override it.
    active_entity = ForeignKey(references=Entity, on_delete=OnDelete.restrict, null=False)
    # ui or api
    kind = Varchar(length=4, default="api")
    created_at = Timestamptz()
    expires_at = Timestamptz()


class Medium(Table, tablename="medium"):
    """An identification medium: RFID card, app token, eMAID."""

    id = Serial(primary_key=True)
    # What the charger sends: OCPP 1.6 idTag (20 chars), 2.0.1 idToken (36).
    uid = Varchar(length=36, unique=True)
    # rfid, emaid, app, key_code, other
    kind = Varchar(length=8, default="rfid")
    issuing_entity = ForeignKey(
        references=Entity, on_delete=OnDelete.restrict, null=False, index=True
    )
    owner_contact = ForeignKey(references=Contact, on_delete=OnDelete.restrict, null=True)
    bill_to_contact = ForeignKey(references=Contact, on_delete=OnDelete.restrict, null=True)
    # active, blocked, expired, lost
    status = Varchar(length=8, default="active")
    valid_from = Timestamptz(null=True, default=None)
    valid_until = Timestamptz(null=True, default=None)
    # The OCPP group id (parentIdTag / groupIdToken) media share.
    group_uid = Varchar(length=36, default="", index=True)
    note = Varchar(length=255, default="")
    created_at = Timestamptz()
    updated_at = Timestamptz()


# -- the drivers' app (admin_ui/app_api, crm/drivers) ---------------------------


class RegistrationCode(Table, tablename="registration_code"):
    """The public code drivers register with an entity by (only entities
    that allow customer self-registration accept registrations)."""

    id = Serial(primary_key=True)
    entity = ForeignKey(references=Entity, on_delete=OnDelete.cascade, null=False, unique=True)
    code = Varchar(length=32, unique=True)
    created_at = Timestamptz()


class DriverLogin(Table, tablename="driver_login"):
    """A driver's login to the app: a contact of the entity they registered
    with, their app token, and whether the e-mail was verified."""

    id = Serial(primary_key=True)
    # Lower case; one login per e-mail in the instance.
    email = Varchar(length=254, unique=True)
    # argon2id, in the PHC string format.
    password_hash = Varchar(length=255)
    contact = ForeignKey(references=Contact, on_delete=OnDelete.restrict, null=False, unique=True)
    entity = ForeignKey(references=Entity, on_delete=OnDelete.restrict, null=False, index=True)
    # The app token the entity issued at registration.
    app_medium = ForeignKey(references=Medium, on_delete=OnDelete.restrict, null=True)
    verified = Boolean(default=False)
    active = Boolean(default=True)
    last_login_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class DriverToken(Table, tablename="driver_token"):
    """A driver's token; only its SHA-256 is stored. Kinds: access (short),
    refresh (rotated on use; the tokens of one login share a family, and
    reusing a rotated refresh token revokes the family), verify, reset."""

    id = BigSerial(primary_key=True)
    token_hash = Varchar(length=64, unique=True)
    driver = ForeignKey(references=DriverLogin, on_delete=OnDelete.cascade, null=False, index=True)
    kind = Varchar(length=8)
    family = Varchar(length=32, default="", index=True)
    used_at = Timestamptz(null=True, default=None)
    revoked = Boolean(default=False)
    created_at = Timestamptz()
    expires_at = Timestamptz()


class MailOutbox(Table, tablename="mail_outbox"):
    """Mail to drivers as the default sender keeps it (an SMTP sender sends
    it instead). Tokens in a body appear nowhere else."""

    id = BigSerial(primary_key=True)
    recipient = Varchar(length=254, index=True)
    kind = Varchar(length=16, default="")
    subject = Varchar(length=200)
    body = Text()
    created_at = Timestamptz()


# -- the audit log (admin_ui.api.audit, crm.audit) -------------------------------


class AuditEntry(Table, tablename="audit_log"):
    """One operator change made through the API: who, when, which entity,
    what (method, path, kind and id of the object, the names of the fields
    sent, never their values) and from where. Never changed or deleted: the
    database refuses UPDATE and DELETE (a trigger, see the migration). No
    foreign keys: an entry outlives the user and the entity it names."""

    id = BigSerial(primary_key=True)
    at = Timestamptz(index=True)
    user_id = Integer(index=True)
    user_email = Varchar(length=254)
    # The entity the change concerns (the entity changed, or the owner the
    # object has or is given), else the one the user acted in.
    entity_id = Integer(index=True)
    acting_entity_id = Integer()
    method = Varchar(length=8)
    path = Varchar(length=500)
    kind = Varchar(length=64, index=True)
    object_id = Varchar(length=64, default="")
    fields = JSON(default=[])
    status = Integer()
    client_address = Varchar(length=64, default="")
    request_id = Varchar(length=32, default="")
