"""The OCPP 1.6 security extension (whitepaper edition 2) of the simulated charge point.

A mixin of :class:`simulators.ocpp16.ChargePoint16`: ExtendedTriggerMessage,
CertificateSigned, InstallCertificate, GetInstalledCertificateIds,
DeleteCertificate, GetLog (a real HTTP upload + LogStatusNotification),
SignedUpdateFirmware (a real HTTP download, signature check +
SignedFirmwareStatusNotification), and the charge point's own
SecurityEventNotification and SignCertificate.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import ssl
from collections.abc import Callable, Coroutine, Mapping
from contextlib import suppress
from typing import TYPE_CHECKING, Any

from ocpp.routing import after, on
from ocpp.v16 import call, call_result
from ocpp.v16.enums import Action

from simulators.certificates import CertificateStore, load_chain, verify_signature
from simulators.common import format_timestamp, parse_timestamp, utc_now
from simulators.transfer import TransferError, download, upload

__all__ = ["SecurityExtension16"]

_log = logging.getLogger(__name__)

Job = Callable[[], Coroutine[Any, Any, Any]]

_SIGNED_FIRMWARE_DONE = (
    "Idle",
    "Installed",
    "DownloadFailed",
    "InstallationFailed",
    "InvalidSignature",
    "InstallVerificationFailed",
)


class SecurityExtension16:
    """State and handlers of the 1.6 security extension (mixed into ChargePoint16)."""

    if TYPE_CHECKING:
        id: str
        password: str | None
        vendor: str
        config: Any
        connectors: dict[int, Any]
        firmware_step_delay: float
        diagnostics_step_delay: float

        async def call(
            self,
            payload: Any,
            suppress: bool = True,
            unique_id: str | None = None,
            skip_schema_validation: bool = False,
        ) -> Any: ...
        def _defer(self, unique_id: str, action: str, job: Job) -> None: ...
        def _run_deferred(self, unique_id: str) -> None: ...
        async def heartbeat(self) -> Any: ...
        async def _triggered_boot(self) -> None: ...
        async def _triggered_status(self, connector_id: int | None) -> None: ...
        async def _triggered_meter_values(self, connector_id: int | None) -> None: ...

    def _init_security(
        self, *, ca_certificates: str | None = None, verify_firmware_signature: bool = True
    ) -> None:
        self.certificates = CertificateStore("ChargePointCertificate")
        self.ca_certificates = ca_certificates
        self.verify_firmware_signature = verify_firmware_signature
        self.security_events: list[str] = []
        self.log_state = "Idle"
        self.log_request_id: int | None = None
        self.log_statuses: list[str] = []
        self.signed_firmware_state = "Idle"
        self.signed_firmware_request_id: int | None = None
        self.signed_firmware_statuses: list[str] = []
        self.uploads: list[Any] = []
        """simulators.transfer.Upload of every log / diagnostics file sent."""
        self.downloads: list[Any] = []
        """simulators.transfer.Download of every firmware fetched."""

    @property
    def security_profile(self) -> int:
        return int(self.config.get_int("SecurityProfile", 0))

    def client_ssl_context(self, ca_certificates: str | None = None) -> ssl.SSLContext:
        """A TLS context for ``connect16(..., ssl=...)``: trusts ``ca_certificates`` (and the
        installed Central System roots) and presents the certificate received by
        CertificateSigned when there is one (security profile 3)."""
        trusted = [p for p in (ca_certificates or self.ca_certificates,) if p]
        if self.certificates.client_chain_pem is not None:
            return self.certificates.client_ssl_context(trusted)
        return self.certificates.trust_context(trusted)

    def _transfer_ssl(self) -> ssl.SSLContext | None:
        if not self.ca_certificates:
            return None
        return ssl.create_default_context(cadata=self.ca_certificates)

    # --- requests of the charge point ------------------------------------------------------

    async def security_event(self, type: str, tech_info: str | None = None) -> Any:
        self.security_events.append(type)
        return await self.call(
            call.SecurityEventNotification(
                type=type, timestamp=format_timestamp(), tech_info=tech_info
            ),
            suppress=False,
        )

    async def sign_certificate(self) -> Any:
        """SignCertificate with a new CSR (P-256 key, CN = charge point id, O = CpoName)."""
        organization = self.config.get("CpoName") or self.vendor
        csr = self.certificates.new_csr(self.id, organization)
        return await self.call(call.SignCertificate(csr=csr), suppress=False)

    async def log_status(self, status: str, request_id: int | None = None) -> Any:
        self.log_state = status
        self.log_statuses.append(status)
        return await self.call(
            call.LogStatusNotification(status=status, request_id=request_id), suppress=False
        )

    async def signed_firmware_status(self, status: str, request_id: int | None = None) -> Any:
        self.signed_firmware_state = status
        self.signed_firmware_statuses.append(status)
        return await self.call(
            call.SignedFirmwareStatusNotification(status=status, request_id=request_id),
            suppress=False,
        )

    # --- ExtendedTriggerMessage ------------------------------------------------------------

    @on(Action.extended_trigger_message)
    def on_extended_trigger_message(
        self,
        requested_message: str,
        connector_id: int | None = None,
        call_unique_id: str = "",
        **_: Any,
    ) -> Any:
        if connector_id is not None and not 0 <= connector_id <= len(self.connectors):
            return call_result.ExtendedTriggerMessage(status="Rejected")
        busy_firmware = self.signed_firmware_state not in _SIGNED_FIRMWARE_DONE
        jobs: dict[str, Job] = {
            "BootNotification": self._triggered_boot,
            "Heartbeat": self.heartbeat,
            "StatusNotification": lambda: self._triggered_status(connector_id),
            "MeterValues": lambda: self._triggered_meter_values(connector_id),
            "FirmwareStatusNotification": lambda: self.signed_firmware_status(
                self.signed_firmware_state if busy_firmware else "Idle",
                self.signed_firmware_request_id if busy_firmware else None,
            ),
            "LogStatusNotification": lambda: self.log_status(
                "Uploading" if self.log_state == "Uploading" else "Idle",
                self.log_request_id if self.log_state == "Uploading" else None,
            ),
            "SignChargePointCertificate": self.sign_certificate,
        }
        job = jobs.get(requested_message)
        if job is None:
            return call_result.ExtendedTriggerMessage(status="NotImplemented")
        self._defer(call_unique_id, f"ExtendedTriggerMessage:{requested_message}", job)
        return call_result.ExtendedTriggerMessage(status="Accepted")

    @after(Action.extended_trigger_message)
    def after_extended_trigger_message(self, call_unique_id: str = "", **_: Any) -> None:
        self._run_deferred(call_unique_id)

    # --- certificates ------------------------------------------------------------------

    @on(Action.certificate_signed)
    def on_certificate_signed(
        self, certificate_chain: str, call_unique_id: str = "", **_: Any
    ) -> Any:
        if self.certificates.accept_signed(certificate_chain):
            return call_result.CertificateSigned(status="Accepted")
        self._defer(
            call_unique_id,
            "CertificateSigned",
            lambda: self.security_event("InvalidChargePointCertificate"),
        )
        return call_result.CertificateSigned(status="Rejected")

    @after(Action.certificate_signed)
    def after_certificate_signed(self, call_unique_id: str = "", **_: Any) -> None:
        self._run_deferred(call_unique_id)

    @on(Action.install_certificate)
    def on_install_certificate(self, certificate_type: str, certificate: str, **_: Any) -> Any:
        return call_result.InstallCertificate(
            status=self.certificates.install(certificate_type, certificate)
        )

    @on(Action.get_installed_certificate_ids)
    def on_get_installed_certificate_ids(self, certificate_type: str, **_: Any) -> Any:
        found = [c.hash_data for c in self.certificates.ids([certificate_type])]
        if not found:
            return call_result.GetInstalledCertificateIds(status="NotFound")
        return call_result.GetInstalledCertificateIds(
            status="Accepted", certificate_hash_data=found
        )

    @on(Action.delete_certificate)
    def on_delete_certificate(self, certificate_hash_data: dict[str, Any], **_: Any) -> Any:
        return call_result.DeleteCertificate(status=self.certificates.delete(certificate_hash_data))

    # --- GetLog --------------------------------------------------------------------------

    @on(Action.get_log)
    def on_get_log(
        self,
        log: dict[str, Any],
        log_type: str,
        request_id: int,
        retries: int | None = None,
        retry_interval: int | None = None,
        call_unique_id: str = "",
        **_: Any,
    ) -> Any:
        busy = self.log_state == "Uploading"
        safe_id = "".join(c if c.isalnum() or c in "-_" else "_" for c in self.id)[:64]
        file_name = f"{log_type}-{safe_id}-{utc_now():%Y%m%dT%H%M%S}.log"
        self.log_request_id = request_id
        location = str(log["remote_location"])
        self._defer(
            call_unique_id,
            "GetLog",
            lambda: self._upload_log(
                location, file_name, log_type, request_id, retries or 0, retry_interval or 0
            ),
        )
        return call_result.GetLog(
            status="AcceptedCanceled" if busy else "Accepted", filename=file_name
        )

    @after(Action.get_log)
    def after_get_log(self, call_unique_id: str = "", **_: Any) -> None:
        self._run_deferred(call_unique_id)

    def log_text(self, log_type: str = "DiagnosticsLog") -> bytes:
        lines = [f"# {log_type} of {self.id}", f"# generated {format_timestamp()}"]
        if log_type == "SecurityLog":
            lines += [f"security event {kind}" for kind in self.security_events]
        for number, connector in self.connectors.items():
            lines.append(f"connector {number}: {connector.status}")
        return ("\n".join(lines) + "\n").encode()

    async def _upload_log(
        self,
        location: str,
        file_name: str,
        log_type: str,
        request_id: int,
        retries: int,
        retry_interval: int,
    ) -> None:
        result = None
        for attempt in range(retries + 1):
            await self.log_status("Uploading", request_id)
            result = await upload(
                location, file_name, self.log_text(log_type), ssl_context=self._transfer_ssl()
            )
            self.uploads.append(result)
            if result.ok:
                break
            if attempt < retries:
                await asyncio.sleep(retry_interval)
        assert result is not None
        if result.ok:
            status = "Uploaded"
        elif result.http_status in (401, 403):
            status = "PermissionDenied"
        elif result.error == "unsupported location":
            status = "NotSupportedOperation"
        else:
            status = "UploadFailure"
        await self.log_status(status, request_id)

    # --- SignedUpdateFirmware ------------------------------------------------------------

    @on(Action.signed_update_firmware)
    def on_signed_update_firmware(
        self,
        request_id: int,
        firmware: dict[str, Any],
        retries: int | None = None,
        retry_interval: int | None = None,
        call_unique_id: str = "",
        **_: Any,
    ) -> Any:
        try:
            load_chain(str(firmware.get("signing_certificate", "")))
        except ValueError:
            self._defer(
                call_unique_id,
                "SignedUpdateFirmware",
                lambda: self.security_event("InvalidFirmwareSigningCertificate"),
            )
            return call_result.SignedUpdateFirmware(status="InvalidCertificate")
        busy = self.signed_firmware_state not in _SIGNED_FIRMWARE_DONE
        self.signed_firmware_request_id = request_id
        self.signed_firmware_state = "DownloadScheduled"
        self._defer(
            call_unique_id,
            "SignedUpdateFirmware",
            lambda: self._signed_update(request_id, firmware, retries or 0, retry_interval or 0),
        )
        return call_result.SignedUpdateFirmware(status="AcceptedCanceled" if busy else "Accepted")

    @after(Action.signed_update_firmware)
    def after_signed_update_firmware(self, call_unique_id: str = "", **_: Any) -> None:
        self._run_deferred(call_unique_id)

    async def _signed_update(
        self, request_id: int, firmware: Mapping[str, Any], retries: int, retry_interval: int
    ) -> None:
        with suppress(ValueError, KeyError):
            wait = (parse_timestamp(firmware["retrieve_date_time"]) - utc_now()).total_seconds()
            await asyncio.sleep(max(0.0, wait))
        fetched = None
        for attempt in range(retries + 1):
            await self.signed_firmware_status("Downloading", request_id)
            try:
                fetched = await download(
                    str(firmware["location"]), ssl_context=self._transfer_ssl()
                )
                break
            except TransferError as exc:
                _log.info("%s: firmware download failed: %s", self.id, exc)
                if attempt < retries:
                    await asyncio.sleep(retry_interval)
        if fetched is None:
            await self.signed_firmware_status("DownloadFailed", request_id)
            return
        self.downloads.append(fetched)
        await self.signed_firmware_status("Downloaded", request_id)
        if self.verify_firmware_signature:
            try:
                raw = base64.b64decode(str(firmware.get("signature", "")), validate=True)
            except ValueError:
                raw = b""
            if not verify_signature(str(firmware["signing_certificate"]), fetched.content, raw):
                await self.signed_firmware_status("InvalidSignature", request_id)
                await self.security_event("InvalidFirmwareSignature")
                return
        await self.signed_firmware_status("SignatureVerified", request_id)
        await asyncio.sleep(self.firmware_step_delay)
        await self.signed_firmware_status("Installing", request_id)
        await asyncio.sleep(self.firmware_step_delay)
        await self.signed_firmware_status("Installed", request_id)
