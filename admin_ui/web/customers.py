"""Customer pages: contacts (with their shares and documents), media (RFID
cards and other identification media, with CSV import and export) and
access rules, through the same CRM and station services as the API
(``admin_ui/api/contacts.py``, ``media.py``, ``stations.py``), so scope and
hidden fields hold exactly as there: a field hidden from the user is never
rendered, never a form field, never written.

Bad input re-renders the form with what was entered and the message beside
the field (400); a failure the user can cause is never a 500."""

from __future__ import annotations

import contextlib
import csv
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import msgspec
from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.response import Redirect

from admin_ui.api.billing import LIST_CAP, BillingServices, document_view
from admin_ui.api.common import Id
from admin_ui.api.contacts import SERVICE as CONTACTS
from admin_ui.api.context import ApiContext
from admin_ui.api.media import _service as media_service
from admin_ui.api.stations import provide_station_admin
from admin_ui.web import fleet
from admin_ui.web.billing import LABELS as BILLING_LABELS
from admin_ui.web.shell import WebServices
from crm.access import Principal
from crm.contacts import (
    CONTACT_KINDS,
    SHARE_ACCESS,
    TEXT_LIMITS,
    Contact,
    ContactCreate,
    ContactFilter,
    ContactUpdate,
    check_field,
)
from crm.errors import Conflict, Forbidden, InvalidInput, NotFound
from crm.media import (
    MAX_NOTE_LENGTH,
    MediaFilter,
    Medium,
    MediumCreate,
    MediumKind,
    MediumStatus,
    MediumUpdate,
    check_group_uid,
    check_note,
    check_uid,
    check_validity,
)
from crm.validation import parse_time
from csms.domain.access_rules import RuleSubject
from csms.domain.station_admin import AccessRule, AccessRuleCreate

UNSET = msgspec.UNSET
PAGE_SIZE = 25
MAX_QUERY = 100
# A CSV file of media the import form takes at most (bytes).
MAX_IMPORT_BYTES = 5 * 1024 * 1024
# Entities offered in a drop-down at most.
MAX_CHOICES = 500
# Station groups the access-rule page offers at most.
MAX_GROUPS = 500


def N_(message: str) -> str:
    """Marks a message for extraction; translated where it is shown."""
    return message


# The fields of a contact's form, in order, with their labels.
CONTACT_FIELDS: dict[str, str] = {
    "kind": N_("Kind"),
    "customer_number": N_("Customer number"),
    "name": N_("Name"),
    "first_name": N_("First name"),
    "last_name": N_("Last name"),
    "company": N_("Company"),
    "street": N_("Street"),
    "postal_code": N_("Postal code"),
    "city": N_("City"),
    "country": N_("Country (ISO code)"),
    "phone": N_("Phone"),
    "fax": N_("Fax"),
    "email": N_("E-mail"),
    "web": N_("Web"),
    "vat_id": N_("VAT id"),
    "iban": N_("IBAN"),
    "bic": N_("BIC"),
    "comment": N_("Comment"),
}
CONTACT_SORTS = {
    "name": lambda c: (c.name.lower(), c.id),
    "customer_number": lambda c: (c.customer_number or "", c.id),
    "city": lambda c: (c.city.lower(), c.id),
    "kind": lambda c: (c.kind, c.name.lower(), c.id),
}
MEDIUM_FIELDS: dict[str, str] = {
    "uid": N_("UID"),
    "kind": N_("Kind"),
    "status": N_("Status"),
    "issuing_entity_id": N_("Issuer"),
    "group_uid": N_("Group id"),
    "valid_from": N_("Valid from"),
    "valid_until": N_("Valid until"),
    "owner_contact_id": N_("Owner contact (id)"),
    "bill_to_contact_id": N_("Bill-to contact (id)"),
    "note": N_("Note"),
}
MEDIUM_SORTS = {
    "uid": lambda m: (m.uid,),
    "status": lambda m: (m.status.value, m.uid),
    "kind": lambda m: (m.kind.value, m.uid),
    "issuer": lambda m: (m.issuing_entity_id, m.uid),
    "valid_until": lambda m: (m.valid_until is None, m.valid_until or m.created_at, m.uid),
}
LABELS = {
    "person": N_("Person"),
    "company": N_("Company"),
    "read": N_("Read"),
    "write": N_("Read and write"),
    "active": N_("Active"),
    "blocked": N_("Blocked"),
    "expired": N_("Expired"),
    "lost": N_("Lost"),
    "rfid": N_("RFID card"),
    "emaid": N_("eMAID"),
    "app": N_("App"),
    "key_code": N_("Key code"),
    "other": N_("Other"),
    "allow": N_("Allow"),
    "deny": N_("Deny"),
    "everyone": N_("Everyone"),
    "owner_entity": N_("Media of the station's owner"),
    "owner_subtree": N_("Media of the owner and its sub-entities"),
    "medium": N_("One medium (UID)"),
    "media_group": N_("A media group (group id)"),
    "issuing_entity": N_("Media issued by an entity (id)"),
    "issuing_subtree": N_("Media issued by an entity and its sub-entities (id)"),
    "contract": N_("Contract"),
    "file": N_("File"),
}
RULE_SORTS = {
    "effect": lambda r: (r.effect, r.subject, r.value, r.id),
    "subject": lambda r: (r.subject, r.value, r.id),
    "value": lambda r: (r.value, r.id),
    "id": lambda r: (r.id,),
}
_LINE = re.compile(r"; (?=line \d+: |and \d+ more$)")


