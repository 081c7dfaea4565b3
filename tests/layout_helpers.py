"""PNG logos for document-layout tests: real PNGs of a few bytes, written
by hand (signature, IHDR, one IDAT, IEND) so no imaging library is needed."""

from __future__ import annotations

import base64
import zlib


def png(width: int = 1, height: int = 1) -> bytes:
    """A valid 8-bit RGB PNG of ``width`` x ``height`` red pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    raw = b"".join(b"\x00" + b"\xcc\x22\x22" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def png_base64(width: int = 2, height: int = 2) -> str:
    return base64.b64encode(png(width, height)).decode("ascii")
