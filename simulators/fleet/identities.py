"""Names of a fleet's stations, id tags and passwords, and the CSV files that provision them.

``load`` and ``provision`` derive every name from the same index, so a fleet
provisioned with ``--stations 5000`` can run with any ``--stations`` up to that.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FleetNames", "write_stations_csv", "write_tags_csv"]

# OCPP 1.6 idTag is a CiString20.
MAX_ID_TAG_LENGTH = 20
_NUMBER_WIDTH = 5


@dataclass(frozen=True, slots=True)
class FleetNames:
    id_prefix: str = "FLEET-"
    tag_prefix: str = "FT-"
    password_template: str | None = None
    """A password for every station; ``{id}`` in it is replaced by the station id."""

    def station_id(self, index: int) -> str:
        return f"{self.id_prefix}{index:0{_NUMBER_WIDTH}d}"

    def id_tag(self, index: int, connector: int) -> str:
        """One tag per station and connector, so no tag is ever charging twice (ConcurrentTx)."""
        return f"{self.tag_prefix}{index:0{_NUMBER_WIDTH}d}-{connector}"

    def password(self, index: int) -> str | None:
        if self.password_template is None:
            return None
        return self.password_template.replace("{id}", self.station_id(index))

    def check(self, stations: int, connectors: int) -> None:
        """ValueError when a name would not fit what OCPP or the server accepts."""
        longest_tag = self.id_tag(stations, connectors)
        if len(longest_tag) > MAX_ID_TAG_LENGTH:
            raise ValueError(
                f"id tags like {longest_tag!r} are longer than OCPP's {MAX_ID_TAG_LENGTH}"
                " characters; shorten --tag-prefix"
            )
        if any(c in self.id_prefix for c in "/:") or any(c.isspace() for c in self.id_prefix):
            raise ValueError("--id-prefix must not contain '/', ':' or spaces")
        password = self.password(stations)
        if password is not None and not 16 <= len(password) <= 40:
            raise ValueError(
                f"passwords like {password!r} have {len(password)} characters; "
                "the server takes 16 to 40"
            )


def _indexes(stations: int, first: int) -> Iterator[int]:
    return iter(range(first, first + stations))


def write_stations_csv(path: Path, names: FleetNames, stations: int, *, first: int = 1) -> int:
    """``charge_point_id,secret`` for ``csms station import``; the secret is empty without
    a password. Returns the number of rows."""
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["charge_point_id", "secret"])
        for index in _indexes(stations, first):
            writer.writerow([names.station_id(index), names.password(index) or ""])
    return stations


def write_tags_csv(
    path: Path, names: FleetNames, stations: int, connectors: int, *, first: int = 1
) -> int:
    """``uid`` for ``csms tag import``: one tag per station and connector. Returns the rows."""
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["uid"])
        for index in _indexes(stations, first):
            for connector in range(1, connectors + 1):
                writer.writerow([names.id_tag(index, connector)])
    return stations * connectors
