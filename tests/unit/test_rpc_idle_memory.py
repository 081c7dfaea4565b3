"""An idle connection keeps nothing of the frames it has answered."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from typing import Any

import pytest
from ocpp.v16.enums import Action

from csms.domain.model import RegistrationStatus, StationProfile
from csms.protocol.ocppj import Dialect
from csms.protocol.payloads import PayloadCodec, v16
from csms.protocol.rpc import Router, RpcConnection, StationSession, TransportClosed, on

pytestmark = pytest.mark.backend_independent


class _Heartbeats:
    @on(Action.heartbeat)
    async def heartbeat(self, station: StationSession, **kwargs: Any) -> v16.HeartbeatResponse:
        return v16.HeartbeatResponse(current_time=datetime(2026, 12, 7, tzinfo=UTC))


class _Silent:
    def call_answered(self, *args: Any) -> None:
        pass

    def frame_rejected(self, *args: Any) -> None:
        pass

    def own_call_finished(self, *args: Any) -> None:
        pass


class _OneFrameThenQuiet:
    """Hands over its frames, then waits (an idle charger) until closed."""

    def __init__(self, frames: list[bytes]) -> None:
        self.frames = frames
        self.sent: list[bytes] = []
        self.idle = asyncio.Event()
        self.closed = asyncio.Event()

    async def recv(self) -> bytes:
        if self.frames:
            return self.frames.pop(0)
        self.idle.set()
        await self.closed.wait()
        raise TransportClosed

    async def send(self, data: bytes) -> None:
        self.sent.append(data)

    async def close(self, code: int, reason: str) -> None:
        self.closed.set()


async def test_an_idle_connection_holds_no_reference_to_its_last_frame() -> None:
    """While a charger is quiet its connection waits for the next frame
    without keeping the last one: thousands of idle chargers would each
    hold a frame (a MeterValues is about 600 bytes) until they spoke again."""
    frame = b'[2,"h-1","Heartbeat",{}]' + b" " * 600
    references = sys.getrefcount(frame)
    transport = _OneFrameThenQuiet([frame])
    assert sys.getrefcount(frame) == references + 1
    profile = StationProfile(1, "CP-1", RegistrationStatus.ACCEPTED)
    connection = RpcConnection(
        transport,
        Router(_Heartbeats(), PayloadCodec("1.6")),
        StationSession(profile=profile, protocol="ocpp1.6"),
        dialect=Dialect.OCPP16,
        observer=_Silent(),
    )
    serving = asyncio.create_task(connection.serve())
    await asyncio.wait_for(transport.idle.wait(), 5)
    assert len(transport.sent) == 1 and transport.sent[0].startswith(b'[3,"h-1"')
    assert sys.getrefcount(frame) == references
    await transport.close(1000, "")
    await serving
