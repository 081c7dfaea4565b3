"""The ceiling of the gateway benchmark: a bare ``websockets`` server that
answers every call with a CALLRESULT-shaped frame carrying the call's id.

    python -m benchmarks.echo_server [--port 0]

Both OCPP-J subprotocols (1.6 and 2.0.1; the answers are shaped alike). No
JSON parsing, no validation, nothing stored: what is left is the cost of
websockets and asyncio per message. Prints ``READY ws://127.0.0.1:PORT/ocpp``
once it listens; stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from benchmarks.frames import parse_call
from benchmarks.measure import raise_file_limit

BOOT_ANSWER = b'",{"currentTime":"2026-01-01T00:00:00Z","interval":300,"status":"Accepted"}]'
HEARTBEAT_ANSWER = b'",{"currentTime":"2026-01-01T00:00:00Z"}]'
START_ANSWER = b'",{"idTagInfo":{"status":"Accepted"},"transactionId":1}]'
EMPTY_ANSWER = b'",{}]'


async def answer_calls(ws: ServerConnection) -> None:
    try:
        while True:
            data = await ws.recv(decode=False)
            assert isinstance(data, bytes)
            unique_id, action = parse_call(data)
            if action == b"Heartbeat":
                tail = HEARTBEAT_ANSWER
            elif action == b"BootNotification":
                tail = BOOT_ANSWER
            elif action == b"StartTransaction":
                tail = START_ANSWER
            else:
                tail = EMPTY_ANSWER
            await ws.send(b'[3,"' + unique_id + tail, text=True)
    except ConnectionClosed:
        pass


async def main_async(host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with serve(
        answer_calls,
        host,
        port,
        subprotocols=["ocpp1.6", "ocpp2.0.1"],  # type: ignore[list-item]
        compression=None,
        ping_interval=None,
        backlog=16384,
        server_header=None,
    ) as server:
        bound = server.sockets[0].getsockname()[1]
        print(f"READY ws://{host}:{bound}/ocpp", flush=True)
        await stop.wait()
        server.close(close_connections=False)


def main() -> None:
    parser = argparse.ArgumentParser(description="the benchmark's echo server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    raise_file_limit()
    try:
        import uvloop
    except ImportError:
        asyncio.run(main_async(args.host, args.port))
    else:
        uvloop.run(main_async(args.host, args.port))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
