"""Micro-benchmark of ``charging_periods`` and ``tariff_boundaries`` (not a test).

    python -m tests.unit.billing_rating.bench_periods [--sessions 10000] [--repeat 5]

Typical sessions like the billing benchmark's world: 6 energy-register samples
every 15 minutes (Wh), meter start and stop, 0-3 state changes (1.6 connector
states or 2.0.1 charging states, some with a SuspendedEV tail), 1-2 split
points inside. Times this implementation and the pre-rewrite one
(``reference_periods.py``) on the same sessions, alternating, best of
``--repeat``, in CPU time (the process's, so other load on the machine counts
less). Prints µs per session.
"""

from __future__ import annotations

import argparse
import random
import time as clock
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from billing.rating.periods import Sample, SessionReadings, StateChange

REGISTER = "Energy.Active.Import.Register"
TIMES_OF_DAY = [time(0), time(7), time(18)]


def typical_sessions(n: int, seed: int = 1) -> list[tuple[SessionReadings, list[datetime]]]:
    rng = random.Random(seed)
    base = datetime(2024, 1, 1, tzinfo=UTC)
    out = []
    for _ in range(n):
        start = base + timedelta(seconds=rng.randrange(365 * 86_400))
        charging_end = start + timedelta(seconds=900 * 6 + rng.randint(60, 840))
        parking = rng.randint(600, 10_800) if rng.random() < 0.3 else 0
        stop = charging_end + timedelta(seconds=parking)
        meter = rng.randint(0, 5_000_000)
        meter_start = meter
        samples = []
        for k in range(1, 7):
            meter += rng.randint(2000, 2750)
            at = start + timedelta(seconds=900 * k)
            samples.append(Sample(at, REGISTER, Decimal(meter), "Wh", context="Sample.Periodic"))
        meter += rng.randint(0, 2000)
        states: list[StateChange] = []
        shape = rng.randrange(3)
        if shape == 1:
            states = [StateChange(start + timedelta(seconds=20), "Charging")]
        elif shape == 2:
            states = [
                StateChange(start - timedelta(seconds=40), "Preparing"),
                StateChange(start + timedelta(seconds=5), "Charging"),
            ]
        if shape and parking:
            states.append(StateChange(charging_end, "SuspendedEV"))
        length = int((stop - start).total_seconds())
        splits = [
            start + timedelta(seconds=rng.randrange(1, length)) for _ in range(rng.randint(1, 2))
        ]
        out.append((SessionReadings(start, stop, meter_start, meter, samples, states), splits))
    return out


def _time(fn: Any, cases: list[Any]) -> float:
    began = clock.process_time()
    for case in cases:
        fn(*case)
    return (clock.process_time() - began) / len(cases) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    from billing.rating import periods
    from tests.unit.billing_rating import reference_periods

    sessions = typical_sessions(args.sessions)
    bounds = [(r.started_at, r.stopped_at, "Europe/Berlin", TIMES_OF_DAY) for r, _ in sessions]
    best: dict[tuple[str, str], float] = {}
    for _ in range(args.repeat):
        for name, module in (("reference", reference_periods), ("new", periods)):
            for what, fn, cases in (
                ("charging_periods", module.charging_periods, sessions),
                ("tariff_boundaries", module.tariff_boundaries, bounds),
            ):
                us = _time(fn, cases)
                best[name, what] = min(best.get((name, what), us), us)
    for what in ("charging_periods", "tariff_boundaries"):
        old, new = best["reference", what], best["new", what]
        print(f"{what:18} reference {old:7.1f} µs  new {new:6.1f} µs  {old / new:5.1f}x")


if __name__ == "__main__":
    main()
