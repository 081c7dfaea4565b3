"""File transfers a charger makes on a CSMS's request: firmware downloads, log uploads.

Plain HTTP(S) with the standard library, run in a thread so the event loop keeps
answering the CSMS meanwhile. Uploads are an HTTP POST of ``multipart/form-data``
with the file in the field ``file`` (what an upload endpoint behind a web
framework expects). Nothing here knows OCPP.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = [
    "Download",
    "TransferError",
    "Upload",
    "download",
    "is_http_location",
    "multipart_body",
    "upload",
]

_MAX_DOWNLOAD = 256 * 1024 * 1024


class TransferError(Exception):
    """A download or upload failed (unreachable, refused, HTTP error, unsupported scheme)."""


@dataclass(frozen=True, slots=True)
class Download:
    location: str
    size: int
    sha256: str
    content: bytes


@dataclass(frozen=True, slots=True)
class Upload:
    location: str
    file_name: str
    size: int
    http_status: int | None
    """None when the request never got an answer."""
    ok: bool
    error: str | None = None


def is_http_location(location: str) -> bool:
    return urlsplit(location).scheme.lower() in ("http", "https")


def _check(location: str) -> None:
    if not is_http_location(location):
        raise TransferError(f"unsupported location (only http and https): {location!r}")


def _context(location: str, ssl_context: ssl.SSLContext | None) -> ssl.SSLContext | None:
    if urlsplit(location).scheme.lower() != "https":
        return None
    return ssl_context or ssl.create_default_context()


def _download_sync(location: str, ssl_context: ssl.SSLContext | None, timeout: float) -> Download:
    _check(location)
    request = urllib.request.Request(location, method="GET")
    try:
        with urllib.request.urlopen(
            request, timeout=timeout, context=_context(location, ssl_context)
        ) as response:
            content = response.read(_MAX_DOWNLOAD + 1)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise TransferError(f"download of {location} failed: {exc}") from exc
    if len(content) > _MAX_DOWNLOAD:
        raise TransferError(f"download of {location} is larger than {_MAX_DOWNLOAD} bytes")
    return Download(location, len(content), hashlib.sha256(content).hexdigest(), content)


async def download(
    location: str, *, ssl_context: ssl.SSLContext | None = None, timeout: float = 30.0
) -> Download:
    """GET ``location``; raises :class:`TransferError` unless the answer is 2xx."""
    return await asyncio.to_thread(_download_sync, location, ssl_context, timeout)


def multipart_body(
    file_name: str, content: bytes, *, field: str = "file", content_type: str = "text/plain"
) -> tuple[bytes, str]:
    """A ``multipart/form-data`` body with one file; returns (body, Content-Type header)."""
    boundary = f"----sim{uuid.uuid4().hex}"
    safe_name = file_name.replace('"', "_").replace("\r", "_").replace("\n", "_")
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="{field}"; filename="{safe_name}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    return head + content + tail, f"multipart/form-data; boundary={boundary}"


def _upload_sync(
    location: str,
    file_name: str,
    content: bytes,
    field: str,
    ssl_context: ssl.SSLContext | None,
    timeout: float,
) -> Upload:
    if not is_http_location(location):
        return Upload(location, file_name, len(content), None, False, "unsupported location")
    body, content_type = multipart_body(file_name, content, field=field)
    request = urllib.request.Request(
        location, data=body, method="POST", headers={"Content-Type": content_type}
    )
    try:
        with urllib.request.urlopen(
            request, timeout=timeout, context=_context(location, ssl_context)
        ) as response:
            response.read()
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        return Upload(location, file_name, len(content), exc.code, False, str(exc))
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return Upload(location, file_name, len(content), None, False, str(exc))
    return Upload(location, file_name, len(content), status, 200 <= status < 300)


async def upload(
    location: str,
    file_name: str,
    content: bytes,
    *,
    field: str = "file",
    ssl_context: ssl.SSLContext | None = None,
    timeout: float = 30.0,
) -> Upload:
    """POST the file as multipart/form-data; the result says whether the server took it."""
    return await asyncio.to_thread(
        _upload_sync, location, file_name, content, field, ssl_context, timeout
    )
