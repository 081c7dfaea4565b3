"""Files the CSMS hosts for chargers: firmware images to download, and
upload slots for the diagnostics and logs they send back.

**Firmware.** Operators upload an image (owned by an entity; permission
stations:update on it); its SHA-256 is computed while it is stored. A
charger downloads it from ``{public_url}/files/firmware/{token}/{filename}``:
no login (chargers have none for HTTP), but the token is 32 random bytes,
so the URL cannot be guessed. ``firmware_update`` sends the station an
UpdateFirmware with that URL through the command service; the station's
FirmwareStatusNotifications show the progress as station events.

**Diagnostics and logs.** ``request_log`` makes an upload slot for one
station (a random token, valid ``slot_hours``) and sends GetDiagnostics
(1.6; 2.0.1 GetLog of the DiagnosticsLog) or GetLog of the SecurityLog with
the location ``{public_url}/files/uploads/{token}/``. The charger uploads
there by HTTP POST (multipart, any field name) or PUT (the raw body), with
or without a file name appended; each upload is stored and listed. An
unknown or expired token is NotFound.

Users see firmware of the entities whose stations they may read, a
station's uploads if they may read the station; the bytes themselves live
in a :class:`Blobs` (``csms.storage.files.DiskBlobs``).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol
from urllib.parse import quote

import msgspec

from crm.access import Principal, Visibility
from crm.clock import utcnow
from crm.errors import InvalidInput, NotFound
from csms.commands.model import GetDiagnostics, GetLog, UpdateFirmware
from csms.commands.outcomes import Outcome
from csms.domain.local_list import CommandSender, Stations, command_station

DEFAULT_FIRMWARE_MAX_BYTES = 512 * 1024 * 1024
DEFAULT_UPLOAD_MAX_BYTES = 100 * 1024 * 1024
DEFAULT_SLOT_HOURS = 24
MAX_FILENAME = 255

LogKind = Literal["diagnostics", "security"]


class FileTooLarge(InvalidInput):
    """More bytes than the limit (HTTP 413)."""


# -- answers and requests ----------------------------------------------------------------


class Firmware(msgspec.Struct, frozen=True):
    """A firmware image. ``url`` is where chargers download it."""

    id: int
    owner_entity_id: int
    filename: str
    description: str
    size: int
    sha256: str
    created_at: datetime
    url: str = ""


class FirmwareRecord(msgspec.Struct, frozen=True):
    firmware: Firmware
    token: str
    stored_as: str


class FirmwareUpdateRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``retrieve_at``: when the station is to fetch it (default: now)."""

    firmware_id: int
    retrieve_at: datetime | None = None
    retries: int | None = None
    retry_interval: int | None = None


class FirmwareUpdateResult(msgspec.Struct, frozen=True):
    """The URL sent and the charger's answer (or timeout, not connected...)."""

    firmware_id: int
    location: str
    retrieve_at: datetime
    outcome: Outcome


class LogRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``kind``: diagnostics (1.6 GetDiagnostics, 2.0.1 GetLog DiagnosticsLog)
    or security (GetLog SecurityLog); ``start``/``stop`` bound the log's time."""

    kind: LogKind = "diagnostics"
    start: datetime | None = None
    stop: datetime | None = None


class UploadSlot(msgspec.Struct, frozen=True):
    id: int
    station_id: int
    kind: str
    request_id: int
    location: str
    created_at: datetime
    expires_at: datetime


class SlotRecord(msgspec.Struct, frozen=True):
    slot: UploadSlot
    token: str


class LogRequestResult(msgspec.Struct, frozen=True):
    """The slot the station may upload into and the charger's answer."""

    slot: UploadSlot
    outcome: Outcome


class StationUpload(msgspec.Struct, frozen=True):
    id: int
    station_id: int
    slot_id: int
    kind: str
    filename: str
    size: int
    sha256: str
    received_at: datetime


class StoredFile(msgspec.Struct, frozen=True):
    size: int
    sha256: str


# -- ports -------------------------------------------------------------------------------


