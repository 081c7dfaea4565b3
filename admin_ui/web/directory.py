"""Directory pages: the entity tree, users and groups.

Every read and change goes through crm's services as the REST API calls
them (``admin_ui/api/entities.py`` and ``users.py``): the EntityService of
:class:`~admin_ui.web.shell.WebServices`, a UserService with the node's
password strength and a GroupService. Scope and hidden fields therefore
hold exactly as in the API: a hidden field is absent from what the service
answers, so a page neither shows it nor sends it back on a save.

Lists are read through the services 500 rows at a time (up to a cap) and
searched, sorted and paginated here, on what the service answered: a
search or a sort never looks at a field hidden from the user (the users
service's own search would match a hidden e-mail address).

Bad input re-renders the form with what was entered and the message beside
its field: checks the page can make itself (a password's length, a number
format) first, then the service's refusals, each put beside the field it
names.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache, partial
from typing import Any

import msgspec
from litestar import Request, Response, get, post
from litestar.datastructures import FormMultiDict
from litestar.response import Redirect

from admin_ui.api.common import Id
from admin_ui.api.context import ApiContext
from admin_ui.web import fleet
from admin_ui.web.shell import WebServices
from billing.runs.numbering import NumberFormatError
from billing.runs.numbering import check_format as check_number_format
from crm.access import HIDEABLE_FIELDS, RESOURCES, Principal, Scope
from crm.customer_numbers import check_format as check_customer_number_format
from crm.entities import Branding, Entity, EntityCreate, EntityKind, EntityUpdate, TreeNode
from crm.errors import Conflict, Forbidden, InvalidInput, NotFound
from crm.groups import Group, GroupCreate, GroupUpdate, grant_of
from crm.passwords import check_password
from crm.services.groups import GroupService
from crm.services.users import UserService
from crm.users import User, UserCreate, UserUpdate
from crm.validation import check_time_zone

PAGE_SIZE = 25
# Search text longer than this is no operator's search.
MAX_QUERY = 100
MAX_ID = 2**31 - 1
# The parent drop-downs' choice of no parent (a new root, or moving to the top).
ROOT = "root"


def N_(message: str) -> str:
    """Marks a message for extraction; translated where it is shown."""
    return message


# -- the entity form ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FormField:
    name: str
    label: str
    # text, textarea, checkbox, kind (the kinds' drop-down), zone (a time zone)
    widget: str = "text"
    hint: str = ""
    # What a browser may send at most (the service checks the real limits).
    limit: int = 300


KIND_LABELS = {
    EntityKind.OPERATOR: N_("Operator"),
    EntityKind.SUBSIDIARY: N_("Subsidiary"),
    EntityKind.CPO: N_("Charge point operator"),
    EntityKind.EMP: N_("E-mobility provider"),
    EntityKind.CUSTOMER: N_("Customer"),
    EntityKind.OTHER: N_("Other"),
}

ENTITY_SECTIONS: tuple[tuple[str, tuple[FormField, ...]], ...] = (
    (
        N_("General"),
        (
            FormField("name", N_("Name")),
            FormField("kind", N_("Kind"), "kind"),
            FormField("time_zone", N_("Time zone"), "zone", N_("An IANA name, e.g. Europe/Berlin")),
            FormField("operator_id", N_("Operator id"), hint=N_("e.g. DE*ABC")),
            FormField("customer_number", N_("Customer number")),
        ),
    ),
    (
        N_("Address and contact"),
        (
            FormField("street", N_("Street")),
            FormField("postal_code", N_("Postal code")),
            FormField("city", N_("City")),
            FormField("country", N_("Country"), hint=N_("Two letters, e.g. DE")),
            FormField("phone", N_("Phone")),
            FormField("fax", N_("Fax")),
            FormField("email", N_("E-mail")),
            FormField("web", N_("Web")),
        ),
    ),
    (
        N_("Billing and number ranges"),
        (
            FormField(
                "invoice_number_range",
                N_("Invoice numbers"),
                hint=N_("e.g. RE-{yyyy}-{seq:06d}; empty: the default"),
            ),
            FormField(
                "credit_note_number_range",
                N_("Credit note numbers"),
                hint=N_("e.g. GS-{yyyy}-{seq:06d}; empty: the default"),
            ),
            FormField(
                "customer_number_format",
                N_("Customer number format"),
                hint=N_("e.g. K-%05d"),
            ),
            FormField("vat_id", N_("VAT id")),
            FormField("company_number", N_("Company number")),
            FormField("invoice_reply_to", N_("Reply-to address of invoices")),
            FormField(
                "credit_note_address", N_("Address for credit notes"), "textarea", limit=2000
            ),
            FormField("force_purchase_prices", N_("Sees purchase prices only"), "checkbox"),
            FormField("may_act_as_sub_emp", N_("May act as a sub-EMP"), "checkbox"),
            FormField(
                "customer_self_registration", N_("Customers may register themselves"), "checkbox"
            ),
        ),
    ),
    (
        N_("Branding"),
        (
            FormField("primary_color", N_("Primary colour"), hint="#0b5cad"),
            FormField("secondary_color", N_("Secondary colour"), hint="#13294b"),
            FormField("logo_url", N_("Logo URL"), limit=1000),
        ),
    ),
    (N_("Notes"), (FormField("comment", N_("Comment"), "textarea", limit=5000),)),
)
ENTITY_FIELDS = {f.name: f for _, fields in ENTITY_SECTIONS for f in fields}
BRANDING_FIELDS = ("primary_color", "secondary_color", "logo_url")
HIDEABLE_ENTITY_FIELDS = HIDEABLE_FIELDS["entities"]

# A service message that names no field by its first word: which field it is about.
ENTITY_HINTS = (
    ("customer-number format", "customer_number_format"),
    ("time zone", "time_zone"),
    ("customer number", "customer_number"),
    ("descendant", "parent_id"),
    ("own parent", "parent_id"),
    ("parent", "parent_id"),
    ("root", "parent_id"),
    ("under entity", "parent_id"),
    ("deactivate", "active"),
)
USER_HINTS = (
    ("e-mail", "email"),
    ("name", "name"),
    ("password", "password"),
    ("default", "default_entity_id"),
    ("group", "group_ids"),
    ("rights", "group_ids"),
    ("entity", "entity_ids"),
    ("entities", "entity_ids"),
    ("deactivate", "active"),
)
GROUP_HINTS = (
    ("not a field a group can hide", "hidden_fields"),
    ("scope", "scope"),
    ("resource", "permissions"),
    ("action", "permissions"),
    ("rights", "permissions"),
    ("named", "name"),
    ("name", "name"),
    ("description", "description"),
    ("entity", "owner_entity_id"),
    ("groups", "owner_entity_id"),
)


def field_of(message: str, names: Iterable[str], hints: Iterable[tuple[str, str]]) -> str:
    """The field a service's message is about: the one it begins with
    ("name must not be empty", "branding.primary_color is ..."), else the
    first hint found in it, else the whole form."""
    text = message.strip()
    for name in names:
        if text.startswith((f"{name} ", f"branding.{name} ", f"{name}:")):
            return name
    lower = text.lower()
    for needle, name in hints:
        if needle in lower:
            return name
    return "form"


def _shown(value: Any) -> Any:
    """None for a field the service left out (hidden from the user)."""
    return None if value is msgspec.UNSET else value


def _hidden(value: Any) -> bool:
    return value is msgspec.UNSET


def _ids(values: Iterable[str]) -> list[int]:
    out: list[int] = []
    for value in values:
        text = value.strip() if isinstance(value, str) else ""
        if text.isdigit() and 0 < int(text) <= MAX_ID and int(text) not in out:
            out.append(int(text))
    return out


def _id(value: str) -> int | None:
    found = _ids([value])
    return found[0] if found else None


@cache
def time_zones() -> list[str]:
    return sorted(zoneinfo.available_timezones())


def entity_flat(entity: Entity) -> dict[str, Any]:
    """The entity's form values (branding flattened; a hidden field absent)."""
    values = {
        name: getattr(entity, name)
        for name in ENTITY_FIELDS
        if name not in BRANDING_FIELDS and getattr(entity, name) is not msgspec.UNSET
    }
    values["kind"] = entity.kind.value
    values["customer_number"] = entity.customer_number or ""
    for name in BRANDING_FIELDS:
        values[name] = getattr(entity.branding, name)
    return values


