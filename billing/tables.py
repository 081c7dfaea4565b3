"""Database tables of the billing engine (piccolo app ``billing``).

Only billing's storage modules import this. Money is stored exactly as an
integer count of ten-thousandths of the currency unit (``*_e4`` columns:
``12.3456 EUR`` is ``123456``), so sums in SQL stay exact on SQLite, whose
NUMERIC affinity would otherwise turn decimal text into binary floats.
Times are ``Timestamptz`` (UTC); local dates (billing periods, issue dates)
are ``Date`` in the entity's time zone.
"""

from __future__ import annotations

from piccolo.columns import (
    BigInt,
    BigSerial,
    Date,
    ForeignKey,
    Integer,
    Serial,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from crm.tables import Contact, Entity
from csms.tables import ChargingSession, Station, StationGroup


class Tariff(Table, tablename="tariff"):
    """A price list an entity owns; what it costs lives in its versions."""

    id = Serial(primary_key=True)
    owner_entity = ForeignKey(
        references=Entity, on_delete=OnDelete.restrict, null=False, index=True
    )
    # The OCPI tariff id (unique per owner: an index in the migration).
    code = Varchar(length=36)
    name = Varchar(length=200, default="")
    currency = Varchar(length=3)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class TariffVersion(Table, tablename="tariff_version"):
    """One version of a tariff, valid from a moment on until the next one.

    A session is priced with the version whose ``valid_from`` is the latest
    at or before the session's start. Versions are never changed; a new
    price is a new version.
    """

    id = Serial(primary_key=True)
    tariff = ForeignKey(references=Tariff, on_delete=OnDelete.cascade, null=False, index=True)
    valid_from = Timestamptz()
    # The OCPI 2.2.1 Tariff object as JSON text, numbers exact.
    ocpi = Text()
    created_at = Timestamptz()


class TariffAssignment(Table, tablename="tariff_assignment"):
    """Which tariff prices which sessions, for whom.

    audience ``emp``: what a station's owner charges the e-mobility provider
    that issued the medium; ``customer``: what the medium's (sub-)EMP
    charges its bill-to contact; ``sub_cpo``: what a parent pays a sub-CPO
    for sessions at the sub-CPO's stations. The owner entity is the one that
    assigns (the station owner, the EMP, the parent). A station or a station
    group narrows it; none means every station it covers. A counterparty
    narrows it to one buyer entity (an EMP) or seller (a sub-CPO). The most
    specific match wins, then the higher priority.
    """

    id = Serial(primary_key=True)
    owner_entity = ForeignKey(
        references=Entity, on_delete=OnDelete.restrict, null=False, index=True
    )
    tariff = ForeignKey(references=Tariff, on_delete=OnDelete.restrict, null=False, index=True)
    audience = Varchar(length=8)
    station = ForeignKey(references=Station, on_delete=OnDelete.cascade, null=True, index=True)
    station_group = ForeignKey(
        references=StationGroup, on_delete=OnDelete.cascade, null=True, index=True
    )
    counterparty_entity = ForeignKey(
        references=Entity, on_delete=OnDelete.restrict, null=True, index=True
    )
    priority = Integer(default=0)
    created_at = Timestamptz()


class CommunityPartner(Table, tablename="community_partner"):
    """An entity a station owner counts as its community: sessions of media
    it issued are not invoiced by station. Unique (entity, partner) in the
    migration."""

    id = Serial(primary_key=True)
    entity = ForeignKey(references=Entity, on_delete=OnDelete.cascade, null=False, index=True)
    partner_entity = ForeignKey(references=Entity, on_delete=OnDelete.cascade, null=False)
    created_at = Timestamptz()


class Cdr(Table, tablename="cdr"):
    """A charge detail record: one session priced for one audience.

    Unique (session, audience) in the migration: rating twice writes one.
    ``status`` is ``rated`` or ``error`` (with ``error``: why, e.g. no
    tariff applies). Seller and buyer are the parties of the document the
    CDR will be billed on.
    """

    id = BigSerial(primary_key=True)
    # Not indexed alone: the unique (session, audience) index serves
    # lookups by session, and (seller_entity, document, started_at) those by
    # seller (billing migrations); every index is one more write per CDR.
    session = ForeignKey(references=ChargingSession, on_delete=OnDelete.restrict, null=False)
    audience = Varchar(length=8)
    status = Varchar(length=8, default="rated")
    error = Text(default="")
    station = ForeignKey(references=Station, on_delete=OnDelete.restrict, null=False, index=True)
    # Who sells (issues the document) and who buys (entity and/or contact).
    seller_entity = ForeignKey(references=Entity, on_delete=OnDelete.restrict, null=True)
    buyer_entity = ForeignKey(references=Entity, on_delete=OnDelete.restrict, null=True, index=True)
    buyer_contact = ForeignKey(references=Contact, on_delete=OnDelete.restrict, null=True)
    tariff_version = ForeignKey(
        references=TariffVersion, on_delete=OnDelete.restrict, null=True, default=None
    )
    medium_uid = Varchar(length=36, default="")
    started_at = Timestamptz()
    stopped_at = Timestamptz()
    time_zone = Varchar(length=64, default="UTC")
    currency = Varchar(length=3, default="EUR")
    energy_wh = BigInt(default=0)
    charging_seconds = BigInt(default=0)
    parking_seconds = BigInt(default=0)
    total_net_e4 = BigInt(default=0)
    total_gross_e4 = BigInt(default=0)
    # The priced CDR as JSON: OCPI charging periods, totals per dimension,
    # priced lines, signed meter data and its verification.
    detail = Text(default="{}")
    # The billing run that drafted it, and the document that billed it.
    # Both indexes hold only the rows where they are set (a migration,
    # billing_2026_12_06t19_50_00: a run's marks append instead of taking
    # scattered NULL entries out).
    draft_run = BigInt(null=True, default=None, index=True)
    document = BigInt(null=True, default=None, index=True)
    rated_at = Timestamptz()


class NumberRange(Table, tablename="number_range"):
    """The numbers of one document kind of one entity: gapless, in order.

    Unique (entity, kind) in the migration. ``last_value`` is taken with an
    atomic ``UPDATE ... RETURNING`` inside the transaction that issues the
    document, so two runs never share a number and a rolled-back one takes
    none.
    """

    id = Serial(primary_key=True)
    entity = ForeignKey(references=Entity, on_delete=OnDelete.restrict, null=False, index=True)
    # invoice, credit_note or cancellation
    kind = Varchar(length=16)
    # e.g. RE-{yyyy}-{seq:06d}
    format = Varchar(length=64)
    last_value = BigInt(default=0)
    updated_at = Timestamptz()


class BillingRun(Table, tablename="billing_run"):
    """A billing run of one entity for one period in its time zone."""

    id = BigSerial(primary_key=True)
    entity = ForeignKey(references=Entity, on_delete=OnDelete.restrict, null=False, index=True)
    # e.g. 2026-10; the period's first and last local day.
    period = Varchar(length=16)
    period_start = Date()
    period_end = Date()
    time_zone = Varchar(length=64, default="UTC")
    # draft, issued or superseded
    status = Varchar(length=12, default="draft")
    # The drafted documents (recipients, lines, totals) as JSON.
    summary = Text(default="{}")
    created_at = Timestamptz()
    issued_at = Timestamptz(null=True, default=None)


class Document(Table, tablename="billing_document"):
    """An issued invoice, credit note or cancellation. Never updated or
    deleted: the storage offers no such path, and on PostgreSQL a trigger
    refuses it. A correction is a cancellation that refers to it."""

    id = BigSerial(primary_key=True)
    issuer_entity = ForeignKey(
        references=Entity, on_delete=OnDelete.restrict, null=False, index=True
    )
    # invoice, credit_note or cancellation
    kind = Varchar(length=16)
    # Unique (issuer, kind, number) in the migration.
    number = Varchar(length=64)
    recipient_entity = ForeignKey(
        references=Entity, on_delete=OnDelete.restrict, null=True, index=True
    )
    recipient_contact = ForeignKey(
        references=Contact, on_delete=OnDelete.restrict, null=True, index=True
    )
    billing_run = BigInt(null=True, default=None, index=True)
    refers_to = BigInt(null=True, default=None, index=True)
    issue_date = Date()
    period_start = Date()
    period_end = Date()
    currency = Varchar(length=3)
    total_net_e4 = BigInt()
    total_vat_e4 = BigInt()
    total_gross_e4 = BigInt()
    # The whole document (billing.documents.model.Document) as JSON: the
    # PDF and the e-invoice are rendered from it, the same each time.
    content = Text()
    issued_at = Timestamptz()


class DocumentLayout(Table, tablename="document_layout"):
    """How an entity's documents look and what they say around the lines:
    pre- and post-texts per document kind (templates with ``{{field}}``s,
    :mod:`billing.documents.texts`), payment terms, a PNG logo, the name
    shown in the header and the language. One row per entity (unique in the
    migration); none means the defaults. Colours stay the CRM branding's."""

    id = Serial(primary_key=True)
    entity = ForeignKey(references=Entity, on_delete=OnDelete.cascade, null=False)
    invoice_pre_text = Text(default="")
    invoice_post_text = Text(default="")
    credit_note_pre_text = Text(default="")
    credit_note_post_text = Text(default="")
    cancellation_pre_text = Text(default="")
    cancellation_post_text = Text(default="")
    payment_terms = Text(default="")
    # The PNG as base64 text ("" for none).
    logo_png_base64 = Text(default="")
    display_name = Varchar(length=200, default="")
    # de, en, or "" for by the entity's country.
    language = Varchar(length=2, default="")
    updated_at = Timestamptz()
