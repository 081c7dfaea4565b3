"""The remote commands, in version-neutral terms.

One frozen, tagged msgspec struct per command (the tag is the class name, so
``msgspec.json.encode(command)`` and ``decode(..., type=Command)`` carry a
command across the bus unchanged). The protocol layer translates each into
the station's OCPP version (``csms.protocol.v16.calls``,
``csms.protocol.v201.calls``); a command with no equivalent there comes back
as :class:`~csms.commands.outcomes.Unsupported`.

Conventions: times are timezone-aware datetimes (UTC), ``connector_id`` is
the domain's connector (a 1.6 connector, a 2.0.1 EVSE; 0 or None is the
whole station), names of OCPP enumerations are OCPP's own spelling where
both versions agree (``Accepted``, ``BootNotification``...); where they
differ the doc of the field says which spelling is used and the translators
map it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

# Times must carry their zone (decoding JSON enforces it; OCPP sends UTC).
AwareDateTime = Annotated[datetime, msgspec.Meta(tz=True)]

# -- shared parts -----------------------------------------------------------------


class SchedulePeriod(msgspec.Struct, frozen=True):
    """A period of a charging schedule: from ``start_period`` seconds after
    the schedule's start, at most ``limit`` (in the schedule's unit)."""

    start_period: int
    limit: float
    number_phases: int | None = None


class ChargingSchedule(msgspec.Struct, frozen=True):
    """``rate_unit``: ``W`` or ``A``."""

    rate_unit: Literal["W", "A"]
    periods: tuple[SchedulePeriod, ...]
    duration: int | None = None
    start_schedule: AwareDateTime | None = None
    min_charging_rate: float | None = None
    # 2.0.1 gives each schedule an id; None: the profile's id.
    schedule_id: int | None = None


class ChargingProfile(msgspec.Struct, frozen=True):
    """A charging profile. ``purpose``: ``ChargePointMaxProfile`` (2.0.1
    ``ChargingStationMaxProfile``, either spelling is accepted),
    ``TxDefaultProfile`` or ``TxProfile``; ``kind``: ``Absolute``,
    ``Recurring`` or ``Relative``. ``session_id`` (a TxProfile's session) is
    our session id; the translators spell the charger's transaction id."""

    profile_id: int
    stack_level: int
    purpose: str
    kind: str
    schedule: ChargingSchedule
    session_id: int | None = None
    recurrency_kind: Literal["Daily", "Weekly"] | None = None
    valid_from: AwareDateTime | None = None
    valid_to: AwareDateTime | None = None


class LocalListEntry(msgspec.Struct, frozen=True):
    """One id tag of a local list. ``status`` is ``Accepted``, ``Blocked``,
    ``Expired``, ``Invalid`` or ``ConcurrentTx``; None removes the tag (in a
    differential update)."""

    id_tag: str
    status: str | None = None
    expires_at: AwareDateTime | None = None
    parent_id: str | None = None


class VariableRef(msgspec.Struct, frozen=True):
    """A 2.0.1 device-model variable of a component. ``attribute_type``:
    ``Actual`` (the default when None), ``Target``, ``MinSet``, ``MaxSet``."""

    component: str
    variable: str
    attribute_type: str | None = None
    component_instance: str | None = None
    variable_instance: str | None = None
    evse_id: int | None = None
    connector_id: int | None = None


class VariableSetting(msgspec.Struct, frozen=True):
    """A value to set on a 2.0.1 device-model variable."""

    component: str
    variable: str
    value: str
    attribute_type: str | None = None
    component_instance: str | None = None
    variable_instance: str | None = None
    evse_id: int | None = None
    connector_id: int | None = None


class NetworkConnectionProfile(msgspec.Struct, frozen=True):
    """A 2.0.1 network connection profile (SetNetworkProfile).
    ``ocpp_version``: ``OCPP20`` (2.0.1) or ``OCPP12``..``OCPP16``;
    ``ocpp_interface``: ``Wired0``..``Wireless3``; ``apn``/``vpn`` are the
    2.0.1 objects in their JSON spelling, passed through."""

    ocpp_csms_url: str
    security_profile: int
    ocpp_interface: str = "Wired0"
    ocpp_transport: str = "JSON"
    ocpp_version: str = "OCPP20"
    message_timeout: int = 30
    apn: dict[str, Any] | None = None
    vpn: dict[str, Any] | None = None


# -- the commands -------------------------------------------------------------------


class RemoteStart(msgspec.Struct, frozen=True, tag=True):
    """Start a session for ``id_tag`` (on ``connector_id``, or where the
    charger chooses). ``id_token_type``: the 2.0.1 idToken type (None: see
    ``csms.protocol.v201.calls``); 1.6 has none."""

    id_tag: str
    connector_id: int | None = None
    charging_profile: ChargingProfile | None = None
    id_token_type: str | None = None


class RemoteStop(msgspec.Struct, frozen=True, tag=True):
    """Stop the session ``session_id`` (ours; the translators spell the
    charger's transaction id)."""

    session_id: int


class Reset(msgspec.Struct, frozen=True, tag=True):
    """``soft``: 1.6 Soft, 2.0.1 OnIdle; ``hard``: 1.6 Hard, 2.0.1 Immediate."""

    kind: Literal["soft", "hard"] = "soft"


class UnlockConnector(msgspec.Struct, frozen=True, tag=True):
    connector_id: int
    # 2.0.1 unlocks a connector of an EVSE (connector_id is the EVSE).
    evse_connector_id: int = 1


class ChangeAvailability(msgspec.Struct, frozen=True, tag=True):
    """``connector_id`` 0: the whole station."""

    connector_id: int
    operative: bool


class GetConfiguration(msgspec.Struct, frozen=True, tag=True):
    """1.6 only. No keys: every key."""

    keys: tuple[str, ...] = ()


class ChangeConfiguration(msgspec.Struct, frozen=True, tag=True):
    """1.6 only."""

    key: str
    value: str


class GetVariables(msgspec.Struct, frozen=True, tag=True):
    """2.0.1 only."""

    variables: tuple[VariableRef, ...]


class SetVariables(msgspec.Struct, frozen=True, tag=True):
    """2.0.1 only."""

    variables: tuple[VariableSetting, ...]


class GetBaseReport(msgspec.Struct, frozen=True, tag=True):
    """2.0.1 only; the report arrives as NotifyReport calls carrying
    ``request_id`` (None: one is made up and given back in the answer's
    data)."""

    report: Literal["ConfigurationInventory", "FullInventory", "SummaryInventory"] = "FullInventory"
    request_id: int | None = None


class TriggerMessage(msgspec.Struct, frozen=True, tag=True):
    """``message``: ``BootNotification``, ``Heartbeat``, ``StatusNotification``,
    ``MeterValues``, ``FirmwareStatusNotification``,
    ``DiagnosticsStatusNotification`` (2.0.1: LogStatusNotification),
    ``LogStatusNotification``, ``SignChargePointCertificate`` (2.0.1:
    SignChargingStationCertificate), ``SignV2GCertificate``,
    ``TransactionEvent`` (2.0.1), ``SignCombinedCertificate`` (2.0.1),
    ``PublishFirmwareStatusNotification`` (2.0.1). Security-extension
    messages go as 1.6 ExtendedTriggerMessage."""

    message: str
    connector_id: int | None = None


class ClearCache(msgspec.Struct, frozen=True, tag=True):
    pass


class GetLocalListVersion(msgspec.Struct, frozen=True, tag=True):
    pass


class SendLocalList(msgspec.Struct, frozen=True, tag=True):
    version: int
    update: Literal["full", "differential"] = "full"
    entries: tuple[LocalListEntry, ...] = ()


class ReserveNow(msgspec.Struct, frozen=True, tag=True):
    reservation_id: int
    connector_id: int
    id_tag: str
    expires_at: AwareDateTime
    parent_id: str | None = None


class CancelReservation(msgspec.Struct, frozen=True, tag=True):
    reservation_id: int


class SetChargingProfile(msgspec.Struct, frozen=True, tag=True):
    connector_id: int
    profile: ChargingProfile


class ClearChargingProfile(msgspec.Struct, frozen=True, tag=True):
    """Clears the profiles matching every criterion given (none: all)."""

    profile_id: int | None = None
    connector_id: int | None = None
    purpose: str | None = None
    stack_level: int | None = None


class UpdateFirmware(msgspec.Struct, frozen=True, tag=True):
    """With ``signing_certificate`` and ``signature``: 1.6
    SignedUpdateFirmware (security extension) / a signed 2.0.1
    UpdateFirmware."""

    location: str
    retrieve_at: AwareDateTime
    retries: int | None = None
    retry_interval: int | None = None
    signing_certificate: str | None = None
    signature: str | None = None
    install_at: AwareDateTime | None = None
    # 1.6 signed and 2.0.1 updates carry one (None: one is made up and given
    # back in the answer's data as ``request_id``).
    request_id: int | None = None


class GetDiagnostics(msgspec.Struct, frozen=True, tag=True):
    """1.6 GetDiagnostics; 2.0.1 GetLog of a DiagnosticsLog."""

    location: str
    start: AwareDateTime | None = None
    stop: AwareDateTime | None = None
    retries: int | None = None
    retry_interval: int | None = None


class GetLog(msgspec.Struct, frozen=True, tag=True):
    """1.6 security extension GetLog / 2.0.1 GetLog. ``log_type``:
    ``DiagnosticsLog`` or ``SecurityLog``."""

    location: str
    log_type: Literal["DiagnosticsLog", "SecurityLog"]
    request_id: int
    start: AwareDateTime | None = None
    stop: AwareDateTime | None = None
    retries: int | None = None
    retry_interval: int | None = None


class InstallCertificate(msgspec.Struct, frozen=True, tag=True):
    """``certificate_type`` in 2.0.1 spelling: ``CSMSRootCertificate`` (1.6:
    CentralSystemRootCertificate), ``ManufacturerRootCertificate``,
    ``V2GRootCertificate``, ``MORootCertificate`` (2.0.1 only)."""

    certificate_type: str
    certificate: str


class CertificateSigned(msgspec.Struct, frozen=True, tag=True):
    """``certificate_type``: ``ChargingStationCertificate`` or
    ``V2GCertificate`` (2.0.1; 1.6 has no field)."""

    certificate_chain: str
    certificate_type: str | None = None


class GetInstalledCertificateIds(msgspec.Struct, frozen=True, tag=True):
    """``certificate_types`` in 2.0.1 spelling (see InstallCertificate; 2.0.1
    also ``V2GCertificateChain``); 1.6 asks one type per call, the first."""

    certificate_types: tuple[str, ...] = ("CSMSRootCertificate",)


class DeleteCertificate(msgspec.Struct, frozen=True, tag=True):
    hash_algorithm: Literal["SHA256", "SHA384", "SHA512"]
    issuer_name_hash: str
    issuer_key_hash: str
    serial_number: str


class SetNetworkProfile(msgspec.Struct, frozen=True, tag=True):
    """2.0.1 only."""

    configuration_slot: int
    profile: NetworkConnectionProfile


class SetBasicAuthPassword(msgspec.Struct, frozen=True, tag=True):
    """The station's basic-auth password: 1.6 ChangeConfiguration of
    AuthorizationKey, 2.0.1 SetVariables of SecurityCtrlr.BasicAuthPassword.
    ``password`` is sent as given (1.6 stations expect it hex-encoded)."""

    password: str


class GetCompositeSchedule(msgspec.Struct, frozen=True, tag=True):
    connector_id: int
    duration: int
    rate_unit: Literal["W", "A"] | None = None


class DataTransfer(msgspec.Struct, frozen=True, tag=True):
    """1.6 ``data`` is text: anything else is sent JSON-encoded."""

    vendor_id: str
    message_id: str | None = None
    data: Any = None


Command = (
    RemoteStart
    | RemoteStop
    | Reset
    | UnlockConnector
    | ChangeAvailability
    | GetConfiguration
    | ChangeConfiguration
    | GetVariables
    | SetVariables
    | GetBaseReport
    | TriggerMessage
    | ClearCache
    | GetLocalListVersion
    | SendLocalList
    | ReserveNow
    | CancelReservation
    | SetChargingProfile
    | ClearChargingProfile
    | UpdateFirmware
    | GetDiagnostics
    | GetLog
    | InstallCertificate
    | CertificateSigned
    | GetInstalledCertificateIds
    | DeleteCertificate
    | SetNetworkProfile
    | SetBasicAuthPassword
    | GetCompositeSchedule
    | DataTransfer
)
"""Every command; ``msgspec.json.decode(data, type=Command)`` reads any."""
