"""Repeated identical errors summarised instead of flooding the log.

A database outage fails every charger's call the same way: issue 14 counted
10,000 tracebacks in 20 s. ``RepeatSummary`` is a logging filter that lets
the first record of a kind through (with its traceback), holds back the
records like it for ``interval`` seconds, and then lets one line through:
the next such record, shortened to its message with "(N more like this in
the last X s)" and without its traceback. A kind is the logger, the level,
the message template (not its arguments: "station %s: %s failed" of a
thousand stations is one kind) and the exception's type.

``summarise(*loggers)`` attaches one filter to each named logger (once).
Records below WARNING are never held back.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable

# Kinds remembered at once; the oldest is forgotten first.
MAX_KINDS = 1000
DEFAULT_INTERVAL = 10.0

# The loggers whose errors repeat per call or per batch in a storage outage.
OUTAGE_LOGGERS = (
    "csms.domain.group_commit",
    "csms.protocol.rpc",
    "csms.protocol.serving",
    "csms.bootstrap",
)


class _Window:
    __slots__ = ("held", "started")

    def __init__(self, started: float) -> None:
        self.started = started
        self.held = 0


class RepeatSummary(logging.Filter):
    """Holds back records like one already logged within ``interval`` s."""

    def __init__(
        self,
        interval: float = DEFAULT_INTERVAL,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_kinds: int = MAX_KINDS,
    ) -> None:
        super().__init__()
        self.interval = interval
        self._clock = clock
        self._max_kinds = max_kinds
        self._windows: OrderedDict[tuple[object, ...], _Window] = OrderedDict()
        self.held_back = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        error = record.exc_info[0] if record.exc_info else None
        key = (record.name, record.levelno, str(record.msg), error)
        now = self._clock()
        window = self._windows.get(key)
        if window is None:
            self._remember(key, _Window(now))
            return True
        if now - window.started < self.interval:
            window.held += 1
            self.held_back += 1
            return False
        # The interval is over: this record stands for those held back.
        held, seconds = window.held, now - window.started
        self._windows.move_to_end(key)
        window.started, window.held = now, 0
        if held:
            record.msg = (
                f"{record.getMessage()} ({held} more like this in the last {seconds:.0f} s)"
            )
            record.args = None
            record.exc_info = None
            record.exc_text = None
            record.stack_info = None
        return True

    def _remember(self, key: tuple[object, ...], window: _Window) -> None:
        self._windows[key] = window
        while len(self._windows) > self._max_kinds:
            self._windows.popitem(last=False)


def summarise(*names: str, interval: float = DEFAULT_INTERVAL) -> list[RepeatSummary]:
    """Attaches a RepeatSummary to each named logger that has none yet;
    returns the filters of those loggers."""
    filters = []
    for name in names:
        logger = logging.getLogger(name)
        existing = [f for f in logger.filters if isinstance(f, RepeatSummary)]
        if existing:
            filters.append(existing[0])
            continue
        summary = RepeatSummary(interval)
        logger.addFilter(summary)
        filters.append(summary)
    return filters
