"""Pricing sessions with OCPI 2.2.1 tariffs: hand-computed cases."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from billing.tariffs import (
    CdrDimension,
    CdrDimensionType,
    ChargingPeriod,
    Cost,
    PriceAdjustment,
    PricedSession,
    PricingError,
    Tariff,
    TariffDimensionType,
    parse_cdr_input,
    parse_tariff,
    price_cdr,
    price_session,
)

pytestmark = pytest.mark.backend_independent

CASES = Path(__file__).parents[2] / "data" / "ocpi-tariff-cases"
D = Decimal


def case(name: str) -> Tariff:
    return parse_tariff((CASES / name / "tariff.json").read_bytes())


def tariff(*elements: dict[str, Any], **fields: Any) -> Tariff:
    return parse_tariff({"id": "T", "currency": "EUR", "elements": list(elements), **fields})


def energy(
    price: str, step: int = 1, vat: str | None = None, **restrictions: Any
) -> dict[str, Any]:
    component: dict[str, Any] = {"type": "ENERGY", "price": D(price), "step_size": step}
    if vat is not None:
        component["vat"] = D(vat)
    element: dict[str, Any] = {"price_components": [component]}
    if restrictions:
        element["restrictions"] = restrictions
    return element


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def periods(*items: tuple[str, dict[str, str]]) -> list[ChargingPeriod]:
    return [
        ChargingPeriod(
            start_date_time=at(start),
            dimensions=tuple(
                CdrDimension(type=CdrDimensionType(kind), volume=D(volume))
                for kind, volume in dims.items()
            ),
        )
        for start, dims in items
    ]


def price(
    t: Tariff, items: list[ChargingPeriod], end: str, zone: str = "UTC", **kw: Any
) -> PricedSession:
    return price_session(
        t, items, start=items[0].start_date_time, end=at(end), time_zone=zone, **kw
    )


def cost(excl: str, incl: str | None = None) -> Cost:
    return Cost(excl_vat=D(excl), incl_vat=D(incl if incl is not None else excl))


# step_size -------------------------------------------------------------------


def test_time_step_rounds_the_session_total_and_bills_the_extra_at_the_last_price() -> None:
    """OCPI example #2: 25 min before 17:00 and 10 after, step 15 min: 45 min billed,
    the extra 10 min at the after-17:00 price: 0.50 + 0.80 = 1.30."""
    result = price(
        case("step_size"),
        periods(
            ("2022-01-13T16:35:00+00:00", {"TIME": "0.4167"}),
            ("2022-01-13T17:00:00+00:00", {"TIME": "0.1667"}),
        ),
        "2022-01-13T17:10:00+00:00",
    )
    # 0.4167 h billed at 1.20; total 0.5834 h = 2100.24 s -> 2700 s = 0.75 h,
    # so the last period bills 0.75 - 0.4167 = 0.3333 h at 2.40.
    assert result.total_time_cost == cost("1.3000")
    assert result.billed_charging_time == D("0.7500")
    assert [line.billed_volume for line in result.lines] == [D("0.4167"), D("0.3333")]


def test_charging_followed_by_priced_parking_rounds_only_parking() -> None:
    """The step_size case: TIME is followed by another time-based period, so only
    PARKING_TIME is rounded (2 min -> 15 min at 1.00/h = 0.25); TIME is exact."""
    result = price_cdr(
        case("step_size"), parse_cdr_input((CASES / "step_size" / "cdr1.json").read_bytes())
    )
    assert result.total_time_cost == cost("0.3002")
    assert result.total_parking_cost == cost("0.2500")
    assert result.billed_charging_time == D("0.1668") and result.billed_parking_time == D("0.2500")


def test_time_alone_is_rounded_up_by_its_step() -> None:
    """7 min charging at 1.90/h with a 5 min step bills 10 min: 0.3167 (VAT 5.2 %)."""
    result = price(
        case("alt_text"),
        periods(("2024-05-01T10:00:00+00:00", {"TIME": "0.1167"})),
        "2024-05-01T10:07:00+00:00",
    )
    # 0.1167 h = 420.12 s -> 600 s = 1/6 h; 1.90 / 6 = 0.316666..
    assert result.total_time_cost == cost("0.3167", "0.3331")


def test_free_parking_time_is_not_billable_for_the_step() -> None:
    """OCPI's free-of-charge example: 8 paid minutes of parking before 20:00 round to 15
    (0.25), the 12 free minutes after 20:00 are not rounded into it; total 0.73."""
    result = price(
        case("step_size"),
        periods(
            ("2022-01-13T19:40:00+00:00", {"TIME": "0.2"}),
            ("2022-01-13T19:52:00+00:00", {"PARKING_TIME": "0.1333"}),
            ("2022-01-13T20:00:00+00:00", {"PARKING_TIME": "0.2"}),
        ),
        "2022-01-13T20:12:00+00:00",
    )
    assert result.total_time_cost == cost("0.4800")
    assert result.total_parking_cost == cost("0.2500")
    assert result.total_cost == cost("0.7300")
    assert result.total_parking_time == D("0.3333")


def test_energy_step_rounds_the_total_in_watt_hours() -> None:
    """5 + 2 + 5 kWh with a 5000 Wh step in the last priced period bills 15 kWh at 2: 30."""
    result = price(
        case("step_size_energy"),
        periods(
            ("2022-01-13T16:55:00+00:00", {"ENERGY": "5"}),
            ("2022-01-13T17:00:00+00:00", {"ENERGY": "2"}),
            ("2022-01-13T17:02:00+00:00", {"ENERGY": "5"}),
        ),
        "2022-01-13T17:07:00+00:00",
    )
    assert result.total_energy_cost == cost("30.0000")
    assert result.total_energy == D("12.0000") and result.billed_energy == D("15.0000")


def test_small_energy_steps_follow_the_ocpi_example() -> None:
    """OCPI: step 25 Wh at 0.25/kWh bills 101 Wh as 125 Wh: 0.03125 -> 0.0313."""
    result = price(
        tariff(energy("0.25", step=25)),
        periods(("2024-01-01T10:00:00+00:00", {"ENERGY": "0.101"})),
        "2024-01-01T10:10:00+00:00",
    )
    assert result.total_energy_cost == cost("0.0313")


# restrictions in local time ---------------------------------------------------

NIGHT = tariff(
    energy("0.20", start_time="22:00", end_time="06:00"),
    energy("0.40"),
)


def test_a_night_window_wraps_past_midnight() -> None:
    """22:00-06:00 holds at 23:30 and 05:59, not at 06:00 (end exclusive) nor 21:59."""
    result = price(
        NIGHT,
        periods(
            ("2024-01-10T21:59:00+00:00", {"ENERGY": "1"}),
            ("2024-01-10T23:30:00+00:00", {"ENERGY": "1"}),
            ("2024-01-11T05:59:00+00:00", {"ENERGY": "1"}),
            ("2024-01-11T06:00:00+00:00", {"ENERGY": "1"}),
        ),
        "2024-01-11T07:00:00+00:00",
    )
    assert [line.price for line in result.lines] == [D("0.40"), D("0.20"), D("0.20"), D("0.40")]
    assert [line.element_index for line in result.lines] == [1, 0, 0, 1]


def test_time_of_day_is_read_in_the_station_zone() -> None:
    """21:30 UTC is 22:30 in Berlin in winter: the night price in Berlin, the day price in UTC."""
    items = periods(("2024-01-10T21:30:00+00:00", {"ENERGY": "10"}))
    assert price(NIGHT, items, "2024-01-10T22:30:00+00:00", "Europe/Berlin").total_cost == cost(
        "2.0000"
    )
    assert price(NIGHT, items, "2024-01-10T22:30:00+00:00", "UTC").total_cost == cost("4.0000")


def test_end_time_midnight_means_end_of_day() -> None:
    """end_time 00:00 (OCPI: 'to stop at end of the day use 00:00') holds until 23:59."""
    evening = tariff(energy("0.30", start_time="20:00", end_time="00:00"), energy("0.40"))
    result = price(
        evening,
        periods(
            ("2024-01-10T23:59:00+00:00", {"ENERGY": "1"}),
            ("2024-01-11T00:00:00+00:00", {"ENERGY": "1"}),
        ),
        "2024-01-11T01:00:00+00:00",
    )
    assert [line.price for line in result.lines] == [D("0.30"), D("0.40")]


def test_spring_dst_change_in_berlin() -> None:
    """On 2024-03-31 Berlin jumps 02:00 -> 03:00: 00:59 UTC is 01:59 local (inside
    00:00-03:00), 01:00 UTC is already 03:00 local (outside)."""
    early = tariff(energy("0.10", start_time="00:00", end_time="03:00"), energy("0.40"))
    items = periods(
        ("2024-03-31T00:59:00+00:00", {"ENERGY": "1"}),
        ("2024-03-31T01:00:00+00:00", {"ENERGY": "1"}),
    )
    berlin = price(early, items, "2024-03-31T02:00:00+00:00", "Europe/Berlin")
    assert [line.price for line in berlin.lines] == [D("0.10"), D("0.40")]
    utc = price(early, items, "2024-03-31T02:00:00+00:00", "UTC")
    assert [line.price for line in utc.lines] == [D("0.10"), D("0.10")]


def test_autumn_dst_change_in_berlin_repeats_the_hour() -> None:
    """On 2024-10-27 02:00-03:00 happens twice in Berlin (00:30 and 01:30 UTC): both
    periods start at 02:30 local and both take the 02:00-03:00 price; total time is 2 h."""
    repeated = tariff(energy("0.10", start_time="02:00", end_time="03:00"), energy("0.40"))
    result = price(
        repeated,
        periods(
            ("2024-10-27T00:30:00+00:00", {"ENERGY": "1"}),
            ("2024-10-27T01:30:00+00:00", {"ENERGY": "1"}),
        ),
        "2024-10-27T02:30:00+00:00",
        "Europe/Berlin",
    )
    assert [line.price for line in result.lines] == [D("0.10"), D("0.10")]
    assert result.total_time == D("2.0000")


def test_weekday_is_the_local_weekday() -> None:
    """Friday 23:30 UTC is Saturday 00:30 in Berlin: the weekend price there, not in UTC."""
    weekend = tariff(energy("0.50", day_of_week=["SATURDAY", "SUNDAY"]), energy("0.30"))
    items = periods(("2024-01-05T23:30:00+00:00", {"ENERGY": "10"}))
    assert price(weekend, items, "2024-01-06T00:30:00+00:00", "Europe/Berlin").total_cost == cost(
        "5.0000"
    )
    assert price(weekend, items, "2024-01-06T00:30:00+00:00", "UTC").total_cost == cost("3.0000")


def test_dates_are_local_start_inclusive_end_exclusive() -> None:
    """start_date 2024-01-01 holds from local midnight; end_date 2024-01-02 no longer on it."""
    promo = tariff(energy("0.10", start_date="2024-01-01", end_date="2024-01-02"), energy("0.40"))
    result = price(
        promo,
        periods(
            ("2023-12-31T22:59:00+00:00", {"ENERGY": "1"}),  # 23:59 local, 31 Dec
            ("2023-12-31T23:00:00+00:00", {"ENERGY": "1"}),  # 00:00 local, 1 Jan
            ("2024-01-01T23:00:00+00:00", {"ENERGY": "1"}),  # 00:00 local, 2 Jan
        ),
        "2024-01-02T00:00:00+00:00",
        "Europe/Berlin",
    )
    assert [line.price for line in result.lines] == [D("0.40"), D("0.10"), D("0.40")]


def test_kwh_restrictions_look_at_the_energy_before_the_period() -> None:
    """max_kwh 20: periods starting at 0 and 15 kWh take 0.20, the one at 25 kWh 0.40
    (a period is priced by its start): 3 + 2 + 2 = 7."""
    tiered = tariff(energy("0.20", max_kwh=20), energy("0.40", min_kwh=20))
    result = price(
        tiered,
        periods(
            ("2024-01-01T10:00:00+00:00", {"ENERGY": "15"}),
            ("2024-01-01T10:30:00+00:00", {"ENERGY": "10"}),
            ("2024-01-01T11:00:00+00:00", {"ENERGY": "5"}),
        ),
        "2024-01-01T11:30:00+00:00",
    )
    assert result.total_energy_cost == cost("7.0000")


def test_first_hour_free_parking_by_duration() -> None:
    """first_hour_kwh_free: parking free for the first hour of the session, then 2.00/h;
    energy free while less than 1 kWh was charged BEFORE the period, then 0.20:
    1.5 kWh free (0 before), 8.5 kWh at 0.20, then 1.5 h parking from the 1 h mark."""
    result = price(
        case("first_hour_kwh_free"),
        periods(
            ("2024-01-01T10:00:00+00:00", {"ENERGY": "1.5", "TIME": "0.5"}),
            ("2024-01-01T10:30:00+00:00", {"ENERGY": "8.5", "TIME": "0.5"}),
            ("2024-01-01T11:00:00+00:00", {"PARKING_TIME": "1.5"}),
        ),
        "2024-01-01T12:30:00+00:00",
    )
    assert result.total_energy_cost == cost("1.7000")  # 8.5 kWh at 0.20
    assert result.total_parking_cost == cost("3.0000")  # 1.5 h at 2.00, min_duration 3600 met
    assert result.total_time == D("2.5000")


def test_max_duration_example_from_ocpi() -> None:
    """OCPI max_duration example: 5 kWh in the first 30 min free, 1.2 kWh after at 0.25: 0.30."""
    result = price(
        case("restriction_example_max_duration"),
        periods(
            ("2024-01-01T10:00:00+00:00", {"ENERGY": "5"}),
            ("2024-01-01T10:30:00+00:00", {"ENERGY": "1.2"}),
        ),
        "2024-01-01T10:40:00+00:00",
    )
    assert result.total_cost == cost("0.3000", "0.3600")


def test_max_power_example_from_ocpi() -> None:
    """OCPI max_power example: 1 kWh at 6 kW (0.20), 40 kWh at 48 kW (fallback 0.50),
    0.5 kWh at 4 kW (0.20): 20.30 excl, 24.36 incl 20 % VAT."""
    result = price(
        case("restriction_example_max_power"),
        periods(
            ("2024-01-01T10:00:00+00:00", {"ENERGY": "1", "MAX_POWER": "6"}),
            ("2024-01-01T10:10:00+00:00", {"ENERGY": "40", "MAX_POWER": "48"}),
            ("2024-01-01T11:00:00+00:00", {"ENERGY": "0.5", "MAX_POWER": "4"}),
        ),
        "2024-01-01T11:10:00+00:00",
    )
    assert result.total_energy_cost == cost("20.3000", "24.3600")
    assert [line.element_index for line in result.lines] == [0, 2, 0]


def test_max_power_is_exclusive_and_missing_power_matches() -> None:
    """Exactly 16 kW is not below max_power 16; a period without power data matches."""
    result = price(
        case("restriction_example_max_power"),
        periods(
            ("2024-01-01T10:00:00+00:00", {"ENERGY": "1", "MAX_POWER": "16"}),
            ("2024-01-01T10:10:00+00:00", {"ENERGY": "1"}),
        ),
        "2024-01-01T10:20:00+00:00",
    )
    assert [line.element_index for line in result.lines] == [1, 0]


def test_complex_tariff_monday_example_from_ocpi() -> None:
    """OCPI complex example, Monday 09:30: flat 2.50 (15 %), 165 min at 16 A at 1.00/h
    (20 %), 42 min parking rounded to 45 at 5.00/h (10 %): 9.00 excl, 10.30 incl."""
    result = price(
        case("complex"),
        periods(
            ("2024-01-08T09:30:00+00:00", {"TIME": "2.75", "MAX_CURRENT": "16"}),
            ("2024-01-08T12:15:00+00:00", {"PARKING_TIME": "0.7"}),
        ),
        "2024-01-08T12:57:00+00:00",
    )
    assert result.total_fixed_cost == cost("2.5000", "2.8750")
    assert result.total_time_cost == cost("2.7500", "3.3000")
    assert result.total_parking_cost == cost("3.7500", "4.1250")
    assert result.total_cost == cost("9.0000", "10.3000")


def test_dimensions_take_their_element_independently() -> None:
    """A period takes FLAT from element 0 and TIME from element 3 at once (Saturday,
    43 A: not below 32 A, not a weekday)."""
    result = price(
        case("complex"),
        periods(
            ("2024-01-06T13:30:00+00:00", {"TIME": "1", "MIN_CURRENT": "43", "MAX_CURRENT": "43"})
        ),
        "2024-01-06T14:30:00+00:00",
    )
    assert {(line.dimension, line.element_index) for line in result.lines} == {
        (TariffDimensionType.FLAT, 0),
        (TariffDimensionType.TIME, 3),
    }
    assert result.total_time_cost == cost("1.2500", "1.5000")


# FLAT, VAT, min/max price, reservation ------------------------------------------


def test_flat_fee_is_charged_once() -> None:
    """Three periods with a FLAT component in force still pay the 1.00 fee once."""
    result = price_cdr(
        case("multiple_flat_fees"),
        parse_cdr_input((CASES / "multiple_flat_fees" / "cdr.json").read_bytes()),
    )
    assert result.total_fixed_cost == cost("1.0000") and result.total_cost == cost("1.0000")
    assert len(result.lines) == 1


def test_vat_is_per_component_and_missing_vat_means_none() -> None:
    """FLAT at 20 % and ENERGY at 10 % add up separately; a component without vat has
    incl_vat equal to excl_vat, and 0 % the same."""
    result = price(
        case("025kwh_start"),
        periods(("2024-01-01T10:00:00+00:00", {"ENERGY": "20"})),
        "2024-01-01T11:00:00+00:00",
    )
    assert result.total_fixed_cost == cost("0.5000", "0.6000")
    assert result.total_energy_cost == cost("5.0000", "5.5000")
    assert result.total_cost == cost("5.5000", "6.1000")
    bare = price(
        tariff(energy("0.30")),
        periods(("2024-01-01T10:00:00+00:00", {"ENERGY": "10"})),
        "2024-01-01T11:00:00+00:00",
    )
    assert bare.total_cost == cost("3.0000", "3.0000")


def test_min_price_raises_the_total_but_not_the_energy_cost() -> None:
    """1.2 kWh at 0.25 is 0.30/0.33, below min_price 0.50/0.55: total 0.50/0.55,
    the 0.20/0.22 difference is the MIN_PRICE adjustment."""
    result = price(
        case("025kwh_min_price"),
        periods(("2022-01-13T14:30:00+00:00", {"ENERGY": "1.2"})),
        "2022-01-13T15:30:00+00:00",
    )
    assert result.total_energy_cost == cost("0.3000", "0.3300")
    assert result.total_cost == cost("0.5000", "0.5500")
    assert result.price_adjustment == cost("0.2000", "0.2200")
    assert result.adjustment_reason is PriceAdjustment.MIN_PRICE


def test_max_price_caps_the_total() -> None:
    """50 kWh at 0.25 + 0.50 flat is 13.00/14.35, above max_price 10.00/11.00."""
    result = price(
        case("025kwh_start_max_price"),
        periods(("2019-01-01T10:00:00+00:00", {"ENERGY": "50"})),
        "2019-01-01T12:00:00+00:00",
    )
    assert result.total_energy_cost == cost("12.5000", "13.7500")
    assert result.total_cost == cost("10.0000", "11.0000")
    assert result.adjustment_reason is PriceAdjustment.MAX_PRICE


def test_min_price_without_incl_vat_moves_both_by_the_same_amount() -> None:
    """min_price with only excl_vat 1.00 on a 0.40 session without VAT: 1.00/1.00."""
    result = price(
        tariff(energy("0.40"), min_price={"excl_vat": D("1.00")}),
        periods(("2024-01-01T10:00:00+00:00", {"ENERGY": "1"})),
        "2024-01-01T11:00:00+00:00",
    )
    assert result.total_cost == cost("1.0000", "1.0000")


def test_reservation_elements_price_only_the_reservation() -> None:
    """A reservation element's 2.00 fee and 5.00/h price apply to RESERVATION_TIME only:
    30 min reserved (2.00 + 2.50, 20 % VAT) then 20 kWh charged (0.50 + 5.00)."""
    t = case("reservation_2_euro_fee_5_euro_per_hour")
    plain = price(
        t, periods(("2024-01-01T10:00:00+00:00", {"ENERGY": "20"})), "2024-01-01T11:00:00+00:00"
    )
    assert plain.total_cost == cost("5.5000", "6.1000")
    assert plain.total_reservation_cost == cost("0")
    reserved = price(
        t,
        periods(
            ("2024-01-01T09:30:00+00:00", {"RESERVATION_TIME": "0.5"}),
            ("2024-01-01T10:00:00+00:00", {"ENERGY": "20"}),
        ),
        "2024-01-01T11:00:00+00:00",
    )
    assert reserved.total_reservation_cost == cost("4.5000", "5.4000")
    assert reserved.total_cost == cost("10.0000", "11.5000")


def test_an_expired_reservation_pays_the_expiry_fee() -> None:
    """With reservation_expired the RESERVATION_EXPIRES element's 4.00 fee applies,
    plus 20 min of reservation time at 2.00/h rounded to 10 min steps."""
    result = price(
        case("reservation_with_expire_fee"),
        periods(("2024-01-01T09:30:00+00:00", {"RESERVATION_TIME": "0.3333"})),
        "2024-01-01T09:50:00+00:00",
        reservation_expired=True,
    )
    # 0.3333 h = 1199.88 s -> 1200 s = 1/3 h at 2.00 = 0.6667; fee 4.00; 20 % VAT.
    assert result.total_reservation_cost == cost("4.6667", "5.6000")
    assert result.total_fixed_cost == cost("0")


def test_a_tariff_outside_its_validity_cannot_price() -> None:
    """A session starting after the tariff's end_date_time is refused."""
    with pytest.raises(PricingError, match="not valid"):
        price(
            case("025kwh_start_max_price"),
            periods(("2024-01-01T10:00:00+00:00", {"ENERGY": "1"})),
            "2024-01-01T11:00:00+00:00",
        )


