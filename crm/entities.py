"""Entities (Mandanten): the units of the operator's organisation, as a tree.

Structs and validation, free of I/O. Storage is :mod:`crm.storage.entities`,
the service :mod:`crm.services.entities`.
"""

from __future__ import annotations

import enum
import re
from datetime import datetime
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

from crm.customer_numbers import check_format
from crm.errors import InvalidInput
from crm.validation import check_country, check_email, check_text, check_time_zone


class EntityKind(enum.StrEnum):
    OPERATOR = "operator"
    SUBSIDIARY = "subsidiary"
    CPO = "cpo"
    EMP = "emp"
    CUSTOMER = "customer"
    OTHER = "other"


# The entity owns these on its CRM contact (read-only there): entity field ->
# contact field.
MASTER_FIELDS: dict[str, str] = {
    "name": "name",
    "customer_number": "customer_number",
    "street": "street",
    "postal_code": "postal_code",
    "city": "city",
    "country": "country",
    "phone": "phone",
    "fax": "fax",
    "email": "email",
    "web": "web",
}

_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
_OPERATOR_ID = re.compile(r"^[A-Z]{2}\*?[A-Z0-9]{3}$")


class Branding(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Shown to users working in the entity."""

    logo_url: str = ""
    primary_color: str = ""
    secondary_color: str = ""


class Entity(msgspec.Struct, frozen=True):
    id: int
    parent_id: int | None
    name: str
    kind: EntityKind
    street: str
    postal_code: str
    city: str
    country: str
    customer_number: str | None
    phone: str
    fax: str
    email: str
    web: str
    may_act_as_sub_emp: bool
    customer_self_registration: bool
    operator_id: str
    invoice_number_range: str
    credit_note_number_range: str
    force_purchase_prices: bool
    time_zone: str
    customer_number_format: str
    branding: Branding
    active: bool
    contact_id: int | None
    created_at: datetime
    updated_at: datetime
    # Hideable (crm.access.HIDEABLE_FIELDS["entities"]).
    vat_id: str | UnsetType = UNSET
    company_number: str | UnsetType = UNSET
    comment: str | UnsetType = UNSET
    invoice_reply_to: str | UnsetType = UNSET
    credit_note_address: str | UnsetType = UNSET


class EntityCreate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str
    # None makes a new root (only for users who see all entities).
    parent_id: int | None = None
    kind: EntityKind = EntityKind.OTHER
    street: str = ""
    postal_code: str = ""
    city: str = ""
    country: str = ""
    vat_id: str = ""
    customer_number: str | None = None
    company_number: str = ""
    phone: str = ""
    fax: str = ""
    email: str = ""
    web: str = ""
    comment: str = ""
    may_act_as_sub_emp: bool = False
    customer_self_registration: bool = False
    operator_id: str = ""
    invoice_number_range: str = ""
    credit_note_number_range: str = ""
    invoice_reply_to: str = ""
    force_purchase_prices: bool = False
    credit_note_address: str = ""
    time_zone: str = "UTC"
    customer_number_format: str = "%d"
    branding: Branding = Branding()


class EntityUpdate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Fields to change; moving is ``parent_id``, deactivating ``active``."""

    name: str | UnsetType = UNSET
    parent_id: int | UnsetType | None = UNSET
    kind: EntityKind | UnsetType = UNSET
    street: str | UnsetType = UNSET
    postal_code: str | UnsetType = UNSET
    city: str | UnsetType = UNSET
    country: str | UnsetType = UNSET
    vat_id: str | UnsetType = UNSET
    customer_number: str | UnsetType | None = UNSET
    company_number: str | UnsetType = UNSET
    phone: str | UnsetType = UNSET
    fax: str | UnsetType = UNSET
    email: str | UnsetType = UNSET
    web: str | UnsetType = UNSET
    comment: str | UnsetType = UNSET
    may_act_as_sub_emp: bool | UnsetType = UNSET
    customer_self_registration: bool | UnsetType = UNSET
    operator_id: str | UnsetType = UNSET
    invoice_number_range: str | UnsetType = UNSET
    credit_note_number_range: str | UnsetType = UNSET
    invoice_reply_to: str | UnsetType = UNSET
    force_purchase_prices: bool | UnsetType = UNSET
    credit_note_address: str | UnsetType = UNSET
    time_zone: str | UnsetType = UNSET
    customer_number_format: str | UnsetType = UNSET
    branding: Branding | UnsetType = UNSET
    active: bool | UnsetType = UNSET


class TreeNode(msgspec.Struct, frozen=True):
    id: int
    name: str
    kind: EntityKind
    active: bool
    children: list[TreeNode]


_LIMITS = {
    "name": 200,
    "street": 200,
    "postal_code": 20,
    "city": 100,
    "vat_id": 32,
    "company_number": 64,
    "phone": 64,
    "fax": 64,
    "email": 254,
    "web": 254,
    "invoice_number_range": 64,
    "credit_note_number_range": 64,
    "invoice_reply_to": 254,
}


def checked_fields(values: dict[str, Any]) -> dict[str, Any]:
    """The entity fields of a create or update, validated and normalised;
    InvalidInput names the first bad one."""
    out = dict(values)
    for field, limit in _LIMITS.items():
        if field in out:
            out[field] = check_text(field, out[field], limit, required=field == "name")
    if "country" in out:
        out["country"] = check_country(out["country"])
    for field in ("email", "invoice_reply_to"):
        if field in out:
            out[field] = check_email(out[field], field)
    if out.get("operator_id"):
        operator_id = out["operator_id"].strip().upper()
        if not _OPERATOR_ID.match(operator_id):
            raise InvalidInput(
                f"operator_id looks like DE*ABC (country, optional *, three characters), "
                f"got {operator_id!r}"
            )
        out["operator_id"] = operator_id
    if "customer_number" in out and out["customer_number"] is not None:
        number = check_text("customer_number", out["customer_number"], 64)
        out["customer_number"] = number or None
    if "time_zone" in out:
        out["time_zone"] = check_time_zone(out["time_zone"])
    if "customer_number_format" in out:
        out["customer_number_format"] = check_format(out["customer_number_format"])
    branding = out.get("branding")
    if isinstance(branding, Branding):
        for field in ("primary_color", "secondary_color"):
            color = getattr(branding, field)
            if color and not _COLOR.match(color):
                raise InvalidInput(f"branding.{field} is a colour like #1a2b3c, got {color!r}")
        if len(branding.logo_url) > 1000:
            raise InvalidInput("branding.logo_url has at most 1000 characters")
        out["branding"] = msgspec.to_builtins(branding)
    return out
