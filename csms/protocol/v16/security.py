"""OCPP 1.6 security extension (Improved security for OCPP 1.6-J): the calls
a charge point makes about certificates and security events.

A mixin of :class:`csms.protocol.v16.handlers.ChargePointHandlers16`; its
dependencies are that class's fields (``security``: the
:class:`~csms.domain.station_security.StationSecurity` service, or None,
then certificates are rejected and events only logged).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ocpp.v16.enums import Action

from csms.protocol.payloads import v16
from csms.protocol.rpc import StationSession, on

if TYPE_CHECKING:
    from csms.domain.station_security import StationSecurity

log = logging.getLogger(__name__)


class SecurityHandlers16:
    """SignCertificate and SecurityEventNotification (1.6 security extension)."""

    security: StationSecurity | None

    @on(Action.sign_certificate)
    async def sign_certificate(
        self, station: StationSession, *, csr: str, **kwargs: Any
    ) -> v16.SignCertificateResponse:
        accepted = self.security is not None and self.security.sign_certificate(
            station.profile, csr
        )
        return v16.SignCertificateResponse(status="Accepted" if accepted else "Rejected")

    @on(Action.security_event_notification)
    async def security_event_notification(
        self,
        station: StationSession,
        *,
        type: str,
        timestamp: datetime,
        tech_info: str = "",
        **kwargs: Any,
    ) -> v16.SecurityEventNotificationResponse:
        if self.security is None:
            log.warning(
                "station %s security event %r %r (not stored: no security service)",
                station.charge_point_id,
                type,
                tech_info,
            )
        else:
            await self.security.record_event(station.profile, type, timestamp, tech_info)
        return v16.SecurityEventNotificationResponse()
