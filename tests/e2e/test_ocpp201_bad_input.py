"""Bad input on a 2.0.1 socket gets the CALLERROR OCPP-J 2.0.1 names (its own
codes: RpcFrameworkError, FormatViolation, OccurrenceConstraintViolation,
MessageTypeNotSupported), and the connection lives on."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from csms.bootstrap import Node
from csms.domain.model import RegistrationStatus
from csms.storage.stations import PiccoloStationAdmin
from tests.e2e.conftest import ocpp_url


@pytest.fixture
async def socket(node: Node) -> AsyncIterator[ClientConnection]:
    await PiccoloStationAdmin().add("CS-BAD")
    async with connect(f"{ocpp_url(node)}/CS-BAD", subprotocols=["ocpp2.0.1"]) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == "ocpp2.0.1"
        yield ws


async def _exchange(ws: ClientConnection, frame: str) -> list[Any]:
    await ws.send(frame)
    answer = json.loads(await ws.recv())
    assert isinstance(answer, list)
    return answer


async def _still_alive(ws: ClientConnection) -> None:
    answer = await _exchange(ws, json.dumps([2, "alive", "Heartbeat", {}]))
    assert answer[:2] == [3, "alive"]
    assert "currentTime" in answer[2]


@pytest.mark.parametrize(
    ("frame", "code", "message_id"),
    [
        ("this is not json", "FormatViolation", "-1"),
        ('{"not": "an array"}', "RpcFrameworkError", "-1"),
        ("[2]", "RpcFrameworkError", "-1"),
        ('[2, "x2", "Heartbeat"]', "RpcFrameworkError", "x2"),
        ('[7, "x4", "Heartbeat", {}]', "MessageTypeNotSupported", "x4"),
        ('[2, "x5", "FlyToTheMoon", {}]', "NotImplemented", "x5"),
        ('[2, "x6", "RequestStartTransaction", {}]', "NotSupported", "x6"),
        ('[2, "x7", "Heartbeat", "payload"]', "FormatViolation", "x7"),
        (
            '[2, "x8", "Authorize", {"idToken": {"idToken": 12345, "type": "ISO14443"}}]',
            "TypeConstraintViolation",
            "x8",
        ),
        ('[2, "x9", "Authorize", {}]', "OccurrenceConstraintViolation", "x9"),
        (
            '[2, "x10", "Authorize", {"idToken": {"idToken": "T", "type": "Fingerprint"}}]',
            "PropertyConstraintViolation",
            "x10",
        ),
        (
            '[2, "x11", "Heartbeat", {"extra": 1}]',
            "FormatViolation",
            "x11",
        ),
        (
            '[2, "x12", "TransactionEvent", {"eventType": "Started", "timestamp":'
            ' "2026-11-22T10:00:00Z", "triggerReason": "Authorized", "seqNo": 0,'
            ' "transactionInfo": {"transactionId": "tx"}, "meterValue": []}]',
            "OccurrenceConstraintViolation",
            "x12",
        ),
    ],
)
async def test_bad_frame_gets_the_201_callerror_and_the_connection_lives(
    socket: ClientConnection, frame: str, code: str, message_id: str
) -> None:
    """Each kind of bad frame is answered with its 2.0.1 error code, with the
    message id when it could be read, and the socket keeps serving."""
    answer = await _exchange(socket, frame)
    assert answer[0] == 4
    assert answer[1] == message_id
    assert answer[2] == code
    assert isinstance(answer[3], str) and answer[3]
    assert isinstance(answer[4], dict)
    await _still_alive(socket)


async def test_calls_before_an_accepted_boot_are_security_errors(node: Node) -> None:
    """A pending station gets SecurityError for anything but BootNotification
    (2.0.1 B02.FR.09)."""
    await PiccoloStationAdmin().add("CS-PENDING", registration_status=RegistrationStatus.PENDING)
    async with connect(f"{ocpp_url(node)}/CS-PENDING", subprotocols=["ocpp2.0.1"]) as ws:  # type: ignore[list-item]
        answer = await _exchange(ws, json.dumps([2, "h", "Heartbeat", {}]))
    assert answer[:3] == [4, "h", "SecurityError"]
