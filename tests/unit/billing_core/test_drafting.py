"""A run's documents drafted from unbilled CDRs, and period bounds
(billing.runs.drafting)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import msgspec
import pytest

from billing.documents.einvoice import render_cii
from billing.documents.model import REVERSE_CHARGE_TEXT, Document, from_json
from billing.ports import ContactInfo, DraftDocument, EntityInfo, UnbilledCdr
from billing.runs.drafting import (
    PeriodError,
    draft_documents,
    parse_period,
    period_bounds,
)

from .world import contact, entity

pytestmark = pytest.mark.backend_independent

SELLER = entity(2, "Sub-CPO Süd GmbH", parent=1, kind="cpo", vat_id="DE123456789")
PARENT = entity(1, "Parent Operator GmbH", kind="operator", vat_id="DE987654321")
EMP_DE = entity(4, "EMP XY GmbH", kind="emp", master_contact_id=204)
EMP_AT = entity(5, "EMP Wien GmbH", kind="emp", country="AT", vat_id="ATU12345678")
ENTITIES = {e.id: e for e in (SELLER, PARENT, EMP_DE, EMP_AT)}
CONTACTS = {
    204: contact(204, 4, "EMP XY GmbH", company="EMP XY GmbH"),
    101: contact(101, 4, "Erika Mustermann", customer_number="K-1"),
    102: contact(102, 4, "Wien Fleet", company="Wien Fleet GmbH", country="AT", vat_id="ATU1"),
    103: contact(103, 4, "Max Privat", country="AT"),
}

_ids = iter(range(1, 10_000))


def supplied(dimension: str, price: str, volume: str, *, vat: str | None = "19") -> dict[str, Any]:
    return {
        "dimension": dimension,
        "reservation": False,
        "price": price,
        "vat": vat,
        "volume": volume,
        "billed_volume": volume,
    }


def cdr(
    *lines: dict[str, Any],
    audience: str = "emp",
    buyer_entity: int | None = 4,
    buyer_contact: int | None = 204,
    currency: str = "EUR",
    started_at: datetime = datetime(2026, 10, 5, 10, tzinfo=UTC),
    adjustment: str = "0",
) -> UnbilledCdr:
    cdr_id = next(_ids)
    return UnbilledCdr(
        id=cdr_id,
        session_id=cdr_id,
        audience=audience,
        seller_entity_id=SELLER.id,
        buyer_entity_id=buyer_entity,
        buyer_contact_id=buyer_contact,
        charge_point_id="CP-A",
        medium_uid="CARD-X",
        started_at=started_at,
        stopped_at=started_at + timedelta(hours=1),
        time_zone="Europe/Berlin",
        currency=currency,
        detail=msgspec.json.encode(
            {"supplied": list(lines), "price_adjustment_excl_vat": adjustment}
        ),
    )


def draft(
    cdrs: list[UnbilledCdr],
    *,
    seller: EntityInfo = SELLER,
    entities: dict[int, EntityInfo] = ENTITIES,
    contacts: dict[int, ContactInfo] = CONTACTS,
) -> list[DraftDocument]:
    return draft_documents(
        cdrs,
        seller=seller,
        entities=entities,
        contacts=contacts,
        period_start=date(2026, 10, 1),
        period_end=date(2026, 10, 31),
        issue_date=date(2026, 11, 2),
    )


def content(found: DraftDocument) -> Document:
    return from_json(found.content)


def test_documents_are_grouped_by_kind_recipient_and_currency() -> None:
    """Two EUR CDRs to the same EMP make one invoice; a CHF CDR to it, a
    customer's CDR and a sub-CPO credit CDR each make their own document;
    every CDR is on exactly one draft."""
    energy = supplied("ENERGY", "0.40", "10")
    cdrs = [
        cdr(energy),
        cdr(energy),
        cdr(energy, currency="CHF"),
        cdr(energy, audience="customer", buyer_entity=None, buyer_contact=101),
        cdr(energy, audience="sub_cpo", buyer_entity=5, buyer_contact=None),
    ]
    drafts = draft(cdrs)
    keys = sorted(
        (
            d.kind,
            d.recipient_entity_id or 0,
            d.recipient_contact_id or 0,
            d.currency,
            len(d.cdr_ids),
        )
        for d in drafts
    )
    assert keys == [
        ("credit_note", 5, 0, "EUR", 1),
        ("invoice", 0, 101, "EUR", 1),
        ("invoice", 4, 204, "CHF", 1),
        ("invoice", 4, 204, "EUR", 2),
    ]
    assert sorted(i for d in drafts for i in d.cdr_ids) == sorted(c.id for c in cdrs)
    assert all(content(d).number == "" for d in drafts)


def test_vat_is_computed_per_rate_on_the_summed_nets() -> None:
    """Three lines of 0.03 net at 19 %: VAT is 19 % of 0.09 (0.02), not three
    rounded 0.01; a 7 % line gets its own breakdown entry."""
    cheap = supplied("ENERGY", "0.30", "0.1")
    (found,) = draft(
        [cdr(cheap), cdr(cheap), cdr(cheap), cdr(supplied("FLAT", "1.00", "1", vat="7"))]
    )
    document = content(found)
    breakdown = {(b.rate, b.category): (b.net, b.vat) for b in document.vat_breakdown}
    assert breakdown == {
        (Decimal("19"), "S"): (Decimal("0.09"), Decimal("0.02")),
        (Decimal("7"), "S"): (Decimal("1.00"), Decimal("0.07")),
    }
    assert (document.total_net, document.total_vat, document.total_gross) == (
        Decimal("1.09"),
        Decimal("0.09"),
        Decimal("1.18"),
    )
    assert (found.total_net_e4, found.total_vat_e4, found.total_gross_e4) == (10_900, 900, 11_800)


def test_a_component_without_vat_takes_the_issuers_standard_rate() -> None:
    """A tariff component without VAT is taxed at the standard rate of the
    issuer's country: 19 % from Germany, 20 % from Austria."""
    no_vat = supplied("ENERGY", "0.50", "10", vat=None)
    (german,) = draft([cdr(no_vat)])
    austrian_seller = msgspec.structs.replace(SELLER, country="AT", vat_id="ATU99999999")
    (austrian,) = draft([cdr(no_vat)], seller=austrian_seller)
    assert [line.vat_rate for line in content(german).lines] == [Decimal("19")]
    assert content(german).total_vat == Decimal("0.95")
    assert [line.vat_rate for line in content(austrian).lines] == [Decimal("20")]
    assert content(austrian).total_vat == Decimal("1.00")


