"""``csms ca init`` and ``csms station security``, run as an operator runs them."""

from __future__ import annotations

import json
import ssl
from pathlib import Path

from csms.storage.stations import PiccoloStationAdmin
from tests.e2e.conftest import StartNode
from tests.e2e.test_cli import csms
from tests.e2e.test_security_profiles import open_station, refused


async def test_ca_init_makes_files_a_node_serves_wss_with(
    start_node: StartNode, tmp_path: Path
) -> None:
    """csms ca init writes a CA and a server certificate for the given hosts;
    a node configured with the settings it prints serves wss that a client
    trusting only that CA accepts, and it will not overwrite the files."""
    made = csms("ca", "init", "--dir", str(tmp_path), "--host", "127.0.0.1", "--host", "localhost")
    assert made.returncode == 0, made.stderr
    settings = dict(line.strip().split("=", 1) for line in made.stdout.splitlines() if "=" in line)
    again = csms("ca", "init", "--dir", str(tmp_path), "--host", "127.0.0.1")
    assert again.returncode == 1 and "will not overwrite" in again.stderr
    await PiccoloStationAdmin().add("CP-1")
    node = await start_node(
        ocpp_tls_port=0,
        **{name.removeprefix("CSMS_").lower(): value for name, value in settings.items()},
    )
    trust = ssl.create_default_context(cafile=settings["CSMS_CA_CERT"])
    station = await open_station(f"wss://127.0.0.1:{node.ocpp_tls_port}/ocpp/CP-1", None, trust)
    await station.close()


async def test_station_security_sets_the_profile_directly(start_node: StartNode) -> None:
    """csms station security ID --profile N stores any profile, raised or
    lowered; a node reads it (here at start) and refuses the station on ws."""
    await PiccoloStationAdmin().add("CP-1")
    raised = csms("station", "security", "CP-1", "--profile", "3", "--json")
    assert raised.returncode == 0, raised.stderr
    assert json.loads(raised.stdout)["security_profile"] == 3
    lowered = csms("station", "security", "CP-1", "--profile", "2")
    assert lowered.returncode == 0 and "security profile  2" in lowered.stdout
    missing = csms("station", "security", "CP-NONE")
    assert missing.returncode == 1 and "CP-NONE" in missing.stderr
    node = await start_node()
    status, body = await refused(f"ws://127.0.0.1:{node.ocpp_port}/ocpp/CP-1")
    assert status == 403 and "TLS" in body
