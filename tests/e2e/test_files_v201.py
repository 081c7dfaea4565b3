"""Local lists, firmware and log uploads with an OCPP 2.0.1 station: a real
node, the operators' API over HTTP, the 2.0.1 simulator, which downloads and
uploads over real HTTP."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from csms.bootstrap import Node
from csms.storage.stations import PiccoloStationAdmin
from simulators.ocpp201 import ChargingStation201, connect201
from tests.e2e.conftest import ocpp_url
from tests.world import admin_token, bearer, make_entity


@asynccontextmanager
async def world(
    node: Node, station_id: str = "CS-201"
) -> AsyncIterator[tuple[httpx.AsyncClient, ChargingStation201, int, int]]:
    """An operator's booted 2.0.1 station; the API as the operator's admin.
    Yields the client, the station, its id in the API and the operator."""
    operator = await make_entity("Operator")
    token = await admin_token(operator)
    await PiccoloStationAdmin().add(station_id)
    async with (
        httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{node.http_port}/api/v1", headers=bearer(token)
        ) as api,
        connect201(ocpp_url(node), station_id, boot=True, step_delay=0) as station,
    ):
        listed = await api.get("/stations", params={"q": station_id})
        assert listed.status_code == 200, listed.text
        station_pk = listed.json()["items"][0]["id"]
        owned = await api.patch(f"/stations/{station_pk}", json={"owner_entity_id": operator})
        assert owned.status_code == 200, owned.text
        yield api, station, station_pk, operator


def held(station: ChargingStation201) -> dict[str, str]:
    return {
        tag: str(entry["id_token_info"]["status"])
        for tag, entry in station.local_list.entries.items()
    }


async def test_a_201_station_gets_a_full_list_then_a_differential(node: Node) -> None:
    """Full at version 1, then one blocked medium as a Differential at 2."""
    async with world(node) as (api, station, station_pk, operator):
        ids = {}
        for uid in ("TOKEN-1", "TOKEN-2"):
            made = await api.post("/media", json={"uid": uid, "issuing_entity_id": operator})
            assert made.status_code == 201, made.text
            ids[uid] = made.json()["id"]
        first = (await api.post(f"/stations/{station_pk}/local-list/sync")).json()
        assert first["synced"] and first["update"] == "full" and first["version"] == 1, first
        assert station.local_list.version == 1
        assert held(station) == {"TOKEN-1": "Accepted", "TOKEN-2": "Accepted"}

        await api.patch(f"/media/{ids['TOKEN-1']}", json={"status": "blocked"})
        second = (await api.post(f"/stations/{station_pk}/local-list/sync")).json()
        assert second["synced"] and second["update"] == "differential", second
        assert second["version"] == 2 and second["sent"] == 1
        (last,) = station.received_calls("SendLocalList")[-1:]
        assert last["update_type"] == "Differential"
        assert [e["id_token"]["id_token"] for e in last["local_authorization_list"]] == ["TOKEN-1"]
        assert held(station) == {"TOKEN-1": "Blocked", "TOKEN-2": "Accepted"}


async def test_a_201_station_downloads_the_firmware_from_the_url_it_was_given(
    node: Node,
) -> None:
    """The simulator fetches the image over HTTP and reports Installed; the
    bytes it got are the uploaded image."""
    image = os.urandom(50_000)
    async with world(node) as (api, station, station_pk, _operator):
        uploaded = await api.post(
            "/firmware", files={"file": ("cs-3.0.bin", image, "application/octet-stream")}
        )
        assert uploaded.status_code == 201, uploaded.text
        firmware = uploaded.json()
        sent = await api.post(
            f"/stations/{station_pk}/firmware-update", json={"firmware_id": firmware["id"]}
        )
        assert sent.status_code == 200, sent.text
        assert sent.json()["outcome"]["status"] == "Accepted", sent.text
        await station.wait_until(lambda: "Installed" in station.firmware_statuses)
        (download,) = station.downloads
        assert download.location == firmware["url"]
        assert download.sha256 == hashlib.sha256(image).hexdigest() == firmware["sha256"]


async def test_a_201_station_uploads_its_security_log_into_the_slot(node: Node) -> None:
    """GetLog SecurityLog: the simulator POSTs the log to the location; it is
    listed with the slot's kind and downloadable."""
    async with world(node) as (api, station, station_pk, _operator):
        made = await api.post(f"/stations/{station_pk}/log-requests", json={"kind": "security"})
        assert made.status_code == 201, made.text
        assert made.json()["outcome"]["status"] == "Accepted", made.text
        await station.wait_until(lambda: bool(station.uploads))
        (result,) = station.uploads
        assert result.ok, result
        (upload,) = (await api.get(f"/stations/{station_pk}/uploads")).json()
        assert upload["kind"] == "security" and upload["filename"] == result.file_name
        content = await api.get(f"/uploads/{upload['id']}/content")
        assert content.content.startswith(b"# SecurityLog of CS-201")
