"""EN 16931 e-invoice (UN/CEFACT CII, Factur-X profile EN 16931) of a document.

Type codes (BT-3) and who is seller/buyer:

* ``invoice`` → **380** (commercial invoice). Seller (BG-4) = the issuer,
  buyer (BG-7) = the recipient.
* ``credit_note`` → **389** (self-billed invoice). Our "Gutschrift" is a
  credit note in the sense of § 14 (2) sentence 2 UStG: the parent entity
  settles the sessions at a sub-CPO's stations by billing *itself* on the sub-CPO's
  behalf. Economically and for VAT the sub-CPO supplies the service and receives
  the money, so in EN 16931 terms the **seller is the sub-CPO (the document's
  recipient)** and the **buyer is the issuing parent**. The seller's VAT id
  (BT-31) is therefore the sub-CPO's, the buyer's (BT-48) the parent's. It is not
  a 381 "credit note": a 381 corrects an earlier invoice, whereas a self-billed
  settlement is the original invoice of the sub-CPO, written by the buyer.
* ``cancellation`` → **384** (corrected invoice) with the preceding invoice
  reference (BG-3: BT-25 number, BT-26 issue date) and the cancelled document's
  amounts negated; the seller/buyer roles are those of the cancelled document
  (a cancelled credit note keeps the sub-CPO as seller). 384 is in the EN 16931
  code list (BR-CL-01) and, unlike 381, its amounts carry their real sign, so the
  XML shows the same negative amounts as the printed Stornorechnung; a 381 would
  need positive amounts meaning "credit", i.e. different numbers from the PDF.
  EN 16931 allows negative quantities and line/document totals; only item
  prices (BR-27) stay non-negative, which :func:`~billing.documents.model.cancellation_of`
  keeps.

Reverse charge: every tax line is category **AE** at 0 %, with exemption reason
(BT-120) ``"Reverse charge"`` / the German wording and both VAT ids
(BR-AE-02).

The XML is generated with drafthorse (``serialize(schema="FACTUR-X_EN16931")``,
which checks against the Factur-X EN 16931 XSD) and is deterministic.
"""

from __future__ import annotations

from decimal import Decimal

from drafthorse.models.accounting import ApplicableTradeTax
from drafthorse.models.document import Document as CiiDocument
from drafthorse.models.note import IncludedNote
from drafthorse.models.party import TaxRegistration, TradeParty
from drafthorse.models.payment import PaymentTerms
from drafthorse.models.tradelines import LineItem

from billing.documents.model import (
    REVERSE_CHARGE_TEXT,
    Document,
    Party,
    money,
    unit_code,
)

__all__ = ["GUIDELINE", "TYPE_CODES", "render_cii", "seller_and_buyer", "type_code"]

GUIDELINE = "urn:cen.eu:en16931:2017"

TYPE_CODES: dict[str, str] = {"invoice": "380", "credit_note": "389", "cancellation": "384"}

# Exemption reason (BT-120) for category AE.
_AE_REASON_CODE = "VATEX-EU-AE"


def type_code(document: Document) -> str:
    """BT-3 of a document (see the module docstring)."""
    return TYPE_CODES[document.kind]


def seller_and_buyer(document: Document) -> tuple[Party, Party]:
    """(seller, buyer): the issuer sells, except on self-billed documents (credit
    notes and their cancellations), where the recipient is the seller."""
    if document.self_billed:
        return document.recipient, document.issuer
    return document.issuer, document.recipient


def _amount(value: Decimal) -> Decimal:
    return money(value)


def _fill_party(target: TradeParty, party: Party, *, customer_number: str | None) -> None:
    if customer_number:
        target.id = customer_number  # BT-46 buyer identifier
    target.name = party.name
    target.address.line_one = party.street
    target.address.postcode = party.postal_code
    target.address.city_name = party.city
    target.address.country_id = party.country.upper()
    if party.email:
        target.electronic_address.uri_ID = ("EM", party.email)  # BT-34/BT-49
    if party.vat_id:
        registration = TaxRegistration()
        registration.id = ("VA", party.vat_id)
        target.tax_registrations.add(registration)
    if party.tax_number:
        registration = TaxRegistration()
        registration.id = ("FC", party.tax_number)
        target.tax_registrations.add(registration)


