"""Billing documents as values: totals, reverse charge, cancellations, storage."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import msgspec
import pytest

from billing.documents.model import (
    Document,
    build_totals,
    cancellation_of,
    check_totals,
    from_json,
    is_reverse_charge,
    make_line,
    money,
    supplier_and_customer,
    to_json,
    unit_code,
    vat_treatment,
)
from tests.unit.billing_documents import samples
from tests.unit.billing_documents.samples import CUSTOMER, FRENCH_CUSTOMER, PARENT, SUB_CPO


def _line(position: int, price: str, rate: str = "19", category: str = "S"):  # type: ignore[no-untyped-def]
    return make_line(
        position=position,
        description="Energie",
        quantity=D("1"),
        unit="kWh",
        unit_price=D(price),
        vat_rate=D(rate),
        vat_category=category,  # type: ignore[arg-type]
    )


def test_vat_is_computed_per_rate_on_summed_nets_not_per_line() -> None:
    """Three 1.03 € lines at 19 %: per line 0.1957 → 0.20 each (0.60 in all),
    per rate 3.09 x 19 % = 0.5871 → 0.59; the document has 0.59."""
    lines = [_line(i, "1.03") for i in (1, 2, 3)]
    per_line_sum = sum(money(ln.net_amount * D("0.19")) for ln in lines)
    assert per_line_sum == D("0.60")

    breakdown, net, vat, gross = build_totals(lines, reverse_charge=False)

    assert [(b.rate, b.category, b.net, b.vat) for b in breakdown] == [
        (D("19"), "S", D("3.09"), D("0.59"))
    ]
    assert (net, vat, gross) == (D("3.09"), D("0.59"), D("3.68"))


def test_totals_have_one_breakdown_per_rate_and_add_up() -> None:
    """Lines at 19 % and 7 % (one written 7.00) give two breakdowns, highest rate
    first; totals are the sums of the breakdowns and gross = net + VAT."""
    lines = [_line(1, "10.00"), _line(2, "4.99", "7"), _line(3, "0.01", "7.00"), _line(4, "2.50")]
    breakdown, net, vat, gross = build_totals(lines, reverse_charge=False)
    assert [(b.rate, b.net, b.vat) for b in breakdown] == [
        (D("19"), D("12.50"), D("2.38")),
        (D("7"), D("5.00"), D("0.35")),
    ]
    assert (net, vat, gross) == (D("17.50"), D("2.73"), D("20.23"))
    assert all(isinstance(x, D) for x in (net, vat, gross))


def test_line_net_is_quantity_times_price_rounded_half_up_to_cents() -> None:
    """12.345 kWh at 0.3917 €/kWh = 4.8355365 → 4.84; 0.005 rounds up to 0.01."""
    line = make_line(
        position=1,
        description="Energie",
        quantity=D("12.345"),
        unit="kWh",
        unit_price=D("0.3917"),
        vat_rate=D("19"),
    )
    assert line.net_amount == D("4.84")
    assert money(D("0.005")) == D("0.01")
    assert money(D("-0.005")) == D("-0.01")
    assert str(money(D("-0.001"))) == "0.00"  # never "-0.00"


def test_reverse_charge_decision() -> None:
    """Reverse charge only between two different EU countries with the customer
    holding a VAT id; never domestic, outside the EU or for consumers."""
    consumer_fr = msgspec.structs.replace(FRENCH_CUSTOMER, vat_id=None)
    swiss = msgspec.structs.replace(FRENCH_CUSTOMER, country="CH", vat_id="CHE-123.456.789")
    assert is_reverse_charge(PARENT, FRENCH_CUSTOMER) is True
    assert is_reverse_charge(PARENT, CUSTOMER) is False  # both DE
    assert is_reverse_charge(PARENT, consumer_fr) is False  # no VAT id
    assert is_reverse_charge(PARENT, swiss) is False  # not EU
    assert is_reverse_charge(FRENCH_CUSTOMER, PARENT) is True
    assert vat_treatment(PARENT, FRENCH_CUSTOMER, D("19")) == ("AE", D("0"))
    assert vat_treatment(PARENT, CUSTOMER, D("19")) == ("S", D("19"))


def test_credit_note_supplier_is_the_recipient() -> None:
    """On a self-billed credit note the sub-CPO (recipient) supplies the service."""
    assert supplier_and_customer("credit_note", PARENT, SUB_CPO) == (SUB_CPO, PARENT)
    assert supplier_and_customer("invoice", PARENT, CUSTOMER) == (PARENT, CUSTOMER)


def test_reverse_charge_totals_need_category_ae_at_zero() -> None:
    """Under reverse charge a standard-rated line is rejected, and an AE line
    without reverse charge too; AE lines give one 0 % breakdown without VAT."""
    with pytest.raises(ValueError, match="reverse charge"):
        build_totals([_line(1, "5.00")], reverse_charge=True)
    with pytest.raises(ValueError, match="AE"):
        build_totals([_line(1, "5.00", "0", "AE")], reverse_charge=False)
    breakdown, net, vat, gross = build_totals(
        [_line(1, "5.00", "0", "AE"), _line(2, "1.25", "0", "AE")], reverse_charge=True
    )
    assert [(b.category, b.rate, b.net, b.vat) for b in breakdown] == [
        ("AE", D("0"), D("6.25"), D("0.00"))
    ]
    assert (net, vat, gross) == (D("6.25"), D("0.00"), D("6.25"))


def test_reverse_charge_document_is_marked() -> None:
    """A DE issuer invoicing a French company with a VAT id gets reverse charge."""
    document = samples.reverse_charge_invoice()
    assert document.reverse_charge is True
    assert {line.vat_category for line in document.lines} == {"AE"}
    assert document.total_vat == D("0.00")


def test_cancellation_negates_the_original_and_refers_to_it() -> None:
    """A cancellation has the original's lines with negated quantities and
    amounts (prices stay positive), exactly negated totals, and the reference."""
    original = samples.invoice()
    storno = cancellation_of(original, "ST-1", date(2026, 12, 5))
    assert storno.kind == "cancellation"
    assert (storno.number, storno.issue_date) == ("ST-1", date(2026, 12, 5))
    assert (storno.refers_to_number, storno.refers_to_issue_date) == (
        original.number,
        original.issue_date,
    )
    assert storno.refers_to_kind == "invoice"
    assert [ln.quantity for ln in storno.lines] == [-ln.quantity for ln in original.lines]
    assert [ln.net_amount for ln in storno.lines] == [-ln.net_amount for ln in original.lines]
    assert [ln.unit_price for ln in storno.lines] == [ln.unit_price for ln in original.lines]
    assert (storno.total_net, storno.total_vat, storno.total_gross) == (
        -original.total_net,
        -original.total_vat,
        -original.total_gross,
    )
    assert storno.pre_text == "" and storno.payment_terms == ""  # not the original's
    check_totals(storno)
    with pytest.raises(ValueError):
        cancellation_of(storno, "ST-2", date(2026, 12, 6))


def test_cancellation_of_a_credit_note_stays_self_billed() -> None:
    """Cancelling a credit note keeps the roles: the recipient remains the supplier."""
    storno = samples.reverse_charge_credit_note_cancellation()
    assert storno.self_billed and storno.reverse_charge
    assert str(storno.total_vat) == "0.00"


def test_a_cancellation_must_refer_to_a_document() -> None:
    """A cancellation without the cancelled document's number is rejected."""
    with pytest.raises(ValueError, match="refer"):
        msgspec.structs.replace(samples.invoice(), kind="cancellation")


def test_document_is_immutable_and_round_trips_through_json_without_floats() -> None:
    """The stored JSON gives back an equal document; amounts are strings."""
    document = samples.credit_note()
    with pytest.raises(AttributeError):
        document.number = "X"  # type: ignore[misc]
    data = to_json(document)
    raw = msgspec.json.decode(data)
    assert raw["total_gross"] == "12.59"
    assert raw["lines"][0]["unit_price"] == "1.03"
    restored = from_json(data)
    assert restored == document
    assert isinstance(restored, Document)
    assert isinstance(restored.lines[0].quantity, D)


def test_check_totals_catches_inconsistent_documents() -> None:
    """A document whose stored total differs from its lines is detected."""
    document = samples.invoice()
    check_totals(document)
    with pytest.raises(ValueError, match="totals"):
        check_totals(msgspec.structs.replace(document, total_gross=D("12.60")))


def test_unit_codes_follow_unece_rec_20() -> None:
    """kWh → KWH, h → HUR, session/piece → C62; unknown units are rejected."""
    assert [unit_code(u) for u in ("kWh", "h", "session", "piece")] == ["KWH", "HUR", "C62", "C62"]
    with pytest.raises(ValueError):
        unit_code("furlong")
