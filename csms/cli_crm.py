"""``csms entity``, ``csms user`` and ``csms group``: the multi-entity kernel
from the command line (see :mod:`csms.cli` for the conventions).

The CLI acts with the database's full rights (``system_principal``): it is
how an operator sets up the first entity and the first administrator, before
anyone can log in to the API.
"""

from __future__ import annotations

import argparse
import secrets
import sys
from collections.abc import Callable
from typing import Any

import msgspec

from csms.settings import Settings


def _password(args: argparse.Namespace) -> tuple[str | None, bool]:
    """(password, generated) from --password-stdin / --generate-password."""
    if getattr(args, "generate_password", False):
        return secrets.token_urlsafe(15), True
    if getattr(args, "password_stdin", False):
        line = sys.stdin.readline().rstrip("\n")
        return line, False
    return None, False


# ``csms entity set`` options that are plain text fields of the entity.
_ENTITY_TEXTS = (
    "name",
    "time_zone",
    "email",
    "street",
    "postal_code",
    "city",
    "country",
    "vat_id",
    "operator_id",
    "invoice_reply_to",
    "credit_note_address",
)
_ENTITY_FLAGS = ("may_act_as_sub_emp", "customer_self_registration", "force_purchase_prices")
_NUMBER_RANGES = ("invoice_number_range", "credit_note_number_range")
_BRANDING = ("primary_color", "secondary_color", "logo_url")


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None or value == "":
        return '""'
    text = str(getattr(value, "value", value))
    return repr(text) if "\n" in text or text != text.strip() else text


def _entity_changes(args: argparse.Namespace, before: Any) -> dict[str, Any]:
    """The EntityUpdate fields ``csms entity set`` options give. Number-range
    formats are checked here with billing's numbering rules (the CRM does not
    know them; billing would silently use its default for a bad one)."""
    from billing.runs.numbering import NumberFormatError, check_format
    from crm.entities import Branding, EntityKind
    from csms.cli import CommandError

    changes: dict[str, Any] = {
        name: getattr(args, name) for name in _ENTITY_TEXTS if getattr(args, name) is not None
    }
    if args.kind is not None:
        changes["kind"] = EntityKind(args.kind)
    for name in _ENTITY_FLAGS:
        value = getattr(args, name)
        if value is not None:
            changes[name] = value == "yes"
    for name in _NUMBER_RANGES:
        value = getattr(args, name)
        if value is None:
            continue
        if value.strip():
            try:
                check_format(value.strip())
            except NumberFormatError as error:
                option = "--" + name.replace("_", "-")
                raise CommandError(f"{option}: {error}") from None
        changes[name] = value.strip()
    branding = {name: getattr(args, name) for name in _BRANDING if getattr(args, name) is not None}
    if branding:
        current = msgspec.structs.asdict(before.branding)
        changes["branding"] = Branding(**{**current, **branding})
    return changes


