"""The ConcurrentTx check's query (PiccoloActiveSessions.active_elsewhere),
on the database the suite runs on."""

from __future__ import annotations

import pytest

from csms.storage.sessions import PiccoloActiveSessions
from csms.tables import ChargingSession, Station

pytestmark = pytest.mark.usefixtures("db")


async def _station(charge_point_id: str, *, connected: bool) -> int:
    rows = (
        await Station.insert(Station(charge_point_id=charge_point_id, connected=connected))
        .returning(Station.id)
        .run()
    )
    return int(rows[0]["id"])


async def _session(station: int, connector_id: int, id_tag: str, status: str = "active") -> None:
    await ChargingSession.insert(
        ChargingSession(station=station, connector_id=connector_id, id_tag=id_tag, status=status)
    ).run()


async def test_a_tag_charging_at_another_connected_station_is_active_elsewhere() -> None:
    """A session at another connected station counts, whether or not the
    asking station names a connector; a completed session does not."""
    here = await _station("CP-HERE", connected=True)
    there = await _station("CP-THERE", connected=True)
    await _session(there, 1, "TAG-A")
    await _session(there, 2, "TAG-DONE", status="completed")
    sessions = PiccoloActiveSessions()
    assert await sessions.active_elsewhere("TAG-A", station_pk=here, connector_id=1)
    assert await sessions.active_elsewhere("TAG-A", station_pk=here, connector_id=None)
    assert not await sessions.active_elsewhere("TAG-DONE", station_pk=here, connector_id=1)
    assert not await sessions.active_elsewhere("TAG-NONE", station_pk=here, connector_id=1)


async def test_another_connector_of_the_same_station_counts_only_when_named() -> None:
    """At the same station, a session on another connector counts when the
    connector is named (StartTransaction); without one (Authorize) and on
    the same connector (a start sent again) it does not."""
    here = await _station("CP-SAME", connected=True)
    await _session(here, 1, "TAG-B")
    sessions = PiccoloActiveSessions()
    assert await sessions.active_elsewhere("TAG-B", station_pk=here, connector_id=2)
    assert not await sessions.active_elsewhere("TAG-B", station_pk=here, connector_id=1)
    assert not await sessions.active_elsewhere("TAG-B", station_pk=here, connector_id=None)


async def test_a_session_at_a_disconnected_station_does_not_count() -> None:
    """A station offline may have ended its session without saying so: its
    open session does not block the tag elsewhere."""
    here = await _station("CP-ON", connected=True)
    gone = await _station("CP-OFF", connected=False)
    await _session(gone, 1, "TAG-C")
    assert not await PiccoloActiveSessions().active_elsewhere(
        "TAG-C", station_pk=here, connector_id=1
    )
