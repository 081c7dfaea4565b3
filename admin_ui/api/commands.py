"""Remote commands to a station:
``POST /api/v1/stations/{station_id}/commands/{name}``.

Needs the ``stations:command`` permission for the station's owner (a station
you cannot see is 404, one you see but may not command 403). The answer
says what happened, with an HTTP status per result:

======================  ======  =====================================================
``result``              HTTP    meaning
======================  ======  =====================================================
``answered``            200     the charger answered: ``status`` (Accepted, Rejected,
                                ...) and ``data`` (the rest of its answer)
``timed_out``           504     no answer within ``timeout`` seconds (it may still act)
``busy``                503     too many commands wait for that charger (nothing
                                sent); ``Retry-After`` says when to try again
``not_connected``       409     no node holds a connection of the station
``call_failed``         502     the charger answered with a CALLERROR (or an answer
                                that breaks the schema): ``error_code``, ``description``
``unsupported``         422     the station's OCPP version has no such call (e.g.
                                get-configuration on 2.0.1), or the session named is
                                not the station's: ``reason``; nothing sent
======================  ======  =====================================================

A 503 without ``result`` (``detail`` says why, ``Retry-After``) means the
node directory or the bus to the node holding the station is unreachable:
the command was not sent (``csms.commands.errors``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Response, post
from litestar.di import NamedDependency, Provide
from litestar.params import JSONBody, QueryParameter

from admin_ui.api.common import Id
from admin_ui.api.context import ApiContext
from crm.access import Principal
from csms.commands import model as m
from csms.commands.operator import MAX_TIMEOUT, OperatorCommands
from csms.commands.outcomes import (
    Answered,
    Busy,
    CallFailed,
    NotConnected,
    Outcome,
    TimedOut,
    Unsupported,
)

UNSET = msgspec.UNSET
UnsetType = msgspec.UnsetType
AwareDateTime = Annotated[datetime, msgspec.Meta(tz=True)]

# Seconds a caller told "busy" should wait before trying again.
RETRY_AFTER_SECONDS = 5


class CommandResult(msgspec.Struct, frozen=True):
    """What came of a command; only the fields of its ``result`` are present."""

    result: Literal["answered", "timed_out", "busy", "not_connected", "call_failed", "unsupported"]
    status: str | UnsetType | None = UNSET
    data: dict[str, Any] | UnsetType = UNSET
    seconds: float | UnsetType = UNSET
    queued: int | UnsetType = UNSET
    error_code: str | UnsetType = UNSET
    description: str | UnsetType = UNSET
    details: dict[str, Any] | UnsetType = UNSET
    reason: str | UnsetType = UNSET


def _response(outcome: Outcome) -> Response[CommandResult]:
    headers: dict[str, str] = {}
    match outcome:
        case Answered():
            code = 200
            body = CommandResult("answered", status=outcome.status, data=outcome.data)
        case TimedOut():
            code = 504
            body = CommandResult("timed_out", seconds=outcome.seconds)
        case Busy():
            code = 503
            headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
            body = CommandResult("busy", queued=outcome.queued)
        case NotConnected():
            code = 409
            body = CommandResult("not_connected")
        case CallFailed():
            code = 502
            body = CommandResult(
                "call_failed",
                error_code=outcome.error_code,
                description=outcome.description,
                details=outcome.details,
            )
        case Unsupported():
            code = 422
            body = CommandResult("unsupported", reason=outcome.reason)
    return Response(body, status_code=code, headers=headers)


# -- bodies -------------------------------------------------------------------------


class _Body(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    pass


class RemoteStartBody(_Body, frozen=True):
    """``id_token_type``: 2.0.1 only (default: ISO14443 for a UID-like tag,
    else Central)."""

    id_tag: str
    connector_id: int | None = None
    charging_profile: m.ChargingProfile | None = None
    id_token_type: str | None = None


class RemoteStopBody(_Body, frozen=True):
    """``session_id``: the session's id in this system."""

    session_id: int


class ResetBody(_Body, frozen=True):
    """``soft`` (2.0.1 OnIdle) or ``hard`` (2.0.1 Immediate)."""

    kind: Literal["soft", "hard"] = "soft"


class UnlockConnectorBody(_Body, frozen=True):
    connector_id: int
    evse_connector_id: int = 1


class ChangeAvailabilityBody(_Body, frozen=True):
    """``connector_id`` 0: the whole station."""

    connector_id: int
    operative: bool


class GetConfigurationBody(_Body, frozen=True):
    """No keys: every key (1.6)."""

    keys: list[str] = []


