"""Housekeeping queries: presence after a restart, message log retention,
and reading the message log."""

from __future__ import annotations

from datetime import datetime

import msgspec

from crm.clock import utcnow
from csms.tables import OcppMessage, Station


class MessageView(msgspec.Struct, frozen=True):
    logged_at: datetime
    direction: str
    message_type: int
    unique_id: str
    action: str
    payload: str


class PiccoloMaintenance:
    async def reset_presence(self, node: str) -> int:
        """Stations this node held when it stopped are not connected now."""
        rows = (
            await Station.update(
                {Station.connected: False, Station.connected_node: "", Station.updated_at: utcnow()}
            )
            .where((Station.connected_node == node) | (Station.connected_node == ""))
            .where(Station.connected.eq(True))
            .returning(Station.id)
            .run()
        )
        return len(rows)

    async def prune_message_log(self, before: datetime) -> int:
        count = await OcppMessage.count().where(OcppMessage.logged_at < before).run()
        if count:
            await OcppMessage.delete().where(OcppMessage.logged_at < before).run()
        return int(count)

    async def messages(self, charge_point_id: str, *, limit: int = 50) -> list[MessageView]:
        rows = (
            await OcppMessage.select(
                OcppMessage.logged_at,
                OcppMessage.direction,
                OcppMessage.message_type,
                OcppMessage.unique_id,
                OcppMessage.action,
                OcppMessage.payload,
            )
            .where(OcppMessage.station.charge_point_id == charge_point_id)
            .order_by(OcppMessage.id, ascending=False)
            .limit(limit)
            .run()
        )
        return [MessageView(**row) for row in reversed(rows)]
