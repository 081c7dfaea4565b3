"""Station identities and secrets."""

from __future__ import annotations

import pytest

from csms.domain.credentials import (
    CredentialError,
    check_charge_point_id,
    check_secret,
    generate_secret,
    hash_secret,
    verify_secret,
)

pytestmark = pytest.mark.backend_independent


def test_a_secret_verifies_against_its_hash_only() -> None:
    """The stored hash accepts the secret and nothing else."""
    stored = hash_secret("correct-horse-battery")
    assert verify_secret("correct-horse-battery", stored)
    assert not verify_secret("correct-horse-batterY", stored)
    assert not verify_secret("", stored)


def test_equal_secrets_hash_differently() -> None:
    """Each hash has its own salt, so equal secrets do not show as equal."""
    assert hash_secret("same-secret-1234") != hash_secret("same-secret-1234")


def test_malformed_hashes_never_verify() -> None:
    """A damaged or foreign hash refuses every secret instead of crashing."""
    for stored in ("", "plain", "md5$x$y", "hmac-sha256$only-two"):
        assert not verify_secret("whatever-secret!", stored)


def test_secret_length_follows_the_security_profiles() -> None:
    """Secrets have 16 to 40 printable characters without spaces."""
    assert check_secret("a" * 16) == "a" * 16
    for bad in ("a" * 15, "a" * 41, "a" * 10 + " " * 6):
        with pytest.raises(CredentialError):
            check_secret(bad)
    assert len(generate_secret()) == 32
    check_secret(generate_secret())


def test_charge_point_ids_cannot_break_urls_or_basic_auth() -> None:
    """Ids with a slash, a colon or blanks are refused."""
    assert check_charge_point_id("DE*ABC*E123") == "DE*ABC*E123"
    for bad in ("", "a/b", "a:b", "a b", "x" * 256, "tab\there"):
        with pytest.raises(CredentialError):
            check_charge_point_id(bad)
