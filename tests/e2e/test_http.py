"""The HTTP side: liveness and readiness, over real HTTP and the test client."""

from __future__ import annotations

import httpx
import pytest
from litestar.testing import AsyncTestClient

from admin_ui.app import create_app
from csms.bootstrap import Node


async def test_health_endpoints_answer_over_http(node: Node) -> None:
    """/healthz says the process is alive; /readyz that the database answers."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{node.http_port}") as client:
        alive = await client.get("/healthz")
        ready = await client.get("/readyz")
    assert alive.status_code == 200
    assert alive.json() == {"status": "ok"}
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"database": "ok", "gateway": "ok"}}


async def test_readyz_is_503_when_the_database_is_gone(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the database does not answer, /readyz says 503 and why."""

    async def unreachable() -> None:
        raise ConnectionRefusedError("connection refused")

    monkeypatch.setattr("csms.bootstrap.ping", unreachable)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{node.http_port}") as client:
        ready = await client.get("/readyz")
        alive = await client.get("/healthz")
    assert ready.status_code == 503
    assert ready.json()["status"] == "unavailable"
    assert "ConnectionRefusedError" in ready.json()["checks"]["database"]
    assert alive.status_code == 200


async def test_unknown_paths_are_404_with_a_message() -> None:
    """A path the app does not serve is a 404 with a JSON message, not a 500."""

    async def ready() -> dict[str, str]:
        return {"database": "ok"}

    async with AsyncTestClient(app=create_app(readiness=ready, metrics=lambda: b"")) as client:
        response = await client.get("/no/such/page")
    assert response.status_code == 404
    assert response.json()["detail"]
