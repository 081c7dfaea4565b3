"""Runs the ``csms`` command with Python's cyclic garbage collector tuned or
watched, to measure what a GC setting would give the gateway without
changing the product.

    python -m benchmarks.csms_gc --threshold 50000 --freeze -- gateway
    python -m benchmarks.csms_gc --stats 10 -- gateway

``--threshold`` sets the generation-0 threshold (CPython's default is 700;
0 disables the collector); ``--freeze`` moves everything allocated at start
into the permanent generation once the process is up (after imports);
``--stats N`` prints, every N seconds on stderr, how many collections of
each generation ran and how long they took. The harness uses it with
``python -m benchmarks.gateway --csms-gc "..."``.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import threading
import time
from typing import Any


class GcStats:
    """Collections per generation and the time they took (gc.callbacks)."""

    def __init__(self) -> None:
        self.count = [0, 0, 0]
        self.seconds = [0.0, 0.0, 0.0]
        self.longest = [0.0, 0.0, 0.0]
        self.collected = [0, 0, 0]
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        generation = info["generation"]
        took = time.perf_counter() - self._started
        self.count[generation] += 1
        self.seconds[generation] += took
        self.longest[generation] = max(self.longest[generation], took)
        self.collected[generation] += info.get("collected", 0)

    def snapshot(self) -> dict[str, Any]:
        return {
            "gc": {
                f"gen{g}": {
                    "collections": self.count[g],
                    "seconds": round(self.seconds[g], 4),
                    "longest_ms": round(self.longest[g] * 1000, 2),
                    "collected": self.collected[g],
                }
                for g in range(3)
            }
        }


def _report(stats: GcStats, every: float) -> None:
    while True:
        time.sleep(every)
        print(json.dumps(stats.snapshot()), file=sys.stderr, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threshold", type=int, default=None, help="gen-0 threshold; 0: off")
    parser.add_argument("--freeze", action="store_true", help="gc.freeze() after imports")
    parser.add_argument("--stats", type=float, default=0.0, help="print GC stats every N s")
    parser.add_argument("csms_args", nargs=argparse.REMAINDER, help="-- then csms arguments")
    args = parser.parse_args()
    csms_args = [a for a in args.csms_args if a != "--"] or ["gateway"]
    from csms.cli import main as csms_main

    if args.freeze:
        gc.collect()
        gc.freeze()
    if args.threshold == 0:
        gc.disable()
    elif args.threshold is not None:
        _, second, third = gc.get_threshold()
        gc.set_threshold(args.threshold, second, third)
    if args.stats > 0:
        stats = GcStats()
        gc.callbacks.append(stats)
        threading.Thread(target=_report, args=(stats, args.stats), daemon=True).start()
    return csms_main(csms_args)


if __name__ == "__main__":
    sys.exit(main())
