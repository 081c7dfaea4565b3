"""OCPP-J 1.6 and 2.0.1 frames of the gateway benchmark, pre-encoded, and
the minimal parsing the load generator and the echo server do (find the
message id). ``benchmarks/node_loadgen/loadgen.mjs`` builds the same frames
byte for byte: change both together.

Measured calls that carry meter values are unique per station: the product
stores a sample once per station and sample key (time, measurand, value...),
so a value repeated under the same timestamp would be dropped as a
retransmission and the persistence check could not count it. The timestamp
is the current second with the station's call counter as its microseconds,
and the energy register grows by 1 Wh per call.

Station ids and their secrets are derived here so that the harness (which
provisions them) and the load generator (which presents them) agree.
"""

from __future__ import annotations

import base64
import hashlib

CALL = 2
CALLRESULT = 3
CALLERROR = 4

BOOT_PAYLOAD = (
    b'{"chargePointVendor":"BenchVendor","chargePointModel":"LoadGen-1",'
    b'"chargePointSerialNumber":"SN-BENCH","firmwareVersion":"1.0.0"}'
)
HEARTBEAT_PAYLOAD = b"{}"


def meter_values_payload(timestamp: str, energy_wh: int = 1234567) -> bytes:
    """A realistic MeterValues request: connector 1, one meter value with a
    timestamp and four sampled values (energy register, power, current,
    voltage), as a 7.4 kW single-phase charger reports them."""
    return (
        b'{"connectorId":1,"meterValue":[{"timestamp":"'
        + timestamp.encode()
        + b'","sampledValue":['
        b'{"value":"'
        + str(energy_wh).encode()
        + b'","context":"Sample.Periodic","measurand":"Energy.Active.Import.Register",'
        b'"location":"Outlet","unit":"Wh"},'
        b'{"value":"7360.5","context":"Sample.Periodic","measurand":"Power.Active.Import",'
        b'"location":"Outlet","unit":"W"},'
        b'{"value":"32.0","context":"Sample.Periodic","measurand":"Current.Import",'
        b'"location":"Outlet","phase":"L1","unit":"A"},'
        b'{"value":"230.1","context":"Sample.Periodic","measurand":"Voltage",'
        b'"location":"Outlet","phase":"L1-N","unit":"V"}]}]}'
    )


# -- measured calls whose meter values are unique per station -----------------

_MV16 = (
    b'[2,"%s","MeterValues",{"connectorId":1,"transactionId":%d,'
    b'"meterValue":[{"timestamp":"%s.%06dZ",'
    b'"sampledValue":[{"value":"%d","context":"Sample.Periodic",'
    b'"measurand":"Energy.Active.Import.Register","location":"Outlet","unit":"Wh"},'
    b'{"value":"7360.5","context":"Sample.Periodic","measurand":"Power.Active.Import",'
    b'"location":"Outlet","unit":"W"},'
    b'{"value":"32.0","context":"Sample.Periodic","measurand":"Current.Import",'
    b'"location":"Outlet","phase":"L1","unit":"A"},'
    b'{"value":"230.1","context":"Sample.Periodic","measurand":"Voltage",'
    b'"location":"Outlet","phase":"L1-N","unit":"V"}]}]}]'
)
SAMPLES_PER_METER_VALUES_16 = 4
ENERGY_START_WH = 1_000_000


def meter_values_16(unique_id: bytes, second: bytes, counter: int, transaction_id: int) -> bytes:
    """The 1.6 MeterValues call number ``counter`` of a station's
    transaction: timestamp ``second`` (``YYYY-MM-DDTHH:MM:SS``) plus
    ``counter`` microseconds, energy register ``ENERGY_START_WH + counter``."""
    return _MV16 % (
        unique_id,
        transaction_id,
        second,
        counter % 1_000_000,
        ENERGY_START_WH + counter,
    )


_STATUS_16 = (
    b'[2,"%s","StatusNotification",{"connectorId":1,"errorCode":"NoError",'
    b'"status":"Preparing","timestamp":"%s.000000Z"}]'
)
_START_16 = (
    b'[2,"%s","StartTransaction",{"connectorId":1,"idTag":"%s","meterStart":%d,'
    b'"timestamp":"%s.000000Z"}]'
)


def status_notification_16(unique_id: bytes, second: bytes) -> bytes:
    return _STATUS_16 % (unique_id, second)


def start_transaction_16(unique_id: bytes, second: bytes, id_tag: bytes) -> bytes:
    """StartTransaction on connector 1 with the station's id tag."""
    return _START_16 % (unique_id, id_tag, ENERGY_START_WH, second)


def transaction_id_16(answer: bytes) -> int | None:
    """The transactionId of a StartTransaction answer, read without a JSON parser."""
    marker = answer.find(b'"transactionId"')
    if marker < 0:
        return None
    rest = answer[marker + 15 :].lstrip(b" \t\r\n:")
    digits = len(rest) - len(rest.lstrip(b"-0123456789"))
    try:
        return int(rest[:digits])
    except ValueError:
        return None


