"""German and English: the Babel catalogues under ``translations/`` (extract
and compile with pybabel, see the README's Admin UI section), the user's
choice (a cookie), and dates and money in the active entity's time zone and
the user's locale."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from babel.dates import format_datetime
from babel.numbers import format_currency, format_decimal
from babel.support import NullTranslations, Translations

TRANSLATIONS_DIR = Path(__file__).parent / "translations"
LANGUAGES = {"en": "English", "de": "Deutsch"}
DEFAULT_LANGUAGE = "en"
# Babel's locale for each language (money and numbers as the language writes them).
LOCALES = {"en": "en_GB", "de": "de_DE"}
# What a missing value shows (an en dash).
NONE = "\u2013"


@cache
def translations(language: str) -> NullTranslations:
    if language == DEFAULT_LANGUAGE:
        return NullTranslations()
    return Translations.load(str(TRANSLATIONS_DIR), [language], domain="messages")


def choose_language(cookie: str | None, accept_language: str | None) -> str:
    """The cookie's language, else the first of Accept-Language we speak."""
    if cookie in LANGUAGES:
        return cookie
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in LANGUAGES:
            return tag
    return DEFAULT_LANGUAGE


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


class Formats:
    """Formatting for one page: the user's language, the entity's zone."""

    def __init__(self, language: str, time_zone: str) -> None:
        self.language = language
        self.locale = Locale.parse(LOCALES[language])
        self.zone = zone(time_zone)

    def datetime(self, value: datetime | None) -> str:
        if value is None:
            return NONE
        return format_datetime(value, "short", tzinfo=self.zone, locale=self.locale)

    def money(self, value: Decimal | None, currency: str = "EUR") -> str:
        if value is None:
            return NONE
        return format_currency(value, currency, locale=self.locale)

    def number(self, value: float | Decimal | int | None, digits: int = 0) -> str:
        if value is None:
            return NONE
        pattern = "#,##0" + ("." + "0" * digits if digits else "")
        return format_decimal(value, format=pattern, locale=self.locale)

    def kwh(self, wh: int | None) -> str:
        if wh is None:
            return NONE
        return self.number(Decimal(wh) / 1000, 2) + " kWh"
