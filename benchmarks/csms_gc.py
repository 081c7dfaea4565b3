"""Runs the ``csms`` command with Python's cyclic garbage collector tuned,
to measure what a GC setting would give the gateway without changing it.

    python -m benchmarks.csms_gc --threshold 50000 --freeze -- gateway

``--threshold`` sets the generation-0 threshold (CPython's default is 700;
0 disables the collector); ``--freeze`` moves everything allocated at start
into the permanent generation once the process is up (after imports).
The harness uses it with ``python -m benchmarks.gateway --csms-gc ...``.
"""

from __future__ import annotations

import argparse
import gc
import sys


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threshold", type=int, default=700, help="gen-0 threshold; 0: off")
    parser.add_argument("--freeze", action="store_true", help="gc.freeze() after imports")
    parser.add_argument("csms_args", nargs=argparse.REMAINDER, help="-- then csms arguments")
    args = parser.parse_args()
    csms_args = [a for a in args.csms_args if a != "--"] or ["gateway"]
    from csms.cli import main as csms_main

    if args.freeze:
        gc.collect()
        gc.freeze()
    if args.threshold == 0:
        gc.disable()
    else:
        _, second, third = gc.get_threshold()
        gc.set_threshold(args.threshold, second, third)
    return csms_main(csms_args)


if __name__ == "__main__":
    sys.exit(main())
