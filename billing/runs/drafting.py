"""A billing run's documents, drafted from unbilled CDRs (no I/O).

CDRs are grouped by document: the seller (the run's entity), the audience
(``emp`` and ``customer`` become invoices, ``sub_cpo`` credit notes), the
recipient (entity and contact) and the currency. Each CDR contributes one
line per priced dimension and price ("what was supplied with quantities"),
with the session it belongs to; a min/max price adjustment is its own line.
VAT is computed per rate on the summed net amounts of the document
(``billing.documents.model.build_totals``).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from billing.documents.model import (
    Branding,
    Document,
    DocumentLine,
    Party,
    SessionReference,
    build_totals,
    from_json,
    is_reverse_charge,
    money,
    to_json,
)
from billing.documents.texts import fill_document_texts
from billing.ports import ContactInfo, DraftDocument, EntityInfo, UnbilledCdr

KIND_OF_AUDIENCE = {"emp": "invoice", "customer": "invoice", "sub_cpo": "credit_note"}
E4 = Decimal("10000")

# Standard VAT rates (percent) of the countries a tariff component without a
# VAT of its own is taxed in: the issuer's (shared reference data).
STANDARD_VAT = {
    "AT": "20",
    "BE": "21",
    "CH": "8.1",
    "CZ": "21",
    "DE": "19",
    "DK": "25",
    "ES": "21",
    "FI": "25.5",
    "FR": "20",
    "GB": "20",
    "IT": "22",
    "LU": "17",
    "NL": "21",
    "NO": "25",
    "PL": "23",
    "SE": "25",
}

_DESCRIPTIONS = {
    "de": {
        "ENERGY": "Energie",
        "TIME": "Ladezeit",
        "PARKING_TIME": "Parkzeit",
        "FLAT": "Startgebühr",
        "RESERVATION": "Reservierung",
        "ADJUSTMENT": "Mindest-/Höchstpreis",
    },
    "en": {
        "ENERGY": "Energy",
        "TIME": "Charging time",
        "PARKING_TIME": "Parking time",
        "FLAT": "Session fee",
        "RESERVATION": "Reservation",
        "ADJUSTMENT": "Minimum/maximum price",
    },
}
# Said when the entity's branding names no payment terms of its own (an
# e-invoice with an amount due must state them: EN 16931 BR-CO-25).
_PAYMENT_TERMS = {
    "de": "Zahlbar innerhalb von 14 Tagen ab Rechnungsdatum ohne Abzug.",
    "en": "Payable within 14 days of the invoice date without deduction.",
}
_UNITS = {"ENERGY": "kWh", "TIME": "h", "PARKING_TIME": "h", "FLAT": "session"}
_PERIOD = re.compile(r"(\d{4})-(\d{2})")


class PeriodError(ValueError):
    pass


def parse_period(text: str) -> tuple[date, date]:
    """``2026-10`` as its first and last day."""
    match = _PERIOD.fullmatch(text)
    if not match:
        raise PeriodError(f"period {text!r} is not a month written YYYY-MM")
    year, month = int(match.group(1)), int(match.group(2))
    if not 1 <= month <= 12 or year < 2000:
        raise PeriodError(f"period {text!r} is not a month written YYYY-MM")
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


def period_bounds(first: date, last: date, time_zone: str) -> tuple[datetime, datetime]:
    """The UTC instants the local days ``first`` to ``last`` (inclusive)
    start and end at, in ``time_zone``."""
    zone = ZoneInfo(time_zone)
    start = datetime.combine(first, time(0), zone).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), time(0), zone).astimezone(UTC)
    return start, end


def vat_rate_of(component_vat: str | None, issuer_country: str) -> Decimal:
    if component_vat is not None:
        return Decimal(component_vat)
    return Decimal(STANDARD_VAT.get(issuer_country.upper(), "0"))


def entity_party(entity: EntityInfo, *, customer_number: str | None = None) -> Party:
    return Party(
        name=entity.name,
        street=entity.street,
        postal_code=entity.postal_code,
        city=entity.city,
        country=entity.country or "DE",
        vat_id=entity.vat_id or None,
        email=entity.email or None,
        customer_number=customer_number,
        entity_id=entity.id,
        contact_id=entity.master_contact_id,
    )


def credit_note_party(entity: EntityInfo) -> Party:
    """The sub-CPO as a credit note addresses it: its deviating credit-note
    address when it has one (lines: [name,] street, postal code and city)."""
    party = entity_party(entity, customer_number=entity.customer_number)
    lines = [line.strip() for line in entity.credit_note_address.splitlines() if line.strip()]
    if len(lines) < 2:
        return party
    postal_code, _, city = lines[-1].partition(" ")
    name = lines[0] if len(lines) >= 3 else entity.name
    return msgspec.structs.replace(
        party, name=name, street=lines[-2], postal_code=postal_code, city=city
    )


def contact_party(contact: ContactInfo) -> Party:
    return Party(
        name=contact.company or contact.name,
        street=contact.street,
        postal_code=contact.postal_code,
        city=contact.city,
        country=contact.country or "DE",
        vat_id=contact.vat_id or None,
        email=contact.email or None,
        customer_number=contact.customer_number,
        contact_id=contact.id,
    )


def _branding(entity: EntityInfo) -> Branding:
    data = entity.branding or {}
    return Branding(
        display_name=str(data.get("display_name") or entity.name),
        primary_colour=_colour(data.get("primary_color"), "#1f3a5f"),
        secondary_colour=_colour(data.get("secondary_color"), "#e8edf3"),
        logo_png_base64=data.get("logo_png_base64") or None,
    )


def document_language(entity: EntityInfo) -> str:
    """The language of the entity's documents: its layout's (branding key
    ``language``), else German in DE, AT and CH and English elsewhere."""
    chosen = (entity.branding or {}).get("language")
    if chosen in ("de", "en"):
        return str(chosen)
    return "en" if (entity.country or "DE").upper() not in ("DE", "AT", "CH") else "de"


def _colour(value: Any, default: str) -> str:
    if isinstance(value, str) and re.fullmatch(r"#[0-9a-fA-F]{6}", value):
        return value
    return default


def _local(moment: datetime, zone: str) -> datetime:
    return moment.astimezone(ZoneInfo(zone))


class _Supplied(msgspec.Struct):
    """One priced dimension of a CDR's detail (the fields lines are made
    of; values as the JSON has them)."""

    dimension: Any
    price: Any
    billed_volume: Any
    reservation: Any = None
    vat: Any = None


class _Detail(msgspec.Struct):
    """What the lines need of a CDR's detail; the rest (charging periods,
    signed meter values) is skipped, not decoded."""

    supplied: list[_Supplied] = []
    price_adjustment_excl_vat: Any = "0"
    adjustment_vat: Any = None


_detail_decoder = msgspec.json.Decoder(_Detail)
_ZERO = Decimal("0")
_ONE = Decimal("1")


def _minutes(moment: datetime) -> str:
    """``moment`` as ``%Y-%m-%d %H:%M``."""
    if moment.year < 1000:
        return moment.strftime("%Y-%m-%d %H:%M")
    return moment.isoformat(" ", "minutes")[:16]


class _LineMaker:
    """Makes the lines of the CDRs of one document, with what they share
    (time zones, decimals of prices and VAT rates) worked out once."""

    def __init__(
        self,
        *,
        issuer_country: str,
        reverse_charge: bool,
        language: str,
        zones: dict[str, ZoneInfo] | None = None,
    ) -> None:
        self._issuer_country = issuer_country
        self._reverse_charge = reverse_charge
        self._words = _DESCRIPTIONS.get(language, _DESCRIPTIONS["de"])
        self._zones = {} if zones is None else zones
        self._decimals: dict[str, Decimal] = {}
        self._rates: dict[Any, tuple[Decimal, str]] = {}

    def zone(self, name: str) -> ZoneInfo:
        zone = self._zones.get(name)
        if zone is None:
            zone = self._zones[name] = ZoneInfo(name)
        return zone

    def _decimal(self, value: Any) -> Decimal:
        if type(value) is not str:
            return Decimal(value)
        found = self._decimals.get(value)
        if found is None:
            found = self._decimals[value] = Decimal(value)
        return found

    def _rate(self, component_vat: Any) -> tuple[Decimal, str]:
        """(VAT rate, category) of a line."""
        cacheable = component_vat is None or type(component_vat) is str
        if cacheable:
            found = self._rates.get(component_vat)
            if found is not None:
                return found
        rate = vat_rate_of(component_vat, self._issuer_country)
        found = (_ZERO, "AE") if self._reverse_charge else (rate, "S" if rate else "Z")
        if cacheable:
            self._rates[component_vat] = found
        return found

    def lines(
        self, cdr: UnbilledCdr, first_position: int, start: datetime | None = None
    ) -> list[DocumentLine]:
        """The document lines of one CDR (``start``: its start in its zone)."""
        detail = _detail_decoder.decode(cdr.detail)
        zone = self.zone(cdr.time_zone)
        if start is None:
            start = cdr.started_at.astimezone(zone)
        end = cdr.stopped_at.astimezone(zone)
        reference = SessionReference(
            station=cdr.charge_point_id,
            start_local=_minutes(start),
            end_local=_minutes(end),
            medium_uid=cdr.medium_uid or None,
        )
        supply_date = end.date()
        words = self._words
        decimal = self._decimal
        lines: list[DocumentLine] = []
        position = first_position
        for supplied in detail.supplied:
            dimension = supplied.dimension
            reserved = bool(supplied.reservation)
            key = "RESERVATION" if reserved else dimension
            quantity = decimal(supplied.billed_volume)
            unit_price = decimal(supplied.price)
            vat_rate, category = self._rate(supplied.vat)
            lines.append(
                DocumentLine(
                    position=position,
                    description=words.get(key, dimension),
                    quantity=quantity,
                    unit="h" if reserved else _UNITS.get(dimension, "piece"),
                    unit_price=unit_price,
                    net_amount=money(quantity * unit_price),
                    vat_rate=vat_rate,
                    vat_category=category,  # type: ignore[arg-type]
                    session=reference,
                    supply_date=supply_date,
                )
            )
            position += 1
        adjustment = decimal(detail.price_adjustment_excl_vat)
        if adjustment:
            vat_rate, category = self._rate(detail.adjustment_vat)
            lines.append(
                DocumentLine(
                    position=position,
                    description=words["ADJUSTMENT"],
                    quantity=_ONE,
                    unit="session",
                    unit_price=adjustment,
                    net_amount=money(_ONE * adjustment),
                    vat_rate=vat_rate,
                    vat_category=category,  # type: ignore[arg-type]
                    session=reference,
                    supply_date=supply_date,
                )
            )
        return lines


def cdr_lines(
    cdr: UnbilledCdr,
    *,
    first_position: int,
    issuer_country: str,
    reverse_charge: bool,
    language: str,
) -> list[DocumentLine]:
    """The document lines of one CDR."""
    maker = _LineMaker(
        issuer_country=issuer_country, reverse_charge=reverse_charge, language=language
    )
    return maker.lines(cdr, first_position)


def draft_documents(
    cdrs: Iterable[UnbilledCdr],
    *,
    seller: EntityInfo,
    entities: dict[int, EntityInfo],
    contacts: dict[int, ContactInfo],
    period_start: date,
    period_end: date,
    issue_date: date,
) -> list[DraftDocument]:
    """The run's documents (numbers are taken when they are issued)."""
    groups: dict[tuple[str, int | None, int | None, str], list[UnbilledCdr]] = {}
    for cdr in cdrs:
        kind = KIND_OF_AUDIENCE[cdr.audience]
        key = (kind, cdr.buyer_entity_id, cdr.buyer_contact_id, cdr.currency)
        groups.setdefault(key, []).append(cdr)
    # What every document of the seller shares.
    issuer = entity_party(seller)
    language = document_language(seller)
    texts = seller.branding or {}
    payment_terms = str(texts.get("payment_terms") or _PAYMENT_TERMS[language])
    branding = _branding(seller)
    reply_to = seller.invoice_reply_to or seller.email or None
    zones: dict[str, ZoneInfo] = {}
    makers: dict[tuple[str, bool], _LineMaker] = {}
    drafts = []
    for (kind, buyer_entity_id, buyer_contact_id, currency), members in sorted(
        groups.items(), key=lambda item: (item[0][0], item[0][1] or 0, item[0][2] or 0)
    ):
        members.sort(key=lambda c: (c.started_at, c.id))
        recipient = _recipient(kind, buyer_entity_id, buyer_contact_id, entities, contacts)
        supplier, buyer = (recipient, issuer) if kind == "credit_note" else (issuer, recipient)
        reverse_charge = is_reverse_charge(supplier, buyer)
        issuer_country = supplier.country or "DE"
        maker = makers.get((issuer_country, reverse_charge))
        if maker is None:
            maker = makers[(issuer_country, reverse_charge)] = _LineMaker(
                issuer_country=issuer_country,
                reverse_charge=reverse_charge,
                language=language,
                zones=zones,
            )
        lines: list[DocumentLine] = []
        first_day = period_start
        for cdr in members:
            start = cdr.started_at.astimezone(maker.zone(cdr.time_zone))
            day = start.date()
            if day < first_day:
                first_day = day
            lines += maker.lines(cdr, len(lines) + 1, start)
        breakdown, net, vat, gross = build_totals(lines, reverse_charge=reverse_charge)
        document = Document(
            kind=kind,  # type: ignore[arg-type]
            number="",
            issue_date=issue_date,
            period_start=first_day,
            period_end=period_end,
            currency=currency,
            issuer=issuer,
            recipient=recipient,
            lines=tuple(lines),
            vat_breakdown=breakdown,
            total_net=net,
            total_vat=vat,
            total_gross=gross,
            reverse_charge=reverse_charge,
            reply_to=reply_to,
            payment_terms=payment_terms,
            branding=branding,
            language=language,  # type: ignore[arg-type]
        )
        pre_template = str(texts.get(f"{kind}_pre_text") or texts.get("pre_text") or "")
        post_template = str(texts.get(f"{kind}_post_text") or texts.get("post_text") or "")
        if pre_template or post_template:
            # (Empty templates fill to the empty texts the document has.)
            document = fill_document_texts(document, pre_template, post_template)
        drafts.append(
            DraftDocument(
                kind=kind,
                issuer_entity_id=seller.id,
                recipient_entity_id=buyer_entity_id,
                recipient_contact_id=buyer_contact_id,
                currency=currency,
                cdr_ids=tuple(c.id for c in members),
                content=to_json(document),
                total_net_e4=int(net * E4),
                total_vat_e4=int(vat * E4),
                total_gross_e4=int(gross * E4),
                pre_template=pre_template,
                post_template=post_template,
            )
        )
    return drafts