BOOT_PAYLOAD_201 = (
    b'{"chargingStation":{"vendorName":"BenchVendor","model":"LoadGen-1",'
    b'"serialNumber":"SN-BENCH","firmwareVersion":"1.0.0"},"reason":"PowerUp"}'
)
_STATUS_201 = (
    b'[2,"%s","StatusNotification",{"timestamp":"%s.000000Z","connectorStatus":"Occupied",'
    b'"evseId":1,"connectorId":1}]'
)
_STARTED_201 = (
    b'[2,"%s","TransactionEvent",{"eventType":"Started","timestamp":"%s.000000Z",'
    b'"triggerReason":"Authorized","seqNo":0,'
    b'"transactionInfo":{"transactionId":"%s","chargingState":"Charging"},'
    b'"evse":{"id":1,"connectorId":1},"idToken":{"idToken":"%s","type":"ISO14443"},'
    b'"meterValue":[{"timestamp":"%s.000000Z","sampledValue":[{"value":%d,'
    b'"context":"Transaction.Begin","measurand":"Energy.Active.Import.Register",'
    b'"unitOfMeasure":{"unit":"Wh"}}]}]}]'
)
_UPDATED_201 = (
    b'[2,"%s","TransactionEvent",{"eventType":"Updated","timestamp":"%s.%06dZ",'
    b'"triggerReason":"MeterValuePeriodic","seqNo":%d,'
    b'"transactionInfo":{"transactionId":"%s","chargingState":"Charging"},'
    b'"evse":{"id":1,"connectorId":1},'
    b'"meterValue":[{"timestamp":"%s.%06dZ","sampledValue":[{"value":%d,'
    b'"context":"Sample.Periodic","measurand":"Energy.Active.Import.Register",'
    b'"unitOfMeasure":{"unit":"Wh"}}]}]}]'
)


def status_notification_201(unique_id: bytes, second: bytes) -> bytes:
    return _STATUS_201 % (unique_id, second)


def transaction_started_201(
    unique_id: bytes, second: bytes, transaction_id: bytes, id_token: bytes
) -> bytes:
    """TransactionEvent Started, seqNo 0, with the station's idToken, EVSE 1
    and the Transaction.Begin energy register."""
    return _STARTED_201 % (unique_id, second, transaction_id, id_token, second, ENERGY_START_WH)


def id_token(charge_point_id: str) -> str:
    """The station's own id token (one driver per station: no ConcurrentTx);
    the harness provisions it with ``csms tag import``."""
    return f"TAG-{charge_point_id}"


def transaction_updated_201(
    unique_id: bytes, second: bytes, seq_no: int, transaction_id: bytes
) -> bytes:
    """TransactionEvent Updated number ``seq_no`` (1, 2...) of a session: one
    meter value with the energy register ``ENERGY_START_WH + seq_no``, at
    ``second`` plus ``seq_no`` microseconds."""
    micro = seq_no % 1_000_000
    return _UPDATED_201 % (
        unique_id,
        second,
        micro,
        seq_no,
        transaction_id,
        second,
        micro,
        ENERGY_START_WH + seq_no,
    )


def transaction_id_201(charge_point_id: str, nonce: str) -> str:
    """A station's transactionId (at most 36 characters, as 2.0.1 allows)."""
    return f"{charge_point_id}-{nonce}"[:36]


class CallTemplate:
    """A call frame whose only varying part is the message id."""

    __slots__ = ("prefix", "suffix")

    def __init__(self, action: str, payload: bytes) -> None:
        self.prefix = b'[2,"'
        self.suffix = b'","' + action.encode() + b'",' + payload + b"]"

    def frame(self, unique_id: bytes) -> bytes:
        return self.prefix + unique_id + self.suffix


def parse_answer(data: bytes) -> tuple[int, bytes]:
    """(message type, message id) of a CALLRESULT or CALLERROR frame, read
    without a JSON parser: the type is what stands between ``[`` and the
    first quote, the id is the first string. (-1, b"") if it is neither."""
    first = data.find(b'"')
    if first < 0:
        return -1, b""
    second = data.find(b'"', first + 1)
    if second < 0:
        return -1, b""
    head = data[:first].strip(b" \t\r\n[,")
    try:
        kind = int(head)
    except ValueError:
        return -1, b""
    return kind, data[first + 1 : second]


def parse_call(data: bytes) -> tuple[bytes, bytes]:
    """(message id, action) of a CALL frame, without a JSON parser; (b"", b"")
    if it does not look like one."""
    first = data.find(b'"')
    second = data.find(b'"', first + 1) if first >= 0 else -1
    third = data.find(b'"', second + 1) if second >= 0 else -1
    fourth = data.find(b'"', third + 1) if third >= 0 else -1
    if fourth < 0:
        return b"", b""
    return data[first + 1 : second], data[third + 1 : fourth]


def station_id(index: int) -> str:
    return f"BENCH-{index:06d}"


def station_secret(seed: str, charge_point_id: str) -> str:
    """A 24-character secret for a station, reproducible from the run's seed."""
    return hashlib.sha256(f"{seed}:{charge_point_id}".encode()).hexdigest()[:24]


def basic_auth(charge_point_id: str, secret: str) -> str:
    token = base64.b64encode(f"{charge_point_id}:{secret}".encode()).decode()
    return f"Basic {token}"
