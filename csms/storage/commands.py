"""What remote commands read from the database: the charger's own
transaction id of a session (2.0.1 transactionId)."""

from __future__ import annotations

from typing import cast

from piccolo.columns import Varchar

from csms.tables import ChargingSession


class PiccoloChargerTransactions:
    async def charger_transaction_id(self, charge_point_id: str, session_id: int) -> str | None:
        """The session's ``charger_transaction_id`` if the session is that
        station's and has one."""
        station_id = cast(Varchar, ChargingSession.station.charge_point_id)
        row = (
            await ChargingSession.select(ChargingSession.charger_transaction_id)
            .where((ChargingSession.id == session_id) & (station_id == charge_point_id))
            .first()
            .run()
        )
        if row is None or not row["charger_transaction_id"]:
            return None
        return str(row["charger_transaction_id"])

    async def session_status(self, charge_point_id: str, session_id: int) -> str | None:
        """The session's status if it is that station's, else None."""
        station_id = cast(Varchar, ChargingSession.station.charge_point_id)
        row = (
            await ChargingSession.select(ChargingSession.status)
            .where((ChargingSession.id == session_id) & (station_id == charge_point_id))
            .first()
            .run()
        )
        return None if row is None else str(row["status"])
