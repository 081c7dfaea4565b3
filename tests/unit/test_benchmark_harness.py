"""The gateway benchmark's pure parts: percentiles, /proc parsing, the
load generator's frame parsing, the profile summary and the ratios."""

from __future__ import annotations

import math

import pytest

from benchmarks.frames import (
    CALLERROR,
    CALLRESULT,
    CallTemplate,
    meter_values_payload,
    parse_answer,
    parse_call,
    station_secret,
)
from benchmarks.gateway import compute_ratios, summarize_collapsed
from benchmarks.measure import (
    cpu_percent,
    parse_schedstat_run_delay,
    parse_stat_cpu_ticks,
    parse_status_rss,
    percentile,
    summarize,
)

# /proc/<pid>/stat of a process whose name has a space and a parenthesis;
# utime (field 14) is 1234 and stime (field 15) is 567.
STAT = (
    "4242 (csms (gw) x) S 1 4242 4242 0 -1 4194560 52000 0 3 0 1234 567 0 0 20 0 "
    "3 0 1000 500000000 30000 18446744073709551615 1 1 0 0 0 0 0 16781312 "
    "17442 0 0 0 17 1 0 0 0 0 0"
)

STATUS = """Name:\tpython
Umask:\t0022
State:\tS (sleeping)
VmPeak:\t  812340 kB
VmSize:\t  798100 kB
VmHWM:\t   70112 kB
VmRSS:\t   65536 kB
RssAnon:\t   40000 kB
Threads:\t3
"""


def test_percentile_is_nearest_rank() -> None:
    """The p-th percentile is the value at rank ceil(p/100 * n) of the sorted values."""
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([7.0], 99) == 7.0


def test_percentile_of_nothing_is_nan() -> None:
    """With no measurement the percentile is NaN, not zero."""
    assert math.isnan(percentile([], 50))


def test_percentile_rejects_out_of_range() -> None:
    """A percentile outside (0, 100] is a programming error."""
    with pytest.raises(ValueError):
        percentile([1.0], 0)


def test_summarize_reports_milliseconds() -> None:
    """Latencies in seconds, in any order, are summarised as p50, p99 and max
    in milliseconds."""
    summary = summarize([0.003, 0.001, 0.002, 0.100])
    assert summary == {"p50_ms": 2.0, "p99_ms": 100.0, "max_ms": 100.0}


def test_stat_cpu_ticks_counts_fields_after_the_command_name() -> None:
    """utime + stime are read from fields 14 and 15, counted after the last ')'."""
    assert parse_stat_cpu_ticks(STAT) == 1234 + 567


def test_status_rss_is_in_bytes() -> None:
    """VmRSS in kB from /proc/<pid>/status becomes bytes."""
    assert parse_status_rss(STATUS) == 65536 * 1024


def test_status_without_rss_is_an_error() -> None:
    """A status text without VmRSS (a zombie) raises instead of reporting zero."""
    with pytest.raises(ValueError):
        parse_status_rss("Name:\tpython\nState:\tZ (zombie)\n")


def test_schedstat_run_delay_is_the_second_field() -> None:
    """The run-queue wait is read from the second field of /proc/<pid>/schedstat."""
    assert parse_schedstat_run_delay("81234567890 1234567 4242\n") == 1234567


def test_cpu_percent_is_of_one_core() -> None:
    """150 ticks at 100 Hz over 1 s is 150 % (one and a half cores)."""
    assert cpu_percent(1000, 1150, 1.0, 100) == pytest.approx(150.0)


def test_answer_parsing_finds_type_and_id() -> None:
    """A CALLRESULT or CALLERROR is read for its message type and id only."""
    assert parse_answer(b'[3,"17",{"currentTime":"2026-01-01T00:00:00Z"}]') == (CALLRESULT, b"17")
    assert parse_answer(b'[4, "18", "SecurityError", "no", {}]') == (CALLERROR, b"18")


def test_answer_parsing_flags_what_is_no_answer() -> None:
    """Text that is not an RPC frame is type -1 with no id, never an exception."""
    assert parse_answer(b"not a frame") == (-1, b"")
    assert parse_answer(b'["x"') == (-1, b"")


def test_call_parsing_finds_id_and_action() -> None:
    """The echo server reads a call's id and action without a JSON parser."""
    frame = CallTemplate("MeterValues", meter_values_payload("2026-01-01T00:00:00Z")).frame(b"42")
    assert parse_call(frame) == (b"42", b"MeterValues")


def test_meter_values_frame_is_valid_json_with_four_samples() -> None:
    """The pre-encoded MeterValues call is an OCPP-J CALL with connector 1
    and one meter value of four sampled values."""
    import json

    frame = json.loads(
        CallTemplate("MeterValues", meter_values_payload("2026-01-01T00:00:00Z")).frame(b"1")
    )
    assert frame[:3] == [2, "1", "MeterValues"]
    payload = frame[3]
    assert payload["connectorId"] == 1
    samples = payload["meterValue"][0]["sampledValue"]
    assert [s["measurand"] for s in samples] == [
        "Energy.Active.Import.Register",
        "Power.Active.Import",
        "Current.Import",
        "Voltage",
    ]


def test_station_secret_depends_only_on_seed_and_id() -> None:
    """The harness and the load generator derive the same secret for a station."""
    secret = station_secret("seed", "BENCH-000001")
    assert secret == station_secret("seed", "BENCH-000001")
    assert secret != station_secret("other", "BENCH-000001")
    assert secret != station_secret("seed", "BENCH-000002")


