"""The local authorisation list end to end: a real node, the operators' REST
API over HTTP and the OCPP 1.6 simulator, whose list is compared with what
the API says was sent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from csms.bootstrap import Node
from csms.storage.stations import PiccoloStationAdmin
from simulators.ocpp16 import ChargePoint16, connect16
from tests.e2e.conftest import ocpp_url
from tests.world import admin_token, bearer, make_entity, make_group, make_user, token_for


@asynccontextmanager
async def station_world(
    node: Node, charge_point_id: str = "CP-LL"
) -> AsyncIterator[tuple[httpx.AsyncClient, ChargePoint16, int, int]]:
    """An operator entity owning a booted 1.6 station; the API as its admin.
    Yields the API client, the charger, the station id and the entity id."""
    operator = await make_entity("Operator")
    token = await admin_token(operator)
    await PiccoloStationAdmin().add(charge_point_id)
    async with (
        httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{node.http_port}/api/v1", headers=bearer(token)
        ) as api,
        connect16(ocpp_url(node), charge_point_id) as charger,
    ):
        listed = await api.get("/stations", params={"q": charge_point_id})
        assert listed.status_code == 200, listed.text
        station = listed.json()["items"][0]
        owned = await api.patch(f"/stations/{station['id']}", json={"owner_entity_id": operator})
        assert owned.status_code == 200, owned.text
        assert (await charger.boot()).status == "Accepted"
        yield api, charger, station["id"], operator


async def add_media(api: httpx.AsyncClient, issuer: int, *uids: str) -> dict[str, int]:
    ids = {}
    for uid in uids:
        created = await api.post("/media", json={"uid": uid, "issuing_entity_id": issuer})
        assert created.status_code == 201, created.text
        ids[uid] = created.json()["id"]
    return ids


def statuses(charger: ChargePoint16) -> dict[str, Any]:
    return {tag: info["status"] for tag, info in charger.local_list.items()}


async def test_a_first_sync_sends_the_full_list(node: Node) -> None:
    """Nothing recorded: Full, version 1, every admitted medium Accepted; the
    charger holds exactly that and the API shows it."""
    async with station_world(node) as (api, charger, station_id, operator):
        await add_media(api, operator, "CARD-1", "CARD-2")
        synced = await api.post(f"/stations/{station_id}/local-list/sync")
        assert synced.status_code == 200, synced.text
        body = synced.json()
        assert body["synced"] and body["update"] == "full" and body["version"] == 1
        assert body["sent"] == 2 and body["entries"] == 2
        assert charger.local_list_version == 1
        assert statuses(charger) == {"CARD-1": "Accepted", "CARD-2": "Accepted"}
        held = (await api.get(f"/stations/{station_id}/local-list")).json()
        assert held["version"] == 1
        assert [e["id_tag"] for e in held["entries"]] == ["CARD-1", "CARD-2"]


async def test_blocking_a_medium_sends_a_differential_with_only_that_entry(node: Node) -> None:
    """After a full sync, one medium blocked: the next sync is a Differential
    of one entry (Blocked) with version + 1, and the charger's list matches."""
    async with station_world(node) as (api, charger, station_id, operator):
        media = await add_media(api, operator, "CARD-1", "CARD-2", "CARD-3")
        assert (await api.post(f"/stations/{station_id}/local-list/sync")).json()["synced"]
        sent: list[dict[str, Any]] = []
        original = charger.on_send_local_list

        def spy(**kwargs: Any) -> Any:
            sent.append(kwargs)
            return original(**kwargs)

        charger.route_map["SendLocalList"]["_on_action"] = spy
        blocked = await api.patch(f"/media/{media['CARD-2']}", json={"status": "blocked"})
        assert blocked.status_code == 200, blocked.text

        body = (await api.post(f"/stations/{station_id}/local-list/sync")).json()
        assert body["synced"] and body["update"] == "differential", body
        assert body["version"] == 2 and body["sent"] == 1 and body["changed"] == 1
        (call,) = sent
        assert call["update_type"] == "Differential" and call["list_version"] == 2
        assert [e["id_tag"] for e in call["local_authorization_list"]] == ["CARD-2"]
        assert charger.local_list_version == 2
        assert statuses(charger) == {
            "CARD-1": "Accepted",
            "CARD-2": "Blocked",
            "CARD-3": "Accepted",
        }


async def test_a_list_longer_than_one_message_goes_in_parts(node: Node) -> None:
    """items_per_message 2 and five media: a Full part and two Differential
    parts (versions 1 to 3); the charger ends with all five."""
    async with station_world(node) as (api, charger, station_id, operator):
        await add_media(api, operator, *(f"CARD-{i}" for i in range(5)))
        synced = await api.post(
            f"/stations/{station_id}/local-list/sync", json={"items_per_message": 2}
        )
        body = synced.json()
        assert body["synced"] and body["parts"] == 3 and body["version"] == 3, body
        assert charger.local_list_version == 3
        assert sorted(charger.local_list) == [f"CARD-{i}" for i in range(5)]


async def test_a_charger_that_lost_its_list_gets_the_full_list_again(node: Node) -> None:
    """Its version is no longer ours: Full, above both versions."""
    async with station_world(node) as (api, charger, station_id, operator):
        await add_media(api, operator, "CARD-1")
        assert (await api.post(f"/stations/{station_id}/local-list/sync")).json()["synced"]
        charger.local_list, charger.local_list_version = {}, 0
        body = (await api.post(f"/stations/{station_id}/local-list/sync")).json()
        assert body["synced"] and body["update"] == "full" and body["version"] == 2, body
        assert statuses(charger) == {"CARD-1": "Accepted"}


async def test_a_charger_without_local_lists_is_reported_and_nothing_recorded(
    node: Node,
) -> None:
    """NotSupported comes back as the outcome; the API shows no version."""
    async with station_world(node) as (api, charger, station_id, operator):
        await add_media(api, operator, "CARD-1")
        charger.config.set("LocalAuthListEnabled", "false")
        body = (await api.post(f"/stations/{station_id}/local-list/sync")).json()
        assert not body["synced"]
        assert body["outcome"]["status"] == "NotSupported", body
        assert (await api.get(f"/stations/{station_id}/local-list")).json()["version"] is None


async def test_another_entitys_user_cannot_sync_or_read_the_list(node: Node) -> None:
    """A station outside the caller's scope is 404 for both endpoints."""
    async with station_world(node) as (api, _charger, station_id, _operator):
        other = await make_entity("Other")
        group = await make_group(other, scope="own")
        stranger = await token_for(await make_user([other], [group]), other)
        for method, path in (
            ("POST", f"/stations/{station_id}/local-list/sync"),
            ("GET", f"/stations/{station_id}/local-list"),
        ):
            answer = await api.request(method, path, headers=bearer(stranger))
            assert answer.status_code == 404, (path, answer.text)