def cmd_entity(args: argparse.Namespace, settings: Settings) -> int:
    from crm.access import system_principal
    from crm.entities import EntityCreate, EntityKind, EntityUpdate
    from crm.errors import InvalidInput, NotFound
    from crm.services.entities import EntityService
    from crm.storage.tree import load_tree
    from csms.cli import CommandError, _print_json, _print_table
    from csms.cli_changes import run_announcing

    async def main(changes: Any) -> int:
        service = EntityService(changes=changes)
        principal = system_principal(await load_tree())
        try:
            action = args.entity_command
            if action == "add":
                entity = await service.create(
                    principal,
                    EntityCreate(
                        name=args.name,
                        parent_id=args.parent,
                        kind=EntityKind(args.kind),
                        customer_number=args.customer_number,
                        customer_number_format=args.customer_number_format,
                        time_zone=args.time_zone,
                        email=args.email,
                        street=args.street,
                        postal_code=args.postal_code,
                        city=args.city,
                        country=args.country,
                        vat_id=args.vat_id,
                        operator_id=args.operator_id,
                    ),
                )
                print(f"added entity {entity.id} ({entity.name})")
            elif action == "list":
                nodes = await service.tree(principal)
                if args.json:
                    _print_json(nodes)
                    return 0
                rows: list[list[Any]] = []

                def walk(level: int, items: list[Any]) -> None:
                    for node in items:
                        rows.append(
                            [
                                node.id,
                                "  " * level + node.name,
                                node.kind.value,
                                "yes" if node.active else "no",
                            ]
                        )
                        walk(level + 1, node.children)

                walk(0, nodes)
                _print_table(["ID", "NAME", "KIND", "ACTIVE"], rows)
            elif action == "show":
                entity = await service.get(principal, args.id)
                if args.json:
                    _print_json(entity)
                else:
                    for name in entity.__struct_fields__:
                        print(f"{name}: {getattr(entity, name)}")
            elif action == "move":
                parent = None if args.parent == "root" else int(args.parent)
                entity = await service.update(principal, args.id, EntityUpdate(parent_id=parent))
                print(f"entity {entity.id} is now under {entity.parent_id or 'nothing (a root)'}")
            elif action in ("activate", "deactivate"):
                entity = await service.update(
                    principal, args.id, EntityUpdate(active=action == "activate")
                )
                print(f"entity {entity.id} is {'active' if entity.active else 'deactivated'}")
            elif action == "set":
                before = await service.get(principal, args.id)
                changes = _entity_changes(args, before)
                if not changes:
                    raise CommandError("nothing to set: give at least one option (see --help)")
                entity = await service.update(principal, args.id, EntityUpdate(**changes))
                changed = [
                    (name, getattr(before, name), getattr(entity, name))
                    for name in changes
                    if getattr(before, name) != getattr(entity, name)
                ]
                if not changed:
                    print(f"entity {entity.id}: nothing changed")
                for name, old, new in changed:
                    if name == "branding":
                        for part in ("primary_color", "secondary_color", "logo_url"):
                            if getattr(old, part) != getattr(new, part):
                                print(
                                    f"entity {entity.id} branding.{part}: "
                                    f"{_shown(getattr(old, part))} -> {_shown(getattr(new, part))}"
                                )
                    else:
                        print(f"entity {entity.id} {name}: {_shown(old)} -> {_shown(new)}")
            return 0
        except (InvalidInput, NotFound, ValueError) as error:
            raise CommandError(str(error)) from None

    return run_announcing(settings, main)


def cmd_user(args: argparse.Namespace, settings: Settings) -> int:
    from crm.access import system_principal
    from crm.errors import InvalidInput, NotFound
    from crm.services.users import UserService
    from crm.storage.tree import load_tree
    from crm.users import UserCreate, UserUpdate
    from csms.cli import CommandError, _print_json, _print_table, _run_async

    service = UserService(password_strength=settings.password_hashing)

    async def find(principal: Any, email: str) -> Any:
        users, _ = await service.list(principal, q=email.strip().lower(), limit=500)
        for user in users:
            if user.email == email.strip().lower():
                return user
        raise CommandError(f"no user {email!r}")

    async def main() -> int:
        principal = system_principal(await load_tree())
        try:
            action = args.user_command
            if action == "add":
                password, generated = _password(args)
                user = await service.create(
                    principal,
                    UserCreate(
                        email=args.email,
                        name=args.name,
                        entity_ids=args.entity,
                        default_entity_id=args.default,
                        group_ids=args.group or [],
                        password=password,
                    ),
                )
                print(f"added user {user.id} ({user.email}) in entities {user.entity_ids}")
                if generated:
                    print(f"password (shown once): {password}")
                elif password is None:
                    print("no password set: the user cannot log in until one is (csms user passwd)")
            elif action == "list":
                users, _ = await service.list(principal, limit=args.limit, offset=args.offset)
                if args.json:
                    _print_json(users)
                else:
                    _print_table(
                        ["ID", "EMAIL", "NAME", "ENTITIES", "GROUPS", "ACTIVE"],
                        [
                            [
                                u.id,
                                u.email,
                                u.name,
                                ",".join(map(str, u.entity_ids)),
                                ",".join(map(str, u.group_ids)) or "-",
                                u.active,
                            ]
                            for u in users
                        ],
                    )
            elif action == "passwd":
                user = await find(principal, args.email)
                password, generated = _password(args)
                if password is None:
                    raise CommandError("give --password-stdin or --generate-password")
                await service.update(principal, user.id, UserUpdate(password=password))
                print(f"password of {user.email} changed; their logins ended")
                if generated:
                    print(f"password (shown once): {password}")
            elif action == "join":
                user = await find(principal, args.email)
                for entity_id in args.entity or []:
                    user = await service.add_membership(principal, user.id, entity_id)
                for group_id in args.group or []:
                    user = await service.add_to_group(principal, user.id, group_id)
                print(f"user {user.email}: entities {user.entity_ids}, groups {user.group_ids}")
            elif action in ("activate", "deactivate"):
                user = await find(principal, args.email)
                user = await service.update(
                    principal, user.id, UserUpdate(active=action == "activate")
                )
                print(f"user {user.email} is {'active' if user.active else 'deactivated'}")
            return 0
        except (InvalidInput, NotFound) as error:
            raise CommandError(str(error)) from None

    return _run_async(main)


