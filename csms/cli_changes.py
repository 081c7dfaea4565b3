"""Changes made through the CLI, announced to the running nodes.

A CLI command runs in a process of its own, so its changes reach the nodes'
authorisation caches only through the bus: with Redis (``CSMS_REDIS_URL``)
they count at once on every node; without it no other process can hear
them, and the nodes pick them up within the cache's entry age (a minute).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from crm.changes import IgnoreChanges
from csms.domain.invalidation import BroadcastInvalidation
from csms.settings import Settings

log = logging.getLogger(__name__)

APPLIED_NOW = "running nodes apply it now"
APPLIED_LATER = "running nodes apply it within a minute"


class IgnoreAllChanges(IgnoreChanges):
    """Nobody to tell: neither CRM nor station changes go anywhere."""

    def stations_changed(self, station_pks: frozenset[int] | None) -> None:
        pass


@contextlib.asynccontextmanager
async def announced_changes(
    settings: Settings,
) -> AsyncIterator[BroadcastInvalidation | IgnoreAllChanges]:
    """A change listener for the services a CLI command uses; every change
    is published before the block's exit returns."""
    if not settings.redis_url:
        yield IgnoreAllChanges()
        return
    from csms.messaging.redis_bus import RedisBus

    bus = RedisBus(settings.redis_url, prefix=settings.redis_prefix)
    try:
        await bus.start()
    except Exception as error:
        # The change itself must not fail for it: the caches age out.
        log.warning("Redis unreachable (%s); %s", error, APPLIED_LATER)
        await bus.stop()
        yield IgnoreAllChanges()
        return
    announcer = BroadcastInvalidation(bus, f"cli-{os.getpid()}")
    try:
        yield announcer
    finally:
        await announcer.flush()
        await bus.stop()


def when_applied(listener: object) -> str:
    """What to tell the operator about when running nodes see the change."""
    return APPLIED_NOW if isinstance(listener, BroadcastInvalidation) else APPLIED_LATER


def run_announcing(
    settings: Settings,
    main: Callable[[BroadcastInvalidation | IgnoreAllChanges], Coroutine[Any, Any, int]],
) -> int:
    """Runs a CLI command's coroutine with a change listener for its services."""
    from csms.cli import _run_async

    async def run() -> int:
        async with announced_changes(settings) as changes:
            return await main(changes)

    return _run_async(run)
