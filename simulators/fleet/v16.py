"""The OCPP 1.6J shapes of the fleet's messages: encoding only, no behaviour, no I/O.

A 2.0.1 encoding provides the same methods (``encode``, ``decode_answer``,
``decode_command``, ``encode_outcome``) with 2.0.1's shapes, and the station
runs unchanged on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from simulators.common import format_timestamp
from simulators.fleet.intents import (
    Acknowledged,
    Answer,
    AuthorizationAnswer,
    AuthorizeRequest,
    BootAnswer,
    BootRequest,
    ChangeAvailability,
    ChangeConfiguration,
    ClearCache,
    CommandOutcome,
    GetConfiguration,
    HeartbeatRequest,
    MeterReport,
    RemoteStart,
    RemoteStop,
    Request,
    ResetStation,
    ServerCommand,
    StartAnswer,
    StatusReport,
    TransactionStart,
    TransactionStop,
    TriggerMessage,
    UnlockConnector,
)
from simulators.meter import MeterSample
from simulators.ocpp16 import sampled_values

__all__ = ["EncodedCall", "Ocpp16Encoding", "UnencodableError"]


class UnencodableError(ValueError):
    """A message cannot be put in 1.6 shape (e.g. a transaction the server never numbered)."""


@dataclass(frozen=True, slots=True)
class EncodedCall:
    action: str
    payload: dict[str, Any]
    meter_rows: int
    """sampledValue elements in the payload: the rows the server stores for it."""


class Ocpp16Encoding:
    """OCPP 1.6J: what the station's intents look like on the wire."""

    subprotocol = "ocpp1.6"
    version = "1.6"
    # The CALLERROR code for an action the station does not implement.
    not_implemented = "NotImplemented"
    internal_error = "InternalError"

    # -- charger-initiated calls ------------------------------------------------------------

    def encode(self, request: Request) -> EncodedCall:
        match request:
            case BootRequest():
                payload: dict[str, Any] = {
                    "chargePointVendor": request.vendor,
                    "chargePointModel": request.model,
                    "chargePointSerialNumber": request.serial_number,
                    "firmwareVersion": request.firmware_version,
                }
                return EncodedCall("BootNotification", payload, 0)
            case HeartbeatRequest():
                return EncodedCall("Heartbeat", {}, 0)
            case StatusReport():
                payload = {
                    "connectorId": request.connector_id,
                    "errorCode": request.error_code,
                    "status": request.status,
                    "timestamp": format_timestamp(request.timestamp),
                }
                return EncodedCall("StatusNotification", payload, 0)
            case AuthorizeRequest():
                return EncodedCall("Authorize", {"idTag": request.id_tag}, 0)
            case TransactionStart():
                tx = request.transaction
                payload = {
                    "connectorId": tx.connector_id,
                    "idTag": tx.id_tag,
                    "meterStart": tx.meter_start_wh,
                    "timestamp": format_timestamp(tx.started_at),
                }
                return EncodedCall("StartTransaction", payload, 0)
            case MeterReport():
                entries = [
                    _meter_value(sample, request.measurands, "Sample.Periodic")
                    for sample in request.samples
                ]
                payload = {"connectorId": request.connector_id, "meterValue": entries}
                if request.transaction is not None:
                    payload["transactionId"] = _server_id(request.transaction.server_id)
                return EncodedCall("MeterValues", payload, _rows(entries))
            case TransactionStop():
                entries = [
                    _meter_value(request.begin, request.measurands, "Transaction.Begin"),
                    _meter_value(request.end, request.measurands, "Transaction.End"),
                ]
                payload = {
                    "transactionId": _server_id(request.transaction.server_id),
                    "idTag": request.transaction.id_tag,
                    "meterStop": request.meter_stop_wh,
                    "timestamp": format_timestamp(request.stopped_at),
                    "reason": request.reason,
                    "transactionData": entries,
                }
                return EncodedCall("StopTransaction", payload, _rows(entries))
        raise UnencodableError(f"no 1.6 shape for {type(request).__name__}")

    def decode_answer(self, request: Request, payload: Any) -> Answer:
        """The neutral meaning of a CALLRESULT; ValueError when it is malformed."""
        if not isinstance(payload, dict):
            raise ValueError(f"a CALLRESULT payload is an object, got {type(payload).__name__}")
        match request:
            case BootRequest():
                return BootAnswer(
                    status=str(payload["status"]), interval_seconds=payload["interval"]
                )
            case AuthorizeRequest():
                return AuthorizationAnswer(status=str(payload["idTagInfo"]["status"]))
            case TransactionStart():
                transaction_id = payload["transactionId"]
                if not isinstance(transaction_id, int):
                    raise ValueError(f"transactionId is an integer, got {transaction_id!r}")
                return StartAnswer(transaction_id, str(payload["idTagInfo"]["status"]))
            case TransactionStop():
                # idTagInfo is optional and changes nothing for a finished transaction
                return Acknowledged()
        return Acknowledged()

    # -- server-initiated calls -------------------------------------------------------------

    def decode_command(self, action: str, payload: dict[str, Any]) -> ServerCommand | None:
        """The neutral command of a server CALL; None when the action is not implemented.

        Raises KeyError/TypeError/ValueError on a malformed payload.
        """
        match action:
            case "RemoteStartTransaction":
                connector = payload.get("connectorId")
                return RemoteStart(
                    str(payload["idTag"]), None if connector is None else int(connector)
                )
            case "RemoteStopTransaction":
                return RemoteStop(int(payload["transactionId"]))
            case "Reset":
                kind = payload["type"]
                if kind not in ("Hard", "Soft"):
                    raise ValueError(f"Reset type is Hard or Soft, got {kind!r}")
                return ResetStation(hard=kind == "Hard")
            case "ChangeAvailability":
                kind = payload["type"]
                if kind not in ("Operative", "Inoperative"):
                    raise ValueError(f"availability is Operative or Inoperative, got {kind!r}")
                return ChangeAvailability(int(payload["connectorId"]), kind == "Operative")
            case "GetConfiguration":
                return GetConfiguration(tuple(str(k) for k in payload.get("key") or ()))
            case "ChangeConfiguration":
                return ChangeConfiguration(str(payload["key"]), str(payload["value"]))
            case "TriggerMessage":
                connector = payload.get("connectorId")
                return TriggerMessage(
                    str(payload["requestedMessage"]), None if connector is None else int(connector)
                )
            case "UnlockConnector":
                return UnlockConnector(int(payload["connectorId"]))
            case "ClearCache":
                return ClearCache()
        return None

    def encode_outcome(self, command: ServerCommand, outcome: CommandOutcome) -> dict[str, Any]:
        if isinstance(command, GetConfiguration):
            answer: dict[str, Any] = {
                "configurationKey": [
                    {"key": key, "readonly": readonly, "value": value}
                    for key, value, readonly in outcome.configuration
                ]
            }
            if outcome.unknown_keys:
                answer["unknownKey"] = list(outcome.unknown_keys)
            return answer
        return {"status": outcome.status}


def _meter_value(sample: MeterSample, measurands: tuple[str, ...], context: str) -> dict[str, Any]:
    return {
        "timestamp": format_timestamp(sample.timestamp),
        "sampledValue": sampled_values(sample, measurands, context),
    }


def _rows(entries: list[dict[str, Any]]) -> int:
    return sum(len(entry["sampledValue"]) for entry in entries)


def _server_id(server_id: int | None) -> int:
    if server_id is None:
        raise UnencodableError("the server has not numbered this transaction yet")
    return server_id