def test_reverse_charge_for_an_eu_business_in_another_country() -> None:
    """An Austrian business with a VAT id invoiced from Germany: every line
    AE at 0 %, no VAT, and the e-invoice carries the reverse-charge wording;
    an Austrian private customer without a VAT id pays German VAT."""
    energy = supplied("ENERGY", "0.40", "10")
    (business,) = draft([cdr(energy, audience="customer", buyer_entity=None, buyer_contact=102)])
    document = content(business)
    assert document.reverse_charge is True
    assert {(line.vat_category, line.vat_rate) for line in document.lines} == {("AE", Decimal(0))}
    assert document.total_vat == Decimal("0.00")
    assert document.total_gross == document.total_net == Decimal("4.00")
    xml = render_cii(msgspec.structs.replace(document, number="RE-1")).decode()
    assert REVERSE_CHARGE_TEXT[document.language] in xml

    (private,) = draft([cdr(energy, audience="customer", buyer_entity=None, buyer_contact=103)])
    assert content(private).reverse_charge is False
    assert content(private).total_vat == Decimal("0.76")


def test_a_domestic_business_is_not_reverse_charged() -> None:
    """Same country: standard VAT even with a VAT id on both sides."""
    domestic = msgspec.structs.replace(CONTACTS[204], vat_id="DE111111111")
    (found,) = draft([cdr(supplied("ENERGY", "0.40", "10"))], contacts={204: domestic})
    assert content(found).reverse_charge is False
    assert content(found).total_vat == Decimal("0.76")


def test_a_credit_note_goes_to_the_sub_cpos_credit_note_address() -> None:
    """A credit note to sub-CPO 5 is addressed to its credit-note address
    (name, street, postal code and city) when it has one, else to the
    entity's own address."""
    credit = cdr(
        supplied("ENERGY", "0.20", "10"), audience="sub_cpo", buyer_entity=6, buyer_contact=None
    )
    sub_cpo = entity(
        6,
        "Sub-CPO Nord GmbH",
        parent=2,
        kind="cpo",
        street="Hafenweg 2",
        postal_code="20457",
        city="Hamburg",
        credit_note_address="Sub-CPO Nord Buchhaltung\nPostfach 1234\n20001 Hamburg",
    )
    (found,) = draft([credit], entities={**ENTITIES, 6: sub_cpo})
    recipient = content(found).recipient
    assert found.kind == "credit_note"
    assert (recipient.name, recipient.street, recipient.postal_code, recipient.city) == (
        "Sub-CPO Nord Buchhaltung",
        "Postfach 1234",
        "20001",
        "Hamburg",
    )
    plain = msgspec.structs.replace(sub_cpo, credit_note_address="")
    (found,) = draft([credit], entities={**ENTITIES, 6: plain})
    recipient = content(found).recipient
    assert (recipient.name, recipient.street, recipient.city) == (
        "Sub-CPO Nord GmbH",
        "Hafenweg 2",
        "Hamburg",
    )


def test_a_credit_note_is_self_billed_with_the_sub_cpos_vat() -> None:
    """On a credit note the sub-CPO is the supplier: an Austrian sub-CPO
    credited by a German parent with a VAT id is reverse charged; when the
    parent has no VAT id, a component without VAT takes the sub-CPO's
    (Austrian) standard rate."""
    credit = cdr(
        supplied("ENERGY", "0.20", "10", vat=None),
        audience="sub_cpo",
        buyer_entity=5,
        buyer_contact=None,
    )
    (found,) = draft([credit], seller=PARENT)
    document = content(found)
    # Supplier AT (the sub-CPO), customer DE with a VAT id: reverse charge.
    assert document.reverse_charge is True
    no_vat_parent = msgspec.structs.replace(PARENT, vat_id="")
    (found,) = draft([credit], seller=no_vat_parent)
    assert [line.vat_rate for line in content(found).lines] == [Decimal("20")]


