"""Leniency: each flag repairs its own firmware quirk, only when set, and
says what it changed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from csms.protocol.payloads import Leniency, PayloadCodec, PayloadViolation, Violation, v16, v201

pytestmark = pytest.mark.backend_independent

V16, V201 = PayloadCodec("1.6"), PayloadCodec("2.0.1")

MV = (
    b'{"connectorId":1,"meterValue":[{"timestamp":"2024-05-01T12:00:00Z",'
    b'"sampledValue":[{"value":%s,"unit":"Wh"}]}]}'
)
START = b'{"connectorId":%s,"idTag":"ABC","meterStart":%s,"timestamp":"%s"}'


def _rejected(decode, *args) -> PayloadViolation:  # type: ignore[no-untyped-def]
    with pytest.raises(PayloadViolation) as caught:
        decode(*args)
    return caught.value


def test_numbers_as_strings() -> None:
    payload = MV % b"12.50"
    assert _rejected(V16.decode_request, "MeterValues", payload).kind is Violation.TYPE
    decoded = V16.decode_request("MeterValues", payload, Leniency.NUMBERS_AS_STRINGS)
    assert isinstance(decoded.message, v16.MeterValuesRequest)
    assert decoded.message.meter_value[0].sampled_value[0].value == "12.50"  # JSON text kept
    assert decoded.fixes == ("$.meterValue[0].sampledValue[0].value: number 12.50 read as string",)
    for number, text in ((b"12", "12"), (b"-0", "0"), (b"1e3", "1e3"), (b"1.0E-2", "1.0E-2")):
        decoded = V16.decode_request("MeterValues", MV % number, Leniency.NUMBERS_AS_STRINGS)
        assert decoded.message.meter_value[0].sampled_value[0].value == text  # type: ignore[attr-defined]
    # other flags do not do it; booleans are not numbers
    assert _rejected(V16.decode_request, "MeterValues", payload, ~Leniency.NUMBERS_AS_STRINGS)
    assert _rejected(V16.decode_request, "MeterValues", MV % b"true", Leniency.NUMBERS_AS_STRINGS)
    # the repaired string is still held to maxLength
    long_number = b'{"idTag":123456789012345678901}'
    violation = _rejected(V16.decode_request, "Authorize", long_number, Leniency.NUMBERS_AS_STRINGS)
    assert violation.kind is Violation.PROPERTY and violation.details["keyword"] == "maxLength"


def test_naive_timestamps_as_utc() -> None:
    payload = START % (b"1", b"0", b"2024-05-01T12:00:00.5")
    violation = _rejected(V16.decode_request, "StartTransaction", payload)
    assert violation.kind is Violation.PROPERTY and violation.details["keyword"] == "format"
    decoded = V16.decode_request("StartTransaction", payload, Leniency.NAIVE_TIMESTAMPS_AS_UTC)
    assert isinstance(decoded.message, v16.StartTransactionRequest)
    assert decoded.message.timestamp == datetime(2024, 5, 1, 12, 0, 0, 500000, tzinfo=UTC)
    assert decoded.fixes == (
        "$.timestamp: date-time 2024-05-01T12:00:00.5 without offset read as UTC",
    )
    # nested, 2.0.1
    decoded = V201.decode_request(
        "MeterValues",
        b'{"evseId":1,"meterValue":[{"timestamp":"2024-05-01T12:00:00",'
        b'"sampledValue":[{"value":1}]}]}',
        Leniency.NAIVE_TIMESTAMPS_AS_UTC,
    )
    assert decoded.fixes == (
        "$.meterValue[0].timestamp: date-time 2024-05-01T12:00:00 without offset read as UTC",
    )
    # only a naive date-time, not any broken one
    for broken in (b"2024-05-01 12:00:00", b"2024-05-01T12:00", b"2024-02-30T12:00:00"):
        payload = START % (b"1", b"0", broken)
        assert (
            _rejected(
                V16.decode_request, "StartTransaction", payload, Leniency.NAIVE_TIMESTAMPS_AS_UTC
            ).details["keyword"]
            == "format"
        )


def test_strings_as_numbers() -> None:
    payload = START % (b'"2"', b'"1500"', b"2024-05-01T12:00:00Z")
    assert _rejected(V16.decode_request, "StartTransaction", payload).kind is Violation.TYPE
    decoded = V16.decode_request("StartTransaction", payload, Leniency.STRINGS_AS_NUMBERS)
    assert isinstance(decoded.message, v16.StartTransactionRequest)
    assert (decoded.message.connector_id, decoded.message.meter_start) == (2, 1500)
    assert decoded.fixes == (
        '$.connectorId: string "2" read as integer',
        '$.meterStart: string "1500" read as integer',
    )
    # strict JSON number syntax only: no spaces, signs, hex or fractions for integers
    for bad in (b'" 2"', b'"+2"', b'"0x2"', b'"2.0"', b'"02"', b'""'):
        payload = START % (bad, b"0", b"2024-05-01T12:00:00Z")
        violation = _rejected(
            V16.decode_request, "StartTransaction", payload, Leniency.STRINGS_AS_NUMBERS
        )
        assert violation.kind is Violation.TYPE, bad
    # numbers too (2.0.1 sampled values are numbers), with the minimum still checked
    decoded = V201.decode_request(
        "MeterValues",
        b'{"evseId":1,"meterValue":[{"timestamp":"2024-05-01T12:00:00Z",'
        b'"sampledValue":[{"value":"230.5"}]}]}',
        Leniency.STRINGS_AS_NUMBERS,
    )
    assert decoded.message.meter_value[0].sampled_value[0].value == 230.5  # type: ignore[attr-defined]
    # a multipleOf number is judged on the string's decimal text
    schedule = (
        b'{"status":"Accepted","chargingSchedule":{"chargingRateUnit":"A",'
        b'"chargingSchedulePeriod":[{"startPeriod":0,"limit":"%s"}]}}'
    )
    ok = V16.decode_response(
        "GetCompositeSchedule", schedule % b"16.1", Leniency.STRINGS_AS_NUMBERS
    )
    assert ok.message.charging_schedule.charging_schedule_period[0].limit == 16.1  # type: ignore[attr-defined]
    violation = _rejected(
        V16.decode_response,
        "GetCompositeSchedule",
        schedule % b"16.15",
        Leniency.STRINGS_AS_NUMBERS,
    )
    assert violation.details["keyword"] == "multipleOf"


def test_strings_as_booleans() -> None:
    payload = b'{"configurationKey":[{"key":"K","readonly":"%s"}]}'
    assert (
        _rejected(V16.decode_response, "GetConfiguration", payload % b"true").kind is Violation.TYPE
    )
    for text, value in ((b"true", True), (b"False", False), (b"TRUE", True)):
        decoded = V16.decode_response(
            "GetConfiguration", payload % text, Leniency.STRINGS_AS_BOOLEANS
        )
        assert isinstance(decoded.message, v16.GetConfigurationResponse)
        assert decoded.message.configuration_key[0].readonly is value  # type: ignore[index]
        assert decoded.fixes == (
            f'$.configurationKey[0].readonly: string "{text.decode()}" read as boolean',
        )
    for bad in (b"yes", b"1", b""):
        assert (
            _rejected(
                V16.decode_response, "GetConfiguration", payload % bad, Leniency.STRINGS_AS_BOOLEANS
            ).kind
            is Violation.TYPE
        )


def test_nulls_as_absent() -> None:
    payload = (
        b'{"connectorId":1,"idTag":"ABC","meterStart":0,"timestamp":"2024-05-01T12:00:00Z",'
        b'"reservationId":null}'
    )
    assert _rejected(V16.decode_request, "StartTransaction", payload).kind is Violation.TYPE
    decoded = V16.decode_request("StartTransaction", payload, Leniency.NULLS_AS_ABSENT)
    assert (
        decoded.message
        == V16.decode_request(
            "StartTransaction", payload.replace(b',"reservationId":null', b"")
        ).message
    )
    assert decoded.fixes == ("$.reservationId: null read as absent",)
    # a required property cannot be null
    required = payload.replace(b'"idTag":"ABC"', b'"idTag":null')
    violation = _rejected(
        V16.decode_request, "StartTransaction", required, Leniency.NULLS_AS_ABSENT
    )
    assert violation.kind is Violation.TYPE and violation.details["path"] == "$.idTag"


def test_unknown_properties() -> None:
    payload = b'{"idTag":"ABC","vendorExtension":{"x":1}}'
    violation = _rejected(V16.decode_request, "Authorize", payload)
    assert violation.kind is Violation.FORMAT
    decoded = V16.decode_request("Authorize", payload, Leniency.UNKNOWN_PROPERTIES)
    assert decoded.message == v16.AuthorizeRequest(id_tag="ABC")
    assert decoded.fixes == ("$.vendorExtension: unknown property ignored",)
    # nested too; a known property misspelled is still missing
    decoded = V201.decode_request(
        "Authorize",
        b'{"idToken":{"idToken":"A","type":"ISO14443","x":1}}',
        Leniency.UNKNOWN_PROPERTIES,
    )
    assert decoded.message == v201.AuthorizeRequest(
        id_token=v201.IdTokenType(id_token="A", type="ISO14443")
    )
    assert decoded.fixes == ("$.idToken.x: unknown property ignored",)
    violation = _rejected(
        V16.decode_request, "Authorize", b'{"IdTag":"ABC"}', Leniency.UNKNOWN_PROPERTIES
    )
    assert violation.kind is Violation.OCCURRENCE


def test_flags_combine_and_report_in_order() -> None:
    payload = (
        b'{"connectorId":"1","meterValue":[{"timestamp":"2024-05-01T12:00:00",'
        b'"sampledValue":[{"value":5.5,"unit":null}]}],"x":1}'
    )
    everything = (
        Leniency.NUMBERS_AS_STRINGS
        | Leniency.NAIVE_TIMESTAMPS_AS_UTC
        | Leniency.STRINGS_AS_NUMBERS
        | Leniency.NULLS_AS_ABSENT
        | Leniency.UNKNOWN_PROPERTIES
    )
    decoded = V16.decode_request("MeterValues", payload, everything)
    assert decoded.fixes == (
        '$.connectorId: string "1" read as integer',
        "$.meterValue[0].timestamp: date-time 2024-05-01T12:00:00 without offset read as UTC",
        "$.meterValue[0].sampledValue[0].value: number 5.5 read as string",
        "$.meterValue[0].sampledValue[0].unit: null read as absent",
        "$.x: unknown property ignored",
    )
    # one flag short: the first remaining problem is reported
    violation = _rejected(
        V16.decode_request, "MeterValues", payload, everything & ~Leniency.NULLS_AS_ABSENT
    )
    assert violation.details["path"] == "$.meterValue[0].sampledValue[0].unit"


def test_strict_path_reports_no_fixes() -> None:
    payload = MV % b'"12"'
    assert V16.decode_request("MeterValues", payload).fixes == ()
    everything = Leniency(sum(flag.value for flag in Leniency))
    assert V16.decode_request("MeterValues", payload, everything).fixes == ()
    # schema-valid forms that msgspec alone rejects are no leniency either
    status = (
        b'{"timestamp":"2024-05-01T12:00:00Z","connectorStatus":"Available",'
        b'"evseId":1.0,"connectorId":1}'
    )
    assert V201.decode_request("StatusNotification", status, everything).fixes == ()


def test_leniency_never_hides_real_violations() -> None:
    everything = Leniency(sum(flag.value for flag in Leniency))
    for payload, keyword in (
        (MV % b'"1","phase":"L9"', "enum"),
        (b'{"connectorId":1,"meterValue":[]}', "minItems"),
        (b'{"idTag":"123456789012345678901"}', "maxLength"),
    ):
        action = "Authorize" if b"idTag" in payload else "MeterValues"
        violation = _rejected(V16.decode_request, action, payload, everything)
        assert violation.details["keyword"] == keyword
