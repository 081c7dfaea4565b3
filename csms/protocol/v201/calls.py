"""OCPP 2.0.1: remote commands spelled as the calls the CSMS makes to a
charging station, and their answers read back as
:class:`~csms.commands.outcomes.Answered`.

The mapping, where 2.0.1 differs from 1.6:

- RemoteStart is RequestStartTransaction with a random ``remoteStartId``
  (given back in the answer's data as ``remote_start_id``). The idToken's
  type is the command's ``id_token_type`` if given, else ``ISO14443`` for a
  tag that looks like an RFID UID (8, 14 or 20 hex digits: a 4-, 7- or
  10-byte UID, as our media are registered) and ``Central`` otherwise.
- RemoteStop is RequestStopTransaction of the session's
  ``charger_transaction_id`` (read from storage); a TxProfile's session too.
- Reset soft is OnIdle, hard Immediate. ChangeAvailability of connector 0
  is the whole station, else of the EVSE ``connector_id``.
- GetDiagnostics is GetLog of a DiagnosticsLog with a random requestId
  (given back as ``request_id``).
- TriggerMessage: DiagnosticsStatusNotification is LogStatusNotification,
  SignChargePointCertificate is SignChargingStationCertificate; a trigger
  of StatusNotification for an EVSE names its connector 1.
- GetConfiguration / ChangeConfiguration are :class:`Unsupported` (use
  GetVariables / SetVariables).
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from csms.commands import model as m
from csms.commands.outcomes import Answered, Unsupported
from csms.protocol.outgoing import (
    ChargerTransactions,
    OutgoingCall,
    StationSessions,
    UnknownSession,
    new_request_id,
    plain,
    refusal_for_session,
    session_of,
    status_answer,
    unset,
)
from csms.protocol.payloads import v201

_TRIGGER = {
    "BootNotification": "BootNotification",
    "LogStatusNotification": "LogStatusNotification",
    "DiagnosticsStatusNotification": "LogStatusNotification",
    "FirmwareStatusNotification": "FirmwareStatusNotification",
    "Heartbeat": "Heartbeat",
    "MeterValues": "MeterValues",
    "SignChargingStationCertificate": "SignChargingStationCertificate",
    "SignChargePointCertificate": "SignChargingStationCertificate",
    "SignV2GCertificate": "SignV2GCertificate",
    "StatusNotification": "StatusNotification",
    "TransactionEvent": "TransactionEvent",
    "SignCombinedCertificate": "SignCombinedCertificate",
    "PublishFirmwareStatusNotification": "PublishFirmwareStatusNotification",
}
_CERTIFICATE_USE = {
    "CSMSRootCertificate": "CSMSRootCertificate",
    "CentralSystemRootCertificate": "CSMSRootCertificate",
    "ManufacturerRootCertificate": "ManufacturerRootCertificate",
    "V2GRootCertificate": "V2GRootCertificate",
    "MORootCertificate": "MORootCertificate",
    "V2GCertificateChain": "V2GCertificateChain",
}
_PURPOSE = {
    "ChargePointMaxProfile": "ChargingStationMaxProfile",
    "ChargingStationMaxProfile": "ChargingStationMaxProfile",
    "ChargingStationExternalConstraints": "ChargingStationExternalConstraints",
    "TxDefaultProfile": "TxDefaultProfile",
    "TxProfile": "TxProfile",
}
_AUTHORIZATION_STATUS = {
    "Accepted",
    "Blocked",
    "ConcurrentTx",
    "Expired",
    "Invalid",
    "NoCredit",
    "NotAllowedTypeEVSE",
    "NotAtThisLocation",
    "NotAtThisTime",
    "Unknown",
}
_ID_TOKEN_TYPES = {
    "Central",
    "eMAID",
    "ISO14443",
    "ISO15693",
    "KeyCode",
    "Local",
    "MacAddress",
    "NoAuthorization",
}
_RFID_UID = re.compile(r"(?:[0-9A-Fa-f]{8}|[0-9A-Fa-f]{14}|[0-9A-Fa-f]{20})")


class _Refused(Exception):
    pass


def id_token_type(id_tag: str) -> str:
    """``ISO14443`` for a tag that looks like an RFID UID, else ``Central``."""
    return "ISO14443" if _RFID_UID.fullmatch(id_tag) else "Central"


def _id_token(id_tag: str, kind: str | None = None) -> v201.IdTokenType:
    kind = kind or id_token_type(id_tag)
    if kind not in _ID_TOKEN_TYPES:
        raise _Refused(f"OCPP 2.0.1 has no idToken type {kind!r}")
    return v201.IdTokenType(id_token=id_tag, type=kind)  # type: ignore[arg-type]


class Calls201:
    """Translates commands into 2.0.1 calls; ``transactions`` gives the
    charger's transaction id of a session."""

    version = "2.0.1"

    def __init__(
        self, transactions: ChargerTransactions, sessions: StationSessions | None = None
    ) -> None:
        self.transactions = transactions
        self.sessions = sessions

    async def translate(
        self, charge_point_id: str, command: m.Command
    ) -> OutgoingCall | Unsupported:
        transaction_id: str | None = None
        session_id = session_of(command)
        if session_id is not None:
            refusal = await refusal_for_session(self.sessions, charge_point_id, command, session_id)
            if refusal is not None:
                return Unsupported(refusal)
            transaction_id = await self.transactions.charger_transaction_id(
                charge_point_id, session_id
            )
            if transaction_id is None:
                return Unsupported(
                    f"session {session_id} is no transaction of station {charge_point_id!r}"
                )
        try:
            return call_for(command, transaction_id)
        except _Refused as refused:
            return Unsupported(str(refused))
        except UnknownSession as unknown:  # pragma: no cover - looked up above
            return Unsupported(str(unknown))