def import_problems(message: str) -> list[str]:
    """The problems an all-or-nothing import named, one per line of the
    file ("line 4: ..."), from the service's message."""
    text = message.removeprefix("nothing imported: ")
    return [part for part in _LINE.split(text) if part]


def field_of(message: str, names: Iterable[str], default: str = "form") -> str:
    """The field a service's message is about: the one it starts with
    (``iban is ...``, ``owner_contact_id: no contact ...``), else ``default``."""
    head = re.split(r"[\s:]", message.strip(), maxsplit=1)[0]
    if head in names:
        return head
    lowered = message.lower()
    if "customer number" in lowered:
        return "customer_number"
    if "a contact needs a name" in lowered or "contact's name" in lowered:
        return "name"
    if "uid" in lowered and "uid" in names and "group_uid" not in lowered:
        return "uid"
    return default


@dataclass(slots=True)
class Choice:
    id: int
    name: str


def customer_handlers(context: ApiContext, pages: Any) -> list[Any]:
    """The contact, media and access-rule pages' handlers; ``pages`` gives
    the shared helpers (principal, page rendering, CSRF, forms) of
    admin_ui.web.pages."""
    contacts = CONTACTS
    media = media_service(context)
    stations = provide_station_admin(context)
    shell = WebServices(context)
    billing = BillingServices(context)

    async def render(
        request: Request, template: str, principal: Principal, *args: Any, **values: Any
    ) -> Response[str]:
        return await pages.render_page(  # type: ignore[no-any-return]
            request, template, principal, *args, labels=LABELS, unset=UNSET, **values
        )

    def see_other(request: Request, path: str) -> Response[Any]:
        return pages.finish(request, Redirect(path=path, status_code=303))  # type: ignore[no-any-return]

    def query_text(request: Request, name: str) -> str:
        return (request.query_params.get(name) or "")[:MAX_QUERY].strip()

    async def entity_choices(principal: Principal, ids: Iterable[int | None]) -> list[Choice]:
        """Entities by name, for a drop-down: those of ``ids`` the user may know of."""
        known = sorted({i for i in ids if i is not None and principal.sees_entity(i)})
        return [Choice(i, await shell.entity_name(principal, i)) for i in known[:MAX_CHOICES]]

    def may(principal: Principal, resource: str, action: str) -> list[int]:
        """The entities whose ``resource`` rows the user may ``action``."""
        if not principal.can(resource, action):
            return []
        visible = principal.visible(resource, action)
        return sorted(e for e in principal.tree.ids if e in visible)

    async def names_of(principal: Principal, ids: Iterable[int]) -> dict[int, str]:
        return {i: await shell.entity_name(principal, i) for i in set(ids)}

    # -- contacts -----------------------------------------------------------------------

    @get("/contacts")
    async def contact_list(request: Request) -> Response[str]:
        principal = await pages.principal(request)
        q = query_text(request, "q")
        kind = request.query_params.get("kind") or ""
        if kind not in CONTACT_KINDS:
            kind = ""
        state = request.query_params.get("state") or ""
        active = {"active": True, "inactive": False}.get(state)
        if active is None:
            state = ""
        where = ContactFilter(q=q or None, kind=kind or None, active=active)
        number = pages.int_param(request.query_params.get("page"), 1)
        sort = request.query_params.get("sort") or "name"
        column = sort.removeprefix("-")
        if column not in CONTACT_SORTS:
            sort = column = "name"
        if sort == "name":
            # The storage's own order (by name): one page read.
            _, total = await contacts.page(principal, where, limit=1, offset=0)
            pager = pages.Pager(request, total, number, PAGE_SIZE, default_sort="name")
            rows, total = await contacts.page(
                principal, where, limit=pager.size, offset=pager.offset
            )
        else:
            every, total = await fleet.all_rows(
                lambda limit, offset: contacts.page(principal, where, limit=limit, offset=offset)
            )
            every.sort(key=CONTACT_SORTS[column], reverse=sort.startswith("-"))  # type: ignore[arg-type]
            pager = pages.Pager(request, len(every), number, PAGE_SIZE, default_sort="name")
            rows = every[pager.offset : pager.offset + pager.size]
        owners = await names_of(principal, (c.owner_entity_id for c in rows))
        return await render(
            request,
            "contacts.html",
            principal,
            rows=rows,
            owners=owners,
            pager=pager,
            q=q,
            kind=kind,
            state=state,
            may_create=bool(may(principal, "contacts", "create")),
        )

    def contact_facts(contact: Contact) -> list[tuple[str, Any]]:
        """(label, value) of the fields the user sees: hidden ones are absent."""
        return [
            (label, getattr(contact, name))
            for name, label in CONTACT_FIELDS.items()
            if getattr(contact, name) is not UNSET
        ]

    async def contact_values(principal: Principal, contact_id: int) -> dict[str, Any]:
        contact = await contacts.get(principal, contact_id)
        try:
            shares = await contacts.shares(principal, contact_id)
        except Forbidden:
            # Seen through a share only: the shares are the owner's data.
            shares = None
        may_share = (
            shares is not None
            and principal.can("contacts", "update")
            and contact.owner_entity_id in principal.visible("contacts", "update")
        )
        shared = {s.entity_id for s in shares or ()}
        targets = (
            await entity_choices(
                principal,
                (e for e in principal.tree.ids if e != contact.owner_entity_id and e not in shared),
            )
            if may_share
            else []
        )
        documents: list[Any] = []
        if principal.can("billing", "read"):
            issued = await billing.runs.documents(principal, limit=LIST_CAP)
            # Sent to the contact, or (an entity's own contact) to its entity.
            entity = contact.master_of_entity_id
            documents = [
                document_view(d)
                for d in issued
                if d.recipient_contact_id == contact.id
                or (entity is not None and d.recipient_entity_id == entity)
            ]
        files: list[Any] | None = None
        if principal.can("documents", "read"):
            files = await contacts.documents(principal, contact_id)
        may_edit = principal.can("contacts", "update")
        return {
            "contact": contact,
            "facts": contact_facts(contact),
            "owner_name": await shell.entity_name(principal, contact.owner_entity_id),
            "shares": shares,
            "may_share": may_share,
            "targets": targets,
            "documents": documents,
            "document_labels": BILLING_LABELS,
            "files": files,
            "may_edit": may_edit,
            "may_deactivate": principal.can("contacts", "delete")
            and contact.owner_entity_id in principal.visible("contacts", "delete")
            and contact.master_of_entity_id is None,
        }

    @get("/contacts/{contact_id:int}")
    async def contact_page(request: Request, contact_id: Id) -> Response[str]:
        principal = await pages.principal(request)
        values = await contact_values(principal, contact_id)
        return await render(
            request, "contacts_detail.html", principal, errors={}, entered={}, **values
        )

    def contact_form_values(form: Any, names: Iterable[str]) -> dict[str, str]:
        return {
            name: pages.form_text(form, name, TEXT_LIMITS.get(name, 50) * 4 + 100) for name in names
        }

    def check_contact_fields(entered: Mapping[str, str], errors: dict[str, str]) -> dict[str, Any]:
        """Each entered field checked on its own (every message at once)."""
        values: dict[str, Any] = {}
        for name, text in entered.items():
            value: Any = text
            if name == "customer_number":
                value = text.strip() or None
            try:
                values[name] = check_field(name, value)
            except InvalidInput as error:
                errors[name] = str(error)
        return values

    async def contact_form(
        request: Request,
        principal: Principal,
        *,
        contact: Contact | None,
        entered: Mapping[str, str],
        errors: Mapping[str, str],
        status_code: int = 200,
    ) -> Response[str]:
        if contact is None:
            # A field hidden on any contact the user sees is no field of theirs.
            hidden = principal.hidden_fields("contacts")
            editable = [n for n in CONTACT_FIELDS if n not in hidden]
            read_only: list[tuple[str, Any]] = []
            owners = await entity_choices(principal, may(principal, "contacts", "create"))
        else:
            editable = [
                n
                for n in CONTACT_FIELDS
                if getattr(contact, n) is not UNSET and n not in contact.read_only_fields
            ]
            read_only = [
                (CONTACT_FIELDS[n], getattr(contact, n))
                for n in CONTACT_FIELDS
                if getattr(contact, n) is not UNSET and n in contact.read_only_fields
            ]
            owners = []
        return await render(
            request,
            "contacts_form.html",
            principal,
            status_code,
            contact=contact,
            fields=[(n, CONTACT_FIELDS[n]) for n in editable],
            read_only=read_only,
            owners=owners,
            kinds=CONTACT_KINDS,
            entered=entered,
            errors=errors,
        )

    @get("/contacts/new")
    async def new_contact(request: Request) -> Response[str]:
        principal = await pages.principal(request)
        principal.require("contacts", "create")
        entered = {"kind": "person", "owner_entity_id": str(principal.active_entity_id)}
        return await contact_form(request, principal, contact=None, entered=entered, errors={})

    @post("/contacts")
    async def create_contact(request: Request) -> Response[Any]:
        principal = await pages.principal(request)
        form = await request.form()
        pages.csrf_ok(request, form)
        principal.require("contacts", "create")
        _ = pages.gettext(request)
        hidden = principal.hidden_fields("contacts")
        names = [n for n in CONTACT_FIELDS if n not in hidden]
        entered = contact_form_values(form, names)
        owner_text = pages.form_text(form, "owner_entity_id", 12).strip()
        entered["owner_entity_id"] = owner_text
        errors: dict[str, str] = {}
        owner = pages.int_param(owner_text, 0, 0, 2**31 - 1)
        if owner not in may(principal, "contacts", "create"):
            errors["owner_entity_id"] = _("Choose one of the entities offered.")
        values = check_contact_fields({n: entered[n] for n in names}, errors)
        if not errors:
            try:
                created = await contacts.create(
                    principal,
                    ContactCreate(
                        owner_entity_id=owner,
                        **{n: v for n, v in values.items() if v not in ("", None) or n == "kind"},
                    ),
                )
            except (InvalidInput, Forbidden) as error:
                errors[field_of(str(error), names)] = str(error)
            else:
                return see_other(request, f"/contacts/{created.id}")
        return await contact_form(
            request, principal, contact=None, entered=entered, errors=errors, status_code=400
        )

    @get("/contacts/{contact_id:int}/edit")
    async def edit_contact(request: Request, contact_id: Id) -> Response[str]:
        principal = await pages.principal(request)
        principal.require("contacts", "update")
        contact = await contacts.get(principal, contact_id)
        entered = {
            n: "" if getattr(contact, n) in (None, UNSET) else str(getattr(contact, n))
            for n in CONTACT_FIELDS
        }
        return await contact_form(request, principal, contact=contact, entered=entered, errors={})

    @post("/contacts/{contact_id:int}")
    async def update_contact(request: Request, contact_id: Id) -> Response[Any]:
        principal = await pages.principal(request)
        form = await request.form()
        pages.csrf_ok(request, form)
        contact = await contacts.get(principal, contact_id)
        names = [
            n
            for n in CONTACT_FIELDS
            if getattr(contact, n) is not UNSET and n not in contact.read_only_fields
        ]
        entered = contact_form_values(form, names)
        errors: dict[str, str] = {}
        values = check_contact_fields(entered, errors)
        if not errors:
            try:
                await contacts.update(principal, contact_id, ContactUpdate(**values))
            except (InvalidInput, Forbidden) as error:
                errors[field_of(str(error), names)] = str(error)
            else:
                return see_other(request, f"/contacts/{contact_id}")
        return await contact_form(
            request, principal, contact=contact, entered=entered, errors=errors, status_code=400
        )

    @post("/contacts/{contact_id:int}/deactivate")
    async def deactivate_contact(request: Request, contact_id: Id) -> Response[Any]:
        principal = await pages.principal(request)
        form = await request.form()
        pages.csrf_ok(request, form)
        await contacts.deactivate(principal, contact_id)
        return see_other(request, f"/contacts/{contact_id}")

    @post("/contacts/{contact_id:int}/activate")
    async def activate_contact(request: Request, contact_id: Id) -> Response[Any]:
        principal = await pages.principal(request)
        form = await request.form()
        pages.csrf_ok(request, form)
        await contacts.update(principal, contact_id, ContactUpdate(active=True))
        return see_other(request, f"/contacts/{contact_id}")

    @post("/contacts/{contact_id:int}/shares")
    async def share_contact(request: Request, contact_id: Id) -> Response[Any]:
        """Shares the contact with another entity (read or write)."""
        principal = await pages.principal(request)
        form = await request.form()
        pages.csrf_ok(request, form)
        _ = pages.gettext(request)
        entity_text = pages.form_text(form, "entity_id", 12).strip()
        access = pages.form_text(form, "access", 10)
        errors: dict[str, str] = {}
        entity_id = pages.int_param(entity_text, 0, 0, 2**31 - 1)
        if not entity_id or not principal.sees_entity(entity_id):
            errors["entity_id"] = _("Choose one of the entities offered.")
        if access not in SHARE_ACCESS:
            errors["access"] = _("Choose read or read and write.")
        if not errors:
            try:
                await contacts.share(principal, contact_id, entity_id, access)
            except Conflict:
                errors["entity_id"] = _("The contact is shared with this entity already.")
            except InvalidInput as error:
                errors["access" if str(error).startswith("access") else "entity_id"] = str(error)
            else:
                return see_other(request, f"/contacts/{contact_id}")
        values = await contact_values(principal, contact_id)
        entered = {"entity_id": entity_text, "access": access}
        return await render(
            request,
            "contacts_detail.html",
            principal,
            400,
            errors=errors,
            entered=entered,
            **values,
        )

    @post("/contacts/{contact_id:int}/shares/{entity_id:int}/delete")
    async def unshare_contact(request: Request, contact_id: Id, entity_id: Id) -> Response[Any]:
        """Stops sharing the contact with the entity."""
        principal = await pages.principal(request)
        form = await request.form()
        pages.csrf_ok(request, form)
        await contacts.unshare(principal, contact_id, entity_id)
        return see_other(request, f"/contacts/{contact_id}")

    # -- media ----------------------------------------------------------------------------

    def media_filter(request: Request) -> tuple[MediaFilter, dict[str, str]]:
        q = query_text(request, "q")
        status = request.query_params.get("status") or ""
        kind = request.query_params.get("kind") or ""
        if status not in set(MediumStatus):
            status = ""
        if kind not in set(MediumKind):
            kind = ""
        filters = MediaFilter(
            q=q,
            status=MediumStatus(status) if status else None,
            kind=MediumKind(kind) if kind else None,
        )
        return filters, {"q": q, "status": status, "kind": kind}

    async def contact_names(principal: Principal, ids: Iterable[Any]) -> dict[int, str]:
        """Names of the contacts the user sees (the others: their id only)."""
        names: dict[int, str] = {}
        for contact_id in {i for i in ids if isinstance(i, int)}:
            with contextlib.suppress(NotFound, Forbidden):
                names[contact_id] = (await contacts.get(principal, contact_id)).name
        return names

    @get("/media")
    async def media_list(request: Request) -> Response[str]:
        principal = await pages.principal(request)
        filters, shown = media_filter(request)
        number = pages.int_param(request.query_params.get("page"), 1)
        sort = request.query_params.get("sort") or "uid"
        column = sort.removeprefix("-")
        if column not in MEDIUM_SORTS:
            sort = column = "uid"
        if sort == "uid":
            _, total = await media.list_media(principal, filters, limit=1, offset=0)
            pager = pages.Pager(request, total, number, PAGE_SIZE, default_sort="uid")
            rows, total = await media.list_media(
                principal, filters, limit=pager.size, offset=pager.offset
            )
        else:
            every, total = await fleet.all_rows(
                lambda limit, offset: media.list_media(
                    principal, filters, limit=limit, offset=offset
                )
            )
            every.sort(key=MEDIUM_SORTS[column], reverse=sort.startswith("-"))  # type: ignore[arg-type]
            pager = pages.Pager(request, len(every), number, PAGE_SIZE, default_sort="uid")
            rows = every[pager.offset : pager.offset + pager.size]
        given = {k: v for k, v in shown.items() if v}
        export = "/media/export.csv" + ("?" + urlencode(given) if given else "")
        return await render(
            request,
            "media.html",
            principal,
            rows=rows,
            pager=pager,
            issuers=await names_of(principal, (m.issuing_entity_id for m in rows)),
            bill_to=await contact_names(principal, (m.bill_to_contact_id for m in rows)),
            # The column of a field hidden on every medium is left out.
            bill_to_column="bill_to_contact_id" not in principal.hidden_on_every_row("media"),
            statuses=list(MediumStatus),
            kinds=list(MediumKind),
            export=export,
            may_create=bool(may(principal, "media", "create")),
            may_update=principal.can("media", "update"),
            back=request.url.path + ("?" + request.url.query if request.url.query else ""),
            **shown,
        )

    def medium_entered(medium: Medium) -> dict[str, str]:
        entered: dict[str, str] = {}
        for name in MEDIUM_FIELDS:
            value = getattr(medium, name)
            if value is UNSET or value is None:
                entered[name] = ""
            elif hasattr(value, "isoformat"):
                entered[name] = value.isoformat()
            elif isinstance(value, MediumKind | MediumStatus):
                entered[name] = value.value
            else:
                entered[name] = str(value)
        return entered

    async def medium_form(
        request: Request,
        principal: Principal,
        *,
        medium: Medium | None,
        entered: Mapping[str, str],
        errors: Mapping[str, str],
        status_code: int = 200,
    ) -> Response[str]:
        if medium is None:
            hidden = principal.hidden_fields("media")
            fields = [n for n in MEDIUM_FIELDS if n not in hidden]
            issuers = await entity_choices(principal, may(principal, "media", "create"))
        else:
            fields = [n for n in MEDIUM_FIELDS if getattr(medium, n) is not UNSET and n != "uid"]
            issuers = await entity_choices(
                principal, [*may(principal, "media", "update"), medium.issuing_entity_id]
            )
        return await render(
            request,
            "media_form.html",
            principal,
            status_code,
            medium=medium,
            fields=fields,
            field_labels=MEDIUM_FIELDS,
            issuers=issuers,
            statuses=list(MediumStatus),
            kinds=list(MediumKind),
            entered=entered,
            errors=errors,
            note_limit=MAX_NOTE_LENGTH,
        )

    def check_medium_fields(
        entered: Mapping[str, str], errors: dict[str, str], _: Any
    ) -> dict[str, Any]:
        """Each entered field of a medium checked on its own."""
        values: dict[str, Any] = {}
        for name, text in entered.items():
            text = text.strip() if name != "note" else text
            try:
                if name == "uid":
                    values[name] = check_uid(text)
                elif name == "kind":
                    values[name] = MediumKind(text)
                elif name == "status":
                    values[name] = MediumStatus(text)
                elif name == "issuing_entity_id":
                    if not text.isdigit():
                        raise InvalidInput(_("Choose one of the entities offered."))
                    values[name] = int(text)
                elif name == "group_uid":
                    values[name] = check_group_uid(text)
                elif name in ("valid_from", "valid_until"):
                    values[name] = parse_time(text) if text else None
                elif name in ("owner_contact_id", "bill_to_contact_id"):
                    if text and (not text.isdigit() or not 0 < int(text) < 2**31):
                        raise InvalidInput(_("Enter the contact's number (its id), or nothing."))
                    values[name] = int(text) if text else None
                elif name == "note":
                    values[name] = check_note(text)
            except ValueError as error:
                # (MediumKind and MediumStatus raise ValueError.)
                errors[name] = (
                    str(error)
                    if isinstance(error, InvalidInput)
                    else _("Choose one of the values offered.")
                )
        if "valid_from" not in errors and "valid_until" not in errors:
            try:
                check_validity(values.get("valid_from"), values.get("valid_until"))
            except InvalidInput as error:
                errors["valid_until"] = str(error)
        return values

    @get("/media/new")
    async def new_medium(request: Request) -> Response[str]:
        principal = await pages.principal(request)
        principal.require("media", "create")
        entered = {
            "kind": "rfid",
            "status": "active",
            "issuing_entity_id": str(principal.active_entity_id),
        }
        return await medium_form(request, principal, medium=None, entered=entered, errors={})

    @post("/media")
    async def create_medium(request: Request) -> Response[Any]:
        principal = await pages.principal(request)
        form = await request.form()
        pages.csrf_ok(request, form)
        principal.require("media", "create")
        _ = pages.gettext(request)
        hidden = principal.hidden_fields("media")
        names = [n for n in MEDIUM_FIELDS if n not in hidden]
        entered = {n: pages.form_text(form, n, 1000) for n in names}
        errors: dict[str, str] = {}
        values = check_medium_fields(entered, errors, _)
        if not errors:
            try:
                created = await media.create(principal, MediumCreate(**values))
            except (InvalidInput, Forbidden) as error:
                message = str(error)
                default = "uid" if isinstance(error, Conflict) else "form"
                errors[field_of(message, names, default)] = message
            else:
                return see_other(request, "/media?" + urlencode({"q": created.uid}))
        return await medium_form(
            request, principal, medium=None, entered=entered, errors=errors, status_code=400
        )

    @get("/media/{medium_id:int}")
    async def medium_page(request: Request, medium_id: Id) -> Response[str]:
        """A medium's form, with what it is now (the fields the user sees)."""
        principal = await pages.principal(request)
        medium = await media.get(principal, medium_id)
        return await medium_form(
            request, principal, medium=medium, entered=medium_entered(medium), errors={}
        )

    @post("/media/{medium_id:int}")
    async def update_medium(request: Request, medium_id: Id) -> Response[Any]:
        principal = await pages.principal(request)
        form = await request.form()
        pages.csrf_ok(request, form)
        _ = pages.gettext(request)
        medium = await media.get(principal, medium_id)
        names = [n for n in MEDIUM_FIELDS if getattr(medium, n) is not UNSET and n != "uid"]
        entered = {n: pages.form_text(form, n, 1000) for n in names}
        errors: dict[str, str] = {}
        values = check_medium_fields(entered, errors, _)
        if not errors:
            try:
                await media.update(principal, medium_id, MediumUpdate(**values))
            except (InvalidInput, Forbidden) as error:
                errors[field_of(str(error), names)] = str(error)
            else:
                return see_other(request, "/media?" + urlencode({"q": medium.uid}))
        return await medium_form(
            request,
            principal,
            medium=medium,
            entered={"uid": medium.uid, **entered},
            errors=errors,
            status_code=400,
        )

    def media_back(form: Any) -> str:
        target = pages.form_text(form, "next", 2000)
        if target.startswith("/media") and not target.startswith("//") and "\\" not in target:
            return str(target)
        return "/media"

    async def set_status(request: Request, medium_id: int, status: MediumStatus) -> Response[Any]:
        principal = await pages.principal(request)
        form = await request.form()
        pages.csrf_ok(request, form)
        await media.update(principal, medium_id, MediumUpdate(status=status))
        return see_other(request, media_back(form))

    @post("/media/{medium_id:int}/block")
    async def block_medium(request: Request, medium_id: Id) -> Response[Any]:
        """Blocks the medium: it stops charging at once."""
        return await set_status(request, medium_id, MediumStatus.BLOCKED)

    @post("/media/{medium_id:int}/unblock")
    async def unblock_medium(request: Request, medium_id: Id) -> Response[Any]:
        return await set_status(request, medium_id, MediumStatus.ACTIVE)

    async def import_page(
        request: Request,
        principal: Principal,
        status_code: int = 200,
        **values: Any,
    ) -> Response[str]:
        issuers = await entity_choices(principal, may(principal, "media", "create"))
        defaults: dict[str, Any] = {
            "errors": {},
            "problems": [],
            "result": None,
            "issuer": str(principal.active_entity_id),
            "skip_existing": False,
        }
        return await render(
            request,
            "media_import.html",
            principal,
            status_code,
            issuers=issuers,
            **{**defaults, **values},
        )

    @get("/media/import")
    async def media_import_form(request: Request) -> Response[str]:
        principal = await pages.principal(request)
        principal.require("media", "create")
        return await import_page(request, principal)

    @post("/media/import", request_max_body_size=MAX_IMPORT_BYTES + 64 * 1024)
    async def import_media(request: Request) -> Response[str]:
        """Media from a CSV file (the export's columns), all or nothing as
        the API and ``csms medium import``: every line to fix is listed."""
        principal = await pages.principal(request)
        form = await request.form()
        pages.csrf_ok(request, form)
        principal.require("media", "create")
        _ = pages.gettext(request)
        errors: dict[str, str] = {}
        problems: list[str] = []
        issuer_text = pages.form_text(form, "issuer", 12).strip()
        skip_existing = pages.form_text(form, "skip_existing", 5) == "1"
        issuer = pages.int_param(issuer_text, 0, 0, 2**31 - 1)
        if issuer not in may(principal, "media", "create"):
            errors["issuer"] = _("Choose one of the entities offered.")
        upload = form.get("file")
        data = b""
        if not isinstance(upload, UploadFile) or not upload.filename:
            errors["file"] = _("Choose a CSV file.")
        else:
            data = await upload.read(MAX_IMPORT_BYTES + 1)
            if len(data) > MAX_IMPORT_BYTES:
                errors["file"] = _("The file is larger than 5 MB.")
        header: list[str] = []
        rows: list[dict[str, str | None]] = []
        if not errors:
            try:
                text = data.decode("utf-8-sig")
                reader = csv.DictReader(io.StringIO(text, newline=""))
                header = list(reader.fieldnames or ())
                rows = list(reader)  # type: ignore[arg-type]
            except UnicodeDecodeError:
                errors["file"] = _("The file is not UTF-8 text.")
            except csv.Error as error:
                errors["file"] = _("The file is not a CSV table:") + f" {error}"
        if not errors:
            try:
                result = await media.import_rows(
                    principal, header, rows, skip_existing=skip_existing, default_issuer=issuer
                )
            except InvalidInput as error:
                problems = import_problems(str(error))
                errors["file"] = _("Nothing was imported: fix these lines and try again.")
            else:
                return await import_page(
                    request,
                    principal,
                    result=result,
                    issuer=issuer_text,
                    skip_existing=skip_existing,
                )
        return await import_page(
            request,
            principal,
            400,
            errors=errors,
            problems=problems,
            issuer=issuer_text,
            skip_existing=skip_existing,
        )

    @get("/media/export.csv")
    async def export_media(request: Request) -> Response[str]:
        """The media of the list (its filters, every page) as CSV in the
        import's columns; fields hidden from the user left out."""
        principal = await pages.principal(request)
        filters, _ = media_filter(request)
        text = await media.export_csv(principal, filters)
        return Response(
            text,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="media.csv"'},
        )

    # -- access rules -----------------------------------------------------------------------

    async def rules_page(
        request: Request,
        principal: Principal,
        status_code: int = 200,
        *,
        station_text: str = "",
        group_text: str = "",
        errors: dict[str, str] | None = None,
        entered: dict[str, str] | None = None,
    ) -> Response[str]:
        """The rules of one station (and its group's) or of one group."""
        principal.require("access_rules", "read")
        _ = pages.gettext(request)
        errors = dict(errors or {})
        groups: list[Any] = []
        if principal.can("station_groups", "read"):
            groups, _total = await stations.list_groups(principal, limit=MAX_GROUPS, offset=0)
        station = None
        group = None
        rules: list[AccessRule] = []
        target = ""
        if station_text:
            try:
                station = await stations.find_station(principal, station_text)
            except NotFound:
                errors.setdefault("station", _("There is no station with this charge point id."))
            else:
                rules = await stations.list_rules(principal, station_pk=station.id)
                target = f"station:{station.id}"
                if station.station_group_id is not None:
                    with contextlib.suppress(NotFound, Forbidden):
                        rules += await stations.list_rules(
                            principal, group_id=station.station_group_id
                        )
        elif group_text:
            group_id = pages.int_param(group_text, 0, 0, 2**31 - 1)
            try:
                group = await stations.get_group(principal, group_id)
            except (NotFound, Forbidden):
                errors.setdefault("group", _("Choose one of the station groups offered."))
            else:
                rules = await stations.list_rules(principal, group_id=group.id)
                target = f"group:{group.id}"
        if errors and status_code == 200:
            status_code = 400
        sort = request.query_params.get("sort") or "id"
        column = sort.removeprefix("-")
        if column not in RULE_SORTS:
            sort = column = "id"
        rules.sort(key=RULE_SORTS[column], reverse=sort.startswith("-"))  # type: ignore[arg-type]
        number = pages.int_param(request.query_params.get("page"), 1)
        pager = pages.Pager(request, len(rules), number, PAGE_SIZE, default_sort="id")
        back = "/access-rules"
        if station is not None:
            back += "?" + urlencode({"station": station.charge_point_id})
        elif group is not None:
            back += "?" + urlencode({"group": group.id})
        group_names = {g.id: g.name for g in groups}
        if group is not None:
            group_names[group.id] = group.name
        return await render(
            request,
            "access_rules.html",
            principal,
            status_code,
            rules=rules[pager.offset : pager.offset + pager.size],
            pager=pager,
            groups=groups,
            group_names=group_names,
            station=station,
            group=group,
            station_text=station_text,
            group_text=group_text,
            target=target,
            effects=["allow", "deny"],
            subjects=list(RuleSubject),
            errors=errors,
            entered=entered or {"effect": "allow", "subject": "everyone"},
            may_create=principal.can("access_rules", "create"),
            may_delete=principal.can("access_rules", "delete"),
            back=back,
        )

    @get("/access-rules")
    async def access_rules(request: Request) -> Response[str]:
        principal = await pages.principal(request)
        return await rules_page(
            request,
            principal,
            station_text=query_text(request, "station"),
            group_text=query_text(request, "group"),
        )

    def rules_back(form: Any) -> str:
        target = pages.form_text(form, "next", 2000)
        if (
            target.startswith("/access-rules")
            and not target.startswith("//")
            and "\\" not in target
        ):
            return str(target)
        return "/access-rules"

    @post("/access-rules")
    async def add_rule(request: Request) -> Response[Any]:
        """A rule of a station or a station group: allow or deny a subject."""
        principal = await pages.principal(request)
        form = await request.form()
        pages.csrf_ok(request, form)
        _ = pages.gettext(request)
        target = pages.form_text(form, "target", 40)
        entered = {
            name: pages.form_text(form, name, 400)
            for name in ("effect", "subject", "value", "note")
        }
        errors: dict[str, str] = {}
        kind, _sep, ident = target.partition(":")
        where: dict[str, int] = {}
        if kind in ("station", "group") and ident.isdigit() and 0 < int(ident) < 2**31:
            where = {"station_pk" if kind == "station" else "group_id": int(ident)}
        else:
            errors["form"] = _("Choose a station or a station group first.")
        if entered["effect"] not in ("allow", "deny"):
            errors["effect"] = _("Choose allow or deny.")
        if entered["subject"] not in set(RuleSubject):
            errors["subject"] = _("Choose one of the subjects offered.")
        if not errors:
            try:
                await stations.add_rule(
                    principal,
                    AccessRuleCreate(
                        effect=entered["effect"],
                        subject=entered["subject"],
                        value=entered["value"],
                        note=entered["note"],
                    ),
                    **where,
                )
            except Conflict:
                errors["value"] = _("This rule exists already.")
            except InvalidInput as error:
                message = str(error)
                if message.startswith("effect"):
                    errors["effect"] = message
                elif message.startswith("subject is one of"):
                    errors["subject"] = message
                elif "note" in message:
                    errors["note"] = message
                else:
                    errors["value"] = message
            else:
                return see_other(request, rules_back(form))
        station_text = ""
        group_text = ""
        if "station_pk" in where:
            with contextlib.suppress(NotFound):
                station_text = (
                    await stations.get_station(principal, where["station_pk"])
                ).charge_point_id
        elif "group_id" in where:
            group_text = str(where["group_id"])
        return await rules_page(
            request,
            principal,
            400,
            station_text=station_text,
            group_text=group_text,
            errors=errors,
            entered=entered,
        )

    @post("/access-rules/{rule_id:int}/delete")
    async def delete_rule(request: Request, rule_id: Id) -> Response[Any]:
        """Removes a rule; it stops counting at the next authorisation."""
        principal = await pages.principal(request)
        form = await request.form()
        pages.csrf_ok(request, form)
        await stations.remove_rule(principal, rule_id)
        return see_other(request, rules_back(form))

    return [
        contact_list,
        new_contact,
        create_contact,
        contact_page,
        edit_contact,
        update_contact,
        deactivate_contact,
        activate_contact,
        share_contact,
        unshare_contact,
        media_list,
        new_medium,
        create_medium,
        medium_page,
        update_medium,
        block_medium,
        unblock_medium,
        media_import_form,
        import_media,
        export_media,
        access_rules,
        add_rule,
        delete_rule,
    ]
