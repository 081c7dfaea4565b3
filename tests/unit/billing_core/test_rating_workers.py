"""Rating in worker processes (billing.rating.workers): the same CDRs as in
the rater's process, and nothing lost when a worker dies."""

from __future__ import annotations

import asyncio
import os
import signal
import struct
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path

import pytest

from billing.ports import CdrRecord
from billing.rating.chunks import ChunkEncoder, decode_records
from billing.rating.compute import SessionWork
from billing.rating.rater import Rater
from billing.rating.workers import RatingWorkers

from .world import World, pipeline_world

OCTOBER = datetime(2026, 10, 1, 6, tzinfo=UTC)


def _charge_a_month(world: World) -> None:
    """Sessions at both stations, at every hour of the day over October
    (both sides of the DST change), with varied energy."""
    for index in range(60):
        station = world.station_a if index % 2 else world.station_b
        world.charge(station, OCTOBER + timedelta(hours=13 * index), energy_wh=500 + 731 * index)


def _cdrs(world: World) -> dict[tuple[int, str], CdrRecord]:
    return {
        (row.record.session_id, row.record.audience): row.record for row in world.cdrs.rows.values()
    }


@pytest.fixture
async def workers() -> AsyncIterator[RatingWorkers]:
    pool = RatingWorkers(2)
    yield pool
    await pool.close()


async def test_workers_rate_exactly_as_the_rater_process(workers: RatingWorkers) -> None:
    """Every CDR priced in worker processes equals the one priced in the
    rater's own process, field by field (detail bytes included)."""
    here, there = await pipeline_world(), await pipeline_world()
    _charge_a_month(here)
    _charge_a_month(there)
    there.rater = Rater(there.queue, there.directory, there.tariffs, workers=workers)
    assert await here.rater.rate_all() == 60
    assert await there.rater.rate_all() == 60
    expected, got = _cdrs(here), _cdrs(there)
    assert len(expected) == 60 * 2 + 30  # emp + customer each, sub_cpo at the sub-CPO's station
    assert got == expected