def _unsupported(what: str) -> Unsupported:
    return Unsupported(f"OCPP 2.0.1 has no {what}")


def _profile(profile: m.ChargingProfile, transaction_id: str | None) -> v201.ChargingProfileType:
    purpose = _PURPOSE.get(profile.purpose)
    if purpose is None:
        raise _Refused(f"OCPP 2.0.1 has no charging profile purpose {profile.purpose!r}")
    schedule = profile.schedule
    if profile.session_id is not None and transaction_id is None:
        raise UnknownSession(f"session {profile.session_id} has no transaction id")
    return v201.ChargingProfileType(
        id=profile.profile_id,
        stack_level=profile.stack_level,
        charging_profile_purpose=purpose,  # type: ignore[arg-type]
        charging_profile_kind=profile.kind,  # type: ignore[arg-type]
        recurrency_kind=unset(profile.recurrency_kind),
        valid_from=unset(profile.valid_from),
        valid_to=unset(profile.valid_to),
        transaction_id=unset(transaction_id if profile.session_id is not None else None),
        charging_schedule=[
            v201.ChargingScheduleType(
                id=schedule.schedule_id if schedule.schedule_id is not None else profile.profile_id,
                start_schedule=unset(schedule.start_schedule),
                duration=unset(schedule.duration),
                charging_rate_unit=schedule.rate_unit,
                charging_schedule_period=[
                    v201.ChargingSchedulePeriodType(
                        start_period=period.start_period,
                        limit=period.limit,
                        number_phases=unset(period.number_phases),
                    )
                    for period in schedule.periods
                ],
                min_charging_rate=unset(schedule.min_charging_rate),
            )
        ],
    )


def _component(
    name: str, instance: str | None, evse_id: int | None, connector_id: int | None
) -> v201.ComponentType:
    return v201.ComponentType(
        name=name,
        instance=unset(instance),
        evse=(
            msgspec.UNSET
            if evse_id is None
            else v201.EVSEType(id=evse_id, connector_id=unset(connector_id))
        ),
    )


def _variables_answer(field: str) -> Any:
    def read(answer: msgspec.Struct) -> Answered:
        results = plain(getattr(answer, field))
        statuses = {result["attribute_status"] for result in results}
        # One status for the whole call when every variable agrees.
        status = statuses.pop() if len(statuses) == 1 else "Mixed"
        return Answered(status=status, data={"results": results})

    return read


