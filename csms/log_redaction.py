"""No secret in any log line: a record factory that rewrites every log
record whose text carries one, whatever library made it.

Our own code never logs a password, secret or token; libraries do at DEBUG
(websockets logs each handshake's headers, ``Authorization: Basic ...``
with a station's secret among them; the OCPP libraries log each frame, and a
ChangeConfiguration AuthorizationKey or a SetVariables BasicAuthPassword
carries the station's new one). ``redact_secrets_in_logs()`` is installed
once per process by the composition root; every record is then checked
(a cheap search for a few words first) and the secret replaced by
``[redacted]`` before any handler sees it.
"""

from __future__ import annotations

import logging
import re
from typing import Any

REDACTED = "[redacted]"

# Words without which a message cannot carry one of the secrets below.
_TRIGGERS = re.compile(r"authori[sz]ation|password|secret|token|csms_session|/files/", re.I)

_Q = r"""["']"""
_STRING = r"""(?:"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')"""

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # HTTP headers (websockets' and any other DEBUG dump): Basic, Bearer, ...
    (
        re.compile(r"(authorization\s*[:=]\s*[\"']?)(\w+)\s+[^\s\"',;]+", re.I),
        rf"\1\2 {REDACTED}",
    ),
    # The capability in a firmware download or log upload URL.
    (re.compile(r"(/files/(?:firmware|uploads)/)[A-Za-z0-9_-]{16,}"), rf"\1{REDACTED}"),
    # The session cookie.
    (re.compile(r"(csms_session=)[^\s;\"',]+", re.I), rf"\1{REDACTED}"),
    # JSON or Python-repr fields whose name says secret.
    (
        re.compile(
            rf"({_Q}(?:\w*password|\w*secret|\w*token|authorization_?key|basic_?auth_?password)"
            rf"{_Q}\s*:\s*){_STRING}",
            re.I,
        ),
        rf"\1'{REDACTED}'",
    ),
)

# OCPP frames that set a station's basic-auth secret: every value in them.
_SECRET_FRAMES = (
    (re.compile(r"AuthorizationKey"), re.compile(rf"({_Q}value{_Q}\s*:\s*){_STRING}")),
    (
        re.compile(r"BasicAuthPassword"),
        re.compile(rf"({_Q}attributeValue{_Q}\s*:\s*){_STRING}", re.I),
    ),
)


def redact(text: str) -> str:
    """``text`` with every secret it carries replaced by ``[redacted]``."""
    if not _TRIGGERS.search(text) and "AuthorizationKey" not in text:
        return text
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    for marker, value in _SECRET_FRAMES:
        if marker.search(text):
            text = value.sub(rf"\1'{REDACTED}'", text)
    return text


def _redact_record(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a malformed record is the logging module's to report
        return
    cleaned = redact(message)
    if cleaned != message:
        record.msg = cleaned
        record.args = None


def redact_secrets_in_logs() -> None:
    """Installs the redaction for every record of this process (once)."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "csms_redacting", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        _redact_record(record)
        return record

    factory.csms_redacting = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
