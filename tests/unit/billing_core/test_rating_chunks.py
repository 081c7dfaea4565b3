"""The rating chunks' wire format (billing.rating.chunks): what a worker
decodes prices exactly as the works it was made from, each tariff travels
once per chunk, and a worker decodes it once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from billing.rating.chunks import ChunkEncoder, decode_records, decode_works, rate_chunk
from billing.rating.compute import SessionWork, rate_all

from .world import World, pipeline_world

pytestmark = pytest.mark.backend_independent

OCTOBER = datetime(2026, 10, 1, 6, tzinfo=UTC)


async def _works(world: World, sessions: int = 20) -> list[SessionWork]:
    for index in range(sessions):
        station = world.station_a if index % 2 else world.station_b
        world.charge(station, OCTOBER + timedelta(hours=7 * index), energy_wh=900 + 313 * index)
    batch = await world.queue.next_batch(sessions)
    _, errors, works = await world.rater._prepare(batch)
    assert errors == []
    return works


async def test_a_decoded_chunk_prices_as_its_works() -> None:
    """The CDRs a worker sends back for a chunk equal those of pricing the
    works in the rater's process."""
    works = await _works(await pipeline_world())
    payload = ChunkEncoder().encode(works)
    assert decode_records(rate_chunk(payload)) == rate_all(works)
    assert decode_works(payload) == works


async def test_a_chunk_carries_each_tariff_once() -> None:
    """Twenty sessions priced with three tariffs (a few audiences each):
    the chunk holds three tariffs, and every job names one of them."""
    works = await _works(await pipeline_world())
    jobs = sum(len(work.jobs) for work in works)
    tariffs = {id(job.version.tariff) for work in works for job in work.jobs}
    assert jobs > len(tariffs) >= 3
    sent_tariffs, sent_versions, sent_works = msgspec.msgpack.decode(ChunkEncoder().encode(works))
    assert len(sent_tariffs) == len(tariffs)
    # Each version once, naming its tariff's bytes by key; each job its version.
    versions = {job.version.id for work in works for job in work.jobs}
    assert {int(key) for key in sent_versions} == versions
    assert {version[-1] for version in sent_versions.values()} == set(range(len(tariffs)))
    assert {job[1] for _, jobs in sent_works for job in jobs} == versions


async def test_a_worker_decodes_a_tariff_once() -> None:
    """Two chunks naming the same tariffs: the second's works hold the very
    tariff objects the first's did (so pricing's plan for it is reused)."""
    works = await _works(await pipeline_world())
    encoder = ChunkEncoder()
    first = decode_works(encoder.encode(works[:10]))
    second = decode_works(encoder.encode(works[10:]))
    first_tariffs = {job.version.tariff_id: job.version.tariff for w in first for job in w.jobs}
    for work in second:
        for job in work.jobs:
            assert job.version.tariff is first_tariffs[job.version.tariff_id]


async def test_equal_version_ids_of_two_worlds_do_not_mix() -> None:
    """Two databases' tariffs share version ids but not prices: a worker
    that priced one's chunk prices the other's with the other's tariffs."""
    here, there = await pipeline_world(), await pipeline_world()
    here_works = await _works(here, 4)
    there_works = await _works(there, 4)
    version_ids = {job.version.id for w in here_works for job in w.jobs}
    assert version_ids == {job.version.id for w in there_works for job in w.jobs}
    # The other world's prices, doubled, under the same version ids.
    doubled = [
        msgspec.structs.replace(
            work,
            jobs=tuple(
                msgspec.structs.replace(
                    job,
                    version=msgspec.structs.replace(
                        job.version,
                        tariff=msgspec.structs.replace(
                            job.version.tariff,
                            elements=tuple(
                                msgspec.structs.replace(
                                    element,
                                    price_components=tuple(
                                        msgspec.structs.replace(c, price=c.price * 2)
                                        for c in element.price_components
                                    ),
                                )
                                for element in job.version.tariff.elements
                            ),
                        ),
                    ),
                )
                for job in work.jobs
            ),
        )
        for work in there_works
    ]
    encoder = ChunkEncoder()
    here_cdrs = decode_records(rate_chunk(encoder.encode(here_works)))
    there_cdrs = decode_records(rate_chunk(encoder.encode(doubled)))
    assert here_cdrs == rate_all(here_works)
    assert there_cdrs == rate_all(doubled)
    assert [c.total_net_e4 for c in there_cdrs] != [c.total_net_e4 for c in here_cdrs]
