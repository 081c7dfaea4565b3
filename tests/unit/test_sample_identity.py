"""Pure parts of what billing reads: a sample's identity, the meter public
key's spelling, and the in-memory twin's idempotent recording."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import msgspec
import pytest

from crm.errors import InvalidInput
from csms.domain.meter import sample_key
from csms.domain.model import Sample
from csms.domain.station_admin import check_meter_public_key
from csms.domain.writes import StoreMeterValues, StoreSessionStop, WriteGroup
from csms.storage.memory import MemoryStore, MemoryWriteSink

AT = datetime(2026, 11, 22, 10, tzinfo=UTC)
SAMPLE = Sample(AT, "1500", unit="Wh", context="Sample.Periodic", location="Outlet")


def test_the_same_sample_has_the_same_key_in_any_time_zone() -> None:
    """A retransmitted sample has the same key, whatever offset its time was
    written with; a time without zone counts as UTC."""
    plus_one = AT.astimezone(timezone(timedelta(hours=1)))
    again = Sample(plus_one, "1500", unit="Wh", context="Sample.Periodic", location="Outlet")
    naive = Sample(
        AT.replace(tzinfo=None), "1500", unit="Wh", context="Sample.Periodic", location="Outlet"
    )
    assert sample_key(1, SAMPLE) == sample_key(1, again) == sample_key(1, naive)
    assert len(sample_key(1, SAMPLE)) == 32


@pytest.mark.parametrize(
    "change",
    [
        {"value": "1501"},
        {"format": "SignedData"},
        {"measurand": "Power.Active.Import"},
        {"phase": "L1"},
        {"context": "Transaction.End"},
        {"location": "EV"},
        {"unit": "kWh"},
        {"multiplier": 3},
        {"signed_data": "OCMF|x"},
        {"sampled_at": AT + timedelta(seconds=1)},
    ],
)
def test_a_sample_differing_in_any_reported_field_is_another_sample(change: dict) -> None:
    """Value, format, measurand, phase, context, location, unit, multiplier,
    signed data or time: any difference makes another sample."""
    other = msgspec.structs.replace(SAMPLE, **change)
    assert sample_key(1, other) != sample_key(1, SAMPLE)


def test_the_connector_is_part_of_a_sample_identity() -> None:
    """The same reading on another connector is another sample."""
    assert sample_key(1, SAMPLE) != sample_key(2, SAMPLE)


def test_a_meter_public_key_is_hex_without_separators() -> None:
    """Colons and whitespace between the digits are dropped; an odd number of
    digits or other characters are refused; empty clears the key."""
    assert check_meter_public_key(" 30:59 30:13 ") == "30593013"
    assert check_meter_public_key("") == ""
    for bad in ("ABC", "zz", "0x30"):
        with pytest.raises(InvalidInput):
            check_meter_public_key(bad)


def test_the_memory_twin_stores_a_sample_once_and_queues_a_stop_once() -> None:
    """The in-memory sink (the twin of the database one) skips a repeated
    sample and queues a session created by a stop once, however often the
    stop comes."""
    store = MemoryStore()
    pk = store.add_station("CP")
    sink = MemoryWriteSink(store)
    values = WriteGroup((StoreMeterValues(pk, 1, None, (SAMPLE,), AT),))
    stop = WriteGroup((StoreSessionStop(pk, 77, AT, 500, "Local"),))
    results = asyncio.run(sink.apply([values, values, stop, stop]))
    assert len(store.meter_values) == 1
    assert results[2] == results[3]
    assert len(store.sessions) == 1 and list(store.rating_queue) == [1]
