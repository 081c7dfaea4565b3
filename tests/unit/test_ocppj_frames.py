"""OCPP-J framing: splitting frames and spelling errors per version."""

from __future__ import annotations

import json

import pytest

from csms.protocol.ocppj import (
    Call,
    CallError,
    CallResult,
    Dialect,
    ErrorCode,
    FrameError,
    encode_call,
    encode_error,
    encode_result,
    parse_frame,
)

pytestmark = pytest.mark.backend_independent


def test_a_call_keeps_its_payload_raw() -> None:
    """A CALL is split into id, action and the payload's exact JSON bytes."""
    frame = parse_frame(b'[2, "42", "Authorize", {"idTag": "T\\u00e9"}]')
    assert frame == Call("42", "Authorize", b'{"idTag": "T\\u00e9"}')


def test_results_and_errors_are_recognised() -> None:
    """CALLRESULT and CALLERROR frames become their own types."""
    assert parse_frame('[3, "7", {"status": "Accepted"}]') == CallResult(
        "7", b'{"status": "Accepted"}'
    )
    assert parse_frame('[4, "8", "NotSupported", "nope", {"a": 1}]') == CallError(
        "8", "NotSupported", "nope", {"a": 1}
    )


@pytest.mark.parametrize(
    ("data", "code", "unique_id"),
    [
        ("not json", ErrorCode.FORMAT_VIOLATION, "-1"),
        ("", ErrorCode.FORMAT_VIOLATION, "-1"),
        ("42", ErrorCode.RPC_FRAMEWORK_ERROR, "-1"),
        ("[]", ErrorCode.RPC_FRAMEWORK_ERROR, "-1"),
        ('[2, null, "Heartbeat", {}]', ErrorCode.RPC_FRAMEWORK_ERROR, "-1"),
        ('[2, "", "Heartbeat", {}]', ErrorCode.RPC_FRAMEWORK_ERROR, "-1"),
        ('[2, "' + "x" * 37 + '", "Heartbeat", {}]', ErrorCode.RPC_FRAMEWORK_ERROR, "x" * 37),
        ('[2, "a", "Heartbeat", {}, 5]', ErrorCode.RPC_FRAMEWORK_ERROR, "a"),
        ('[3, "b"]', ErrorCode.RPC_FRAMEWORK_ERROR, "-1"),
        ('[4, "c", "X", "y"]', ErrorCode.RPC_FRAMEWORK_ERROR, "c"),
        ('[4, "d", "X", "y", []]', ErrorCode.RPC_FRAMEWORK_ERROR, "d"),
        ('["2", "e", "Heartbeat", {}]', ErrorCode.MESSAGE_TYPE_NOT_SUPPORTED, "e"),
        ('[5, "f", "Heartbeat", {}]', ErrorCode.MESSAGE_TYPE_NOT_SUPPORTED, "f"),
    ],
)
def test_malformed_frames_are_classified(data: str, code: ErrorCode, unique_id: str) -> None:
    """Each malformation maps to one error and keeps the id when readable."""
    with pytest.raises(FrameError) as error:
        parse_frame(data)
    assert error.value.code is code
    assert error.value.unique_id == unique_id


def test_16_keeps_its_historic_spellings() -> None:
    """1.6J says FormationViolation and OccurenceConstraintViolation and has no
    RpcFrameworkError; 2.0.1 uses the corrected names."""
    assert Dialect.OCPP16.spell(ErrorCode.FORMAT_VIOLATION) == "FormationViolation"
    assert (
        Dialect.OCPP16.spell(ErrorCode.OCCURRENCE_CONSTRAINT_VIOLATION)
        == "OccurenceConstraintViolation"
    )
    assert Dialect.OCPP16.spell(ErrorCode.RPC_FRAMEWORK_ERROR) == "ProtocolError"
    assert Dialect.OCPP201.spell(ErrorCode.FORMAT_VIOLATION) == "FormatViolation"
    assert Dialect.OCPP201.spell(ErrorCode.RPC_FRAMEWORK_ERROR) == "RpcFrameworkError"


def test_encoders_produce_valid_frames() -> None:
    """Encoded frames are JSON arrays that parse back to what was encoded."""
    assert json.loads(encode_call('i"d', "Reset", b'{"type":"Soft"}')) == [
        2,
        'i"d',
        "Reset",
        {"type": "Soft"},
    ]
    assert json.loads(encode_result("1", b"{}")) == [3, "1", {}]
    error = json.loads(
        encode_error("1", ErrorCode.TYPE_CONSTRAINT_VIOLATION, "x" * 300, Dialect.OCPP16)
    )
    assert error[:3] == [4, "1", "TypeConstraintViolation"]
    assert len(error[3]) == 255
    assert error[4] == {}
