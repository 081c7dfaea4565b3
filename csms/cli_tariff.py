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
