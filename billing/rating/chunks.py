"""The wire format of rating chunks: sessions to price, sent from the rater
to a rating worker process (``billing.rating.workers``) as msgpack, and
the CDRs sent back.

A chunk carries each tariff it names once, as msgpack the sender encoded
once for as long as it keeps that parsed tariff. A worker decodes a
tariff's bytes once and keeps the object, so later chunks reuse it and
pricing's per-tariff plan (``billing.tariffs.pricing``) with it. Before,
every job carried its whole tariff: decoding them was a quarter of a
worker's time and the plans were built again for every CDR.

The worker keys what it decoded by the bytes themselves, not by a version
id, so two databases rated through one pool (as tests do) can never have
one's tariff price the other's sessions.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from billing.ports import CdrRecord, CompletedSession
from billing.rating.audiences import AudienceDecision
from billing.rating.compute import PricingJob, SessionWork, rate_all
from billing.tariffs.lookup import TariffVersionRow
from billing.tariffs.model import Tariff

# Parsed tariffs whose bytes a sender or a worker keeps; past this it
# starts afresh (a month's rating names a few hundred).
KEPT_TARIFFS = 10_000


class _Version(msgspec.Struct, frozen=True, array_like=True):
    tariff_id: int
    valid_from: datetime
    currency: str
    tariff: int  # the key of its tariff's bytes in the chunk


# A session and its jobs: (the audience's decision, the version's id).
_Work = tuple[CompletedSession, tuple[tuple[AudienceDecision, int], ...]]


class _Chunk(msgspec.Struct, frozen=True, array_like=True):
    tariffs: dict[int, msgspec.Raw]
    versions: dict[int, _Version]  # by version id (one database's: unique)
    works: list[_Work]


_ENCODER = msgspec.msgpack.Encoder()
_CHUNK = msgspec.msgpack.Decoder(_Chunk)
_TARIFF = msgspec.msgpack.Decoder(Tariff)
_RECORDS = msgspec.msgpack.Decoder(list[CdrRecord])


class ChunkEncoder:
    """Encodes chunks on the rater's side, each parsed tariff's bytes once."""

    def __init__(self) -> None:
        # id(tariff) -> (the tariff, its bytes); the tariff is held, so its
        # id cannot be reused while it is kept.
        self._encoded: dict[int, tuple[Tariff, msgspec.Raw]] = {}

    def _bytes_of(self, tariff: Tariff) -> msgspec.Raw:
        found = self._encoded.get(id(tariff))
        if found is None or found[0] is not tariff:
            if len(self._encoded) >= KEPT_TARIFFS:
                self._encoded.clear()
            found = self._encoded[id(tariff)] = (tariff, msgspec.Raw(_ENCODER.encode(tariff)))
        return found[1]

    def encode(self, works: list[SessionWork]) -> bytes:
        keys: dict[int, int] = {}  # id(tariff) -> its key in this chunk
        tariffs: dict[int, msgspec.Raw] = {}
        versions: dict[int, _Version] = {}
        sent: list[_Work] = []
        for work in works:
            jobs = []
            for job in work.jobs:
                version = job.version
                if version.id not in versions:
                    key = keys.get(id(version.tariff))
                    if key is None:
                        key = keys[id(version.tariff)] = len(keys)
                        tariffs[key] = self._bytes_of(version.tariff)
                    versions[version.id] = _Version(
                        version.tariff_id, version.valid_from, version.currency, key
                    )
                jobs.append((job.decision, version.id))
            sent.append((work.session, tuple(jobs)))
        return _ENCODER.encode(_Chunk(tariffs, versions, sent))


def decode_records(payload: bytes) -> list[CdrRecord]:
    """The CDRs a worker sent back."""
    return _RECORDS.decode(payload)


# The worker's side: tariffs decoded so far, by their bytes.
_DECODED: dict[bytes, Tariff] = {}


def _tariff(raw: msgspec.Raw) -> Tariff:
    data = bytes(raw)
    tariff = _DECODED.get(data)
    if tariff is None:
        if len(_DECODED) >= KEPT_TARIFFS:
            _DECODED.clear()
        tariff = _DECODED[data] = _TARIFF.decode(data)
    return tariff


def decode_works(payload: bytes) -> list[SessionWork]:
    """The works of an encoded chunk, with its tariffs decoded once per worker."""
    chunk = _CHUNK.decode(payload)
    tariffs = {key: _tariff(raw) for key, raw in chunk.tariffs.items()}
    versions = {
        version_id: TariffVersionRow(
            id=version_id,
            tariff_id=version.tariff_id,
            valid_from=version.valid_from,
            tariff=tariffs[version.tariff],
            currency=version.currency,
        )
        for version_id, version in chunk.versions.items()
    }
    return [
        SessionWork(
            session=session,
            jobs=tuple(
                PricingJob(decision=decision, version=versions[version_id])
                for decision, version_id in jobs
            ),
        )
        for session, jobs in chunk.works
    ]


def rate_chunk(payload: bytes) -> bytes:
    """A worker's task: the CDRs of an encoded chunk, encoded."""
    return _ENCODER.encode(rate_all(decode_works(payload)))
