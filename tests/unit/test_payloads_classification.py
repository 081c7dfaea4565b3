"""Which Violation a bad payload is, what the error says, and the deliberate
differences from the official validation (docs/payload-validation.md)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from importlib import resources

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft4Validator, FormatChecker

from csms.protocol.payloads import (
    Decoded,
    Leniency,
    PayloadCodec,
    PayloadViolation,
    UnknownAction,
    Violation,
    v16,
    v201,
)

pytestmark = pytest.mark.backend_independent

V16, V201 = PayloadCodec("1.6"), PayloadCodec("2.0.1")

MV = '{"connectorId":1,"meterValue":[{"timestamp":"2024-05-01T12:00:00Z","sampledValue":[%s]}]}'
START = '{"connectorId":1,"idTag":"ABC","meterStart":0,"timestamp":"2024-05-01T12:00:00Z"%s}'
STATUS_201 = (
    '{"timestamp":"2024-05-01T12:00:00Z","connectorStatus":"Available","evseId":1,'
    '"connectorId":1%s}'
)

FORMAT, TYPE, OCCURRENCE, PROPERTY = (
    Violation.FORMAT,
    Violation.TYPE,
    Violation.OCCURRENCE,
    Violation.PROPERTY,
)

CASES = [
    # (codec, action, payload, kind, path, keyword)
    (V16, "Heartbeat", b"[]", FORMAT, "$", "type"),
    (V16, "Heartbeat", b'"x"', FORMAT, "$", "type"),
    (V16, "Heartbeat", b"null", FORMAT, "$", "type"),
    (V16, "Heartbeat", b"{", FORMAT, "$", "json"),
    (V16, "Heartbeat", b"", FORMAT, "$", "json"),
    (V16, "Heartbeat", b'{"a":NaN}', FORMAT, "$", "json"),
    (V16, "Heartbeat", b'{"extra":1}', FORMAT, "$.extra", "additionalProperties"),
    (V16, "Authorize", b'{"idTag":"A","IdTag":"B"}', FORMAT, "$.IdTag", "additionalProperties"),
    (
        V16,
        "MeterValues",
        (MV % '{"value":"1","x":0}').encode(),
        FORMAT,
        "$.meterValue[0].sampledValue[0].x",
        "additionalProperties",
    ),
    (V16, "Authorize", b'{"idTag":5}', TYPE, "$.idTag", "type"),
    (V16, "Authorize", b'{"idTag":null}', TYPE, "$.idTag", "type"),
    (
        V16,
        "StartTransaction",
        (START % ',"reservationId":1.0').encode(),
        TYPE,
        "$.reservationId",
        "type",
    ),
    (
        V16,
        "StartTransaction",
        (START % ',"reservationId":true').encode(),
        TYPE,
        "$.reservationId",
        "type",
    ),
    (
        V16,
        "StartTransaction",
        (START % ',"reservationId":"1"').encode(),
        TYPE,
        "$.reservationId",
        "type",
    ),
    (
        V16,
        "MeterValues",
        (MV % '{"value":12}').encode(),
        TYPE,
        "$.meterValue[0].sampledValue[0].value",
        "type",
    ),
    (
        V16,
        "MeterValues",
        (MV % '{"value":"1","unit":1}').encode(),
        TYPE,
        "$.meterValue[0].sampledValue[0].unit",
        "type",
    ),
    (V16, "Authorize", b"{}", OCCURRENCE, "$.idTag", "required"),
    (
        V16,
        "MeterValues",
        b'{"connectorId":1,"meterValue":[]}',
        OCCURRENCE,
        "$.meterValue",
        "minItems",
    ),
    (
        V16,
        "MeterValues",
        (MV % "").encode(),
        OCCURRENCE,
        "$.meterValue[0].sampledValue",
        "minItems",
    ),
    (
        V16,
        "MeterValues",
        b'{"connectorId":1,"meterValue":[{"sampledValue":[{"value":"1"}]}]}',
        OCCURRENCE,
        "$.meterValue[0].timestamp",
        "required",
    ),
    (V16, "Authorize", b'{"idTag":"123456789012345678901"}', PROPERTY, "$.idTag", "maxLength"),
    (
        V16,
        "MeterValues",
        (MV % '{"value":"1","unit":"wh"}').encode(),
        PROPERTY,
        "$.meterValue[0].sampledValue[0].unit",
        "enum",
    ),
    (V16, "MeterValues", (MV % '{"value":"1","unit":"Hertz"}').encode(), None, None, None),
    (
        V16,
        "StopTransaction",
        b'{"meterStop":1,"timestamp":"2024-05-01T12:00:00Z",'
        b'"transactionId":1,"transactionData":[{"timestamp":"2024-05-01T12:00:00Z",'
        b'"sampledValue":[{"value":"1","unit":"Hertz"}]}]}',
        PROPERTY,
        "$.transactionData[0].sampledValue[0].unit",
        "enum",
    ),
    (
        V16,
        "StartTransaction",
        START.replace("12:00:00Z", "12:00:00").replace("%s", "").encode(),
        PROPERTY,
        "$.timestamp",
        "format",
    ),
    (
        V16,
        "StartTransaction",
        START.replace("T12", " 12").replace("%s", "").encode(),
        PROPERTY,
        "$.timestamp",
        "format",
    ),
    (
        V16,
        "StartTransaction",
        START.replace("Z", "+0530").replace("%s", "").encode(),
        PROPERTY,
        "$.timestamp",
        "format",
    ),
    (
        V16,
        "StartTransaction",
        START.replace("12:00:00Z", "23:59:60Z").replace("%s", "").encode(),
        PROPERTY,
        "$.timestamp",
        "format",
    ),
    (
        V201,
        "StatusNotification",
        (STATUS_201 % "").replace('"evseId":1', '"evseId":-1').encode(),
        None,
        None,
        None,
    ),
    (
        V201,
        "NotifyEVChargingNeeds",
        b'{"evseId":1,"chargingNeeds":{"requestedEnergyTransfer":'
        b'"DC","dcChargingParameters":{"evMaxCurrent":1,"evMaxVoltage":1,"stateOfCharge":101}}}',
        PROPERTY,
        "$.chargingNeeds.dcChargingParameters.stateOfCharge",
        "maximum",
    ),
    (
        V201,
        "NotifyEVChargingNeeds",
        b'{"evseId":1,"chargingNeeds":{"requestedEnergyTransfer":'
        b'"DC","dcChargingParameters":{"evMaxCurrent":1,"evMaxVoltage":1,"stateOfCharge":-1}}}',
        PROPERTY,
        "$.chargingNeeds.dcChargingParameters.stateOfCharge",
        "minimum",
    ),
    (
        V201,
        "StatusNotification",
        (STATUS_201 % ',"customData":{}').encode(),
        OCCURRENCE,
        "$.customData.vendorId",
        "required",
    ),
    (
        V201,
        "StatusNotification",
        (STATUS_201 % ',"evse":{}').encode(),
        FORMAT,
        "$.evse",
        "additionalProperties",
    ),
    (
        V201,
        "GetVariables",
        b'{"getVariableResult":[]}',
        OCCURRENCE,
        "$.getVariableResult",
        "minItems",
    ),
    (
        V201,
        "ReportChargingProfiles",
        b'{"requestId":1,"chargingLimitSource":"EMS","evseId":1,"chargingProfile":[{"id":1,'
        b'"stackLevel":0,"chargingProfilePurpose":"TxProfile","chargingProfileKind":"Absolute",'
        b'"chargingSchedule":['
        + b",".join(
            [
                b'{"id":1,"chargingRateUnit":"W","chargingSchedulePeriod":[{"startPeriod":0,"limit":1}]}'
            ]
            * 4
        )
        + b"]}]}",
        OCCURRENCE,
        "$.chargingProfile[0].chargingSchedule",
        "maxItems",
    ),
    (
        V201,
        "Heartbeat",
        b'{"currentTime":"2024-05-01T12:00:00"}',
        PROPERTY,
        "$.currentTime",
        "format",
    ),
    (
        V16,
        "GetCompositeSchedule",
        b'{"status":"Accepted","chargingSchedule":{'
        b'"chargingRateUnit":"A","chargingSchedulePeriod":[{"startPeriod":0,"limit":16.15}]}}',
        PROPERTY,
        "$.chargingSchedule.chargingSchedulePeriod[0].limit",
        "multipleOf",
    ),
]


RESPONSES = {"GetCompositeSchedule", "GetVariables"}


def _decode(codec: PayloadCodec, action: str, payload: bytes) -> Decoded:
    response = action in RESPONSES or payload.startswith(b'{"currentTime"')
    return (codec.decode_response if response else codec.decode_request)(action, payload)


@pytest.mark.parametrize(
    ("codec", "action", "payload", "kind", "path", "keyword"),
    CASES,
    ids=[f"{c[1]}-{c[5]}-{i}" for i, c in enumerate(CASES)],
)
def test_violation_kind(
    codec: PayloadCodec,
    action: str,
    payload: bytes,
    kind: Violation | None,
    path: str | None,
    keyword: str | None,
) -> None:
    if kind is None:  # valid after all
        assert isinstance(_decode(codec, action, payload).message, msgspec.Struct)
        return
    with pytest.raises(PayloadViolation) as caught:
        _decode(codec, action, payload)
    violation = caught.value
    assert violation.kind is kind, violation
    assert violation.details["path"] == path, violation
    assert violation.details["keyword"] == keyword
    assert violation.description.startswith(f"{path}: "), violation.description
    assert str(violation) == violation.description


def test_descriptions_read_well() -> None:
    cases = {
        b'{"idTag":"123456789012345678901"}': "$.idTag: expected at most 20 characters, got 21",
        b'{"idTag":5}': "$.idTag: expected a string, got integer",
        b"{}": "$.idTag: required property missing",
        b'{"idTag":"A","x":1}': "$.x: property not allowed",
        b"[1]": "$: the payload must be a JSON object, not array",
    }
    for payload, description in cases.items():
        with pytest.raises(PayloadViolation) as caught:
            V16.decode_request("Authorize", payload)
        assert caught.value.description == description
    with pytest.raises(PayloadViolation) as caught:
        V16.decode_request("MeterValues", (MV % '{"value":"1","phase":"L4"}').encode())
    assert caught.value.description == (
        '$.meterValue[0].sampledValue[0].phase: "L4" is not one of the allowed values'
    )
    assert "L1-N" in caught.value.details["allowed"]  # type: ignore[operator]


def test_shallower_and_more_basic_errors_come_first() -> None:
    # a missing required property at the top beats a deep type error
    with pytest.raises(PayloadViolation) as caught:
        V16.decode_request("MeterValues", b'{"meterValue":[{"timestamp":1}]}')
    assert caught.value.details == {"path": "$.connectorId", "keyword": "required"}
    # at one depth: an unknown property before a missing one before a wrong type
    with pytest.raises(PayloadViolation) as caught:
        V16.decode_request("StartTransaction", b'{"connectorId":"1","x":0}')
    assert caught.value.kind is Violation.FORMAT


def test_callerror_codes_per_version() -> None:
    assert [v.error_code("1.6") for v in Violation] == [
        "FormationViolation",
        "TypeConstraintViolation",
        "OccurenceConstraintViolation",
        "PropertyConstraintViolation",
    ]
    assert [v.error_code("2.0.1") for v in Violation] == [
        "FormatViolation",
        "TypeConstraintViolation",
        "OccurrenceConstraintViolation",
        "PropertyConstraintViolation",
    ]


def test_actions() -> None:
    assert V16.version == "1.6" and V201.version == "2.0.1"
    assert V16.knows("BootNotification") and V16.knows("RemoteStartTransaction")
    assert not V16.knows("TransactionEvent") and V201.knows("TransactionEvent")
    assert not V16.knows("Bogus")
    assert V16.request_type("BootNotification") is v16.BootNotificationRequest
    assert V16.response_type("BootNotification") is v16.BootNotificationResponse
    assert V201.request_type("BootNotification") is v201.BootNotificationRequest
    assert V16.request_type("Bogus") is None
    with pytest.raises(UnknownAction):
        V16.decode_request("Bogus", b"{}")
    with pytest.raises(UnknownAction):
        V16.decode_response("TransactionEvent", b"{}")
    with pytest.raises(ValueError, match="unsupported"):
        PayloadCodec("2.1")


def test_valid_payloads_decode_to_typed_structs() -> None:
    decoded = V16.decode_request(
        "MeterValues",
        (MV % '{"value":"12.5","measurand":"Energy.Active.Import.Register","unit":"kWh"}')
        .replace("12:00:00Z", "12:00:00.123456789+05:30")
        .encode(),
    )
    assert decoded.fixes == ()
    message = decoded.message
    assert isinstance(message, v16.MeterValuesRequest)
    sample = message.meter_value[0]
    assert type(sample.timestamp) is datetime
    assert sample.timestamp == datetime(
        2024, 5, 1, 12, 0, 0, 123456, timezone(timedelta(hours=5, minutes=30))
    )
    assert sample.sampled_value[0].unit == "kWh"
    assert message.transaction_id is msgspec.UNSET


# -- the schema-valid forms msgspec alone would reject --------------------------


def test_integral_floats_are_integers_in_draft06_schemas() -> None:
    message = V201.decode_request(
        "StatusNotification", (STATUS_201 % "").replace('"evseId":1', '"evseId":1.0e1').encode()
    ).message
    assert isinstance(message, v201.StatusNotificationRequest)
    assert message.evse_id == 10 and type(message.evse_id) is int
    big = V201.decode_request(
        "StatusNotification",
        (STATUS_201 % "").replace('"evseId":1', '"evseId":12345678901234567890.0').encode(),
    ).message
    assert big.evse_id == 12345678901234567890  # type: ignore[attr-defined]
    # ... but not in the draft-04 ones (all of 1.6 but the security extension)
    with pytest.raises(PayloadViolation) as caught:
        V16.decode_request("StartTransaction", (START % ',"reservationId":1.0').encode())
    assert caught.value.kind is Violation.TYPE
    # the 1.6 security extension schemas are draft-06
    signed = V16.decode_request(
        "SignedFirmwareStatusNotification", b'{"status":"Idle","requestId":2.0}'
    )
    assert signed.message.request_id == 2  # type: ignore[attr-defined]


def test_date_time_corners_the_official_check_accepts() -> None:
    for text, expected in [
        ("2024-05-01t12:00:00z", datetime(2024, 5, 1, 12, tzinfo=UTC)),
        ("2024-05-01T12:00:00Z\n", datetime(2024, 5, 1, 12, tzinfo=UTC)),
        ("2024-05-01T12:00:00.9999999Z", datetime(2024, 5, 1, 12, 0, 0, 999999, tzinfo=UTC)),
        ("9999-12-31T23:59:59.9999999-23:59", None),
        ("2024-02-29T00:00:00-00:00", datetime(2024, 2, 29, tzinfo=UTC)),
    ]:
        payload = json.dumps({"currentTime": text}).encode()
        message = V16.decode_response("Heartbeat", payload).message
        if expected is not None:
            assert message.current_time == expected  # type: ignore[attr-defined]


def test_repeated_keys_count_once_the_last_as_json_loads_reads_them() -> None:
    message = V16.decode_request("Authorize", b'{"idTag":"123456789012345678901","idTag":"A"}')
    assert message.message.id_tag == "A"  # type: ignore[attr-defined]
    with pytest.raises(PayloadViolation):
        V16.decode_request("Authorize", b'{"idTag":"A","idTag":"123456789012345678901"}')


# -- deliberate differences (each one documented) -------------------------------


def _official_16(name: str) -> Draft4Validator:
    text = resources.files("ocpp").joinpath("v16", "schemas", name).read_text("utf-8-sig")
    return Draft4Validator(json.loads(text), format_checker=FormatChecker(("date-time",)))


def test_difference_numbers_beyond_the_float_range() -> None:
    payload = (
        b'{"status":"Accepted","chargingSchedule":{"chargingRateUnit":"A",'
        b'"chargingSchedulePeriod":[{"startPeriod":0,"limit":1}],"duration":1,'
        b'"minChargingRate":1e400}}'
    )
    with pytest.raises(PayloadViolation) as caught:
        V16.decode_response("GetCompositeSchedule", payload)
    assert caught.value.kind is Violation.PROPERTY
    # a 2.0.1 number without multipleOf: json.loads reads 1e400 as inf, valid
    with pytest.raises(PayloadViolation) as caught:
        V201.decode_request(
            "MeterValues",
            b'{"evseId":1,"meterValue":[{"timestamp":"2024-05-01T12:00:00Z",'
            b'"sampledValue":[{"value":1e400}]}]}',
        )
    assert caught.value.details["keyword"] == "range"


def test_difference_huge_decimal_multiples_are_decided_not_crashed_on() -> None:
    payload = (
        b'{"status":"Accepted","chargingSchedule":{"chargingRateUnit":"A",'
        b'"chargingSchedulePeriod":[{"startPeriod":0,"limit":1e300}]}}'
    )
    text = resources.files("ocpp").joinpath("v16", "schemas", "GetCompositeScheduleResponse.json")
    schema = json.loads(text.read_text("utf-8"), parse_float=Decimal)
    with pytest.raises(ArithmeticError):  # the reference validation itself fails
        Draft4Validator(schema).is_valid(json.loads(payload, parse_float=Decimal))
    message = V16.decode_response("GetCompositeSchedule", payload).message
    assert message.charging_schedule.charging_schedule_period[0].limit == 1e300  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "payload",
    [
        b'{"idTag":"A","x":NaN}',
        b'{"idTag":"A","x":Infinity}',
        b'\xef\xbb\xbf{"idTag":"A"}',  # UTF-8 byte order mark
        '{"idTag":"A"}'.encode("utf-16"),
        b'{"idTag":"\\ud800"}',  # lone surrogate escape
        b'{"idTag":"\xed\xa0\x80"}',  # surrogate as (invalid) UTF-8
    ],
)
def test_difference_json_that_only_python_json_reads(payload: bytes) -> None:
    with pytest.raises(PayloadViolation) as caught:
        V16.decode_request("Authorize", payload)
    assert caught.value.kind is Violation.FORMAT


def test_difference_custom_data_extensions_are_accepted_not_kept() -> None:
    message = V201.decode_request(
        "StatusNotification",
        (STATUS_201 % ',"customData":{"vendorId":"ACME","extra":{"a":1}}').encode(),
    ).message
    assert message.custom_data == v201.CustomDataType(vendor_id="ACME")  # type: ignore[attr-defined]


def test_difference_uri_format_is_not_checked_as_officially() -> None:
    payload = b'{"location":"not a uri","retrieveDate":"2024-05-01T12:00:00Z"}'
    assert _official_16("UpdateFirmware.json").is_valid(json.loads(payload))
    assert V16.decode_request("UpdateFirmware", payload).message


def test_schema_accepted_but_unconvertible_is_a_logged_property_violation(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # cannot happen with the generated types; simulate a gap in them
    from csms.protocol.payloads import _official

    monkeypatch.setattr(_official.OfficialSchema, "findings", lambda self, instance: [])
    with caplog.at_level(logging.WARNING), pytest.raises(PayloadViolation) as caught:
        V16.decode_request("Authorize", b'{"idTag":5}')
    assert caught.value.kind is Violation.PROPERTY
    assert "official schema accepts" in caplog.text


def test_difference_nesting_deeper_than_the_parsers_recursion_limit() -> None:
    deep = b'{"vendorId":"x","data":' + b"[" * 5000 + b"]" * 5000 + b"}"
    with pytest.raises(PayloadViolation) as caught:
        V201.decode_request("DataTransfer", deep)
    assert caught.value.kind is Violation.FORMAT
    assert caught.value.details["cause"] == "nested too deeply"
    fine = b'{"vendorId":"x","data":' + b"[" * 50 + b"]" * 50 + b"}"
    assert V201.decode_request("DataTransfer", fine).message


# -- nothing but PayloadViolation comes out -----------------------------------

_NUMBERS = st.sampled_from(
    ["1e400", "-1e400", "1e-400", "1" + "0" * 400, "-0", "1.0", "1e999999999", "0.1e-999999"]
)
_JSON_TEXT = st.recursive(
    st.one_of(
        st.none().map(lambda _: "null"),
        st.booleans().map(lambda b: "true" if b else "false"),
        st.integers().map(str),
        st.floats(allow_nan=False, allow_infinity=False).map(repr),
        _NUMBERS,
        st.text(max_size=30).map(json.dumps),
        st.sampled_from(['"2024-05-01T12:00:00Z"', '"Accepted"', '"\\ud800"']),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(lambda items: "[" + ",".join(items) + "]"),
        st.lists(
            st.tuples(
                st.sampled_from(
                    [
                        "idTag",
                        "connectorId",
                        "status",
                        "timestamp",
                        "meterValue",
                        "chargingSchedule",
                        "limit",
                        "data",
                        "vendorId",
                        "x",
                    ]
                ).map(json.dumps),
                inner,
            ),
            max_size=5,
        ).map(lambda pairs: "{" + ",".join(f"{k}:{v}" for k, v in pairs) + "}"),
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None, database=None, derandomize=True)
@given(
    codec=st.sampled_from([V16, V201]),
    action=st.sampled_from(sorted(V16.actions | V201.actions)),
    request=st.booleans(),
    payload=st.one_of(_JSON_TEXT.map(str.encode), st.binary(max_size=40)),
    leniency=st.sampled_from([Leniency.NONE, Leniency(sum(flag.value for flag in Leniency))]),
)
def test_decoding_raises_nothing_but_payload_violations(
    codec: PayloadCodec, action: str, request: bool, payload: bytes, leniency: Leniency
) -> None:
    decode = codec.decode_request if request else codec.decode_response
    if not codec.knows(action):
        return
    try:
        message = decode(action, payload, leniency).message
    except PayloadViolation:
        return
    assert isinstance(message, msgspec.Struct)
