"""Pure helpers of the gateway benchmark: percentiles and /proc parsing.

Nothing here does I/O except :func:`read_proc`, so the rest is unit-tested
on sample text.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q``-th percentile (0 < q <= 100) of sorted values;
    NaN when there are none. Nearest rank never invents a value that was not
    measured, which is what a p99 of latencies should be."""
    if not sorted_values:
        return math.nan
    if not 0 < q <= 100:
        raise ValueError(f"percentile must be in (0, 100], not {q}")
    rank = math.ceil(q / 100 * len(sorted_values))
    return float(sorted_values[max(rank, 1) - 1])


def summarize(latencies: Iterable[float]) -> dict[str, float]:
    """p50, p99 and max in milliseconds of latencies given in seconds."""
    values = sorted(latencies)
    return {
        "p50_ms": percentile(values, 50) * 1000,
        "p99_ms": percentile(values, 99) * 1000,
        "max_ms": (values[-1] * 1000) if values else math.nan,
    }


@dataclass(frozen=True, slots=True)
class ProcSample:
    """CPU time and resident memory of one process at one moment."""

    cpu_ticks: int  # utime + stime, in clock ticks
    rss_bytes: int
    # Time the main thread was runnable but waiting for a CPU (another
    # process had it), from /proc/<pid>/schedstat; 0 where not available.
    run_delay_ns: int = 0


def parse_stat_cpu_ticks(stat_text: str) -> int:
    """utime + stime (clock ticks) from the text of ``/proc/<pid>/stat``.

    The command name (field 2) is in parentheses and may itself contain
    spaces or parentheses, so fields are counted after the last ``)``."""
    after = stat_text[stat_text.rindex(")") + 2 :].split()
    # after[0] is field 3 (state); utime is field 14 and stime field 15.
    return int(after[11]) + int(after[12])


def parse_status_rss(status_text: str) -> int:
    """VmRSS in bytes from the text of ``/proc/<pid>/status``."""
    for line in status_text.splitlines():
        if line.startswith("VmRSS:"):
            parts = line.split()
            value = int(parts[1])
            unit = parts[2].lower() if len(parts) > 2 else "kb"
            if unit != "kb":
                raise ValueError(f"unexpected VmRSS unit {parts[2]!r}")
            return value * 1024
    raise ValueError("no VmRSS line (a kernel thread or a zombie?)")


def parse_schedstat_run_delay(schedstat_text: str) -> int:
    """Nanoseconds spent runnable but waiting on a run queue, the second
    field of ``/proc/<pid>/schedstat`` (on-CPU ns, run-queue wait ns, slices)."""
    return int(schedstat_text.split()[1])


def cpu_percent(ticks_before: int, ticks_after: int, seconds: float, clock_ticks: int) -> float:
    """CPU use over a wall-clock interval in % of one core (200 = two cores)."""
    if seconds <= 0:
        return math.nan
    return (ticks_after - ticks_before) / clock_ticks / seconds * 100


def clock_ticks_per_second() -> int:
    return os.sysconf("SC_CLK_TCK")


def read_proc(pid: int) -> ProcSample:
    """CPU ticks and RSS of a live process."""
    with open(f"/proc/{pid}/stat") as file:
        ticks = parse_stat_cpu_ticks(file.read())
    with open(f"/proc/{pid}/status") as file:
        rss = parse_status_rss(file.read())
    try:
        with open(f"/proc/{pid}/schedstat") as file:
            delay = parse_schedstat_run_delay(file.read())
    except (OSError, IndexError, ValueError):
        delay = 0
    return ProcSample(ticks, rss, delay)


def machine_description() -> dict[str, str | int | float]:
    """CPU model, online cores and memory, from /proc."""
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as file:
            for line in file:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory_kib = 0
    try:
        with open("/proc/meminfo") as file:
            for line in file:
                if line.startswith("MemTotal:"):
                    memory_kib = int(line.split()[1])
                    break
    except OSError:
        pass
    return {
        "cpu_model": model,
        "cores": os.cpu_count() or 0,
        "memory_gib": round(memory_kib / 1024 / 1024, 1),
    }


def raise_file_limit() -> tuple[int, int]:
    """Raises this process's soft open-file limit to the hard limit; returns
    (soft, hard) as now in force."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft, hard