def entity_changes(
    current: Entity, before: dict[str, Any], typed: dict[str, Any]
) -> dict[str, Any]:
    """The fields of an edit that differ from the entity (an EntityUpdate's
    fields; the branding whole when one of its parts changed)."""

    def same(value: Any, old: Any) -> bool:
        if isinstance(value, str) and isinstance(old, str):
            return value.strip() == old.strip()
        return bool(value == old)

    changes: dict[str, Any] = {}
    for name, value in typed.items():
        if name in BRANDING_FIELDS:
            continue
        old = {"customer_number": current.customer_number, "kind": current.kind}.get(
            name, before.get(name)
        )
        if not same(value, old):
            changes[name] = value
    if any(not same(typed[name], before[name]) for name in BRANDING_FIELDS if name in typed):
        changes["branding"] = Branding(
            **{name: str(typed.get(name, before[name])).strip() for name in BRANDING_FIELDS}
        )
    return changes


@dataclass(slots=True)
class TreeRow:
    """One entity of the tree, for the page: its node and its depth."""

    node: TreeNode
    depth: int


def flatten(nodes: Iterable[TreeNode], depth: int = 0) -> list[TreeRow]:
    rows: list[TreeRow] = []
    for node in nodes:
        rows.append(TreeRow(node, depth))
        rows.extend(flatten(node.children, depth + 1))
    return rows


def find(nodes: Iterable[TreeNode], entity_id: int) -> TreeNode | None:
    for node in nodes:
        if node.id == entity_id:
            return node
        found = find(node.children, entity_id)
        if found is not None:
            return found
    return None


# -- groups: permissions and hidden fields --------------------------------------------------

ACTIONS = ("read", "create", "update", "delete", "command", "run")
RESOURCE_LABELS = {
    "entities": N_("Entities"),
    "users": N_("Users"),
    "groups": N_("Groups"),
    "contacts": N_("Contacts"),
    "documents": N_("Contact documents"),
    "media": N_("Media"),
    "stations": N_("Stations"),
    "station_groups": N_("Station groups"),
    "access_rules": N_("Access rules"),
    "sessions": N_("Sessions"),
    "tariffs": N_("Tariffs"),
    "billing": N_("Billing"),
    "audit_log": N_("Audit log"),
}
ACTION_LABELS = {
    "read": N_("read"),
    "create": N_("create"),
    "update": N_("update"),
    "delete": N_("delete"),
    "command": N_("command"),
    "run": N_("run"),
}
SCOPE_LABELS = {
    "own": N_("Own entity"),
    "subtree": N_("Own entity and its descendants"),
    "all": N_("All entities"),
}


