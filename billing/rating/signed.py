"""Signed meter values: is the reading the charger signed the reading it sent?

Input is the signed data exactly as the charger sent it: OCPP 1.6 the value
text of a sample with ``format="SignedData"``, OCPP 2.0.1 a
``signedMeterValue`` (``signedMeterData``, ``signingMethod``,
``encodingMethod``, ``publicKey``). Only OCMF (Open Charge Metering Format,
``OCMF|{payload}|{signature}``) is verified, with pyocmf; the OCMF text may
come plain, hex-encoded or base64-encoded (2.0.1 says signedMeterData is
base64), and all three are recognised by their content, not by what the
charger claims.

Outcomes (never an exception):

* ``verified=True``: the signature over the payload matches the key.
* ``verified=False``: the data is not what it claims (changed payload, wrong
  signature, unparsable OCMF, data that is neither OCMF nor a declared other
  format, a signature made for another curve than the key's); ``reason`` says
  which.
* ``verified=None``: nothing can be said: no trusted key, a key that cannot
  be read, or a declared format other than OCMF (e.g. EDL, SML, Alfen) that
  this module does not verify.

Which key counts: ``public_key_hex``, the key registered for the meter (from
its label or the operator's records; hex or base64 DER). A key that comes with
the data (2.0.1 ``publicKey``, or appended to the OCMF text) was chosen by the
sender and proves nothing about authenticity, so it is only used with
``trust_sent_key=True``; with a trusted key given, a different sent key is
reported in ``warnings``.

The readings (value, unit, time, reason) are parsed from the OCMF payload even
when the signature cannot be checked, so the caller can compare them with the
unsigned values. pyocmf's spec deviations (SpecWarning) are collected into
``warnings`` instead of being emitted (``warnings.catch_warnings``, which is
process-wide: call this from one thread at a time or accept lost warnings
elsewhere).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import re
import warnings
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

import msgspec

if TYPE_CHECKING:
    from pyocmf import Reading

__all__ = [
    "SignedReading",
    "SignedValue",
    "Verification",
    "verify_signed_value",
    "verify_signed_values",
]

OCMF = "OCMF"
UNKNOWN = "unknown"

# Non-OCMF signed meter formats met in the field (OCA / Eichrecht); declared
# in 2.0.1 encodingMethod. Recognised so they are "not verifiable here" (None)
# rather than "garbage" (False).
_OTHER_FORMATS = ("EDL", "SML", "ALFEN", "DLMS", "COSEM", "EICHRECHT")

_PEM = re.compile(r"-----BEGIN [A-Z ]+-----|-----END [A-Z ]+-----|\s+")


class SignedValue(msgspec.Struct, frozen=True):
    """Signed meter data exactly as sent. 1.6: ``signed_data`` is the SignedData
    sample's value; 2.0.1: it is signedMeterData, with signingMethod,
    encodingMethod and publicKey. ``at`` and ``context`` (the sample's time and
    context) are only carried through to the ``Verification``."""

    signed_data: str
    signing_method: str = ""
    encoding_method: str = ""
    public_key: str = ""
    at: datetime | None = None
    context: str = ""


class SignedReading(msgspec.Struct, frozen=True):
    """One reading of an OCMF payload (RD entry)."""

    value: Decimal | None  # RV as written
    unit: str  # RU, e.g. kWh
    at: datetime | None  # TM in UTC
    time_status: str  # TM's status letter: S synchronised, I informative, ...
    reason: str  # TX: B begin, C charging, X exception, E end, L, R, A, T, ...
    obis: str  # RI
    status: str  # ST, G = good

    @property
    def value_wh(self) -> Decimal | None:
        """The value in Wh when the unit is Wh or kWh."""
        if self.value is None:
            return None
        unit = self.unit.lower()
        if unit == "kwh":
            return self.value * 1000
        if unit == "wh":
            return self.value
        return None


class Verification(msgspec.Struct, frozen=True):
    format: str  # "OCMF" or "unknown"
    verified: bool | None
    readings: tuple[SignedReading, ...] = ()
    reason: str = ""
    meter_serial: str = ""  # MS
    warnings: tuple[str, ...] = ()
    # the SignedValue's own time and context, to match results to samples
    at: datetime | None = None
    context: str = ""

    @property
    def reading(self) -> SignedReading | None:
        """The last reading of the payload (the end reading of a begin/end pair)."""
        return self.readings[-1] if self.readings else None


def verify_signed_values(
    signed: Iterable[SignedValue], public_key_hex: str | None, *, trust_sent_key: bool = False
) -> list[Verification]:
    """One ``Verification`` per signed value, in order."""
    return [verify_signed_value(s, public_key_hex, trust_sent_key=trust_sent_key) for s in signed]


def verify_signed_value(
    signed: SignedValue, public_key_hex: str | None, *, trust_sent_key: bool = False
) -> Verification:
    try:
        verification = _verify(signed, public_key_hex, trust_sent_key)
    except Exception as error:  # the contract: a reason, never an exception
        verification = Verification(
            format=UNKNOWN, verified=False, reason=f"cannot be read: {_describe(error)}"
        )
    return msgspec.structs.replace(verification, at=signed.at, context=signed.context)


def _verify(signed: SignedValue, public_key_hex: str | None, trust_sent_key: bool) -> Verification:
    # pyocmf (and the pydantic models it builds) takes 0.2 s to import: only
    # once there is something to verify, not in every command and node start.
    from pyocmf import OCMF as OcmfRecord
    from pyocmf import PublicKey, PyOCMFError, SpecWarning

    text = _ocmf_text(signed.signed_data)
    if text is None:
        declared = f"{signed.encoding_method} {signed.signing_method}".upper()
        other = next((name for name in _OTHER_FORMATS if name in declared), None)
        if other is not None:
            return Verification(
                format=UNKNOWN,
                verified=None,
                reason=f"format {signed.encoding_method or signed.signing_method} "
                "is not verifiable here (only OCMF)",
            )
        if not signed.signed_data.strip():
            return Verification(format=UNKNOWN, verified=False, reason="no signed data")
        return Verification(
            format=UNKNOWN,
            verified=False,
            reason="not OCMF (neither as text nor hex- or base64-encoded) "
            "and no other format declared",
        )

    notes: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SpecWarning)
        try:
            record = OcmfRecord.from_string(text)
        except PyOCMFError as error:
            return Verification(
                format=OCMF, verified=False, reason=f"invalid OCMF: {_describe(error)}"
            )
    notes.extend(str(w.message) for w in caught)
    payload = record.payload
    readings = tuple(_reading(rd) for rd in payload.RD)
    meter_serial = payload.MS or ""

    def result(verified: bool | None, reason: str = "") -> Verification:
        return Verification(
            format=OCMF,
            verified=verified,
            readings=readings,
            reason=reason,
            meter_serial=meter_serial,
            warnings=tuple(notes),
        )

    algorithm = str(record.signature.SA or "")
    if signed.signing_method and algorithm and signed.signing_method != algorithm:
        notes.append(
            f"signingMethod {signed.signing_method!r} differs from the OCMF SA {algorithm!r}"
        )

    sent_keys = [k for k in (_key_text(signed.public_key), record.embedded_public_key) if k]
    key = _key_text(public_key_hex or "")
    if not key:
        if trust_sent_key and sent_keys:
            key = sent_keys[0]
        else:
            why = " (a key came with the data, not trusted)" if sent_keys else ""
            return result(None, f"no public key known for this meter{why}")
    try:
        parsed_key = PublicKey.from_string(key)
    except Exception as error:
        return result(None, f"public key unusable: {_describe(error)}")
    for sent in sent_keys:
        try:
            if PublicKey.from_string(sent).key.lower() != parsed_key.key.lower():
                notes.append("the public key sent with the data differs from the trusted key")
        except Exception:
            notes.append("the public key sent with the data cannot be read")

    try:
        ok = record.verify_signature(parsed_key)
    except PyOCMFError as error:
        return result(False, f"signature not verifiable: {_describe(error)}")
    if not ok:
        return result(False, "signature does not match the payload (data changed or wrong key)")
    return result(True)


def _ocmf_text(data: str) -> str | None:
    """The OCMF text in ``data``: as is, hex-decoded or base64-decoded."""
    text = data.strip()
    if text.startswith("OCMF|"):
        return text
    compact = "".join(text.split())
    candidates: list[bytes] = []
    with contextlib.suppress(ValueError):
        candidates.append(bytes.fromhex(compact))
    padded = compact + "=" * (-len(compact) % 4)
    for decode in (base64.b64decode, base64.urlsafe_b64decode):
        with contextlib.suppress(binascii.Error, ValueError):
            candidates.append(decode(padded))
    for raw in candidates:
        try:
            decoded = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            continue
        if decoded.startswith("OCMF|"):
            return decoded
    return None


def _key_text(key: str) -> str:
    """A DER key as hex or base64, PEM armour and whitespace removed."""
    return _PEM.sub("", key or "")


def _reading(rd: Reading) -> SignedReading:
    at: datetime | None = rd.TM.timestamp
    if at is not None and at.tzinfo is not None and at.utcoffset() is not None:
        at = at.astimezone(UTC)
    else:
        at = None  # a time without offset is no instant
    return SignedReading(
        value=rd.RV,
        unit=_text(rd.RU),
        at=at,
        time_status=_text(rd.TM.status),
        reason=_text(rd.TX),
        obis=_text(rd.RI),
        status=_text(rd.ST),
    )


def _text(value: object) -> str:
    if value is None:
        return ""
    # StrEnum members print their value; OBIS models print their code
    return str(getattr(value, "value", value))


def _describe(error: BaseException) -> str:
    message = str(error).strip().splitlines()
    first = message[0] if message else ""
    return f"{type(error).__name__}: {first}"[:300]
