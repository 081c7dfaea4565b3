"""The OCPI 2.2.1 tariff model, the CDR pricing input and the money helpers."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from billing.money import CurrencyError, ceil_to_step, decimal_text, quantize4, round_currency
from billing.tariffs import (
    CdrDimensionType,
    CdrError,
    TariffDimensionType,
    TariffError,
    parse_cdr_input,
    parse_tariff,
    tariff_to_json,
    tariff_to_ocpi,
)
from billing.tariffs.model import DayOfWeek, ReservationRestrictionType

pytestmark = pytest.mark.backend_independent

CASES = Path(__file__).parents[2] / "data" / "ocpi-tariff-cases"
TARIFFS = sorted(CASES.glob("*/tariff.json"))


def minimal(**changes: object) -> dict[str, object]:
    tariff: dict[str, object] = {
        "country_code": "DE",
        "party_id": "ABC",
        "id": "T1",
        "currency": "EUR",
        "elements": [{"price_components": [{"type": "ENERGY", "price": 0.25, "step_size": 1}]}],
        "last_updated": "2024-01-01T00:00:00Z",
    }
    tariff.update(changes)
    return tariff


def errors_of(data: object) -> dict[str, str]:
    with pytest.raises(TariffError) as caught:
        parse_tariff(data)  # type: ignore[arg-type]
    return dict(caught.value.errors)


def test_there_are_test_tariffs() -> None:
    """The copied reference test data holds its 24 tariffs."""
    assert len(TARIFFS) == 24


@pytest.mark.parametrize("path", TARIFFS, ids=lambda p: p.parent.name)
def test_every_reference_tariff_parses_and_survives_export(path: Path) -> None:
    """Each reference tariff parses, and its OCPI export parses back to the same tariff."""
    tariff = parse_tariff(path.read_bytes())
    assert tariff.elements
    assert parse_tariff(tariff_to_json(tariff)) == tariff


def test_numbers_are_exact_decimals_and_export_keeps_them() -> None:
    """Prices are read as the exact Decimal written and exported unchanged."""
    tariff = parse_tariff(
        '{"id": "1", "currency": "EUR", "elements": [{"price_components":'
        ' [{"type": "TIME", "price": 0.10, "vat": 19.0, "step_size": 60}]}]}'
    )
    component = tariff.elements[0].price_components[0]
    assert component.price == Decimal("0.10") and str(component.price) == "0.10"
    assert component.vat == Decimal("19.0")
    exported = tariff_to_ocpi(tariff)
    assert exported["elements"][0]["price_components"][0]["price"] == Decimal("0.10")
    assert b'"price":0.10' in tariff_to_json(tariff)


def test_the_complex_tariff_reads_every_restriction() -> None:
    """Restrictions are read into typed values: currents, weekdays, times of day."""
    tariff = parse_tariff((CASES / "complex" / "tariff.json").read_bytes())
    third = tariff.elements[2].restrictions
    assert third is not None and third.min_current == Decimal("32.00")
    assert third.day_of_week[0] is DayOfWeek.MONDAY and len(third.day_of_week) == 5
    parking = tariff.elements[4].restrictions
    assert parking is not None and parking.start_time is not None
    assert parking.start_time.hour == 9 and parking.end_time is not None
    assert tariff.elements[4].price_components[0].type is TariffDimensionType.PARKING_TIME


def test_reservation_restriction_is_read() -> None:
    """A RESERVATION_EXPIRES restriction is kept on its element."""
    tariff = parse_tariff((CASES / "reservation_with_expire_fee" / "tariff.json").read_bytes())
    first = tariff.elements[0].restrictions
    assert first is not None and first.reservation is ReservationRestrictionType.RESERVATION_EXPIRES


def test_every_bad_field_is_named_with_its_path() -> None:
    """All problems are reported at once, each under its JSON path."""
    data = minimal(
        currency="euro",
        elements=[
            {"price_components": [{"type": "ENERGY", "price": 0.25, "step_size": 1}]},
            {
                "price_components": [
                    {"type": "ENERGY", "price": -1, "step_size": 1.5},
                    {"type": "VOLUME", "price": "1", "vat": 120, "step_size": 1},
                ],
                "restrictions": {
                    "start_time": "24:00",
                    "end_date": "2024-02-30",
                    "day_of_week": ["MONDAY", "FUNDAY", "MONDAY"],
                    "min_kwh": 5,
                    "max_kwh": 2,
                    "max_duration": -3,
                    "reservation": "MAYBE",
                },
            },
        ],
        min_price={"incl_vat": 1},
    )
    errors = errors_of(data)
    assert errors == {
        "currency": "must match [A-Z]{3}",
        "min_price.excl_vat": "is required",
        "elements[1].price_components[0].price": "must be a non-negative number",
        "elements[1].price_components[0].step_size": "must be a non-negative integer",
        "elements[1].price_components[1].type": "must be one of ENERGY, FLAT, PARKING_TIME, TIME",
        "elements[1].price_components[1].price": "must be a non-negative number",
        "elements[1].price_components[1].vat": "must be a percentage (0 to 100)",
        "elements[1].restrictions.start_time": "must be a time of day HH:MM (00:00 to 23:59)",
        "elements[1].restrictions.end_date": "must be a real calendar date",
        "elements[1].restrictions.max_duration": "must be a non-negative number",
        "elements[1].restrictions.reservation": "must be one of RESERVATION, RESERVATION_EXPIRES",
        "elements[1].restrictions.day_of_week[1]": (
            "must be one of MONDAY, TUESDAY, WEDNESDAY, THURSDAY, FRIDAY, SATURDAY, SUNDAY"
        ),
        "elements[1].restrictions.day_of_week[2]": "repeats MONDAY",
        "elements[1].restrictions.max_kwh": "must not be before min_kwh",
    }


def test_the_error_message_lists_paths() -> None:
    """The exception text is 'path: message' for every problem, joined."""
    with pytest.raises(TariffError) as caught:
        parse_tariff(minimal(id=7, elements=[]))
    assert str(caught.value) == "id: must be a string; elements: must not be empty"


def test_required_fields_and_wrong_shapes() -> None:
    """Missing id, currency, elements and a non-object element are each reported."""
    errors = errors_of({"elements": ["x"], "last_updated": "yesterday"})
    assert errors == {
        "id": "is required",
        "currency": "is required",
        "elements[0]": "must be an object",
        "last_updated": "must be an RFC 3339 date-time, e.g. 2022-01-13T14:30:00Z",
    }


def test_not_json_is_one_document_error() -> None:
    """Text that is not JSON (or has NaN) is reported against the document."""
    assert list(errors_of("{nope")) == ["(document)"]
    assert list(errors_of('{"id": NaN}')) == ["(document)"]
    assert errors_of("[1]") == {"(document)": "must be an object"}


def test_a_float_in_a_dict_becomes_its_decimal_text() -> None:
    """A caller's dict with float 0.1 gives Decimal('0.1'), not the binary float's value."""
    tariff = parse_tariff(
        minimal(elements=[{"price_components": [{"type": "TIME", "price": 0.1, "step_size": 1}]}])
    )
    assert tariff.elements[0].price_components[0].price == Decimal("0.1")


def test_validity_window_must_be_ordered() -> None:
    """end_date_time before start_date_time is an error."""
    errors = errors_of(
        minimal(start_date_time="2024-02-01T00:00:00Z", end_date_time="2024-01-01T00:00:00Z")
    )
    assert errors == {"end_date_time": "must be after start_date_time"}


def test_timestamps_without_zone_are_utc() -> None:
    """OCPI: a timestamp without a zone designator is UTC."""
    tariff = parse_tariff(minimal(last_updated="2024-01-01T10:00:00"))
    assert tariff.last_updated is not None and tariff.last_updated.utcoffset() is not None


def cdr(**changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "start_date_time": "2024-01-01T10:00:00Z",
        "end_date_time": "2024-01-01T11:00:00Z",
        "currency": "EUR",
        "cdr_location": {"country": "DEU", "time_zone": "Europe/Berlin"},
        "charging_periods": [
            {
                "start_date_time": "2024-01-01T10:00:00Z",
                "dimensions": [
                    {"type": "ENERGY", "volume": 12.5},
                    {"type": "MAX_POWER", "volume": 11},
                ],
            }
        ],
    }
    data.update(changes)
    return data


def test_a_cdr_gives_its_periods_and_time_zone() -> None:
    """The pricing input of a CDR: periods with dimensions, zone, country, currency."""
    parsed = parse_cdr_input(json.dumps(cdr()))
    assert parsed.time_zone == "Europe/Berlin" and parsed.country == "DEU"
    assert parsed.charging_periods[0].volume(CdrDimensionType.ENERGY) == Decimal("12.5")
    assert parsed.charging_periods[0].volume(CdrDimensionType.TIME) is None


def test_every_bad_cdr_field_is_named() -> None:
    """CDR problems are listed together, each with its JSON path."""
    bad = cdr(
        end_date_time="2024-01-01T09:00:00Z",
        cdr_location={"time_zone": "Mars/Olympus"},
        charging_periods=[
            {"start_date_time": "2024-01-01T10:30:00Z", "dimensions": [{"type": "ENERGY"}]},
            {
                "start_date_time": "2024-01-01T10:00:00Z",
                "dimensions": [
                    {"type": "TIME", "volume": -1},
                    {"type": "WATTS", "volume": 1},
                    {"type": "TIME", "volume": 1},
                ],
            },
        ],
    )
    with pytest.raises(CdrError) as caught:
        parse_cdr_input(bad)
    assert dict(caught.value.errors) == {
        "cdr_location.time_zone": (
            "unknown time zone 'Mars/Olympus' (an IANA name like Europe/Berlin)"
        ),
        "charging_periods[0].dimensions[0].volume": "is required",
        "charging_periods[1].dimensions[0].volume": "must be a non-negative number",
        "charging_periods[1].dimensions[1].type": (
            "must be one of CURRENT, ENERGY, ENERGY_EXPORT, ENERGY_IMPORT, MAX_CURRENT, "
            "MIN_CURRENT, MAX_POWER, MIN_POWER, PARKING_TIME, POWER, RESERVATION_TIME, "
            "STATE_OF_CHARGE, TIME"
        ),
        "charging_periods[1].dimensions[2].type": "TIME appears twice in this period",
        "end_date_time": "must not be before start_date_time",
    }


def test_periods_must_be_in_time_order_and_inside_the_session() -> None:
    """A period before its predecessor or before the session start is refused."""
    bad = cdr(
        charging_periods=[
            {
                "start_date_time": "2024-01-01T09:00:00Z",
                "dimensions": [{"type": "TIME", "volume": 1}],
            },
            {
                "start_date_time": "2024-01-01T08:00:00Z",
                "dimensions": [{"type": "TIME", "volume": 1}],
            },
        ]
    )
    with pytest.raises(CdrError) as caught:
        parse_cdr_input(bad)
    assert dict(caught.value.errors) == {
        "charging_periods[1].start_date_time": "must not be before the previous period's start",
        "charging_periods[0].start_date_time": "must not be before start_date_time",
    }


def test_a_cdr_needs_charging_periods() -> None:
    """A CDR without charging_periods (or with an empty list) cannot be priced."""
    with pytest.raises(CdrError) as missing:
        parse_cdr_input(cdr(charging_periods=None))
    assert dict(missing.value.errors) == {"charging_periods": "is required"}
    with pytest.raises(CdrError) as empty:
        parse_cdr_input(cdr(charging_periods=[]))
    assert dict(empty.value.errors) == {"charging_periods": "must not be empty"}


def test_quantize4_rounds_half_up() -> None:
    """OCPI's 4 decimals round half away from zero: 0.30025 -> 0.3003."""
    assert quantize4(Decimal("0.30025")) == Decimal("0.3003")
    assert quantize4(Decimal("0.30024")) == Decimal("0.3002")


