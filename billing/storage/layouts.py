"""Document layouts in the database (:class:`PiccoloLayouts`) and in memory
(:class:`MemoryLayouts`, for unit tests): ``billing.services.layouts.LayoutStore``.

One row per entity (a unique index). Saving changes only the fields given,
in one ``INSERT ... ON CONFLICT (entity) DO UPDATE`` of those columns, so two
people saving different fields at once keep both changes. Scope is the
service's to check: the store answers for any entity.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec

from billing.documents.layouts import DocumentLayout
from billing.storage.rows import utc_time
from billing.tables import DocumentLayout as LayoutRow

# The columns a change may set (the layout's fields but the entity and time).
COLUMNS = (
    "invoice_pre_text",
    "invoice_post_text",
    "credit_note_pre_text",
    "credit_note_post_text",
    "cancellation_pre_text",
    "cancellation_post_text",
    "payment_terms",
    "logo_png_base64",
    "display_name",
    "language",
)


def layout_of(row: dict[str, Any]) -> DocumentLayout:
    values: dict[str, Any] = {name: row[name] or "" for name in COLUMNS}
    values["logo_png_base64"] = values["logo_png_base64"] or None
    return DocumentLayout(entity_id=row["entity"], updated_at=utc_time(row["updated_at"]), **values)


class PiccoloLayouts:
    async def get(self, entity_id: int) -> DocumentLayout | None:
        row = await LayoutRow.select().where(LayoutRow.entity == entity_id).first().run()
        return None if row is None else layout_of(row)

    async def put(self, entity_id: int, changes: dict[str, str], now: datetime) -> DocumentLayout:
        unknown = set(changes) - set(COLUMNS)
        if unknown:
            raise ValueError(f"not layout columns: {sorted(unknown)}")
        columns = [getattr(LayoutRow, name) for name in changes] + [LayoutRow.updated_at]
        values: dict[str, Any] = {"entity": entity_id, "updated_at": now, **changes}
        rows = (
            await LayoutRow.insert(LayoutRow(**values))
            .on_conflict(target=LayoutRow.entity, action="DO UPDATE", values=columns)
            .returning(*LayoutRow.all_columns())
            .run()
        )
        return layout_of(rows[0])


@dataclass
class MemoryLayouts:
    rows: dict[int, DocumentLayout] = field(default_factory=dict)

    async def get(self, entity_id: int) -> DocumentLayout | None:
        return self.rows.get(entity_id)

    async def put(self, entity_id: int, changes: dict[str, str], now: datetime) -> DocumentLayout:
        current = self.rows.get(entity_id) or DocumentLayout(entity_id=entity_id)
        values: dict[str, Any] = dict(changes)
        if "logo_png_base64" in values:
            values["logo_png_base64"] = values["logo_png_base64"] or None
        layout = msgspec.structs.replace(current, **values, updated_at=now)
        self.rows[entity_id] = layout
        return layout
