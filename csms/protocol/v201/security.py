"""OCPP 2.0.1: the calls a charging station makes about certificates and
security events.

A mixin of :class:`csms.protocol.v201.handlers.ChargingStationHandlers201`;
its dependencies are that class's fields (``security``: the
:class:`~csms.domain.station_security.StationSecurity` service, or None,
then certificates are rejected and events only logged).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from csms.protocol.payloads import v201
from csms.protocol.rpc import StationSession, on

if TYPE_CHECKING:
    from csms.domain.station_security import StationSecurity

log = logging.getLogger(__name__)


class SecurityHandlers201:
    """SignCertificate and SecurityEventNotification."""

    security: StationSecurity | None

    @on("SignCertificate")
    async def sign_certificate(
        self,
        station: StationSession,
        *,
        csr: str,
        certificate_type: str | None = None,
        **kwargs: Any,
    ) -> v201.SignCertificateResponse:
        accepted = self.security is not None and self.security.sign_certificate(
            station.profile, csr, certificate_type
        )
        return v201.SignCertificateResponse(status="Accepted" if accepted else "Rejected")

    @on("SecurityEventNotification")
    async def security_event_notification(
        self,
        station: StationSession,
        *,
        type: str,
        timestamp: datetime,
        tech_info: str = "",
        **kwargs: Any,
    ) -> v201.SecurityEventNotificationResponse:
        if self.security is None:
            log.warning(
                "station %s security event %r %r (not stored: no security service)",
                station.charge_point_id,
                type,
                tech_info,
            )
        else:
            await self.security.record_event(station.profile, type, timestamp, tech_info)
        return v201.SecurityEventNotificationResponse()
