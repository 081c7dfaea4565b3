"""CPU per frame of the gateway's websocket layer, websockets' way and the
gateway's (csms/gateway/frames.py).

    python -m benchmarks.websocket_frames            # 200,000 frames, best of 5
    python -m benchmarks.websocket_frames --frames 20000 --runs 3

One websockets server on 127.0.0.1, port 0, and one client connection to it
per server class. Received: a charger's MeterValues (a masked text frame of
the gateway benchmark's size) is handed to the server connection's
``data_received`` and the message taken, as the gateway's transport takes
it: websockets' ``recv`` on its ``ServerConnection``, ``next_message`` on
the gateway's ``FramesConnection``. Sent: an answer written the way the gateway wrote it
before (websockets' ``send_text`` and ``send_data``) and the way it writes it
now (``text_frame`` and one ``write``), into a transport that discards the
bytes, so that only the Python work is timed, not the system call.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Callable

from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

from csms.gateway.frames import FramesConnection, text_frame

CALL = (
    b'[2,"123456","MeterValues",{"connectorId":1,"transactionId":17,"meterValue":'
    b'[{"timestamp":"2026-12-07T10:00:00Z","sampledValue":[{"value":"1234.5",'
    b'"measurand":"Energy.Active.Import.Register","unit":"Wh"},{"value":"7000",'
    b'"measurand":"Power.Active.Import","unit":"W"}]}]}]'
)
ANSWER = b'[3,"123456",{}]'


def masked_text_frame(payload: bytes) -> bytes:
    """A client's text frame: masked, as a charger sends it."""
    mask = os.urandom(4)
    length = len(payload)
    if length < 126:
        head = bytes((0x81, 0x80 | length))
    else:
        head = bytes((0x81, 0x80 | 126)) + length.to_bytes(2, "big")
    return head + mask + bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))


class _DiscardingTransport:
    def write(self, data: bytes) -> None:
        pass

    def writelines(self, data: object) -> None:
        pass


async def _best(runs: int, frames: int, one: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        for _ in range(frames):
            one()
        best = min(best, time.perf_counter() - started)
    return best / frames * 1e6


async def _measure(kind: type[ServerConnection], frames: int, runs: int) -> dict[str, float]:
    connections: list[ServerConnection] = []
    opened = asyncio.Event()
    done = asyncio.Event()

    async def hold(connection: ServerConnection) -> None:
        connections.append(connection)
        opened.set()
        await done.wait()

    async with serve(
        hold, "127.0.0.1", 0, create_connection=kind, compression=None, max_queue=None
    ) as server:
        port = server.sockets[0].getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}/", compression=None):
            await opened.wait()
            connection = connections[0]
            frame = masked_text_frame(CALL)
            if isinstance(connection, FramesConnection):
                take = connection.next_message
            else:

                async def take() -> bytes:
                    message = await connection.recv(decode=False)
                    assert isinstance(message, bytes)
                    return message

            received = float("inf")
            for _ in range(runs):
                started = time.perf_counter()
                for _ in range(frames):
                    connection.data_received(frame)
                    await take()
                received = min(received, time.perf_counter() - started)
            figures = {"received": received / frames * 1e6}

            real = connection.transport
            connection.transport = _DiscardingTransport()  # type: ignore[assignment]
            try:
                if kind is ServerConnection:

                    def send() -> None:
                        connection.protocol.send_text(ANSWER)
                        connection.send_data()

                else:
                    write = connection.transport.write

                    def send() -> None:
                        write(text_frame(ANSWER))

                figures["sent"] = await _best(runs, frames, send)
            finally:
                connection.transport = real
            done.set()
    return figures


async def _main(frames: int, runs: int) -> None:
    print(f"{frames:,} frames per run, best of {runs}; µs of CPU per frame")
    print("| path | received (data_received, message taken) | sent (an answer) |")
    print("|---|---:|---:|")
    for label, kind in (
        ("websockets (ServerConnection)", ServerConnection),
        ("gateway (FramesConnection, text_frame)", FramesConnection),
    ):
        figures = await _measure(kind, frames, runs)
        print(f"| {label} | {figures['received']:.2f} | {figures['sent']:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(_main(args.frames, args.runs))


if __name__ == "__main__":
    main()