class ChangeConfigurationBody(_Body, frozen=True):
    key: str
    value: str


class GetVariablesBody(_Body, frozen=True):
    variables: list[m.VariableRef]


class SetVariablesBody(_Body, frozen=True):
    variables: list[m.VariableSetting]


class GetBaseReportBody(_Body, frozen=True):
    report: Literal["ConfigurationInventory", "FullInventory", "SummaryInventory"] = "FullInventory"
    request_id: int | None = None


class TriggerMessageBody(_Body, frozen=True):
    """``message``: BootNotification, Heartbeat, StatusNotification,
    MeterValues, FirmwareStatusNotification, DiagnosticsStatusNotification,
    LogStatusNotification, SignChargePointCertificate, ..."""

    message: str
    connector_id: int | None = None


class SendLocalListBody(_Body, frozen=True):
    """The list as given (no check against the media registry)."""

    version: int
    update: Literal["full", "differential"] = "full"
    entries: list[m.LocalListEntry] = []


class ReserveNowBody(_Body, frozen=True):
    reservation_id: int
    connector_id: int
    id_tag: str
    expires_at: AwareDateTime
    parent_id: str | None = None


class CancelReservationBody(_Body, frozen=True):
    reservation_id: int


class SetChargingProfileBody(_Body, frozen=True):
    connector_id: int
    profile: m.ChargingProfile


class ClearChargingProfileBody(_Body, frozen=True):
    """Profiles matching every criterion given (none: all)."""

    profile_id: int | None = None
    connector_id: int | None = None
    purpose: str | None = None
    stack_level: int | None = None


class GetCompositeScheduleBody(_Body, frozen=True):
    connector_id: int
    duration: int
    rate_unit: Literal["W", "A"] | None = None


class UpdateFirmwareBody(_Body, frozen=True):
    """With ``signing_certificate`` and ``signature``: a signed update (1.6
    security extension SignedUpdateFirmware)."""

    location: str
    retrieve_at: AwareDateTime
    retries: int | None = None
    retry_interval: int | None = None
    signing_certificate: str | None = None
    signature: str | None = None
    install_at: AwareDateTime | None = None
    request_id: int | None = None


class GetDiagnosticsBody(_Body, frozen=True):
    """``location``: where the charger uploads the file."""

    location: str
    start: AwareDateTime | None = None
    stop: AwareDateTime | None = None
    retries: int | None = None
    retry_interval: int | None = None


class GetLogBody(_Body, frozen=True):
    location: str
    log_type: Literal["DiagnosticsLog", "SecurityLog"]
    request_id: int
    start: AwareDateTime | None = None
    stop: AwareDateTime | None = None
    retries: int | None = None
    retry_interval: int | None = None


class InstallCertificateBody(_Body, frozen=True):
    """``certificate_type``: CSMSRootCertificate, ManufacturerRootCertificate
    (2.0.1 also V2GRootCertificate, MORootCertificate); PEM ``certificate``."""

    certificate_type: str
    certificate: str


class GetInstalledCertificateIdsBody(_Body, frozen=True):
    certificate_types: list[str] = msgspec.field(default_factory=lambda: ["CSMSRootCertificate"])


class DeleteCertificateBody(_Body, frozen=True):
    hash_algorithm: Literal["SHA256", "SHA384", "SHA512"]
    issuer_name_hash: str
    issuer_key_hash: str
    serial_number: str


class DataTransferBody(_Body, frozen=True):
    """1.6 sends ``data`` as text (anything else JSON-encoded)."""

    vendor_id: str
    message_id: str | None = None
    data: Any = None


def _command(body: msgspec.Struct, kind: type[m.Command]) -> m.Command:  # type: ignore[valid-type]
    """The command with the body's fields (the names are the same)."""
    return msgspec.convert(msgspec.to_builtins(body), kind)  # type: ignore[no-any-return]


def provide_operator_commands(context: NamedDependency[ApiContext]) -> OperatorCommands:
    return OperatorCommands(context.ports.stations, context.commands)


TIMEOUT = Annotated[
    float | None,
    QueryParameter(
        description=f"seconds to wait for the answer once sent (default "
        f"CSMS_COMMAND_TIMEOUT, at most {MAX_TIMEOUT:.0f})",
        gt=0,
        le=MAX_TIMEOUT,
    ),
]
_RESPONSES = (
    "200 answered, 504 timed_out, 503 busy (Retry-After), 409 not_connected, "
    "502 call_failed, 422 unsupported; 404 station not visible, 403 no stations:command."
)


