"""OCPP 1.6 security extension notifications a charger sends about logs and
signed firmware: answered, and kept as station events."""

from __future__ import annotations

import json
from typing import Any

from websockets.asyncio.client import connect

from csms.bootstrap import Node
from csms.storage.stations import PiccoloStationAdmin
from csms.tables import StationEvent
from tests.e2e.conftest import ocpp_url


async def test_log_and_signed_firmware_status_are_recorded(node: Node) -> None:
    """LogStatusNotification and SignedFirmwareStatusNotification get their
    (empty) answers, and each becomes a station event with its requestId."""
    await PiccoloStationAdmin().add("CP-EXT")
    calls = [
        ["LogStatusNotification", {"status": "Uploaded", "requestId": 5}],
        ["SignedFirmwareStatusNotification", {"status": "SignatureVerified", "requestId": 9}],
    ]
    async with connect(f"{ocpp_url(node)}/CP-EXT", subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
        for number, (action, payload) in enumerate(calls):
            await ws.send(json.dumps([2, f"c{number}", action, payload]))
            assert json.loads(await ws.recv()) == [3, f"c{number}", {}]
    rows = (
        await StationEvent.select(StationEvent.kind, StationEvent.data)
        .order_by(StationEvent.id)
        .run()
    )
    recorded = [
        (r["kind"], _data(r)) for r in rows if r["kind"] in ("log_status", "firmware_status")
    ]
    assert recorded == [
        ("log_status", {"status": "Uploaded", "request_id": 5}),
        ("firmware_status", {"status": "SignatureVerified", "request_id": 9, "signed": True}),
    ]


def _data(row: dict[str, Any]) -> Any:
    data = row["data"]
    return json.loads(data) if isinstance(data, str) else data
