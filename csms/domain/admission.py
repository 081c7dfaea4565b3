"""Who may open an OCPP connection: the station-side of the handshake.

Security profile 1: HTTP Basic authentication with the station's identity as
user name and its own secret as password. A station without a secret (one
registered by the ``accept`` policy, or added without one for old firmware)
is let in without credentials until an operator sets one.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

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

    async def admit(
        self, charge_point_id: str, credentials: tuple[str, str] | None
    ) -> Admitted | Refusal:
        try:
            check_charge_point_id(charge_point_id)
        except CredentialError:
            return Refusal.MALFORMED_ID
        profile = await self.directory.find(charge_point_id)
        if profile is None:
            return await self._unknown(charge_point_id)
        if not profile.has_secret:
            return Admitted(profile)
        if credentials is None:
            return Refusal.CREDENTIALS_REQUIRED
        user, password = credentials
        if user != charge_point_id or not verify_secret(password, profile.auth_secret_hash):
            return Refusal.BAD_CREDENTIALS
        return Admitted(profile)

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
