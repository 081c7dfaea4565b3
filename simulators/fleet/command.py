"""The ``load`` and ``provision`` commands of ``python -m simulators``.

``load`` runs a fleet against a server and writes ``report.json`` and
``report.html`` to ``--report-dir``, printing a table to stdout and a progress
line to stderr. ``provision`` writes the CSV files the server imports
(``csms station import``, ``csms tag import``) for the same names.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

from simulators.common import station_url
from simulators.fleet.html_report import write_html
from simulators.fleet.identities import FleetNames, write_stations_csv, write_tags_csv
from simulators.fleet.progress import Progress
from simulators.fleet.report import build_report, render_table, write_json
from simulators.fleet.runner import FleetOptions, run_fleet
from simulators.fleet.scenario import ScenarioError, builtin_scenarios, load_scenario

__all__ = ["add_fleet_commands", "run_fleet_command"]

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

_LOAD_EPILOG = """\
The stations are named <id-prefix>00001, <id-prefix>00002, ... and use one id tag per
connector, <tag-prefix>00001-1, <tag-prefix>00001-2, ...; `provision` writes the CSV
files that register exactly these with the server.

exit status: 0 the run completed; 1 no station could connect; 2 bad arguments or
scenario; 130 interrupted twice (the first Ctrl-C ends the load phase early and still
writes the report)."""


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {text}")
    return value


def _add_names(parser: argparse.ArgumentParser, password_flag: str) -> None:
    parser.add_argument("--connectors", type=_positive_int, default=2, help="per station (2)")
    parser.add_argument("--id-prefix", default="FLEET-", help="station id prefix (FLEET-)")
    parser.add_argument("--tag-prefix", default="FT-", help="id tag prefix (FT-)")
    parser.add_argument(
        password_flag,
        dest="password_template",
        default=None,
        help="HTTP Basic auth password of every station; {id} is replaced by the station "
        "id, e.g. 'secret-{id}-0123' (default: no password)",
    )


def add_fleet_commands(kinds: Any) -> None:
    """Adds ``load`` and ``provision`` to the ``python -m simulators`` subcommands."""
    load = kinds.add_parser(
        "load",
        help="a fleet of OCPP 1.6J chargers in one process (load test)",
        description="Run thousands of simulated OCPP 1.6J chargers against a server and "
        "report connections, calls, latency and what the server accepted.",
        epilog=_LOAD_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    load.add_argument("--url", required=True, help="e.g. ws://127.0.0.1:9000/ocpp")
    load.add_argument("--stations", type=_positive_int, default=100, help="(100)")
    load.add_argument(
        "--duration", type=_non_negative_float, default=60.0, help="seconds of load (60)"
    )
    load.add_argument(
        "--scenario",
        default="busy-evening",
        help=f"a name ({', '.join(builtin_scenarios())}) or a TOML file (busy-evening)",
    )
    load.add_argument(
        "--ramp",
        type=_non_negative_float,
        default=None,
        help="stations started per second; 0: all at once (default: the scenario's)",
    )
    _add_names(load, "--password")
    load.add_argument("--seed", type=int, default=1, help="random seed (1)")
    load.add_argument(
        "--report-dir", type=Path, default=Path("fleet-report"), help="(./fleet-report)"
    )
    load.add_argument("-q", "--quiet", action="store_true", help="no progress line")

    provision = kinds.add_parser(
        "provision",
        help="CSV files registering a fleet's stations and id tags with the server",
        description="Write stations.csv (charge_point_id,secret) for `csms station import` "
        "and tags.csv (uid) for `csms tag import`, with the names `load` uses.",
    )
    provision.add_argument("--stations", type=_positive_int, required=True)
    _add_names(provision, "--password-template")
    provision.add_argument("--stations-csv", type=Path, required=True)
    provision.add_argument("--tags-csv", type=Path, required=True)


def run_fleet_command(args: argparse.Namespace) -> int:
    if args.kind == "provision":
        return _provision(args)
    return _load(args)


def _names(args: argparse.Namespace) -> FleetNames | None:
    names = FleetNames(args.id_prefix, args.tag_prefix, args.password_template)
    try:
        names.check(args.stations, args.connectors)
        if args.kind == "load":
            station_url(args.url, names.station_id(1))
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return None
    return names


def _provision(args: argparse.Namespace) -> int:
    names = _names(args)
    if names is None:
        return EXIT_USAGE
    try:
        stations = write_stations_csv(args.stations_csv, names, args.stations)
        tags = write_tags_csv(args.tags_csv, names, args.stations, args.connectors)
    except OSError as error:
        print(f"error: cannot write {error.filename}: {error.strerror}", file=sys.stderr)
        return 1
    print(f"wrote {stations} stations to {args.stations_csv} and {tags} id tags to {args.tags_csv}")
    print(
        f"register them: csms station import {args.stations_csv} && csms tag import {args.tags_csv}"
    )
    return 0


def _load(args: argparse.Namespace) -> int:
    names = _names(args)
    if names is None:
        return EXIT_USAGE
    try:
        scenario = load_scenario(args.scenario)
    except ScenarioError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    options = FleetOptions(
        url=args.url,
        stations=args.stations,
        duration=args.duration,
        scenario=scenario,
        connectors=args.connectors,
        ramp=args.ramp,
        names=names,
        seed=args.seed,
    )
    try:
        args.report_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        print(f"error: cannot create {args.report_dir}: {error.strerror}", file=sys.stderr)
        return EXIT_USAGE
    _raise_open_file_limit()
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s"
    )
    try:
        return _run(_load_async(options, args))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


async def _load_async(options: FleetOptions, args: argparse.Namespace) -> int:
    progress = None if args.quiet else Progress(sys.stderr, options.stations)
    stop = asyncio.Event()
    with _stop_on_first_signal(stop):
        try:
            result = await run_fleet(
                options, on_started=progress.attach if progress else None, stop=stop
            )
        finally:
            if progress is not None:
                await progress.stop()
    report = build_report(result)
    report["run"]["interrupted"] = stop.is_set()
    json_path = args.report_dir / "report.json"
    html_path = args.report_dir / "report.html"
    write_json(report, json_path)
    write_html(report, html_path)
    sys.stdout.write(render_table(report))
    sys.stdout.write(f"\nreports: {json_path} {html_path}\n")
    sys.stdout.flush()
    return int(report["exit_status"])


@contextlib.contextmanager
def _stop_on_first_signal(stop: asyncio.Event) -> Iterator[None]:
    """The first SIGINT/SIGTERM ends the load phase (and the report is still written);
    the handler is then removed, so a second one interrupts."""
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []

    def first() -> None:
        stop.set()
        while installed:
            loop.remove_signal_handler(installed.pop())

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, first)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):
            pass
    try:
        yield
    finally:
        while installed:
            loop.remove_signal_handler(installed.pop())


def _run(coroutine: Coroutine[Any, Any, int]) -> int:
    """Runs on uvloop when it is installed (it halves the CPU per frame), else asyncio."""
    factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    try:
        import uvloop
    except ImportError:
        pass
    else:
        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coroutine)


def _raise_open_file_limit() -> None:
    """Thousands of sockets need more descriptors than the usual soft limit of 1024."""
    try:
        import resource
    except ImportError:  # not on Windows
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