def _recipient(
    kind: str,
    buyer_entity_id: int | None,
    buyer_contact_id: int | None,
    entities: dict[int, EntityInfo],
    contacts: dict[int, ContactInfo],
) -> Party:
    entity = entities.get(buyer_entity_id) if buyer_entity_id is not None else None
    if kind == "credit_note" and entity is not None:
        return credit_note_party(entity)
    contact = contacts.get(buyer_contact_id) if buyer_contact_id is not None else None
    if contact is not None:
        party = contact_party(contact)
        if entity is not None:
            return msgspec.structs.replace(party, entity_id=entity.id)
        return party
    if entity is not None:
        return entity_party(entity, customer_number=entity.customer_number)
    raise ValueError("a document needs a recipient entity or contact")


def with_number(draft: DraftDocument, number: str, issue_date: date) -> bytes:
    """The draft's content as issued: its number and issue date, and the
    issuer's texts filled with them."""
    document = msgspec.structs.replace(
        from_json(draft.content), number=number, issue_date=issue_date
    )
    return to_json(fill_document_texts(document, draft.pre_template, draft.post_template))


class _Period(msgspec.Struct):
    period_start: date
    period_end: date


_period_decoder = msgspec.json.Decoder(_Period)
# Stands for the number in a content made before the number is known: a
# text no document holds (checked), whose JSON form is replaced with the
# number's.
_NUMBER_MARK = "\x00\x1fdocument number\x1f\x00"
_ENCODED_MARK = msgspec.json.encode(_NUMBER_MARK)[1:-1]