def test_a_min_price_adjustment_is_a_line_of_its_own() -> None:
    """A session raised to its tariff's minimum price shows the difference
    as its own line, taxed like the rest, and counted in the totals."""
    (found,) = draft([cdr(supplied("ENERGY", "0.40", "1"), adjustment="1.60")])
    document = content(found)
    assert [(line.description, line.net_amount) for line in document.lines] == [
        ("Energie", Decimal("0.40")),
        ("Mindest-/Höchstpreis", Decimal("1.60")),
    ]
    assert document.lines[1].vat_rate == Decimal("19")
    assert document.total_net == Decimal("2.00")
    assert document.lines[1].session is not None


def test_a_max_price_adjustment_is_negative() -> None:
    """A session capped at its maximum price shows a negative adjustment."""
    (found,) = draft([cdr(supplied("ENERGY", "0.40", "50"), adjustment="-5.00")])
    lines = content(found).lines
    assert lines[-1].net_amount == Decimal("-5.00")
    assert content(found).total_net == Decimal("15.00")


def test_default_payment_terms_are_stated() -> None:
    """Without payment terms of its own, a German issuer says 14 days in
    German and an English-speaking one in English; its own terms win."""
    energy = supplied("ENERGY", "0.40", "10")
    (german,) = draft([cdr(energy)])
    assert "14 Tagen" in content(german).payment_terms
    (english,) = draft([cdr(energy)], seller=msgspec.structs.replace(SELLER, country="NL"))
    assert content(english).language == "en"
    assert "14 days" in content(english).payment_terms
    own = msgspec.structs.replace(SELLER, branding={"payment_terms": "Sofort fällig."})
    (found,) = draft([cdr(energy)], seller=own)
    assert content(found).payment_terms == "Sofort fällig."


def test_lines_name_the_session_in_local_time() -> None:
    """Each line names station, local start and end and the medium."""
    (found,) = draft([cdr(supplied("ENERGY", "0.40", "10"))])
    reference = content(found).lines[0].session
    assert reference is not None
    assert (reference.station, reference.start_local, reference.end_local) == (
        "CP-A",
        "2026-10-05 12:00",
        "2026-10-05 13:00",
    )
    assert reference.medium_uid == "CARD-X"


def test_a_late_session_extends_the_period_back() -> None:
    """A September session billed in October's run: the document's period
    starts on its local day."""
    late = cdr(supplied("ENERGY", "0.40", "1"), started_at=datetime(2026, 9, 20, 23, tzinfo=UTC))
    (found,) = draft([late])
    assert (content(found).period_start, content(found).period_end) == (
        date(2026, 9, 21),  # 01:00 in Berlin
        date(2026, 10, 31),
    )


# -- periods -------------------------------------------------------------------------------


def test_a_period_is_a_month() -> None:
    """ "2026-02" is 1 to 28 February; a leap year's February has 29 days."""
    assert parse_period("2026-02") == (date(2026, 2, 1), date(2026, 2, 28))
    assert parse_period("2028-02") == (date(2028, 2, 1), date(2028, 2, 29))
    assert parse_period("2026-12") == (date(2026, 12, 1), date(2026, 12, 31))


@pytest.mark.parametrize(
    "text", ["2026-13", "2026-00", "1999-12", "2026-1", "October", "2026-10-01"]
)
def test_other_periods_are_refused(text: str) -> None:
    """Anything but a month written YYYY-MM (from 2000) is refused."""
    with pytest.raises(PeriodError, match="YYYY-MM"):
        parse_period(text)


def test_period_bounds_are_local_midnights() -> None:
    """January in Berlin runs from 23:00 UTC on 31 December to 23:00 UTC on
    31 January; in UTC from midnight to midnight."""
    first, last = parse_period("2026-01")
    assert period_bounds(first, last, "Europe/Berlin") == (
        datetime(2025, 12, 31, 23, tzinfo=UTC),
        datetime(2026, 1, 31, 23, tzinfo=UTC),
    )
    assert period_bounds(first, last, "UTC") == (
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2026, 2, 1, tzinfo=UTC),
    )


def test_period_bounds_follow_daylight_saving() -> None:
    """March starts in winter time and ends in summer time (23:00 to 22:00
    UTC); October the other way round (22:00 to 23:00 UTC)."""
    assert period_bounds(*parse_period("2026-03"), "Europe/Berlin") == (
        datetime(2026, 2, 28, 23, tzinfo=UTC),
        datetime(2026, 3, 31, 22, tzinfo=UTC),
    )
    assert period_bounds(*parse_period("2026-10"), "Europe/Berlin") == (
        datetime(2026, 9, 30, 22, tzinfo=UTC),
        datetime(2026, 10, 31, 23, tzinfo=UTC),
    )
