"""Bad input gets the CALLERROR OCPP-J 1.6 names, and the connection lives on."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from csms.bootstrap import Node
from csms.storage.stations import PiccoloStationAdmin
from tests.e2e.conftest import ocpp_url

NOW = "2026-11-22T10:00:00Z"


@pytest.fixture
async def socket(node: Node) -> AsyncIterator[ClientConnection]:
    await PiccoloStationAdmin().add("CP-BAD")
    async with connect(f"{ocpp_url(node)}/CP-BAD", subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
        yield ws


async def _exchange(ws: ClientConnection, frame: str) -> list[Any]:
    await ws.send(frame)
    answer = json.loads(await ws.recv())
    assert isinstance(answer, list)
    return answer


async def _still_alive(ws: ClientConnection) -> None:
    answer = await _exchange(ws, json.dumps([2, "alive", "Heartbeat", {}]))
    assert answer[:2] == [3, "alive"]


@pytest.mark.parametrize(
    ("frame", "code", "message_id"),
    [
        ("this is not json", "FormationViolation", "-1"),
        ('[2, "x1", "Heartbeat", {', "FormationViolation", "-1"),
        ('{"not": "an array"}', "ProtocolError", "-1"),
        ("[2]", "ProtocolError", "-1"),
        ('[2, 17, "Heartbeat", {}]', "ProtocolError", "-1"),
        ('[2, "x2", "Heartbeat"]', "ProtocolError", "x2"),
        ('[2, "x3", 5, {}]', "ProtocolError", "x3"),
        ('[7, "x4", "Heartbeat", {}]', "ProtocolError", "x4"),
        ('[2, "x5", "FlyToTheMoon", {}]', "NotImplemented", "x5"),
        ('[2, "x6", "RemoteStartTransaction", {"idTag": "T"}]', "NotSupported", "x6"),
        ('[2, "x7", "Heartbeat", "payload"]', "FormationViolation", "x7"),
        ('[2, "x8", "Authorize", {"idTag": 12345}]', "TypeConstraintViolation", "x8"),
        ('[2, "x9", "Authorize", {}]', "OccurenceConstraintViolation", "x9"),
        (
            '[2, "x10", "Authorize", {"idTag": "' + "A" * 21 + '"}]',
            "PropertyConstraintViolation",
            "x10",
        ),
        ('[2, "x11", "Authorize", {"idTag": "T", "extra": 1}]', "FormationViolation", "x11"),
        (
            '[2, "x12", "StatusNotification", {"connectorId": 1, "errorCode": "NoError",'
            ' "status": "Dancing"}]',
            "PropertyConstraintViolation",
            "x12",
        ),
        (
            '[2, "x13", "StartTransaction", {"connectorId": 1, "idTag": "T", "meterStart": 0,'
            ' "timestamp": "yesterday"}]',
            "PropertyConstraintViolation",
            "x13",
        ),
        (
            '[2, "x14", "MeterValues", {"connectorId": 1, "meterValue": []}]',
            "OccurenceConstraintViolation",
            "x14",
        ),
        (
            '[2, "x15", "StartTransaction", {"connectorId": "1", "idTag": "T", "meterStart": 0,'
            ' "timestamp": "' + NOW + '"}]',
            "TypeConstraintViolation",
            "x15",
        ),
    ],
)
async def test_bad_frame_gets_the_named_callerror_and_the_connection_lives(
    socket: ClientConnection, frame: str, code: str, message_id: str
) -> None:
    """Each kind of bad frame is answered with its 1.6J error code (1.6's own
    spellings), with the message id when it could be read, and the socket
    keeps serving."""
    answer = await _exchange(socket, frame)
    assert answer[0] == 4
    assert answer[1] == message_id
    assert answer[2] == code
    assert isinstance(answer[3], str) and answer[3]
    assert isinstance(answer[4], dict)
    await _still_alive(socket)


async def test_answers_to_calls_never_made_are_ignored(socket: ClientConnection) -> None:
    """A CALLRESULT or CALLERROR for no call in flight is dropped quietly."""
    await socket.send(json.dumps([3, "nobody-asked", {}]))
    await socket.send(json.dumps([4, "nobody-asked", "GenericError", "", {}]))
    await _still_alive(socket)


async def test_lenient_station_may_send_numbers_for_strings(node: Node) -> None:
    """A station configured with the numbers_as_strings leniency has a number
    where a string is due accepted (and logged) instead of rejected."""
    await PiccoloStationAdmin().add("CP-QUIRK", leniency=frozenset({"numbers_as_strings"}))
    async with connect(f"{ocpp_url(node)}/CP-QUIRK", subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
        await _exchange(
            ws,
            json.dumps(
                [2, "b", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]
            ),
        )
        answer = await _exchange(ws, json.dumps([2, "q1", "Authorize", {"idTag": 4711}]))
    assert answer[0] == 3
    assert answer[2]["idTagInfo"]["status"] == "Invalid"
