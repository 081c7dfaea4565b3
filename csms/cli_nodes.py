"""``csms node``: the running gateway processes of a many-node installation
(they need Redis, ``CSMS_REDIS_URL``).

- ``csms node drain NAME [--seconds S]``: the node stops accepting chargers,
  moves its chargers to the other nodes over S seconds (default: its
  ``CSMS_DRAIN_SECONDS``, or 30) and exits.
- ``csms node locate STATION``: which node holds the station's socket.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from csms.settings import Settings


def cmd_node(args: argparse.Namespace, settings: Settings) -> int:
    from csms.cli import CommandError, _run_async

    if not settings.redis_url:
        raise CommandError("nodes talk over Redis: set CSMS_REDIS_URL to the one the gateways use")
    redis_url = settings.redis_url

    async def drain() -> int:
        from csms.gateway.draining import DrainRequest, drain_topic, encode_request
        from csms.messaging.redis_bus import RedisBus

        bus = RedisBus(redis_url, prefix=settings.redis_prefix)
        await bus.start()
        try:
            receivers = await bus.publish(
                drain_topic(args.name), encode_request(DrainRequest(args.seconds))
            )
        finally:
            await bus.stop()
        if receivers == 0:
            raise CommandError(f"no running gateway is named {args.name}")
        over = f"over {args.seconds:.0f} s" if args.seconds is not None else "over its drain time"
        print(
            f"node {args.name} is draining: its chargers move to other nodes {over}, then it exits"
        )
        return 0

    async def locate() -> int:
        from csms.messaging.redis_directory import RedisNodeDirectory

        directory = RedisNodeDirectory(redis_url, settings.node_name, prefix=settings.redis_prefix)
        await directory.start()
        try:
            node = await directory.locate(args.station)
        finally:
            await directory.stop()
        if node is None:
            raise CommandError(f"no node holds a connection of {args.station}")
        print(node)
        return 0

    return _run_async(drain if args.node_command == "drain" else locate)


def register(commands: Any, listing: Callable[[argparse.ArgumentParser], None]) -> None:
    node = commands.add_parser(
        "node", help="the running gateway processes (many nodes, over Redis)"
    )
    sub = node.add_subparsers(dest="node_command", required=True)
    drain = sub.add_parser(
        "drain",
        help="move a gateway's chargers to the other nodes and stop it (for a deploy)",
        description="The node refuses new connections (its /healthz answers 503), closes "
        "its chargers' sockets with 1012 in batches over the drain time, and exits.",
    )
    drain.add_argument("name", help="the node's CSMS_NODE_NAME")
    drain.add_argument(
        "--seconds",
        type=float,
        help="spread the disconnects over this long (default: the node's "
        "CSMS_DRAIN_SECONDS, or 30)",
    )
    locate = sub.add_parser("locate", help="which node holds a station's connection")
    locate.add_argument("station", help="charge point id")
    node.set_defaults(run=cmd_node)
