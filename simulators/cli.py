"""Command line: ``python -m simulators cp16 --url ... --id ... {session,idle}``.

Step lines (every OCPP frame sent and received, plus notes) go to stderr; the JSON
summary goes to stdout, so ``python -m simulators ... | jq`` works.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from typing import Any, TextIO

from ocpp.exceptions import OCPPError
from websockets.exceptions import WebSocketException

from simulators.common import FrameEvent, format_frame, station_url, utc_now, wait_event
from simulators.fleet.command import add_fleet_commands, run_fleet_command
from simulators.ocpp16 import ChargePoint16, ConnectionLostError, SimulatorError, connect16
from simulators.ocpp201 import ChargingStation201, IdTokenRefusedError, Transaction201, connect201

__all__ = ["build_parser", "main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_BOOT_NOT_ACCEPTED = 3
EXIT_ID_TAG_REFUSED = 4
EXIT_INTERRUPTED = 130

_STOP_REASONS = (
    "EmergencyStop",
    "EVDisconnected",
    "HardReset",
    "Local",
    "Other",
    "PowerLoss",
    "Reboot",
    "Remote",
    "SoftReset",
    "UnlockCommand",
    "DeAuthorized",
)

_CP16_DESCRIPTION = """\
Simulate one OCPP 1.6J charge point (or, with --ocpp 2.0.1, one OCPP 2.0.1
charging station) against a Central System.

The charge point connects to <url>/<id> with the subprotocol ocpp1.6 (HTTP Basic
auth when a password is given), boots, and answers the calls a server makes
(RemoteStart/StopTransaction, Reset, GetConfiguration, ChangeConfiguration,
TriggerMessage, ReserveNow, SetChargingProfile, UpdateFirmware, ...).

Every frame is printed to stderr as it goes by; a JSON summary is printed to
stdout at the end."""

_CP16_EPILOG = """\
modes:
  session   boot, StatusNotification Available for each connector, then charge:
            Preparing, Authorize, StartTransaction, Charging, MeterValues,
            StopTransaction, Finishing, Available (repeated with --sessions)
  idle      boot, StatusNotification Available for each connector, Heartbeat,
            then answer server calls until --duration ends or Ctrl-C

exit status:
  0  success
  1  a call failed (CALLERROR, invalid answer, timeout, connection lost/refused)
  2  bad command line
  3  the boot was not accepted (Rejected, or still Pending after --boot-wait)
  4  the server refused the id tag of a session
  130 interrupted (in session mode the first Ctrl-C still stops the session
      with a StopTransaction; in idle mode Ctrl-C is a normal end, exit 0)

examples:
  python -m simulators cp16 --url ws://127.0.0.1:9000/ocpp --id CP-1 \\
      session --id-tag TAG1 --duration 60 --meter-interval 10
  python -m simulators cp16 --url ws://127.0.0.1:9000/ocpp --id CP-1 --password s3cret \\
      --connectors 2 idle --duration 600
  python -m simulators cp16 --ocpp 2.0.1 --url ws://127.0.0.1:9000/ocpp --id CS-1 \\
      session --id-tag TAG1 --duration 60 --meter-interval 10

