"""Who gets in, and what happens to connections: handshake, policies, replacement."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from csms.bootstrap import Node
from csms.domain.credentials import hash_secret
from csms.domain.model import RegistrationStatus
from csms.storage.stations import PiccoloStationAdmin
from simulators.ocpp16 import connect16
from tests.e2e.conftest import StartNode, ocpp_url

SECRET = "s3cret-s3cret-s3cret"


def _basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


async def _status_of_refusal(url: str, **kwargs: object) -> int:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url, subprotocols=["ocpp1.6"], **kwargs):  # type: ignore[arg-type]
            pass
    return refused.value.response.status_code


async def test_basic_auth_is_required_when_a_secret_is_set(node: Node) -> None:
    """A station with a secret is refused with 401 without credentials, with a
    wrong password or with another station's name, and let in with its own."""
    await PiccoloStationAdmin().add("CP-AUTH", secret_hash=hash_secret(SECRET))
    url = f"{ocpp_url(node)}/CP-AUTH"
    assert await _status_of_refusal(url) == 401
    assert await _status_of_refusal(url, additional_headers=_basic("CP-AUTH", "wrong" * 4)) == 401
    assert await _status_of_refusal(url, additional_headers=_basic("CP-OTHER", SECRET)) == 401
    async with connect16(ocpp_url(node), "CP-AUTH", password=SECRET) as cp:
        assert (await cp.boot(vendor="Acme", model="M")).status == "Accepted"


async def test_the_401_names_basic_auth(node: Node) -> None:
    """The refusal carries WWW-Authenticate so a charger knows what to send."""
    await PiccoloStationAdmin().add("CP-AUTH2", secret_hash=hash_secret(SECRET))
    with pytest.raises(InvalidStatus) as refused:
        async with connect(f"{ocpp_url(node)}/CP-AUTH2", subprotocols=["ocpp1.6"]):  # type: ignore[list-item]
            pass
    assert refused.value.response.headers["WWW-Authenticate"].startswith("Basic")


async def test_unknown_station_is_refused_by_default(node: Node) -> None:
    """With CSMS_UNKNOWN_STATIONS=reject an unknown station is refused at the
    handshake with 404 and nothing is registered."""
    assert await _status_of_refusal(f"{ocpp_url(node)}/CP-NOBODY") == 404
    assert await PiccoloStationAdmin().list_all() == []


async def test_wrong_path_is_refused(node: Node) -> None:
    """Only /ocpp/{id} is an OCPP endpoint."""
    assert await _status_of_refusal(f"ws://127.0.0.1:{node.ocpp_port}/other/CP-1") == 404


async def test_unknown_station_is_registered_when_policy_accepts(start_node: StartNode) -> None:
    """With CSMS_UNKNOWN_STATIONS=accept an unknown station is registered on its
    first connection, without credentials, and booted Accepted."""
    node = await start_node(unknown_stations="accept")
    async with connect16(ocpp_url(node), "CP-NEW") as cp:
        assert (await cp.boot(vendor="Acme", model="M")).status == "Accepted"
    station = await PiccoloStationAdmin().get("CP-NEW")
    assert station.registration_status == "Accepted"
    assert "registered" in [e.kind for e in await PiccoloStationAdmin().events("CP-NEW")]


async def test_pending_station_waits_for_an_operator(start_node: StartNode) -> None:
    """With CSMS_UNKNOWN_STATIONS=pending a new station is answered Pending and
    gets SecurityError for anything but BootNotification, until an operator
    accepts it; its next boot is Accepted."""
    node = await start_node(unknown_stations="pending")
    async with connect16(ocpp_url(node), "CP-WAIT") as cp:
        boot = await cp.boot(vendor="Acme", model="M")
        assert boot.status == "Pending"
        with pytest.raises(Exception) as refused:
            await cp.heartbeat()
        assert "SecurityError" in repr(refused.value)
        await PiccoloStationAdmin().update(
            "CP-WAIT", registration_status=RegistrationStatus.ACCEPTED
        )
        assert (await cp.boot(vendor="Acme", model="M")).status == "Accepted"
        await cp.heartbeat()


