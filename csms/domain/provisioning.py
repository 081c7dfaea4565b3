"""Bulk provisioning: a row of a station list (a CSV file an operator or a
fleet tool wrote) checked and turned into a station to register. The rows
of a file are read with :mod:`crm.row_import`: all of them or none.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from csms.domain.credentials import check_charge_point_id, check_secret
from csms.domain.model import RegistrationStatus

STATION_COLUMNS = frozenset(
    {"charge_point_id", "secret", "description", "status", "assume_ocpp16", "lenient"}
)
_YES = {"yes", "true", "1", "y"}
_NO = {"no", "false", "0", "n", ""}


@dataclass(frozen=True, slots=True)
class NewStation:
    charge_point_id: str
    secret_hash: str = ""
    registration_status: RegistrationStatus = RegistrationStatus.ACCEPTED
    description: str = ""
    assume_ocpp16: bool = False
    leniency: frozenset[str] = frozenset()


def station_from_row(values: Mapping[str, str], hash_secret: Callable[[str], str]) -> NewStation:
    """The station one row describes; ValueError (CredentialError is one) says
    what is wrong with it."""
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
