"""Who may charge: the verdict on an identifier a charger asks about."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from crm.media import MediaLookup, MediumStatus
from csms.domain.model import AuthorizationStatus, TokenInfo
from csms.domain.ports import ActiveSessions

_STATUS = {
    MediumStatus.ACTIVE: AuthorizationStatus.ACCEPTED,
    MediumStatus.BLOCKED: AuthorizationStatus.BLOCKED,
    # A lost card must not charge; OCPP has no "lost", Blocked says it.
    MediumStatus.LOST: AuthorizationStatus.BLOCKED,
    MediumStatus.EXPIRED: AuthorizationStatus.EXPIRED,
}


@dataclass(slots=True)
class Authorizer:
    media: MediaLookup
    sessions: ActiveSessions
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    async def authorize(
        self,
        id_tag: str,
        *,
        station_pk: int,
        connector_id: int | None = None,
        check_concurrency: bool = True,
    ) -> TokenInfo:
        """Accepted, Blocked, Expired, Invalid (unknown) or ConcurrentTx (the
        identifier is charging on another connector right now)."""
        record = await self.media.lookup(id_tag)
        if record is None:
            return TokenInfo(AuthorizationStatus.INVALID)
        parent = record.group_uid or None
        status = _STATUS[record.status]
        if (
            status is AuthorizationStatus.ACCEPTED
            and record.valid_until is not None
            and record.valid_until <= self.clock()
        ):
            status = AuthorizationStatus.EXPIRED
        if (
            check_concurrency
            and status is AuthorizationStatus.ACCEPTED
            and await self.sessions.active_elsewhere(
                id_tag, station_pk=station_pk, connector_id=connector_id
            )
        ):
            status = AuthorizationStatus.CONCURRENT_TX
        return TokenInfo(status=status, parent_id=parent, expires_at=record.valid_until)
