"""OCPP 2.0.1: the calls a charging station makes, turned into domain commands.

The same version-neutral domain as 1.6 (``csms/protocol/v16/handlers.py``),
so a 2.0.1 session looks to CRM and billing like a 1.6 one:

- An EVSE is the domain's connector (``connector_id``); the 2.0.1
  connectorId within the EVSE is kept in the event data only.
- A transaction (TransactionEvent Started / Updated / Ended) is one
  ``charging_session`` row; the charger's string transactionId is its
  ``charger_transaction_id``; energy registers become Wh (unitOfMeasure unit
  and multiplier honoured) and sampled values keep their exact JSON text.
- NotifyReport fills the station's device model; other notifications are
  station events.

Handler style as in 1.6: the payload's fields as keyword arguments
(validated already), the 2.0.1 result returned.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from msgspec import UNSET
from ocpp.v201.enums import Action

from csms.domain.commands import (
    AuthorizeToken,
    BootStation,
    DeviceVariable,
    RecordMeterValues,
    RecordNotification,
    RecordTransactionEvent,
    ReportDeviceModel,
    ReportStatus,
)
from csms.domain.meter import register_wh
from csms.domain.model import AuthorizationStatus, Sample, TokenInfo
from csms.domain.runtime import StationRuntime
from csms.domain.writes import MESSAGE_LOG_MAX_CHARS, capped_text
from csms.protocol.ocppj import ErrorCode
from csms.protocol.payloads import v201
from csms.protocol.rpc import OcppError, StationSession, on
from csms.protocol.storable import INT64
from csms.protocol.v201.codec import value_text
from csms.protocol.v201.security import SecurityHandlers201

# The defaults OCPP 2.0.1 gives to a SampledValue's optional fields.
_DEFAULT_MEASURAND = "Energy.Active.Import.Register"
_DEFAULT_CONTEXT = "Sample.Periodic"
_DEFAULT_LOCATION = "Outlet"
_NO_AUTHORIZATION = "NoAuthorization"
# A transaction ended without a stoppedReason ended locally (2.0.1 E06).
_DEFAULT_STOPPED_REASON = "Local"


def id_token_info(token: TokenInfo) -> v201.IdTokenInfoType:
    return v201.IdTokenInfoType(
        status=token.status.value,  # type: ignore[arg-type]
        cache_expiry_date_time=token.expires_at if token.expires_at else UNSET,
        group_id_token=(
            v201.IdTokenType(id_token=token.parent_id, type="Central") if token.parent_id else UNSET
        ),
    )


def samples(meter_values: list[Any] | None) -> tuple[Sample, ...]:
    """2.0.1 MeterValue objects as domain samples, the spec's defaults made
    explicit (an energy value without unit is in Wh)."""
    out: list[Sample] = []
    for meter_value in meter_values or ():
        for sampled in meter_value.sampled_value:
            measurand = _given(sampled.measurand) or _DEFAULT_MEASURAND
            unit_of_measure = sampled.unit_of_measure
            unit = multiplier = None
            if unit_of_measure is not UNSET:
                unit = _given(unit_of_measure.unit) or None
                multiplier = unit_of_measure.multiplier or None
            if unit is None:
                # The schema's default is Wh; only energy is measured in Wh.
                unit = "Wh" if measurand.startswith("Energy.") else ""
            signed = sampled.signed_meter_value
            out.append(
                Sample(
                    sampled_at=meter_value.timestamp,
                    value=value_text(sampled.value),
                    measurand=measurand,
                    phase=_given(sampled.phase),
                    unit=unit,
                    context=_given(sampled.context) or _DEFAULT_CONTEXT,
                    location=_given(sampled.location) or _DEFAULT_LOCATION,
                    format="Raw",
                    # signedMeterValue's fields as sent, each in its own column.
                    signed_data=signed.signed_meter_data if signed is not UNSET else "",
                    signing_method=signed.signing_method if signed is not UNSET else "",
                    encoding_method=signed.encoding_method if signed is not UNSET else "",
                    public_key=signed.public_key if signed is not UNSET else "",
                    multiplier=int(multiplier or 0),
                )
            )
            wh = register_wh(out[-1])
            if wh is not None and not INT64[0] <= wh <= INT64[1]:
                # The schema allows any number; the Wh columns hold 64 bits.
                raise OcppError(
                    ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
                    f"energy register {out[-1].value[:40]} {unit} is beyond 64-bit Wh",
                    {"keyword": "storable", "path": "$.meterValue"},
                )
    return tuple(out)


def _given(value: Any) -> str:
    return "" if value is UNSET or value is None else str(value)


def _event_data(**fields: Any) -> dict[str, Any]:
    """A notification's fields as JSON-ready data (nested objects keep the
    schema's names); absent fields left out."""
    return {
        name: msgspec.to_builtins(value)
        for name, value in fields.items()
        if value is not UNSET and value is not None
    }


