"""``csms tariff price`` run as an operator runs it: every reference CDR priced to
the reference calculator's totals, bad files refused with exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

CASES = Path(__file__).parents[1] / "data" / "ocpi-tariff-cases"
CDRS = sorted(CASES.glob("*/cdr*.json"))
TARIFFS = sorted(CASES.glob("*/tariff.json"))
COSTS = (
    "total_cost",
    "total_energy_cost",
    "total_time_cost",
    "total_parking_cost",
    "total_fixed_cost",
)
QUANTITIES = ("total_energy", "total_time", "total_parking_time")
FOUR = Decimal("0.0001")


def csms(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "csms", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def decimals(text: str) -> dict[str, object]:
    loaded: dict[str, object] = json.loads(text, parse_float=Decimal, parse_int=Decimal)
    return loaded


def at4(value: object) -> Decimal:
    assert isinstance(value, Decimal), value
    return value.quantize(FOUR)


def test_the_reference_cdrs_are_all_here() -> None:
    """The copied test data has the reference's six priced CDRs."""
    assert len(CDRS) == 6


@pytest.mark.parametrize("cdr", CDRS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_reference_cdr_prices_to_its_totals(cdr: Path) -> None:
    """The CLI's totals equal the CDR's expected totals at 4 decimals (absent = 0)."""
    answer = csms("tariff", "price", str(cdr.parent / "tariff.json"), str(cdr))
    assert answer.returncode == 0, answer.stderr
    got = decimals(answer.stdout)
    expected = decimals(cdr.read_text())
    zero = {"excl_vat": Decimal(0), "incl_vat": Decimal(0)}
    for name in COSTS:
        want = expected.get(name) or zero
        have = got[name]
        assert isinstance(want, dict) and isinstance(have, dict)
        assert (at4(have["excl_vat"]), at4(have["incl_vat"])) == (
            at4(want["excl_vat"]),
            at4(want["incl_vat"]),
        ), name
    for name in QUANTITIES:
        assert at4(got[name]) == at4(expected.get(name) or Decimal(0)), name


def test_numbers_are_printed_exactly_not_as_floats() -> None:
    """0.5502 prints as the JSON number 0.5502 and 5.5 as 5.5: Decimal text, at most
    4 decimals, no float artefacts."""
    folder = CASES / "step_size"
    answer = csms("tariff", "price", str(folder / "tariff.json"), str(folder / "cdr1.json"))
    assert answer.returncode == 0, answer.stderr
    assert '"excl_vat": 0.5502' in answer.stdout
    assert '"total_parking_time": 0.0334' in answer.stdout
    for token in answer.stdout.replace(",", " ").split():
        if token[:1].isdigit() and "." in token:
            assert len(token.split(".")[1]) <= 4, token


@pytest.mark.parametrize("tariff", TARIFFS, ids=lambda p: p.parent.name)
def test_every_reference_tariff_is_accepted(tariff: Path, tmp_path: Path) -> None:
    """Every tariff.json of the test data (also those without a CDR) is accepted by the CLI
    (priced against an empty-energy session inside its validity)."""
    from billing.tariffs import parse_tariff

    parsed = parse_tariff(tariff.read_bytes())
    start = parsed.start_date_time.isoformat() if parsed.start_date_time else "2015-06-29T15:00:00Z"
    cdr = tmp_path / "cdr.json"
    cdr.write_text(
        json.dumps(
            {
                "start_date_time": start,
                "end_date_time": start,
                "currency": parsed.currency,
                "charging_periods": [
                    {"start_date_time": start, "dimensions": [{"type": "ENERGY", "volume": 0}]}
                ],
            }
        )
    )
    answer = csms("tariff", "price", str(tariff), str(cdr))
    assert answer.returncode == 0, answer.stderr
    assert "total_cost" in decimals(answer.stdout)


def test_a_bad_tariff_field_exits_2_naming_file_and_field(tmp_path: Path) -> None:
    """A negative price is refused with status 2; stderr names the file and the JSON path."""
    data = json.loads((CASES / "complex" / "tariff.json").read_text())
    data["elements"][1]["price_components"][0]["price"] = -1
    data["elements"][3]["restrictions"]["day_of_week"] = ["SOMEDAY"]
    bad = tmp_path / "tariff.json"
    bad.write_text(json.dumps(data))
    answer = csms("tariff", "price", str(bad), str(CASES / "step_size" / "cdr1.json"))
    assert answer.returncode == 2
    assert str(bad) in answer.stderr
    assert "elements[1].price_components[0].price: must be a non-negative number" in answer.stderr
    assert "elements[3].restrictions.day_of_week[0]" in answer.stderr
    assert answer.stdout == ""


def test_a_bad_cdr_field_exits_2_naming_file_and_field(tmp_path: Path) -> None:
    """A CDR period with a text volume is refused with status 2, naming the path."""
    data = json.loads((CASES / "step_size" / "cdr1.json").read_text())
    data["charging_periods"][2]["dimensions"][0]["volume"] = "lots"
    bad = tmp_path / "cdr.json"
    bad.write_text(json.dumps(data))
    answer = csms("tariff", "price", str(CASES / "step_size" / "tariff.json"), str(bad))
    assert answer.returncode == 2
    assert f"{bad}: invalid CDR" in answer.stderr
    assert "charging_periods[2].dimensions[0].volume" in answer.stderr


def test_unreadable_and_non_json_files_exit_2(tmp_path: Path) -> None:
    """A missing file and a file that is not JSON each give one clear message and status 2."""
    missing = tmp_path / "nope.json"
    garbage = tmp_path / "garbage.json"
    garbage.write_text("tariff: yes")
    answer = csms("tariff", "price", str(missing), str(garbage))
    assert answer.returncode == 2
    lines = answer.stderr.strip().splitlines()
    assert len(lines) == 2
    assert str(missing) in lines[0] and "cannot read the tariff" in lines[0]
    assert str(garbage) in lines[1] and "not valid JSON" in lines[1]


def test_an_unknown_time_zone_option_exits_2() -> None:
    """--time-zone with a name that is not an IANA zone is refused with status 2."""
    folder = CASES / "simple_025kwh"
    answer = csms(
        "tariff",
        "price",
        str(folder / "tariff.json"),
        str(folder / "cdr1.json"),
        "--time-zone",
        "Nowhere",
    )
    assert answer.returncode == 2 and "--time-zone" in answer.stderr


def test_the_time_zone_option_moves_time_of_day_restrictions(tmp_path: Path) -> None:
    """A CDR without a location zone is read in --time-zone: 16:55 UTC is 17:55 in Berlin,
    so the first period takes the after-17:00 TIME price (2.40) there."""
    data = json.loads((CASES / "step_size" / "cdr1.json").read_text())
    cdr = tmp_path / "cdr.json"
    cdr.write_text(json.dumps(data))
    tariff = str(CASES / "step_size" / "tariff.json")
    utc = decimals(csms("tariff", "price", tariff, str(cdr)).stdout)
    berlin = decimals(
        csms("tariff", "price", tariff, str(cdr), "--time-zone", "Europe/Berlin").stdout
    )
    assert utc["total_time_cost"] == {"excl_vat": Decimal("0.3002"), "incl_vat": Decimal("0.3002")}
    # Both TIME periods at 2.40: 0.1668 h * 2.40 = 0.40032.
    assert berlin["total_time_cost"] == {
        "excl_vat": Decimal("0.4003"),
        "incl_vat": Decimal("0.4003"),
    }


def test_a_tariff_not_valid_at_the_session_start_exits_1(tmp_path: Path) -> None:
    """Pricing a 2022 session with a tariff that ended in 2019 is refused with status 1."""
    folder = CASES / "025kwh_start_max_price"
    answer = csms(
        "tariff", "price", str(folder / "tariff.json"), str(CASES / "simple_025kwh" / "cdr1.json")
    )
    assert answer.returncode == 1 and "not valid" in answer.stderr
