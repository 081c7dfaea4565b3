"""Id tags in the database."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from crm.id_tags import IdTagError, IdTagRecord, IdTagStatus, check_uid
from crm.tables import IdTag

# Rows per statement in bulk work, well under the databases' parameter limits.
_CHUNK = 500


class IdTagNotFound(LookupError):
    pass


def _record(row: dict[str, Any]) -> IdTagRecord:
    return IdTagRecord(
        uid=row["uid"],
        status=IdTagStatus(row["status"]),
        parent_uid=row["parent_uid"],
        expires_at=row["expires_at"],
        note=row["note"],
    )


class PiccoloIdTagRegistry:
    async def lookup(self, uid: str) -> IdTagRecord | None:
        row = await IdTag.select().where(IdTag.uid == uid).first().run()
        return _record(row) if row else None

    async def add(
        self,
        uid: str,
        *,
        parent_uid: str = "",
        expires_at: datetime | None = None,
        note: str = "",
    ) -> IdTagRecord:
        uid = check_uid(uid)
        if parent_uid:
            parent_uid = check_uid(parent_uid)
        if expires_at is not None and expires_at.tzinfo is None:
            raise IdTagError("an expiry date needs a time zone")
        if await IdTag.exists().where(IdTag.uid == uid).run():
            raise IdTagError(f"id tag {uid!r} exists already")
        now = datetime.now(UTC)
        await IdTag.insert(
            IdTag(
                uid=uid,
                parent_uid=parent_uid,
                status=IdTagStatus.ACCEPTED.value,
                expires_at=expires_at,
                note=note,
                created_at=now,
                updated_at=now,
            )
        ).run()
        return IdTagRecord(uid=uid, parent_uid=parent_uid, expires_at=expires_at, note=note)

    async def add_many(
        self, records: Sequence[IdTagRecord], *, skip_existing: bool = False
    ) -> list[str]:
        """Adds the tags in one transaction and returns the uids skipped
        because they exist. Without ``skip_existing`` an existing uid refuses
        the whole import and nothing is written."""
        uids = [record.uid for record in records]
        async with IdTag._meta.db.transaction():
            existing: set[str] = set()
            for start in range(0, len(uids), _CHUNK):
                rows = (
                    await IdTag.select(IdTag.uid)
                    .where(IdTag.uid.is_in(uids[start : start + _CHUNK]))
                    .run()
                )
                existing.update(row["uid"] for row in rows)
            if existing and not skip_existing:
                shown = sorted(existing)[:10]
                raise IdTagError(
                    f"{len(existing)} id tag(s) exist already: {', '.join(shown)}"
                    + (" ..." if len(existing) > len(shown) else "")
                )
            now = datetime.now(UTC)
            new = [
                IdTag(
                    uid=record.uid,
                    parent_uid=record.parent_uid,
                    status=record.status.value,
                    expires_at=record.expires_at,
                    note=record.note,
                    created_at=now,
                    updated_at=now,
                )
                for record in records
                if record.uid not in existing
            ]
            for start in range(0, len(new), _CHUNK):
                await IdTag.insert(*new[start : start + _CHUNK]).run()
        return sorted(existing)

    async def list_all(self, *, limit: int = 1000, offset: int = 0) -> list[IdTagRecord]:
        rows = await IdTag.select().order_by(IdTag.uid).limit(limit).offset(offset).run()
        return [_record(row) for row in rows]

    async def set_status(self, uid: str, status: IdTagStatus) -> IdTagRecord:
        updated = (
            await IdTag.update({IdTag.status: status.value, IdTag.updated_at: datetime.now(UTC)})
            .where(IdTag.uid == uid)
            .returning(*IdTag.all_columns())
            .run()
        )
        if not updated:
            raise IdTagNotFound(f"no id tag {uid!r}")
        return _record(updated[0])

    async def remove(self, uid: str) -> None:
        deleted = await IdTag.delete().where(IdTag.uid == uid).returning(IdTag.id).run()
        if not deleted:
            raise IdTagNotFound(f"no id tag {uid!r}")