async def test_rejected_station_is_told_so_at_boot(node: Node) -> None:
    """A station the operator rejected gets Rejected with a retry interval."""
    await PiccoloStationAdmin().add("CP-NO", registration_status=RegistrationStatus.REJECTED)
    async with connect16(ocpp_url(node), "CP-NO") as cp:
        boot = await cp.boot(vendor="Acme", model="M")
    assert boot.status == "Rejected"
    assert boot.interval > 0


async def test_no_subprotocol_is_closed_after_the_handshake(node: Node) -> None:
    """A client offering no supported subprotocol completes the handshake
    without one and is closed right away (protocol error), as OCPP-J says."""
    await PiccoloStationAdmin().add("CP-OLD")
    async with connect(f"{ocpp_url(node)}/CP-OLD", subprotocols=["ocpp9.9"]) as ws:  # type: ignore[list-item]
        assert ws.subprotocol is None
        with pytest.raises(ConnectionClosed):
            await ws.recv()
    assert ws.close_code == 1002


async def test_old_firmware_without_subprotocol_can_be_served_as_16(node: Node) -> None:
    """A station marked assume-ocpp16 is served as 1.6 without a subprotocol."""
    await PiccoloStationAdmin().add("CP-LEGACY", assume_ocpp16=True)
    async with connect(f"{ocpp_url(node)}/CP-LEGACY") as ws:
        await ws.send(json.dumps([2, "1", "Heartbeat", {}]))
        answer = json.loads(await ws.recv())
    assert answer[0] == 3 and "currentTime" in answer[2]


async def test_a_second_connection_replaces_the_first(node: Node) -> None:
    """When a station connects again while its old socket is still open, the
    new socket is served and the old one closed; the station stays online."""
    await PiccoloStationAdmin().add("CP-TWICE")
    url = f"{ocpp_url(node)}/CP-TWICE"
    async with (
        connect(url, subprotocols=["ocpp1.6"]) as old,  # type: ignore[list-item]
        connect(url, subprotocols=["ocpp1.6"]) as new,  # type: ignore[list-item]
    ):
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(old.recv(), 5)
        assert old.close_code == 1000
        await new.send(json.dumps([2, "1", "Heartbeat", {}]))
        assert json.loads(await new.recv())[0] == 3
        assert node.gateway.registry.get("CP-TWICE") is not None
        await asyncio.sleep(0.2)
        station = await PiccoloStationAdmin().get("CP-TWICE")
        assert station.connected is True


async def test_disconnect_marks_the_station_offline(node: Node) -> None:
    """When the socket closes, the station is recorded as not connected."""
    await PiccoloStationAdmin().add("CP-OFF")
    async with connect16(ocpp_url(node), "CP-OFF") as cp:
        await cp.boot(vendor="Acme", model="M")
        assert (await PiccoloStationAdmin().get("CP-OFF")).connected is True
    for _ in range(100):
        if not (await PiccoloStationAdmin().get("CP-OFF")).connected:
            break
        await asyncio.sleep(0.05)
    assert (await PiccoloStationAdmin().get("CP-OFF")).connected is False
    kinds = [e.kind for e in await PiccoloStationAdmin().events("CP-OFF")]
    assert "disconnected" in kinds


async def test_a_silent_station_is_marked_offline(start_node: StartNode) -> None:
    """A station that stops sending (no heartbeat within 2 intervals plus the
    grace period) has its socket closed and is marked offline."""
    node = await start_node(heartbeat_interval=1, offline_grace=0)
    await PiccoloStationAdmin().add("CP-QUIET")
    async with connect(f"{ocpp_url(node)}/CP-QUIET", subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps([2, "1", "Heartbeat", {}]))
        await ws.recv()
        await asyncio.sleep(2.2)
        await node.check_silent_stations()
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
    for _ in range(100):
        if not (await PiccoloStationAdmin().get("CP-QUIET")).connected:
            break
        await asyncio.sleep(0.05)
    assert (await PiccoloStationAdmin().get("CP-QUIET")).connected is False


