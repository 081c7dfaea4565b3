"""The progress display of a running fleet, on stderr.

On a terminal one line is rewritten in place every second; otherwise (a log
file, CI) a plain line is printed every few seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TextIO

from simulators.fleet.metrics import FleetMetrics

__all__ = ["Progress", "progress_line"]

_TTY_INTERVAL = 1.0
_PLAIN_INTERVAL = 5.0
_WINDOW_SECONDS = 5


def progress_line(metrics: FleetMetrics, stations: int, now: float) -> str:
    calls_per_second, p99 = metrics.recent(now, _WINDOW_SECONDS)
    p99_text = "-" if p99 is None else f"{p99 * 1000:.0f}ms"
    accounting = metrics.accounting
    return (
        f"t={now - metrics.clock_start:5.0f}s connected {metrics.connected}/{stations} "
        f"booted {metrics.booted} calls/s {calls_per_second:.0f} errors {metrics.errors} "
        f"p99 {p99_text} sessions {len(accounting.transaction_ids)} "
        f"(charging {metrics.charging}) reconnects {metrics.reconnects}"
    )


class Progress:
    """Prints the progress line until stopped; the task is kept and its failure logged."""

    def __init__(
        self,
        stream: TextIO,
        stations: int,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.stations = stations
        self.clock = clock
        self.tty = stream.isatty()
        self.metrics: FleetMetrics | None = None
        self._task: asyncio.Task[None] | None = None

    def attach(self, metrics: FleetMetrics) -> None:
        """Called by the runner once it has its metrics: start printing."""
        self.metrics = metrics
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="fleet-progress")
        self._task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and (error := task.exception()) is not None:
            print(f"progress display failed: {error!r}", file=self.stream)

    async def _loop(self) -> None:
        interval = _TTY_INTERVAL if self.tty else _PLAIN_INTERVAL
        while True:
            await asyncio.sleep(interval)
            self._print()

    def _print(self) -> None:
        if self.metrics is None:
            return
        line = progress_line(self.metrics, self.stations, self.clock())
        if self.tty:
            self.stream.write("\r\x1b[2K" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._print()
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
