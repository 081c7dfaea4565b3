"""Encoding: what the system sends is valid for the official schemas."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from importlib import resources
from typing import Any

import msgspec
import pytest
from jsonschema import FormatChecker
from jsonschema.validators import validator_for

from csms.protocol.payloads import PayloadCodec, v16, v201

pytestmark = pytest.mark.backend_independent

V16, V201 = PayloadCodec("1.6"), PayloadCodec("2.0.1")
NOW = datetime(2024, 5, 1, 12, 0, 0, 250000, tzinfo=UTC)


def official_accepts(version: str, file_name: str, payload: bytes) -> bool:
    folder = "v16" if version == "1.6" else "v201"
    text = resources.files("ocpp").joinpath(folder, "schemas", file_name).read_text("utf-8-sig")
    schema = json.loads(text)
    validator = validator_for(schema)(schema, format_checker=FormatChecker(("date-time",)))
    errors = [error.message for error in validator.iter_errors(json.loads(payload))]
    assert not errors, errors
    return True


TAG = v16.IdTagInfo(status="Accepted", expiry_date=NOW + timedelta(days=1), parent_id_tag="P")

RESPONSES_16: list[tuple[str, Any]] = [
    ("Authorize", v16.AuthorizeResponse(id_tag_info=TAG)),
    (
        "BootNotification",
        v16.BootNotificationResponse(status="Accepted", current_time=NOW, interval=300),
    ),
    ("DataTransfer", v16.DataTransferResponse(status="UnknownVendorId")),
    ("DiagnosticsStatusNotification", v16.DiagnosticsStatusNotificationResponse()),
    ("FirmwareStatusNotification", v16.FirmwareStatusNotificationResponse()),
    ("Heartbeat", v16.HeartbeatResponse(current_time=NOW)),
    ("MeterValues", v16.MeterValuesResponse()),
    ("StartTransaction", v16.StartTransactionResponse(id_tag_info=TAG, transaction_id=7)),
    ("StatusNotification", v16.StatusNotificationResponse()),
    ("StopTransaction", v16.StopTransactionResponse()),
    ("StopTransaction", v16.StopTransactionResponse(id_tag_info=TAG)),
    ("SecurityEventNotification", v16.SecurityEventNotificationResponse()),
    ("SignCertificate", v16.SignCertificateResponse(status="Accepted")),
    ("LogStatusNotification", v16.LogStatusNotificationResponse()),
    ("SignedFirmwareStatusNotification", v16.SignedFirmwareStatusNotificationResponse()),
]

ID_TOKEN_INFO = v201.IdTokenInfoType(
    status="Accepted",
    cache_expiry_date_time=NOW,
    group_id_token=v201.IdTokenType(id_token="G", type="Central"),
    personal_message=v201.MessageContentType(format="UTF8", content="Hi", language="en"),
    evse_id=[1, 2],
)
RESPONSES_201: list[tuple[str, Any]] = [
    ("Authorize", v201.AuthorizeResponse(id_token_info=ID_TOKEN_INFO)),
    (
        "BootNotification",
        v201.BootNotificationResponse(
            current_time=NOW,
            interval=300,
            status="Pending",
            status_info=v201.StatusInfoType(reason_code="Wait"),
            custom_data=v201.CustomDataType(vendor_id="ACME"),
        ),
    ),
    ("Heartbeat", v201.HeartbeatResponse(current_time=NOW)),
    ("StatusNotification", v201.StatusNotificationResponse()),
    ("MeterValues", v201.MeterValuesResponse()),
    (
        "TransactionEvent",
        v201.TransactionEventResponse(
            total_cost=1.5, charging_priority=0, id_token_info=ID_TOKEN_INFO
        ),
    ),
    ("DataTransfer", v201.DataTransferResponse(status="Accepted", data={"a": [1, 2.5, None]})),
    ("NotifyEvent", v201.NotifyEventResponse()),
    ("SignCertificate", v201.SignCertificateResponse(status="Accepted")),
]


@pytest.mark.parametrize(("action", "message"), RESPONSES_16, ids=[a for a, _ in RESPONSES_16])
def test_encoded_16_responses_are_valid(action: str, message: msgspec.Struct) -> None:
    payload = V16.encode(message)
    assert official_accepts("1.6", f"{action}Response.json", payload)
    assert V16.decode_response(action, payload).message == message


@pytest.mark.parametrize(("action", "message"), RESPONSES_201, ids=[a for a, _ in RESPONSES_201])
def test_encoded_201_responses_are_valid(action: str, message: msgspec.Struct) -> None:
    payload = V201.encode(message)
    assert official_accepts("2.0.1", f"{action}Response.json", payload)
    assert V201.decode_response(action, payload).message == message


def test_encoding_uses_the_schema_names_and_leaves_out_unset_fields() -> None:
    payload = V16.encode(
        v16.BootNotificationResponse(status="Accepted", current_time=NOW, interval=60)
    )
    assert json.loads(payload) == {
        "status": "Accepted",
        "currentTime": "2024-05-01T12:00:00.250000Z",
        "interval": 60,
    }
    assert V16.encode(v16.StopTransactionResponse()) == b"{}"
    ocsp = v201.OCSPRequestDataType(
        hash_algorithm="SHA256",
        issuer_name_hash="a",
        issuer_key_hash="b",
        serial_number="c",
        responder_url="http://ocsp.example",
    )
    assert b'"responderURL":"http://ocsp.example"' in V201.encode(ocsp)


def test_datetimes() -> None:
    utc = V16.encode(v16.HeartbeatResponse(current_time=datetime(2024, 5, 1, tzinfo=UTC)))
    assert utc == b'{"currentTime":"2024-05-01T00:00:00Z"}'
    offset = timezone(timedelta(hours=5, minutes=30))
    local = V16.encode(v16.HeartbeatResponse(current_time=datetime(2024, 5, 1, tzinfo=offset)))
    assert local == b'{"currentTime":"2024-05-01T00:00:00+05:30"}'
    with pytest.raises(ValueError, match=r"\$\.currentTime: naive datetime"):
        V16.encode(v16.HeartbeatResponse(current_time=datetime(2024, 5, 1)))
    nested = v16.AuthorizeResponse(
        id_tag_info=v16.IdTagInfo(status="Accepted", expiry_date=datetime(2024, 5, 1))
    )
    with pytest.raises(ValueError, match=r"\$\.idTagInfo\.expiryDate"):
        V16.encode(nested)
    in_list = v16.MeterValuesRequest(
        connector_id=1,
        meter_value=[
            v16.MeterValue(timestamp=NOW, sampled_value=[v16.SampledValue(value="1")]),
            v16.MeterValue(timestamp=datetime(2024, 5, 1), sampled_value=[]),
        ],
    )
    with pytest.raises(ValueError, match=r"\$\.meterValue\[1\]\.timestamp"):
        V16.encode(in_list)


def test_server_calls_encode_valid_requests() -> None:
    # the calls the system makes, with the 1.6 decimal limits
    profile = v16.ChargingProfile(
        charging_profile_id=1,
        stack_level=0,
        charging_profile_purpose="TxDefaultProfile",
        charging_profile_kind="Absolute",
        valid_from=NOW,
        charging_schedule=v16.ChargingSchedule(
            charging_rate_unit="A",
            charging_schedule_period=[
                v16.ChargingSchedulePeriod(start_period=0, limit=16.1),
                v16.ChargingSchedulePeriod(start_period=60, limit=21.4, number_phases=3),
            ],
            min_charging_rate=6.0,
        ),
    )
    request = v16.SetChargingProfileRequest(connector_id=1, cs_charging_profiles=profile)
    payload = V16.encode(request)
    text = resources.files("ocpp").joinpath("v16", "schemas", "SetChargingProfile.json")
    from decimal import Decimal

    schema = json.loads(text.read_text("utf-8"), parse_float=Decimal)
    validator = validator_for(schema)(schema, format_checker=FormatChecker(("date-time",)))
    assert validator.is_valid(json.loads(payload, parse_float=Decimal))
    assert V16.decode_request("SetChargingProfile", payload).message == request
    get_variables = v201.GetVariablesRequest(
        get_variable_data=[
            v201.GetVariableDataType(
                component=v201.ComponentType(name="OCPPCommCtrlr"),
                variable=v201.VariableType(name="HeartbeatInterval"),
            )
        ]
    )
    assert official_accepts("2.0.1", "GetVariablesRequest.json", V201.encode(get_variables))
