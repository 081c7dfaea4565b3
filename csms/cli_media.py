"""``csms medium``: the media registry from the command line, and ``csms tag``,
the foundation's id-tag commands kept as a compatibility alias.

The CLI acts with every right (``crm.access.system_principal``): it is the
operator's own tool with database access. Media are never deleted; a medium
that must not charge is blocked or marked lost.

``csms tag`` keeps the subcommands, options, CSV columns and JSON of the
foundation's id tags, so scripts that use it keep working: the root entity
issues the tags (one named "Operator" is created when there is no entity
yet), statuses read as OCPP spells them (Accepted, Blocked, Expired; a lost
medium lists as Blocked), and ``tag remove`` marks the medium lost.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any

# A tag's OCPP status and the medium status it stands for.
_TAG_STATUS = {"accepted": "active", "blocked": "blocked", "expired": "expired"}
_OCPP_STATUS = {"active": "Accepted", "blocked": "Blocked", "expired": "Expired", "lost": "Blocked"}
# The foundation's tag CSV columns and the media columns they became.
_TAG_COLUMNS = {
    "uid": "uid",
    "parent": "group",
    "expires": "valid_until",
    "status": "status",
    "note": "note",
}
ROOT_ENTITY_NAME = "Operator"

_MEDIA_HEADERS = ["UID", "KIND", "STATUS", "ISSUER", "GROUP", "VALID FROM", "VALID UNTIL", "NOTE"]


def _medium_row(m: Any) -> list[Any]:
    return [
        m.uid,
        m.kind.value,
        m.status.value,
        m.issuing_entity_id,
        m.group_uid or "-",
        m.valid_from,
        m.valid_until,
        m.note or "-",
    ]


def _tag_json(m: Any) -> dict[str, Any]:
    """A medium as ``csms tag list --json`` showed id tags."""
    return {
        "uid": m.uid,
        "status": _OCPP_STATUS[m.status.value],
        "parent_uid": m.group_uid,
        "expires_at": m.valid_until,
        "note": m.note,
    }


def _tag_rows(
    header: Sequence[str], rows: list[dict[str, str | None]]
) -> tuple[list[str], list[dict[str, str | None]]]:
    """A tag CSV in the media columns; unknown columns are refused as the
    tag import refused them."""
    from crm.row_import import ImportRejected, check_columns
    from csms.cli import CommandError

    try:
        check_columns(header, frozenset(_TAG_COLUMNS), "uid")
    except ImportRejected as error:
        raise CommandError(f"nothing imported: {error}") from None
    translated = []
    for row in rows:
        values: dict[str, str | None] = {}
        for name, value in row.items():
            if not name:
                continue
            column = _TAG_COLUMNS[name.strip()]
            if column == "status" and value:
                value = _TAG_STATUS.get(value.strip().lower(), value)
            values[column] = value
        translated.append(values)
    return [_TAG_COLUMNS[name.strip()] for name in header], translated


def cmd_medium(args: argparse.Namespace, settings: Any) -> int:
    from crm.access import system_principal
    from crm.errors import Forbidden, InvalidInput, NotFound
    from crm.media import MediaFilter, MediumCreate, MediumKind, MediumStatus, MediumUpdate
    from crm.services.media import MediaService
    from crm.storage.media import PiccoloMedia
    from crm.storage.tree import load_tree
    from csms.cli import (
        CommandError,
        _fmt,
        _parse_time,
        _print_json,
        _print_table,
        _read_csv,
    )
    from csms.cli_changes import run_announcing

    tag = args.command == "tag"
    action = args.tag_command if tag else args.medium_command
    store = PiccoloMedia()

    async def default_issuer() -> int:
        """The entity that issues media when the command names none."""
        if tag:
            root = await store.root_entity()
            if root is None:
                # As the id-tag migration does: tags need an issuer.
                from crm.entities import EntityCreate, EntityKind
                from crm.services.entities import EntityService

                created = await EntityService().create(
                    system_principal(await load_tree()),
                    EntityCreate(name=ROOT_ENTITY_NAME, kind=EntityKind.OPERATOR),
                )
                root = created.id
            return root
        roots = await store.root_entities()
        if not roots:
            raise CommandError(
                "no entity exists yet: create one first (csms entity add NAME), "
                "then issue media with --issuer ENTITY_ID"
            )
        if len(roots) > 1:
            raise CommandError(
                f"there are several root entities ({', '.join(map(str, roots))}); "
                "say which issues it with --issuer ENTITY_ID"
            )
        return roots[0]

    async def main(changes: Any) -> int:
        service = MediaService(changes=changes)
        principal = system_principal(await load_tree())
        try:
            if action == "add":
                if tag:
                    data = MediumCreate(
                        uid=args.uid,
                        issuing_entity_id=await default_issuer(),
                        group_uid=args.parent or "",
                        valid_until=_parse_time(args.expires) if args.expires else None,
                        note=args.note,
                    )
                else:
                    issuer = args.issuer if args.issuer is not None else await default_issuer()
                    data = MediumCreate(
                        uid=args.uid,
                        kind=MediumKind(args.kind),
                        issuing_entity_id=issuer,
                        owner_contact_id=args.owner_contact,
                        bill_to_contact_id=args.bill_to_contact,
                        group_uid=args.group or "",
                        valid_from=_parse_time(args.valid_from) if args.valid_from else None,
                        valid_until=_parse_time(args.valid_until) if args.valid_until else None,
                        note=args.note,
                    )
                medium = await service.create(principal, data)
                noun = "id tag" if tag else "medium"
                print(f"added {noun} {medium.uid} (issued by entity {medium.issuing_entity_id})")
            elif action == "import":
                header, rows = _read_csv(args.file)
                if tag:
                    header, rows = _tag_rows(header, rows)
                    issuer = await default_issuer()
                else:
                    issuer = args.issuer if args.issuer is not None else await default_issuer()
                result = await service.import_rows(
                    principal,
                    header,
                    rows,
                    skip_existing=args.skip_existing,
                    default_issuer=issuer,
                )
                noun = "id tag(s)" if tag else "medium/media"
                print(f"imported {result.imported} {noun}", end="")
                print(
                    f", skipped {len(result.skipped)} that exist already" if result.skipped else ""
                )
            elif action == "list":
                filters = MediaFilter(
                    status=MediumStatus(args.status) if getattr(args, "status", None) else None,
                    issuing_entity_id=getattr(args, "issuer", None),
                )
                media, _ = await service.list_media(
                    principal, filters, limit=args.limit, offset=args.offset
                )
                if tag:
                    if args.json:
                        _print_json([_tag_json(m) for m in media])
                    else:
                        _print_table(
                            ["UID", "STATUS", "PARENT", "EXPIRES", "NOTE"],
                            [
                                [
                                    m.uid,
                                    _OCPP_STATUS[m.status.value],
                                    m.group_uid or "-",
                                    m.valid_until,
                                    m.note,
                                ]
                                for m in media
                            ],
                        )
                elif args.json:
                    _print_json(media)
                else:
                    _print_table(_MEDIA_HEADERS, [_medium_row(m) for m in media])
            elif action == "show":
                medium = await service.get_by_uid(principal, args.uid)
                if args.json:
                    _print_json(medium)
                else:
                    import msgspec

                    for key, value in msgspec.structs.asdict(medium).items():
                        shown = value.value if hasattr(value, "value") else value
                        print(f"{key:20} {_fmt(shown)}")
            elif action in ("block", "unblock", "set-status", "remove"):
                status = {
                    "block": MediumStatus.BLOCKED,
                    "unblock": MediumStatus.ACTIVE,
                    "remove": MediumStatus.LOST,
                }.get(action) or MediumStatus(args.status)
                medium = await service.update_by_uid(
                    principal, args.uid, MediumUpdate(status=status)
                )
                if tag and action == "remove":
                    print(
                        f"id tag {medium.uid} marked lost: it no longer charges "
                        "(media are never deleted)"
                    )
                elif tag:
                    print(f"id tag {medium.uid} is {_OCPP_STATUS[medium.status.value]}")
                else:
                    print(f"medium {medium.uid} is {medium.status.value}")
            return 0
        except (InvalidInput, NotFound, Forbidden) as error:
            raise CommandError(str(error)) from None

    return run_announcing(settings, main)


def register(commands: Any, listing: Callable[[argparse.ArgumentParser], None]) -> None:
    from crm.media import MediumKind, MediumStatus

    medium = commands.add_parser(
        "medium",
        help="identification media (RFID cards, eMAIDs, app tokens)",
        description="Media are never deleted: block them or mark them lost.",
    )
    sub = medium.add_subparsers(dest="medium_command", required=True)
    add = sub.add_parser("add", help="issue a medium")
    add.add_argument("uid", help="what the charger sends (OCPP idTag / idToken)")
    add.add_argument("--kind", choices=[k.value for k in MediumKind], default="rfid")
    add.add_argument(
        "--issuer",
        type=int,
        metavar="ENTITY_ID",
        help="the issuing entity (default: the root entity, when there is one)",
    )
    add.add_argument("--group", help="group id (OCPP parentIdTag) media share")
    add.add_argument("--valid-from", help="ISO 8601 time with zone")
    add.add_argument("--valid-until", help="ISO 8601 time with zone")
    add.add_argument("--note", default="")
    add.add_argument("--owner-contact", type=int, metavar="CONTACT_ID")
    add.add_argument("--bill-to-contact", type=int, metavar="CONTACT_ID")
    medium_import = sub.add_parser(
        "import",
        help="issue many media from a CSV file (all or nothing)",
        description="CSV with a header line; columns: uid (required), kind, status, group, "
        "valid_from, valid_until (ISO 8601 with zone), issuing_entity, owner_contact_id, "
        "bill_to_contact_id, note. Every line is checked before anything is written; "
        "the API's export writes this format.",
    )
    medium_import.add_argument("file", help="the CSV file, or - for standard input")
    medium_import.add_argument(
        "--skip-existing", action="store_true", help="leave media that exist as they are"
    )
    medium_import.add_argument(
        "--issuer", type=int, metavar="ENTITY_ID", help="issues rows without issuing_entity"
    )
    medium_list = sub.add_parser("list", help="list media by uid")
    listing(medium_list)
    medium_list.add_argument("--status", choices=[s.value for s in MediumStatus])
    medium_list.add_argument("--issuer", type=int, metavar="ENTITY_ID")
    show = sub.add_parser("show", help="one medium")
    show.add_argument("uid")
    show.add_argument("--json", action="store_true")
    for name, text in (
        ("block", "block a medium (it stops charging at once)"),
        ("unblock", "make a medium active again"),
    ):
        sub.add_parser(name, help=text).add_argument("uid")
    set_status = sub.add_parser("set-status", help="set a medium's status (e.g. lost)")
    set_status.add_argument("uid")
    set_status.add_argument("status", choices=[s.value for s in MediumStatus])
    medium.set_defaults(run=cmd_medium)

    tag = commands.add_parser(
        "tag",
        help="id tags: compatibility alias of `csms medium` (the root entity issues them)",
        description="The foundation's id-tag commands, kept for scripts. Tags are media issued "
        "by the root entity (one named Operator is created if there is no entity yet); "
        "statuses read as OCPP spells them. Use `csms medium` for everything else.",
    )
    tag_commands = tag.add_subparsers(dest="tag_command", required=True)
    tag_add = tag_commands.add_parser("add", help="allow an id tag")
    tag_add.add_argument("uid")
    tag_add.add_argument("--parent", help="parent id tag (group)")
    tag_add.add_argument("--expires", help="expiry time, ISO 8601 with zone")
    tag_add.add_argument("--note", default="")
    tag_import = tag_commands.add_parser(
        "import",
        help="allow many id tags from a CSV file (all or nothing)",
        description="CSV with a header line; columns: uid (required), parent, expires "
        "(ISO 8601 with zone), status (accepted|blocked|expired), note.",
    )
    tag_import.add_argument("file", help="the CSV file, or - for standard input")
    tag_import.add_argument(
        "--skip-existing", action="store_true", help="leave id tags that exist as they are"
    )
    listing(tag_commands.add_parser("list", help="list id tags"))
    for name, text in (
        ("block", "block an id tag"),
        ("unblock", "accept a blocked id tag again"),
        (
            "remove",
            "mark an id tag lost: it no longer charges (media are never deleted, so its "
            "uid cannot be added again)",
        ),
    ):
        tag_commands.add_parser(name, help=text).add_argument("uid")
    tag.set_defaults(run=cmd_medium)