class Blobs(Protocol):
    """Where file contents live (a directory; with several nodes a volume
    they share)."""

    async def write(self, name: str, chunks: AsyncIterable[bytes], limit: int) -> StoredFile:
        """Stores the chunks as ``name`` (complete or not at all); FileTooLarge
        beyond ``limit`` bytes."""
        ...

    def read(self, name: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """The bytes from ``start`` up to, not including, ``end``."""
        ...

    async def delete(self, name: str) -> None: ...


class FileStore(Protocol):
    async def firmware_page(
        self, visibility: Visibility, limit: int, offset: int
    ) -> tuple[list[FirmwareRecord], int]: ...

    async def firmware(self, visibility: Visibility, firmware_id: int) -> FirmwareRecord | None: ...

    async def firmware_by_token(self, token: str) -> FirmwareRecord | None: ...

    async def add_firmware(
        self,
        owner_entity_id: int,
        filename: str,
        description: str,
        stored: StoredFile,
        token: str,
        stored_as: str,
    ) -> FirmwareRecord: ...

    async def delete_firmware(self, firmware_id: int) -> None: ...

    async def add_slot(
        self, station_pk: int, kind: str, token: str, request_id: int, expires_at: datetime
    ) -> SlotRecord: ...

    async def slot_by_token(self, token: str) -> SlotRecord | None: ...

    async def add_upload(
        self, slot: UploadSlot, filename: str, stored: StoredFile, stored_as: str
    ) -> StationUpload: ...

    async def uploads(self, station_pk: int) -> list[StationUpload]: ...

    async def upload(
        self, visibility: Visibility, upload_id: int
    ) -> tuple[StationUpload, str] | None:
        """The upload and where its bytes are, if its station is visible."""
        ...


# -- helpers -----------------------------------------------------------------------------

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_filename(name: str, default: str) -> str:
    """The last path part of ``name`` with anything but letters, digits,
    dot, dash and underscore replaced; ``default`` when nothing is left."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = _UNSAFE.sub("_", base).strip("._")[:MAX_FILENAME]
    return cleaned or default


def new_token() -> str:
    return secrets.token_urlsafe(32)


# -- the service -------------------------------------------------------------------------


@dataclass(slots=True)
class FileService:
    store: FileStore
    blobs: Blobs
    commands: CommandSender
    stations: Stations
    # The absolute URL chargers reach this system's HTTP port at (no slash at the end).
    public_url: Callable[[], str]
    firmware_max_bytes: int = DEFAULT_FIRMWARE_MAX_BYTES
    upload_max_bytes: int = DEFAULT_UPLOAD_MAX_BYTES
    slot_hours: float = DEFAULT_SLOT_HOURS
    clock: Callable[[], datetime] = utcnow

    # -- firmware ------------------------------------------------------------------

    def firmware_url(self, record: FirmwareRecord) -> str:
        filename = quote(record.firmware.filename)
        return f"{self.public_url()}/files/firmware/{record.token}/{filename}"

    def _shown(self, record: FirmwareRecord) -> Firmware:
        return msgspec.structs.replace(record.firmware, url=self.firmware_url(record))

    async def _firmware(self, principal: Principal, firmware_id: int) -> FirmwareRecord:
        principal.require("stations", "read")
        record = await self.store.firmware(principal.visible("stations"), firmware_id)
        if record is None:
            raise NotFound(f"there is no firmware {firmware_id}")
        return record

    async def list_firmware(
        self, principal: Principal, *, limit: int, offset: int
    ) -> tuple[list[Firmware], int]:
        principal.require("stations", "read")
        records, total = await self.store.firmware_page(
            principal.visible("stations"), limit, offset
        )
        return [self._shown(r) for r in records], total

    async def get_firmware(self, principal: Principal, firmware_id: int) -> Firmware:
        return self._shown(await self._firmware(principal, firmware_id))

    async def add_firmware(
        self,
        principal: Principal,
        *,
        filename: str,
        chunks: AsyncIterable[bytes],
        description: str = "",
        owner_entity_id: int | None = None,
    ) -> Firmware:
        owner = principal.active_entity_id if owner_entity_id is None else owner_entity_id
        if owner not in principal.tree:
            raise InvalidInput(f"there is no entity {owner}")
        principal.require_entity("stations", "update", owner)
        if len(description) > 2000:
            raise InvalidInput("a firmware description has at most 2000 characters")
        token = new_token()
        stored_as = f"firmware/{token}"
        stored = await self.blobs.write(stored_as, chunks, self.firmware_max_bytes)
        if stored.size == 0:
            await self.blobs.delete(stored_as)
            raise InvalidInput("the firmware file is empty")
        name = safe_filename(filename, "firmware.bin")
        try:
            record = await self.store.add_firmware(
                owner, name, description.strip(), stored, token, stored_as
            )
        except BaseException:
            await self.blobs.delete(stored_as)
            raise
        return self._shown(record)

    async def delete_firmware(self, principal: Principal, firmware_id: int) -> None:
        record = await self._firmware(principal, firmware_id)
        principal.require_entity("stations", "update", record.firmware.owner_entity_id)
        await self.store.delete_firmware(firmware_id)
        await self.blobs.delete(record.stored_as)

    async def firmware_update(
        self, principal: Principal, station_pk: int, request: FirmwareUpdateRequest
    ) -> FirmwareUpdateResult:
        station = await command_station(self.stations, principal, station_pk)
        record = await self._firmware(principal, request.firmware_id)
        retrieve_at = request.retrieve_at or self.clock()
        if retrieve_at.tzinfo is None:
            raise InvalidInput("retrieve_at needs a time zone (e.g. 2026-11-24T12:00:00Z)")
        location = self.firmware_url(record)
        outcome = await self.commands.send(
            station.charge_point_id,
            UpdateFirmware(
                location=location,
                retrieve_at=retrieve_at,
                retries=request.retries,
                retry_interval=request.retry_interval,
            ),
        )
        return FirmwareUpdateResult(record.firmware.id, location, retrieve_at, outcome)

    async def firmware_by_token(self, token: str) -> FirmwareRecord | None:
        """For the download URL (no login: the token is the secret)."""
        return await self.store.firmware_by_token(token)

    # -- diagnostics and logs --------------------------------------------------------------

    def slot_location(self, token: str) -> str:
        return f"{self.public_url()}/files/uploads/{token}/"

    async def request_log(
        self, principal: Principal, station_pk: int, request: LogRequest
    ) -> LogRequestResult:
        station = await command_station(self.stations, principal, station_pk)
        if request.start and request.stop and request.start > request.stop:
            raise InvalidInput("start is after stop")
        token = new_token()
        request_id = secrets.randbelow(2**31 - 1) + 1
        expires_at = self.clock() + timedelta(hours=self.slot_hours)
        record = await self.store.add_slot(
            station.station_pk, request.kind, token, request_id, expires_at
        )
        location = self.slot_location(token)
        slot = msgspec.structs.replace(record.slot, location=location)
        command: GetDiagnostics | GetLog
        if request.kind == "diagnostics":
            command = GetDiagnostics(location=location, start=request.start, stop=request.stop)
        else:
            command = GetLog(
                location=location,
                log_type="SecurityLog",
                request_id=request_id,
                start=request.start,
                stop=request.stop,
            )
        outcome = await self.commands.send(station.charge_point_id, command)
        return LogRequestResult(slot, outcome)

    async def receive_upload(
        self,
        token: str,
        chunks: AsyncIterable[bytes],
        *,
        filename: str = "",
        late_filename: Callable[[], str] | None = None,
    ) -> StationUpload:
        """A charger's upload into the slot ``token``; NotFound when there is
        no such slot or it expired, FileTooLarge beyond the limit. The file
        name is the one in the URL, else ``late_filename()`` (a multipart
        part's, known once the body is read), else made up."""
        record = await self.store.slot_by_token(token)
        if record is None or record.slot.expires_at <= self.clock():
            raise NotFound("no such upload location")
        stored_as = f"uploads/{record.slot.station_id}/{new_token()}"
        stored = await self.blobs.write(stored_as, chunks, self.upload_max_bytes)
        if not filename and late_filename is not None:
            filename = late_filename()
        default = f"{record.slot.kind}-{record.slot.station_id}.log"
        name = safe_filename(filename, default)
        try:
            return await self.store.add_upload(record.slot, name, stored, stored_as)
        except BaseException:
            await self.blobs.delete(stored_as)
            raise

    async def uploads(self, principal: Principal, station_pk: int) -> list[StationUpload]:
        principal.require("stations", "read")
        station = await self.stations.station_ref(principal.visible("stations"), station_pk)
        if station is None:
            raise NotFound(f"there is no station {station_pk}")
        return await self.store.uploads(station_pk)

    async def upload_content(
        self, principal: Principal, upload_id: int
    ) -> tuple[StationUpload, AsyncIterator[bytes]]:
        principal.require("stations", "read")
        found = await self.store.upload(principal.visible("stations"), upload_id)
        if found is None:
            raise NotFound(f"there is no upload {upload_id}")
        upload, stored_as = found
        return upload, self.blobs.read(stored_as)