def test_round_currency_uses_the_iso_minor_unit() -> None:
    """EUR rounds to cents, JPY to yen, KWD to fils; unknown codes are refused."""
    assert round_currency(Decimal("2.345"), "EUR") == Decimal("2.35")
    assert round_currency(Decimal("2.344"), "chf") == Decimal("2.34")
    assert round_currency(Decimal("1234.5"), "JPY") == Decimal("1235")
    assert round_currency(Decimal("1.2345"), "KWD") == Decimal("1.235")
    with pytest.raises(CurrencyError):
        round_currency(Decimal(1), "XYZ")


def test_decimal_text_is_plain_and_short() -> None:
    """Amounts print with up to 4 decimals, no trailing zeros, never as an exponent."""
    assert decimal_text(Decimal("5.5000")) == "5.5"
    assert decimal_text(Decimal("1E+2")) == "100"
    assert decimal_text(Decimal("0.00004")) == "0"
    assert decimal_text(Decimal("0.55025")) == "0.5503"


def test_ceil_to_step_rounds_up_to_a_multiple() -> None:
    """120.24 s at a 900 s step is 900 s; an exact multiple stays."""
    assert ceil_to_step(Decimal("120.24"), Decimal(900)) == Decimal(900)
    assert ceil_to_step(Decimal(1800), Decimal(900)) == Decimal(1800)
