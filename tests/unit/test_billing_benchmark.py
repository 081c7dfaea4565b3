"""The billing benchmark at a tiny size: it generates its world, rates and
bills it in two steps, and its own consistency checks pass (nothing lost,
nothing billed twice, gapless numbers). Behaviour, not speed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_billing_benchmark_rates_and_bills_everything_once(tmp_path: Path) -> None:
    out = tmp_path / "billing.json"
    environment = {k: v for k, v in os.environ.items() if k != "CSMS_DATABASE_URL"}
    finished = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.billing",
            "--sessions",
            "300",
            "--entities",
            "10",
            "--steps",
            "100,300",
            "--batch-size",
            "64",
            "--json",
            str(out),
        ],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert "consistency: OK" in finished.stdout
    report = json.loads(out.read_text())
    checks = report["checks"]
    assert checks["ok"]
    world = report["generation"]["world"]
    assert checks["cdrs"]["found"] == checks["cdrs"]["expected"] == world["expected_cdrs"]
    assert sum(world["expected_cdrs"].values()) > world["sessions"]  # several audiences
    assert checks["cdrs_in_error"] == 0 and checks["queue_left"] == 0
    assert checks["unbilled_rated_cdrs"] == 0 and checks["billed_once"]
    assert checks["billed_cdrs"] == sum(world["expected_cdrs"].values())
    assert checks["number_ranges_with_gaps"] == [] and checks["documents"] > 0
    steps = report["steps"]
    assert [s["rated"] for s in steps] == [100, 300]
    assert [s["segment_sessions"] for s in steps] == [100, 200]
    assert all(s["billing"]["documents"] > 0 for s in steps)
    assert sum(s["billing"]["cdrs"] for s in steps) == checks["billed_cdrs"]
