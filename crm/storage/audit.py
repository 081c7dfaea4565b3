"""The audit log in the database: appended to, read through the one scoping
function, never updated or deleted (the table's triggers refuse it)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from crm.access import Visibility
from crm.audit import AuditEntry, AuditFilter, AuditRecord
from crm.storage.scoping import scoped
from crm.tables import AuditEntry as AuditTable
from crm.tables import User


def _entry(row: dict[str, Any]) -> AuditEntry:
    fields = row["fields"]
    if isinstance(fields, str):
        fields = json.loads(fields)
    return AuditEntry(**{**row, "fields": list(fields)})


class PiccoloAuditLog:
    async def add(self, record: AuditRecord, at: datetime) -> None:
        user = await User.select(User.email).where(User.id == record.user_id).first()
        await AuditTable.insert(
            AuditTable(
                at=at,
                user_email=user["email"] if user else "",
                **{
                    **{f: getattr(record, f) for f in record.__struct_fields__},
                    "fields": json.dumps(record.fields),
                    "path": record.path[:500],
                    "object_id": record.object_id[:64],
                    "client_address": record.client_address[:64],
                },
            )
        ).run()

    async def page(
        self, visibility: Visibility, where: AuditFilter, *, limit: int, offset: int
    ) -> tuple[list[AuditEntry], int]:
        conditions = []
        if where.entity_id is not None:
            conditions.append(AuditTable.entity_id == where.entity_id)
        if where.user_id is not None:
            conditions.append(AuditTable.user_id == where.user_id)
        if where.kind is not None:
            conditions.append(AuditTable.kind == where.kind)
        if where.since is not None:
            conditions.append(AuditTable.at >= where.since)
        if where.until is not None:
            conditions.append(AuditTable.at < where.until)
        rows = scoped(AuditTable.select(), AuditTable.entity_id, visibility)
        count = scoped(AuditTable.count(), AuditTable.entity_id, visibility)
        for condition in conditions:
            rows = rows.where(condition)
            count = count.where(condition)
        found = await rows.order_by(AuditTable.id, ascending=False).limit(limit).offset(offset)
        return [_entry(row) for row in found], await count
