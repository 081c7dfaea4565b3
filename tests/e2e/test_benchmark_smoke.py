"""The gateway benchmark end to end, small: its echo server and its load
generator as processes, driven by the harness's own code."""

from __future__ import annotations

from pathlib import Path

from benchmarks.gateway import Children, LoadGen, start_server


async def test_load_generator_measures_the_echo_server(tmp_path: Path) -> None:
    """20 connections in a 2 s closed loop against the echo server give calls,
    no errors, ordered percentiles and the server's CPU and memory."""
    children = Children()
    try:
        server = await start_server(children, "echo", tmp_path)
        before = server.sample()
        gen = await LoadGen.start(children, server.url, 20)
        ready = await gen.event("ready", timeout=60)
        assert ready["connected_and_booted"] == 20
        result = await gen.measured(server, {"cmd": "closed", "warmup": 0.5, "duration": 2})
        await gen.quit(children)
    finally:
        await children.stop_all()
    assert result["calls"] > 0
    assert result["errors"] == 0
    assert result["p99_ms"] >= result["p50_ms"] > 0
    assert result["server_cpu_pct"] > 0
    assert before.rss_bytes > 0
