"""Media for tests: issued through the media service (as the API and the CLI
issue them), by a root entity made on the spot unless the test names one."""

from __future__ import annotations

from datetime import datetime

from crm.access import system_principal
from crm.changes import CrmChangeListener, IgnoreChanges
from crm.media import MediumCreate, MediumKind, MediumRecord, MediumStatus
from crm.services.media import MediaService
from crm.storage.media import PiccoloMediaLookup
from crm.storage.tree import load_tree
from tests.world import make_entity


async def _record(uid: str) -> MediumRecord:
    record = await PiccoloMediaLookup().lookup(uid)
    assert record is not None, uid
    return record


async def allow(
    uid: str,
    *,
    issuer: int | None = None,
    status: MediumStatus = MediumStatus.ACTIVE,
    group_uid: str = "",
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    kind: MediumKind = MediumKind.RFID,
    note: str = "",
    changes: CrmChangeListener | None = None,
) -> MediumRecord:
    """A medium with this uid; without ``issuer`` a new root entity issues it."""
    if issuer is None:
        issuer = await make_entity(f"Issuer of {uid}")
    service = MediaService(changes=changes or IgnoreChanges())
    await service.create(
        system_principal(await load_tree()),
        MediumCreate(
            uid=uid,
            kind=kind,
            issuing_entity_id=issuer,
            status=status,
            group_uid=group_uid,
            valid_from=valid_from,
            valid_until=valid_until,
            note=note,
        ),
    )
    return await _record(uid)


async def set_status(
    uid: str, status: MediumStatus, *, changes: CrmChangeListener | None = None
) -> MediumRecord:
    """Blocks, unblocks, expires or marks lost a medium, announcing it to
    ``changes`` (a node's listener, so its authorisation cache drops it)."""
    service = MediaService(changes=changes or IgnoreChanges())
    await service.set_status(system_principal(await load_tree()), uid, status)
    return await _record(uid)
