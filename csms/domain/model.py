"""Value types shared by the domain services."""

from __future__ import annotations

import enum
from datetime import datetime

import msgspec


class RegistrationStatus(enum.StrEnum):
    """What a BootNotification is answered with."""

    ACCEPTED = "Accepted"
    PENDING = "Pending"
    REJECTED = "Rejected"


class AuthorizationStatus(enum.StrEnum):
    """The answer to an identifier, in the spelling both OCPP versions share."""

    ACCEPTED = "Accepted"
    BLOCKED = "Blocked"
    EXPIRED = "Expired"
    INVALID = "Invalid"
    CONCURRENT_TX = "ConcurrentTx"
    # 2.0.1 only: a valid identifier this station's rules refuse; 1.6 says Invalid.
    NOT_AT_THIS_LOCATION = "NotAtThisLocation"


class TokenInfo(msgspec.Struct, frozen=True):
    """The system's verdict on an identifier."""

    status: AuthorizationStatus
    parent_id: str | None = None
    expires_at: datetime | None = None


class Sample(msgspec.Struct, frozen=True):
    """One sampled value as the charger reported it (text kept exact)."""

    sampled_at: datetime
    value: str
    measurand: str = "Energy.Active.Import.Register"
    phase: str = ""
    unit: str = ""
    context: str = ""
    location: str = ""
    format: str = ""
    signed_data: str = ""
    # OCPP 2.0.1 unitOfMeasure.multiplier: the reading is value x 10^multiplier unit.
    multiplier: int = 0


class StationProfile(msgspec.Struct, frozen=True):
    """What the gateway needs to know about a station to let it in and serve it."""

    pk: int
    charge_point_id: str
    registration_status: RegistrationStatus
    auth_secret_hash: str = ""
    assume_ocpp16: bool = False
    leniency: frozenset[str] = frozenset()
    # OCPP security profile 1, 2 or 3 (csms.domain.admission).
    security_profile: int = 1
    # The secret before the last change, admitted until the station has
    # connected once with the new one.
    previous_secret_hash: str = ""

    @property
    def has_secret(self) -> bool:
        return bool(self.auth_secret_hash)
