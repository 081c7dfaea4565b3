"""Firmware hosting and the upload endpoint for diagnostics and logs.

Operators (under /api/v1):

- ``GET /firmware`` (paginated), ``GET /firmware/{id}``, ``POST /firmware``
  (multipart: ``file``, optional ``description``, ``owner_entity_id``;
  201), ``DELETE /firmware/{id}``.
- ``POST /stations/{id}/firmware-update`` ``{"firmware_id", "retrieve_at"}``:
  UpdateFirmware with the file's download URL.
- ``POST /stations/{id}/log-requests`` ``{"kind": "diagnostics"|"security",
  "start", "stop"}``: an upload slot and GetDiagnostics / GetLog.
- ``GET /stations/{id}/uploads``, ``GET /uploads/{id}/content``.

Chargers (no login; outside /api/v1, see :func:`public_files_app`):

- ``GET|HEAD /files/firmware/{token}/{filename}`` with Range requests;
- ``POST|PUT /files/uploads/{token}/[filename]``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from typing import Any, Literal
from urllib.parse import quote, unquote

from litestar import Controller, Request, asgi, delete, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency, Provide
from litestar.exceptions import ClientException, ServiceUnavailableException
from litestar.params import JSONBody
from litestar.response import Stream
from litestar.status_codes import (
    HTTP_200_OK,
    HTTP_201_CREATED,
    HTTP_204_NO_CONTENT,
    HTTP_413_REQUEST_ENTITY_TOO_LARGE,
)
from litestar.types import HTTPResponseBodyEvent, HTTPResponseStartEvent, Receive, Scope, Send
from multipart import ParserError, PushMultipartParser, parse_options_header

from admin_ui.api.common import Id, Page, PageParams
from admin_ui.api.context import ApiContext
from crm.access import Principal
from crm.errors import InvalidInput, NotFound
from csms.domain.files import (
    FileService,
    FileTooLarge,
    Firmware,
    FirmwareUpdateRequest,
    FirmwareUpdateResult,
    LogRequest,
    LogRequestResult,
    StationUpload,
)

log = logging.getLogger(__name__)

UPLOAD_CHUNK = 256 * 1024


def provide_files(context: NamedDependency[ApiContext]) -> FileService:
    if context.files is None:
        raise ServiceUnavailableException("this process hosts no files")
    return context.files


_DEPENDENCIES = {"files": Provide(provide_files, sync_to_thread=False)}


def _too_large(error: FileTooLarge) -> ClientException:
    return ClientException(detail=str(error), status_code=HTTP_413_REQUEST_ENTITY_TOO_LARGE)


async def _file_chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(UPLOAD_CHUNK):
        yield chunk


def _declared_length(headers: Any) -> int | None:
    try:
        return int(headers.get("content-length", ""))
    except ValueError:
        return None


# Multipart framing around a file: the body may exceed the file by this.
_FORM_OVERHEAD = 64 * 1024


class FirmwareController(Controller):
    path = "/firmware"
    tags = ["files"]
    dependencies = _DEPENDENCIES

    @get("/")
    async def list_firmware(
        self,
        principal: NamedDependency[Principal],
        files: NamedDependency[FileService],
        page: NamedDependency[PageParams],
    ) -> Page[Firmware]:
        """Firmware images of the entities whose stations you see, newest first."""
        items, total = await files.list_firmware(principal, limit=page.limit, offset=page.offset)
        return Page(items=items, total=total, limit=page.limit, offset=page.offset)

    @get("/{firmware_id:int}")
    async def get_firmware(
        self,
        firmware_id: Id,
        principal: NamedDependency[Principal],
        files: NamedDependency[FileService],
    ) -> Firmware:
        return await files.get_firmware(principal, firmware_id)

    @post("/", status_code=HTTP_201_CREATED, request_max_body_size=None)
    async def upload_firmware(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        files: NamedDependency[FileService],
    ) -> Firmware:
        """Upload an image (multipart: ``file``; optional ``description`` and
        ``owner_entity_id``, default your active entity; at most
        ``CSMS_FIRMWARE_MAX_BYTES``). The answer has its SHA-256 and the
        URL chargers download it from."""
        declared = _declared_length(request.headers)
        if declared is not None and declared > files.firmware_max_bytes + _FORM_OVERHEAD:
            raise _too_large(
                FileTooLarge(f"the file is larger than {files.firmware_max_bytes} bytes")
            )
        # Permission first: nobody without it gets to send us a body.
        principal.require("stations", "update")
        form = await request.form()
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidInput("send the image as the multipart field 'file'")
        owner_text = str(form.get("owner_entity_id") or "").strip()
        if owner_text and not owner_text.isdigit():
            raise InvalidInput(f"owner_entity_id is an entity id, not {owner_text!r}")
        try:
            return await files.add_firmware(
                principal,
                filename=upload.filename or "",
                chunks=_file_chunks(upload),
                description=str(form.get("description") or ""),
                owner_entity_id=int(owner_text) if owner_text else None,
            )
        except FileTooLarge as error:
            raise _too_large(error) from None
        finally:
            await upload.close()

    @delete("/{firmware_id:int}", status_code=HTTP_204_NO_CONTENT)
    async def delete_firmware(
        self,
        firmware_id: Id,
        principal: NamedDependency[Principal],
        files: NamedDependency[FileService],
    ) -> None:
        """Delete the image and its file (a charger downloading it now fails)."""
        await files.delete_firmware(principal, firmware_id)


class StationFilesController(Controller):
    path = "/stations"
    tags = ["files"]
    dependencies = _DEPENDENCIES

    @post("/{station_id:int}/firmware-update", status_code=HTTP_200_OK)
    async def firmware_update(
        self,
        station_id: Id,
        data: JSONBody[FirmwareUpdateRequest],
        principal: NamedDependency[Principal],
        files: NamedDependency[FileService],
    ) -> FirmwareUpdateResult:
        """Send UpdateFirmware with the image's download URL (permission
        stations:command). Progress arrives as the station's
        FirmwareStatusNotification events."""
        return await files.firmware_update(principal, station_id, data)

    @post("/{station_id:int}/log-requests", status_code=HTTP_201_CREATED)
    async def request_log(
        self,
        station_id: Id,
        principal: NamedDependency[Principal],
        files: NamedDependency[FileService],
        data: JSONBody[LogRequest | None] = None,
    ) -> LogRequestResult:
        """Open an upload slot (valid ``CSMS_UPLOAD_SLOT_HOURS``) and ask the
        station for its diagnostics or security log (permission
        stations:command)."""
        return await files.request_log(principal, station_id, data or LogRequest())

    @get("/{station_id:int}/uploads")
    async def list_uploads(
        self,
        station_id: Id,
        principal: NamedDependency[Principal],
        files: NamedDependency[FileService],
    ) -> list[StationUpload]:
        """The diagnostics and logs the station uploaded, newest first."""
        return await files.uploads(principal, station_id)


class UploadController(Controller):
    path = "/uploads"
    tags = ["files"]
    dependencies = _DEPENDENCIES

    @get("/{upload_id:int}/content", media_type="application/octet-stream")
    async def upload_content(
        self,
        upload_id: Id,
        principal: NamedDependency[Principal],
        files: NamedDependency[FileService],
    ) -> Stream:
        """The uploaded file, if you may read its station."""
        upload, content = await files.upload_content(principal, upload_id)
        fallback = upload.filename.encode("ascii", "replace").decode().replace("?", "_")
        disposition = (
            f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(upload.filename)}"
        )
        return Stream(
            content,
            media_type="application/octet-stream",
            headers={
                "Content-Length": str(upload.size),
                "Content-Disposition": disposition,
                "X-Content-Type-Options": "nosniff",
            },
        )


# -- what chargers reach, without a login ------------------------------------------------

_FIRMWARE_PATH = re.compile(r"/firmware/([A-Za-z0-9_-]{16,128})(?:/[^/]*)?/?")
_UPLOAD_PATH = re.compile(r"/uploads/([A-Za-z0-9_-]{16,128})(?:/([^/]*))?/?")
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


async def _answer(
    send: Send,
    status: int,
    headers: dict[str, str],
    body: bytes | AsyncIterator[bytes] = b"",
    *,
    head: bool = False,
) -> None:
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    if isinstance(body, bytes) and "Content-Length" not in headers:
        raw.append((b"content-length", str(len(body)).encode()))
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": status,
        "headers": raw,
    }
    await send(start)
    if head or isinstance(body, bytes):
        whole: HTTPResponseBodyEvent = {
            "type": "http.response.body",
            "body": b"" if head or not isinstance(body, bytes) else body,
            "more_body": False,
        }
        await send(whole)
        return
    async for chunk in body:
        part: HTTPResponseBodyEvent = {
            "type": "http.response.body",
            "body": chunk,
            "more_body": True,
        }
        await send(part)
    end: HTTPResponseBodyEvent = {"type": "http.response.body", "body": b"", "more_body": False}
    await send(end)


def _text(status: int, message: str) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "text/plain; charset=utf-8"}, (message + "\n").encode()


def byte_range(header: str, size: int) -> tuple[int, int] | Literal[False] | None:
    """The range ``[start, end)`` a Range header asks for; None to send the
    whole file (no header, or one we do not serve: several ranges, other
    units); False when it cannot be satisfied."""
    header = header.strip()
    if not header:
        return None
    found = _RANGE.fullmatch(header.replace(" ", ""))
    if found is None:
        return None
    first, last = found.groups()
    if not first and not last:
        return None
    if not first:
        suffix = int(last)
        if suffix == 0 or size == 0:
            return False
        return max(0, size - suffix), size
    start = int(first)
    end = size if not last else min(int(last) + 1, size)
    if start >= size or end <= start:
        return False
    return start, end


async def _serve_firmware(
    files: FileService, token: str, method: str, headers: dict[str, str], send: Send
) -> None:
    record = await files.firmware_by_token(token)
    if record is None:
        await _answer(send, *_text(404, "not found"))
        return
    firmware = record.firmware
    size = firmware.size
    etag = f'"{firmware.sha256}"'
    common = {
        "Content-Type": "application/octet-stream",
        "Accept-Ranges": "bytes",
        "ETag": etag,
        "Cache-Control": "private, max-age=0",
        "Content-Disposition": f'attachment; filename="{firmware.filename}"',
    }
    wanted = byte_range(headers.get("range", ""), size)
    if_range = headers.get("if-range", "").strip()
    if wanted is not None and if_range and if_range != etag:
        wanted = None
    head = method == "HEAD"
    if wanted is False:
        await _answer(send, 416, {**common, "Content-Range": f"bytes */{size}"}, head=head)
        return
    if wanted is None:
        body = files.blobs.read(record.stored_as)
        await _answer(send, 200, {**common, "Content-Length": str(size)}, body, head=head)
        return
    start, end = wanted
    body = files.blobs.read(record.stored_as, start, end)
    await _answer(
        send,
        206,
        {
            **common,
            "Content-Length": str(end - start),
            "Content-Range": f"bytes {start}-{end - 1}/{size}",
        },
        body,
        head=head,
    )


async def _raw_body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ConnectionError("the client went away during the upload")
        chunk = message.get("body", b"")
        if isinstance(chunk, bytes) and chunk:
            yield chunk
        if not message.get("more_body", False):
            return


class _FirstFile:
    """The first file part of a multipart body, streamed; when no part has
    a file name, the first part (kept in memory until the body ends, within
    the upload limit the blob store enforces on what is yielded)."""

    def __init__(self, boundary: str, body: AsyncIterator[bytes]) -> None:
        self.parser = PushMultipartParser(boundary.encode("latin-1"))
        self.body = body
        self.filename = ""

    async def chunks(self) -> AsyncIterator[bytes]:
        # Where the current part's data goes: "file" (yielded), "first"
        # (kept, a part without a file name), None (dropped).
        target: str | None = None
        found_file = False
        seen_part = False
        first: list[bytes] = []
        first_name = ""
        async for raw in self.body:
            for event in self.parser.parse(raw):
                if event is None:
                    if target == "file":
                        found_file = True
                    target = None
                elif isinstance(event, (bytes, bytearray)):
                    if target == "file":
                        yield bytes(event)
                    elif target == "first":
                        first.append(bytes(event))
                elif found_file:
                    target = None
                elif event.filename:
                    target = "file"
                    self.filename = event.filename
                elif not seen_part:
                    target = "first"
                    first_name = event.name or ""
                else:
                    target = None
                if event is not None and not isinstance(event, (bytes, bytearray)):
                    seen_part = True
        self.parser.close()
        if not found_file:
            self.filename = first_name
            for chunk in first:
                yield chunk


async def _receive_upload(
    files: FileService,
    token: str,
    filename: str,
    method: str,
    headers: dict[str, str],
    receive: Receive,
    send: Send,
) -> None:
    declared = _declared_length(headers)
    if declared is not None and declared > files.upload_max_bytes + _FORM_OVERHEAD:
        await _answer(send, *_text(413, "too large"))
        return
    content_type, options = parse_options_header(headers.get("content-type", ""))
    body = _raw_body(receive)
    if method == "POST" and content_type == "multipart/form-data":
        boundary = options.get("boundary", "")
        if not boundary:
            await _answer(send, *_text(400, "multipart without a boundary"))
            return
        first = _FirstFile(boundary, body)
        try:
            upload = await files.receive_upload(
                token, first.chunks(), filename=filename, late_filename=lambda: first.filename
            )
        except ParserError as error:
            await _answer(send, *_text(400, f"bad multipart body: {error}"))
            return
    else:
        upload = await files.receive_upload(token, body, filename=filename)
    log.info(
        "station %s uploaded %s (%d bytes, %s)",
        upload.station_id,
        upload.filename,
        upload.size,
        upload.kind,
    )
    await _answer(send, *_text(201, "stored"))


def public_files_app(context: ApiContext) -> Any:
    """The ASGI app mounted at /files: firmware downloads and uploads from
    chargers. Raw ASGI, so ranges, HEAD and streaming uploads are exactly
    what is sent."""

    @asgi("/files", is_mount=True, copy_scope=True)
    async def files_app(scope: Scope, receive: Receive, send: Send) -> None:
        files = context.files
        if files is None:
            await _answer(send, *_text(503, "this process hosts no files"))
            return
        method = str(scope.get("method", "GET")).upper()
        path = str(scope.get("path", ""))
        headers = {
            k.decode("latin-1").lower(): v.decode("latin-1")
            for k, v in scope.get("headers", [])  # type: ignore[union-attr]
        }
        try:
            firmware = _FIRMWARE_PATH.fullmatch(path)
            if firmware is not None:
                if method not in ("GET", "HEAD"):
                    await _answer(send, *_text(405, "GET or HEAD"))
                    return
                await _serve_firmware(files, firmware.group(1), method, headers, send)
                return
            upload = _UPLOAD_PATH.fullmatch(path)
            if upload is not None:
                if method not in ("POST", "PUT"):
                    await _answer(send, *_text(405, "POST or PUT"))
                    return
                filename = unquote(upload.group(2) or "")
                await _receive_upload(
                    files, upload.group(1), filename, method, headers, receive, send
                )
                return
            await _answer(send, *_text(404, "not found"))
        except NotFound:
            await _answer(send, *_text(404, "not found"))
        except FileTooLarge:
            await _answer(send, *_text(413, "too large"))
        except ConnectionError:
            log.info("an upload to %s ended early: the client went away", path)

    return files_app
