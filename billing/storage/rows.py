"""What billing's SQL storage modules share to read rows and bound queries."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

# Ids per IN list: well under both databases' bound-parameter limits.
CHUNK = 5_000


def utc_time(value: Any) -> datetime:
    """A timestamp column as an aware datetime (SQLite may answer text, and
    naive values are UTC)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def id_chunks(ids: list[int]) -> Iterator[list[int]]:
    """``ids`` in runs of at most :data:`CHUNK`, for IN lists."""
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]
