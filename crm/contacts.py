"""CRM contacts: persons and companies owned by an entity, shared with
chosen other entities, with documents private to the entity they belong to.

Free of I/O. The structs are the API's answers and requests; the functions
check and normalise what a request asks for, with a message per problem.

- A contact belongs to one **owner entity**. It is visible to users who see
  that entity's contacts, and to users who see an entity it is **shared**
  with (read or write).
- A **master contact** (``master_of_entity`` set) is an entity's own CRM
  contact; its master fields (:data:`MASTER_FIELDS`) are the entity's and
  are edited on the entity only.
- **Documents** (contracts, files) belong to the entity that uploaded them;
  sharing a contact never shares them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

from crm.customer_numbers import check_number
from crm.errors import Forbidden, InvalidInput
from crm.validation import check_country, check_email, check_text

ContactKind = Literal["person", "company"]
CONTACT_KINDS: tuple[str, ...] = ("person", "company")
ShareAccess = Literal["read", "write"]
SHARE_ACCESS: tuple[str, ...] = ("read", "write")
DocumentKind = Literal["contract", "file"]
DOCUMENT_KINDS: tuple[str, ...] = ("contract", "file")

# The fields an entity owns on its own contact: edited on the entity, read-only here.
MASTER_FIELDS: frozenset[str] = frozenset(
    {
        "name",
        "customer_number",
        "street",
        "postal_code",
        "city",
        "country",
        "phone",
        "fax",
        "email",
        "web",
    }
)
# A master contact is active while its entity is: deactivate the entity instead.
MASTER_READ_ONLY: frozenset[str] = MASTER_FIELDS | {"active"}

# Text fields a request may set, with the column's length.
TEXT_LIMITS: dict[str, int] = {
    "name": 200,
    "first_name": 100,
    "last_name": 100,
    "company": 200,
    "street": 200,
    "postal_code": 20,
    "city": 100,
    "country": 2,
    "phone": 64,
    "fax": 64,
    "email": 254,
    "web": 254,
    "vat_id": 32,
    "iban": 34,
    "bic": 11,
    "comment": 10_000,
}

MAX_DOCUMENT_BYTES = 10 * 1024 * 1024
MAX_TITLE_LENGTH = 200
MAX_FILE_NAME_LENGTH = 255
MAX_MEDIA_TYPE_LENGTH = 127


class Contact(msgspec.Struct, kw_only=True):
    """A contact as a user sees it: fields their groups hide are absent."""

    id: int
    owner_entity_id: int
    kind: str
    customer_number: str | None
    name: str
    first_name: str
    last_name: str
    company: str
    city: str
    country: str
    web: str
    active: bool
    # Set on an entity's own contact: edit its master fields on the entity.
    master_of_entity_id: int | None
    # Fields a PATCH of this contact may not change.
    read_only_fields: list[str]
    created_at: datetime
    updated_at: datetime
    street: str | UnsetType = UNSET
    postal_code: str | UnsetType = UNSET
    phone: str | UnsetType = UNSET
    fax: str | UnsetType = UNSET
    email: str | UnsetType = UNSET
    vat_id: str | UnsetType = UNSET
    iban: str | UnsetType = UNSET
    bic: str | UnsetType = UNSET
    comment: str | UnsetType = UNSET


class ContactCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A new contact. Without ``owner_entity_id`` it belongs to the entity
    you work in; without ``customer_number`` one is drawn from the owner's
    format. A person without ``name`` is named "first_name last_name"."""

    kind: ContactKind = "person"
    owner_entity_id: int | None = None
    customer_number: str | None = None
    name: str = ""
    first_name: str = ""
    last_name: str = ""
    company: str = ""
    street: str = ""
    postal_code: str = ""
    city: str = ""
    country: str = ""
    phone: str = ""
    fax: str = ""
    email: str = ""
    web: str = ""
    vat_id: str = ""
    iban: str = ""
    bic: str = ""
    comment: str = ""


class ContactUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Changes to a contact: fields left out stay as they are. ``active``
    false deactivates it (contacts are never deleted); ``customer_number``
    null removes the number."""

    kind: ContactKind | UnsetType = UNSET
    customer_number: str | UnsetType | None = UNSET
    name: str | UnsetType = UNSET
    first_name: str | UnsetType = UNSET
    last_name: str | UnsetType = UNSET
    company: str | UnsetType = UNSET
    street: str | UnsetType = UNSET
    postal_code: str | UnsetType = UNSET
    city: str | UnsetType = UNSET
    country: str | UnsetType = UNSET
    phone: str | UnsetType = UNSET
    fax: str | UnsetType = UNSET
    email: str | UnsetType = UNSET
    web: str | UnsetType = UNSET
    vat_id: str | UnsetType = UNSET
    iban: str | UnsetType = UNSET
    bic: str | UnsetType = UNSET
    comment: str | UnsetType = UNSET
    active: bool | UnsetType = UNSET


class ContactFilter(msgspec.Struct, frozen=True, kw_only=True):
    """What a list or export asks for; every given filter must hold."""

    # Case-insensitive substring of name, company, e-mail or customer number.
    q: str | None = None
    kind: str | None = None
    owner_entity_id: int | None = None
    customer_number: str | None = None
    active: bool | None = None


class ContactShare(msgspec.Struct, kw_only=True):
    """A contact shared with an entity: ``read`` or also ``write``."""

    contact_id: int
    entity_id: int
    entity_name: str
    access: str
    created_at: datetime


class ContactShareCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    entity_id: int
    access: ShareAccess = "read"


class ContactShareUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    access: ShareAccess


class Document(msgspec.Struct, kw_only=True):
    """A document's metadata; the file is at GET /documents/{id}."""

    id: int
    contact_id: int
    owner_entity_id: int
    kind: str
    title: str
    file_name: str
    media_type: str
    size: int
    created_at: datetime


class DocumentUpload(msgspec.Struct, frozen=True, kw_only=True):
    """A file to attach to a contact, as the API received it."""

    title: str
    kind: str
    file_name: str
    media_type: str
    content: bytes


class DocumentFile(msgspec.Struct, frozen=True, kw_only=True):
    document: Document
    content: bytes


class DocumentTooLarge(InvalidInput):
    """A document over :data:`MAX_DOCUMENT_BYTES` (the API answers 413)."""


# Fields of the answer, in the order of a CSV export.
EXPORT_COLUMNS: tuple[str, ...] = (
    "id",
    "owner_entity_id",
    "kind",
    "customer_number",
    "name",
    "first_name",
    "last_name",
    "company",
    "street",
    "postal_code",
    "city",
    "country",
    "phone",
    "fax",
    "email",
    "web",
    "vat_id",
    "iban",
    "bic",
    "comment",
    "active",
    "master_of_entity_id",
    "created_at",
    "updated_at",
)


def _check_text(name: str, value: str) -> str:
    return check_text(name, value, TEXT_LIMITS[name], one_line=name != "comment")


def _check_iban(value: str) -> str:
    value = "".join(value.split()).upper()
    if value and not (
        15 <= len(value) <= 34 and value[:2].isalpha() and value[2:4].isdigit() and value.isalnum()
    ):
        raise InvalidInput(
            "iban is 15 to 34 letters and digits starting with a country code and "
            f"two check digits, not {value!r}"
        )
    return value


def _check_bic(value: str) -> str:
    value = value.strip().upper()
    if value and not (len(value) in (8, 11) and value.isalnum() and value[:4].isalpha()):
        raise InvalidInput(f"bic has 8 or 11 letters and digits, not {value!r}")
    return value


_SPECIAL: dict[str, Callable[[str], str]] = {
    "country": check_country,
    "email": check_email,
    "iban": _check_iban,
    "bic": _check_bic,
}


def check_field(name: str, value: Any) -> Any:
    """One field of a create or update request, normalised."""
    if name == "kind":
        if value not in CONTACT_KINDS:
            raise InvalidInput(f"kind is one of {', '.join(CONTACT_KINDS)}, not {value!r}")
        return value
    if name == "customer_number":
        return None if value is None else check_number(value)
    if name == "active":
        return bool(value)
    if name in TEXT_LIMITS:
        special = _SPECIAL.get(name)
        return _check_text(name, special(value) if special else value)
    raise InvalidInput(f"{name} is not a field of a contact")


