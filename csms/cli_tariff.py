"""``csms tariff``: OCPI 2.2.1 tariffs from the command line.

``csms tariff price TARIFF.json CDR.json [--time-zone TZ]`` prices the CDR's
charging periods with the tariff and prints the CDR totals as JSON, numbers as
exact JSON numbers with up to 4 decimals. The time zone for the tariff's
restrictions is the CDR location's (``cdr_location.time_zone``) when it has
one, else ``--time-zone``, else UTC.

Exit status: 0 priced; 1 the pair cannot be priced (tariff not valid at the
session start, other currency); 2 a file that cannot be read, is not JSON or
has bad fields (every bad field is named, with the file).

Pure: no database, no settings beyond the process's. Later subcommands
(import, list, export) register beside ``price`` in ``register``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

__all__ = ["price_report", "register"]

_COSTS = (
    "total_cost",
    "total_energy_cost",
    "total_time_cost",
    "total_parking_cost",
    "total_fixed_cost",
    "total_reservation_cost",
)
_QUANTITIES = ("total_energy", "total_time", "total_parking_time")


def price_report(priced: Any) -> dict[str, Any]:
    """The CDR totals of a ``PricedSession`` with numbers as ``Decimal``."""
    report: dict[str, Any] = {}
    for name in _COSTS:
        cost = getattr(priced, name)
        report[name] = {"excl_vat": cost.excl_vat, "incl_vat": cost.incl_vat}
    for name in _QUANTITIES:
        report[name] = getattr(priced, name)
    return report


def _json(value: Any, indent: str = "") -> str:
    """JSON text with Decimals as numbers of at most 4 decimals (never floats)."""
    from billing.money import decimal_text

    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, dict):
        inner = indent + "  "
        items = [f'{inner}"{key}": {_json(item, inner)}' for key, item in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    import json

    return json.dumps(value)


def _read(path: str, parse: Callable[[bytes], Any], what: str) -> Any:
    """``parse`` of the file's bytes; a problem is a ``ValueError`` naming the file."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise ValueError(f"{path}: cannot read the {what}: {error.strerror or error}") from None
    try:
        return parse(data)
    except ValueError as error:  # TariffError, CdrError
        raise ValueError(f"{path}: invalid {what}: {error}") from None


