"""Who may open an OCPP connection: the station-side of the handshake.

Each station has an OCPP security profile:

1. HTTP Basic authentication with the station's identity as user name and
   its own secret as password, on ws or wss. A station without a secret (one
   registered by the ``accept`` policy, or added without one for old
   firmware) is let in without credentials until an operator sets one.
2. The same over TLS only; a secret is required.
3. TLS with a client certificate that verified against the CSMS's client CA
   and whose subject CN is the station's charge point id (the identity still
   comes from the URL; the certificate is bound to it). No basic auth.

After a secret change the previous secret is still admitted until the station
has connected once with the new one, so a station that did not store the new
one yet is not locked out.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import msgspec

from csms.domain.credentials import CredentialError, check_charge_point_id, verify_secret
from csms.domain.group_commit import GroupCommitter
from csms.domain.model import RegistrationStatus, StationProfile
from csms.domain.station_cache import CachedStationDirectory
from csms.domain.writes import StoreEvent, StoreNewStation, WriteGroup

log = logging.getLogger(__name__)


class Refusal(enum.Enum):
    MALFORMED_ID = "the charge point id is not valid"
    UNKNOWN_STATION = "unknown station"
    CREDENTIALS_REQUIRED = "this station must authenticate (HTTP Basic)"
    BAD_CREDENTIALS = "wrong user name or password"
    TLS_REQUIRED = "this station's security profile requires TLS: connect with wss://"
    NO_SECRET = "security profile 2 needs a basic-auth secret, and none is set for this station"
    CLIENT_CERTIFICATE_REQUIRED = (
        "security profile 3: present a client certificate issued by the CSMS's CA"
    )
    CLIENT_CERTIFICATE_MISMATCH = (
        "security profile 3: the client certificate's subject CN is not this charge point id"
    )


@dataclass(slots=True, frozen=True)
class TransportSecurity:
    """What the transport saw: TLS or not, and the client certificate's
    subject CN and whether it verified against the client CA."""

    tls: bool = False
    client_cn: str | None = None
    client_verified: bool = False


PLAIN = TransportSecurity()


class SecretRotation(Protocol):
    async def forget_previous_secret(self, station_pk: int) -> None:
        """The station connected with its new secret: the old one goes."""
        ...


@dataclass(slots=True, frozen=True)
class Admitted:
    profile: StationProfile
    newly_registered: bool = False


@dataclass(slots=True)
class Admission:
    directory: CachedStationDirectory
    writer: GroupCommitter
    # reject, pending or accept (CSMS_UNKNOWN_STATIONS)
    unknown_stations: str
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    secrets: SecretRotation | None = None

    async def admit(
        self,
        charge_point_id: str,
        credentials: tuple[str, str] | None,
        transport: TransportSecurity = PLAIN,
    ) -> Admitted | Refusal:
        if not _readable_id(charge_point_id):
            return Refusal.MALFORMED_ID
        profile = await self.directory.find(charge_point_id)
        if profile is None:
            # Only an id OCPP allows is looked up further or registered
            # (a station an operator added earlier keeps its id).
            try:
                check_charge_point_id(charge_point_id)
            except CredentialError:
                return Refusal.MALFORMED_ID
            return await self._unknown(charge_point_id)
        if profile.security_profile >= 2 and not transport.tls:
            return Refusal.TLS_REQUIRED
        if profile.security_profile >= 3:
            if not transport.client_verified:
                return Refusal.CLIENT_CERTIFICATE_REQUIRED
            if transport.client_cn != charge_point_id:
                return Refusal.CLIENT_CERTIFICATE_MISMATCH
            return Admitted(profile)
        if not profile.has_secret:
            if profile.security_profile >= 2:
                return Refusal.NO_SECRET
            return Admitted(profile)
        if credentials is None:
            return Refusal.CREDENTIALS_REQUIRED
        user, password = credentials
        if user != charge_point_id:
            return Refusal.BAD_CREDENTIALS
        if verify_secret(password, profile.auth_secret_hash):
            if profile.previous_secret_hash:
                profile = await self._forget_previous(profile)
            return Admitted(profile)
        if profile.previous_secret_hash and verify_secret(password, profile.previous_secret_hash):
            return Admitted(profile)
        return Refusal.BAD_CREDENTIALS

    async def _forget_previous(self, profile: StationProfile) -> StationProfile:
        """The station proved it holds the new secret: the old one is no
        longer admitted. A failure to record that is logged; the old secret
        then stays admitted until the next connection tries again."""
        current = msgspec.structs.replace(profile, previous_secret_hash="")
        if self.secrets is None:
            return current
        try:
            await self.secrets.forget_previous_secret(profile.pk)
        except Exception:
            log.exception("could not retire the previous secret of %s", profile.charge_point_id)
            return profile
        self.directory.put(current)
        log.info(
            "station %s connected with its new secret; the old one is retired",
            profile.charge_point_id,
        )
        return current

    async def _unknown(self, charge_point_id: str) -> Admitted | Refusal:
        if self.unknown_stations == "reject":
            return Refusal.UNKNOWN_STATION
        status = (
            RegistrationStatus.ACCEPTED
            if self.unknown_stations == "accept"
            else RegistrationStatus.PENDING
        )
        now = self.clock()
        (pk,) = await self.writer.submit(
            WriteGroup((StoreNewStation(charge_point_id, status.value, now),))
        )
        assert isinstance(pk, int)
        self.writer.submit_nowait(
            WriteGroup(
                (
                    StoreEvent(
                        pk,
                        "registered",
                        now,
                        now,
                        {"policy": self.unknown_stations, "registration_status": status.value},
                    ),
                )
            )
        )
        log.warning(
            "unknown station %s registered on first connect as %s (CSMS_UNKNOWN_STATIONS=%s)",
            charge_point_id,
            status.value,
            self.unknown_stations,
        )
        profile = StationProfile(pk=pk, charge_point_id=charge_point_id, registration_status=status)
        self.directory.put(profile)
        return Admitted(profile, newly_registered=True)


# The longest id a station was ever registered with (csms.tables.Station).
_STORED_ID_MAX_LENGTH = 255


def _readable_id(charge_point_id: str) -> bool:
    """Whether an id may be looked up at all: as long as a stored id can be,
    printable, no slash, colon or blank (known stations registered before
    ids were limited to OCPP's characters still connect)."""
    return (
        0 < len(charge_point_id) <= _STORED_ID_MAX_LENGTH
        and charge_point_id.isprintable()
        and not any(c in "/:" or c.isspace() for c in charge_point_id)
    )
