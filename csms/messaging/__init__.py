"""Implementations of :class:`csms.domain.bus.Bus`."""

from __future__ import annotations

from csms.domain.bus import Bus


def bus_from_url(url: str | None) -> Bus:
    """Redis when a URL is set, else in-process."""
    if url:
        from csms.messaging.redis_bus import RedisBus

        return RedisBus(url)
    from csms.messaging.in_process import InProcessBus

    return InProcessBus()
