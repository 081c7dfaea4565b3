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


class _Job(msgspec.Struct, frozen=True, array_like=True):
    decision: AudienceDecision
    version_id: int
    tariff_id: int
    valid_from: datetime
    currency: str
    tariff: int  # the key of its tariff's bytes in the chunk


class _Work(msgspec.Struct, frozen=True, array_like=True):
    session: CompletedSession
    jobs: tuple[_Job, ...]


class _Chunk(msgspec.Struct, frozen=True, array_like=True):
    tariffs: dict[int, msgspec.Raw]
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
        sent: list[_Work] = []
        for work in works:
            jobs = []
            for job in work.jobs:
                version = job.version
                key = keys.get(id(version.tariff))
                if key is None:
                    key = keys[id(version.tariff)] = len(keys)
                    tariffs[key] = self._bytes_of(version.tariff)
                jobs.append(
                    _Job(
                        decision=job.decision,
                        version_id=version.id,
                        tariff_id=version.tariff_id,
                        valid_from=version.valid_from,
                        currency=version.currency,
                        tariff=key,
                    )
                )
            sent.append(_Work(session=work.session, jobs=tuple(jobs)))
        return _ENCODER.encode(_Chunk(tariffs=tariffs, works=sent))


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
    return [
        SessionWork(
            session=work.session,
            jobs=tuple(
                PricingJob(
                    decision=job.decision,
                    version=TariffVersionRow(
                        id=job.version_id,
                        tariff_id=job.tariff_id,
                        valid_from=job.valid_from,
                        tariff=tariffs[job.tariff],
                        currency=job.currency,
                    ),
                )
                for job in work.jobs
            ),
        )
        for work in chunk.works
    ]


def rate_chunk(payload: bytes) -> bytes:
    """A worker's task: the CDRs of an encoded chunk, encoded."""
    return _ENCODER.encode(rate_all(decode_works(payload)))
