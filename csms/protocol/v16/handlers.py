"""OCPP 1.6J: the calls a charger makes, turned into domain commands.

Each handler receives the station's session and the payload's fields as
keyword arguments (decoded and validated already) and returns the 1.6 result.
The domain answers in version-neutral terms; this module spells them in 1.6.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from ocpp.v16.enums import Action

from csms.domain.commands import (
    AuthorizeToken,
    BootStation,
    EndSession,
    RecordMeterValues,
    RecordNotification,
    ReportStatus,
    StartSession,
)
from csms.domain.model import AuthorizationStatus, Sample, TokenInfo
from csms.domain.runtime import StationRuntime
from csms.domain.station_security import StationSecurity
from csms.domain.writes import capped_text
from csms.protocol.payloads import v16
from csms.protocol.rpc import StationSession, on
from csms.protocol.v16.security import SecurityHandlers16

# 1.6 has no NotAtThisLocation: a valid identifier this station refuses is Invalid.
_STATUS_16 = {
    AuthorizationStatus.NOT_AT_THIS_LOCATION: "Invalid",
}

# The defaults OCPP 1.6 gives to a SampledValue's optional fields.
_DEFAULT_MEASURAND = "Energy.Active.Import.Register"
_DEFAULT_CONTEXT = "Sample.Periodic"
_DEFAULT_FORMAT = "Raw"
_DEFAULT_LOCATION = "Outlet"


def id_tag_info(token: TokenInfo) -> v16.IdTagInfo:
    return v16.IdTagInfo(
        status=_STATUS_16.get(token.status, token.status.value),  # type: ignore[arg-type]
        parent_id_tag=token.parent_id if token.parent_id else msgspec.UNSET,
        expiry_date=token.expires_at if token.expires_at else msgspec.UNSET,
    )


def samples(meter_values: list[Any] | None) -> tuple[Sample, ...]:
    """1.6 MeterValue objects as domain samples, with the spec's defaults made
    explicit so nothing downstream has to know them."""
    out: list[Sample] = []
    for meter_value in meter_values or ():
        for sampled in meter_value.sampled_value:
            key = (
                sampled.measurand,
                sampled.unit,
                sampled.format,
                sampled.phase,
                sampled.context,
                sampled.location,
            )
            described = _DESCRIPTIONS.get(key)
            if described is None:
                described = _describe(*key)
            measurand, phase, unit, context, location, value_format = described
            out.append(
                Sample(
                    sampled_at=meter_value.timestamp,
                    value=sampled.value,
                    measurand=measurand,
                    phase=phase,
                    unit=unit,
                    context=context,
                    location=location,
                    format=value_format,
                    signed_data=sampled.value if value_format == "SignedData" else "",
                )
            )
    return tuple(out)


# A sampled value's description (measurand, unit, format, phase, context,
# location: each one of the schema's few values or absent) with the defaults
# made explicit, worked out once per combination: a MeterValues carries
# several samples, every one of them the same few combinations.
_DESCRIPTIONS: dict[tuple[Any, ...], tuple[str, str, str, str, str, str]] = {}
_DESCRIPTIONS_MAX = 4096


def _describe(
    measurand: Any, unit: Any, value_format: Any, phase: Any, context: Any, location: Any
) -> tuple[str, str, str, str, str, str]:
    measurand_text = _given(measurand) or _DEFAULT_MEASURAND
    described = (
        measurand_text,
        _given(phase),
        _given(unit) or ("Wh" if measurand_text.startswith("Energy.") else ""),
        _given(context) or _DEFAULT_CONTEXT,
        _given(location) or _DEFAULT_LOCATION,
        _given(value_format) or _DEFAULT_FORMAT,
    )
    if len(_DESCRIPTIONS) < _DESCRIPTIONS_MAX:
        _DESCRIPTIONS[(measurand, unit, value_format, phase, context, location)] = described
    return described


def _given(value: Any) -> str:
    return "" if value is msgspec.UNSET or value is None else str(value)


class ChargePointHandlers16(SecurityHandlers16):
    """The 1.6 calls a charge point makes; dependencies are fields."""

    def __init__(self, runtime: StationRuntime, security: StationSecurity | None = None) -> None:
        self.runtime = runtime
        self.security = security

    @on(Action.boot_notification)
    async def boot_notification(
        self,
        station: StationSession,
        *,
        charge_point_vendor: str,
        charge_point_model: str,
        charge_point_serial_number: str = "",
        charge_box_serial_number: str = "",
        firmware_version: str = "",
        iccid: str = "",
        imsi: str = "",
        meter_type: str = "",
        meter_serial_number: str = "",
        **kwargs: Any,
    ) -> v16.BootNotificationResponse:
        decision = await self.runtime.boot(
            station.profile,
            BootStation(
                vendor=charge_point_vendor,
                model=charge_point_model,
                serial_number=charge_point_serial_number,
                charge_box_serial_number=charge_box_serial_number,
                firmware_version=firmware_version,
                iccid=iccid,
                imsi=imsi,
                meter_type=meter_type,
                meter_serial_number=meter_serial_number,
            ),
        )
        station.profile = msgspec.structs.replace(
            station.profile, registration_status=decision.status
        )
        return v16.BootNotificationResponse(
            current_time=decision.current_time,
            interval=decision.interval,
            status=decision.status.value,  # type: ignore[arg-type]
        )

    @on(Action.heartbeat)
    async def heartbeat(self, station: StationSession, **kwargs: Any) -> v16.HeartbeatResponse:
        return v16.HeartbeatResponse(current_time=self.runtime.seen(station.profile))

    @on(Action.status_notification)
    async def status_notification(
        self,
        station: StationSession,
        *,
        connector_id: int,
        error_code: str,
        status: str,
        info: str = "",
        timestamp: datetime | None = None,
        vendor_id: str = "",
        vendor_error_code: str = "",
        **kwargs: Any,
    ) -> v16.StatusNotificationResponse:
        await self.runtime.report_status(
            station.profile,
            ReportStatus(
                connector_id=connector_id,
                status=status,
                error_code=error_code,
                timestamp=timestamp,
                info=info,
                vendor_id=vendor_id,
                vendor_error_code=vendor_error_code,
            ),
        )
        return v16.StatusNotificationResponse()

    @on(Action.authorize)
    async def authorize(
        self, station: StationSession, *, id_tag: str, **kwargs: Any
    ) -> v16.AuthorizeResponse:
        token = await self.runtime.authorize(station.profile, AuthorizeToken(id_tag=id_tag))
        return v16.AuthorizeResponse(id_tag_info=id_tag_info(token))

    @on(Action.start_transaction)
    async def start_transaction(
        self,
        station: StationSession,
        *,
        connector_id: int,
        id_tag: str,
        meter_start: int,
        timestamp: datetime,
        reservation_id: int | None = None,
        **kwargs: Any,
    ) -> v16.StartTransactionResponse:
        started = await self.runtime.start_session(
            station.profile,
            StartSession(
                connector_id=connector_id,
                id_tag=id_tag,
                meter_start_wh=meter_start,
                timestamp=timestamp,
                reservation_id=reservation_id,
            ),
        )
        return v16.StartTransactionResponse(
            transaction_id=started.transaction_id, id_tag_info=id_tag_info(started.token)
        )

    @on(Action.meter_values)
    async def meter_values(
        self,
        station: StationSession,
        *,
        connector_id: int,
        meter_value: list[Any],
        transaction_id: int | None = None,
        **kwargs: Any,
    ) -> v16.MeterValuesResponse:
        await self.runtime.record_meter_values(
            station.profile,
            RecordMeterValues(
                connector_id=connector_id,
                transaction_id=transaction_id,
                samples=samples(meter_value),
            ),
        )
        return v16.MeterValuesResponse()

    @on(Action.stop_transaction)
    async def stop_transaction(
        self,
        station: StationSession,
        *,
        meter_stop: int,
        timestamp: datetime,
        transaction_id: int,
        id_tag: str | None = None,
        reason: str = "Local",
        transaction_data: list[Any] | None = None,
        **kwargs: Any,
    ) -> v16.StopTransactionResponse:
        ended = await self.runtime.end_session(
            station.profile,
            EndSession(
                transaction_id=transaction_id,
                meter_stop_wh=meter_stop,
                timestamp=timestamp,
                reason=reason,
                id_tag=id_tag,
                samples=samples(transaction_data),
            ),
        )
        if ended.token is None:
            return v16.StopTransactionResponse()
        return v16.StopTransactionResponse(id_tag_info=id_tag_info(ended.token))

    @on(Action.data_transfer)
    async def data_transfer(
        self,
        station: StationSession,
        *,
        vendor_id: str,
        message_id: str = "",
        data: str = "",
        **kwargs: Any,
    ) -> v16.DataTransferResponse:
        await self.runtime.record_notification(
            station.profile,
            RecordNotification(
                kind="data_transfer",
                data={"vendor_id": vendor_id, "message_id": message_id, "data": capped_text(data)},
            ),
        )
        # Recorded, but no vendor extension acts on it: say so, as OCPP asks.
        return v16.DataTransferResponse(status="UnknownVendorId")

    @on(Action.firmware_status_notification)
    async def firmware_status_notification(
        self, station: StationSession, *, status: str, **kwargs: Any
    ) -> v16.FirmwareStatusNotificationResponse:
        await self.runtime.record_notification(
            station.profile, RecordNotification(kind="firmware_status", data={"status": status})
        )
        return v16.FirmwareStatusNotificationResponse()

    @on(Action.diagnostics_status_notification)
    async def diagnostics_status_notification(
        self, station: StationSession, *, status: str, **kwargs: Any
    ) -> v16.DiagnosticsStatusNotificationResponse:
        await self.runtime.record_notification(
            station.profile,
            RecordNotification(kind="diagnostics_status", data={"status": status}),
        )
        return v16.DiagnosticsStatusNotificationResponse()

    # -- 1.6 security extension: notifications kept as station events -------

    @on(Action.log_status_notification)
    async def log_status_notification(
        self, station: StationSession, *, status: str, request_id: int | None = None, **kwargs: Any
    ) -> v16.LogStatusNotificationResponse:
        await self.runtime.record_notification(
            station.profile,
            RecordNotification(
                kind="log_status",
                data={"status": status, "request_id": request_id},
            ),
        )
        return v16.LogStatusNotificationResponse()

    @on(Action.signed_firmware_status_notification)
    async def signed_firmware_status_notification(
        self, station: StationSession, *, status: str, request_id: int | None = None, **kwargs: Any
    ) -> v16.SignedFirmwareStatusNotificationResponse:
        await self.runtime.record_notification(
            station.profile,
            RecordNotification(
                kind="firmware_status",
                data={"status": status, "request_id": request_id, "signed": True},
            ),
        )
        return v16.SignedFirmwareStatusNotificationResponse()
