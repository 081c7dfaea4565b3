"""Fleet names and the CSV files ``provision`` writes for the server's bulk import."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from simulators.cli import main
from simulators.fleet.identities import FleetNames

pytestmark = pytest.mark.backend_independent


def test_provision_writes_the_station_and_tag_files_the_server_imports(tmp_path: Path) -> None:
    """stations.csv has charge_point_id,secret (secret from the template), tags.csv one uid
    per station and connector, with the names `load` uses."""
    stations, tags = tmp_path / "stations.csv", tmp_path / "tags.csv"
    code = main(
        [
            "provision",
            "--stations", "3",
            "--connectors", "2",
            "--id-prefix", "LT-",
            "--password-template", "secret-{id}-xyz",
            "--stations-csv", str(stations),
            "--tags-csv", str(tags),
        ]
    )  # fmt: skip
    assert code == 0
    with stations.open(newline="") as file:
        rows = list(csv.reader(file))
    assert rows[0] == ["charge_point_id", "secret"]
    assert rows[1:] == [[f"LT-0000{n}", f"secret-LT-0000{n}-xyz"] for n in (1, 2, 3)]
    with tags.open(newline="") as file:
        uids = [row[0] for row in csv.reader(file)]
    names = FleetNames(id_prefix="LT-")
    assert uids == ["uid"] + [names.id_tag(s, c) for s in (1, 2, 3) for c in (1, 2)]
    assert len(set(uids)) == len(uids)


def test_without_a_password_the_secret_column_is_empty(tmp_path: Path) -> None:
    """A station without a password connects without credentials: its secret is empty."""
    stations, tags = tmp_path / "s.csv", tmp_path / "t.csv"
    arguments = ["provision", "--stations", "1"]
    assert main([*arguments, "--stations-csv", str(stations), "--tags-csv", str(tags)]) == 0
    assert stations.read_text().splitlines() == ["charge_point_id,secret", "FLEET-00001,"]


@pytest.mark.parametrize(
    ("names", "problem"),
    [
        (FleetNames(tag_prefix="A-VERY-LONG-PREFIX-"), "longer than OCPP's 20"),
        (FleetNames(password_template="short"), "the server takes 16 to 40"),
        (FleetNames(id_prefix="BAD/"), "must not contain"),
    ],
)
def test_names_the_protocol_or_the_server_would_refuse_are_caught_up_front(
    names: FleetNames, problem: str
) -> None:
    """A tag over 20 characters, a password outside 16..40, a '/' in an id: refused at once."""
    with pytest.raises(ValueError, match=problem):
        names.check(stations=100, connectors=2)


def test_provision_refuses_bad_names_with_usage_status(tmp_path: Path) -> None:
    """Exit status 2 and no files when the names cannot work."""
    stations = tmp_path / "s.csv"
    tags = tmp_path / "t.csv"
    arguments = ["provision", "--stations", "1", "--password-template", "short"]
    code = main([*arguments, "--stations-csv", str(stations), "--tags-csv", str(tags)])
    assert code == 2
    assert not stations.exists()
