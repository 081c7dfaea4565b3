"""Payload decode throughput: the msgspec codec against jsonschema as the
``ocpp`` library validates (``json.loads`` + a cached ``Draft4Validator``).

    python benchmarks/payload_decode.py [--seconds 1.0]

Prints decodes per second, single core, no thread pool on either side.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from collections.abc import Callable

from ocpp.messages import get_validator

from csms.protocol.payloads import PayloadCodec, PayloadViolation

METER_VALUES = json.dumps(
    {
        "connectorId": 1,
        "transactionId": 12345,
        "meterValue": [
            {
                "timestamp": "2024-05-01T12:00:00.123Z",
                "sampledValue": [
                    {
                        "value": "12345.6",
                        "context": "Sample.Periodic",
                        "measurand": "Energy.Active.Import.Register",
                        "unit": "Wh",
                        "location": "Outlet",
                    },
                    {"value": "7200", "measurand": "Power.Active.Import", "unit": "W"},
                    {"value": "230.1", "measurand": "Voltage", "unit": "V", "phase": "L1-N"},
                    {"value": "31.2", "measurand": "Current.Import", "unit": "A", "phase": "L1"},
                    {"value": "55", "measurand": "SoC", "unit": "Percent", "location": "EV"},
                ],
            }
        ],
    },
    separators=(",", ":"),
).encode()

START_TRANSACTION = json.dumps(
    {
        "connectorId": 1,
        "idTag": "04A2B3C4D5E6F7",
        "meterStart": 1234567,
        "timestamp": "2024-05-01T12:00:00Z",
        "reservationId": 42,
    },
    separators=(",", ":"),
).encode()

TRANSACTION_EVENT_201 = json.dumps(
    {
        "eventType": "Updated",
        "timestamp": "2024-05-01T12:00:00Z",
        "triggerReason": "MeterValuePeriodic",
        "seqNo": 7,
        "transactionInfo": {"transactionId": "b3c1f0a2-1", "chargingState": "Charging"},
        "evse": {"id": 1, "connectorId": 1},
        "meterValue": [
            {
                "timestamp": "2024-05-01T12:00:00Z",
                "sampledValue": [
                    {"value": 12345.6, "measurand": "Energy.Active.Import.Register"},
                    {"value": 7200, "measurand": "Power.Active.Import"},
                ],
            }
        ],
    },
    separators=(",", ":"),
).encode()


def rate(work: Callable[[], object], seconds: float) -> float:
    work()  # warm caches (decoder, validator)
    count, started = 0, time.perf_counter()
    deadline = started + seconds
    while True:
        for _ in range(200):
            work()
        count += 200
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="time per measurement")
    args = parser.parse_args()

    v16, v201 = PayloadCodec("1.6"), PayloadCodec("2.0.1")
    cases = [
        ("1.6 MeterValues (5 samples)", v16, "MeterValues", METER_VALUES, "1.6"),
        ("1.6 StartTransaction", v16, "StartTransaction", START_TRANSACTION, "1.6"),
        ("2.0.1 TransactionEvent", v201, "TransactionEvent", TRANSACTION_EVENT_201, "2.0.1"),
    ]
    print(f"{'payload':32} {'msgspec codec/s':>16} {'jsonschema/s':>14} {'speed-up':>9}")
    for name, codec, action, payload, version in cases:
        validator = get_validator(2, action, version)  # as ocpp.messages does

        def fast(codec: PayloadCodec = codec, action: str = action, payload: bytes = payload):
            return codec.decode_request(action, payload)

        def slow(validator=validator, payload: bytes = payload) -> None:  # type: ignore[no-untyped-def]
            validator.validate(json.loads(payload))

        ours, theirs = rate(fast, args.seconds), rate(slow, args.seconds)
        print(f"{name:32} {ours:16,.0f} {theirs:14,.0f} {ours / theirs:8.0f}x")

    broken = METER_VALUES.replace(b'"Wh"', b'"Wx"')

    def rejected() -> None:
        with contextlib.suppress(PayloadViolation):
            v16.decode_request("MeterValues", broken)

    print(f"{'1.6 MeterValues, rejected':32} {rate(rejected, args.seconds):16,.0f}")


if __name__ == "__main__":
    main()
