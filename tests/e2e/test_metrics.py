"""Prometheus metrics: what the gateway does, scraped over real HTTP."""

from __future__ import annotations

import json

import httpx
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from csms.bootstrap import Node
from csms.storage.stations import PiccoloStationAdmin
from tests.e2e.conftest import ocpp_url

BOOT = {"chargePointVendor": "Acme", "chargePointModel": "M"}


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the exposition, by name and sorted labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def _scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with httpx.AsyncClient() as client:
        response = await client.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return _samples(response.text)


async def test_metrics_count_connections_calls_errors_and_commits(node: Node) -> None:
    """After a boot, a heartbeat, a malformed frame, a payload error and a
    refused handshake, /metrics on the web app shows one connected station,
    the calls per action, the CALLERRORs by code, the refusal and the commits;
    made-up actions are counted under one label, not one each."""
    await PiccoloStationAdmin().add("CP-METRICS")
    try:
        async with connect(f"{ocpp_url(node)}/CP-NOBODY", subprotocols=["ocpp1.6"]):  # type: ignore[list-item]
            pass
    except InvalidStatus as refused:
        assert refused.response.status_code == 404
    async with connect(f"{ocpp_url(node)}/CP-METRICS", subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
        for frame in (
            [2, "b1", "BootNotification", BOOT],
            [2, "h1", "Heartbeat", {}],
            [2, "a1", "Authorize", {"idTag": 12345}],
            [2, "u1", "MadeUpAction-1", {}],
            [2, "u2", "MadeUpAction-2", {}],
        ):
            await ws.send(json.dumps(frame))
            await ws.recv()
        await ws.send("not json")
        await ws.recv()
        metrics = await _scrape(f"http://127.0.0.1:{node.http_port}/metrics")

    assert metrics[("csms_stations_connected", ())] == 1
    assert metrics[("csms_ocpp_connections_opened_total", (("protocol", "ocpp1.6"),))] == 1
    assert metrics[("csms_ocpp_handshakes_refused_total", (("reason", "unknown_station"),))] == 1
    for action in ("BootNotification", "Heartbeat", "Authorize"):
        assert metrics[("csms_ocpp_call_duration_seconds_count", (("action", action),))] == 1
    errors = (("action", "Authorize"), ("code", "TypeConstraintViolation"))
    assert metrics[("csms_ocpp_callerrors_total", errors)] == 1
    assert metrics[("csms_ocpp_frames_rejected_total", (("code", "FormatViolation"),))] == 1
    unknown = (("action", "(unknown)"), ("code", "NotImplemented"))
    assert metrics[("csms_ocpp_callerrors_total", unknown)] == 2
    assert not any("MadeUpAction" in str(labels) for _, labels in metrics)
    assert metrics[("csms_write_batch_groups_count", ())] >= 1
    assert metrics[("csms_write_commit_duration_seconds_count", ())] >= 1
    assert ("csms_write_queue_groups", ()) in metrics


async def test_the_ocpp_port_answers_health_checks_and_metrics(node: Node) -> None:
    """A load balancer's plain GET /healthz on the OCPP port gets 200, and
    /metrics there serves the same metrics for a gateway run without the web
    app; other paths are 404."""
    base = f"http://127.0.0.1:{node.ocpp_port}"
    async with httpx.AsyncClient(base_url=base) as client:
        health = await client.get("/healthz")
        other = await client.get("/nothing")
    assert (health.status_code, health.text) == (200, "ok\n")
    assert other.status_code == 404
    metrics = await _scrape(f"{base}/metrics")
    assert metrics[("csms_stations_connected", ())] == 0
