"""EN 16931 CII XML: XSD, business rules (schematron), codes, seller/buyer."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal as D

import facturx
import msgspec
import pytest
from lxml import etree

from billing.documents.einvoice import render_cii
from billing.documents.model import Document
from tests.unit.billing_documents import samples
from tests.unit.billing_documents.en16931_rules import rule_violations

pytestmark = pytest.mark.backend_independent

NS = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
}
# drafthorse always writes ApplicableHeaderTradeDelivery (mandatory in CII); with no
# delivery data it is empty, which only a PEPPOL rule flags, as a warning.
EXPECTED_WARNING = "PEPPOL-EN16931-R008"


def _xpath(xml: bytes, path: str) -> list[str]:
    root = etree.fromstring(xml)
    return [
        str(v).strip() if isinstance(v, str) else (v.text or "").strip()
        for v in root.xpath(path, namespaces=NS)
    ]


def _errors(xml: bytes) -> list[str]:
    return [v for v in rule_violations(xml) if EXPECTED_WARNING not in v]


@pytest.mark.parametrize("make", list(samples.ALL.values()), ids=list(samples.ALL))
def test_xml_passes_xsd_and_en16931_business_rules(make: Callable[[], Document]) -> None:
    """Invoice, credit note (389), cancellation (384) and reverse-charge documents
    validate against the Factur-X EN 16931 XSD and violate no EN 16931 rule."""
    xml = render_cii(make())
    assert facturx.xml_check_xsd(xml, flavor="factur-x", level="en16931") is True
    assert _errors(xml) == []


def test_tampered_total_fails_the_business_rules() -> None:
    """The rule check can fail: a grand total one cent off breaks BR-CO-15/16."""
    xml = render_cii(samples.invoice())
    tampered = xml.replace(
        b"<ram:GrandTotalAmount>12.59</ram:GrandTotalAmount>",
        b"<ram:GrandTotalAmount>12.60</ram:GrandTotalAmount>",
    )
    assert tampered != xml
    assert facturx.xml_check_xsd(tampered, flavor="factur-x", level="en16931") is True
    errors = _errors(tampered)
    assert any("BR-CO-15" in e for e in errors)
    assert any("BR-CO-16" in e for e in errors)


def test_wrong_vat_per_rate_fails_the_business_rules() -> None:
    """BR-CO-17 (VAT = taxable amount x rate) is enforced by the rules, but the
    EN 16931 schematron allows 1 currency unit of slack: VAT off by 2 € fails
    it; the exact per-rate cents are our own check (check_totals)."""
    document = samples.invoice()
    b19, b7 = document.vat_breakdown
    off = D("2.00")
    wrong = msgspec.structs.replace(
        document,
        vat_breakdown=(msgspec.structs.replace(b19, vat=b19.vat + off), b7),
        total_vat=document.total_vat + off,
        total_gross=document.total_gross + off,
    )
    errors = _errors(render_cii(wrong))
    assert any("BR-CO-17" in e for e in errors), errors
    assert any("BR-S-09" in e for e in errors), errors


def test_invoice_seller_is_the_issuer() -> None:
    """380: seller = issuer with its VAT id (BT-31), buyer = recipient (BT-48)."""
    xml = render_cii(samples.invoice())
    assert _xpath(xml, "//rsm:ExchangedDocument/ram:TypeCode") == ["380"]
    seller = "//ram:SellerTradeParty"
    buyer = "//ram:BuyerTradeParty"
    assert _xpath(xml, f"{seller}/ram:Name") == [samples.PARENT.name]
    assert _xpath(xml, f"{seller}/ram:SpecifiedTaxRegistration/ram:ID[@schemeID='VA']") == [
        "DE123456789"
    ]
    assert _xpath(xml, f"{buyer}/ram:Name") == [samples.CUSTOMER.name]
    assert _xpath(xml, f"{buyer}/ram:SpecifiedTaxRegistration/ram:ID") == ["DE987654321"]
    assert _xpath(xml, "//ram:BuyerReference") == ["K-1001"]


def test_credit_note_is_self_billed_with_the_sub_cpo_as_seller() -> None:
    """389: the sub-CPO (recipient of the Gutschrift) is the seller, the issuing
    parent the buyer."""
    xml = render_cii(samples.credit_note())
    assert _xpath(xml, "//rsm:ExchangedDocument/ram:TypeCode") == ["389"]
    assert _xpath(xml, "//ram:SellerTradeParty/ram:Name") == [samples.SUB_CPO.name]
    assert _xpath(xml, "//ram:SellerTradeParty/ram:SpecifiedTaxRegistration/ram:ID") == [
        "DE111222333"
    ]
    assert _xpath(xml, "//ram:BuyerTradeParty/ram:Name") == [samples.PARENT.name]


def test_cancellation_is_384_referring_to_the_original() -> None:
    """384 with BG-3 (BT-25 number, BT-26 date) and negative totals."""
    xml = render_cii(samples.cancellation())
    assert _xpath(xml, "//rsm:ExchangedDocument/ram:TypeCode") == ["384"]
    ref = "//ram:ApplicableHeaderTradeSettlement/ram:InvoiceReferencedDocument"
    assert _xpath(xml, f"{ref}/ram:IssuerAssignedID") == ["RE-2026-0001"]
    assert _xpath(xml, f"{ref}/ram:FormattedIssueDateTime/*") == ["20261201"]
    assert _xpath(xml, "//ram:GrandTotalAmount") == ["-12.59"]
    assert _xpath(xml, "//ram:DuePayableAmount") == ["-12.59"]
    assert _xpath(xml, "//ram:SellerTradeParty/ram:Name") == [samples.PARENT.name]


def test_cancelled_credit_note_keeps_the_sub_cpo_as_seller() -> None:
    """A cancelled credit note is 384 with the original's roles (seller = sub-CPO)."""
    xml = render_cii(samples.reverse_charge_credit_note_cancellation())
    assert _xpath(xml, "//rsm:ExchangedDocument/ram:TypeCode") == ["384"]
    assert _xpath(xml, "//ram:SellerTradeParty/ram:Name") == [samples.FRENCH_CUSTOMER.name]
    assert _xpath(xml, "//ram:BuyerTradeParty/ram:Name") == [samples.PARENT.name]


