"""Signed meter values: OCMF records signed in the test with a fresh key."""

from __future__ import annotations

import base64
import json
import warnings
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from billing.rating.signed import SignedValue, verify_signed_values

pytestmark = pytest.mark.backend_independent

PAYLOAD = {
    "FV": "1.0",
    "GI": "ABL SBC-301",
    "GS": "808829900001",
    "GV": "1.4p3",
    "PG": "T12345",
    "MV": "Phoenix Contact",
    "MM": "EEM-350-D-MCB",
    "MS": "BQ27400330016",
    "MF": "1.0.8",
    "IS": True,
    "IL": "VERIFIED",
    "IF": ["RFID_PLAIN", "OCPP_RS_TLS"],
    "IT": "ISO14443",
    "ID": "1F2D3A4F5506C7",
    "RD": [
        {
            "TM": "2024-07-24T13:22:04,000+0200 S",
            "TX": "B",
            "RV": 2935.6,
            "RI": "01-00:B8.08.00.FF",
            "RU": "kWh",
            "RT": "AC",
            "EF": "",
            "ST": "G",
        },
        {"TM": "2024-07-24T14:02:10,000+0200 S", "TX": "E", "RV": 2947.125, "ST": "G"},
    ],
}


def _der_hex(key: ec.EllipticCurvePrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        .hex()
    )


def _ocmf(key: ec.EllipticCurvePrivateKey, payload: dict[str, object] = PAYLOAD) -> str:
    text = json.dumps(payload, separators=(",", ":"))
    signature = key.sign(text.encode(), ec.ECDSA(hashes.SHA256()))
    sig = json.dumps({"SA": "ECDSA-secp256r1-SHA256", "SD": signature.hex()})
    return f"OCMF|{text}|{sig}"


@pytest.fixture(scope="module")
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def record(key: ec.EllipticCurvePrivateKey) -> str:
    return _ocmf(key)


def test_genuine_ocmf_verifies_and_gives_its_readings(
    key: ec.EllipticCurvePrivateKey, record: str
) -> None:
    """A record signed by the meter's key verifies True, with its readings in UTC."""
    [result] = verify_signed_values([SignedValue(record)], _der_hex(key))
    assert result.format == "OCMF"
    assert result.verified is True, result.reason
    assert result.reason == ""
    assert result.meter_serial == "BQ27400330016"
    begin, end = result.readings
    assert begin.value == Decimal("2935.6")
    assert begin.unit == "kWh"
    assert begin.value_wh == Decimal("2935600.0")
    assert begin.at == datetime(2024, 7, 24, 11, 22, 4, tzinfo=UTC)
    assert begin.reason == "B"
    assert begin.obis == "01-00:B8.08.00.FF"
    # inherited from the first reading, as OCMF allows
    assert end.unit == "kWh"
    assert end.reason == "E"
    assert result.reading == end
    assert end.value == Decimal("2947.125")


def test_changed_value_fails(key: ec.EllipticCurvePrivateKey, record: str) -> None:
    """Changing the reading after signing makes verification False, with a reason."""
    tampered = record.replace('"RV":2947.125', '"RV":2947.126')
    assert tampered != record
    [result] = verify_signed_values([SignedValue(tampered)], _der_hex(key))
    assert result.verified is False
    assert "does not match" in result.reason
    assert result.reading is not None and result.reading.value == Decimal("2947.126")


def test_other_key_fails(record: str) -> None:
    """A signature checked against another meter's key is False."""
    other = ec.generate_private_key(ec.SECP256R1())
    [result] = verify_signed_values([SignedValue(record)], _der_hex(other))
    assert result.verified is False


def test_no_key_is_unknown(record: str) -> None:
    """Without a key for the meter the result is None, but the readings are parsed."""
    [result] = verify_signed_values([SignedValue(record)], None)
    assert result.format == "OCMF"
    assert result.verified is None
    assert "no public key" in result.reason
    assert len(result.readings) == 2


def test_sent_key_is_not_trusted_unless_asked(key: ec.EllipticCurvePrivateKey, record: str) -> None:
    """A 2.0.1 publicKey that came with the data is used only with trust_sent_key."""
    sent_b64 = base64.b64encode(bytes.fromhex(_der_hex(key))).decode()
    value = SignedValue(record, public_key=sent_b64)
    [untrusted] = verify_signed_values([value], None)
    assert untrusted.verified is None
    assert "not trusted" in untrusted.reason
    [trusted] = verify_signed_values([value], None, trust_sent_key=True)
    assert trusted.verified is True


