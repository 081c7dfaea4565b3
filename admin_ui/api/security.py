"""Stations' security: the OCPP security profile, the basic-auth secret,
certificates and security events (``csms.domain.station_security``).

Commands to a charger (secret, raising the profile, installing a
certificate) need ``stations:command`` and answer with the charger's outcome;
setting the stored profile directly (any value, the charger is not told)
needs ``stations:update``.
"""

from __future__ import annotations

import msgspec
from litestar import Controller, get, post, put
from litestar.di import NamedDependency, Provide
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK

from admin_ui.api.common import Id, Page, PageParams
from admin_ui.api.context import ApiContext
from crm.access import Principal
from csms.commands.outcomes import Outcome
from csms.commands.service import CommandService
from csms.domain.station_security import (
    BasicAuthChange,
    BasicAuthResult,
    CertificateInstall,
    ProfileRaise,
    ProfileRaiseResult,
    SecurityEvent,
    SecurityProfileUpdate,
    SecurityState,
    StationSecurity,
)


class CertificateInstallResult(msgspec.Struct, frozen=True):
    outcome: Outcome


def provide_security(context: NamedDependency[ApiContext]) -> StationSecurity:
    if context.security is not None:
        return context.security
    # An app without a node (tests of the API alone): no station is connected.
    return StationSecurity(context.ports.security, CommandService())


class StationSecurityController(Controller):
    path = "/stations/{station_id:int}"
    tags = ["stations"]
    dependencies = {"security": Provide(provide_security, sync_to_thread=False)}

    @get("/security")
    async def get_security(
        self,
        station_id: Id,
        principal: NamedDependency[Principal],
        security: NamedDependency[StationSecurity],
    ) -> SecurityState:
        """The station's security profile and whether it has a secret."""
        return await security.state(principal, station_id)

    @put("/security")
    async def set_security(
        self,
        station_id: Id,
        data: JSONBody[SecurityProfileUpdate],
        principal: NamedDependency[Principal],
        security: NamedDependency[StationSecurity],
    ) -> SecurityState:
        """Store any security profile (1, 2 or 3), raised or lowered, without
        telling the charger: for a station configured on site, or to undo a
        raise. To have a connected charger switch, POST .../security/profile."""
        return await security.set_profile(principal, station_id, data)

    @post("/security/basic-auth", status_code=HTTP_200_OK)
    async def change_basic_auth(
        self,
        station_id: Id,
        data: JSONBody[BasicAuthChange],
        principal: NamedDependency[Principal],
        security: NamedDependency[StationSecurity],
    ) -> BasicAuthResult:
        """Send the station a new basic-auth secret (generated unless given).
        When it accepts, the secret is stored and shown once in the answer;
        the old one is admitted until the station connects with the new one."""
        return await security.change_basic_auth(principal, station_id, data)

    @post("/security/profile", status_code=HTTP_200_OK)
    async def raise_profile(
        self,
        station_id: Id,
        data: JSONBody[ProfileRaise],
        principal: NamedDependency[Principal],
        security: NamedDependency[StationSecurity],
    ) -> ProfileRaiseResult:
        """Raise the station's security profile (2 or 3; lowering is refused):
        1.6 ChangeConfiguration SecurityProfile, 2.0.1 SetNetworkProfile,
        NetworkConfigurationPriority and Reset. Stored once accepted."""
        return await security.raise_profile(principal, station_id, data)

    @post("/certificates", status_code=HTTP_200_OK)
    async def install_certificate(
        self,
        station_id: Id,
        data: JSONBody[CertificateInstall],
        principal: NamedDependency[Principal],
        security: NamedDependency[StationSecurity],
    ) -> CertificateInstallResult:
        """Install a root certificate in the station (InstallCertificate);
        without ``certificate``, the CSMS CA's own."""
        return CertificateInstallResult(
            await security.install_certificate(principal, station_id, data)
        )

    @get("/security-events")
    async def list_security_events(
        self,
        station_id: Id,
        principal: NamedDependency[Principal],
        security: NamedDependency[StationSecurity],
        page: NamedDependency[PageParams],
    ) -> Page[SecurityEvent]:
        """The station's security events (SecurityEventNotification), newest first."""
        items, total = await security.list_events(
            principal, station_id, limit=page.limit, offset=page.offset
        )
        return Page(items=items, total=total, limit=page.limit, offset=page.offset)