def _derived_name(kind: str, first: str, last: str, company: str) -> str:
    person = " ".join(part for part in (first, last) if part)
    return (company or person) if kind == "company" else (person or company)


def check_create(request: ContactCreate) -> dict[str, Any]:
    """The columns of a new contact (without owner and number, which the
    service settles), checked and normalised."""
    values: dict[str, Any] = {"kind": check_field("kind", request.kind)}
    for name in TEXT_LIMITS:
        values[name] = check_field(name, getattr(request, name))
    if not values["name"]:
        values["name"] = _derived_name(
            values["kind"], values["first_name"], values["last_name"], values["company"]
        )
    if not values["name"]:
        raise InvalidInput("a contact needs a name (or first_name/last_name, or company)")
    if len(values["name"]) > TEXT_LIMITS["name"]:
        raise InvalidInput(f"name has at most {TEXT_LIMITS['name']} characters")
    return values


def update_values(request: ContactUpdate) -> dict[str, Any]:
    """The fields a PATCH sets, checked and normalised."""
    values = {
        name: check_field(name, getattr(request, name))
        for name in request.__struct_fields__
        if getattr(request, name) is not UNSET
    }
    if values.get("name") == "":
        raise InvalidInput("a contact's name cannot be empty")
    return values


def check_master_update(values: Mapping[str, Any], current: Mapping[str, Any]) -> None:
    """InvalidInput when a PATCH of a master contact changes one of the
    entity's master fields (sending the current value back is fine, so a
    form can post the whole contact)."""
    changed = sorted(
        name for name in MASTER_READ_ONLY & values.keys() if values[name] != current.get(name)
    )
    if changed:
        raise InvalidInput(
            f"{', '.join(changed)} of this contact belong to entity "
            f"{current.get('master_of_entity')}: edit the entity instead "
            f"(PATCH /api/v1/entities/{current.get('master_of_entity')})"
        )


def check_not_hidden(fields: Iterable[str], hidden: frozenset[str]) -> None:
    """Forbidden when a request writes a field hidden from the user: what
    one may not read, one may not overwrite either."""
    written = sorted(name for name in fields if name in hidden)
    if written:
        raise Forbidden(f"you may not set {', '.join(written)}: hidden from you")


def read_only_fields(master_of_entity_id: int | None) -> list[str]:
    return sorted(MASTER_READ_ONLY) if master_of_entity_id is not None else []


def check_share(owner_entity_id: int, entity_id: int, access: str) -> None:
    if access not in SHARE_ACCESS:
        raise InvalidInput(f"access is one of {', '.join(SHARE_ACCESS)}, not {access!r}")
    if entity_id == owner_entity_id:
        raise InvalidInput(
            f"entity {entity_id} owns this contact; a contact is shared with other entities"
        )


def check_upload(upload: DocumentUpload) -> DocumentUpload:
    """The upload with title, file name and media type normalised;
    DocumentTooLarge over the limit, InvalidInput for the rest."""
    if len(upload.content) > MAX_DOCUMENT_BYTES:
        raise DocumentTooLarge(
            f"a document has at most {MAX_DOCUMENT_BYTES // (1024 * 1024)} MiB, "
            f"this one {len(upload.content)} bytes"
        )
    if upload.kind not in DOCUMENT_KINDS:
        raise InvalidInput(f"kind is one of {', '.join(DOCUMENT_KINDS)}, not {upload.kind!r}")
    file_name = upload.file_name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    file_name = "".join(c for c in file_name if c.isprintable() and c not in '"')
    title = upload.title.strip() or file_name
    if not title:
        raise InvalidInput("a document needs a title (or a file with a name)")
    if len(title) > MAX_TITLE_LENGTH:
        raise InvalidInput(f"title has at most {MAX_TITLE_LENGTH} characters")
    media_type = upload.media_type.strip() or "application/octet-stream"
    if len(media_type) > MAX_MEDIA_TYPE_LENGTH or any(c in media_type for c in "\r\n"):
        media_type = "application/octet-stream"
    return DocumentUpload(
        title=title,
        kind=upload.kind,
        file_name=file_name[-MAX_FILE_NAME_LENGTH:],
        media_type=media_type,
        content=upload.content,
    )
