"""Implementations of :class:`csms.domain.bus.Bus`."""

from __future__ import annotations

from csms.domain.bus import Bus


def bus_from_url(url: str | None, prefix: str = "csms:") -> Bus:
    """Redis when a URL is set (channels named ``{prefix}{topic}``), else
    in-process."""
    if url:
        from csms.messaging.redis_bus import RedisBus

        return RedisBus(url, prefix=prefix)
    from csms.messaging.in_process import InProcessBus

    return InProcessBus()
