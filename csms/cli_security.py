"""``csms station security`` and ``csms ca init``: a station's OCPP security
profile, and a CA with a server certificate for the gateway's TLS listener
(see :mod:`csms.cli` for the conventions).

``csms station security ID --profile N`` stores the profile directly, raised
or lowered, without telling the charger (for stations configured on site,
or to undo a raise); to have a connected charger switch, use the API's
``POST /api/v1/stations/{id}/security/profile``, which only raises. The CLI
runs outside any node: a running gateway reads the change within 30 s (its
station cache); the API's changes count at once on its node.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from csms.settings import Settings


def cmd_station_security(args: argparse.Namespace, settings: Settings) -> int:
    from crm.access import system_principal
    from crm.errors import InvalidInput, NotFound
    from crm.storage.tree import load_tree
    from csms.cli import CommandError, _print_json, _run_async
    from csms.commands.service import CommandService
    from csms.domain.station_admin import IgnoreStationChanges, StationAdmin
    from csms.domain.station_security import SecurityProfileUpdate, StationSecurity
    from csms.storage.access import PiccoloStationStore
    from csms.storage.security import PiccoloSecurityStore

    async def main() -> int:
        principal = system_principal(await load_tree())
        security = StationSecurity(PiccoloSecurityStore(), CommandService())
        try:
            station = await StationAdmin(
                PiccoloStationStore(), IgnoreStationChanges()
            ).find_station(principal, args.id)
            if args.profile is None:
                state = await security.state(principal, station.id)
            else:
                state = await security.set_profile(
                    principal, station.id, SecurityProfileUpdate(security_profile=args.profile)
                )
        except (InvalidInput, NotFound) as error:
            raise CommandError(str(error)) from None
        if args.json:
            _print_json(state)
            return 0
        print(f"station {state.charge_point_id} (id {state.station_id})")
        print(f"  security profile  {state.security_profile}")
        print(f"  basic-auth secret {'set' if state.has_secret else 'none'}")
        if state.previous_secret_admitted:
            print("  previous secret   still admitted (until it connects with the new one)")
        if args.profile is not None:
            print("(stored; the charger is not told. A running gateway applies it within 30 s)")
        return 0

    return _run_async(main)


def cmd_ca_init(args: argparse.Namespace, settings: Settings) -> int:
    from cryptography.hazmat.primitives.asymmetric import ec

    from csms.cli import CommandError
    from csms.domain.certificates import (
        CertificateAuthority,
        certificate_pem,
        create_ca,
        key_pem,
    )

    directory = Path(args.dir)
    files = {
        name: directory / name for name in ("ca.pem", "ca-key.pem", "server.pem", "server-key.pem")
    }
    existing = [str(path) for path in files.values() if path.exists()]
    if existing:
        raise CommandError(f"will not overwrite {', '.join(existing)}")
    directory.mkdir(parents=True, exist_ok=True)
    ca_certificate, ca_key = create_ca(args.name, validity_days=args.ca_days)
    ca = CertificateAuthority(ca_certificate, ca_key, validity_days=args.days)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = ca.issue_server_certificate(args.host, server_key)

    def write(path: Path, data: bytes, private: bool = False) -> None:
        path.write_bytes(data)
        if private:
            os.chmod(path, 0o600)

    write(files["ca.pem"], certificate_pem(ca_certificate))
    write(files["ca-key.pem"], key_pem(ca_key), private=True)
    # The chain a TLS server presents: its certificate, then the CA's.
    write(files["server.pem"], certificate_pem(server) + certificate_pem(ca_certificate))
    write(files["server-key.pem"], key_pem(server_key), private=True)
    print(f"CA {args.name!r} and a server certificate for {', '.join(args.host)} in {directory}")
    print("settings:")
    print(f"  CSMS_CA_CERT={files['ca.pem']}")
    print(f"  CSMS_CA_KEY={files['ca-key.pem']}")
    print(f"  CSMS_OCPP_TLS_CERT={files['server.pem']}")
    print(f"  CSMS_OCPP_TLS_KEY={files['server-key.pem']}")
    print(f"  CSMS_OCPP_TLS_CLIENT_CA={files['ca.pem']}")
    return 0


def _station_parser(commands: Any) -> Any:
    station = commands.choices["station"]
    for action in station._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    raise RuntimeError("csms station has no subcommands")


def register(commands: Any, listing: Callable[[argparse.ArgumentParser], None]) -> None:
    security = _station_parser(commands).add_parser(
        "security",
        help="a station's OCPP security profile (show, or set with --profile)",
        description="Security profiles: 1 basic auth (ws or wss), 2 TLS with basic auth, "
        "3 TLS with a client certificate whose subject CN is the charge point id. "
        "--profile stores any value directly; the charger is not told.",
    )
    security.add_argument("id", help="the charge point id")
    security.add_argument("--profile", type=int, choices=(1, 2, 3))
    security.add_argument("--json", action="store_true")
    security.set_defaults(run=cmd_station_security)

    ca = commands.add_parser("ca", help="the CA that signs chargers' certificates")
    ca_commands = ca.add_subparsers(dest="ca_command", required=True)
    init = ca_commands.add_parser(
        "init",
        help="create a CA and a TLS server certificate for the gateway",
        description="Writes ca.pem, ca-key.pem, server.pem (chain) and server-key.pem "
        "(ECDSA P-256) into DIR and prints the settings that use them.",
    )
    init.add_argument("--dir", required=True, help="directory for the PEM files")
    init.add_argument("--name", default="CSMS Root CA", help="the CA's common name")
    init.add_argument(
        "--host",
        action="append",
        required=True,
        help="a host name or IP address of the gateway (repeat for several)",
    )
    init.add_argument("--ca-days", type=int, default=3650, help="the CA's validity")
    init.add_argument("--days", type=int, default=365, help="the server certificate's validity")
    init.set_defaults(run=cmd_ca_init)