def permission_rows() -> list[tuple[str, list[tuple[str, bool]]]]:
    """Per resource: each action of the matrix and whether it applies."""
    return [
        (resource, [(action, action in actions) for action in ACTIONS])
        for resource, actions in RESOURCES.items()
    ]


def hideable_rows() -> list[tuple[str, list[str]]]:
    return [(resource, sorted(fields)) for resource, fields in sorted(HIDEABLE_FIELDS.items())]


def hidden_of(principal: Principal) -> list[str]:
    """The fields hidden from the user somewhere: a group they make must
    hide at least these (nobody hands out more than they have)."""
    return sorted(
        f"{resource}.{name}"
        for resource in HIDEABLE_FIELDS
        for name in principal.hidden_fields(resource)
    )


# -- the handlers ------------------------------------------------------------------------------


def directory_handlers(context: ApiContext, pages: Any, services: WebServices) -> list[Any]:
    """The directory pages' handlers; ``pages`` gives the shared helpers
    (principal, page rendering, CSRF, forms, pager) of admin_ui.web.pages,
    ``services`` the pages' services (the EntityService among them)."""
    entities = services.entities
    users = UserService(password_strength=context.auth.password_strength)
    groups = GroupService()

    async def render(
        request: Request, template: str, principal: Principal, *args: Any, **values: Any
    ) -> Response[str]:
        return await pages.render_page(  # type: ignore[no-any-return]
            request,
            template,
            principal,
            *args,
            kind_labels=KIND_LABELS,
            scope_labels=SCOPE_LABELS,
            resource_labels=RESOURCE_LABELS,
            action_labels=ACTION_LABELS,
            **values,
        )

    def redirect(request: Request, path: str) -> Response[Any]:
        return pages.finish(request, Redirect(path=path, status_code=303))  # type: ignore[no-any-return]

    def query_text(request: Request, name: str = "q") -> str:
        return (request.query_params.get(name) or "")[:MAX_QUERY].strip()

    def paged(request: Request, rows: list[Any], default_sort: str) -> tuple[Any, list[Any]]:
        number = pages.int_param(request.query_params.get("page"), 1)
        pager = pages.Pager(request, len(rows), number, PAGE_SIZE, default_sort=default_sort)
        return pager, rows[pager.offset : pager.offset + PAGE_SIZE]

    def sorted_rows(
        request: Request,
        rows: list[Any],
        keys: Mapping[str, Callable[[Any], Any]],
        default: str,
    ) -> tuple[list[Any], str]:
        sort = request.query_params.get("sort") or default
        column = sort.removeprefix("-")
        if column not in keys:
            sort = column = default
        rows = sorted(rows, key=keys[column], reverse=sort.startswith("-"))
        return rows, sort

    async def entity_names(principal: Principal) -> dict[int, str]:
        """Names of the entities the user may know of: those they may read,
        else the ones they work in."""
        if principal.can("entities", "read"):
            return {row.node.id: row.node.name for row in flatten(await entities.tree(principal))}
        return {
            entity_id: await services.entity_name(principal, entity_id)
            for entity_id in sorted(principal.member_entity_ids)
        }

    def entity_choices(
        principal: Principal, names: Mapping[int, str], resource: str, action: str
    ) -> list[tuple[int, str]]:
        """The entities (by name) where the user may ``action`` ``resource``."""
        allowed = principal.visible(resource, action)
        return sorted(
            ((entity_id, name) for entity_id, name in names.items() if entity_id in allowed),
            key=lambda pair: (pair[1].lower(), pair[0]),
        )

    async def updatable_entity(principal: Principal, entity_id: int, _: Any) -> Entity:
        """The entity, when the user may change it: 404 when they may not
        read it, 403 when they may only read it (before any change, so a
        refusal is never taken for a saved change)."""
        entity = await entities.get(principal, entity_id)
        if entity_id not in principal.visible("entities", "update"):
            raise Forbidden(_("You may not change this entity."))
        return entity

    # -- entities -----------------------------------------------------------------------------

    @get("/entities")
    async def entity_tree(request: Request) -> Response[str]:
        """The active entity's subtree as a tree (every visible entity with
        ?all=1); a search lists matching entities instead."""
        principal = await pages.principal(request)
        forest = await entities.tree(principal)
        q = query_text(request)
        show_all = request.query_params.get("all") == "1"
        own = find(forest, principal.active_entity_id)
        roots = forest if show_all or own is None else [own]
        rows = flatten(roots)
        wider = len(flatten(forest)) > len(rows)
        found: list[Entity] = []
        pager = None
        sort = ""
        if q:
            matches, _total = await fleet.all_rows(
                lambda limit, offset: entities.list(principal, q=q, limit=limit, offset=offset)
            )
            found, sort = sorted_rows(
                request,
                matches,
                {
                    "name": lambda e: (e.name.lower(), e.id),
                    "kind": lambda e: (e.kind.value, e.name.lower()),
                    "city": lambda e: (e.city.lower(), e.name.lower()),
                    "id": lambda e: e.id,
                },
                "name",
            )
            pager, found = paged(request, found, "name")
        _ = pages.gettext(request)
        saved = request.query_params.get("saved")
        return await render(
            request,
            "entities.html",
            principal,
            roots=roots,
            count=len(rows),
            notice=_("Saved.") if saved else "",
            wider=wider,
            show_all=show_all,
            q=q,
            found=found,
            pager=pager,
            sort=sort,
            may_create=principal.can("entities", "create"),
            creatable=principal.visible("entities", "create"),
        )

    def new_entity_values(principal: Principal, request: Request) -> dict[str, Any]:
        parent = _id(request.query_params.get("parent") or "")
        return {
            "parent_id": str(parent or principal.active_entity_id),
            "kind": EntityKind.OTHER.value,
            "time_zone": "UTC",
            "customer_number_format": "%d",
        }

    async def entity_form_page(
        request: Request,
        principal: Principal,
        status: int,
        entered: dict[str, Any],
        errors: dict[str, str],
    ) -> Response[str]:
        names = await entity_names(principal)
        parents = entity_choices(principal, names, "entities", "create")
        return await render(
            request,
            "entities_new.html",
            principal,
            status,
            sections=ENTITY_SECTIONS,
            hidden=principal.hidden_fields("entities"),
            values=entered,
            errors=errors,
            parents=parents,
            may_root=principal.profile.scope("entities", "create") is Scope.ALL,
            kinds=list(EntityKind),
            zones=time_zones(),
        )

    @get("/entities/new")
    async def new_entity(request: Request) -> Response[str]:
        principal = await pages.principal(request)
        principal.require("entities", "create")
        return await entity_form_page(
            request, principal, 200, new_entity_values(principal, request), {}
        )

    def read_entity_form(
        form: FormMultiDict, shown: Iterable[str], _: Callable[[str], str]
    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
        """What was entered (for the form again), the typed values and the
        messages of the checks the page makes itself."""
        entered: dict[str, Any] = {}
        typed: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for name in shown:
            spec = ENTITY_FIELDS[name]
            if spec.widget == "checkbox":
                entered[name] = typed[name] = bool(form.get(name))
                continue
            text = pages.form_text(form, name, spec.limit)
            entered[name] = text
            typed[name] = text
        if "name" in typed and not typed["name"].strip():
            errors["name"] = _("Enter a name.")
        if "kind" in typed:
            try:
                typed["kind"] = EntityKind(typed["kind"])
            except ValueError:
                errors["kind"] = _("Choose a kind.")
        if "time_zone" in typed:
            try:
                typed["time_zone"] = check_time_zone(typed["time_zone"])
            except InvalidInput as error:
                errors["time_zone"] = str(error)
        for name in ("invoice_number_range", "credit_note_number_range"):
            value = typed.get(name, "").strip()
            if name in typed:
                typed[name] = value
            if value:
                try:
                    check_number_format(value)
                except NumberFormatError as error:
                    errors[name] = str(error)
        if "customer_number_format" in typed:
            try:
                typed["customer_number_format"] = check_customer_number_format(
                    typed["customer_number_format"]
                )
            except InvalidInput as error:
                errors["customer_number_format"] = str(error)
        if "customer_number" in typed:
            typed["customer_number"] = typed["customer_number"].strip() or None
        return entered, typed, errors

    def typed_branding(typed: dict[str, Any]) -> None:
        """The branding fields as the service's Branding (in place)."""
        if any(name in typed for name in BRANDING_FIELDS):
            typed["branding"] = Branding(
                **{name: typed.pop(name, "").strip() for name in BRANDING_FIELDS}
            )

    @post("/entities")
    async def create_entity(request: Request) -> Response[Any]:
        principal = await pages.principal(request)
        form = await request.form()
        pages.csrf_ok(request, form)
        principal.require("entities", "create")
        _ = pages.gettext(request)
        hidden = principal.hidden_fields("entities")
        shown = [name for name in ENTITY_FIELDS if name not in hidden]
        entered, typed, errors = read_entity_form(form, shown, _)
        parent_text = pages.form_text(form, "parent_id", 12).strip()
        entered["parent_id"] = parent_text
        parent = _id(parent_text)
        if parent is None and parent_text != ROOT:
            errors["parent_id"] = _("Choose the parent entity.")
        if not errors:
            typed_branding(typed)
            try:
                entity = await entities.create(principal, EntityCreate(parent_id=parent, **typed))
            except (InvalidInput, Forbidden) as error:
                errors[field_of(str(error), ENTITY_FIELDS, ENTITY_HINTS)] = str(error)
            except NotFound:
                # Saved under a parent the user may create in but not read.
                return redirect(request, "/entities?saved=1")
            else:
                return redirect(request, f"/entities/{entity.id}?saved=1")
        return await entity_form_page(request, principal, 400, entered, errors)

    async def entity_page(
        request: Request,
        principal: Principal,
        entity_id: int,
        status: int = 200,
        entered: dict[str, Any] | None = None,
        errors: dict[str, str] | None = None,
        notice: str = "",
    ) -> Response[str]:
        entity = await entities.get(principal, entity_id)
        values = entity_flat(entity)
        values["parent_id"] = str(entity.parent_id) if entity.parent_id is not None else ROOT
        values.update(entered or {})
        forest = await entities.tree(principal)
        names = {row.node.id: row.node.name for row in flatten(forest)}
        node = find(forest, entity_id)
        below = {row.node.id for row in flatten([node])} if node is not None else {entity_id}
        movable = principal.visible("entities", "update")
        targets = [
            (row.node.id, row.node.name, row.depth)
            for row in flatten(forest)
            if row.node.id in movable and row.node.id not in below
        ]
        ancestors = [
            (ancestor, names[ancestor])
            for ancestor in reversed(principal.tree.ancestors(entity_id))
            if ancestor in names
        ]
        may_update = entity_id in principal.visible("entities", "update")
        return await render(
            request,
            "entities_edit.html",
            principal,
            status,
            entity=entity,
            sections=ENTITY_SECTIONS,
            hidden=frozenset(
                name for name in HIDEABLE_ENTITY_FIELDS if getattr(entity, name) is msgspec.UNSET
            ),
            values=values,
            errors=errors or {},
            notice=notice,
            children=node.children if node is not None else [],
            ancestors=ancestors,
            targets=targets,
            move_selected=values["parent_id"]
            if values["parent_id"] == "root" or values["parent_id"] in {str(t[0]) for t in targets}
            else "",
            may_root=principal.profile.scope("entities", "update") is Scope.ALL,
            may_update=may_update,
            may_create_child=entity_id in principal.visible("entities", "create"),
            may_read_users=principal.can("users", "read"),
            kinds=list(EntityKind),
            zones=time_zones(),
        )

    @get("/entities/{entity_id:int}")
    async def show_entity(request: Request, entity_id: Id) -> Response[str]:
        principal = await pages.principal(request)
        _ = pages.gettext(request)
        notice = _("Saved.") if request.query_params.get("saved") else ""
        return await entity_page(request, principal, entity_id, notice=notice)

    @post("/entities/{entity_id:int}")
    async def update_entity(request: Request, entity_id: Id) -> Response[Any]:
        """Edits the entity's fields (those it shows: a hidden field is
        neither shown nor sent)."""
        principal = await pages.principal(request)
        form = await request.form()
        pages.csrf_ok(request, form)
        _ = pages.gettext(request)
        current = await updatable_entity(principal, entity_id, _)
        before = entity_flat(current)
        shown = [name for name in ENTITY_FIELDS if name in before]
        entered, typed, errors = read_entity_form(form, shown, _)
        if not errors:
            changes = entity_changes(current, before, typed)
            try:
                await entities.update(principal, entity_id, EntityUpdate(**changes))
            except (InvalidInput, Forbidden) as error:
                errors[field_of(str(error), ENTITY_FIELDS, ENTITY_HINTS)] = str(error)
            except NotFound:
                # Saved, and now outside what the user may read.
                return redirect(request, "/entities?saved=1")
            else:
                return redirect(request, f"/entities/{entity_id}?saved=1")
        return await entity_page(request, principal, entity_id, 400, entered, errors)

    @post("/entities/{entity_id:int}/move")
    async def move_entity(request: Request, entity_id: Id) -> Response[Any]:
        """Moves the entity under another parent (the service refuses a
        parent the user may not change, a descendant, a root for a user
        who does not see every entity: the refusal beside the field)."""
        principal = await pages.principal(request)
        form = await request.form()
        pages.csrf_ok(request, form)
        _ = pages.gettext(request)
        await updatable_entity(principal, entity_id, _)
        text = pages.form_text(form, "parent_id", 12).strip()
        parent = _id(text)
        errors: dict[str, str] = {}
        if parent is None and text != ROOT:
            errors["parent_id"] = _("Choose the new parent.")
        else:
            try:
                await entities.update(principal, entity_id, EntityUpdate(parent_id=parent))
            except (InvalidInput, Forbidden) as error:
                errors["parent_id"] = str(error)
            except NotFound:
                # Saved, and now outside what the user may read.
                return redirect(request, "/entities?saved=1")
            else:
                return redirect(request, f"/entities/{entity_id}?saved=1")
        return await entity_page(request, principal, entity_id, 400, {"parent_id": text}, errors)

    @post("/entities/{entity_id:int}/active")
    async def activate_entity(request: Request, entity_id: Id) -> Response[Any]:
        """Deactivates (``active``: no) or reactivates the entity."""
        principal = await pages.principal(request)
        form = await request.form()
        pages.csrf_ok(request, form)
        await updatable_entity(principal, entity_id, pages.gettext(request))
        active = pages.form_text(form, "active", 5) == "yes"
        errors: dict[str, str] = {}
        try:
            await entities.update(principal, entity_id, EntityUpdate(active=active))
        except (InvalidInput, Forbidden) as error:
            errors["active"] = str(error)
        except NotFound:
            # Saved, and now outside what the user may read.
            return redirect(request, "/entities?saved=1")
        else:
            return redirect(request, f"/entities/{entity_id}?saved=1")
        return await entity_page(request, principal, entity_id, 400, None, errors)

    # -- users ----------------------------------------------------------------------------------

    async def group_names(principal: Principal) -> dict[int, Group]:
        if not principal.can("groups", "read"):
            return {}
        every, _ = await fleet.all_rows(
            lambda limit, offset: groups.list(principal, limit=limit, offset=offset)
        )
        return {group.id: group for group in every}

    @get("/users")
    async def user_list(request: Request) -> Response[str]:
        """Users with a membership in an entity the user may see, searched
        by name or by an e-mail address the user may see, by status or by
        entity; sorted by a column; paginated."""
        principal = await pages.principal(request)
        principal.require("users", "read")
        q = query_text(request)
        status = request.query_params.get("status") or ""
        if status not in ("", "active", "inactive"):
            status = ""
        entity_filter = _id(request.query_params.get("entity") or "")
        every, _ = await fleet.all_rows(
            lambda limit, offset: users.list(
                principal,
                entity_id=entity_filter,
                active={"active": True, "inactive": False}.get(status),
                limit=limit,
                offset=offset,
            )
        )
        if q:
            needle = q.lower()
            every = [
                user
                for user in every
                if needle in user.name.lower()
                or (isinstance(user.email, str) and needle in user.email.lower())
            ]
        rows, sort = sorted_rows(
            request,
            every,
            {
                "name": lambda u: (u.name.lower(), u.id),
                # A hidden address sorts as none: the order never tells it.
                "email": lambda u: (u.email if isinstance(u.email, str) else "", u.id),
                "last_login": lambda u: (
                    u.last_login_at.timestamp() if _shown(u.last_login_at) else 0.0,
                    u.id,
                ),
                "id": lambda u: u.id,
            },
            "name",
        )
        pager, rows = paged(request, rows, "name")
        names = await entity_names(principal)
        return await render(
            request,
            "users.html",
            principal,
            rows=rows,
            pager=pager,
            q=q,
            status=status,
            sort=sort,
            entity_filter=entity_filter,
            entity_filter_name=names.get(entity_filter or 0, ""),
            names=names,
            groups=await group_names(principal),
            is_hidden=_hidden,
            may_create=principal.can("users", "create"),
        )

    async def user_form_values(principal: Principal) -> dict[str, Any]:
        names = await entity_names(principal)
        every = await group_names(principal)
        return {
            "names": names,
            "group_options": [
                (
                    group,
                    principal.covers(grant_of(group.scope, group.permissions, group.hidden_fields)),
                )
                for group in sorted(every.values(), key=lambda g: (g.name.lower(), g.id))
            ],
        }

    async def new_user_page(
        request: Request,
        principal: Principal,
        status: int,
        entered: dict[str, Any],
        errors: dict[str, str],
    ) -> Response[str]:
        values = await user_form_values(principal)
        return await render(
            request,
            "users_new.html",
            principal,
            status,
            values=entered,
            errors=errors,
            names=values["names"],
            entity_options=entity_choices(principal, values["names"], "users", "create"),
            group_options=values["group_options"],
        )

    @get("/users/new")
    async def new_user(request: Request) -> Response[str]:
        principal = await pages.principal(request)
        principal.require("users", "create")
        first = _id(request.query_params.get("entity") or "") or principal.active_entity_id
        entered = {"entity_ids": [first], "group_ids": [], "default_entity_id": first}
        return await new_user_page(request, principal, 200, entered, {})

    def read_user_form(
        form: FormMultiDict, _: Callable[[str], str], email_shown: bool = True
    ) -> tuple[dict[str, Any], dict[str, str]]:
        entered: dict[str, Any] = {
            "name": pages.form_text(form, "name", 300).strip(),
            "password": pages.form_text(form, "password", 2000),
            "entity_ids": _ids(form.getall("entity_ids", [])),
            "group_ids": _ids(form.getall("group_ids", [])),
            "default_entity_id": _id(pages.form_text(form, "default_entity_id", 12)),
        }
        errors: dict[str, str] = {}
        if email_shown:
            entered["email"] = pages.form_text(form, "email", 300).strip()
            if not entered["email"]:
                errors["email"] = _("Enter the e-mail address the user logs in with.")
        if entered["password"]:
            try:
                check_password(entered["password"])
            except InvalidInput:
                errors["password"] = _("A password has at least 10 characters.")
        return entered, errors

    @post("/users")
    async def create_user(request: Request) -> Response[Any]:
        principal = await pages.principal(request)
        form = await request.form()
        pages.csrf_ok(request, form)
        principal.require("users", "create")
        _ = pages.gettext(request)
        entered, errors = read_user_form(form, _)
        if not entered["entity_ids"]:
            errors["entity_ids"] = _("Choose at least one entity.")
        default = entered["default_entity_id"]
        if default is not None and entered["entity_ids"] and default not in entered["entity_ids"]:
            errors["default_entity_id"] = _("The default entity must be one of the user's.")
        if not errors:
            try:
                user = await users.create(
                    principal,
                    UserCreate(
                        email=entered["email"],
                        entity_ids=entered["entity_ids"],
                        name=entered["name"],
                        default_entity_id=default,
                        group_ids=entered["group_ids"],
                        password=entered["password"] or None,
                    ),
                )
            except (InvalidInput, Forbidden) as error:
                errors[field_of(str(error), ("email",), USER_HINTS)] = str(error)
            else:
                return redirect(request, f"/users/{user.id}?saved=1")
        entered["password"] = ""
        return await new_user_page(request, principal, 400, entered, errors)

    async def user_page(
        request: Request,
        principal: Principal,
        user_id: int,
        status: int = 200,
        entered: dict[str, Any] | None = None,
        errors: dict[str, str] | None = None,
        notice: str = "",
    ) -> Response[str]:
        user = await users.get(principal, user_id)
        values = await user_form_values(principal)
        names: dict[int, str] = values["names"]
        updatable = principal.visible("users", "update")
        entity_options = [
            (entity_id, name, entity_id in updatable)
            for entity_id, name in sorted(names.items(), key=lambda p: (p[1].lower(), p[0]))
            if entity_id in updatable or entity_id in user.entity_ids
        ]
        current = {
            "name": user.name,
            "email": _shown(user.email) or "",
            "entity_ids": list(user.entity_ids),
            "group_ids": list(user.group_ids),
            "default_entity_id": user.default_entity_id,
            "password": "",
        }
        current.update(entered or {})
        return await render(
            request,
            "users_edit.html",
            principal,
            status,
            user=user,
            email_hidden=user.email is msgspec.UNSET,
            last_login=_shown(user.last_login_at),
            last_login_hidden=user.last_login_at is msgspec.UNSET,
            values=current,
            errors=errors or {},
            notice=notice,
            names=names,
            entity_options=entity_options,
            group_options=values["group_options"],
            may_update=updatable.everything or any(e in updatable for e in user.entity_ids),
            is_self=user.id == principal.user_id,
        )

    @get("/users/{user_id:int}")
    async def show_user(request: Request, user_id: Id) -> Response[str]:
        principal = await pages.principal(request)
        _ = pages.gettext(request)
        notice = _("Saved.") if request.query_params.get("saved") else ""
        return await user_page(request, principal, user_id, notice=notice)

    @post("/users/{user_id:int}")
    async def update_user(request: Request, user_id: Id) -> Response[Any]:
        """Name, e-mail (unless hidden), default entity, a new password,
        and the entities and groups the user is in: memberships added,
        then the fields, then memberships removed, then groups; the first
        refusal stops there and is shown beside its field."""
        principal = await pages.principal(request)
        form = await request.form()
        pages.csrf_ok(request, form)
        _ = pages.gettext(request)
        user = await users.get(principal, user_id, "update")
        email_shown = user.email is not msgspec.UNSET
        entered, errors = read_user_form(form, _, email_shown)
        wanted_entities = entered["entity_ids"]
        if not wanted_entities:
            errors["entity_ids"] = _("Choose at least one entity.")
        default = entered["default_entity_id"]
        if default is not None and wanted_entities and default not in wanted_entities:
            errors["default_entity_id"] = _("The default entity must be one of the user's.")
        steps: list[tuple[str, Callable[[], Awaitable[Any]]]] = []
        if not errors:
            have_entities = set(user.entity_ids)
            for entity_id in wanted_entities:
                if entity_id not in have_entities:
                    steps.append(
                        (
                            "entity_ids",
                            partial(users.add_membership, principal, user_id, entity_id),
                        )
                    )
            changes: dict[str, Any] = {}
            if entered["name"] != user.name:
                changes["name"] = entered["name"]
            if email_shown and entered["email"] != user.email:
                changes["email"] = entered["email"]
            if default is not None and default != user.default_entity_id:
                changes["default_entity_id"] = default
            if entered["password"]:
                changes["password"] = entered["password"]
            if changes:
                steps.append(
                    ("form", partial(users.update, principal, user_id, UserUpdate(**changes)))
                )
            for entity_id in user.entity_ids:
                if entity_id not in wanted_entities:
                    steps.append(
                        (
                            "entity_ids",
                            partial(users.remove_membership, principal, user_id, entity_id),
                        )
                    )
            have_groups = set(user.group_ids)
            for group_id in entered["group_ids"]:
                if group_id not in have_groups:
                    steps.append(
                        ("group_ids", partial(users.add_to_group, principal, user_id, group_id))
                    )
            for group_id in user.group_ids:
                if group_id not in entered["group_ids"]:
                    steps.append(
                        (
                            "group_ids",
                            partial(users.remove_from_group, principal, user_id, group_id),
                        )
                    )
        for field, step in steps:
            try:
                await step()
            except (InvalidInput, Forbidden, NotFound) as error:
                name = field_of(str(error), ("email",), USER_HINTS) if field == "form" else field
                if field == "entity_ids" and "default" in str(error):
                    name = "default_entity_id"
                errors[name] = str(error)
                break
        if not errors:
            return redirect(request, f"/users/{user_id}?saved=1")
        entered["password"] = ""
        return await user_page(request, principal, user_id, 400, entered, errors)

    @post("/users/{user_id:int}/active")
    async def activate_user(request: Request, user_id: Id) -> Response[Any]:
        """Deactivates (every login ends) or reactivates the user."""
        principal = await pages.principal(request)
        form = await request.form()
        pages.csrf_ok(request, form)
        active = pages.form_text(form, "active", 5) == "yes"
        try:
            await users.update(principal, user_id, UserUpdate(active=active))
        except (InvalidInput, Forbidden) as error:
            return await user_page(request, principal, user_id, 400, None, {"active": str(error)})
        return redirect(request, f"/users/{user_id}?saved=1")

    # -- groups ---------------------------------------------------------------------------------

    @get("/groups")
    async def group_list(request: Request) -> Response[str]:
        principal = await pages.principal(request)
        principal.require("groups", "read")
        q = query_text(request)
        every, _ = await fleet.all_rows(
            lambda limit, offset: groups.list(principal, q=q or None, limit=limit, offset=offset)
        )
        names = await entity_names(principal)
        rows, sort = sorted_rows(
            request,
            every,
            {
                "name": lambda g: (g.name.lower(), g.id),
                "owner": lambda g: (names.get(g.owner_entity_id, "").lower(), g.name.lower()),
                "scope": lambda g: (Scope.parse(g.scope), g.name.lower()),
                "members": lambda g: (len(g.member_ids), g.name.lower()),
                "id": lambda g: g.id,
            },
            "name",
        )
        pager, rows = paged(request, rows, "name")
        _ = pages.gettext(request)
        return await render(
            request,
            "groups.html",
            principal,
            notice=_("The group is deleted.") if request.query_params.get("deleted") else "",
            rows=rows,
            pager=pager,
            q=q,
            sort=sort,
            names=names,
            may_create=principal.can("groups", "create"),
        )

    def read_group_form(
        form: FormMultiDict, _: Callable[[str], str]
    ) -> tuple[dict[str, Any], dict[str, str]]:
        entered: dict[str, Any] = {
            "name": pages.form_text(form, "name", 300).strip(),
            "description": pages.form_text(form, "description", 3000),
            "scope": pages.form_text(form, "scope", 20),
            "permissions": [
                p for p in form.getall("permissions", []) if isinstance(p, str) and len(p) < 60
            ][:200],
            "hidden_fields": [
                f for f in form.getall("hidden_fields", []) if isinstance(f, str) and len(f) < 60
            ][:100],
            "owner_entity_id": _id(pages.form_text(form, "owner_entity_id", 12)),
        }
        errors: dict[str, str] = {}
        if not entered["name"]:
            errors["name"] = _("Enter a name.")
        if entered["scope"] not in SCOPE_LABELS:
            errors["scope"] = _("Choose a scope.")
        return entered, errors

    def group_errors(error: Exception, _: Callable[[str], str]) -> dict[str, str]:
        message = str(error)
        if isinstance(error, Forbidden) and "grant" in message:
            return {
                "permissions": _(
                    "You cannot grant rights you do not have yourself: a wider scope,"
                    " a permission you lack, or a field shown that is hidden from you."
                )
            }
        if isinstance(error, Conflict):
            return {"name": message}
        return {field_of(message, (), GROUP_HINTS): message}

    async def group_form_page(
        request: Request,
        principal: Principal,
        template: str,
        status: int,
        values: dict[str, Any],
        errors: dict[str, str],
        **more: Any,
    ) -> Response[str]:
        names = await entity_names(principal)
        return await render(
            request,
            template,
            principal,
            status,
            values=values,
            errors=errors,
            owners=entity_choices(principal, names, "groups", "create"),
            names=names,
            permission_rows=permission_rows(),
            hideable_rows=hideable_rows(),
            actions=ACTIONS,
            own_hidden=hidden_of(principal),
            **more,
        )

    @get("/groups/new")
    async def new_group(request: Request) -> Response[str]:
        principal = await pages.principal(request)
        principal.require("groups", "create")
        values = {
            "name": "",
            "description": "",
            "scope": "own",
            "permissions": [],
            "hidden_fields": hidden_of(principal),
            "owner_entity_id": principal.active_entity_id,
        }
        return await group_form_page(request, principal, "groups_new.html", 200, values, {})

    @post("/groups")
    async def create_group(request: Request) -> Response[Any]:
        principal = await pages.principal(request)
        form = await request.form()
        pages.csrf_ok(request, form)
        principal.require("groups", "create")
        _ = pages.gettext(request)
        entered, errors = read_group_form(form, _)
        if not errors:
            try:
                group = await groups.create(
                    principal,
                    GroupCreate(
                        name=entered["name"],
                        owner_entity_id=entered["owner_entity_id"],
                        description=entered["description"],
                        scope=entered["scope"],
                        permissions=entered["permissions"],
                        hidden_fields=entered["hidden_fields"],
                    ),
                )
            except (InvalidInput, Forbidden) as error:
                errors = group_errors(error, _)
            else:
                return redirect(request, f"/groups/{group.id}?saved=1")
        return await group_form_page(request, principal, "groups_new.html", 400, entered, errors)

    async def group_page(
        request: Request,
        principal: Principal,
        group_id: int,
        status: int = 200,
        entered: dict[str, Any] | None = None,
        errors: dict[str, str] | None = None,
        notice: str = "",
    ) -> Response[str]:
        group = await groups.get(principal, group_id)
        values = {
            "name": group.name,
            "description": group.description,
            "scope": group.scope,
            "permissions": list(group.permissions),
            "hidden_fields": list(group.hidden_fields),
            "owner_entity_id": group.owner_entity_id,
        }
        values.update(entered or {})
        members: list[User] = []
        if principal.can("users", "read"):
            members, _ = await fleet.all_rows(
                lambda limit, offset: users.list(
                    principal, group_id=group_id, limit=limit, offset=offset
                ),
                cap=500,
            )
        grant = grant_of(group.scope, group.permissions, group.hidden_fields)
        editable = group.owner_entity_id in principal.visible("groups", "update")
        return await group_form_page(
            request,
            principal,
            "groups_edit.html",
            status,
            values,
            errors or {},
            group=group,
            members=members,
            notice=notice,
            may_update=editable and principal.covers(grant),
            may_delete=group.owner_entity_id in principal.visible("groups", "delete")
            and principal.covers(grant),
        )

    @get("/groups/{group_id:int}")
    async def show_group(request: Request, group_id: Id) -> Response[str]:
        principal = await pages.principal(request)
        _ = pages.gettext(request)
        notice = _("Saved.") if request.query_params.get("saved") else ""
        return await group_page(request, principal, group_id, notice=notice)

    @post("/groups/{group_id:int}")
    async def update_group(request: Request, group_id: Id) -> Response[Any]:
        principal = await pages.principal(request)
        form = await request.form()
        pages.csrf_ok(request, form)
        _ = pages.gettext(request)
        entered, errors = read_group_form(form, _)
        entered.pop("owner_entity_id", None)
        if not errors:
            try:
                await groups.update(
                    principal,
                    group_id,
                    GroupUpdate(
                        name=entered["name"],
                        description=entered["description"],
                        scope=entered["scope"],
                        permissions=entered["permissions"],
                        hidden_fields=entered["hidden_fields"],
                    ),
                )
            except (InvalidInput, Forbidden) as error:
                errors = group_errors(error, _)
            else:
                return redirect(request, f"/groups/{group_id}?saved=1")
        return await group_page(request, principal, group_id, 400, entered, errors)

    @post("/groups/{group_id:int}/delete")
    async def delete_group(request: Request, group_id: Id) -> Response[Any]:
        principal = await pages.principal(request)
        form = await request.form()
        pages.csrf_ok(request, form)
        try:
            await groups.delete(principal, group_id)
        except (InvalidInput, Forbidden) as error:
            return await group_page(request, principal, group_id, 400, None, {"delete": str(error)})
        return redirect(request, "/groups?deleted=1")

    return [
        entity_tree,
        new_entity,
        create_entity,
        show_entity,
        update_entity,
        move_entity,
        activate_entity,
        user_list,
        new_user,
        create_user,
        show_user,
        update_user,
        activate_user,
        group_list,
        new_group,
        create_group,
        show_group,
        update_group,
        delete_group,
    ]
