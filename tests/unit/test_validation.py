"""The shared checks of countries, time zones and e-mail addresses."""

from __future__ import annotations

import pytest

from crm.errors import InvalidInput
from crm.validation import check_country, check_email, check_time_zone

pytestmark = pytest.mark.backend_independent


@pytest.mark.parametrize(
    "address", ["a@b@c.de", "no-at.example", "@example.com", "a@.de", "a@de", "a@b.de.", "a b@c.de"]
)
def test_addresses_that_cannot_be_are_refused(address: str) -> None:
    """Two @, none, an empty local part, a bad domain or a space: refused, naming the field."""
    with pytest.raises(InvalidInput, match="invoice_reply_to"):
        check_email(address, "invoice_reply_to")


def test_addresses_are_trimmed_and_empty_stays_empty() -> None:
    """A good address comes back trimmed; empty means none."""
    assert check_email("  billing@sw-nord.example ") == "billing@sw-nord.example"
    assert check_email("") == ""


def test_countries_are_two_letters_upper_cased() -> None:
    """de becomes DE; DEU or digits are refused."""
    assert check_country(" de ") == "DE"
    for bad in ("DEU", "D1", "Ä"):
        with pytest.raises(InvalidInput, match="ISO 3166"):
            check_country(bad)


def test_time_zones_are_iana_names() -> None:
    """Europe/Berlin passes; an unknown name or nothing is refused."""
    assert check_time_zone("Europe/Berlin") == "Europe/Berlin"
    for bad in ("Mars/Olympus", "", "../etc"):
        with pytest.raises(InvalidInput, match=r"time zone|time_zone"):
            check_time_zone(bad)
