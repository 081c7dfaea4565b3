"""Firmware hosting and the upload endpoint for diagnostics and logs, end to
end: a real node, the operators' API and the charger-facing /files URLs over
real HTTP, the OCPP 1.6 simulator receiving the commands."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx

from crm.clock import utcnow
from csms.bootstrap import Node
from csms.storage.stations import PiccoloStationAdmin
from simulators.ocpp16 import ChargePoint16, connect16
from tests.e2e.command_helpers import wait_until
from tests.e2e.conftest import StartNode, ocpp_url
from tests.world import admin_token, bearer, make_entity, make_group, make_user, token_for

IMAGE = os.urandom(300_000)


@asynccontextmanager
async def world(
    node: Node, charge_point_id: str = "CP-FW"
) -> AsyncIterator[tuple[httpx.AsyncClient, ChargePoint16, int]]:
    """An operator's booted 1.6 station; the API as the operator's admin."""
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
        yield api, charger, station["id"]


async def upload_image(api: httpx.AsyncClient, content: bytes = IMAGE) -> dict[str, Any]:
    answer = await api.post(
        "/firmware",
        files={"file": ("fw-2.1.bin", content, "application/octet-stream")},
        data={"description": "release 2.1"},
    )
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def spy(charger: ChargePoint16, action: str) -> list[dict[str, Any]]:
    """Records the payloads of calls ``action`` the charger receives."""
    seen: list[dict[str, Any]] = []
    original = charger.route_map[action]["_on_action"]

    def recording(**kwargs: Any) -> Any:
        seen.append(kwargs)
        return original(**kwargs)

    charger.route_map[action]["_on_action"] = recording
    return seen


async def stranger_headers() -> dict[str, str]:
    other = await make_entity("Other")
    group = await make_group(other, scope="own")
    return bearer(await token_for(await make_user([other], [group]), other))


async def test_an_uploaded_image_has_its_sha256_and_downloads_whole(node: Node) -> None:
    """POST /firmware stores it; its URL (no login) gives back the same bytes."""
    async with world(node) as (api, _charger, _station_id):
        firmware = await upload_image(api)
        assert firmware["sha256"] == hashlib.sha256(IMAGE).hexdigest()
        assert firmware["size"] == len(IMAGE) and firmware["filename"] == "fw-2.1.bin"
        assert firmware["url"].startswith(f"http://127.0.0.1:{node.http_port}/files/firmware/")
        async with httpx.AsyncClient() as charger_http:
            answer = await charger_http.get(firmware["url"])
        assert answer.status_code == 200 and answer.content == IMAGE
        assert answer.headers["accept-ranges"] == "bytes"
        listed = (await api.get("/firmware")).json()
        assert [f["id"] for f in listed["items"]] == [firmware["id"]]


async def test_head_and_range_requests_let_a_charger_resume(node: Node) -> None:
    """HEAD: the size, no body; Range: 206 with exactly those bytes; a range
    past the end: 416; a made-up token: 404."""
    async with world(node) as (api, _charger, _station_id):
        url = (await upload_image(api))["url"]
        async with httpx.AsyncClient() as http:
            head = await http.head(url)
            assert head.status_code == 200 and head.content == b""
            assert int(head.headers["content-length"]) == len(IMAGE)
            middle = await http.get(url, headers={"Range": "bytes=1000-1999"})
            assert middle.status_code == 206 and middle.content == IMAGE[1000:2000]
            assert middle.headers["content-range"] == f"bytes 1000-1999/{len(IMAGE)}"
            rest = await http.get(url, headers={"Range": "bytes=299000-"})
            assert rest.status_code == 206 and rest.content == IMAGE[299000:]
            tail = await http.get(url, headers={"Range": "bytes=-10"})
            assert tail.status_code == 206 and tail.content == IMAGE[-10:]
            beyond = await http.get(url, headers={"Range": f"bytes={len(IMAGE)}-"})
            assert beyond.status_code == 416
            assert beyond.headers["content-range"] == f"bytes */{len(IMAGE)}"
            made_up = url.replace("/files/firmware/", "/files/firmware/x", 1)
            assert (await http.get(made_up)).status_code == 404


async def test_a_firmware_update_sends_the_download_url_that_serves_the_image(
    node: Node,
) -> None:
    """UpdateFirmware reaches the charger with the image's URL; fetching that
    URL gives the image; the charger's answer comes back."""
    async with world(node) as (api, charger, station_id):
        firmware = await upload_image(api)
        calls = spy(charger, "UpdateFirmware")
        sent = await api.post(
            f"/stations/{station_id}/firmware-update",
            json={"firmware_id": firmware["id"], "retrieve_at": "2026-01-01T00:00:00Z"},
        )
        assert sent.status_code == 200, sent.text
        assert sent.json()["outcome"]["result"] == "answered", sent.text
        (call,) = calls
        assert call["location"] == firmware["url"] == sent.json()["location"]
        async with httpx.AsyncClient() as charger_http:
            assert (await charger_http.get(call["location"])).content == IMAGE