def test_a_cdr_in_another_currency_is_refused() -> None:
    """Pricing a CHF CDR with a EUR tariff is an error, not a silent conversion."""
    cdr = parse_cdr_input(
        {
            "start_date_time": "2024-01-01T10:00:00Z",
            "end_date_time": "2024-01-01T11:00:00Z",
            "currency": "CHF",
            "charging_periods": [
                {
                    "start_date_time": "2024-01-01T10:00:00Z",
                    "dimensions": [{"type": "ENERGY", "volume": 1}],
                }
            ],
        }
    )
    with pytest.raises(PricingError, match="CHF"):
        price_cdr(case("simple_025kwh"), cdr)


def test_the_cdr_zone_wins_over_the_option() -> None:
    """price_cdr reads restrictions in cdr_location.time_zone even when another is passed."""
    data = {
        "start_date_time": "2024-01-10T21:30:00Z",
        "end_date_time": "2024-01-10T22:30:00Z",
        "cdr_location": {"time_zone": "Europe/Berlin"},
        "charging_periods": [
            {
                "start_date_time": "2024-01-10T21:30:00Z",
                "dimensions": [{"type": "ENERGY", "volume": 10}],
            }
        ],
    }
    assert price_cdr(NIGHT, parse_cdr_input(data), time_zone="UTC").time_zone == "Europe/Berlin"
    del data["cdr_location"]
    assert price_cdr(NIGHT, parse_cdr_input(data), time_zone="Asia/Tokyo").time_zone == "Asia/Tokyo"
    assert price_cdr(NIGHT, parse_cdr_input(data)).total_cost == cost("4.0000")