def test_sent_key_differing_from_trusted_key_is_a_warning(
    key: ec.EllipticCurvePrivateKey, record: str
) -> None:
    """The trusted key decides; a different key sent along is reported."""
    other = ec.generate_private_key(ec.SECP256R1())
    [result] = verify_signed_values(
        [SignedValue(record, public_key=_der_hex(other))], _der_hex(key)
    )
    assert result.verified is True
    assert any("differs from the trusted key" in w for w in result.warnings)


@pytest.mark.parametrize("encoding", ["base64", "hex", "base64url-unpadded"])
def test_encoded_ocmf_2_0_1(key: ec.EllipticCurvePrivateKey, record: str, encoding: str) -> None:
    """2.0.1 signedMeterData as base64 (or hex) of the OCMF text verifies the same."""
    raw = record.encode()
    data = {
        "base64": base64.b64encode(raw).decode(),
        "hex": raw.hex(),
        "base64url-unpadded": base64.urlsafe_b64encode(raw).decode().rstrip("="),
    }[encoding]
    value = SignedValue(
        data,
        signing_method="ECDSA-secp256r1-SHA256",
        encoding_method="OCMF",
        at=datetime(2024, 7, 24, 12, 2, 10, tzinfo=UTC),
        context="Transaction.End",
    )
    [result] = verify_signed_values([value], _der_hex(key))
    assert result.verified is True, result.reason
    assert result.context == "Transaction.End"
    assert result.at == datetime(2024, 7, 24, 12, 2, 10, tzinfo=UTC)


def test_base64_key_is_accepted(key: ec.EllipticCurvePrivateKey, record: str) -> None:
    """The registered key may be given as base64 DER or PEM as well as hex."""
    der = bytes.fromhex(_der_hex(key))
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    for given in (base64.b64encode(der).decode(), pem.decode()):
        [result] = verify_signed_values([SignedValue(record)], given)
        assert result.verified is True, result.reason


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "hello",
        "OCMF|",
        "OCMF|{not json}|{}",
        'OCMF|{"RD":[]}|{"SD":"zz"}',
        "OCMF|" + json.dumps(PAYLOAD) + '|{"SA":"ECDSA-secp256r1-SHA256","SD":"3045"}',
        "////",
        "\x00\xff",
    ],
)
def test_garbage_is_false_with_a_reason(key: ec.EllipticCurvePrivateKey, garbage: str) -> None:
    """Anything that is not a valid signed OCMF record is False with a reason, never raises."""
    [result] = verify_signed_values([SignedValue(garbage)], _der_hex(key))
    assert result.verified is False
    assert result.reason


def test_unusable_key_is_unknown(record: str) -> None:
    """A registered key that cannot be read says nothing about the data: None."""
    [result] = verify_signed_values([SignedValue(record)], "not-a-key")
    assert result.verified is None
    assert "public key unusable" in result.reason


def test_other_declared_format_is_not_verifiable() -> None:
    """A declared non-OCMF format (EDL, SML ...) is format unknown, verified None."""
    value = SignedValue("AQIDBAUGBwg=", signing_method="", encoding_method="EDL")
    [result] = verify_signed_values([value], "00")
    assert result.format == "unknown"
    assert result.verified is None
    assert "not verifiable" in result.reason


def test_results_keep_the_order(key: ec.EllipticCurvePrivateKey, record: str) -> None:
    """One result per value, in the order given."""
    results = verify_signed_values(
        [SignedValue(record), SignedValue("junk"), SignedValue(record)], _der_hex(key)
    )
    assert [r.verified for r in results] == [True, False, True]


def test_spec_deviations_are_reported_not_emitted(key: ec.EllipticCurvePrivateKey) -> None:
    """pyocmf's spec warnings (here: no pagination, no meter serial) land in
    ``warnings`` and do not escape as Python warnings."""
    payload = {k: v for k, v in PAYLOAD.items() if k not in ("PG", "MS", "GS")}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        [result] = verify_signed_values([SignedValue(_ocmf(key, payload))], _der_hex(key))
    assert result.verified is True
    assert any("PG" in w for w in result.warnings)