class ChargingStationHandlers201(SecurityHandlers201):
    """The 2.0.1 calls a charging station makes; dependencies are fields."""

    def __init__(self, runtime: StationRuntime, security: Any = None) -> None:
        self.runtime = runtime
        self.security = security

    # -- provisioning and availability ----------------------------------------

    @on(Action.boot_notification)
    async def boot_notification(
        self,
        station: StationSession,
        *,
        charging_station: v201.ChargingStationType,
        reason: str,
        **kwargs: Any,
    ) -> v201.BootNotificationResponse:
        modem = charging_station.modem
        decision = await self.runtime.boot(
            station.profile,
            BootStation(
                vendor=charging_station.vendor_name,
                model=charging_station.model,
                serial_number=_given(charging_station.serial_number),
                firmware_version=_given(charging_station.firmware_version),
                iccid=_given(modem.iccid) if modem is not UNSET else "",
                imsi=_given(modem.imsi) if modem is not UNSET else "",
                reason=reason,
            ),
        )
        station.profile = msgspec.structs.replace(
            station.profile, registration_status=decision.status
        )
        return v201.BootNotificationResponse(
            current_time=decision.current_time,
            interval=decision.interval,
            status=decision.status.value,  # type: ignore[arg-type]
        )

    @on(Action.heartbeat)
    async def heartbeat(self, station: StationSession, **kwargs: Any) -> v201.HeartbeatResponse:
        return v201.HeartbeatResponse(current_time=self.runtime.seen(station.profile))

    @on(Action.status_notification)
    async def status_notification(
        self,
        station: StationSession,
        *,
        timestamp: datetime,
        connector_status: str,
        evse_id: int,
        connector_id: int,
        **kwargs: Any,
    ) -> v201.StatusNotificationResponse:
        await self.runtime.report_status(
            station.profile,
            ReportStatus(
                connector_id=evse_id,
                status=connector_status,
                timestamp=timestamp,
            ),
        )
        return v201.StatusNotificationResponse()

    # -- authorisation and transactions -----------------------------------------

    @on(Action.authorize)
    async def authorize(
        self, station: StationSession, *, id_token: v201.IdTokenType, **kwargs: Any
    ) -> v201.AuthorizeResponse:
        if id_token.type == _NO_AUTHORIZATION:
            token = TokenInfo(AuthorizationStatus.ACCEPTED)
        else:
            token = await self.runtime.authorize(
                station.profile, AuthorizeToken(id_tag=id_token.id_token)
            )
        return v201.AuthorizeResponse(id_token_info=id_token_info(token))

    @on(Action.transaction_event)
    async def transaction_event(
        self,
        station: StationSession,
        *,
        event_type: str,
        timestamp: datetime,
        trigger_reason: str,
        seq_no: int,
        transaction_info: v201.TransactionType,
        meter_value: list[v201.MeterValueType] | None = None,
        offline: bool = False,
        reservation_id: int | None = None,
        evse: v201.EVSEType | None = None,
        id_token: v201.IdTokenType | None = None,
        **kwargs: Any,
    ) -> v201.TransactionEventResponse:
        stopped_reason = _given(transaction_info.stopped_reason)
        if event_type == "Ended" and not stopped_reason:
            stopped_reason = _DEFAULT_STOPPED_REASON
        recorded = await self.runtime.transaction_event(
            station.profile,
            RecordTransactionEvent(
                event_type=event_type,
                charger_transaction_id=transaction_info.transaction_id,
                seq_no=seq_no,
                timestamp=timestamp,
                trigger_reason=trigger_reason,
                connector_id=evse.id if evse is not None else None,
                evse_connector_id=(
                    evse.connector_id
                    if evse is not None and evse.connector_id is not UNSET
                    else None
                ),
                id_tag=id_token.id_token if id_token is not None else None,
                id_token_type=id_token.type if id_token is not None else "",
                offline=offline,
                charging_state=_given(transaction_info.charging_state),
                stopped_reason=stopped_reason,
                reservation_id=reservation_id,
                remote_start_id=(
                    transaction_info.remote_start_id
                    if transaction_info.remote_start_id is not UNSET
                    else None
                ),
                samples=samples(meter_value),
            ),
        )
        if recorded.token is None:
            return v201.TransactionEventResponse()
        return v201.TransactionEventResponse(id_token_info=id_token_info(recorded.token))

    @on(Action.meter_values)
    async def meter_values(
        self,
        station: StationSession,
        *,
        evse_id: int,
        meter_value: list[v201.MeterValueType],
        **kwargs: Any,
    ) -> v201.MeterValuesResponse:
        await self.runtime.record_meter_values(
            station.profile,
            RecordMeterValues(
                connector_id=evse_id, transaction_id=None, samples=samples(meter_value)
            ),
        )
        return v201.MeterValuesResponse()

    # -- device model -----------------------------------------------------------

    @on(Action.notify_report)
    async def notify_report(
        self,
        station: StationSession,
        *,
        request_id: int,
        generated_at: datetime,
        seq_no: int,
        tbc: bool = False,
        report_data: list[v201.ReportDataType] | None = None,
        **kwargs: Any,
    ) -> v201.NotifyReportResponse:
        await self.runtime.report_device_model(
            station.profile,
            ReportDeviceModel(
                request_id=request_id,
                seq_no=seq_no,
                tbc=tbc,
                generated_at=generated_at,
                variables=tuple(_variables(report_data or ())),
            ),
        )
        return v201.NotifyReportResponse()

    # -- notifications kept as station events -----------------------------------

    async def _record(self, station: StationSession, kind: str, **fields: Any) -> None:
        timestamp = fields.get("generated_at")
        await self.runtime.record_notification(
            station.profile,
            RecordNotification(
                kind=kind,
                data=_event_data(**fields),
                timestamp=timestamp if isinstance(timestamp, datetime) else None,
            ),
        )

    @on(Action.notify_event)
    async def notify_event(
        self,
        station: StationSession,
        *,
        generated_at: datetime,
        seq_no: int,
        event_data: list[v201.EventDataType],
        tbc: bool = False,
        **kwargs: Any,
    ) -> v201.NotifyEventResponse:
        await self._record(
            station,
            "notify_event",
            generated_at=generated_at,
            seq_no=seq_no,
            tbc=tbc,
            event_data=event_data,
        )
        return v201.NotifyEventResponse()

    @on(Action.firmware_status_notification)
    async def firmware_status_notification(
        self, station: StationSession, *, status: str, request_id: int | None = None, **kwargs: Any
    ) -> v201.FirmwareStatusNotificationResponse:
        await self._record(station, "firmware_status", status=status, request_id=request_id)
        return v201.FirmwareStatusNotificationResponse()

    @on(Action.log_status_notification)
    async def log_status_notification(
        self, station: StationSession, *, status: str, request_id: int | None = None, **kwargs: Any
    ) -> v201.LogStatusNotificationResponse:
        await self._record(station, "log_status", status=status, request_id=request_id)
        return v201.LogStatusNotificationResponse()

    @on(Action.publish_firmware_status_notification)
    async def publish_firmware_status_notification(
        self,
        station: StationSession,
        *,
        status: str,
        location: list[str] | None = None,
        request_id: int | None = None,
        **kwargs: Any,
    ) -> v201.PublishFirmwareStatusNotificationResponse:
        await self._record(
            station,
            "publish_firmware_status",
            status=status,
            location=location,
            request_id=request_id,
        )
        return v201.PublishFirmwareStatusNotificationResponse()

    @on(Action.reservation_status_update)
    async def reservation_status_update(
        self,
        station: StationSession,
        *,
        reservation_id: int,
        reservation_update_status: str,
        **kwargs: Any,
    ) -> v201.ReservationStatusUpdateResponse:
        await self._record(
            station,
            "reservation_status",
            reservation_id=reservation_id,
            status=reservation_update_status,
        )
        return v201.ReservationStatusUpdateResponse()

    @on(Action.notify_charging_limit)
    async def notify_charging_limit(
        self,
        station: StationSession,
        *,
        charging_limit: v201.ChargingLimitType,
        evse_id: int | None = None,
        charging_schedule: list[Any] | None = None,
        **kwargs: Any,
    ) -> v201.NotifyChargingLimitResponse:
        await self._record(
            station,
            "charging_limit",
            charging_limit=charging_limit,
            evse_id=evse_id,
            charging_schedule=charging_schedule,
        )
        return v201.NotifyChargingLimitResponse()

    @on(Action.cleared_charging_limit)
    async def cleared_charging_limit(
        self,
        station: StationSession,
        *,
        charging_limit_source: str,
        evse_id: int | None = None,
        **kwargs: Any,
    ) -> v201.ClearedChargingLimitResponse:
        await self._record(
            station,
            "charging_limit_cleared",
            charging_limit_source=charging_limit_source,
            evse_id=evse_id,
        )
        return v201.ClearedChargingLimitResponse()

    @on(Action.report_charging_profiles)
    async def report_charging_profiles(
        self,
        station: StationSession,
        *,
        request_id: int,
        charging_limit_source: str,
        charging_profile: list[Any],
        evse_id: int,
        tbc: bool = False,
        **kwargs: Any,
    ) -> v201.ReportChargingProfilesResponse:
        await self._record(
            station,
            "charging_profiles_report",
            request_id=request_id,
            charging_limit_source=charging_limit_source,
            evse_id=evse_id,
            tbc=tbc,
            charging_profile=charging_profile,
        )
        return v201.ReportChargingProfilesResponse()

    @on(Action.notify_ev_charging_needs)
    async def notify_ev_charging_needs(
        self,
        station: StationSession,
        *,
        charging_needs: Any,
        evse_id: int,
        max_schedule_tuples: int | None = None,
        **kwargs: Any,
    ) -> v201.NotifyEVChargingNeedsResponse:
        await self._record(
            station,
            "ev_charging_needs",
            evse_id=evse_id,
            charging_needs=charging_needs,
            max_schedule_tuples=max_schedule_tuples,
        )
        # No smart charging here: no schedule will follow.
        return v201.NotifyEVChargingNeedsResponse(status="Rejected")

    @on(Action.notify_ev_charging_schedule)
    async def notify_ev_charging_schedule(
        self,
        station: StationSession,
        *,
        time_base: datetime,
        charging_schedule: Any,
        evse_id: int,
        **kwargs: Any,
    ) -> v201.NotifyEVChargingScheduleResponse:
        await self._record(
            station,
            "ev_charging_schedule",
            time_base=time_base,
            evse_id=evse_id,
            charging_schedule=charging_schedule,
        )
        return v201.NotifyEVChargingScheduleResponse(status="Accepted")

    @on(Action.notify_monitoring_report)
    async def notify_monitoring_report(
        self,
        station: StationSession,
        *,
        request_id: int,
        seq_no: int,
        generated_at: datetime,
        tbc: bool = False,
        monitor: list[Any] | None = None,
        **kwargs: Any,
    ) -> v201.NotifyMonitoringReportResponse:
        await self._record(
            station,
            "monitoring_report",
            request_id=request_id,
            seq_no=seq_no,
            generated_at=generated_at,
            tbc=tbc,
            monitor=monitor,
        )
        return v201.NotifyMonitoringReportResponse()

    @on(Action.notify_customer_information)
    async def notify_customer_information(
        self,
        station: StationSession,
        *,
        data: str,
        seq_no: int,
        generated_at: datetime,
        request_id: int,
        tbc: bool = False,
        **kwargs: Any,
    ) -> v201.NotifyCustomerInformationResponse:
        await self._record(
            station,
            "customer_information",
            request_id=request_id,
            seq_no=seq_no,
            generated_at=generated_at,
            tbc=tbc,
            data=data,
        )
        return v201.NotifyCustomerInformationResponse()

    @on(Action.data_transfer)
    async def data_transfer(
        self,
        station: StationSession,
        *,
        vendor_id: str,
        message_id: str = "",
        data: Any = None,
        **kwargs: Any,
    ) -> v201.DataTransferResponse:
        # Data is any JSON: kept as it is up to the message log's cap,
        # else as the start of its JSON text.
        if data is not None and len(text := msgspec.json.encode(data)) > MESSAGE_LOG_MAX_CHARS:
            data = capped_text(text.decode())
        await self._record(
            station, "data_transfer", vendor_id=vendor_id, message_id=message_id, data=data
        )
        # Recorded, but no vendor extension acts on it: say so, as OCPP asks.
        return v201.DataTransferResponse(status="UnknownVendorId")

    # -- ISO 15118 certificates: no contract certificates or OCSP here ----------

    @on(Action.get_15118_ev_certificate)
    async def get_15118_ev_certificate(
        self,
        station: StationSession,
        *,
        iso15118_schema_version: str,
        action: str,
        **kwargs: Any,
    ) -> v201.Get15118EVCertificateResponse:
        await self._record(
            station,
            "ev_certificate_request",
            iso15118_schema_version=iso15118_schema_version,
            action=action,
        )
        return v201.Get15118EVCertificateResponse(
            status="Failed",
            exi_response="",
            status_info=v201.StatusInfoType(reason_code="NotSupported"),
        )

    @on(Action.get_certificate_status)
    async def get_certificate_status(
        self, station: StationSession, *, ocsp_request_data: Any, **kwargs: Any
    ) -> v201.GetCertificateStatusResponse:
        await self._record(station, "certificate_status_request", ocsp_request=ocsp_request_data)
        return v201.GetCertificateStatusResponse(
            status="Failed", status_info=v201.StatusInfoType(reason_code="NotSupported")
        )


def _variables(report_data: Any) -> list[DeviceVariable]:
    """Each attribute of each reported variable as one device-model row."""
    out: list[DeviceVariable] = []
    for item in report_data:
        component, variable = item.component, item.variable
        evse = component.evse
        characteristics = item.variable_characteristics
        for attribute in item.variable_attribute:
            out.append(
                DeviceVariable(
                    component=component.name,
                    component_instance=_given(component.instance),
                    evse_id=evse.id if evse is not UNSET else 0,
                    connector_id=(
                        evse.connector_id
                        if evse is not UNSET and evse.connector_id is not UNSET
                        else 0
                    ),
                    variable=variable.name,
                    variable_instance=_given(variable.instance),
                    attribute_type=_given(attribute.type) or "Actual",
                    value=attribute.value if attribute.value is not UNSET else None,
                    mutability=_given(attribute.mutability) or "ReadWrite",
                    data_type=(characteristics.data_type if characteristics is not UNSET else ""),
                    unit=(_given(characteristics.unit) if characteristics is not UNSET else ""),
                )
            )
    return out
