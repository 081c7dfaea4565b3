"""Sample parties and documents for the billing document tests."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

from billing.documents.model import (
    Branding,
    Document,
    DocumentKind,
    Party,
    SessionReference,
    build_totals,
    cancellation_of,
    is_reverse_charge,
    make_line,
    supplier_and_customer,
    vat_treatment,
)
from billing.documents.texts import fill_document_texts

PARENT = Party(
    name="Stadtwerke Müßingen GmbH",
    street="Hauptstraße 1",
    postal_code="12345",
    city="Müßingen",
    country="DE",
    vat_id="DE123456789",
    email="abrechnung@sw-muessingen.de",
    entity_id=1,
)
CUSTOMER = Party(
    name="Jürgen Größe e.K.",
    street="Kölner Weg 5",
    postal_code="50667",
    city="Köln",
    country="DE",
    vat_id="DE987654321",
    customer_number="K-1001",
    contact_id=7,
)
SUB_CPO = Party(
    name="Ladepark Süd GmbH",
    street="Bahnhofstraße 9",
    postal_code="80331",
    city="München",
    country="DE",
    vat_id="DE111222333",
    customer_number="P-0042",
    entity_id=5,
)
FRENCH_CUSTOMER = Party(
    name="Société Électrique SARL",
    street="1 rue de la Paix",
    postal_code="75001",
    city="Paris",
    country="FR",
    vat_id="FR40303265045",
    customer_number="K-2002",
)

PRE = "Sehr geehrte Damen und Herren der {{customer_name}}, für {{period}} berechnen wir:"
POST = "Bitte überweisen Sie {{total_gross}} unter Angabe von {{document_number}}."


def document(
    recipient: Party = CUSTOMER,
    *,
    kind: DocumentKind = "invoice",
    number: str = "RE-2026-0001",
    language: str = "de",
) -> Document:
    """Three 1.03 € energy lines (per-line VAT would be 0.60, per rate 0.59), a
    parking line, and a 7 % line unless reverse charge applies."""
    issuer = PARENT
    supplier, customer = supplier_and_customer(kind, issuer, recipient)
    reverse_charge = is_reverse_charge(supplier, customer)
    category, rate = vat_treatment(supplier, customer, D("19"))
    session = SessionReference(
        station="DE*SWM*E0001",
        start_local="2026-11-03 18:04",
        end_local="2026-11-03 19:10",
        medium_uid="04A1B2C3",
    )
    lines = [
        make_line(
            position=i + 1,
            description="Ladevorgang Energie",
            quantity=D("1"),
            unit="kWh",
            unit_price=D("1.03"),
            vat_rate=rate,
            vat_category=category,
            session=session,
            supply_date=date(2026, 11, 3),
        )
        for i in range(3)
    ]
    lines.append(
        make_line(
            position=4,
            description="Blockiergebühr",
            quantity=D("1.5"),
            unit="h",
            unit_price=D("2.00"),
            vat_rate=rate,
            vat_category=category,
        )
    )
    if not reverse_charge:
        lines.append(
            make_line(
                position=5,
                description="Ladekarte",
                quantity=D("1"),
                unit="piece",
                unit_price=D("4.99"),
                vat_rate=D("7"),
            )
        )
    breakdown, net, vat, gross = build_totals(lines, reverse_charge=reverse_charge)
    draft = Document(
        kind=kind,
        number=number,
        issue_date=date(2026, 12, 1),
        period_start=date(2026, 11, 1),
        period_end=date(2026, 11, 30),
        currency="EUR",
        issuer=issuer,
        recipient=recipient,
        lines=tuple(lines),
        vat_breakdown=breakdown,
        total_net=net,
        total_vat=vat,
        total_gross=gross,
        reverse_charge=reverse_charge,
        reply_to="rechnung@sw-muessingen.de",
        payment_terms="Zahlbar innerhalb von 14 Tagen ohne Abzug.",
        branding=Branding(display_name="SW Müßingen", primary_colour="#005a9c"),
        language="de" if language == "de" else "en",
    )
    return fill_document_texts(draft, PRE, POST)


def invoice() -> Document:
    return document()


def credit_note() -> Document:
    return document(SUB_CPO, kind="credit_note", number="GS-2026-0001")


def reverse_charge_invoice() -> Document:
    return document(FRENCH_CUSTOMER, number="RE-2026-0002")


CANCEL_PRE = "Wir stornieren {{refers_to_number}} ({{customer_name}})."


def cancellation() -> Document:
    draft = cancellation_of(invoice(), "ST-2026-0001", date(2026, 12, 5))
    return fill_document_texts(draft, CANCEL_PRE, "Der Betrag von {{total_gross}} wird erstattet.")


def reverse_charge_credit_note_cancellation() -> Document:
    original = document(FRENCH_CUSTOMER, kind="credit_note", number="GS-2026-0002")
    return cancellation_of(original, "ST-2026-0002", date(2026, 12, 6))


ALL = {
    "invoice": invoice,
    "credit_note": credit_note,
    "cancellation": cancellation,
    "reverse_charge": reverse_charge_invoice,
    "reverse_charge_credit_note_cancellation": reverse_charge_credit_note_cancellation,
}
