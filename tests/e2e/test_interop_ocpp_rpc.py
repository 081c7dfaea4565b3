"""Interoperability: a strict third-party OCPP client (mikuso/ocpp-rpc), in
1.6J and in 2.0.1, runs a whole session against a real node."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

from csms.bootstrap import Node
from csms.domain.credentials import hash_secret
from csms.storage.sessions import PiccoloSessionQueries
from csms.storage.stations import PiccoloStationAdmin
from csms.tables import MeterValue, StationVariable
from tests.e2e.conftest import ocpp_url
from tests.media_helpers import allow

CLIENT_DIR = Path(__file__).resolve().parents[1] / "interop" / "ocpp-rpc"
SECRET = "s3cret-s3cret-s3cret"
TIMEOUT = 60.0


def _node_binary() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js (`node`) is not on PATH")
    if not (CLIENT_DIR / "node_modules" / "ocpp-rpc").is_dir():
        pytest.skip("ocpp-rpc is not installed: run `npm ci --prefix tests/interop/ocpp-rpc`")
    return node


async def _run(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *args,
        cwd=CLIENT_DIR,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(TIMEOUT):
            stdout, stderr = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


async def test_strict_ocpp_rpc_client_completes_a_session(node: Node) -> None:
    """A schema-validating ocpp-rpc charge point runs boot to stop plus an
    invalid Authorize without any schema complaint, and the session is stored
    completed with its meter readings and every sampled value it sent."""
    node_binary = _node_binary()
    await PiccoloStationAdmin().add("CP-INTEROP", secret_hash=hash_secret(SECRET))
    await allow("TAG-INTEROP")

    code, stdout, stderr = await _run(
        node_binary, "session.mjs", ocpp_url(node), "CP-INTEROP", "TAG-INTEROP", SECRET
    )
    assert code == 0, f"session.mjs exited {code}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    assert "strictValidationFailure" not in stderr, stderr
    lines = [json.loads(line) for line in stdout.splitlines()]
    report = lines[-1]
    assert report["ok"] is True
    assert report["invalidAuthorizeError"] == "PropertyConstraintViolation"
    assert report["heartbeatInterval"] == node.settings.heartbeat_interval

    session = await PiccoloSessionQueries().get(report["transactionId"])
    assert session.status == "completed"
    assert session.closed_by == "charger"
    assert session.charge_point_id == "CP-INTEROP"
    assert session.id_tag == "TAG-INTEROP"
    assert session.meter_start_wh == report["meterStart"]
    assert session.meter_stop_wh == report["meterStop"]
    assert session.energy_wh == report["meterStop"] - report["meterStart"] > 0
    assert session.stop_reason == "Local"

    stored = await MeterValue.count().where(MeterValue.session == report["transactionId"]).run()
    assert stored == report["sampledValues"] == 23
    values = await PiccoloSessionQueries().meter_values(report["transactionId"])
    assert {v.measurand for v in values} == {
        "Energy.Active.Import.Register",
        "Power.Active.Import",
        "Current.Import",
        "Voltage",
        "SoC",
    }
    assert sorted(v.phase for v in values if v.measurand == "Current.Import") == [
        "L1",
        "L1",
        "L1",
        "L2",
        "L2",
        "L2",
        "L3",
        "L3",
        "L3",
    ]
    contexts = [v.context for v in values]
    assert contexts.count("Transaction.Begin") == contexts.count("Transaction.End") == 1
    assert contexts.count("Sample.Periodic") == 21


async def test_strict_ocpp_rpc_client_completes_a_201_session(node: Node) -> None:
    """A schema-validating ocpp-rpc charging station speaking 2.0.1 runs boot
    to Ended, a device-model report and notifications plus an invalid
    Authorize without any schema complaint; the transaction is stored as a
    completed session like a 1.6 one, readings in Wh (kWh samples included)
    and every sampled value it sent."""
    node_binary = _node_binary()
    await PiccoloStationAdmin().add("CS-INTEROP", secret_hash=hash_secret(SECRET))
    await allow("TAG-INTEROP-201")

    code, stdout, stderr = await _run(
        node_binary, "session201.mjs", ocpp_url(node), "CS-INTEROP", "TAG-INTEROP-201", SECRET
    )
    assert code == 0, f"session201.mjs exited {code}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    assert "strictValidationFailure" not in stderr, stderr
    report = [json.loads(line) for line in stdout.splitlines()][-1]
    assert report["ok"] is True
    assert report["invalidAuthorizeError"] == "PropertyConstraintViolation"
    assert report["heartbeatInterval"] == node.settings.heartbeat_interval

    session = await PiccoloSessionQueries().find_by_charger_transaction(
        "CS-INTEROP", report["transactionId"]
    )
    assert session.status == "completed" and session.closed_by == "charger"
    assert session.connector_id == 1
    assert session.id_tag == "TAG-INTEROP-201" and session.start_auth_status == "Accepted"
    assert session.meter_start_wh == report["meterStart"]
    assert session.meter_stop_wh == report["meterStop"]
    assert session.stop_reason == "Local"
    stored = await MeterValue.count().where(MeterValue.session == session.transaction_id).run()
    assert stored == report["sampledValues"] == 23
    values = await PiccoloSessionQueries().meter_values(session.transaction_id)
    assert [v.value for v in values if v.unit == "kWh"] == ["1251.1", "1252.2", "1253.3"]
    variables = await StationVariable.select(StationVariable.variable).run()
    assert sorted(v["variable"] for v in variables) == ["HeartbeatInterval", "Power"]