def call_for(command: m.Command, transaction_id: str | None = None) -> OutgoingCall | Unsupported:
    """The 2.0.1 call for a command (``transaction_id``: the charger's id of
    the session the command names), or Unsupported."""
    match command:
        case m.RemoteStart():
            remote_start_id = new_request_id()
            return OutgoingCall(
                "RequestStartTransaction",
                v201.RequestStartTransactionRequest(
                    evse_id=unset(command.connector_id or None),
                    id_token=_id_token(command.id_tag, command.id_token_type),
                    remote_start_id=remote_start_id,
                    charging_profile=(
                        msgspec.UNSET
                        if command.charging_profile is None
                        else _profile(command.charging_profile, transaction_id)
                    ),
                ),
                status_answer({"remote_start_id": remote_start_id}),
            )
        case m.RemoteStop():
            if transaction_id is None:
                raise UnknownSession(f"session {command.session_id} has no transaction id")
            return OutgoingCall(
                "RequestStopTransaction",
                v201.RequestStopTransactionRequest(transaction_id=transaction_id),
                status_answer(),
            )
        case m.Reset():
            return OutgoingCall(
                "Reset",
                v201.ResetRequest(type="Immediate" if command.kind == "hard" else "OnIdle"),
                status_answer(),
            )
        case m.UnlockConnector():
            return OutgoingCall(
                "UnlockConnector",
                v201.UnlockConnectorRequest(
                    evse_id=command.connector_id, connector_id=command.evse_connector_id
                ),
                status_answer(),
            )
        case m.ChangeAvailability():
            return OutgoingCall(
                "ChangeAvailability",
                v201.ChangeAvailabilityRequest(
                    evse=(
                        msgspec.UNSET
                        if command.connector_id == 0
                        else v201.EVSEType(id=command.connector_id)
                    ),
                    operational_status="Operative" if command.operative else "Inoperative",
                ),
                status_answer(),
            )
        case m.GetConfiguration() | m.ChangeConfiguration():
            return _unsupported(
                f"{type(command).__name__} (a 1.6 call); use GetVariables/SetVariables"
            )
        case m.GetVariables():
            if not command.variables:
                return Unsupported("GetVariables needs at least one variable")
            return OutgoingCall(
                "GetVariables",
                v201.GetVariablesRequest(
                    get_variable_data=[
                        v201.GetVariableDataType(
                            attribute_type=unset(ref.attribute_type),  # type: ignore[arg-type]
                            component=_component(
                                ref.component, ref.component_instance, ref.evse_id, ref.connector_id
                            ),
                            variable=v201.VariableType(
                                name=ref.variable, instance=unset(ref.variable_instance)
                            ),
                        )
                        for ref in command.variables
                    ]
                ),
                _variables_answer("get_variable_result"),
            )
        case m.SetVariables():
            if not command.variables:
                return Unsupported("SetVariables needs at least one variable")
            return OutgoingCall(
                "SetVariables",
                v201.SetVariablesRequest(
                    set_variable_data=[
                        v201.SetVariableDataType(
                            attribute_type=unset(setting.attribute_type),  # type: ignore[arg-type]
                            attribute_value=setting.value,
                            component=_component(
                                setting.component,
                                setting.component_instance,
                                setting.evse_id,
                                setting.connector_id,
                            ),
                            variable=v201.VariableType(
                                name=setting.variable, instance=unset(setting.variable_instance)
                            ),
                        )
                        for setting in command.variables
                    ]
                ),
                _variables_answer("set_variable_result"),
            )
        case m.SetBasicAuthPassword():
            return OutgoingCall(
                "SetVariables",
                v201.SetVariablesRequest(
                    set_variable_data=[
                        v201.SetVariableDataType(
                            attribute_value=command.password,
                            component=v201.ComponentType(name="SecurityCtrlr"),
                            variable=v201.VariableType(name="BasicAuthPassword"),
                        )
                    ]
                ),
                _variables_answer("set_variable_result"),
            )
        case m.GetBaseReport():
            request_id = command.request_id or new_request_id()
            return OutgoingCall(
                "GetBaseReport",
                v201.GetBaseReportRequest(request_id=request_id, report_base=command.report),
                status_answer({"request_id": request_id}),
            )
        case m.TriggerMessage():
            requested = _TRIGGER.get(command.message)
            if requested is None:
                return _unsupported(f"trigger for {command.message!r}")
            evse: Any = msgspec.UNSET
            if command.connector_id:
                evse = v201.EVSEType(
                    id=command.connector_id,
                    connector_id=1 if requested == "StatusNotification" else msgspec.UNSET,
                )
            return OutgoingCall(
                "TriggerMessage",
                v201.TriggerMessageRequest(
                    evse=evse,
                    requested_message=requested,  # type: ignore[arg-type]
                ),
                status_answer(),
            )
        case m.ClearCache():
            return OutgoingCall("ClearCache", v201.ClearCacheRequest(), status_answer())
        case m.GetLocalListVersion():
            return OutgoingCall(
                "GetLocalListVersion",
                v201.GetLocalListVersionRequest(),
                lambda answer: Answered(
                    status=None,
                    data={"list_version": answer.version_number},  # type: ignore[attr-defined]
                ),
            )
        case m.SendLocalList():
            entries = []
            for entry in command.entries:
                if entry.status is not None and entry.status not in _AUTHORIZATION_STATUS:
                    return _unsupported(f"authorisation status {entry.status!r}")
                entries.append(
                    v201.AuthorizationData(
                        id_token=_id_token(entry.id_tag),
                        id_token_info=(
                            msgspec.UNSET
                            if entry.status is None
                            else v201.IdTokenInfoType(
                                status=entry.status,  # type: ignore[arg-type]
                                cache_expiry_date_time=unset(entry.expires_at),
                                group_id_token=(
                                    msgspec.UNSET
                                    if entry.parent_id is None
                                    else _id_token(entry.parent_id, "Central")
                                ),
                            )
                        ),
                    )
                )
            return OutgoingCall(
                "SendLocalList",
                v201.SendLocalListRequest(
                    local_authorization_list=entries or msgspec.UNSET,
                    version_number=command.version,
                    update_type="Full" if command.update == "full" else "Differential",
                ),
                status_answer(),
            )
        case m.ReserveNow():
            return OutgoingCall(
                "ReserveNow",
                v201.ReserveNowRequest(
                    id=command.reservation_id,
                    expiry_date_time=command.expires_at,
                    id_token=_id_token(command.id_tag),
                    evse_id=unset(command.connector_id or None),
                    group_id_token=(
                        msgspec.UNSET
                        if command.parent_id is None
                        else _id_token(command.parent_id, "Central")
                    ),
                ),
                status_answer(),
            )
        case m.CancelReservation():
            return OutgoingCall(
                "CancelReservation",
                v201.CancelReservationRequest(reservation_id=command.reservation_id),
                status_answer(),
            )
        case m.SetChargingProfile():
            return OutgoingCall(
                "SetChargingProfile",
                v201.SetChargingProfileRequest(
                    evse_id=command.connector_id,
                    charging_profile=_profile(command.profile, transaction_id),
                ),
                status_answer(),
            )
        case m.ClearChargingProfile():
            purpose: Any = msgspec.UNSET
            if command.purpose is not None:
                purpose = _PURPOSE.get(command.purpose)
                if purpose is None:
                    return _unsupported(f"charging profile purpose {command.purpose!r}")
            criteria: Any = msgspec.UNSET
            if (
                command.connector_id is not None
                or purpose is not msgspec.UNSET
                or command.stack_level is not None
            ):
                criteria = v201.ClearChargingProfileType(
                    evse_id=unset(command.connector_id),
                    charging_profile_purpose=purpose,
                    stack_level=unset(command.stack_level),
                )
            return OutgoingCall(
                "ClearChargingProfile",
                v201.ClearChargingProfileRequest(
                    charging_profile_id=unset(command.profile_id),
                    charging_profile_criteria=criteria,
                ),
                status_answer(),
            )
        case m.GetCompositeSchedule():
            return OutgoingCall(
                "GetCompositeSchedule",
                v201.GetCompositeScheduleRequest(
                    duration=command.duration,
                    charging_rate_unit=unset(command.rate_unit),
                    evse_id=command.connector_id,
                ),
                status_answer(),
            )
        case m.UpdateFirmware():
            request_id = command.request_id or new_request_id()
            return OutgoingCall(
                "UpdateFirmware",
                v201.UpdateFirmwareRequest(
                    retries=unset(command.retries),
                    retry_interval=unset(command.retry_interval),
                    request_id=request_id,
                    firmware=v201.FirmwareType(
                        location=command.location,
                        retrieve_date_time=command.retrieve_at,
                        install_date_time=unset(command.install_at),
                        signing_certificate=unset(command.signing_certificate),
                        signature=unset(command.signature),
                    ),
                ),
                status_answer({"request_id": request_id}),
            )
        case m.GetDiagnostics() | m.GetLog():
            if isinstance(command, m.GetLog):
                request_id, log_type = command.request_id, command.log_type
            else:
                request_id, log_type = new_request_id(), "DiagnosticsLog"
            return OutgoingCall(
                "GetLog",
                v201.GetLogRequest(
                    log=v201.LogParametersType(
                        remote_location=command.location,
                        oldest_timestamp=unset(command.start),
                        latest_timestamp=unset(command.stop),
                    ),
                    log_type=log_type,
                    request_id=request_id,
                    retries=unset(command.retries),
                    retry_interval=unset(command.retry_interval),
                ),
                status_answer({"request_id": request_id}),
            )
        case m.InstallCertificate():
            use = _CERTIFICATE_USE.get(command.certificate_type)
            if use is None or use == "V2GCertificateChain":
                return _unsupported(f"certificate type {command.certificate_type!r} to install")
            return OutgoingCall(
                "InstallCertificate",
                v201.InstallCertificateRequest(
                    certificate_type=use,  # type: ignore[arg-type]
                    certificate=command.certificate,
                ),
                status_answer(),
            )
        case m.CertificateSigned():
            return OutgoingCall(
                "CertificateSigned",
                v201.CertificateSignedRequest(
                    certificate_chain=command.certificate_chain,
                    certificate_type=unset(command.certificate_type),  # type: ignore[arg-type]
                ),
                status_answer(),
            )
        case m.GetInstalledCertificateIds():
            uses = []
            for kind in command.certificate_types:
                use = _CERTIFICATE_USE.get(kind)
                if use is None:
                    return _unsupported(f"certificate type {kind!r}")
                uses.append(use)
            return OutgoingCall(
                "GetInstalledCertificateIds",
                v201.GetInstalledCertificateIdsRequest(
                    certificate_type=uses or msgspec.UNSET  # type: ignore[arg-type]
                ),
                status_answer(),
            )
        case m.DeleteCertificate():
            return OutgoingCall(
                "DeleteCertificate",
                v201.DeleteCertificateRequest(
                    certificate_hash_data=v201.CertificateHashDataType(
                        hash_algorithm=command.hash_algorithm,
                        issuer_name_hash=command.issuer_name_hash,
                        issuer_key_hash=command.issuer_key_hash,
                        serial_number=command.serial_number,
                    )
                ),
                status_answer(),
            )
        case m.SetNetworkProfile():
            profile = command.profile
            try:
                apn = (
                    msgspec.UNSET
                    if profile.apn is None
                    else msgspec.convert(profile.apn, v201.APNType)
                )
                vpn = (
                    msgspec.UNSET
                    if profile.vpn is None
                    else msgspec.convert(profile.vpn, v201.VPNType)
                )
            except msgspec.ValidationError as error:
                return Unsupported(f"the network profile's apn/vpn: {error}")
            return OutgoingCall(
                "SetNetworkProfile",
                v201.SetNetworkProfileRequest(
                    configuration_slot=command.configuration_slot,
                    connection_data=v201.NetworkConnectionProfileType(
                        apn=apn,
                        ocpp_version=profile.ocpp_version,  # type: ignore[arg-type]
                        ocpp_transport=profile.ocpp_transport,  # type: ignore[arg-type]
                        ocpp_csms_url=profile.ocpp_csms_url,
                        message_timeout=profile.message_timeout,
                        security_profile=profile.security_profile,
                        ocpp_interface=profile.ocpp_interface,  # type: ignore[arg-type]
                        vpn=vpn,
                    ),
                ),
                status_answer(),
            )
        case m.DataTransfer():
            return OutgoingCall(
                "DataTransfer",
                v201.DataTransferRequest(
                    message_id=unset(command.message_id),
                    data=unset(command.data),
                    vendor_id=command.vendor_id,
                ),
                status_answer(),
            )
    return _unsupported(type(command).__name__)
