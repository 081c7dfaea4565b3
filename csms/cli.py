"""The ``csms`` command: run the product and provision it without the UI.

Subcommand names and options are an interface operators' scripts rely on;
keep them stable. Every listing has ``--json`` for scripts. Exit status: 0
done, 1 refused (not found, exists, invalid), 2 usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import logging
import signal
import sys
from collections.abc import Callable, Coroutine, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import msgspec

from csms.settings import Settings, SettingsError, get_settings

log = logging.getLogger("csms")
T = TypeVar("T")


class CommandError(Exception):
    """A refusal worth one line on stderr and exit status 1."""


# -- output helpers -------------------------------------------------------------


def _print_json(value: Any) -> None:
    print(msgspec.json.format(msgspec.json.encode(value), indent=2).decode())


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%SZ")
    return str(value)


def _print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[_fmt(v) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    if not rows:
        print("(none)")


def _parse_time(text: str) -> datetime:
    from crm.validation import parse_time

    try:
        return parse_time(text)
    except ValueError as error:
        raise CommandError(str(error)) from None


def _read_csv(path: str) -> tuple[list[str], list[dict[str, str | None]]]:
    """Header and rows of a CSV file (``-``: standard input); a byte-order
    mark, as spreadsheet programs write it, is skipped."""
    try:
        if path == "-":
            reader = csv.DictReader(io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig"))
            return list(reader.fieldnames or ()), list(reader)
        with open(path, encoding="utf-8-sig", newline="") as file:
            reader = csv.DictReader(file)
            return list(reader.fieldnames or ()), list(reader)
    except OSError as error:
        raise CommandError(f"cannot read {path}: {error.strerror}") from None
    except (UnicodeDecodeError, csv.Error) as error:
        raise CommandError(f"{path} is not a UTF-8 CSV file: {error}") from None


def _import_records(
    path: str,
    known: frozenset[str],
    required: str,
    parse: Callable[[Mapping[str, str]], T],
    key: Callable[[T], str],
) -> list[T]:
    """The records of a CSV file, every line checked, or CommandError naming
    every line to fix (then nothing is imported)."""
    from crm.row_import import ImportRejected, check_columns, records_from_rows

    columns, rows = _read_csv(path)
    try:
        check_columns(columns, known, required)
        return records_from_rows(rows, parse, key)
    except ImportRejected as error:
        raise CommandError(f"nothing imported: {error}") from None


# -- running ---------------------------------------------------------------------


def _configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if settings.log_level != "DEBUG":
        # Both log every frame or connection at INFO: too much for a fleet;
        # the PDF libraries log every font subset and embedded file.
        for chatty in (
            "ocpp",
            "websockets.server",
            "websockets.client",
            "piccolo",
            "fontTools",
            "factur-x",
        ):
            logging.getLogger(chatty).setLevel(logging.WARNING)


def _run_async(main: Callable[[], Coroutine[Any, Any, int]]) -> int:
    try:
        import uvloop

        return uvloop.run(main())
    except ImportError:
        return asyncio.run(main())


async def _serve(settings: Settings, *, ocpp: bool, http: bool, banner: str = "") -> int:
    from csms.bootstrap import Node
    from csms.collector import tune_garbage_collector
    from csms.storage.migrate import pending_migrations

    pending = await pending_migrations()
    if pending:
        raise CommandError(
            f"the database needs {len(pending)} migration(s); run `csms migrate` first"
        )
    node = Node(settings, serve_ocpp=ocpp, serve_http=http)
    await node.start()
    tune_garbage_collector()
    stop = asyncio.Event()
    terminate = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGTERM, terminate.set)
    host = settings.ocpp_host if settings.ocpp_host not in ("0.0.0.0", "::") else "127.0.0.1"
    if ocpp:
        print(f"OCPP:  ws://{host}:{node.ocpp_port}/ocpp/<charge_point_id>", flush=True)
    if http:
        print(f"HTTP:  http://{settings.http_host}:{node.http_port}/healthz", flush=True)
    if banner:
        print(banner, flush=True)
    # A drain requested over the bus (csms node drain) ends in exit_requested.
    await _first(stop.wait(), terminate.wait(), node.exit_requested.wait())
    if terminate.is_set() and ocpp and settings.drain_seconds > 0:
        # SIGTERM drains first (a deploy); SIGINT or a second SIGTERM stops now.
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        print(f"draining over {settings.drain_seconds:.0f} s...", flush=True)
        await _first(node.drain(settings.drain_seconds), stop.wait())
    print("stopping...", flush=True)
    await node.stop()
    return 0


async def _first(*waits: Coroutine[Any, Any, Any]) -> None:
    """Waits until one of ``waits`` finishes and cancels the others."""
    tasks = [asyncio.ensure_future(wait) for wait in waits]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    return _run_async(lambda: _serve(settings, ocpp=True, http=True))


def cmd_gateway(args: argparse.Namespace, settings: Settings) -> int:
    return _run_async(lambda: _serve(settings, ocpp=True, http=False))


def cmd_web(args: argparse.Namespace, settings: Settings) -> int:
    return _run_async(lambda: _serve(settings, ocpp=False, http=True))


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from csms.storage.migrate import migrate, pending_migrations

    async def main() -> int:
        if args.check:
            pending = await pending_migrations()
            for name in pending:
                print(f"pending: {name}")
            print("up to date" if not pending else f"{len(pending)} pending")
            return 1 if pending else 0
        applied = await migrate()
        for name in applied:
            print(f"applied: {name}")
        print(f"database up to date ({len(applied)} applied)")
        return 0

    return _run_async(main)


# -- stations ----------------------------------------------------------------------


def _station_row(s: Any) -> list[Any]:
    return [
        s.charge_point_id,
        s.registration_status,
        s.connected,
        s.protocol or "-",
        f"{s.vendor} {s.model}".strip() or "-",
        s.firmware_version or "-",
        s.has_secret,
        s.last_seen_at,
    ]


_STATION_HEADERS = [
    "ID",
    "STATUS",
    "ONLINE",
    "PROTOCOL",
    "MODEL",
    "FIRMWARE",
    "SECRET",
    "LAST SEEN",
]


def cmd_station(args: argparse.Namespace, settings: Settings) -> int:
    from crm.errors import InvalidInput
    from csms.domain.credentials import (
        CredentialError,
        check_charge_point_id,
        check_secret,
        generate_secret,
        hash_secret,
    )
    from csms.domain.model import RegistrationStatus
    from csms.domain.provisioning import STATION_COLUMNS, station_from_row
    from csms.domain.station_admin import check_meter_public_key
    from csms.storage.maintenance import PiccoloMaintenance
    from csms.storage.stations import (
        PiccoloStationAdmin,
        StationExists,
        StationInUse,
        StationNotFound,
    )

    admin = PiccoloStationAdmin()

    def secret_from(args: argparse.Namespace) -> tuple[str, str | None]:
        """(hash, secret to show once) from --secret / --generate-secret."""
        secret = args.secret
        shown = None
        if getattr(args, "generate_secret", False):
            secret = shown = generate_secret()
        if not secret:
            return "", None
        try:
            check_secret(secret)
        except CredentialError as error:
            raise CommandError(str(error)) from None
        return hash_secret(secret), shown

    async def main() -> int:
        try:
            action = args.station_command
            if action == "add":
                try:
                    check_charge_point_id(args.id)
                except CredentialError as error:
                    raise CommandError(str(error)) from None
                secret_hash, shown = secret_from(args)
                station = await admin.add(
                    args.id,
                    secret_hash=secret_hash,
                    registration_status=(
                        RegistrationStatus.PENDING if args.pending else RegistrationStatus.ACCEPTED
                    ),
                    description=args.description,
                    assume_ocpp16=args.assume_ocpp16,
                    leniency=frozenset(args.lenient or ()),
                )
                print(f"added station {station.charge_point_id} ({station.registration_status})")
                if shown:
                    print(f"secret: {shown}")
                    print("(shown once: configure it in the charger as the basic-auth password)")
                elif not secret_hash:
                    print(
                        "warning: no secret set; this station connects without credentials "
                        "until you set one (csms station set-secret)"
                    )
            elif action == "import":
                new_stations = _import_records(
                    args.file,
                    STATION_COLUMNS,
                    "charge_point_id",
                    lambda row: station_from_row(row, hash_secret),
                    lambda station: station.charge_point_id,
                )
                skipped = await admin.add_many(new_stations, skip_existing=args.skip_existing)
                print(f"imported {len(new_stations) - len(skipped)} station(s)", end="")
                print(f", skipped {len(skipped)} that exist already" if skipped else "")
            elif action == "list":
                stations = await admin.list_all(limit=args.limit, offset=args.offset)
                if args.json:
                    _print_json(stations)
                else:
                    _print_table(_STATION_HEADERS, [_station_row(s) for s in stations])
            elif action == "show":
                station = await admin.get(args.id)
                if args.json:
                    _print_json(station)
                else:
                    for key, value in msgspec.structs.asdict(station).items():
                        if key != "connectors":
                            print(f"{key:26} {_fmt(value)}")
                    print()
                    _print_table(
                        ["CONNECTOR", "STATUS", "ERROR", "INFO", "SINCE"],
                        [
                            [c.connector_id, c.status, c.error_code, c.info or "-", c.status_at]
                            for c in station.connectors
                        ],
                    )
            elif action == "remove":
                await admin.remove(args.id)
                print(f"removed station {args.id}")
            elif action in ("accept", "reject", "pend"):
                status = {
                    "accept": RegistrationStatus.ACCEPTED,
                    "reject": RegistrationStatus.REJECTED,
                    "pend": RegistrationStatus.PENDING,
                }[action]
                await admin.update(args.id, registration_status=status)
                print(
                    f"station {args.id} is {status.value}; it gets this answer at its next "
                    "BootNotification"
                )
            elif action == "set-secret":
                secret_hash, shown = secret_from(args)
                if not secret_hash:
                    raise CommandError("give --secret S or --generate-secret")
                await admin.update(args.id, auth_secret_hash=secret_hash)
                print(f"secret of station {args.id} set; it applies to the next connection")
                if shown:
                    print(f"secret: {shown}")
            elif action == "clear-secret":
                await admin.update(args.id, auth_secret_hash="")
                print(f"station {args.id} now connects without credentials")
            elif action == "set":
                values: dict[str, Any] = {}
                if args.assume_ocpp16 is not None:
                    values["assume_ocpp16"] = args.assume_ocpp16 == "yes"
                if args.lenient is not None:
                    values["leniency"] = frozenset(f for f in args.lenient if f)
                if args.description is not None:
                    values["description"] = args.description
                if args.meter_public_key is not None:
                    try:
                        values["meter_public_key"] = check_meter_public_key(args.meter_public_key)
                    except InvalidInput as error:
                        raise CommandError(str(error)) from error
                if not values:
                    raise CommandError("nothing to set")
                station = await admin.update(args.id, **values)
                print(
                    f"station {args.id}: assume-ocpp16={_fmt(station.assume_ocpp16)} "
                    f"lenient={','.join(station.leniency) or '-'} "
                    f"meter-public-key={station.meter_public_key or '-'}"
                )
            elif action == "events":
                events = await admin.events(args.id, limit=args.limit)
                if args.json:
                    _print_json(events)
                else:
                    _print_table(
                        ["TIME", "EVENT", "DATA"],
                        [[e.occurred_at, e.kind, json.dumps(e.data)] for e in reversed(events)],
                    )
            elif action == "messages":
                await admin.get(args.id)
                messages = await PiccoloMaintenance().messages(args.id, limit=args.limit)
                if args.json:
                    _print_json(messages)
                else:
                    for m in messages:
                        arrow = "->" if m.direction == "in" else "<-"
                        print(
                            f"{_fmt(m.logged_at)} {arrow} [{m.message_type}] {m.action} {m.payload}"
                        )
            return 0
        except (StationNotFound, StationExists, StationInUse) as error:
            raise CommandError(str(error)) from None

    return _run_async(main)


# -- id tags ------------------------------------------------------------------------


# -- sessions ------------------------------------------------------------------------


def cmd_session(args: argparse.Namespace, settings: Settings) -> int:
    from csms.domain.stale_sessions import StaleSessionRule
    from csms.storage.sessions import (
        PiccoloSessionQueries,
        PiccoloStaleSessionStore,
        SessionNotFound,
    )

    queries = PiccoloSessionQueries()

    async def main() -> int:
        try:
            action = args.session_command
            if action == "list":
                sessions = await queries.list_all(
                    charge_point_id=args.station,
                    status=args.status,
                    limit=args.limit,
                    offset=args.offset,
                )
                if args.json:
                    _print_json(sessions)
                else:
                    _print_table(
                        [
                            "TX",
                            "STATION",
                            "CONN",
                            "ID TAG",
                            "STATUS",
                            "STARTED",
                            "STOPPED",
                            "WH",
                            "CLOSED BY",
                        ],
                        [
                            [
                                s.transaction_id,
                                s.charge_point_id,
                                s.connector_id,
                                s.id_tag,
                                s.status,
                                s.started_at,
                                s.stopped_at,
                                s.energy_wh,
                                s.closed_by or "-",
                            ]
                            for s in sessions
                        ],
                    )
            elif action == "show":
                session = await queries.get(args.id)
                values = await queries.meter_values(args.id)
                if args.json:
                    _print_json({"session": session, "meter_values": values})
                else:
                    for key, value in msgspec.structs.asdict(session).items():
                        print(f"{key:20} {_fmt(value)}")
                    print(f"{'energy_wh':20} {_fmt(session.energy_wh)}")
                    print()
                    _print_table(
                        ["SAMPLED", "MEASURAND", "VALUE", "UNIT", "PHASE", "CONTEXT"],
                        [
                            [v.sampled_at, v.measurand, v.value, v.unit, v.phase or "-", v.context]
                            for v in values
                        ],
                    )
            elif action == "stale":
                rule = StaleSessionRule(
                    PiccoloStaleSessionStore(), inactive_hours=settings.stale_session_hours
                )
                print(f"rule: {rule.describe()}")
                findings = await rule.find()
                if args.close:
                    findings = await rule.close(findings)
                _print_table(
                    ["TX", "RULE", "STOP AT", "STOP WH", "ACTION"],
                    [
                        [
                            f.session.session_id,
                            f.rule,
                            f.stopped_at,
                            f.session.last_register_wh,
                            "closed" if args.close else "would close (--close)",
                        ]
                        for f in findings
                    ],
                )
            return 0
        except SessionNotFound as error:
            raise CommandError(str(error)) from None

    return _run_async(main)


# -- demo ------------------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from csms.demo import run_demo

    return _run_async(lambda: run_demo(settings, chargers=args.chargers))


# -- parser ------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="csms",
        description="Charge-point management system: OCPP gateway, CRM and billing.",
        epilog="Settings come from CSMS_* environment variables; see the README.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser("serve", help="run the OCPP gateway and the web app").set_defaults(
        run=cmd_serve
    )
    commands.add_parser("gateway", help="run only the OCPP gateway").set_defaults(run=cmd_gateway)
    commands.add_parser("web", help="run only the web app").set_defaults(run=cmd_web)
    migrate = commands.add_parser("migrate", help="bring the database schema up to date")
    migrate.add_argument("--check", action="store_true", help="only list pending migrations")
    migrate.set_defaults(run=cmd_migrate)

    demo = commands.add_parser(
        "demo", help="seed a small demo world and run it with simulated chargers"
    )
    demo.add_argument("--chargers", type=int, default=2, help="simulated chargers (default 2)")
    demo.set_defaults(run=cmd_demo)

    def listing(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--json", action="store_true", help="machine-readable output")
        sub.add_argument("--limit", type=int, default=1000)
        sub.add_argument("--offset", type=int, default=0)

    station = commands.add_parser("station", help="provision charge points")
    station_commands = station.add_subparsers(dest="station_command", required=True)
    add = station_commands.add_parser("add", help="register a station")
    add.add_argument("id", help="the charge point id in the station's URL")
    secret = add.add_mutually_exclusive_group()
    secret.add_argument("--secret", help="basic-auth password (16 to 40 characters)")
    secret.add_argument(
        "--generate-secret", action="store_true", help="generate a secret and print it once"
    )
    add.add_argument("--pending", action="store_true", help="answer Pending until accepted")
    add.add_argument(
        "--assume-ocpp16",
        action="store_true",
        help="serve as OCPP 1.6 when the station offers no subprotocol (old firmware)",
    )
    add.add_argument(
        "--lenient",
        nargs="*",
        metavar="FLAG",
        help="tolerate known firmware quirks, e.g. numbers_as_strings naive_timestamps_as_utc",
    )
    add.add_argument("--description", default="")
    station_import = station_commands.add_parser(
        "import",
        help="register many stations from a CSV file (all or nothing)",
        description="CSV with a header line; columns: charge_point_id (required), secret, "
        "description, status (accepted|pending|rejected), assume_ocpp16 (yes|no), lenient "
        "(flags separated by spaces). Every line is checked before anything is written.",
    )
    station_import.add_argument("file", help="the CSV file, or - for standard input")
    station_import.add_argument(
        "--skip-existing", action="store_true", help="leave stations that exist as they are"
    )
    listing(station_commands.add_parser("list", help="list stations"))
    show = station_commands.add_parser("show", help="a station and its connectors")
    show.add_argument("id")
    show.add_argument("--json", action="store_true")
    for name, text in (
        ("remove", "delete a station that has no sessions"),
        ("accept", "answer the station's BootNotification with Accepted"),
        ("reject", "answer the station's BootNotification with Rejected"),
        ("pend", "answer the station's BootNotification with Pending"),
        ("clear-secret", "let the station connect without credentials"),
    ):
        station_commands.add_parser(name, help=text).add_argument("id")
    set_secret = station_commands.add_parser("set-secret", help="set the basic-auth password")
    set_secret.add_argument("id")
    group = set_secret.add_mutually_exclusive_group()
    group.add_argument("--secret")
    group.add_argument("--generate-secret", action="store_true")
    set_flags = station_commands.add_parser("set", help="change a station's settings")
    set_flags.add_argument("id")
    set_flags.add_argument("--assume-ocpp16", choices=("yes", "no"))
    set_flags.add_argument("--lenient", nargs="*", metavar="FLAG")
    set_flags.add_argument("--description")
    set_flags.add_argument(
        "--meter-public-key",
        metavar="HEX",
        help="the public key of the station's meter, hex ('' clears it)",
    )
    for name, text in (
        ("events", "boot, connection and notification history"),
        ("messages", "the raw OCPP message log"),
    ):
        sub = station_commands.add_parser(name, help=text)
        sub.add_argument("id")
        sub.add_argument("--limit", type=int, default=50)
        sub.add_argument("--json", action="store_true")
    station.set_defaults(run=cmd_station)

    # The multi-entity kernel's commands live in their own modules.
    from csms import (
        cli_access,
        cli_billing,
        cli_crm,
        cli_media,
        cli_nodes,
        cli_security,
        cli_tariff,
    )

    for module in (
        cli_crm,
        cli_media,
        cli_access,
        cli_nodes,
        cli_security,
        cli_tariff,
        cli_billing,
    ):
        module.register(commands, listing)

    session = commands.add_parser("session", help="charging sessions")
    session_commands = session.add_subparsers(dest="session_command", required=True)
    session_list = session_commands.add_parser("list", help="list sessions, newest first")
    listing(session_list)
    session_list.add_argument("--station", help="only this charge point id")
    session_list.add_argument("--status", choices=("active", "completed"))
    session_show = session_commands.add_parser("show", help="a session with its meter values")
    session_show.add_argument("id", type=int, help="transaction id")
    session_show.add_argument("--json", action="store_true")
    stale = session_commands.add_parser(
        "stale", help="open sessions the stale-session rule would close"
    )
    stale.add_argument("--close", action="store_true", help="close them now")
    session.set_defaults(run=cmd_session)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = get_settings()
    except SettingsError as error:
        print(f"csms: {error}", file=sys.stderr)
        return 2
    _configure_logging(settings)
    try:
        return int(args.run(args, settings))
    except CommandError as error:
        print(f"csms: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
