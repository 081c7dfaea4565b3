"""Shared by the remote-command end-to-end tests: stations, the operators'
API over HTTP, waiting for what the charger reports."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from csms.bootstrap import Node
from csms.tables import ChargingSession, Station, StationEvent
from tests.world import bearer


async def wait_until(predicate: Callable[[], Awaitable[bool]]) -> None:
    """Until the condition holds (the test's own timeout bounds it)."""
    while not await predicate():  # noqa: ASYNC110 - a database row, no event to wait on
        await asyncio.sleep(0.02)


@asynccontextmanager
async def operator_api(node: Node, token: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{node.http_port}/api/v1", headers=bearer(token), timeout=30
    ) as api:
        yield api


async def add_station(charge_point_id: str, owner: int | None = None) -> int:
    """A registered, accepted station (owned by ``owner``); its API id."""
    now = datetime.now(UTC)
    (row,) = (
        await Station.insert(
            Station(
                charge_point_id=charge_point_id,
                owner_entity=owner,
                registration_status="Accepted",
                created_at=now,
                updated_at=now,
            )
        )
        .returning(Station.id)
        .run()
    )
    return int(row["id"])


class Commands:
    """The command endpoints of one station."""

    def __init__(self, api: httpx.AsyncClient, station_id: int) -> None:
        self.api, self.station_id = api, station_id

    async def command(
        self, name: str, body: dict[str, Any] | None = None, **params: Any
    ) -> httpx.Response:
        return await self.api.post(
            f"/stations/{self.station_id}/commands/{name}", json=body, params=params
        )

    async def answered(self, name: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.command(name, body)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        assert result["result"] == "answered", result
        return result


async def events(station_id: int, kind: str) -> list[dict[str, Any]]:
    rows = (
        await StationEvent.select(StationEvent.data)
        .where((StationEvent.station == station_id) & (StationEvent.kind == kind))
        .order_by(StationEvent.id)
        .run()
    )
    return [r["data"] if isinstance(r["data"], dict) else json.loads(r["data"]) for r in rows]


async def session_of(station_id: int, id_tag: str, status: str = "active") -> dict[str, Any] | None:
    row: dict[str, Any] | None = (
        await ChargingSession.select()
        .where(
            (ChargingSession.station == station_id)
            & (ChargingSession.id_tag == id_tag)
            & (ChargingSession.status == status)
        )
        .first()
        .run()
    )
    return row


async def session_status(session_id: int) -> dict[str, Any]:
    row = await ChargingSession.select().where(ChargingSession.id == session_id).first().run()
    assert row is not None
    return dict(row)


def root_certificate() -> str:
    """A self-signed CA certificate (PEM), valid for a day."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test CSMS Root")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode()
