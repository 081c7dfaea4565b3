"""The fleet's OCPP 1.6J encoding: valid 1.6 payloads, row counts, server commands."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import ocpp.v16
import pytest

from simulators.fleet.intents import (
    AuthorizeRequest,
    BootAnswer,
    BootRequest,
    ChangeAvailability,
    ClearCache,
    CommandOutcome,
    GetConfiguration,
    HeartbeatRequest,
    LocalTransaction,
    MeterReport,
    RemoteStart,
    RemoteStop,
    Request,
    ResetStation,
    StartAnswer,
    StatusReport,
    TransactionStart,
    TransactionStop,
    TriggerMessage,
    UnlockConnector,
)
from simulators.fleet.v16 import Ocpp16Encoding, UnencodableError
from simulators.meter import MeterModel

pytestmark = pytest.mark.backend_independent

_SCHEMAS = Path(ocpp.v16.__file__).parent / "schemas"
_AT = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)
_ALL = ("Energy.Active.Import.Register", "Power.Active.Import", "Current.Import", "Voltage", "SoC")


def _validate(action: str, payload: dict[str, Any]) -> None:
    schema = json.loads((_SCHEMAS / f"{action}.json").read_text())
    jsonschema.validate(payload, schema)


def _charging_meter() -> MeterModel:
    meter = MeterModel(energy_wh=1000, phases=3)
    meter.plug_in(soc_percent=40)
    meter.set_power(11_000)
    return meter


def _requests() -> list[Request]:
    transaction = LocalTransaction(1, 2, "FT-00001-2", 1000, _AT, server_id=17)
    sample = _charging_meter().sample(_AT)
    return [
        BootRequest("V", "M", "SN-1", "1.0"),
        HeartbeatRequest(),
        StatusReport(0, "Available", "NoError", _AT),
        StatusReport(2, "Faulted", "GroundFailure", _AT),
        AuthorizeRequest("FT-00001-2"),
        TransactionStart(transaction),
        MeterReport(2, transaction, (sample,), _ALL),
        TransactionStop(transaction, 1200, _AT, "EVDisconnected", sample, sample, _ALL),
    ]


@pytest.mark.parametrize("request_", _requests(), ids=lambda r: type(r).__name__)
def test_every_message_the_fleet_sends_is_valid_against_the_official_1_6_schema(
    request_: Request,
) -> None:
    """Each encoded call validates against OCPP 1.6's JSON schema for its action."""
    encoded = Ocpp16Encoding().encode(request_)
    _validate(encoded.action, encoded.payload)


def test_meter_rows_count_every_sampled_value_as_the_server_stores_them() -> None:
    """Three-phase current and voltage are one sampledValue per phase: 1 energy + 1 power +
    3 current + 3 voltage + 1 SoC = 9 rows per sample; a stop has a Begin and an End sample."""
    encoding = Ocpp16Encoding()
    transaction = LocalTransaction(1, 1, "T", 0, _AT, server_id=5)
    sample = _charging_meter().sample(_AT)
    meter = encoding.encode(MeterReport(1, transaction, (sample, sample), _ALL))
    stop = encoding.encode(TransactionStop(transaction, 1, _AT, "Local", sample, sample, _ALL))
    counted = sum(len(mv["sampledValue"]) for mv in meter.payload["meterValue"])
    assert meter.meter_rows == counted == 18
    assert stop.meter_rows == 18
    contexts = [entry["sampledValue"][0]["context"] for entry in stop.payload["transactionData"]]
    assert contexts == ["Transaction.Begin", "Transaction.End"]


def test_a_transaction_message_without_the_servers_id_cannot_be_encoded() -> None:
    """A stop is never sent with an invented transactionId."""
    transaction = LocalTransaction(1, 1, "T", 0, _AT)
    sample = MeterModel().sample(_AT)
    with pytest.raises(UnencodableError):
        Ocpp16Encoding().encode(TransactionStop(transaction, 0, _AT, "Local", sample, sample, _ALL))


def test_answers_are_decoded_into_neutral_terms() -> None:
    """BootNotification and StartTransaction results become BootAnswer and StartAnswer."""
    encoding = Ocpp16Encoding()
    requests = _requests()
    boot = encoding.decode_answer(
        requests[0], {"status": "Pending", "interval": 30, "currentTime": "2026-11-23T20:00:00Z"}
    )
    assert boot == BootAnswer("Pending", 30)
    start = encoding.decode_answer(
        requests[5], {"transactionId": 99, "idTagInfo": {"status": "ConcurrentTx"}}
    )
    assert start == StartAnswer(99, "ConcurrentTx")
    with pytest.raises(ValueError):
        encoding.decode_answer(requests[5], {"transactionId": "99", "idTagInfo": {}})


@pytest.mark.parametrize(
    ("action", "payload", "command"),
    [
        ("RemoteStartTransaction", {"idTag": "X", "connectorId": 2}, RemoteStart("X", 2)),
        ("RemoteStartTransaction", {"idTag": "X"}, RemoteStart("X", None)),
        ("RemoteStopTransaction", {"transactionId": 7}, RemoteStop(7)),
        ("Reset", {"type": "Soft"}, ResetStation(hard=False)),
        (
            "ChangeAvailability",
            {"connectorId": 0, "type": "Inoperative"},
            ChangeAvailability(0, False),
        ),
        ("GetConfiguration", {}, GetConfiguration(())),
        ("TriggerMessage", {"requestedMessage": "Heartbeat"}, TriggerMessage("Heartbeat", None)),
        ("UnlockConnector", {"connectorId": 1}, UnlockConnector(1)),
        ("ClearCache", {}, ClearCache()),
        ("ReserveNow", {"connectorId": 1}, None),
    ],
)
def test_server_calls_are_decoded_and_unknown_ones_are_not_implemented(
    action: str, payload: dict[str, Any], command: object
) -> None:
    """The server's 1.6 calls become neutral commands; others decode to None (NotImplemented)."""
    assert Ocpp16Encoding().decode_command(action, payload) == command


def test_command_outcomes_are_valid_1_6_responses() -> None:
    """A GetConfiguration outcome and a plain status validate against the response schemas."""
    encoding = Ocpp16Encoding()
    configuration = encoding.encode_outcome(
        GetConfiguration(("HeartbeatInterval", "Nope")),
        CommandOutcome("Accepted", (("HeartbeatInterval", "300", False),), ("Nope",)),
    )
    _validate("GetConfigurationResponse", configuration)
    assert configuration["unknownKey"] == ["Nope"]
    _validate(
        "ResetResponse", encoding.encode_outcome(ResetStation(True), CommandOutcome("Accepted"))
    )