def cmd_tariff(args: argparse.Namespace, settings: Any) -> int:
    from billing.tariffs import PricingError, parse_cdr_input, parse_tariff, price_cdr

    if args.tariff_command != "price":  # pragma: no cover - argparse refuses others
        return 2
    if args.time_zone is not None:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(args.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            print(f"csms: --time-zone: unknown time zone {args.time_zone!r}", file=sys.stderr)
            return 2
    problems = []
    tariff = cdr = None
    try:
        tariff = _read(args.tariff, parse_tariff, "tariff")
    except ValueError as error:
        problems.append(str(error))
    try:
        cdr = _read(args.cdr, parse_cdr_input, "CDR")
    except ValueError as error:
        problems.append(str(error))
    if problems or tariff is None or cdr is None:
        for problem in problems:
            print(f"csms: {problem}", file=sys.stderr)
        return 2
    try:
        priced = price_cdr(tariff, cdr, time_zone=args.time_zone)
    except PricingError as error:
        print(f"csms: cannot price {args.cdr} with {args.tariff}: {error}", file=sys.stderr)
        return 1
    print(_json(price_report(priced)))
    return 0


def register(commands: Any, listing: Callable[[argparse.ArgumentParser], None]) -> None:
    tariff = commands.add_parser("tariff", help="OCPI 2.2.1 tariffs")
    sub = tariff.add_subparsers(dest="tariff_command", required=True)
    price = sub.add_parser(
        "price",
        help="price a CDR's charging periods with a tariff and print the totals as JSON",
        description="Prints total_cost, total_energy_cost, total_time_cost, "
        "total_parking_cost, total_fixed_cost, total_reservation_cost (each excl_vat and "
        "incl_vat), total_energy (kWh), total_time and total_parking_time (h), rounded "
        "to 4 decimals. Exit 2 for a file that cannot be read or has bad fields.",
    )
    price.add_argument("tariff", metavar="TARIFF.json", help="an OCPI 2.2.1 Tariff object")
    price.add_argument("cdr", metavar="CDR.json", help="an OCPI 2.2.1 CDR with charging_periods")
    price.add_argument(
        "--time-zone",
        metavar="TZ",
        help="IANA zone for the restrictions when the CDR's location has none (default UTC)",
    )
    tariff.set_defaults(run=cmd_tariff)
    register_stored(sub, listing)


# -- stored tariffs: import, list, show, export, assign, partners ----------------------
#
# ``csms tariff import|list|show|export|assign|assignments|unassign`` and
# ``csms tariff partner add|list|remove`` act on the database with every right
# (``crm.access.system_principal``), like the other provisioning commands.
# Exit status: 0 done; 1 refused (not found, exists, invalid: an invalid
# tariff names every bad field, one a line); 2 usage (argparse, or a file
# that cannot be read).

_TARIFF_HEADERS = ["ID", "OWNER", "CODE", "NAME", "CURRENCY", "UPDATED"]
_ASSIGNMENT_HEADERS = [
    "ID",
    "OWNER",
    "TARIFF",
    "AUDIENCE",
    "STATION",
    "GROUP",
    "COUNTERPARTY",
    "PRIORITY",
]


def cmd_tariff_stored(args: argparse.Namespace, settings: Any) -> int:
    """The stored-tariff subcommands (``price`` is :func:`cmd_tariff`)."""
    from billing.services.tariffs import InvalidTariff, TariffService
    from billing.storage.tariffs import PiccoloTariffs, station_id_of
    from billing.tariffs.assignments import Audience
    from billing.tariffs.records import (
        AssignmentFilter,
        CommunityPartnerCreate,
        TariffAssignmentCreate,
        TariffCreate,
        TariffFilter,
    )
    from crm.access import system_principal
    from crm.errors import Forbidden, InvalidInput, NotFound
    from crm.storage.tree import load_tree
    from csms.cli import CommandError, _fmt, _parse_time, _print_json, _print_table, _run_async

    action = args.tariff_command
    if action == "partner":
        action = f"partner-{args.partner_command}"
    ocpi: bytes = b""
    if action == "import":
        try:
            ocpi = Path(args.file).read_bytes()
        except OSError as error:
            print(f"csms: cannot read {args.file}: {error.strerror or error}", file=sys.stderr)
            return 2
    service = TariffService(PiccoloTariffs())

    async def main() -> int:
        principal = system_principal(await load_tree())
        try:
            if action == "import":
                result = await service.import_tariff(
                    principal,
                    TariffCreate(
                        ocpi=ocpi,
                        owner_entity_id=args.entity,
                        valid_from=_parse_time(args.valid_from) if args.valid_from else None,
                        name=args.name,
                    ),
                )
                what = "imported tariff" if result.created else "added a version to tariff"
                print(
                    f"{what} {result.tariff.id} ({result.tariff.code}, entity "
                    f"{result.tariff.owner_entity_id}): version {result.version.id} valid from "
                    f"{_fmt(result.version.valid_from)}"
                )
            elif action == "list":
                items, _ = await service.list_tariffs(
                    principal,
                    TariffFilter(owner_entity_id=args.entity),
                    limit=args.limit,
                    offset=args.offset,
                )
                if args.json:
                    _print_json(items)
                else:
                    _print_table(
                        _TARIFF_HEADERS,
                        [
                            [t.id, t.owner_entity_id, t.code, t.name, t.currency, t.updated_at]
                            for t in items
                        ],
                    )
            elif action == "show":
                detail = await service.get(principal, args.id)
                if args.json:
                    _print_json(detail)
                else:
                    print(f"tariff {detail.id}: {detail.code} ({detail.name}), {detail.currency}")
                    print(f"owner entity {detail.owner_entity_id}")
                    _print_table(
                        ["VERSION", "VALID FROM", "CREATED"],
                        [[v.id, v.valid_from, v.created_at] for v in detail.versions],
                    )
            elif action == "export":
                at = _parse_time(args.at) if args.at else None
                print(await service.export(principal, args.id, at))
            elif action == "assign":
                station = None
                if args.station is not None:
                    station = await station_id_of(args.station)
                    if station is None:
                        raise CommandError(f"--station: no station {args.station!r}")
                assignment = await service.assign(
                    principal,
                    TariffAssignmentCreate(
                        tariff_id=args.tariff_id,
                        audience=Audience(args.audience),
                        station_id=station,
                        station_group_id=args.group,
                        counterparty_entity_id=args.counterparty,
                        priority=args.priority,
                    ),
                )
                print(
                    f"assignment {assignment.id}: tariff {assignment.tariff_id} of entity "
                    f"{assignment.owner_entity_id} for {assignment.audience.value}"
                )
            elif action == "assignments":
                found, _ = await service.list_assignments(
                    principal,
                    AssignmentFilter(
                        owner_entity_id=args.entity,
                        tariff_id=args.tariff,
                        audience=Audience(args.audience) if args.audience else None,
                    ),
                    limit=args.limit,
                    offset=args.offset,
                )
                if args.json:
                    _print_json(found)
                else:
                    _print_table(
                        _ASSIGNMENT_HEADERS,
                        [
                            [
                                a.id,
                                a.owner_entity_id,
                                a.tariff_id,
                                a.audience.value,
                                a.station_id,
                                a.station_group_id,
                                a.counterparty_entity_id,
                                a.priority,
                            ]
                            for a in found
                        ],
                    )
            elif action == "unassign":
                await service.unassign(principal, args.id)
                print(f"assignment {args.id} removed")
            elif action == "partner-add":
                partner = await service.add_partner(
                    principal,
                    CommunityPartnerCreate(entity_id=args.entity, partner_entity_id=args.partner),
                )
                print(
                    f"community partner {partner.id}: entity {partner.entity_id} counts entity "
                    f"{partner.partner_entity_id} as community"
                )
            elif action == "partner-list":
                partners, _ = await service.list_partners(
                    principal, args.entity, limit=args.limit, offset=args.offset
                )
                if args.json:
                    _print_json(partners)
                else:
                    _print_table(
                        ["ID", "ENTITY", "PARTNER"],
                        [[p.id, p.entity_id, p.partner_entity_id] for p in partners],
                    )
            elif action == "partner-remove":
                await service.remove_partner(principal, args.id)
                print(f"community partner {args.id} removed")
            return 0
        except InvalidTariff as error:
            lines = "\n".join(f"  {path}: {message}" for path, message in error.errors)
            raise CommandError(
                f"not a valid OCPI 2.2.1 tariff, nothing imported:\n{lines}"
            ) from None
        except (InvalidInput, NotFound, Forbidden) as error:
            raise CommandError(str(error)) from None

    return _run_async(main)


def register_stored(sub: Any, listing: Callable[[argparse.ArgumentParser], None]) -> None:
    """The stored-tariff subcommands, beside ``price``."""
    audiences = ["emp", "customer", "sub_cpo"]
    imported = sub.add_parser(
        "import",
        help="import an OCPI 2.2.1 Tariff for an entity (a known code gets a new version)",
        description="The tariff's id is its code, unique per entity: importing a code the "
        "entity has adds a version valid from --valid-from (default: the tariff's "
        "start_date_time, else now). Versions are never changed. Exit 1 names every bad field.",
    )
    imported.add_argument("file", metavar="FILE.json", help="an OCPI 2.2.1 Tariff object")
    imported.add_argument("--entity", type=int, required=True, metavar="ID", help="the owner")
    imported.add_argument("--valid-from", metavar="T", help="ISO 8601 time with zone")
    imported.add_argument("--name", help="the tariff's name (default: its first alt text)")
    tariffs = sub.add_parser("list", help="list stored tariffs")
    listing(tariffs)
    tariffs.add_argument("--entity", type=int, metavar="ID", help="only this owner's")
    show = sub.add_parser("show", help="one tariff and its versions")
    show.add_argument("id", type=int)
    show.add_argument("--json", action="store_true")
    export = sub.add_parser("export", help="print a tariff's OCPI JSON (numbers exact)")
    export.add_argument("id", type=int)
    export.add_argument("--at", metavar="T", help="the version valid then (default: now)")
    assign = sub.add_parser(
        "assign",
        help="assign a tariff for its owner entity",
        description="emp: what the owner charges the EMP of the medium (its own stations, "
        "--counterparty the EMP); customer: what the issuing EMP charges its customers "
        "(no counterparty); sub_cpo: what the owner pays a sub-CPO (a child's stations, "
        "--counterparty the child). The most specific assignment wins: station, group, all; "
        "then a counterparty match, then priority, then the newest.",
    )
    assign.add_argument("tariff_id", type=int, metavar="TARIFF_ID")
    assign.add_argument("--audience", required=True, choices=audiences)
    assign.add_argument("--station", metavar="CP_ID", help="only sessions at this charge point")
    assign.add_argument("--group", type=int, metavar="ID", help="only this station group")
    assign.add_argument("--counterparty", type=int, metavar="ENTITY", help="only this entity")
    assign.add_argument("--priority", type=int, default=0)
    assignments = sub.add_parser("assignments", help="list tariff assignments")
    listing(assignments)
    assignments.add_argument("--entity", type=int, metavar="ID", help="only this owner's")
    assignments.add_argument("--tariff", type=int, metavar="ID")
    assignments.add_argument("--audience", choices=audiences)
    sub.add_parser("unassign", help="remove a tariff assignment").add_argument("id", type=int)
    partner = sub.add_parser(
        "partner",
        help="community partners: entities an entity counts as its community",
        description="Sessions of media a community partner issued are not invoiced by "
        "station. An entity's own subtree is always its community.",
    )
    partners = partner.add_subparsers(dest="partner_command", required=True)
    add = partners.add_parser("add", help="count an entity as community")
    add.add_argument("partner", type=int, metavar="PARTNER_ENTITY")
    add.add_argument("--entity", type=int, required=True, metavar="ID", help="whose community")
    partner_list = partners.add_parser("list", help="list community partners")
    listing(partner_list)
    partner_list.add_argument("--entity", type=int, metavar="ID")
    partners.add_parser("remove", help="remove a community partner").add_argument("id", type=int)
    for name in ("import", "list", "show", "export", "assign", "assignments", "unassign"):
        sub.choices[name].set_defaults(run=cmd_tariff_stored)
    partner.set_defaults(run=cmd_tariff_stored)