async def test_a_log_request_gives_the_charger_a_location_its_upload_lands_in(
    node: Node,
) -> None:
    """GetDiagnostics carries the slot's location; a multipart POST and a raw
    PUT (with a file name) to it are stored, listed and downloadable."""
    async with world(node) as (api, charger, station_id):
        calls = spy(charger, "GetDiagnostics")
        made = await api.post(f"/stations/{station_id}/log-requests", json={"kind": "diagnostics"})
        assert made.status_code == 201, made.text
        location = made.json()["slot"]["location"]
        (call,) = calls
        assert call["location"] == location
        async with httpx.AsyncClient() as charger_http:
            posted = await charger_http.post(
                location, files={"diagfile": ("diag.zip", b"PK-zipped-log", "application/zip")}
            )
            assert posted.status_code == 201, posted.text
            put = await charger_http.put(location + "second.log", content=b"line 1\nline 2\n")
            assert put.status_code == 201, put.text
        uploads = (await api.get(f"/stations/{station_id}/uploads")).json()
        # (A simulator that uploads its own diagnostics adds a third file.)
        by_name = {u["filename"]: u for u in uploads}
        assert {"diag.zip": 13, "second.log": 14}.items() <= {
            name: u["size"] for name, u in by_name.items()
        }.items()
        content = await api.get(f"/uploads/{by_name['diag.zip']['id']}/content")
        assert content.status_code == 200 and content.content == b"PK-zipped-log"
        assert by_name["diag.zip"]["sha256"] == hashlib.sha256(b"PK-zipped-log").hexdigest()


async def test_uploads_to_unknown_or_expired_locations_are_404(node: Node) -> None:
    """Once the node's clock is past the slot's expiry the upload is refused,
    as is one to a made-up token."""
    async with world(node) as (api, _charger, station_id):
        made = await api.post(f"/stations/{station_id}/log-requests", json={})
        location = made.json()["slot"]["location"]
        files = node.api.files
        assert files is not None
        hours = files.slot_hours
        files.clock = lambda: utcnow() + timedelta(hours=hours, seconds=1)
        async with httpx.AsyncClient() as http:
            assert (await http.put(location + "late.log", content=b"late")).status_code == 404
            made_up = location.rsplit("/", 2)[0] + "/" + "A" * 43 + "/"
            assert (await http.put(made_up + "who.log", content=b"who")).status_code == 404
        uploads = (await api.get(f"/stations/{station_id}/uploads")).json()
        assert not {"late.log", "who.log"} & {u["filename"] for u in uploads}


async def test_an_upload_over_the_limit_is_refused_and_not_kept(start_node: StartNode) -> None:
    """413, and nothing listed."""
    node = await start_node(upload_max_bytes=100)
    async with world(node) as (api, _charger, station_id):
        location = (await api.post(f"/stations/{station_id}/log-requests", json={})).json()["slot"][
            "location"
        ]
        async with httpx.AsyncClient() as http:
            answer = await http.put(location + "big.log", content=b"x" * 101)
        assert answer.status_code == 413
        uploads = (await api.get(f"/stations/{station_id}/uploads")).json()
        assert "big.log" not in {u["filename"] for u in uploads}


async def test_another_entitys_user_sees_neither_firmware_nor_uploads(node: Node) -> None:
    """Firmware, a station's uploads, an upload's content, the firmware
    update and the log request: 404 for a user of another entity."""
    async with world(node) as (api, _charger, station_id):
        firmware = await upload_image(api, b"tiny image")
        made = await api.post(f"/stations/{station_id}/log-requests", json={})
        async with httpx.AsyncClient() as http:
            location = made.json()["slot"]["location"]
            assert (await http.put(location + "mine.log", content=b"log")).is_success
        uploads = (await api.get(f"/stations/{station_id}/uploads")).json()
        (upload,) = (u for u in uploads if u["filename"] == "mine.log")
        stranger = await stranger_headers()
        for method, path, body in (
            ("GET", f"/firmware/{firmware['id']}", None),
            ("GET", f"/stations/{station_id}/uploads", None),
            ("GET", f"/uploads/{upload['id']}/content", None),
            ("POST", f"/stations/{station_id}/log-requests", {}),
            ("POST", f"/stations/{station_id}/firmware-update", {"firmware_id": firmware["id"]}),
        ):
            answer = await api.request(method, path, headers=stranger, json=body)
            assert answer.status_code == 404, (path, answer.text)
        assert (await api.get("/firmware", headers=stranger)).json()["total"] == 0


async def test_a_firmware_image_over_the_limit_is_refused(start_node: StartNode) -> None:
    """413 and nothing listed."""
    node = await start_node(firmware_max_bytes=1000)
    async with world(node) as (api, _charger, _station_id):
        answer = await api.post("/firmware", files={"file": ("big.bin", b"x" * 1001)})
        assert answer.status_code == 413, answer.text
        assert (await api.get("/firmware")).json()["total"] == 0


async def test_the_16_simulator_downloads_the_image_and_uploads_its_logs(node: Node) -> None:
    """Firmware update: the charger fetches the URL it got (the uploaded
    bytes) and reports Installed; a diagnostics request and a security log
    request (1.6 security extension GetLog): each upload lands in its slot."""

    async def holds(predicate: Callable[[], bool]) -> bool:
        return predicate()

    async with world(node, "CP-REAL") as (api, charger, station_id):
        firmware = await upload_image(api)
        sent = await api.post(
            f"/stations/{station_id}/firmware-update", json={"firmware_id": firmware["id"]}
        )
        assert sent.status_code == 200, sent.text
        await wait_until(lambda: holds(lambda: "Installed" in charger.firmware_statuses))
        (download,) = charger.downloads
        assert download.location == firmware["url"] and download.content == IMAGE

        for kind in ("diagnostics", "security"):
            made = await api.post(f"/stations/{station_id}/log-requests", json={"kind": kind})
            assert made.status_code == 201, made.text
        await wait_until(lambda: holds(lambda: len(charger.uploads) == 2))
        assert all(result.ok for result in charger.uploads), charger.uploads
        uploads = (await api.get(f"/stations/{station_id}/uploads")).json()
        assert sorted(u["kind"] for u in uploads) == ["diagnostics", "security"]
        assert {u["filename"] for u in uploads} == {r.file_name for r in charger.uploads}