def test_station_secret_has_a_length_the_product_accepts() -> None:
    """A derived secret has the 16 to 40 characters the product requires."""
    assert 16 <= len(station_secret("seed", "BENCH-000001")) <= 40


def test_profile_summary_counts_own_and_cumulative_samples() -> None:
    """From collapsed stacks, own time goes to the leaf and cumulative time to
    every Python function on the stack, once per sample."""
    text = (
        "thread (1): MainThread;main (a.py:1);handle (b.py:5);decode (c.py:9) 6\n"
        "thread (1): MainThread;main (a.py:1);handle (b.py:7) 3\n"
        "thread (1): MainThread;main (a.py:1);rec (d.py:1);rec (d.py:2);write (libc.so.6) 1\n"
    )
    main = summarize_collapsed(text)["threads"][0]
    own = {name: share for name, _, share in main["own"]}
    assert own == {"decode (c.py)": 60.0, "handle (b.py)": 30.0, "write (libc.so.6)": 10.0}
    cumulative = {name: count for name, count, _ in main["cumulative"]}
    assert cumulative == {
        "main (a.py)": 10,
        "handle (b.py)": 9,
        "decode (c.py)": 6,
        "rec (d.py)": 1,
    }


def test_profile_summary_splits_threads_and_their_busy_share() -> None:
    """Each thread is summarised on its own, with its samples as a share of
    what the sampling rate over the duration would give a thread never idle."""
    text = (
        "thread (1): MainThread;main (a.py:1) 150\nthread (2): Thread-7 (worker);run (w.py:3) 50\n"
    )
    summary = summarize_collapsed(text, seconds=2, rate=100)
    assert summary["samples"] == 200
    busy = {t["thread"]: t["busy_pct"] for t in summary["threads"]}
    assert busy == {"MainThread": 75.0, "Thread-7 (worker)": 25.0}


def test_profile_summary_names_what_set_the_gc_off() -> None:
    """In a native profile, samples in the cyclic GC are charged to the Python
    line whose allocation triggered it and left out of the work's cumulative."""
    text = (
        "thread (1): MainThread;main (a.py:1);submit (g.py:103);gc_collect_main (libpy.so) 4\n"
        "thread (1): MainThread;main (a.py:1);submit (g.py:104) 6\n"
    )
    main = summarize_collapsed(text)["threads"][0]
    assert [(name, n) for name, n, _ in main["gc_triggered_in"]] == [("submit (g.py:103)", 4)]
    without = {name: n for name, n, _ in main["cumulative_without_gc"]}
    assert without == {"main (a.py)": 6, "submit (g.py)": 6}


def test_ratios_compare_csms_with_both_baselines_per_n() -> None:
    """(c)/(a) and (c)/(b) are computed per N for closed-loop calls/s and RSS per connection."""

    def run(server: str, calls: float, rss: float) -> dict[str, object]:
        return {
            "server": server,
            "connections": 1000,
            "closed": {"calls_per_s": calls},
            "rss_per_connection_kib": rss,
        }

    ratios = compute_ratios([run("echo", 20000, 10), run("naive", 2000, 40), run("csms", 5000, 20)])
    assert ratios[(1000, "(c)/(a)")] == {"calls": 0.25, "rss": 2.0}
    assert ratios[(1000, "(c)/(b)")] == {"calls": 2.5, "rss": 0.5}


def test_booted_by_second_is_cumulative() -> None:
    """The boot-storm progress counts, for each whole second after the first
    connect, every station booted by the end of that second."""
    from benchmarks.loadgen import _cumulative_per_second

    assert _cumulative_per_second([1.5, 2.5, 2.7, 5.1], 1.0) == [1, 3, 3, 3, 4]
    assert _cumulative_per_second([], 0.0) == []


def test_report_shows_every_run_and_the_ratios() -> None:
    """The printed report has a row per (server, N, load) and the (c)/(a) ratio."""
    from benchmarks.gateway import render

    def measured(calls: float) -> dict[str, float]:
        return {
            "calls_per_s": calls,
            "p50_ms": 1.0,
            "p99_ms": 2.0,
            "max_ms": 3.0,
            "server_cpu_pct": 50.0,
            "server_cpu_wait_pct": 1.0,
            "loadgen_cpu_pct": 20.0,
            "errors": 0,
        }

    def run(server: str, calls: float) -> dict[str, object]:
        return {
            "server": server,
            "connections": 1000,
            "closed": measured(calls),
            "rate": measured(1000),
            "connect": {"connected_and_booted": 1000, "seconds": 1.0},
            "rss_base_mib": 30.0,
            "rss_idle_mib": 40.0,
            "rss_per_connection_kib": 10.0,
        }

    report = {
        "machine": {
            "cpu_model": "CPU",
            "cores": 2,
            "memory_gib": 1.0,
            "python": "3.11",
            "file_limit": "1/1",
            "loadavg": "0 0 0",
        },
        "revision": "abc",
        "csms_gc": "",
        "plan": {"rate": 1000},
        "runs": [run("echo", 20000), run("csms", 5000)],
    }
    text = render(report)
    assert text.count("| (a) websockets echo") == 3  # two loads, one connect row
    assert "| (c)/(a) | 0.25" in text
