"""Stations' security: their OCPP security profile, basic-auth secret,
certificates and security events (:class:`StationSecurity`).

Operators (API, CLI) act on behalf of a :class:`~crm.access.Principal`:
a station they may not see is NotFound; commands need ``stations:command``
on the station's owner, a direct change of the stored profile
``stations:update``. What goes to a charger goes through the command
service (``csms.commands``), so the answer is an outcome: the charger's
answer, a timeout, busy or not connected.

- **Basic-auth secret**: sent as 1.6 ChangeConfiguration AuthorizationKey
  (hex of the secret, as the 1.6 security whitepaper asks; a 1.6 secret is
  16 to 20 characters so its hex fits the key's 40) or 2.0.1 SetVariables
  SecurityCtrlr.BasicAuthPassword. While the call is out, both the old and
  the new secret are admitted; on Accepted the new one becomes the secret
  and the old one stays admitted until the station has connected once with
  the new one (admission retires it), so neither a fast reconnect nor a
  slow one locks the station out. Refused: the old secret alone again.
- **Raising the profile** (only raising): 1.6 ChangeConfiguration
  SecurityProfile; 2.0.1 SetNetworkProfile (the wss URL of
  ``CSMS_OCPP_PUBLIC_WSS_URL``) in slot 1, SetVariables
  OCPPCommCtrlr.NetworkConfigurationPriority "1", then Reset. The new
  profile is stored when the station accepted it (before the reset, so the
  reconnect finds it). An operator may set any stored profile directly
  (:meth:`StationSecurity.set_profile`; the charger is not told).
- **SignCertificate**: a CSR whose signature verifies and whose subject CN is
  the charge point id is answered Accepted and signed by the CSMS's CA; the
  chain goes back as CertificateSigned from a background task (kept and
  logged). Anything else, or no CA configured: Rejected.
- **SecurityEventNotification**: stored, listed per station.

Free of I/O: storage comes in as a :class:`SecurityStore`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import msgspec

from crm.access import Principal
from crm.clock import utcnow
from crm.errors import InvalidInput
from csms.commands.errors import StationLookupFailed
from csms.commands.model import (
    CertificateSigned,
    ChangeConfiguration,
    Command,
    InstallCertificate,
    NetworkConnectionProfile,
    Reset,
    SetBasicAuthPassword,
    SetNetworkProfile,
    SetVariables,
    VariableSetting,
)
from csms.commands.outcomes import Answered, Outcome
from csms.domain.certificates import CertificateAuthority, CsrRejected, check_certificate_pem
from csms.domain.credentials import CredentialError, check_secret, generate_secret, hash_secret
from csms.domain.model import StationProfile
from csms.domain.station_scope import station_in_scope

log = logging.getLogger(__name__)

PROFILES = (1, 2, 3)
# 1.6 sends the secret hex-encoded in AuthorizationKey, at most 40 hex digits.
SECRET_MAX_LENGTH_16 = 20
# The 2.0.1 network configuration slot the raised profile is written to.
NETWORK_SLOT = 1
CERTIFICATE_TYPES = (
    "CSMSRootCertificate",
    "ManufacturerRootCertificate",
    "V2GRootCertificate",
    "MORootCertificate",
)
_ACCEPTED = ("Accepted",)


# -- answers and requests ---------------------------------------------------------------


class SecurityState(msgspec.Struct, frozen=True):
    """A station's security settings. ``previous_secret_admitted``: a secret
    change was accepted and the station has not connected with the new
    secret yet, so the old one is still admitted."""

    station_id: int
    charge_point_id: str
    protocol: str
    security_profile: int
    has_secret: bool
    previous_secret_admitted: bool


class SecurityProfileUpdate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Sets the stored profile (1, 2 or 3) without telling the charger."""

    security_profile: int