def test_supplied_sums_lines_per_price() -> None:
    """The invoice view: three periods at two prices become two supplied lines with
    summed quantities and exact amounts."""
    result = price(
        NIGHT,
        periods(
            ("2024-01-10T21:00:00+00:00", {"ENERGY": "2"}),
            ("2024-01-10T22:00:00+00:00", {"ENERGY": "3"}),
            ("2024-01-10T23:00:00+00:00", {"ENERGY": "4"}),
        ),
        "2024-01-11T00:00:00+00:00",
    )
    supplied = result.supplied()
    assert [(s.price, s.volume, s.cost.excl_vat) for s in supplied] == [
        (D("0.40"), D("2"), D("0.8000")),
        (D("0.20"), D("7"), D("1.4000")),
    ]
    assert sum((s.cost.excl_vat for s in supplied), D(0)) == result.total_cost.excl_vat


def test_line_amounts_stay_exact_and_totals_round_once() -> None:
    """0.0834 h at 1.20 and 2.40 are 0.10008 and 0.20016 exactly; the total is 0.3002,
    not the 0.3003 rounding each line first would give."""
    result = price_cdr(
        case("step_size"), parse_cdr_input((CASES / "step_size" / "cdr1.json").read_bytes())
    )
    time_lines = [x for x in result.lines if x.dimension is TariffDimensionType.TIME]
    assert [x.cost.excl_vat for x in time_lines] == [D("0.100080"), D("0.200160")]
    assert result.total_time_cost.excl_vat == D("0.3002")


def test_session_periods_end_where_the_next_begins() -> None:
    """Each line spans its period: up to the next period's start, the last to the end."""
    result = price(
        NIGHT,
        periods(
            ("2024-01-10T21:00:00+00:00", {"ENERGY": "1"}),
            ("2024-01-10T22:00:00+00:00", {"ENERGY": "1"}),
        ),
        "2024-01-10T22:45:00+00:00",
    )
    spans = [(x.start_date_time, x.end_date_time - x.start_date_time) for x in result.lines]
    assert spans[0][1] == timedelta(hours=1) and spans[1][1] == timedelta(minutes=45)
