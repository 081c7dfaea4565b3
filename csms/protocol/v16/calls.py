"""OCPP 1.6J: remote commands spelled as the calls the system makes to a
charge point (with the security extension's calls), and their answers read
back as :class:`~csms.commands.outcomes.Answered`.

The 1.6 transactionId is our session id, so nothing needs looking up.
Commands that 1.6 has no call for (GetVariables, SetVariables,
GetBaseReport, SetNetworkProfile) are :class:`Unsupported`.
"""

from __future__ import annotations

import msgspec

from csms.commands import model as m
from csms.commands.outcomes import Answered, Unsupported
from csms.protocol.outgoing import (
    OutgoingCall,
    StationSessions,
    new_request_id,
    plain,
    refusal_for_session,
    session_of,
    status_answer,
    unset,
)
from csms.protocol.payloads import v16

# TriggerMessage names (version-neutral, see TriggerMessage) to 1.6: the
# plain call, or the security extension's ExtendedTriggerMessage.
_TRIGGER = {
    "BootNotification": "BootNotification",
    "DiagnosticsStatusNotification": "DiagnosticsStatusNotification",
    "FirmwareStatusNotification": "FirmwareStatusNotification",
    "Heartbeat": "Heartbeat",
    "MeterValues": "MeterValues",
    "StatusNotification": "StatusNotification",
}
_EXTENDED_TRIGGER = {
    "LogStatusNotification": "LogStatusNotification",
    "SignChargePointCertificate": "SignChargePointCertificate",
    "SignChargingStationCertificate": "SignChargePointCertificate",
}
# Certificate types in 2.0.1 spelling (either accepted) to 1.6.
_CERTIFICATE_USE = {
    "CSMSRootCertificate": "CentralSystemRootCertificate",
    "CentralSystemRootCertificate": "CentralSystemRootCertificate",
    "ManufacturerRootCertificate": "ManufacturerRootCertificate",
}
_PURPOSE = {
    "ChargePointMaxProfile": "ChargePointMaxProfile",
    "ChargingStationMaxProfile": "ChargePointMaxProfile",
    "TxDefaultProfile": "TxDefaultProfile",
    "TxProfile": "TxProfile",
}
_AUTHORIZATION_STATUS = {"Accepted", "Blocked", "Expired", "Invalid", "ConcurrentTx"}


class Calls16:
    """Translates commands into 1.6 calls. A command naming a session (a
    stop, a TxProfile) is sent only for a session of that station, and a stop
    only while the session is active, as on 2.0.1 (``sessions``; without it,
    unit tests, nothing is checked)."""

    version = "1.6"

    def __init__(self, sessions: StationSessions | None = None) -> None:
        self.sessions = sessions

    async def translate(
        self, charge_point_id: str, command: m.Command
    ) -> OutgoingCall | Unsupported:
        session_id = session_of(command)
        if session_id is not None:
            refusal = await refusal_for_session(self.sessions, charge_point_id, command, session_id)
            if refusal is not None:
                return Unsupported(refusal)
        try:
            return call_for(command)
        except _Refused as refused:
            return Unsupported(str(refused))


class _Refused(Exception):
    pass


def _unsupported(what: str) -> Unsupported:
    return Unsupported(f"OCPP 1.6 has no {what}")


def _profile(profile: m.ChargingProfile) -> v16.ChargingProfile:
    purpose = _PURPOSE.get(profile.purpose)
    if purpose is None:
        raise _Refused(f"OCPP 1.6 has no charging profile purpose {profile.purpose!r}")
    schedule = profile.schedule
    return v16.ChargingProfile(
        charging_profile_id=profile.profile_id,
        transaction_id=unset(profile.session_id),
        stack_level=profile.stack_level,
        charging_profile_purpose=purpose,  # type: ignore[arg-type]
        charging_profile_kind=profile.kind,  # type: ignore[arg-type]
        recurrency_kind=unset(profile.recurrency_kind),
        valid_from=unset(profile.valid_from),
        valid_to=unset(profile.valid_to),
        charging_schedule=v16.ChargingSchedule(
            duration=unset(schedule.duration),
            start_schedule=unset(schedule.start_schedule),
            charging_rate_unit=schedule.rate_unit,
            charging_schedule_period=[
                v16.ChargingSchedulePeriod(
                    start_period=period.start_period,
                    limit=period.limit,
                    number_phases=unset(period.number_phases),
                )
                for period in schedule.periods
            ],
            min_charging_rate=unset(schedule.min_charging_rate),
        ),
    )


def _configuration_answer(answer: msgspec.Struct) -> Answered:
    assert isinstance(answer, v16.GetConfigurationResponse)
    keys = answer.configuration_key or []
    return Answered(
        status=None,
        data={
            "configuration": [plain(key) for key in keys],
            "unknown_keys": list(answer.unknown_key or []),
        },
    )


