"""The OCPI 2.2.1 Tariff object (mod_tariffs) as immutable msgspec structs.

``parse_tariff`` reads a tariff from JSON text, bytes or an already parsed
dict and checks it against OCPI 2.2.1; on any problem it raises ``TariffError``
naming EVERY bad field with its JSON path, e.g.
``elements[1].price_components[0].price: must be a non-negative number``.
Numbers are read as exact ``Decimal`` (a float in a caller's dict is taken at
its shortest repr). ``tariff_to_ocpi`` writes a tariff back as OCPI JSON data
with the Decimals unchanged (``tariff_to_json`` encodes them as JSON numbers).

Leniencies, on purpose: ``country_code``, ``party_id`` and ``last_updated``
(required by OCPI) may be missing, because tariffs from the reference
calculator's own test data omit them (a PUT body example, a grace-period
tariff) and price fine without (a store that needs them checks them itself);
unknown fields are ignored (OCPI objects grow between versions). Everything
pricing reads is strict.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal
from enum import StrEnum
from typing import Any

import msgspec

from billing.tariffs._checks import Checker, format_errors, load_json

__all__ = [
    "DayOfWeek",
    "DisplayText",
    "EnergyMix",
    "EnergySource",
    "EnvironmentalImpact",
    "Price",
    "PriceComponent",
    "ReservationRestrictionType",
    "Tariff",
    "TariffDimensionType",
    "TariffElement",
    "TariffError",
    "TariffRestrictions",
    "TariffType",
    "parse_tariff",
    "tariff_to_json",
    "tariff_to_ocpi",
]


class TariffDimensionType(StrEnum):
    ENERGY = "ENERGY"  # kWh, step_size in Wh
    FLAT = "FLAT"  # once per session, no step
    PARKING_TIME = "PARKING_TIME"  # hours not charging, step_size in seconds
    TIME = "TIME"  # hours charging (or reserved), step_size in seconds


class DayOfWeek(StrEnum):
    MONDAY = "MONDAY"
    TUESDAY = "TUESDAY"
    WEDNESDAY = "WEDNESDAY"
    THURSDAY = "THURSDAY"
    FRIDAY = "FRIDAY"
    SATURDAY = "SATURDAY"
    SUNDAY = "SUNDAY"

    @classmethod
    def of(cls, day: date) -> DayOfWeek:
        return list(cls)[day.weekday()]


class ReservationRestrictionType(StrEnum):
    RESERVATION = "RESERVATION"
    RESERVATION_EXPIRES = "RESERVATION_EXPIRES"


class TariffType(StrEnum):
    AD_HOC_PAYMENT = "AD_HOC_PAYMENT"
    PROFILE_CHEAP = "PROFILE_CHEAP"
    PROFILE_FAST = "PROFILE_FAST"
    PROFILE_GREEN = "PROFILE_GREEN"
    REGULAR = "REGULAR"


class EnergySourceCategory(StrEnum):
    NUCLEAR = "NUCLEAR"
    GENERAL_FOSSIL = "GENERAL_FOSSIL"
    COAL = "COAL"
    GAS = "GAS"
    GENERAL_GREEN = "GENERAL_GREEN"
    SOLAR = "SOLAR"
    WIND = "WIND"
    WATER = "WATER"


class EnvironmentalImpactCategory(StrEnum):
    NUCLEAR_WASTE = "NUCLEAR_WASTE"
    CARBON_DIOXIDE = "CARBON_DIOXIDE"


class Price(msgspec.Struct, frozen=True, kw_only=True):
    """OCPI ``Price``: an amount excluding VAT and, optionally, including it."""

    excl_vat: Decimal
    incl_vat: Decimal | None = None


class PriceComponent(msgspec.Struct, frozen=True, kw_only=True):
    type: TariffDimensionType
    price: Decimal  # per unit, excluding VAT
    step_size: int
    vat: Decimal | None = None  # percent; None = no VAT applicable (not 0 %)


class TariffRestrictions(msgspec.Struct, frozen=True, kw_only=True):
    start_time: time | None = None
    end_time: time | None = None
    start_date: date | None = None
    end_date: date | None = None
    min_kwh: Decimal | None = None
    max_kwh: Decimal | None = None
    min_current: Decimal | None = None
    max_current: Decimal | None = None
    min_power: Decimal | None = None
    max_power: Decimal | None = None
    min_duration: int | None = None  # seconds
    max_duration: int | None = None  # seconds
    day_of_week: tuple[DayOfWeek, ...] = ()
    reservation: ReservationRestrictionType | None = None


class TariffElement(msgspec.Struct, frozen=True, kw_only=True):
    price_components: tuple[PriceComponent, ...]
    restrictions: TariffRestrictions | None = None

    def component(self, kind: TariffDimensionType) -> PriceComponent | None:
        """The element's (first) price component for ``kind``."""
        return next((c for c in self.price_components if c.type is kind), None)


