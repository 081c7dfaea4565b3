"""``csms station locate``, ``csms station-group`` and ``csms access``:
stations' owner, address and group, and who may charge where (see
:mod:`csms.cli` for the conventions).

The CLI acts with the database's full rights (``system_principal``). It runs
outside any node, so it cannot tell a running node's authorisation cache of
its changes (that needs the bus, issue 4): a node applies them within a
minute (``csms.domain.authorization.MAX_AGE``); changes made through the
API count at once.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from csms.settings import Settings

_SUBJECTS = (
    "everyone, owner_entity, owner_subtree (no value); medium UID, media_group GROUP_ID, "
    "issuing_entity ENTITY_ID, issuing_subtree ENTITY_ID"
)


def _service(listener: Any) -> Any:
    from csms.domain.station_admin import StationAdmin
    from csms.storage.access import PiccoloStationStore

    return StationAdmin(PiccoloStationStore(), listener)


async def _principal() -> Any:
    from crm.access import system_principal
    from crm.storage.tree import load_tree

    return system_principal(await load_tree())


def _print_station(station: Any) -> None:
    place = ", ".join(
        part
        for part in (
            station.street,
            f"{station.postal_code} {station.city}".strip(),
            station.country,
        )
        if part
    )
    print(f"station {station.charge_point_id} (id {station.id})")
    print(f"  owner entity   {station.owner_entity_id or '-'}")
    print(f"  station group  {station.station_group_id or '-'}")
    print(f"  address        {place or '-'}")
    coordinates = f"{station.latitude}, {station.longitude}" if station.latitude else "-"
    print(f"  coordinates    {coordinates}")
    print(f"  time zone      {station.time_zone}")


def cmd_locate(args: argparse.Namespace, settings: Settings) -> int:
    from crm.errors import InvalidInput, NotFound
    from csms.cli import CommandError, _print_json
    from csms.cli_changes import run_announcing, when_applied
    from csms.domain.station_admin import StationUpdate

    async def main(listener: Any) -> int:
        principal = await _principal()
        service = _service(listener)
        try:
            station = await service.find_station(principal, args.id)
            changes: dict[str, Any] = {}
            if args.no_owner:
                changes["owner_entity_id"] = None
            elif args.owner is not None:
                changes["owner_entity_id"] = args.owner
            if args.no_group:
                changes["station_group_id"] = None
            elif args.group is not None:
                changes["station_group_id"] = args.group
            for name, value in (
                ("description", args.description),
                ("street", args.street),
                ("postal_code", args.postal_code),
                ("city", args.city),
                ("country", args.country),
                ("latitude", args.lat),
                ("longitude", args.lon),
                ("time_zone", args.time_zone),
            ):
                if value is not None:
                    changes[name] = value
            if changes:
                update = StationUpdate(**changes)
                station = await service.update_station(principal, station.id, update)
        except (InvalidInput, NotFound) as error:
            raise CommandError(str(error)) from None
        if args.json:
            _print_json(station)
        else:
            _print_station(station)
            if "owner_entity_id" in changes or "station_group_id" in changes:
                print(f"({when_applied(listener)})")
        return 0

    return run_announcing(settings, main)


def cmd_station_group(args: argparse.Namespace, settings: Settings) -> int:
    from crm.errors import Forbidden, InvalidInput, NotFound
    from csms.cli import CommandError, _print_json, _print_table
    from csms.cli_changes import run_announcing, when_applied
    from csms.domain.station_admin import StationGroupCreate

    async def main(listener: Any) -> int:
        principal = await _principal()
        service = _service(listener)
        action = args.group_command
        try:
            if action == "add":
                group = await service.create_group(
                    principal,
                    StationGroupCreate(
                        name=args.name, owner_entity_id=args.owner, description=args.description
                    ),
                )
                print(f"added station group {group.id} ({group.name}) of entity {args.owner}")
            elif action == "list":
                groups, _ = await service.list_groups(
                    principal, owner_entity_id=args.owner, limit=args.limit, offset=args.offset
                )
                if args.json:
                    _print_json(groups)
                else:
                    _print_table(
                        ["ID", "NAME", "OWNER", "STATIONS", "DESCRIPTION"],
                        [
                            [g.id, g.name, g.owner_entity_id, g.station_count, g.description]
                            for g in groups
                        ],
                    )
            elif action == "assign":
                station = await service.find_station(principal, args.id)
                group_id = None if args.group.lower() == "none" else _group_id(args.group)
                await service.assign_group(principal, station.id, group_id)
                where = f"station group {group_id}" if group_id else "no station group"
                print(f"station {args.id} is in {where} ({when_applied(listener)})")
            elif action == "remove":
                await service.delete_group(principal, args.group_id)
                print(
                    f"removed station group {args.group_id}; its stations are in none "
                    f"({when_applied(listener)})"
                )
        except (InvalidInput, NotFound, Forbidden) as error:
            raise CommandError(str(error)) from None
        return 0

    return run_announcing(settings, main)


def _group_id(text: str) -> int:
    from csms.cli import CommandError

    if not text.isdigit():
        raise CommandError(f"a station group is named by its id (or none), not {text!r}")
    return int(text)


def cmd_access(args: argparse.Namespace, settings: Settings) -> int:
    from crm.errors import Forbidden, InvalidInput, NotFound
    from csms.cli import CommandError, _print_json, _print_table
    from csms.cli_changes import run_announcing, when_applied
    from csms.domain.station_admin import AccessRuleCreate

    async def target(
        principal: Any, service: Any, words: list[str]
    ) -> tuple[dict[str, int], list[str]]:
        """The station or group (--group) the rule is for, and the words left."""
        if args.group is not None:
            return {"group_id": args.group}, words
        if not words:
            raise CommandError("name the station (its charge point id) or give --group ID")
        station = await service.find_station(principal, words[0])
        return {"station_pk": station.id}, words[1:]

    async def main(listener: Any) -> int:
        principal = await _principal()
        service = _service(listener)
        action = args.access_command
        try:
            if action == "list":
                where, rest = await target(principal, service, list(args.words))
                if rest:
                    raise CommandError(f"unexpected {' '.join(rest)!r}")
                rules = await service.list_rules(principal, **where)
                if "station_pk" in where:
                    station = await service.get_station(principal, where["station_pk"])
                    if station.station_group_id is not None:
                        rules += await service.list_rules(
                            principal, group_id=station.station_group_id
                        )
                if args.json:
                    _print_json(rules)
                else:
                    _print_table(
                        ["ID", "OF", "EFFECT", "SUBJECT", "VALUE", "NOTE"],
                        [
                            [
                                r.id,
                                f"group {r.station_group_id}" if r.station_group_id else "station",
                                r.effect,
                                r.subject,
                                r.value or "-",
                                r.note or "-",
                            ]
                            for r in rules
                        ],
                    )
                    if not rules:
                        print("no rules: every valid medium may charge here (public)")
            elif action in ("allow", "deny"):
                where, rest = await target(principal, service, list(args.words))
                if not rest or len(rest) > 2:
                    raise CommandError(f"give SUBJECT [VALUE]; subjects: {_SUBJECTS}")
                rule = await service.add_rule(
                    principal,
                    AccessRuleCreate(
                        effect=action,
                        subject=rest[0],
                        value=rest[1] if len(rest) > 1 else "",
                        note=args.note,
                    ),
                    **where,
                )
                shown = f"{rule.subject} {rule.value}".strip()
                print(f"added rule {rule.id}: {rule.effect} {shown} ({when_applied(listener)})")
            elif action == "remove":
                await service.remove_rule(principal, args.rule_id)
                print(f"removed rule {args.rule_id} ({when_applied(listener)})")
        except (InvalidInput, NotFound, Forbidden) as error:
            raise CommandError(str(error)) from None
        return 0

    return run_announcing(settings, main)


def _station_parser(commands: Any) -> Any:
    """The subcommands of ``csms station`` (built by csms.cli)."""
    station = commands.choices["station"]
    for action in station._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    raise RuntimeError("csms station has no subcommands")


def register(commands: Any, listing: Callable[[argparse.ArgumentParser], None]) -> None:
    locate = _station_parser(commands).add_parser(
        "locate",
        help="set a station's owner entity, group, address, coordinates, time zone",
        description="Only the options given change. Coordinates are WGS 84 decimal degrees.",
    )
    locate.add_argument("id", help="the charge point id")
    owner = locate.add_mutually_exclusive_group()
    owner.add_argument("--owner", type=int, metavar="ENTITY_ID", help="the owner entity")
    owner.add_argument("--no-owner", action="store_true", help="the station has no owner")
    group = locate.add_mutually_exclusive_group()
    group.add_argument("--group", type=int, metavar="GROUP_ID", help="the station group")
    group.add_argument("--no-group", action="store_true", help="in no station group")
    locate.add_argument("--description")
    locate.add_argument("--street")
    locate.add_argument("--postal-code")
    locate.add_argument("--city")
    locate.add_argument("--country", help="ISO 3166-1 alpha-2, e.g. DE")
    locate.add_argument("--lat", metavar="DEGREES", help="latitude, e.g. 52.520008")
    locate.add_argument("--lon", metavar="DEGREES", help="longitude, e.g. 13.404954")
    locate.add_argument("--time-zone", metavar="NAME", help="IANA name, e.g. Europe/Berlin")
    locate.add_argument("--json", action="store_true")
    locate.set_defaults(run=cmd_locate)

    groups = commands.add_parser("station-group", help="groups of stations sharing access rules")
    group_commands = groups.add_subparsers(dest="group_command", required=True)
    add = group_commands.add_parser("add", help="create a station group")
    add.add_argument("name")
    add.add_argument("--owner", type=int, required=True, metavar="ENTITY_ID")
    add.add_argument("--description", default="")
    group_list = group_commands.add_parser("list", help="list station groups")
    listing(group_list)
    group_list.add_argument("--owner", type=int, metavar="ENTITY_ID")
    assign = group_commands.add_parser("assign", help="put a station in a group (or none)")
    assign.add_argument("id", help="the charge point id")
    assign.add_argument("group", help="the group id, or none")
    remove = group_commands.add_parser(
        "remove", help="delete a group and its rules (its stations stay)"
    )
    remove.add_argument("group_id", type=int)
    groups.set_defaults(run=cmd_station_group)

    access = commands.add_parser(
        "access",
        help="access rules: who may charge at a station",
        description="A deny rule that matches refuses; else an allow rule that matches "
        "admits; a station (with its group) without allow rules is public. "
        f"Subjects: {_SUBJECTS}.",
    )
    access_commands = access.add_subparsers(dest="access_command", required=True)
    access_list = access_commands.add_parser(
        "list", help="a station's rules and its group's (or a group's: --group ID)"
    )
    access_list.add_argument("words", nargs="*", metavar="STATION")
    access_list.add_argument("--group", type=int, metavar="GROUP_ID")
    access_list.add_argument("--json", action="store_true")
    for effect, text in (("allow", "let these media charge"), ("deny", "refuse these media")):
        rule = access_commands.add_parser(
            effect,
            help=f"{text}: STATION SUBJECT [VALUE], or --group ID SUBJECT [VALUE]",
            description=f"Subjects: {_SUBJECTS}.",
        )
        rule.add_argument("words", nargs="+", metavar="STATION SUBJECT [VALUE]")
        rule.add_argument("--group", type=int, metavar="GROUP_ID", help="a rule of this group")
        rule.add_argument("--note", default="")
    access_remove = access_commands.add_parser("remove", help="delete a rule")
    access_remove.add_argument("rule_id", type=int)
    access.set_defaults(run=cmd_access)