class CommandController(Controller):
    path = "/stations/{station_id:int}/commands"
    tags = ["commands"]
    dependencies = {"operator": Provide(provide_operator_commands, sync_to_thread=False)}

    async def _run(
        self,
        operator: OperatorCommands,
        principal: Principal,
        station_id: int,
        command: m.Command,  # type: ignore[valid-type]
        timeout: float | None,
    ) -> Response[CommandResult]:
        outcome = await operator.send(principal, station_id, command, timeout=timeout)
        return _response(outcome)

    @post("/remote-start", description=_RESPONSES)
    async def remote_start(
        self,
        station_id: Id,
        data: JSONBody[RemoteStartBody],
        principal: NamedDependency[Principal],
        operator: NamedDependency[OperatorCommands],
        timeout: TIMEOUT = None,
    ) -> Response[CommandResult]:
        """Start a session (1.6 RemoteStartTransaction, 2.0.1
        RequestStartTransaction; its remoteStartId comes back in ``data``)."""
        return await self._run(
            operator, principal, station_id, _command(data, m.RemoteStart), timeout
        )

    @post("/remote-stop", description=_RESPONSES)
    async def remote_stop(
        self,
        station_id: Id,
        data: JSONBody[RemoteStopBody],
        principal: NamedDependency[Principal],
        operator: NamedDependency[OperatorCommands],
        timeout: TIMEOUT = None,
    ) -> Response[CommandResult]:
        """Stop a session (1.6 RemoteStopTransaction, 2.0.1
        RequestStopTransaction of the charger's transaction id)."""
        return await self._run(
            operator, principal, station_id, _command(data, m.RemoteStop), timeout
        )

    @post("/reset", description=_RESPONSES)
    async def reset(
        self,
        station_id: Id,
        data: JSONBody[ResetBody],
        principal: NamedDependency[Principal],
        operator: NamedDependency[OperatorCommands],
        timeout: TIMEOUT = None,
    ) -> Response[CommandResult]:
        """Reboot the station."""
        return await self._run(operator, principal, station_id, _command(data, m.Reset), timeout)

    @post("/unlock-connector", description=_RESPONSES)
    async def unlock_connector(
        self,
        station_id: Id,
        data: JSONBody[UnlockConnectorBody],
        principal: NamedDependency[Principal],
        operator: NamedDependency[OperatorCommands],
        timeout: TIMEOUT = None,
    ) -> Response[CommandResult]:
        """Unlock a connector (2.0.1: connector ``evse_connector_id`` of EVSE
        ``connector_id``)."""
        return await self._run(
            operator, principal, station_id, _command(data, m.UnlockConnector), timeout
        )

    @post("/change-availability", description=_RESPONSES)
    async def change_availability(
        self,
        station_id: Id,
        data: JSONBody[ChangeAvailabilityBody],
        principal: NamedDependency[Principal],
        operator: NamedDependency[OperatorCommands],
        timeout: TIMEOUT = None,
    ) -> Response[CommandResult]:
        """Make a connector (0: the station) operative or inoperative."""
        return await self._run(
            operator, principal, station_id, _command(data, m.ChangeAvailability), timeout
        )

    @post("/get-configuration", description=_RESPONSES)
    async def get_configuration(
        self,
        station_id: Id,
        principal: NamedDependency[Principal],
        operator: NamedDependency[OperatorCommands],
        data: JSONBody[GetConfigurationBody | None] = None,
        timeout: TIMEOUT = None,
    ) -> Response[CommandResult]:
        """Read configuration keys (1.6 only): ``data.configuration`` and
        ``data.unknown_keys``."""
        command = m.GetConfiguration(keys=tuple(data.keys) if data else ())
        return await self._run(operator, principal, station_id, command, timeout)

    @post("/change-configuration", description=_RESPONSES)
    async def change_configuration(
        self,
        station_id: Id,
        data: JSONBody[ChangeConfigurationBody],
        principal: NamedDependency[Principal],
        operator: NamedDependency[OperatorCommands],
        timeout: TIMEOUT = None,
    ) -> Response[CommandResult]:
        """Set a configuration key (1.6 only)."""
        return await self._run(
            operator, principal, station_id, _command(data, m.ChangeConfiguration), timeout
        )

    @post("/get-variables", description=_RESPONSES)
    async def get_variables(
        self,
        station_id: Id,
        data: JSONBody[GetVariablesBody],
        principal: NamedDependency[Principal],
        operator: NamedDependency[OperatorCommands],
        timeout: TIMEOUT = None,
    ) -> Response[CommandResult]:
        """Read device-model variables (2.0.1 only): ``data.results``."""
        return await self._run(
            operator, principal, station_id, _command(data, m.GetVariables), timeout
        )

    @post("/set-variables", description=_RESPONSES)
    async def set_variables(
        self,
        station_id: Id,
        data: JSONBody[SetVariablesBody],
        principal: NamedDependency[Principal],
        operator: NamedDependency[OperatorCommands],
        timeout: TIMEOUT = None,
    ) -> Response[CommandResult]:
        """Set device-model variables (2.0.1 only): ``data.results``."""
        return await self._run(
            operator, principal, station_id, _command(data, m.SetVariables), timeout
        )

    @post("/get-base-report", description=_RESPONSES)
    async def get_base_report(
        self,
        station_id: Id,
        principal: NamedDependency[Principal],
        operator: NamedDependency[OperatorCommands],
        data: JSONBody[GetBaseReportBody | None] = None,
        timeout: TIMEOUT = None,
    ) -> Response[CommandResult]:
        """Ask for a device-model report (2.0.1 only); it arrives as
        NotifyReport calls with ``data.request_id``."""
        command = _command(data or GetBaseReportBody(), m.GetBaseReport)
        return await self._run(operator, principal, station_id, command, timeout)

    @post("/trigger-message", description=_RESPONSES)
    async def trigger_message(
        self,
        station_id: Id,
        data: JSONBody[TriggerMessageBody],
        principal: NamedDependency[Principal],
        operator: NamedDependency[OperatorCommands],
        timeout: TIMEOUT = None,
    ) -> Response[CommandResult]:
        """Ask the station to send a message now."""
        return await self._run(
            operator, principal, station_id, _command(data, m.TriggerMessage), timeout
        )

    @post("/clear-cache", description=_RESPONSES)
    async def clear_cache(
        self,
        station_id: Id,
        principal: NamedDependency[Principal],
        operator: NamedDependency[OperatorCommands],
        timeout: TIMEOUT = None,
    ) -> Response[CommandResult]:
        """Empty the station's authorisation cache."""
        return await self._run(operator, principal, station_id, m.ClearCache(), timeout)

    @post("/get-local-list-version", description=_RESPONSES)
    async def get_local_list_version(
        self,
        station_id: Id,
        principal: NamedDependency[Principal],
        operator: NamedDependency[OperatorCommands],
        timeout: TIMEOUT = None,
    ) -> Response[CommandResult]:
        """The version of the station's local list: ``data.list_version``."""
        return await self._run(operator, principal, station_id, m.GetLocalListVersion(), timeout)

    @post("/send-local-list", description=_RESPONSES)
    async def send_local_list(
        self,
        station_id: Id,
        data: JSONBody[SendLocalListBody],
        principal: NamedDependency[Principal],
        operator: NamedDependency[OperatorCommands],
        timeout: TIMEOUT = None,
    ) -> Response[CommandResult]:
        """Send a local list exactly as given."""
        return await self._run(
            operator, principal, station_id, _command(data, m.SendLocalList), timeout
        )

    @post("/reserve-now", description=_RESPONSES)
    async def reserve_now(
        self,
        station_id: Id,
        data: JSONBody[ReserveNowBody],
        principal: NamedDependency[Principal],
        operator: NamedDependency[OperatorCommands],
        timeout: TIMEOUT = None,
    ) -> Response[CommandResult]:
        """Reserve a connector (2.0.1: an EVSE) for an id tag until ``expires_at``."""
        return await self._run(
            operator, principal, station_id, _command(data, m.ReserveNow), timeout
        )

    @post("/cancel-reservation", description=_RESPONSES)
    async def cancel_reservation(
        self,
        station_id: Id,
        data: JSONBody[CancelReservationBody],
        principal: NamedDependency[Principal],
        operator: NamedDependency[OperatorCommands],
        timeout: TIMEOUT = None,
    ) -> Response[CommandResult]:
        return await self._run(
            operator, principal, station_id, _command(data, m.CancelReservation), timeout
        )

    @post("/set-charging-profile", description=_RESPONSES)
    async def set_charging_profile(
        self,
        station_id: Id,
        data: JSONBody[SetChargingProfileBody],
        principal: NamedDependency[Principal],
        operator: NamedDependency[OperatorCommands],
        timeout: TIMEOUT = None,
    ) -> Response[CommandResult]:
        """Install a charging profile; a TxProfile names our ``session_id``."""
        return await self._run(
            operator, principal, station_id, _command(data, m.SetChargingProfile), timeout
        )

    @post("/clear-charging-profile", description=_RESPONSES)
    async def clear_charging_profile(
        self,
        station_id: Id,
        principal: NamedDependency[Principal],
        operator: NamedDependency[OperatorCommands],
        data: JSONBody[ClearChargingProfileBody | None] = None,
        timeout: TIMEOUT = None,
    ) -> Response[CommandResult]:
        command = _command(data or ClearChargingProfileBody(), m.ClearChargingProfile)
        return await self._run(operator, principal, station_id, command, timeout)

    @post("/get-composite-schedule", description=_RESPONSES)
    async def get_composite_schedule(
        self,
        station_id: Id,
        data: JSONBody[GetCompositeScheduleBody],
        principal: NamedDependency[Principal],
        operator: NamedDependency[OperatorCommands],
        timeout: TIMEOUT = None,
    ) -> Response[CommandResult]:
        return await self._run(
            operator, principal, station_id, _command(data, m.GetCompositeSchedule), timeout
        )

    @post("/update-firmware", description=_RESPONSES)
    async def update_firmware(
        self,
        station_id: Id,
        data: JSONBody[UpdateFirmwareBody],
        principal: NamedDependency[Principal],
        operator: NamedDependency[OperatorCommands],
        timeout: TIMEOUT = None,
    ) -> Response[CommandResult]:
        """Have the station download and install firmware from ``location``."""
        return await self._run(
            operator, principal, station_id, _command(data, m.UpdateFirmware), timeout
        )

    @post("/get-diagnostics", description=_RESPONSES)
    async def get_diagnostics(
        self,
        station_id: Id,
        data: JSONBody[GetDiagnosticsBody],
        principal: NamedDependency[Principal],
        operator: NamedDependency[OperatorCommands],
        timeout: TIMEOUT = None,
    ) -> Response[CommandResult]:
        """Have the station upload diagnostics to ``location`` (2.0.1 GetLog
        of a DiagnosticsLog)."""
        return await self._run(
            operator, principal, station_id, _command(data, m.GetDiagnostics), timeout
        )

    @post("/get-log", description=_RESPONSES)
    async def get_log(
        self,
        station_id: Id,
        data: JSONBody[GetLogBody],
        principal: NamedDependency[Principal],
        operator: NamedDependency[OperatorCommands],
        timeout: TIMEOUT = None,
    ) -> Response[CommandResult]:
        """Have the station upload a log to ``location`` (1.6 security
        extension or 2.0.1)."""
        return await self._run(operator, principal, station_id, _command(data, m.GetLog), timeout)

    @post("/install-certificate", description=_RESPONSES)
    async def install_certificate(
        self,
        station_id: Id,
        data: JSONBody[InstallCertificateBody],
        principal: NamedDependency[Principal],
        operator: NamedDependency[OperatorCommands],
        timeout: TIMEOUT = None,
    ) -> Response[CommandResult]:
        return await self._run(
            operator, principal, station_id, _command(data, m.InstallCertificate), timeout
        )

    @post("/get-installed-certificate-ids", description=_RESPONSES)
    async def get_installed_certificate_ids(
        self,
        station_id: Id,
        principal: NamedDependency[Principal],
        operator: NamedDependency[OperatorCommands],
        data: JSONBody[GetInstalledCertificateIdsBody | None] = None,
        timeout: TIMEOUT = None,
    ) -> Response[CommandResult]:
        command = _command(data or GetInstalledCertificateIdsBody(), m.GetInstalledCertificateIds)
        return await self._run(operator, principal, station_id, command, timeout)

    @post("/delete-certificate", description=_RESPONSES)
    async def delete_certificate(
        self,
        station_id: Id,
        data: JSONBody[DeleteCertificateBody],
        principal: NamedDependency[Principal],
        operator: NamedDependency[OperatorCommands],
        timeout: TIMEOUT = None,
    ) -> Response[CommandResult]:
        return await self._run(
            operator, principal, station_id, _command(data, m.DeleteCertificate), timeout
        )

    @post("/data-transfer", description=_RESPONSES)
    async def data_transfer(
        self,
        station_id: Id,
        data: JSONBody[DataTransferBody],
        principal: NamedDependency[Principal],
        operator: NamedDependency[OperatorCommands],
        timeout: TIMEOUT = None,
    ) -> Response[CommandResult]:
        """A vendor-specific message; the answer's ``data`` holds the reply."""
        return await self._run(
            operator, principal, station_id, _command(data, m.DataTransfer), timeout
        )
