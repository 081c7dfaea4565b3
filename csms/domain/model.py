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


class MediumFacts(msgspec.Struct, frozen=True):
    """Who a medium is, issued by and billed to: what a session keeps of the
    medium that authorised it, as it was at the start."""

    medium_id: int | None
    issuing_entity_id: int | None
    bill_to_contact_id: int | None = None
    owner_contact_id: int | None = None


class TokenInfo(msgspec.Struct, frozen=True):
    """The system's verdict on an identifier."""

    status: AuthorizationStatus
    parent_id: str | None = None
    expires_at: datetime | None = None
    # The medium the identifier named (None: unknown identifier).
    medium: MediumFacts | None = None


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
    # Signed meter data as sent (1.6: a SignedData sample's value; 2.0.1:
    # signedMeterValue.signedMeterData) and, 2.0.1 only, how it was signed.
    signed_data: str = ""
    signing_method: str = ""
    encoding_method: str = ""
    public_key: str = ""
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