async def test_a_dead_worker_costs_no_session(
    workers: RatingWorkers, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A worker killed while a batch is in flight: its chunks are priced in
    the rater's process instead, every session gets its CDRs, and the pool
    is started anew for the next batch."""
    world = await pipeline_world()
    _charge_a_month(world)
    world.rater = Rater(world.queue, world.directory, world.tariffs, workers=workers, batch_size=30)
    original = RatingWorkers.rate
    killed: list[int] = []

    async def rate_with_a_kill(self: RatingWorkers, works: list[SessionWork]) -> list[CdrRecord]:
        if not killed:
            killed.append(0)  # claimed here: two batches may be priced at once
            self._fill()
            killed[0] = self._workers[0].process.pid
            os.kill(killed[0], signal.SIGKILL)
        return await original(self, works)

    monkeypatch.setattr(RatingWorkers, "rate", rate_with_a_kill)
    assert await world.rater.rate_all() == 60
    cdrs = _cdrs(world)
    assert len(cdrs) == 150
    assert all(record.status == "rated" for record in cdrs.values())
    assert killed and killed[0]
    assert "rating worker" in caplog.text


def _answer_halfway_then_die(connection: Connection, parent_pid: int) -> None:
    """A worker that is killed while it writes its answer: it reads a chunk,
    writes the first bytes of a 1 MiB answer and dies."""
    connection.recv_bytes()
    os.write(connection.fileno(), struct.pack("!i", 1 << 20) + b"\x00" * 100)
    os._exit(1)


async def _rate_a_month_with(serve: Callable[[Connection, int], None]) -> tuple[World, list[int]]:
    """A month of sessions rated in batches of 30 by two workers running
    ``serve`` (bounded: a stall fails the test instead of hanging it); the
    world and the pids of the workers the pool had at the end."""
    world = await pipeline_world()
    _charge_a_month(world)
    workers = RatingWorkers(2, serve=serve)
    world.rater = Rater(world.queue, world.directory, world.tariffs, workers=workers, batch_size=30)
    try:
        async with asyncio.timeout(120):
            assert await world.rater.rate_all() == 60
        pids = sorted(worker.process.pid for worker in workers._workers)
    finally:
        await workers.close()
    return world, pids


def _fail_every_chunk(connection: Connection, parent_pid: int) -> None:
    """A worker whose pricing fails for every chunk it is sent."""
    while connection.recv_bytes():
        connection.send_bytes(b"")


async def test_a_chunk_a_worker_failed_to_price_is_priced_in_the_rater(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A worker that could not price a chunk says so and stays: the chunk is
    priced in the rater's process (where a failure is recorded on its
    sessions), and every session gets its CDRs."""
    world, pids = await _rate_a_month_with(_fail_every_chunk)
    assert len(_cdrs(world)) == 150
    assert "failed to price 15 sessions" in caplog.text
    assert "is gone" not in caplog.text and len(pids) == 2


async def test_a_worker_answers_a_chunk_it_cannot_price_and_keeps_serving(
    workers: RatingWorkers,
) -> None:
    """A chunk the worker cannot read gets the empty answer that says so
    (its log has the traceback), and the same worker prices the next."""
    workers._fill()
    (worker, *_) = workers._workers
    assert await asyncio.to_thread(worker.exchange, b"\xc1 not msgpack") == b""
    empty = ChunkEncoder().encode([])
    assert decode_records(await asyncio.to_thread(worker.exchange, empty)) == []
    assert worker.process.is_alive()


async def test_a_worker_dying_halfway_through_its_answer_stalls_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A worker that dies while it writes an answer (killed by the OOM
    killer, say) ends its pipe: its chunk is priced in the rater's process,
    a new worker takes its place, and rating goes on. (With the process
    pool used before, the pool's reader waited for the rest of that answer
    forever and rating stalled.)"""
    world, _ = await _rate_a_month_with(_answer_halfway_then_die)
    cdrs = _cdrs(world)
    assert len(cdrs) == 150
    assert all(record.status == "rated" for record in cdrs.values())
    assert "is gone" in caplog.text and "rating 15 sessions in this process" in caplog.text


@pytest.mark.parametrize(
    "failures", [1, 2], ids=["the pool started anew works", "no pool can be started"]
)
async def test_a_worker_that_cannot_be_started_costs_no_session(
    workers: RatingWorkers,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    failures: int,
) -> None:
    """When handing work to the pool fails (a worker cannot be started), the
    pool is started anew once; if that fails too, the batch is priced in the
    rater's process. Either way every session gets its CDRs."""
    world = await pipeline_world()
    _charge_a_month(world)
    world.rater = Rater(world.queue, world.directory, world.tariffs, workers=workers, batch_size=30)
    real_start = RatingWorkers._start
    failed: list[int] = []

    def start(self: RatingWorkers) -> object:
        """As when a worker died while another was being started (CPython
        then raised ValueError: bad value(s) in fds_to_keep) or the machine
        is out of processes."""
        if len(failed) < failures:
            failed.append(1)
            raise ValueError("bad value(s) in fds_to_keep")
        return real_start(self)

    monkeypatch.setattr(RatingWorkers, "_start", start)
    assert await world.rater.rate_all() == 60
    cdrs = _cdrs(world)
    assert len(cdrs) == 150
    assert all(record.status == "rated" for record in cdrs.values())
    assert len(failed) == failures
    assert "cannot start a worker" in caplog.text
    assert ("rating 30 sessions in this process" in caplog.text) == (failures == 2)


def test_workers_exit_when_the_rater_process_is_killed(tmp_path: Path) -> None:
    """A rater process killed with -9 leaves no worker behind: each worker
    notices that its parent is gone and exits."""
    script = tmp_path / "rater.py"
    script.write_text(
        "import asyncio\n"
        "from billing.rating.workers import RatingWorkers\n"
        "from billing.rating.chunks import ChunkEncoder\n"
        "async def main():\n"
        "    workers = RatingWorkers(2)\n"
        "    workers._fill()\n"
        "    empty = ChunkEncoder().encode([])\n"
        "    for worker in workers._workers:\n"
        "        await asyncio.to_thread(worker.exchange, empty)  # it is up\n"
        "    pids = sorted(worker.process.pid for worker in workers._workers)\n"
        "    print(' '.join(map(str, pids)), flush=True)\n"
        "    await asyncio.sleep(60)\n"
        "if __name__ == '__main__':\n"
        "    asyncio.run(main())\n"
    )
    rater = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True, cwd=os.getcwd()
    )
    try:
        assert rater.stdout is not None
        pids = [int(pid) for pid in rater.stdout.readline().split()]
        assert len(pids) == 2 and all(_alive(pid) for pid in pids)
        rater.kill()
        rater.wait()
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(pid) for pid in pids)
    finally:
        rater.kill()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
