"""Commands while the node directory (Redis) cannot be reached: a real node
whose command service asks a directory that fails like an unreachable Redis,
driven through the operators' REST API over HTTP."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from csms.bootstrap import Node
from csms.domain.credentials import hash_secret
from csms.tables import Station
from simulators.ocpp16 import connect16
from tests.e2e.command_helpers import add_station, operator_api
from tests.e2e.conftest import StartNode, ocpp_url
from tests.world import admin_token, make_entity

REFUSED = "Error 111 connecting to 127.0.0.1:6379. Connection refused."


class UnreachableDirectory:
    """A node directory whose every lookup fails as redis-py's does."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def locate(self, charge_point_id: str) -> str | None:
        self.asked.append(charge_point_id)
        raise ConnectionError(REFUSED)


async def _node_without_directory(start_node: StartNode) -> tuple[Node, UnreachableDirectory]:
    node = await start_node()
    directory = UnreachableDirectory()
    node.commands.locator = directory
    return node, directory


def _directory_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        record
        for record in caplog.records
        if record.levelno >= logging.WARNING and "node directory" in record.getMessage()
    ]


async def test_a_command_for_a_station_elsewhere_is_503_naming_the_directory(
    start_node: StartNode, caplog: pytest.LogCaptureFixture
) -> None:
    """A command for a station this node does not hold, with the directory
    unreachable, is a 503 with Retry-After saying the node directory is
    unreachable and to retry (not a 500), logged once as a warning."""
    node, directory = await _node_without_directory(start_node)
    operator = await make_entity("Operator")
    station = await add_station("CP-AWAY", operator)
    caplog.set_level(logging.INFO)
    async with operator_api(node, await admin_token(operator)) as api:
        answer = await api.post(f"/stations/{station}/commands/clear-cache", json={})
    assert answer.status_code == 503, answer.text
    assert answer.headers["retry-after"] == "5"
    detail = answer.json()["detail"]
    assert "node directory is unreachable" in detail and "retry" in detail
    assert "CP-AWAY" in detail and REFUSED in detail
    assert directory.asked == ["CP-AWAY"]
    [warning] = _directory_warnings(caplog)
    assert warning.levelno == logging.WARNING and "ClearCache" in warning.getMessage()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_local_list_and_security_commands_are_503_and_leave_the_secret_alone(
    start_node: StartNode,
) -> None:
    """The endpoints that send commands on the way (local-list sync, a new
    basic-auth secret) answer the same 503; the new secret, never sent, is
    not admitted beside the station's own."""
    node, _ = await _node_without_directory(start_node)
    operator = await make_entity("Operator")
    station = await add_station("CP-AWAY", operator)
    await (
        Station.update({Station.auth_secret_hash: hash_secret("the-old-secret-1234")})
        .where(Station.id == station)
        .run()
    )
    async with operator_api(node, await admin_token(operator)) as api:
        synced = await api.post(f"/stations/{station}/local-list/sync")
        changed = await api.post(
            f"/stations/{station}/security/basic-auth", json={"secret": "the-new-secret-5678"}
        )
        state = await api.get(f"/stations/{station}/security")
    for answer in (synced, changed):
        assert answer.status_code == 503, answer.text
        assert "node directory is unreachable" in answer.json()["detail"]
    assert state.status_code == 200, state.text
    assert state.json()["has_secret"] is True
    assert state.json()["previous_secret_admitted"] is False


async def test_a_station_this_node_holds_is_reached_without_the_directory(
    start_node: StartNode,
) -> None:
    """With the directory unreachable, a command for a station connected to
    this node is sent and answered as ever; the directory is not asked."""
    node, directory = await _node_without_directory(start_node)
    operator = await make_entity("Operator")
    station = await add_station("CP-HERE", operator)
    async with (
        connect16(ocpp_url(node), "CP-HERE") as cp,
        operator_api(node, await admin_token(operator)) as api,
    ):
        await cp.boot()
        answer = await api.post(f"/stations/{station}/commands/clear-cache", json={})
    assert answer.status_code == 200, answer.text
    assert (answer.json()["result"], answer.json()["status"]) == ("answered", "Accepted")
    assert directory.asked == []


class BusDown:
    """The directory names another node; the bus cannot take the request."""

    async def locate(self, charge_point_id: str) -> str | None:
        return "node-elsewhere"

    async def execute_on(
        self, node: str, charge_point_id: str, command: Any, timeout: float
    ) -> Any:
        raise ConnectionError(REFUSED)


async def test_a_command_the_bus_cannot_take_is_503_naming_the_node(
    start_node: StartNode,
) -> None:
    """The directory names another node but the bus to it fails: 503 with
    Retry-After naming that node, not a 500."""
    node = await start_node()
    node.commands.locator = node.commands.remote = BusDown()
    operator = await make_entity("Operator")
    station = await add_station("CP-AWAY", operator)
    async with operator_api(node, await admin_token(operator)) as api:
        answer = await api.post(f"/stations/{station}/commands/clear-cache", json={})
    assert answer.status_code == 503, answer.text
    assert answer.headers["retry-after"] == "5"
    detail = answer.json()["detail"]
    assert "node node-elsewhere" in detail and "could not be reached" in detail
