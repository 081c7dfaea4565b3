"""OCPP-J framing: the RPC arrays around every payload, free of I/O.

    CALL        [2, "<messageId>", "<action>", {payload}]
    CALLRESULT  [3, "<messageId>", {payload}]
    CALLERROR   [4, "<messageId>", "<errorCode>", "<errorDescription>", {errorDetails}]

A frame is split without decoding its payload: the payload stays raw JSON
bytes for the action's own typed decoder. Error codes are version-neutral
here and spelled per version on the way out (1.6J keeps the historic
"FormationViolation" and "OccurenceConstraintViolation").
"""

from __future__ import annotations

import enum
import json
import re
from typing import Any, NamedTuple

import msgspec

# OCPP-J: a message id is a string of at most 36 characters.
MAX_MESSAGE_ID_LENGTH = 36
# The id to answer with when the offending message's id cannot be read.
UNKNOWN_MESSAGE_ID = "-1"


class MessageType(enum.IntEnum):
    CALL = 2
    CALLRESULT = 3
    CALLERROR = 4


class ErrorCode(enum.Enum):
    """Version-neutral CALLERROR codes."""

    FORMAT_VIOLATION = "FormatViolation"
    GENERIC_ERROR = "GenericError"
    INTERNAL_ERROR = "InternalError"
    MESSAGE_TYPE_NOT_SUPPORTED = "MessageTypeNotSupported"
    NOT_IMPLEMENTED = "NotImplemented"
    NOT_SUPPORTED = "NotSupported"
    OCCURRENCE_CONSTRAINT_VIOLATION = "OccurrenceConstraintViolation"
    PROPERTY_CONSTRAINT_VIOLATION = "PropertyConstraintViolation"
    PROTOCOL_ERROR = "ProtocolError"
    RPC_FRAMEWORK_ERROR = "RpcFrameworkError"
    SECURITY_ERROR = "SecurityError"
    TYPE_CONSTRAINT_VIOLATION = "TypeConstraintViolation"


class Dialect(enum.Enum):
    """How a version spells the error codes."""

    OCPP16 = "1.6"
    OCPP201 = "2.0.1"

    def spell(self, code: ErrorCode) -> str:
        if self is Dialect.OCPP16:
            return _OCPP16_SPELLING.get(code, code.value)
        return code.value


# 1.6J has neither RpcFrameworkError nor MessageTypeNotSupported: a frame it
# cannot read as an RPC message is a ProtocolError there ("incomplete").
_OCPP16_SPELLING = {
    ErrorCode.FORMAT_VIOLATION: "FormationViolation",
    ErrorCode.OCCURRENCE_CONSTRAINT_VIOLATION: "OccurenceConstraintViolation",
    ErrorCode.RPC_FRAMEWORK_ERROR: "ProtocolError",
    ErrorCode.MESSAGE_TYPE_NOT_SUPPORTED: "ProtocolError",
}


class Call(NamedTuple):
    unique_id: str
    action: str
    payload: bytes


class CallResult(NamedTuple):
    unique_id: str
    payload: bytes


class CallError(NamedTuple):
    unique_id: str
    error_code: str
    description: str
    details: dict[str, Any]


Frame = Call | CallResult | CallError


class FrameError(Exception):
    """A frame that cannot be read as an OCPP-J message."""

    def __init__(self, code: ErrorCode, description: str, unique_id: str = UNKNOWN_MESSAGE_ID):
        super().__init__(description)
        self.code = code
        self.description = description
        self.unique_id = unique_id


_frame_decoder = msgspec.json.Decoder(list[msgspec.Raw])
_str_decoder = msgspec.json.Decoder(str)
_int_decoder = msgspec.json.Decoder(int)
_details_decoder = msgspec.json.Decoder(dict[str, Any])
_encode = msgspec.json.encode