class DisplayText(msgspec.Struct, frozen=True, kw_only=True):
    language: str
    text: str


class EnergySource(msgspec.Struct, frozen=True, kw_only=True):
    source: EnergySourceCategory
    percentage: Decimal


class EnvironmentalImpact(msgspec.Struct, frozen=True, kw_only=True):
    category: EnvironmentalImpactCategory
    amount: Decimal


class EnergyMix(msgspec.Struct, frozen=True, kw_only=True):
    is_green_energy: bool
    energy_sources: tuple[EnergySource, ...] = ()
    environ_impact: tuple[EnvironmentalImpact, ...] = ()
    supplier_name: str | None = None
    energy_product_name: str | None = None


class Tariff(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    currency: str
    elements: tuple[TariffElement, ...]
    last_updated: datetime | None = None
    country_code: str | None = None
    party_id: str | None = None
    type: TariffType | None = None
    tariff_alt_text: tuple[DisplayText, ...] = ()
    tariff_alt_url: str | None = None
    min_price: Price | None = None
    max_price: Price | None = None
    start_date_time: datetime | None = None
    end_date_time: datetime | None = None
    energy_mix: EnergyMix | None = None

    def is_active_at(self, moment: datetime) -> bool:
        """Whether the tariff is valid at ``moment``: start inclusive, end exclusive."""
        if self.start_date_time is not None and moment < self.start_date_time:
            return False
        return self.end_date_time is None or moment < self.end_date_time


class TariffError(ValueError):
    """A tariff that is not valid OCPI 2.2.1; ``errors`` holds (path, message)
    for every bad field."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        self.errors = list(errors)
        super().__init__(format_errors(self.errors))


# Parsing ---------------------------------------------------------------------


def parse_tariff(data: bytes | str | dict[str, Any]) -> Tariff:
    """The OCPI 2.2.1 tariff in ``data``; ``TariffError`` lists every bad field."""
    if isinstance(data, bytes | str):
        try:
            data = load_json(data)
        except (ValueError, UnicodeDecodeError) as error:
            raise TariffError([("(document)", f"not valid JSON: {error}")]) from None
    check = Checker()
    tariff = _read_tariff(check, data)
    if check.errors or tariff is None:
        raise TariffError(check.errors or [("(document)", "not a tariff")])
    return tariff


def _read_tariff(check: Checker, data: Any) -> Tariff | None:
    obj = check.obj(data, "")
    if obj is None:
        return None
    f = check.field
    tariff_id = f(obj, "id", "", lambda v, p: check.string(v, p, max_length=36), required=True)
    if tariff_id == "":
        check.bad("id", "must not be empty")
    currency = f(
        obj, "currency", "", lambda v, p: check.string(v, p, pattern="[A-Z]{3}"), required=True
    )
    country_code = f(
        obj, "country_code", "", lambda v, p: check.string(v, p, pattern="[A-Za-z]{2}")
    )
    party_id = f(obj, "party_id", "", lambda v, p: check.string(v, p, pattern="[A-Za-z0-9]{3}"))
    tariff_type = f(obj, "type", "", lambda v, p: check.enum(v, p, TariffType))
    alt_text = f(obj, "tariff_alt_text", "", lambda v, p: _read_texts(check, v, p))
    alt_url = f(obj, "tariff_alt_url", "", lambda v, p: _read_url(check, v, p))
    min_price = f(obj, "min_price", "", lambda v, p: _read_price(check, v, p))
    max_price = f(obj, "max_price", "", lambda v, p: _read_price(check, v, p))
    elements = f(obj, "elements", "", lambda v, p: _read_elements(check, v, p), required=True)
    start = f(obj, "start_date_time", "", check.datetime)
    end = f(obj, "end_date_time", "", check.datetime)
    energy_mix = f(obj, "energy_mix", "", lambda v, p: _read_energy_mix(check, v, p))
    last_updated = f(obj, "last_updated", "", check.datetime)
    if start is not None and end is not None and end <= start:
        check.bad("end_date_time", "must be after start_date_time")
    if min_price is not None and max_price is not None and max_price.excl_vat < min_price.excl_vat:
        check.bad("max_price.excl_vat", "must not be below min_price.excl_vat")
    if check.errors:
        return None
    assert tariff_id is not None and currency is not None and elements is not None
    return Tariff(
        id=tariff_id,
        currency=currency,
        elements=elements,
        last_updated=last_updated,
        country_code=country_code,
        party_id=party_id,
        type=tariff_type,
        tariff_alt_text=alt_text or (),
        tariff_alt_url=alt_url,
        min_price=min_price,
        max_price=max_price,
        start_date_time=start,
        end_date_time=end,
        energy_mix=energy_mix,
    )


def _read_url(check: Checker, value: Any, path: str) -> str | None:
    url = check.string(value, path, max_length=255)
    if url is not None and not url.lower().startswith(("http://", "https://")):
        check.bad(path, "must be an http(s) URL")
        return None
    return url


def _read_texts(check: Checker, value: Any, path: str) -> tuple[DisplayText, ...]:
    texts = []
    for _, item, where in check.items(value, path):
        obj = check.obj(item, where)
        if obj is None:
            continue
        language = check.field(
            obj,
            "language",
            where,
            lambda v, p: check.string(v, p, pattern="[a-z]{2}"),
            required=True,
        )
        text = check.field(
            obj, "text", where, lambda v, p: check.string(v, p, max_length=512), required=True
        )
        if language is not None and text is not None:
            texts.append(DisplayText(language=language, text=text))
    return tuple(texts)


def _read_price(check: Checker, value: Any, path: str) -> Price | None:
    obj = check.obj(value, path)
    if obj is None:
        return None
    excl = check.field(obj, "excl_vat", path, check.number, required=True)
    incl = check.field(obj, "incl_vat", path, check.number)
    if excl is not None and incl is not None and incl < excl:
        check.bad(check.join(path, "incl_vat"), "must not be below excl_vat")
    return None if excl is None else Price(excl_vat=excl, incl_vat=incl)


def _read_elements(check: Checker, value: Any, path: str) -> tuple[TariffElement, ...]:
    elements = []
    for _, item, where in check.items(value, path, non_empty=True):
        obj = check.obj(item, where)
        if obj is None:
            continue
        components = check.field(
            obj,
            "price_components",
            where,
            lambda v, p: _read_components(check, v, p),
            required=True,
        )
        restrictions = check.field(
            obj, "restrictions", where, lambda v, p: _read_restrictions(check, v, p)
        )
        if components is not None:
            elements.append(TariffElement(price_components=components, restrictions=restrictions))
    return tuple(elements)


def _read_components(check: Checker, value: Any, path: str) -> tuple[PriceComponent, ...]:
    components = []
    for _, item, where in check.items(value, path, non_empty=True):
        obj = check.obj(item, where)
        if obj is None:
            continue
        kind = check.field(
            obj, "type", where, lambda v, p: check.enum(v, p, TariffDimensionType), required=True
        )
        price = check.field(obj, "price", where, check.number, required=True)
        vat = check.field(obj, "vat", where, check.number)
        step_size = check.field(obj, "step_size", where, check.non_negative_int, required=True)
        if vat is not None and vat > 100:
            check.bad(check.join(where, "vat"), "must be a percentage (0 to 100)")
        if kind is not None and price is not None and step_size is not None:
            components.append(PriceComponent(type=kind, price=price, step_size=step_size, vat=vat))
    return tuple(components)


def _read_restrictions(check: Checker, value: Any, path: str) -> TariffRestrictions | None:
    obj = check.obj(value, path)
    if obj is None:
        return None
    f = check.field
    values: dict[str, Any] = {
        "start_time": f(obj, "start_time", path, check.time_of_day),
        "end_time": f(obj, "end_time", path, check.time_of_day),
        "start_date": f(obj, "start_date", path, check.date),
        "end_date": f(obj, "end_date", path, check.date),
        "reservation": f(
            obj, "reservation", path, lambda v, p: check.enum(v, p, ReservationRestrictionType)
        ),
    }
    for key in ("min_kwh", "max_kwh", "min_current", "max_current", "min_power", "max_power"):
        values[key] = f(obj, key, path, check.number)
    for key in ("min_duration", "max_duration"):
        values[key] = f(obj, key, path, check.non_negative_int)
    days: list[DayOfWeek] = []
    for _, item, where in check.items(
        obj.get("day_of_week") or [], check.join(path, "day_of_week")
    ):
        day = check.enum(item, where, DayOfWeek)
        if day is not None and day in days:
            check.bad(where, f"repeats {day.value}")
        elif day is not None:
            days.append(day)
    for low, high in (
        ("min_kwh", "max_kwh"),
        ("min_current", "max_current"),
        ("min_power", "max_power"),
        ("min_duration", "max_duration"),
        ("start_date", "end_date"),
    ):
        if values[low] is not None and values[high] is not None and values[high] < values[low]:
            check.bad(check.join(path, high), f"must not be before {low}")
    return TariffRestrictions(day_of_week=tuple(days), **values)


def _read_energy_mix(check: Checker, value: Any, path: str) -> EnergyMix | None:
    obj = check.obj(value, path)
    if obj is None:
        return None
    green = check.field(obj, "is_green_energy", path, check.boolean, required=True)
    sources = []
    for _, item, where in check.items(
        obj.get("energy_sources") or [], check.join(path, "energy_sources")
    ):
        source_obj = check.obj(item, where)
        if source_obj is None:
            continue
        source = check.field(
            source_obj,
            "source",
            where,
            lambda v, p: check.enum(v, p, EnergySourceCategory),
            required=True,
        )
        percentage = check.field(source_obj, "percentage", where, check.number, required=True)
        if source is not None and percentage is not None:
            sources.append(EnergySource(source=source, percentage=percentage))
    impacts = []
    for _, item, where in check.items(
        obj.get("environ_impact") or [], check.join(path, "environ_impact")
    ):
        impact_obj = check.obj(item, where)
        if impact_obj is None:
            continue
        category = check.field(
            impact_obj,
            "category",
            where,
            lambda v, p: check.enum(v, p, EnvironmentalImpactCategory),
            required=True,
        )
        amount = check.field(impact_obj, "amount", where, check.number, required=True)
        if category is not None and amount is not None:
            impacts.append(EnvironmentalImpact(category=category, amount=amount))
    supplier = check.field(
        obj, "supplier_name", path, lambda v, p: check.string(v, p, max_length=64)
    )
    product = check.field(
        obj, "energy_product_name", path, lambda v, p: check.string(v, p, max_length=64)
    )
    if green is None:
        return None
    return EnergyMix(
        is_green_energy=green,
        energy_sources=tuple(sources),
        environ_impact=tuple(impacts),
        supplier_name=supplier,
        energy_product_name=product,
    )


# Export ----------------------------------------------------------------------


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _export(value: Any) -> Any:
    if isinstance(value, msgspec.Struct):
        out: dict[str, Any] = {}
        for name in value.__struct_fields__:
            item = getattr(value, name)
            if item is None or item == ():
                continue
            out[name] = _export(item)
        return out
    if isinstance(value, tuple | list):
        return [_export(item) for item in value]
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, datetime):
        return _timestamp(value)
    if isinstance(value, time):
        return value.strftime("%H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return value  # str, bool, int, Decimal (kept exact)


def tariff_to_ocpi(tariff: Tariff) -> dict[str, Any]:
    """The tariff as OCPI 2.2.1 JSON data; numbers stay the exact Decimals read
    (``tariff_to_json`` writes them as JSON numbers). Empty optional fields
    are left out."""
    data: dict[str, Any] = _export(tariff)
    return data


_ENCODER = msgspec.json.Encoder(decimal_format="number")


def tariff_to_json(tariff: Tariff) -> bytes:
    """The tariff as OCPI 2.2.1 JSON text, Decimals written as exact numbers."""
    return _ENCODER.encode(tariff_to_ocpi(tariff))
