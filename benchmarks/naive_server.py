"""The naive baseline of the gateway benchmark: a central system written the
way the ``ocpp`` library's own examples do it.

    python -m benchmarks.naive_server [--port 0]

A ``ocpp.v16.ChargePoint`` subclass per connection with ``@on`` handlers for
BootNotification, Heartbeat, StatusNotification, StartTransaction and
MeterValues (the library validates every
payload against the JSON schemas), served by ``websockets.serve`` with the
``ocpp1.6`` subprotocol. Nothing is persisted. Prints
``READY ws://127.0.0.1:PORT/ocpp`` once it listens; stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from datetime import UTC, datetime
from typing import Any

from ocpp.routing import on
from ocpp.v16 import ChargePoint as BaseChargePoint
from ocpp.v16 import call_result
from ocpp.v16.enums import Action, RegistrationStatus
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from benchmarks.measure import raise_file_limit


class ChargePoint(BaseChargePoint):
    @on(Action.boot_notification)
    async def on_boot_notification(
        self, charge_point_vendor: str, charge_point_model: str, **kwargs: Any
    ) -> call_result.BootNotification:
        return call_result.BootNotification(
            current_time=datetime.now(UTC).isoformat(),
            interval=300,
            status=RegistrationStatus.accepted,
        )

    @on(Action.heartbeat)
    async def on_heartbeat(self, **kwargs: Any) -> call_result.Heartbeat:
        return call_result.Heartbeat(current_time=datetime.now(UTC).isoformat())

    @on(Action.status_notification)
    async def on_status_notification(self, **kwargs: Any) -> call_result.StatusNotification:
        return call_result.StatusNotification()

    @on(Action.start_transaction)
    async def on_start_transaction(
        self, connector_id: int, id_tag: str, meter_start: int, timestamp: str, **kwargs: Any
    ) -> call_result.StartTransaction:
        self.transactions = getattr(self, "transactions", 0) + 1
        return call_result.StartTransaction(
            transaction_id=self.transactions, id_tag_info={"status": "Accepted"}
        )

    @on(Action.meter_values)
    async def on_meter_values(
        self, connector_id: int, meter_value: list[dict[str, Any]], **kwargs: Any
    ) -> call_result.MeterValues:
        return call_result.MeterValues()


async def on_connect(websocket: ServerConnection) -> None:
    charge_point_id = websocket.request.path.strip("/").split("/")[-1] if websocket.request else ""
    charge_point = ChargePoint(charge_point_id, websocket)
    with contextlib.suppress(ConnectionClosed):
        await charge_point.start()


async def main_async(host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # As in the library's examples: websockets' defaults (keepalive pings
    # every 20 s; permessage-deflate offered, unused as the clients do not
    # ask for it). Only the listen backlog is raised, for the connect phase.
    async with serve(
        on_connect,
        host,
        port,
        subprotocols=["ocpp1.6"],  # type: ignore[list-item]
        backlog=16384,
    ) as server:
        bound = server.sockets[0].getsockname()[1]
        print(f"READY ws://{host}:{bound}/ocpp", flush=True)
        await stop.wait()
        server.close(close_connections=False)


def main() -> None:
    parser = argparse.ArgumentParser(description="the benchmark's naive ocpp-library server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    raise_file_limit()
    # The library logs every frame at INFO.
    logging.basicConfig(level=logging.WARNING)
    try:
        import uvloop
    except ImportError:
        asyncio.run(main_async(args.host, args.port))
    else:
        uvloop.run(main_async(args.host, args.port))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