def _note(text: str, subject_code: str | None = None) -> IncludedNote:
    note = IncludedNote()
    note.content = text
    if subject_code:
        note.subject_code = subject_code
    return note


def render_cii(document: Document) -> bytes:
    """The EN 16931 CII XML (UTF-8 bytes) of ``document``.

    Raises ValueError if the document cannot be a valid EN 16931 invoice (an
    amount is due but there are no payment terms, BR-CO-25).
    """
    code = type_code(document)
    lang = document.language
    currency = document.currency
    seller, buyer = seller_and_buyer(document)

    doc = CiiDocument()
    doc.context.guideline_parameter.id = GUIDELINE
    doc.header.id = document.number
    doc.header.type_code = code
    doc.header.issue_date_time = document.issue_date
    if document.pre_text:
        doc.header.notes.add(_note(document.pre_text))
    if document.reverse_charge:
        doc.header.notes.add(_note(REVERSE_CHARGE_TEXT[lang], "TXD"))
    if document.post_text:
        doc.header.notes.add(_note(document.post_text))

    agreement = doc.trade.agreement
    # BT-10 buyer reference: the recipient's customer number helps their matching.
    if document.recipient.customer_number:
        agreement.buyer_reference = document.recipient.customer_number
    _fill_party(agreement.seller, seller, customer_number=None)
    buyer_number = document.recipient.customer_number if buyer is document.recipient else None
    _fill_party(agreement.buyer, buyer, customer_number=buyer_number)
    if document.reply_to and not seller.email and seller is document.issuer:
        agreement.seller.electronic_address.uri_ID = ("EM", document.reply_to)

    for line in document.lines:
        item = LineItem()
        item.document.line_id = str(line.position)
        item.product.name = line.description
        details = []
        if line.session is not None:
            details.append(line.session.text())
        if line.supply_date is not None:
            details.append(line.supply_date.isoformat())
        if details:
            item.product.description = "; ".join(details)
        item.agreement.net.amount = line.unit_price
        item.delivery.billed_quantity = (line.quantity, unit_code(line.unit))
        item.settlement.trade_tax.type_code = "VAT"
        item.settlement.trade_tax.category_code = line.vat_category
        item.settlement.trade_tax.rate_applicable_percent = line.vat_rate
        item.settlement.monetary_summation.total_amount = _amount(line.net_amount)
        doc.trade.items.add(item)

    settlement = doc.trade.settlement
    settlement.currency_code = currency
    if document.self_billed:
        # The parent pays; keep the recipient's number as the payment reference.
        settlement.payment_reference = document.number
    for vat in document.vat_breakdown:
        tax = ApplicableTradeTax()
        tax.calculated_amount = _amount(vat.vat)
        tax.basis_amount = _amount(vat.net)
        tax.type_code = "VAT"
        tax.category_code = vat.category
        tax.rate_applicable_percent = vat.rate
        if vat.category == "AE":
            tax.exemption_reason = REVERSE_CHARGE_TEXT[lang]
            tax.exemption_reason_code = _AE_REASON_CODE
        settlement.trade_tax.add(tax)

    settlement.period.start = document.period_start
    settlement.period.end = document.period_end

    if document.payment_terms:
        terms = PaymentTerms()
        terms.description = document.payment_terms
        settlement.terms.add(terms)
    elif document.total_gross > 0:
        raise ValueError(
            f"document {document.number}: an amount is due but there are no payment terms"
        )

    summation = settlement.monetary_summation
    summation.line_total = _amount(sum((ln.net_amount for ln in document.lines), Decimal("0")))
    summation.charge_total = Decimal("0.00")
    summation.allowance_total = Decimal("0.00")
    summation.tax_basis_total = _amount(document.total_net)
    summation.tax_total = (_amount(document.total_vat), currency)
    summation.grand_total = _amount(document.total_gross)
    summation.prepaid_total = Decimal("0.00")
    summation.due_amount = _amount(document.total_gross)

    if document.kind == "cancellation":
        assert document.refers_to_number is not None
        assert document.refers_to_issue_date is not None
        reference = settlement.invoice_referenced_document
        reference.issuer_assigned_id = document.refers_to_number
        reference.issue_date_time = document.refers_to_issue_date

    xml: bytes = doc.serialize(schema="FACTUR-X_EN16931")
    return xml