def cmd_group(args: argparse.Namespace, settings: Settings) -> int:
    from crm.access import system_principal
    from crm.errors import InvalidInput, NotFound
    from crm.groups import GroupCreate
    from crm.services.groups import GroupService
    from crm.storage.tree import load_tree
    from csms.cli import CommandError, _print_json, _print_table, _run_async

    service = GroupService()

    async def main() -> int:
        principal = system_principal(await load_tree())
        try:
            if args.group_command == "add":
                group = await service.create(
                    principal,
                    GroupCreate(
                        name=args.name,
                        owner_entity_id=args.entity,
                        scope=args.scope,
                        permissions=args.permission or [],
                        hidden_fields=args.hide or [],
                        description=args.description,
                    ),
                )
                print(
                    f"added group {group.id} ({group.name}): {group.scope}, "
                    f"{' '.join(group.permissions) or 'no permissions'}"
                )
            else:
                groups, _ = await service.list(principal, limit=args.limit, offset=args.offset)
                if args.json:
                    _print_json(groups)
                else:
                    _print_table(
                        ["ID", "ENTITY", "NAME", "SCOPE", "PERMISSIONS", "HIDDEN", "MEMBERS"],
                        [
                            [
                                g.id,
                                g.owner_entity_id,
                                g.name,
                                g.scope,
                                " ".join(g.permissions) or "-",
                                " ".join(g.hidden_fields) or "-",
                                len(g.member_ids),
                            ]
                            for g in groups
                        ],
                    )
            return 0
        except (InvalidInput, NotFound) as error:
            raise CommandError(str(error)) from None

    return _run_async(main)