def test_reverse_charge_is_category_ae_with_reason_and_both_vat_ids() -> None:
    """Reverse charge: AE at 0 %, exemption reason (BT-120) and code, both VAT ids."""
    xml = render_cii(samples.reverse_charge_invoice())
    tax = "//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax"
    assert _xpath(xml, f"{tax}/ram:CategoryCode") == ["AE"]
    assert _xpath(xml, f"{tax}/ram:RateApplicablePercent") == ["0"]
    assert _xpath(xml, f"{tax}/ram:CalculatedAmount") == ["0.00"]
    assert _xpath(xml, f"{tax}/ram:ExemptionReason") == [
        "Steuerschuldnerschaft des Leistungsempfängers"
    ]
    assert _xpath(xml, f"{tax}/ram:ExemptionReasonCode") == ["VATEX-EU-AE"]
    assert set(_xpath(xml, "//ram:SpecifiedLineTradeSettlement//ram:CategoryCode")) == {"AE"}
    assert _xpath(xml, "//ram:BuyerTradeParty/ram:SpecifiedTaxRegistration/ram:ID") == [
        "FR40303265045"
    ]


def test_lines_period_and_payment_terms() -> None:
    """Lines carry quantity with rec 20 unit code, net price and amount; the
    billing period (BG-14) and payment terms (BT-20) are present."""
    xml = render_cii(samples.invoice())
    assert _xpath(xml, "//ram:BilledQuantity/@unitCode") == ["KWH", "KWH", "KWH", "HUR", "C62"]
    assert _xpath(xml, "//ram:BilledQuantity") == ["1", "1", "1", "1.5", "1"]
    line_totals = "//ram:SpecifiedTradeSettlementLineMonetarySummation/ram:LineTotalAmount"
    assert _xpath(xml, line_totals) == ["1.03", "1.03", "1.03", "3.00", "4.99"]
    period = "//ram:ApplicableHeaderTradeSettlement/ram:BillingSpecifiedPeriod"
    assert _xpath(xml, f"{period}/ram:StartDateTime/*") == ["20261101"]
    assert _xpath(xml, f"{period}/ram:EndDateTime/*") == ["20261130"]
    assert _xpath(xml, "//ram:SpecifiedTradePaymentTerms/ram:Description") == [
        "Zahlbar innerhalb von 14 Tagen ohne Abzug."
    ]
    assert _xpath(xml, "//ram:TaxBasisTotalAmount") == ["11.08"]
    assert _xpath(xml, "//ram:TaxTotalAmount") == ["1.51"]


def test_amount_due_without_payment_terms_is_refused() -> None:
    """BR-CO-25: an invoice with an amount due needs payment terms."""
    with pytest.raises(ValueError, match="payment terms"):
        render_cii(msgspec.structs.replace(samples.invoice(), payment_terms=""))


def test_xml_is_deterministic() -> None:
    """The same document gives the same bytes."""
    assert render_cii(samples.credit_note()) == render_cii(samples.credit_note())