async def test_two_gateway_processes_can_share_one_port(start_node: StartNode) -> None:
    """With CSMS_OCPP_REUSE_PORT two nodes listen on the same port, the kernel
    spreads the stations over both, and each station is served by one."""
    first = await start_node(ocpp_reuse_port=True, node_name="node-a")
    second = await start_node(ocpp_reuse_port=True, node_name="node-b", ocpp_port=first.ocpp_port)
    assert second.ocpp_port == first.ocpp_port
    admin = PiccoloStationAdmin()
    # 24 connections: the chance that all land on one node is 2 in 16 million.
    ids = [f"CP-SHARED-{n}" for n in range(24)]
    for charge_point_id in ids:
        await admin.add(charge_point_id)
    for charge_point_id in ids:
        async with connect16(ocpp_url(first), charge_point_id) as cp:
            assert (await cp.boot(vendor="Acme", model="M")).status == "Accepted"
    assert first.recorder.calls > 0 and second.recorder.calls > 0
    assert first.recorder.calls + second.recorder.calls == len(ids)


async def test_a_station_that_answers_no_ping_is_closed(start_node: StartNode) -> None:
    """A charger whose connection stops answering websocket pings (its TCP
    connection died without a FIN) is closed after ping interval + timeout
    and marked offline; one that answers stays connected."""
    node = await start_node(ping_interval=0.2, ping_timeout=0.3)
    admin = PiccoloStationAdmin()
    await admin.add("CP-DEAD")
    await admin.add("CP-ALIVE")
    async with (
        connect(f"{ocpp_url(node)}/CP-DEAD", subprotocols=["ocpp1.6"]) as dead,  # type: ignore[list-item]
        connect(f"{ocpp_url(node)}/CP-ALIVE", subprotocols=["ocpp1.6"]) as alive,  # type: ignore[list-item]
    ):
        # Reading paused: the ping is never seen, so no pong goes back.
        dead.transport.pause_reading()
        for _ in range(50):
            await asyncio.sleep(0.1)
            if node.gateway.registry.get("CP-DEAD") is None:
                break
        assert node.gateway.registry.get("CP-DEAD") is None
        assert node.gateway.registry.get("CP-ALIVE") is not None
        await alive.send(json.dumps([2, "h", "Heartbeat", {}]))
        assert json.loads(await alive.recv())[0] == 3


async def test_permessage_deflate_only_for_chargers_that_ask(node: Node) -> None:
    """A charger offering permessage-deflate gets it (and is served through
    it); one that does not offer it gets plain frames."""
    admin = PiccoloStationAdmin()
    await admin.add("CP-DEFLATE")
    await admin.add("CP-PLAIN")
    async with connect(
        f"{ocpp_url(node)}/CP-DEFLATE",
        subprotocols=["ocpp1.6"],  # type: ignore[list-item]
        compression="deflate",
    ) as compressed:
        assert "permessage-deflate" in compressed.response.headers["Sec-WebSocket-Extensions"]
        await compressed.send(json.dumps([2, "h1", "Heartbeat", {}]))
        assert json.loads(await compressed.recv())[:2] == [3, "h1"]
    async with connect(
        f"{ocpp_url(node)}/CP-PLAIN",
        subprotocols=["ocpp1.6"],  # type: ignore[list-item]
        compression=None,
    ) as plain:
        assert "Sec-WebSocket-Extensions" not in plain.response.headers
        await plain.send(json.dumps([2, "h2", "Heartbeat", {}]))
        assert json.loads(await plain.recv())[:2] == [3, "h2"]


async def test_an_open_connection_keeps_no_handshake_headers(node: Node) -> None:
    """Once a station's handshake is done its request and response headers
    are let go (they were a sixth of an idle connection's memory); the
    station is served as before."""
    await PiccoloStationAdmin().add("CP-LEAN", secret_hash=hash_secret(SECRET))
    url = f"{ocpp_url(node)}/CP-LEAN"
    headers = {**_basic("CP-LEAN", SECRET), "X-Padding": "p" * 2000}
    async with connect(url, subprotocols=["ocpp1.6"], additional_headers=headers) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps([2, "1", "Heartbeat", {}]))
        assert json.loads(await ws.recv())[0] == 3
        entry = node.gateway.registry.get("CP-LEAN")
        assert entry is not None
        assert len(entry.socket.request.headers) == 0  # type: ignore[union-attr]
        assert entry.socket.response is None
        await ws.send(json.dumps([2, "2", "Heartbeat", {}]))
        assert json.loads(await ws.recv())[:2] == [3, "2"]