def call_for(command: m.Command) -> OutgoingCall | Unsupported:
    """The 1.6 call for a command, or Unsupported."""
    match command:
        case m.RemoteStart():
            return OutgoingCall(
                "RemoteStartTransaction",
                v16.RemoteStartTransactionRequest(
                    connector_id=unset(command.connector_id),
                    id_tag=command.id_tag,
                    charging_profile=(
                        msgspec.UNSET
                        if command.charging_profile is None
                        else _profile(command.charging_profile)
                    ),
                ),
                status_answer(),
            )
        case m.RemoteStop():
            return OutgoingCall(
                "RemoteStopTransaction",
                v16.RemoteStopTransactionRequest(transaction_id=command.session_id),
                status_answer(),
            )
        case m.Reset():
            return OutgoingCall(
                "Reset",
                v16.ResetRequest(type="Hard" if command.kind == "hard" else "Soft"),
                status_answer(),
            )
        case m.UnlockConnector():
            return OutgoingCall(
                "UnlockConnector",
                v16.UnlockConnectorRequest(connector_id=command.connector_id),
                status_answer(),
            )
        case m.ChangeAvailability():
            return OutgoingCall(
                "ChangeAvailability",
                v16.ChangeAvailabilityRequest(
                    connector_id=command.connector_id,
                    type="Operative" if command.operative else "Inoperative",
                ),
                status_answer(),
            )
        case m.GetConfiguration():
            return OutgoingCall(
                "GetConfiguration",
                v16.GetConfigurationRequest(
                    key=list(command.keys) if command.keys else msgspec.UNSET
                ),
                _configuration_answer,
            )
        case m.ChangeConfiguration():
            return OutgoingCall(
                "ChangeConfiguration",
                v16.ChangeConfigurationRequest(key=command.key, value=command.value),
                status_answer(),
            )
        case m.SetBasicAuthPassword():
            return OutgoingCall(
                "ChangeConfiguration",
                v16.ChangeConfigurationRequest(key="AuthorizationKey", value=command.password),
                status_answer(),
            )
        case m.GetVariables() | m.SetVariables() | m.GetBaseReport():
            return _unsupported(
                f"{type(command).__name__} (a 2.0.1 device-model call); use "
                "GetConfiguration/ChangeConfiguration"
            )
        case m.SetNetworkProfile():
            return _unsupported("SetNetworkProfile (2.0.1)")
        case m.TriggerMessage():
            requested = command.message
            if requested in _TRIGGER:
                return OutgoingCall(
                    "TriggerMessage",
                    v16.TriggerMessageRequest(
                        requested_message=_TRIGGER[requested],  # type: ignore[arg-type]
                        connector_id=unset(command.connector_id),
                    ),
                    status_answer(),
                )
            if requested in _EXTENDED_TRIGGER:
                return OutgoingCall(
                    "ExtendedTriggerMessage",
                    v16.ExtendedTriggerMessageRequest(
                        requested_message=_EXTENDED_TRIGGER[requested],  # type: ignore[arg-type]
                        connector_id=unset(command.connector_id),
                    ),
                    status_answer(),
                )
            return _unsupported(f"trigger for {requested!r}")
        case m.ClearCache():
            return OutgoingCall("ClearCache", v16.ClearCacheRequest(), status_answer())
        case m.GetLocalListVersion():
            return OutgoingCall(
                "GetLocalListVersion",
                v16.GetLocalListVersionRequest(),
                lambda answer: Answered(status=None, data=plain(answer)),
            )
        case m.SendLocalList():
            entries = []
            for entry in command.entries:
                if entry.status is not None and entry.status not in _AUTHORIZATION_STATUS:
                    return _unsupported(f"authorisation status {entry.status!r}")
                entries.append(
                    v16.AuthorizationData(
                        id_tag=entry.id_tag,
                        id_tag_info=(
                            msgspec.UNSET
                            if entry.status is None
                            else v16.IdTagInfo(
                                status=entry.status,  # type: ignore[arg-type]
                                expiry_date=unset(entry.expires_at),
                                parent_id_tag=unset(entry.parent_id),
                            )
                        ),
                    )
                )
            return OutgoingCall(
                "SendLocalList",
                v16.SendLocalListRequest(
                    list_version=command.version,
                    local_authorization_list=entries or msgspec.UNSET,
                    update_type="Full" if command.update == "full" else "Differential",
                ),
                status_answer(),
            )
        case m.ReserveNow():
            return OutgoingCall(
                "ReserveNow",
                v16.ReserveNowRequest(
                    connector_id=command.connector_id,
                    expiry_date=command.expires_at,
                    id_tag=command.id_tag,
                    parent_id_tag=unset(command.parent_id),
                    reservation_id=command.reservation_id,
                ),
                status_answer(),
            )
        case m.CancelReservation():
            return OutgoingCall(
                "CancelReservation",
                v16.CancelReservationRequest(reservation_id=command.reservation_id),
                status_answer(),
            )
        case m.SetChargingProfile():
            return OutgoingCall(
                "SetChargingProfile",
                v16.SetChargingProfileRequest(
                    connector_id=command.connector_id,
                    cs_charging_profiles=_profile(command.profile),
                ),
                status_answer(),
            )
        case m.ClearChargingProfile():
            purpose: object = msgspec.UNSET
            if command.purpose is not None:
                purpose = _PURPOSE.get(command.purpose)
                if purpose is None:
                    return _unsupported(f"charging profile purpose {command.purpose!r}")
            return OutgoingCall(
                "ClearChargingProfile",
                v16.ClearChargingProfileRequest(
                    id=unset(command.profile_id),
                    connector_id=unset(command.connector_id),
                    charging_profile_purpose=purpose,  # type: ignore[arg-type]
                    stack_level=unset(command.stack_level),
                ),
                status_answer(),
            )
        case m.GetCompositeSchedule():
            return OutgoingCall(
                "GetCompositeSchedule",
                v16.GetCompositeScheduleRequest(
                    connector_id=command.connector_id,
                    duration=command.duration,
                    charging_rate_unit=unset(command.rate_unit),
                ),
                status_answer(),
            )
        case m.UpdateFirmware():
            if command.signing_certificate is None and command.signature is None:
                return OutgoingCall(
                    "UpdateFirmware",
                    v16.UpdateFirmwareRequest(
                        location=command.location,
                        retries=unset(command.retries),
                        retrieve_date=command.retrieve_at,
                        retry_interval=unset(command.retry_interval),
                    ),
                    status_answer(),
                )
            if command.signing_certificate is None or command.signature is None:
                return Unsupported(
                    "a signed firmware update needs a signing certificate and a signature"
                )
            request_id = command.request_id or new_request_id()
            return OutgoingCall(
                "SignedUpdateFirmware",
                v16.SignedUpdateFirmwareRequest(
                    retries=unset(command.retries),
                    retry_interval=unset(command.retry_interval),
                    request_id=request_id,
                    firmware=v16.FirmwareType(
                        location=command.location,
                        retrieve_date_time=command.retrieve_at,
                        install_date_time=unset(command.install_at),
                        signing_certificate=command.signing_certificate,
                        signature=command.signature,
                    ),
                ),
                status_answer({"request_id": request_id}),
            )
        case m.GetDiagnostics():
            return OutgoingCall(
                "GetDiagnostics",
                v16.GetDiagnosticsRequest(
                    location=command.location,
                    retries=unset(command.retries),
                    retry_interval=unset(command.retry_interval),
                    start_time=unset(command.start),
                    stop_time=unset(command.stop),
                ),
                status_answer(),
            )
        case m.GetLog():
            return OutgoingCall(
                "GetLog",
                v16.GetLogRequest(
                    log=v16.LogParametersType(
                        remote_location=command.location,
                        oldest_timestamp=unset(command.start),
                        latest_timestamp=unset(command.stop),
                    ),
                    log_type=command.log_type,
                    request_id=command.request_id,
                    retries=unset(command.retries),
                    retry_interval=unset(command.retry_interval),
                ),
                status_answer({"request_id": command.request_id}),
            )
        case m.InstallCertificate():
            use = _CERTIFICATE_USE.get(command.certificate_type)
            if use is None:
                return _unsupported(f"certificate type {command.certificate_type!r}")
            return OutgoingCall(
                "InstallCertificate",
                v16.InstallCertificateRequest(
                    certificate_type=use,  # type: ignore[arg-type]
                    certificate=command.certificate,
                ),
                status_answer(),
            )
        case m.CertificateSigned():
            if command.certificate_type not in (None, "ChargingStationCertificate"):
                return _unsupported(f"certificate type {command.certificate_type!r}")
            return OutgoingCall(
                "CertificateSigned",
                v16.CertificateSignedRequest(certificate_chain=command.certificate_chain),
                status_answer(),
            )
        case m.GetInstalledCertificateIds():
            if len(command.certificate_types) != 1:
                return Unsupported("OCPP 1.6 asks for one certificate type per call")
            use = _CERTIFICATE_USE.get(command.certificate_types[0])
            if use is None:
                return _unsupported(f"certificate type {command.certificate_types[0]!r}")
            return OutgoingCall(
                "GetInstalledCertificateIds",
                v16.GetInstalledCertificateIdsRequest(certificate_type=use),  # type: ignore[arg-type]
                status_answer(),
            )
        case m.DeleteCertificate():
            return OutgoingCall(
                "DeleteCertificate",
                v16.DeleteCertificateRequest(
                    certificate_hash_data=v16.CertificateHashDataType(
                        hash_algorithm=command.hash_algorithm,
                        issuer_name_hash=command.issuer_name_hash,
                        issuer_key_hash=command.issuer_key_hash,
                        serial_number=command.serial_number,
                    )
                ),
                status_answer(),
            )
        case m.DataTransfer():
            data = command.data
            if data is not None and not isinstance(data, str):
                data = msgspec.json.encode(data).decode()
            return OutgoingCall(
                "DataTransfer",
                v16.DataTransferRequest(
                    vendor_id=command.vendor_id,
                    message_id=unset(command.message_id),
                    data=unset(data),
                ),
                status_answer(),
            )
    return _unsupported(type(command).__name__)
