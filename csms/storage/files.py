"""Hosted files: their bytes on disk (:class:`DiskBlobs`) and their records
in the database (:class:`PiccoloFiles`)."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterable, AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from crm.access import Visibility
from crm.clock import utcnow
from crm.storage.scoping import scoped
from csms import tables as t
from csms.domain.files import (
    FileTooLarge,
    Firmware,
    FirmwareRecord,
    SlotRecord,
    StationUpload,
    StoredFile,
    UploadSlot,
)

READ_CHUNK = 256 * 1024


class DiskBlobs:
    """Files under one directory. A file is written to a temporary name and
    renamed when complete, so a reader never sees half a file; file I/O
    runs in threads."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def _path(self, name: str) -> Path:
        path = (self.root / name).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"{name!r} is outside the files directory")
        return path

    async def write(self, name: str, chunks: AsyncIterable[bytes], limit: int) -> StoredFile:
        path = self._path(name)
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        digest = hashlib.sha256()
        size = 0
        handle: BinaryIO = await asyncio.to_thread(open, partial, "wb")
        try:
            async for chunk in chunks:
                if not chunk:
                    continue
                size += len(chunk)
                if size > limit:
                    raise FileTooLarge(f"the file is larger than {limit} bytes")
                digest.update(chunk)
                await asyncio.to_thread(handle.write, chunk)
            await asyncio.to_thread(handle.close)
            await asyncio.to_thread(os.replace, partial, path)
        except BaseException:
            handle.close()
            partial.unlink(missing_ok=True)
            raise
        return StoredFile(size=size, sha256=digest.hexdigest())

    async def read(self, name: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        path = self._path(name)
        handle: BinaryIO = await asyncio.to_thread(open, path, "rb")
        try:
            await asyncio.to_thread(handle.seek, start)
            remaining = None if end is None else max(0, end - start)
            while remaining is None or remaining > 0:
                size = READ_CHUNK if remaining is None else min(READ_CHUNK, remaining)
                chunk = await asyncio.to_thread(handle.read, size)
                if not chunk:
                    return
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk
        finally:
            handle.close()

    async def delete(self, name: str) -> None:
        await asyncio.to_thread(self._path(name).unlink, missing_ok=True)


def _firmware(row: dict[str, Any]) -> FirmwareRecord:
    return FirmwareRecord(
        firmware=Firmware(
            id=row["id"],
            owner_entity_id=row["owner_entity"],
            filename=row["filename"],
            description=row["description"],
            size=row["size"],
            sha256=row["sha256"],
            created_at=row["created_at"],
        ),
        token=row["token"],
        stored_as=row["stored_as"],
    )


def _slot(row: dict[str, Any]) -> SlotRecord:
    return SlotRecord(
        slot=UploadSlot(
            id=row["id"],
            station_id=row["station"],
            kind=row["kind"],
            request_id=row["request_id"],
            location="",
            created_at=row["created_at"],
            expires_at=row["expires_at"],
        ),
        token=row["token"],
    )


def _upload(row: dict[str, Any]) -> StationUpload:
    return StationUpload(
        id=row["id"],
        station_id=row["station"],
        slot_id=row["slot"],
        kind=row["kind"],
        filename=row["filename"],
        size=row["size"],
        sha256=row["sha256"],
        received_at=row["received_at"],
    )


class PiccoloFiles:
    async def firmware_page(
        self, visibility: Visibility, limit: int, offset: int
    ) -> tuple[list[FirmwareRecord], int]:
        rows = (
            await scoped(t.FirmwareFile.select(), t.FirmwareFile.owner_entity, visibility)
            .order_by(t.FirmwareFile.id, ascending=False)
            .limit(limit)
            .offset(offset)
            .run()
        )
        total = await scoped(t.FirmwareFile.count(), t.FirmwareFile.owner_entity, visibility).run()
        return [_firmware(row) for row in rows], int(total)

    async def firmware(self, visibility: Visibility, firmware_id: int) -> FirmwareRecord | None:
        row = (
            await scoped(t.FirmwareFile.select(), t.FirmwareFile.owner_entity, visibility)
            .where(t.FirmwareFile.id == firmware_id)
            .first()
            .run()
        )
        return _firmware(row) if row else None

    async def firmware_by_token(self, token: str) -> FirmwareRecord | None:
        row = await t.FirmwareFile.select().where(t.FirmwareFile.token == token).first().run()
        return _firmware(row) if row else None

    async def add_firmware(
        self,
        owner_entity_id: int,
        filename: str,
        description: str,
        stored: StoredFile,
        token: str,
        stored_as: str,
    ) -> FirmwareRecord:
        (row,) = (
            await t.FirmwareFile.insert(
                t.FirmwareFile(
                    owner_entity=owner_entity_id,
                    filename=filename,
                    description=description,
                    size=stored.size,
                    sha256=stored.sha256,
                    token=token,
                    stored_as=stored_as,
                    created_at=utcnow(),
                )
            )
            .returning(*t.FirmwareFile.all_columns())
            .run()
        )
        return _firmware(row)

    async def delete_firmware(self, firmware_id: int) -> None:
        await t.FirmwareFile.delete().where(t.FirmwareFile.id == firmware_id).run()

    async def add_slot(
        self, station_pk: int, kind: str, token: str, request_id: int, expires_at: datetime
    ) -> SlotRecord:
        (row,) = (
            await t.UploadSlot.insert(
                t.UploadSlot(
                    station=station_pk,
                    kind=kind,
                    token=token,
                    request_id=request_id,
                    created_at=utcnow(),
                    expires_at=expires_at,
                )
            )
            .returning(*t.UploadSlot.all_columns())
            .run()
        )
        return _slot(row)

    async def slot_by_token(self, token: str) -> SlotRecord | None:
        row = await t.UploadSlot.select().where(t.UploadSlot.token == token).first().run()
        return _slot(row) if row else None

    async def add_upload(
        self, slot: UploadSlot, filename: str, stored: StoredFile, stored_as: str
    ) -> StationUpload:
        (row,) = (
            await t.StationUpload.insert(
                t.StationUpload(
                    slot=slot.id,
                    station=slot.station_id,
                    kind=slot.kind,
                    filename=filename,
                    size=stored.size,
                    sha256=stored.sha256,
                    stored_as=stored_as,
                    received_at=utcnow(),
                )
            )
            .returning(*t.StationUpload.all_columns())
            .run()
        )
        return _upload(row)

    async def uploads(self, station_pk: int) -> list[StationUpload]:
        rows = (
            await t.StationUpload.select()
            .where(t.StationUpload.station == station_pk)
            .order_by(t.StationUpload.id, ascending=False)
            .run()
        )
        return [_upload(row) for row in rows]

    async def upload(
        self, visibility: Visibility, upload_id: int
    ) -> tuple[StationUpload, str] | None:
        owner = t.StationUpload.station.owner_entity
        row = (
            await scoped(t.StationUpload.select(*t.StationUpload.all_columns()), owner, visibility)
            .where(t.StationUpload.id == upload_id)
            .first()
            .run()
        )
        return (_upload(row), row["stored_as"]) if row else None
