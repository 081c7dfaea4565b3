"""Bulk provisioning: rows of a station list (a CSV file an operator or a
fleet tool wrote) checked and turned into stations to register.

Everything is checked before anything is written, and every problem is
reported with its line, so a file of 5,000 stations either goes in whole or
tells the operator every line to fix.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from csms.domain.credentials import CredentialError, check_charge_point_id, check_secret
from csms.domain.model import RegistrationStatus

STATION_COLUMNS = frozenset(
    {"charge_point_id", "secret", "description", "status", "assume_ocpp16", "lenient"}
)
_YES = {"yes", "true", "1", "y"}
_NO = {"no", "false", "0", "n", ""}
# Problems listed before the report stops: enough to fix a file in one go,
# not a wall of text when a file is wrong throughout.
MAX_REPORTED_PROBLEMS = 20


class ImportRejected(ValueError):
    """The rows cannot be imported; ``problems`` names each line to fix."""

    def __init__(self, problems: list[str]) -> None:
        shown = problems[:MAX_REPORTED_PROBLEMS]
        more = len(problems) - len(shown)
        text = "; ".join(shown) + (f"; and {more} more" if more else "")
        super().__init__(text)
        self.problems = problems


@dataclass(frozen=True, slots=True)
class NewStation:
    charge_point_id: str
    secret_hash: str = ""
    registration_status: RegistrationStatus = RegistrationStatus.ACCEPTED
    description: str = ""
    assume_ocpp16: bool = False
    leniency: frozenset[str] = frozenset()


def check_columns(columns: Iterable[str] | None, known: frozenset[str], required: str) -> None:
    """Refuses a header that lacks ``required`` or names unknown columns (a
    typo would otherwise silently drop a column's values)."""
    names = [c.strip() for c in columns or ()]
    problems = []
    if required not in names:
        problems.append(f"line 1: the header needs a {required!r} column")
    unknown = sorted(set(names) - known)
    if unknown:
        problems.append(
            f"line 1: unknown column(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    if problems:
        raise ImportRejected(problems)


def stations_from_rows(
    rows: Iterable[Mapping[str, str | None]], *, hash_secret: Callable[[str], str]
) -> tuple[list[NewStation], list[str]]:
    """The stations the rows describe (line 1 is the header) and the problems
    found, each naming its line; the caller imports nothing if there is one."""
    stations: list[NewStation] = []
    problems: list[str] = []
    first_line: dict[str, int] = {}
    for line, row in enumerate(rows, start=2):
        values = {key.strip(): (value or "").strip() for key, value in row.items() if key}
        try:
            station = _station(values, hash_secret)
        except (CredentialError, ValueError) as error:
            problems.append(f"line {line}: {error}")
            continue
        seen = first_line.setdefault(station.charge_point_id, line)
        if seen != line:
            problems.append(f"line {line}: {station.charge_point_id!r} repeats line {seen}")
            continue
        stations.append(station)
    return stations, problems


def _station(values: Mapping[str, str], hash_secret: Callable[[str], str]) -> NewStation:
    charge_point_id = check_charge_point_id(values.get("charge_point_id", ""))
    secret = values.get("secret", "")
    status_text = values.get("status", "") or "accepted"
    try:
        status = RegistrationStatus(status_text.capitalize())
    except ValueError:
        raise ValueError(f"status is accepted, pending or rejected, not {status_text!r}") from None
    return NewStation(
        charge_point_id=charge_point_id,
        secret_hash=hash_secret(check_secret(secret)) if secret else "",
        registration_status=status,
        description=values.get("description", ""),
        assume_ocpp16=_flag("assume_ocpp16", values.get("assume_ocpp16", "")),
        leniency=frozenset(values.get("lenient", "").replace(";", " ").split()),
    )


def _flag(name: str, text: str) -> bool:
    lowered = text.lower()
    if lowered in _YES:
        return True
    if lowered in _NO:
        return False
    raise ValueError(f"{name} is yes or no, not {text!r}")
