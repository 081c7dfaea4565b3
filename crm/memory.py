"""In-memory twin of the id tag registry, for fast tests."""

from __future__ import annotations

from collections.abc import Sequence

from crm.id_tags import IdTagRecord


class MemoryIdTagRegistry:
    def __init__(self, records: Sequence[IdTagRecord] = ()) -> None:
        self.records = {r.uid: r for r in records}

    async def lookup(self, uid: str) -> IdTagRecord | None:
        return self.records.get(uid)