class BasicAuthChange(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``secret``: the new basic-auth password; left out, a strong one is
    generated (20 characters for 1.6, whose hex must fit 40 digits; 32 for
    2.0.1)."""

    secret: str | None = None


class BasicAuthResult(msgspec.Struct, frozen=True):
    """``secret`` is shown once, only when the station accepted it
    (``stored``)."""

    outcome: Outcome
    stored: bool
    secret: str | None = None


class ProfileRaise(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    profile: int


class CommandStep(msgspec.Struct, frozen=True):
    command: str
    outcome: Outcome


class ProfileRaiseResult(msgspec.Struct, frozen=True):
    stored: bool
    security_profile: int
    steps: list[CommandStep]


class CertificateInstall(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``certificate_type``: CSMSRootCertificate (1.6:
    CentralSystemRootCertificate), ManufacturerRootCertificate,
    V2GRootCertificate or MORootCertificate (2.0.1). ``certificate``: PEM;
    left out, the CSMS CA's own certificate."""

    certificate_type: str = "CSMSRootCertificate"
    certificate: str | None = None


class SecurityEvent(msgspec.Struct, frozen=True):
    id: int
    type: str
    timestamp: datetime
    tech_info: str
    received_at: datetime


# -- what the service needs ------------------------------------------------------------------


class StationRecord(msgspec.Struct, frozen=True):
    """What the security service reads of a station."""

    pk: int
    charge_point_id: str
    owner_entity_id: int | None
    protocol: str
    security_profile: int
    secret_hash: str
    previous_secret_hash: str


class SecurityStore(Protocol):
    async def station(self, visibility: Any, station_pk: int) -> StationRecord | None:
        """The station if ``visibility`` (crm.access.Visibility) covers its owner."""
        ...

    async def store_secret(self, station_pk: int, secret_hash: str, previous_hash: str) -> None: ...

    async def forget_previous_secret(self, station_pk: int) -> None: ...

    async def store_profile(self, station_pk: int, profile: int) -> None: ...

    async def add_event(
        self,
        station_pk: int,
        event_type: str,
        timestamp: datetime,
        tech_info: str,
        received_at: datetime,
    ) -> None: ...

    async def list_events(
        self, station_pk: int, limit: int, offset: int
    ) -> tuple[list[SecurityEvent], int]: ...


class CommandSender(Protocol):
    async def send(
        self, charge_point_id: str, command: Command, *, timeout: float | None = None
    ) -> Outcome: ...


class ProfileCache(Protocol):
    def invalidate(self, charge_point_id: str) -> None:
        """The station's admission profile changed (the gateway's cache)."""
        ...


class _NoCache:
    def invalidate(self, charge_point_id: str) -> None:
        return None


def _accepted(outcome: Outcome, also: tuple[str, ...] = ()) -> bool:
    return isinstance(outcome, Answered) and outcome.status in (*_ACCEPTED, *also)


# -- the service -----------------------------------------------------------------------------


@dataclass(slots=True)
class StationSecurity:
    store: SecurityStore
    commands: CommandSender
    cache: ProfileCache = field(default_factory=_NoCache)
    ca: CertificateAuthority | None = None
    public_wss_url: str = ""
    clock: Callable[[], datetime] = utcnow
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    _locks: dict[int, asyncio.Lock] = field(default_factory=dict)

    # -- the charger's calls ----------------------------------------------------

    async def record_event(
        self, profile: StationProfile, event_type: str, timestamp: datetime, tech_info: str = ""
    ) -> None:
        """A SecurityEventNotification, stored."""
        await self.store.add_event(profile.pk, event_type, timestamp, tech_info, self.clock())
        # %r: the type and techInfo are the charger's text (no forged lines)
        log.info("station %s security event %r %r", profile.charge_point_id, event_type, tech_info)

    def sign_certificate(
        self, profile: StationProfile, csr: str, certificate_type: str | None = None
    ) -> bool:
        """SignCertificate: True (Accepted) when the CA signs the CSR; the
        chain is then sent as CertificateSigned in the background."""
        if self.ca is None:
            log.warning(
                "station %s asked to sign a certificate, but no CA is configured "
                "(CSMS_CA_CERT, CSMS_CA_KEY): Rejected",
                profile.charge_point_id,
            )
            return False
        if certificate_type not in (None, "ChargingStationCertificate"):
            log.warning(
                "station %s asked to sign a %s; only charging station certificates are "
                "signed here: Rejected",
                profile.charge_point_id,
                certificate_type,
            )
            return False
        try:
            chain = self.ca.sign_csr(csr, profile.charge_point_id)
        except CsrRejected as error:
            log.warning("station %s: CSR rejected: %s", profile.charge_point_id, error)
            return False
        self._background(
            self._send_certificate(profile.charge_point_id, chain, certificate_type),
            f"certificate-signed-{profile.charge_point_id}",
        )
        return True

    async def _send_certificate(
        self, charge_point_id: str, chain: str, certificate_type: str | None
    ) -> None:
        outcome = await self.commands.send(
            charge_point_id, CertificateSigned(chain, certificate_type)
        )
        if _accepted(outcome):
            log.info("station %s accepted its signed certificate", charge_point_id)
        else:
            log.warning("station %s: CertificateSigned came back %r", charge_point_id, outcome)

    def _background(self, work: Any, name: str) -> None:
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)

        def done(finished: asyncio.Task[Any]) -> None:
            self._tasks.discard(finished)
            if not finished.cancelled() and finished.exception() is not None:
                log.error("%s failed", name, exc_info=finished.exception())

        task.add_done_callback(done)

    async def close(self) -> None:
        """Cancels background work still running (the node stops)."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- operators --------------------------------------------------------------

    async def _station(
        self, principal: Principal, station_pk: int, action: str = "read"
    ) -> StationRecord:
        """The station, if the principal may ``action`` it: the one rule of
        ``station_in_scope`` (403 without the permission, 404 outside its
        scope, as for an absent station)."""
        return await station_in_scope(principal, action, station_pk, self.store.station)

    def _lock(self, station_pk: int) -> asyncio.Lock:
        lock = self._locks.get(station_pk)
        if lock is None:
            lock = self._locks[station_pk] = asyncio.Lock()
        return lock

    async def state(self, principal: Principal, station_pk: int) -> SecurityState:
        return _state(await self._station(principal, station_pk))

    async def set_profile(
        self, principal: Principal, station_pk: int, data: SecurityProfileUpdate
    ) -> SecurityState:
        """Stores any profile (raise or lower) without telling the charger:
        for stations configured on site, or to undo a raise."""
        station = await self._station(principal, station_pk, "update")
        if data.security_profile not in PROFILES:
            raise InvalidInput(f"a security profile is 1, 2 or 3, not {data.security_profile}")
        await self.store.store_profile(station.pk, data.security_profile)
        self.cache.invalidate(station.charge_point_id)
        return await self.state(principal, station_pk)

    async def change_basic_auth(
        self, principal: Principal, station_pk: int, data: BasicAuthChange
    ) -> BasicAuthResult:
        station = await self._station(principal, station_pk, "command")
        v16 = not _is_201(station.protocol)
        if data.secret is None:
            secret = generate_secret(SECRET_MAX_LENGTH_16 if v16 else 32)
        else:
            try:
                secret = check_secret(data.secret)
            except CredentialError as error:
                raise InvalidInput(str(error)) from None
            if v16 and len(secret) > SECRET_MAX_LENGTH_16:
                raise InvalidInput(
                    f"a 1.6 station's secret has at most {SECRET_MAX_LENGTH_16} characters "
                    "(AuthorizationKey holds its hex, at most 40 digits)"
                )
        new_hash = hash_secret(secret)
        async with self._lock(station.pk):
            station = await self._station(principal, station_pk, "command")
            if station.secret_hash:
                # Both admitted while the call is out: a station that
                # switches before its answer reaches us is not refused.
                await self.store.store_secret(station.pk, station.secret_hash, new_hash)
                self.cache.invalidate(station.charge_point_id)
            password = secret.encode().hex().upper() if v16 else secret
            try:
                outcome = await self.commands.send(
                    station.charge_point_id, SetBasicAuthPassword(password)
                )
            except StationLookupFailed:
                # Nothing was sent: the new secret is not admitted.
                await self.store.store_secret(
                    station.pk, station.secret_hash, station.previous_secret_hash
                )
                self.cache.invalidate(station.charge_point_id)
                raise
            if _accepted(outcome):
                await self.store.store_secret(station.pk, new_hash, station.secret_hash)
            else:
                await self.store.store_secret(
                    station.pk, station.secret_hash, station.previous_secret_hash
                )
            self.cache.invalidate(station.charge_point_id)
        if _accepted(outcome):
            log.info("station %s accepted a new basic-auth secret", station.charge_point_id)
            return BasicAuthResult(outcome=outcome, stored=True, secret=secret)
        return BasicAuthResult(outcome=outcome, stored=False)

    async def raise_profile(
        self, principal: Principal, station_pk: int, data: ProfileRaise
    ) -> ProfileRaiseResult:
        station = await self._station(principal, station_pk, "command")
        if data.profile not in PROFILES:
            raise InvalidInput(f"a security profile is 1, 2 or 3, not {data.profile}")
        if data.profile <= station.security_profile:
            raise InvalidInput(
                f"station {station.charge_point_id} is at security profile "
                f"{station.security_profile}; a command can only raise it (an operator may "
                "set any profile directly: PUT .../security)"
            )
        if data.profile == 2 and not station.secret_hash:
            raise InvalidInput("security profile 2 needs a basic-auth secret: set one first")
        v201 = _is_201(station.protocol)
        if v201 and not self.public_wss_url:
            raise InvalidInput(
                "a 2.0.1 station is sent the wss URL to use: set CSMS_OCPP_PUBLIC_WSS_URL"
            )
        steps: list[CommandStep] = []

        async def step(name: str, command: Command, *also: str) -> bool:
            outcome = await self.commands.send(station.charge_point_id, command)
            steps.append(CommandStep(name, outcome))
            return _accepted(outcome, also)

        async with self._lock(station.pk):
            stored = False
            if v201:
                url = self.public_wss_url
                ok = await step(
                    "SetNetworkProfile",
                    SetNetworkProfile(
                        NETWORK_SLOT,
                        NetworkConnectionProfile(ocpp_csms_url=url, security_profile=data.profile),
                    ),
                ) and await step(
                    "SetVariables",
                    SetVariables(
                        (
                            VariableSetting(
                                "OCPPCommCtrlr",
                                "NetworkConfigurationPriority",
                                str(NETWORK_SLOT),
                            ),
                        )
                    ),
                    "RebootRequired",
                )
                if ok:
                    await self._store_profile(station, data.profile)
                    stored = True
                    await step("Reset", Reset("soft"), "Scheduled")
            else:
                outcome_ok = await step(
                    "ChangeConfiguration",
                    ChangeConfiguration("SecurityProfile", str(data.profile)),
                    "RebootRequired",
                )
                if outcome_ok:
                    await self._store_profile(station, data.profile)
                    stored = True
                    last = steps[-1].outcome
                    if isinstance(last, Answered) and last.status == "RebootRequired":
                        await step("Reset", Reset("soft"))
        return ProfileRaiseResult(
            stored=stored,
            security_profile=data.profile if stored else station.security_profile,
            steps=steps,
        )

    async def _store_profile(self, station: StationRecord, profile: int) -> None:
        await self.store.store_profile(station.pk, profile)
        self.cache.invalidate(station.charge_point_id)
        log.info("station %s accepted security profile %d", station.charge_point_id, profile)

    async def install_certificate(
        self, principal: Principal, station_pk: int, data: CertificateInstall
    ) -> Outcome:
        station = await self._station(principal, station_pk, "command")
        if data.certificate_type not in CERTIFICATE_TYPES:
            raise InvalidInput(
                f"certificate_type is one of {', '.join(CERTIFICATE_TYPES)}, "
                f"not {data.certificate_type!r}"
            )
        if data.certificate is None:
            if self.ca is None:
                raise InvalidInput(
                    "no CA is configured (CSMS_CA_CERT, CSMS_CA_KEY): give the certificate"
                )
            certificate = self.ca.certificate_pem
        else:
            try:
                certificate = check_certificate_pem(data.certificate)
            except ValueError as error:
                raise InvalidInput(str(error)) from None
        return await self.commands.send(
            station.charge_point_id, InstallCertificate(data.certificate_type, certificate)
        )

    async def list_events(
        self, principal: Principal, station_pk: int, *, limit: int, offset: int
    ) -> tuple[list[SecurityEvent], int]:
        station = await self._station(principal, station_pk)
        return await self.store.list_events(station.pk, limit, offset)


def _is_201(protocol: str) -> bool:
    return protocol.startswith("ocpp2")


def _state(station: StationRecord) -> SecurityState:
    return SecurityState(
        station_id=station.pk,
        charge_point_id=station.charge_point_id,
        protocol=station.protocol,
        security_profile=station.security_profile,
        has_secret=bool(station.secret_hash),
        previous_secret_admitted=bool(station.previous_secret_hash),
    )