def register(commands: Any, listing: Callable[[argparse.ArgumentParser], None]) -> None:
    from crm.entities import EntityKind

    entity = commands.add_parser("entity", help="the organisation's entities (a tree)")
    entity_commands = entity.add_subparsers(dest="entity_command", required=True)
    add = entity_commands.add_parser("add", help="create an entity (and its CRM contact)")
    add.add_argument("name")
    add.add_argument("--parent", type=int, help="parent entity id (none: a new root)")
    add.add_argument("--kind", default="other", choices=[k.value for k in EntityKind])
    add.add_argument("--customer-number")
    add.add_argument(
        "--customer-number-format",
        default="%d",
        help="numbers of the contacts it creates, e.g. AA0-%%d or K-%%05d",
    )
    add.add_argument("--time-zone", default="UTC", help="IANA name, e.g. Europe/Berlin")
    add.add_argument("--email", default="", help="invoices and credit notes go here")
    for name in ("street", "postal-code", "city", "country", "vat-id", "operator-id"):
        add.add_argument(f"--{name}", default="")
    listing(entity_commands.add_parser("list", help="the entity tree"))
    show = entity_commands.add_parser("show", help="one entity's fields")
    show.add_argument("id", type=int)
    show.add_argument("--json", action="store_true")
    move = entity_commands.add_parser("move", help="hang an entity under another parent")
    move.add_argument("id", type=int)
    move.add_argument("--parent", required=True, help="the new parent's id, or root")
    for name, text in (
        ("deactivate", "deactivate an entity (entities are never deleted while in use)"),
        ("activate", "activate a deactivated entity"),
    ):
        entity_commands.add_parser(name, help=text).add_argument("id", type=int)
    edit = entity_commands.add_parser(
        "set",
        help="change an entity's fields (as PATCH /entities/{id} does); prints what changed",
        description="An empty value clears a text field. Number-range formats use {seq} or"
        " {seq:06d} once and {yyyy}, {yy}, {mm}, e.g. RE-{yyyy}-{seq:06d}.",
    )
    edit.add_argument("id", type=int)
    edit.add_argument("--name")
    edit.add_argument("--kind", choices=[k.value for k in EntityKind])
    edit.add_argument("--time-zone", help="IANA name, e.g. Europe/Berlin")
    edit.add_argument("--email", help="invoices and credit notes go here")
    for name in ("street", "postal-code", "city", "country", "vat-id", "operator-id"):
        edit.add_argument(f"--{name}")
    for name, text in (
        ("may-act-as-sub-emp", "issues invoices to end customers in its own name"),
        ("customer-self-registration", "drivers registering in the app are attached to it"),
        ("force-purchase-prices", "its users see only the prices it buys at"),
    ):
        edit.add_argument(f"--{name}", choices=("yes", "no"), help=text)
    edit.add_argument("--invoice-number-range", metavar="FMT", help="e.g. RE-{yyyy}-{seq:06d}")
    edit.add_argument("--credit-note-number-range", metavar="FMT", help="e.g. GS-{yyyy}-{seq:06d}")
    edit.add_argument("--invoice-reply-to", metavar="EMAIL", help="reply address on invoices")
    edit.add_argument(
        "--credit-note-address", metavar="TEXT", help="deviating address: [name,] street, ZIP city"
    )
    edit.add_argument("--primary-color", metavar="#RRGGBB")
    edit.add_argument("--secondary-color", metavar="#RRGGBB")
    edit.add_argument("--logo-url", metavar="URL")
    entity.set_defaults(run=cmd_entity)

    user = commands.add_parser("user", help="users who log in to the UI and the API")
    user_commands = user.add_subparsers(dest="user_command", required=True)
    user_add = user_commands.add_parser("add", help="create a user")
    user_add.add_argument("email")
    user_add.add_argument("--name", default="")
    user_add.add_argument(
        "--entity", type=int, action="append", required=True, help="an entity (repeatable)"
    )
    user_add.add_argument("--default", type=int, help="the default entity (else the first)")
    user_add.add_argument("--group", type=int, action="append", help="a group (repeatable)")

    def password_options(sub: argparse.ArgumentParser) -> None:
        choice = sub.add_mutually_exclusive_group()
        choice.add_argument(
            "--password-stdin", action="store_true", help="read the password from stdin"
        )
        choice.add_argument(
            "--generate-password", action="store_true", help="generate one and print it once"
        )

    password_options(user_add)
    listing(user_commands.add_parser("list", help="list users"))
    passwd = user_commands.add_parser("passwd", help="set a user's password")
    passwd.add_argument("email")
    password_options(passwd)
    join = user_commands.add_parser("join", help="add a user to entities and groups")
    join.add_argument("email")
    join.add_argument("--entity", type=int, action="append")
    join.add_argument("--group", type=int, action="append")
    for name, text in (
        ("deactivate", "end the user's logins and refuse new ones"),
        ("activate", "let a deactivated user log in again"),
    ):
        user_commands.add_parser(name, help=text).add_argument("email")
    user.set_defaults(run=cmd_user)

    group = commands.add_parser("group", help="groups: permissions, scope, hidden fields")
    group_commands = group.add_subparsers(dest="group_command", required=True)
    group_add = group_commands.add_parser("add", help="create a group")
    group_add.add_argument("name")
    group_add.add_argument("--entity", type=int, required=True, help="the owning entity")
    group_add.add_argument("--scope", default="own", choices=("own", "subtree", "all"))
    group_add.add_argument(
        "--permission",
        action="append",
        help="resource:action, resource:* or * (repeatable), e.g. contacts:read",
    )
    group_add.add_argument(
        "--hide", action="append", help="a field to hide, e.g. contacts.iban (repeatable)"
    )
    group_add.add_argument("--description", default="")
    listing(group_commands.add_parser("list", help="list groups"))
    group.set_defaults(run=cmd_group)