def parse_frame(data: bytes | str) -> Frame:
    """Split one websocket message into its RPC parts; the payload stays raw.

    Raises FrameError with FORMAT_VIOLATION for text that is not JSON and
    RPC_FRAMEWORK_ERROR for JSON that is not an OCPP-J message; the error
    carries the message id whenever it could be read.
    """
    try:
        parts = _frame_decoder.decode(data)
    except msgspec.ValidationError:
        raise FrameError(
            ErrorCode.RPC_FRAMEWORK_ERROR, "an OCPP-J message is a JSON array"
        ) from None
    except msgspec.DecodeError as error:
        raise FrameError(
            ErrorCode.FORMAT_VIOLATION, f"not valid JSON: {error}", _unique_id_of_json(data)
        ) from None
    except RecursionError:
        # Arrays or objects nested deeper than the decoder goes (even a
        # payload's, which is only skipped here): a formation error, answered
        # with the message id if the frame's start shows one.
        raise FrameError(
            ErrorCode.FORMAT_VIOLATION, "JSON nested too deeply", _leading_unique_id(data)
        ) from None
    if len(parts) < 3:
        raise FrameError(
            ErrorCode.RPC_FRAMEWORK_ERROR,
            "an OCPP-J message has a message type, a message id and a payload",
        )
    try:
        message_type = _int_decoder.decode(parts[0])
    except msgspec.ValidationError:
        message_type = None
    unique_id = _read_unique_id(parts[1])
    if message_type == MessageType.CALL:
        if len(parts) != 4:
            raise FrameError(
                ErrorCode.RPC_FRAMEWORK_ERROR,
                "a CALL is [2, messageId, action, payload]",
                unique_id,
            )
        try:
            action = _str_decoder.decode(parts[2])
        except msgspec.ValidationError:
            raise FrameError(
                ErrorCode.RPC_FRAMEWORK_ERROR, "the action of a CALL is a string", unique_id
            ) from None
        return Call(unique_id, action, bytes(parts[3]))
    if message_type == MessageType.CALLRESULT:
        if len(parts) != 3:
            raise FrameError(
                ErrorCode.RPC_FRAMEWORK_ERROR, "a CALLRESULT is [3, messageId, payload]", unique_id
            )
        return CallResult(unique_id, bytes(parts[2]))
    if message_type == MessageType.CALLERROR:
        if len(parts) != 5:
            raise FrameError(
                ErrorCode.RPC_FRAMEWORK_ERROR,
                "a CALLERROR is [4, messageId, errorCode, errorDescription, errorDetails]",
                unique_id,
            )
        try:
            return CallError(
                unique_id,
                _str_decoder.decode(parts[2]),
                _str_decoder.decode(parts[3]),
                _details_decoder.decode(parts[4]),
            )
        except msgspec.ValidationError as error:
            raise FrameError(
                ErrorCode.RPC_FRAMEWORK_ERROR, f"malformed CALLERROR: {error}", unique_id
            ) from None
    raise FrameError(
        ErrorCode.MESSAGE_TYPE_NOT_SUPPORTED,
        f"message type {_short(parts[0])} is not one of 2 (CALL), 3 (CALLRESULT), 4 (CALLERROR)",
        unique_id,
    )


# The message id at the start of a frame, read without decoding the rest.
_LEADING_ID = re.compile(
    rb'\A\s*\[\s*[234]\s*,\s*"([^"\\\x00-\x1f]{1,%d})"' % MAX_MESSAGE_ID_LENGTH
)


def _leading_unique_id(data: bytes | str) -> str:
    """The message id of a frame that starts ``[2, "<id>"`` (or 3, 4), else
    "-1"."""
    head = data[:128].encode(errors="replace") if isinstance(data, str) else bytes(data[:128])
    found = _LEADING_ID.match(head)
    if found is None:
        return UNKNOWN_MESSAGE_ID
    try:
        return found.group(1).decode()
    except UnicodeDecodeError:
        return UNKNOWN_MESSAGE_ID


def _unique_id_of_json(data: bytes | str) -> str:
    """The message id of a frame that msgspec refuses but JSON (RFC 8259)
    allows, a lone surrogate escape such as ``"\\ud800"`` in its payload;
    "-1" for a frame that is not JSON."""
    try:
        parts = json.loads(data)
    except (ValueError, RecursionError):
        return UNKNOWN_MESSAGE_ID
    if not (isinstance(parts, list) and len(parts) > 1 and isinstance(parts[1], str)):
        return UNKNOWN_MESSAGE_ID
    unique_id = parts[1]
    try:
        unique_id.encode()
    except UnicodeEncodeError:
        return UNKNOWN_MESSAGE_ID
    return unique_id if 0 < len(unique_id) <= MAX_MESSAGE_ID_LENGTH else UNKNOWN_MESSAGE_ID


def _read_unique_id(raw: msgspec.Raw) -> str:
    try:
        unique_id = _str_decoder.decode(raw)
    except msgspec.ValidationError:
        raise FrameError(ErrorCode.RPC_FRAMEWORK_ERROR, "the message id is not a string") from None
    if not unique_id or len(unique_id) > MAX_MESSAGE_ID_LENGTH:
        # Answer with the id anyway, so the sender can match the error.
        raise FrameError(
            ErrorCode.RPC_FRAMEWORK_ERROR,
            f"the message id is a string of 1 to {MAX_MESSAGE_ID_LENGTH} characters",
            unique_id or UNKNOWN_MESSAGE_ID,
        )
    return unique_id


def _short(raw: msgspec.Raw, limit: int = 20) -> str:
    text = bytes(raw).decode(errors="replace")
    return text if len(text) <= limit else text[:limit] + "..."


def encode_call(unique_id: str, action: str, payload: bytes) -> bytes:
    return b"[2," + _encode(unique_id) + b"," + _encode(action) + b"," + payload + b"]"


def encode_result(unique_id: str, payload: bytes) -> bytes:
    return b"[3," + _encode(unique_id) + b"," + payload + b"]"


def encode_error(
    unique_id: str,
    code: ErrorCode,
    description: str,
    dialect: Dialect,
    details: dict[str, Any] | None = None,
) -> bytes:
    # OCPP 2.0.1 limits errorDescription to 255 characters.
    return _encode(
        [
            MessageType.CALLERROR,
            unique_id,
            dialect.spell(code),
            description[:255],
            details or {},
        ]
    )