OCPP 2.0.1: --connectors is the number of EVSEs (one connector each), --connector
the EVSE of the session; the session is TransactionEvent Started / Updated /
Ended; the station answers RequestStart/StopTransaction, Reset (it reconnects
and boots again), GetVariables/SetVariables, GetBaseReport, UpdateFirmware,
GetLog ... and reconnects on its own when the connection drops."""


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m simulators",
        description="Simulated OCPP charge points for exercising a CSMS.",
    )
    kinds = parser.add_subparsers(dest="kind", required=True, metavar="{cp16,load,provision}")
    cp16 = kinds.add_parser(
        "cp16",
        help="one OCPP 1.6J charge point",
        description=_CP16_DESCRIPTION,
        epilog=_CP16_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cp16.add_argument(
        "--url",
        required=True,
        help="base URL of the server, e.g. ws://127.0.0.1:9000/ocpp; the station id is "
        "appended as the last path segment (URL-encoded)",
    )
    cp16.add_argument(
        "--id", required=True, dest="station_id", help="station id (charge point identity)"
    )
    cp16.add_argument(
        "--password",
        default=os.environ.get("OCPP_SIM_PASSWORD"),
        help="HTTP Basic auth password, user name = station id (default: $OCPP_SIM_PASSWORD)",
    )
    cp16.add_argument(
        "--ocpp",
        choices=("1.6", "2.0.1"),
        default="1.6",
        help="OCPP version: 1.6 (subprotocol ocpp1.6, default) or 2.0.1 (ocpp2.0.1)",
    )
    cp16.add_argument(
        "--ca-file",
        default=None,
        help="PEM file of the CA(s) to trust for a wss:// URL (default: the system's)",
    )
    cp16.add_argument("--connectors", type=_positive_int, default=1, help="default: 1")
    cp16.add_argument("--vendor", default="SimVendor", help="chargePointVendor (SimVendor)")
    cp16.add_argument("--model", default="Sim-1", help="chargePointModel (Sim-1)")
    cp16.add_argument("--serial", default=None, help="chargePointSerialNumber (none)")
    cp16.add_argument("--firmware", default="1.0", help="firmwareVersion (1.0)")
    cp16.add_argument(
        "--response-timeout",
        type=float,
        default=30.0,
        help="seconds to wait for each answer of the server (default: 30)",
    )
    cp16.add_argument(
        "--boot-wait",
        type=_non_negative_float,
        default=60.0,
        help="seconds to keep retrying while the boot is Pending (default: 60)",
    )
    cp16.add_argument(
        "--remote-duration",
        type=_non_negative_float,
        default=None,
        help="seconds a session started by RemoteStartTransaction charges "
        "(default: until RemoteStopTransaction)",
    )
    cp16.add_argument(
        "--remote-meter-interval",
        type=_non_negative_float,
        default=None,
        help="MeterValues interval of remotely started sessions "
        "(default: the MeterValueSampleInterval key, 60)",
    )
    cp16.add_argument(
        "-q", "--quiet", action="store_true", help="no step lines, only the JSON summary"
    )
    cp16.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="-v: print payloads in full; -vv: also the library's logs",
    )
    modes = cp16.add_subparsers(dest="mode", required=True, metavar="{session,idle}")

    session = modes.add_parser(
        "session",
        help="boot, then run charging session(s)",
        description="Boot, report each connector Available, then run charging session(s).",
    )
    session.add_argument("--id-tag", required=True, help="idTag presented for the session(s)")
    session.add_argument("--connector", type=_positive_int, default=1, help="default: 1")
    session.add_argument(
        "--duration",
        type=_non_negative_float,
        default=60.0,
        help="seconds of charging per session (default: 60)",
    )
    session.add_argument(
        "--meter-interval",
        type=_non_negative_float,
        default=10.0,
        help="seconds between periodic MeterValues, fractions allowed; 0: none (default: 10)",
    )
    session.add_argument(
        "--power", type=_non_negative_float, default=11000.0, help="charging power, W (11000)"
    )
    session.add_argument("--sessions", type=_positive_int, default=1, help="how many (1)")
    session.add_argument(
        "--pause", type=_non_negative_float, default=0.0, help="seconds between sessions (0)"
    )
    session.add_argument(
        "--meter-start",
        type=int,
        default=None,
        help="energy register (Wh) at the start of the first session (default: 0)",
    )
    session.add_argument(
        "--stop-reason",
        choices=_STOP_REASONS,
        default="Local",
        metavar="REASON",
        help="StopTransaction reason when the duration ends: "
        + ", ".join(_STOP_REASONS)
        + " (default: Local)",
    )

    idle = modes.add_parser(
        "idle",
        help="boot and answer server calls",
        description="Boot, report each connector Available, send a Heartbeat, then answer "
        "server calls (heartbeats continue) until the duration ends or Ctrl-C.",
    )
    idle.add_argument(
        "--duration",
        type=_non_negative_float,
        default=600.0,
        help="seconds to stay connected; 0: until Ctrl-C (default: 600)",
    )
    add_fleet_commands(kinds)
    return parser


class _Console:
    """Prints step lines to stderr and counts frames."""

    def __init__(self, stream: TextIO, *, quiet: bool, full: bool) -> None:
        self.stream = stream
        self.quiet = quiet
        self.full = full
        self.counts = {"calls_sent": 0, "answers_received": 0, "errors_received": 0}
        self.counts |= {"server_calls_received": 0, "server_calls_answered": 0}

    def frame(self, event: FrameEvent) -> None:
        if event.kind == "call":
            key = "calls_sent" if event.direction == "sent" else "server_calls_received"
            self.counts[key] += 1
        elif event.direction == "received":
            key = "answers_received" if event.kind == "result" else "errors_received"
            self.counts[key] += 1
        else:
            self.counts["server_calls_answered"] += 1
        if not self.quiet:
            self._print(format_frame(event, max_payload=None if self.full else 300))

    def note(self, station_id: str, text: str) -> None:
        if not self.quiet:
            now = utc_now()
            clock = now.strftime("%H:%M:%S.") + f"{now.microsecond // 1000:03d}"
            self._print(f"{clock} {station_id} ** {text}")

    def _print(self, line: str) -> None:
        print(line, file=self.stream, flush=True)


@contextlib.contextmanager
def _stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    """The first SIGINT/SIGTERM sets ``stop`` (a graceful end); a second one interrupts.

    Where the loop cannot handle signals (Windows) Ctrl-C simply interrupts.
    """
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []

    def uninstall() -> None:
        while installed:
            loop.remove_signal_handler(installed.pop())

    def first_signal() -> None:
        stop.set()
        uninstall()

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, first_signal)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):
            pass
    try:
        yield
    finally:
        uninstall()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OCPPError):
        details = f" {exc.details}" if exc.details else ""
        return f"{type(exc).__name__}: {exc.description}{details}"
    if isinstance(exc, TimeoutError):
        return f"timeout: {exc}" if str(exc) else "timeout waiting for the server"
    return f"{type(exc).__name__}: {exc}"


async def _session_mode(
    cp: ChargePoint16, args: argparse.Namespace, console: _Console, summary: dict[str, Any]
) -> int:
    if args.connector not in cp.connectors:
        raise SimulatorError(f"--connector {args.connector} but only {len(cp.connectors)}")
    for number in cp.connectors:
        await cp.status(number, "Available")
    connector = cp.connectors[args.connector]
    stop = asyncio.Event()

    async def end_session_on_signal() -> None:
        await stop.wait()
        console.note(cp.id, "interrupted: stopping the session (Ctrl-C again to abort)")
        connector.stop_reason = "Local"
        connector.wake.set()

    code = EXIT_OK
    watcher = asyncio.ensure_future(end_session_on_signal())
    try:
        with _stop_on_signals(stop):
            for n in range(1, args.sessions + 1):
                if n > 1 and args.pause and await wait_event(stop, args.pause):
                    break
                console.note(cp.id, f"session {n}/{args.sessions} on connector {args.connector}")
                report = await cp.run_session(
                    args.connector,
                    id_tag=args.id_tag,
                    duration=args.duration,
                    meter_interval=args.meter_interval,
                    power_w=args.power,
                    meter_start=args.meter_start if n == 1 else None,
                    stop_reason=args.stop_reason,
                )
                summary["sessions"].append(report.to_dict())
                if report.id_tag_status != "Accepted":
                    console.note(cp.id, f"id tag {args.id_tag} refused: {report.id_tag_status}")
                    code = EXIT_ID_TAG_REFUSED
                    break
                console.note(
                    cp.id,
                    f"session {n} done: transaction {report.transaction_id}, "
                    f"{report.energy_wh} Wh, {report.meter_values_sent} MeterValues",
                )
                if stop.is_set():
                    break
    finally:
        watcher.cancel()
    if stop.is_set():
        summary["interrupted"] = True
        code = EXIT_INTERRUPTED
    return code


async def _idle_mode(
    cp: ChargePoint16, args: argparse.Namespace, console: _Console, summary: dict[str, Any]
) -> int:
    for number in cp.connectors:
        await cp.status(number, "Available")
    await cp.heartbeat()
    stop = asyncio.Event()
    lost = asyncio.ensure_future(cp.wait_connection_lost())
    stopped = asyncio.ensure_future(wait_event(stop, args.duration or None))
    until = f"for {args.duration:g} s" if args.duration else "until Ctrl-C"
    console.note(cp.id, f"idle {until}; answering server calls")
    try:
        with _stop_on_signals(stop):
            await asyncio.wait((lost, stopped), return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
        lost.cancel()
    summary["sessions"] = [report.to_dict() for report in cp.sessions]
    if lost.done() and not lost.cancelled():
        reason = lost.result()
        raise ConnectionLostError(f"the server closed the connection: {reason}")
    return EXIT_OK


def _read_text(path: str) -> str:
    with open(path) as handle:
        return handle.read()


def _tls_options(args: argparse.Namespace) -> dict[str, Any]:
    if not getattr(args, "ca_file", None):
        return {}
    import ssl

    return {"ssl": ssl.create_default_context(cafile=args.ca_file)}


async def run_cp16(
    args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    out = out or sys.stdout
    console = _Console(err or sys.stderr, quiet=args.quiet, full=args.verbose > 0)
    summary: dict[str, Any] = {
        "station_id": args.station_id,
        "url": station_url(args.url, args.station_id),
        "mode": args.mode,
        "ok": False,
        "exit_code": EXIT_FAILED,
        "boot": None,
        "sessions": [],
        "frames": console.counts,
        "error": None,
    }
    cp_options: dict[str, Any] = {
        "remote_session_duration": args.remote_duration,
        "remote_meter_interval": args.remote_meter_interval,
    }
    if args.mode == "session":
        # the hardware limit (22 kW by default) must not silently cap --power
        cp_options["max_power_w"] = max(22_000.0, args.power)
    code = EXIT_FAILED
    try:
        async with connect16(
            args.url,
            args.station_id,
            password=args.password,
            connectors=args.connectors,
            response_timeout=args.response_timeout,
            observer=console.frame,
            cp_options=cp_options,
            **_tls_options(args),
        ) as cp:
            boot = await cp.boot(
                vendor=args.vendor, model=args.model, serial=args.serial, firmware=args.firmware
            )
            summary["boot"] = {
                "status": boot.status,
                "interval": boot.interval,
                "current_time": boot.current_time,
            }
            if boot.status == "Pending":
                console.note(cp.id, f"boot Pending; retrying for up to {args.boot_wait:g} s")
                if await cp.wait_accepted(args.boot_wait):
                    summary["boot"]["status"] = cp.registration_status
            if cp.registration_status != "Accepted":
                summary["error"] = f"boot not accepted: {cp.registration_status}"
                code = EXIT_BOOT_NOT_ACCEPTED
            elif args.mode == "session":
                code = await _session_mode(cp, args, console, summary)
            else:
                code = await _idle_mode(cp, args, console, summary)
    except (
        OCPPError,
        TimeoutError,
        OSError,
        SimulatorError,
        WebSocketException,
        ValueError,
    ) as exc:
        summary["error"] = _describe(exc)
        console.note(args.station_id, f"failed: {summary['error']}")
        code = EXIT_FAILED
    summary["ok"] = code == EXIT_OK
    summary["exit_code"] = code
    print(json.dumps(summary, indent=2, default=str), file=out, flush=True)
    return code


_STOP_REASONS_201 = {
    "HardReset": "ImmediateReset",
    "SoftReset": "ImmediateReset",
    "UnlockCommand": "Other",
}


def _transaction_summary(tx: Transaction201) -> dict[str, Any]:
    meter_stop = tx.meter_stop
    return {
        "transaction_id": tx.transaction_id,
        "evse_id": tx.evse_id,
        "id_token": (tx.id_token or {}).get("id_token"),
        "id_token_status": tx.id_token_status,
        "started_at": tx.started_at.isoformat(),
        "meter_start": tx.meter_start,
        "meter_stop": meter_stop,
        "energy_wh": None if meter_stop is None else meter_stop - tx.meter_start,
        "stopped_reason": tx.stopped_reason,
        "events_sent": len(tx.events),
        "remote_start_id": tx.remote_start_id,
    }


async def _session_mode_201(
    cs: ChargingStation201, args: argparse.Namespace, console: _Console, summary: dict[str, Any]
) -> int:
    if args.connector not in cs.evses:
        raise SimulatorError(f"--connector {args.connector} but only {len(cs.evses)} EVSEs")
    await cs.announce()
    stop = asyncio.Event()
    reason = _STOP_REASONS_201.get(args.stop_reason, args.stop_reason)
    code = EXIT_OK
    with _stop_on_signals(stop):
        for n in range(1, args.sessions + 1):
            if n > 1 and args.pause and await wait_event(stop, args.pause):
                break
            console.note(cs.id, f"transaction {n}/{args.sessions} on EVSE {args.connector}")
            try:
                tx = await cs.start_transaction(
                    args.connector,
                    id_token=args.id_tag,
                    meter_interval=args.meter_interval,
                    power_w=args.power,
                    meter_start=args.meter_start if n == 1 else None,
                )
            except IdTokenRefusedError as exc:
                console.note(cs.id, f"id token {args.id_tag} refused: {exc.status}")
                summary["sessions"].append({"id_token": args.id_tag, "id_token_status": exc.status})
                code = EXIT_ID_TAG_REFUSED
                break
            ended = asyncio.ensure_future(tx.done.wait())
            interrupted = asyncio.ensure_future(stop.wait())
            try:
                await asyncio.wait(
                    (ended, interrupted),
                    timeout=args.duration,
                    return_when=asyncio.FIRST_COMPLETED,
                )
            finally:
                ended.cancel()
                interrupted.cancel()
            if not tx.done.is_set():
                await cs.stop_transaction(args.connector, reason=reason)
            summary["sessions"].append(_transaction_summary(tx))
            console.note(cs.id, f"transaction {n} done: {tx.transaction_id}")
            if stop.is_set():
                break
    if stop.is_set():
        summary["interrupted"] = True
        code = EXIT_INTERRUPTED
    return code


async def _idle_mode_201(
    cs: ChargingStation201, args: argparse.Namespace, console: _Console, summary: dict[str, Any]
) -> int:
    await cs.announce()
    await cs.heartbeat()
    stop = asyncio.Event()
    until = f"for {args.duration:g} s" if args.duration else "until Ctrl-C"
    console.note(cs.id, f"idle {until}; answering CSMS calls (reconnecting if dropped)")
    with _stop_on_signals(stop):
        await wait_event(stop, args.duration or None)
    summary["sessions"] = [_transaction_summary(tx) for tx in cs.transactions.values()]
    return EXIT_OK


async def run_cs201(
    args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """``cp16 --ocpp 2.0.1``: one OCPP 2.0.1 charging station, same modes and summary."""
    out = out or sys.stdout
    console = _Console(err or sys.stderr, quiet=args.quiet, full=args.verbose > 0)
    summary: dict[str, Any] = {
        "station_id": args.station_id,
        "url": station_url(args.url, args.station_id),
        "ocpp": "2.0.1",
        "mode": args.mode,
        "ok": False,
        "exit_code": EXIT_FAILED,
        "boot": None,
        "sessions": [],
        "frames": console.counts,
        "error": None,
    }
    options: dict[str, Any] = {
        "password": args.password,
        "evses": args.connectors,
        "response_timeout": args.response_timeout,
        "observer": console.frame,
        "vendor": args.vendor,
        "model": args.model,
        "serial": args.serial,
        "firmware_version": args.firmware,
        "remote_session_duration": args.remote_duration,
        "meter_interval": args.remote_meter_interval,
    }
    if args.ca_file:
        options["ca_certificates"] = _read_text(args.ca_file)
    if args.mode == "session":
        options["max_power_w"] = max(22_000.0, args.power)
    code = EXIT_FAILED
    try:
        async with connect201(args.url, args.station_id, **options) as cs:
            boot = await cs.boot()
            summary["boot"] = {
                "status": boot.status,
                "interval": boot.interval,
                "current_time": boot.current_time,
            }
            if boot.status == "Pending":
                console.note(cs.id, f"boot Pending; retrying for up to {args.boot_wait:g} s")
                if await cs.wait_accepted(args.boot_wait):
                    summary["boot"]["status"] = cs.registration_status
            if cs.registration_status != "Accepted":
                summary["error"] = f"boot not accepted: {cs.registration_status}"
                code = EXIT_BOOT_NOT_ACCEPTED
            elif args.mode == "session":
                code = await _session_mode_201(cs, args, console, summary)
            else:
                code = await _idle_mode_201(cs, args, console, summary)
    except (
        OCPPError,
        TimeoutError,
        OSError,
        SimulatorError,
        WebSocketException,
        ValueError,
    ) as exc:
        summary["error"] = _describe(exc)
        console.note(args.station_id, f"failed: {summary['error']}")
        code = EXIT_FAILED
    summary["ok"] = code == EXIT_OK
    summary["exit_code"] = code
    print(json.dumps(summary, indent=2, default=str), file=out, flush=True)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.kind in ("load", "provision"):
        return run_fleet_command(args)
    level = logging.WARNING if args.verbose < 2 else logging.INFO
    if args.verbose >= 3:
        level = logging.DEBUG
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.verbose < 2:
        # the library logs every frame at INFO; the step lines already show them
        logging.getLogger("ocpp").setLevel(logging.WARNING)
    try:
        if args.ocpp == "2.0.1":
            return asyncio.run(run_cs201(args))
        return asyncio.run(run_cp16(args))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
