"""Pre- and post-texts: a tiny field syntax, filled from a whitelist only."""

from __future__ import annotations

import re

import pytest

import billing.documents.texts as texts_module
from billing.documents.texts import (
    FIELDS,
    TemplateError,
    document_fields,
    fill,
    validate_template,
)
from tests.unit.billing_documents import samples

pytestmark = pytest.mark.backend_independent


def test_fill_replaces_known_fields() -> None:
    """``{{customer_name}}`` (with or without inner spaces) becomes the value."""
    text = fill(
        "Hallo {{customer_name}}, Nr. {{ document_number }}.",
        {
            "customer_name": "Jürgen Größe",
            "document_number": "RE-1",
        },
    )
    assert text == "Hallo Jürgen Größe, Nr. RE-1."


def test_attribute_access_is_an_error_not_evaluated() -> None:
    """``{{customer_name.__class__}}`` is rejected, not resolved to a class."""
    template = "{{customer_name.__class__}}"
    errors = validate_template(template)
    assert errors and "invalid field" in errors[0]
    with pytest.raises(TemplateError):
        fill(template, {"customer_name": "X"})


def test_dunder_names_are_unknown_fields() -> None:
    """``{{ __import__ }}`` and ``{{__class__}}`` are unknown fields."""
    for template in ("{{ __import__ }}", "{{__class__}}", "{{__builtins__}}"):
        errors = validate_template(template)
        assert len(errors) == 1 and "unknown field" in errors[0], template
        with pytest.raises(TemplateError):
            fill(template, {"customer_name": "X"})


def test_unknown_and_malformed_fields_are_errors() -> None:
    """Unknown names, expressions, indexing, format specs and unclosed braces are
    reported at save time, one error each."""
    cases = [
        "{{customer_nam}}",
        "{{ 7*7 }}",
        "{{customer_name[0]}}",
        "{{customer_name:>10}}",
        "{{customer_name|upper}}",
        "Hallo {{customer_name",
        "{{ {{customer_name}} }}",
    ]
    for template in cases:
        assert validate_template(template), template
    assert validate_template("{{customer_name}} {{ issuer_name }} {single} braces") == []


def test_values_are_not_scanned_again() -> None:
    """A value that looks like a field is inserted literally, nothing else is read."""
    result = fill("{{customer_name}}", {"customer_name": "{{issuer_name}}", "issuer_name": "X"})
    assert result == "{{issuer_name}}"


def test_only_string_values_are_accepted() -> None:
    """A non-str value (an object that could be probed) is a TypeError."""
    with pytest.raises(TypeError):
        fill("{{customer_name}}", {"customer_name": object()})  # type: ignore[dict-item]


def test_every_field_is_documented_and_provided() -> None:
    """The documented fields are exactly the ones a document provides, and each
    is named in the module documentation."""
    document = samples.invoice()
    fields = document_fields(document)
    assert set(fields) == set(FIELDS)
    assert all(isinstance(v, str) for v in fields.values())
    doc = texts_module.__doc__ or ""
    for name in FIELDS:
        assert re.search(rf"^{name}\s", doc, re.MULTILINE), name
    assert fields["customer_name"] == "Jürgen Größe e.K."
    assert fields["total_gross"] == "12,59 €"
    assert fields["period"] == "01.11.2026 \u2013 30.11.2026"


def test_issued_document_carries_filled_texts() -> None:
    """The sample invoice's pre- and post-texts were filled at issue time."""
    document = samples.invoice()
    assert "Jürgen Größe e.K." in document.pre_text
    assert "{{" not in document.pre_text + document.post_text
    assert "12,59 €" in document.post_text and "RE-2026-0001" in document.post_text
