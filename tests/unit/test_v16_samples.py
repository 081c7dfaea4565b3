"""1.6 sampled values become domain samples with the spec's defaults explicit."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, get_args

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from csms.domain.model import Sample
from csms.protocol.payloads import v16
from csms.protocol.v16.handlers import samples

pytestmark = pytest.mark.backend_independent

AT = datetime(2026, 12, 6, 6, 0, tzinfo=UTC)


def _or_unset(literal: Any) -> st.SearchStrategy[Any]:
    return st.one_of(st.just(msgspec.UNSET), st.sampled_from(get_args(literal)))


def _expected(sampled: v16.SampledValue) -> Sample:
    """The spec's defaults, written out plainly (OCPP 1.6 §7.45)."""

    def text(value: Any) -> str:
        return "" if value is msgspec.UNSET else str(value)

    measurand = text(sampled.measurand) or "Energy.Active.Import.Register"
    value_format = text(sampled.format) or "Raw"
    return Sample(
        sampled_at=AT,
        value=sampled.value,
        measurand=measurand,
        phase=text(sampled.phase),
        unit=text(sampled.unit) or ("Wh" if measurand.startswith("Energy.") else ""),
        context=text(sampled.context) or "Sample.Periodic",
        location=text(sampled.location) or "Outlet",
        format=value_format,
        signed_data=sampled.value if value_format == "SignedData" else "",
    )


sampled_values = st.builds(
    v16.SampledValue,
    value=st.text(min_size=1, max_size=12),
    context=_or_unset(v16.ReadingContext),
    format=_or_unset(v16.ValueFormat),
    measurand=_or_unset(v16.Measurand),
    phase=_or_unset(v16.Phase),
    location=_or_unset(v16.Location),
    unit=_or_unset(v16.UnitOfMeasure),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(sampled_values, min_size=1, max_size=5), max_size=4))
def test_every_combination_gets_the_specs_defaults(groups: list[list[v16.SampledValue]]) -> None:
    """Whatever the charger leaves out is filled in as the spec says, the
    same on the first and on every later sample of a combination."""
    meter_values = [v16.MeterValue(timestamp=AT, sampled_value=group) for group in groups]
    expected = tuple(_expected(s) for group in groups for s in group)
    assert samples(meter_values) == expected
    assert samples(meter_values) == expected


def test_an_empty_sample_is_an_energy_register_in_wh() -> None:
    """A sampled value with only a value is the energy register in Wh,
    periodic, at the outlet, raw."""
    [sample] = samples([v16.MeterValue(timestamp=AT, sampled_value=[v16.SampledValue(value="7")])])
    assert (sample.measurand, sample.unit, sample.context, sample.location, sample.format) == (
        "Energy.Active.Import.Register",
        "Wh",
        "Sample.Periodic",
        "Outlet",
        "Raw",
    )