class IssuedContent:
    """A draft's content as :func:`with_number` makes it, worked out before
    its number is known: :meth:`with_number` only puts the number in (the
    content is split where the number goes, its texts included)."""

    __slots__ = ("_draft", "_error", "_issue_date", "_pieces", "period_end", "period_start")

    def __init__(self, draft: DraftDocument, issue_date: date) -> None:
        self._draft = draft
        self._issue_date = issue_date
        self._pieces: tuple[bytes, ...] | None = None
        self._error: Exception | None = None
        self.period_start = self.period_end = issue_date
        try:
            self._prepare()
        except Exception as error:  # raised where with_number would raise it
            self._error = error

    def _prepare(self) -> None:
        draft, content = self._draft, self._draft.content
        if not draft.pre_template and not draft.post_template:
            # Nothing to fill: the content with its number and issue date
            # set is the drafted one but for those two values, which lead it.
            head = b'{"kind":' + msgspec.json.encode(draft.kind) + b',"number":"'
            empty = head + b'","issue_date":"'
            rest = len(empty) + 10
            if content.startswith(empty) and content[rest : rest + 1] == b'"':
                period = _period_decoder.decode(content)
                self.period_start, self.period_end = period.period_start, period.period_end
                day = self._issue_date.isoformat().encode()
                self._pieces = (head, b'","issue_date":"' + day + content[rest:])
                return
        if (
            _ENCODED_MARK in content
            or _NUMBER_MARK in draft.pre_template
            or _NUMBER_MARK in draft.post_template
        ):
            self._pieces = None  # with_number when the number is known
            period = _period_decoder.decode(content)
        else:
            marked = with_number(draft, _NUMBER_MARK, self._issue_date)
            self._pieces = tuple(marked.split(_ENCODED_MARK))
            period = _period_decoder.decode(marked)
        self.period_start, self.period_end = period.period_start, period.period_end

    def with_number(self, number: str) -> bytes:
        """``with_number(draft, number, issue_date)``."""
        if self._error is not None:
            raise self._error
        if self._pieces is None:
            return with_number(self._draft, number, self._issue_date)
        return msgspec.json.encode(number)[1:-1].join(self._pieces)
