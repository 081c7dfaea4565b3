"""Fleet scenarios: the built-in files, and clear refusals of files that are wrong."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from simulators.fleet.scenario import (
    Distribution,
    ScenarioError,
    builtin_scenarios,
    load_scenario,
    parse_scenario,
)

pytestmark = pytest.mark.backend_independent


def test_the_four_required_scenarios_are_built_in_and_load() -> None:
    """idle, busy-evening, faulty and boot-storm exist and parse without error."""
    names = builtin_scenarios()
    assert {"idle", "busy-evening", "faulty", "boot-storm"} <= set(names)
    for name in names:
        assert load_scenario(name).name == name


def test_builtin_scenarios_differ_in_what_they_are_named_for() -> None:
    """idle has nobody charging, faulty has faults and reconnects, boot-storm starts all at
    once, busy-evening has most connectors charging."""
    assert load_scenario("idle").sessions.charging_fraction == 0
    faulty = load_scenario("faulty")
    assert faulty.faults.per_station_hour > 0 and faulty.reconnects.per_station_hour > 0
    assert load_scenario("boot-storm").ramp_per_second == 0
    assert load_scenario("busy-evening").sessions.charging_fraction >= 0.5


def test_a_scenario_is_also_read_from_a_path(tmp_path: Path) -> None:
    """--scenario takes a file path; its values override the defaults."""
    path = tmp_path / "mine.toml"
    path.write_text(
        'description = "x"\n[sessions]\ncharging_fraction = 0.25\nmeter_interval_seconds = 2\n'
        "[reconnects]\nper_station_hour = 12\noffline = 3\n"
    )
    scenario = load_scenario(str(path))
    assert scenario.name == "mine"
    assert scenario.sessions.charging_fraction == 0.25
    assert scenario.sessions.meter_interval_seconds == 2
    assert scenario.reconnects.offline == Distribution("fixed", value=3)
    assert scenario.faults.per_station_hour == 0  # default kept


def test_an_unknown_name_lists_the_built_in_ones() -> None:
    """A misspelt name says which names exist."""
    with pytest.raises(ScenarioError, match=r"no scenario 'busy'.*busy-evening"):
        load_scenario("busy")


def test_an_unknown_key_is_refused_with_its_table_and_the_known_keys() -> None:
    """A typo is an error naming the file, the table, the key and the keys allowed."""
    with pytest.raises(ScenarioError) as caught:
        parse_scenario({"sessions": {"charging_fracton": 0.5}}, name="t", source="t.toml")
    message = str(caught.value)
    assert message.startswith("t.toml: [sessions]: unknown key(s) charging_fracton")
    assert "charging_fraction" in message


def test_an_unknown_top_level_table_is_refused() -> None:
    """A misspelt table name is an error too."""
    with pytest.raises(ScenarioError, match=r"top level: unknown key.*session\b"):
        parse_scenario({"session": {}}, name="t")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"sessions": {"charging_fraction": 1.5}}, "sessions.charging_fraction: must be at most 1"),
        ({"sessions": {"charging_fraction": "all"}}, "expected a number, got a string"),
        ({"sessions": {"meter_interval_seconds": 0}}, "must be at least 0.1"),
        ({"faults": {"per_station_hour": -1}}, "faults.per_station_hour: must be at least 0"),
        ({"sessions": {"authorize": 1}}, "sessions.authorize: expected true or false"),
        ({"sessions": {"measurands": ["Energy"]}}, "unknown measurand\\(s\\) Energy"),
        ({"sessions": {"stop_reasons": {"Local": 0}}}, "at least one reason a positive weight"),
        ({"sessions": {"stop_reasons": {"Bored": 1}}}, "unknown key\\(s\\) Bored"),
        ({"sessions": {"power_kw": []}}, "sessions.power_kw: expected a number or a non-empty"),
        (
            {"reconnects": {"offline": {"distribution": "uniform", "min": 5, "max": 1}}},
            "reconnects.offline: max \\(1\\) is less than min \\(5\\)",
        ),
        (
            {"faults": {"duration": {"distribution": "normal"}}},
            "faults.duration.distribution: expected fixed, uniform or exponential",
        ),
        (
            {"sessions": {"duration": {"distribution": "exponential"}}},
            "exponential distribution needs a mean",
        ),
        ({"delivery": {"transaction_message_attempts": 0}}, "must be at least 1"),
    ],
)
def test_values_out_of_range_or_of_the_wrong_type_are_refused(
    data: dict[str, object], expected: str
) -> None:
    """Each bad value is refused with the key and what was wrong."""
    with pytest.raises(ScenarioError, match=expected):
        parse_scenario(data, name="t", source="t.toml")


def test_a_file_that_is_not_toml_is_refused_with_its_path(tmp_path: Path) -> None:
    """A syntax error names the file."""
    path = tmp_path / "broken.toml"
    path.write_text("[sessions\n")
    with pytest.raises(ScenarioError, match=r"broken\.toml: not valid TOML"):
        load_scenario(str(path))


def test_distributions_draw_within_their_bounds() -> None:
    """uniform stays within [min, max]; a clipped exponential within its clips; fixed is fixed."""
    rng = random.Random(7)
    uniform = Distribution("uniform", minimum=2, maximum=4)
    clipped = Distribution("exponential", mean=10, minimum=3, maximum=12)
    assert all(2 <= uniform.draw(rng) <= 4 for _ in range(1000))
    draws = [clipped.draw(rng) for _ in range(1000)]
    assert min(draws) == 3 and max(draws) == 12  # both clips are hit with this many draws
    assert Distribution("fixed", value=5).draw(rng) == 5
