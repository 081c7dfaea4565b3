"""Hand-written: the foundation's id tags become identification media, then
the id_tag table goes; unique pairs get their indexes.

Id tags had no issuing entity. When there are any and no entity exists yet,
a root entity "Operator" (with its CRM contact) is created to issue them; an
operator renames it afterwards.
"""

from datetime import UTC, datetime

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns import ForeignKey, Serial, Timestamptz, Varchar
from piccolo.engine import engine_finder
from piccolo.table import Table

ID = "2026-11-24T00:27:28:000000"
VERSION = "1.38.0"
DESCRIPTION = "id tags become media; unique indexes of memberships and shares"

# The foundation stored OCPP's spelling; media keep their own.
STATUS = {"Accepted": "active", "Blocked": "blocked", "Expired": "expired"}

UNIQUE_INDEXES = (
    ("contact_share_contact_entity", "contact_share", "contact, entity"),
    ("membership_user_entity", "membership", '"user", entity'),
    ("group_member_group_user", "group_member", '"group", "user"'),
)


class IdTag(Table, tablename="id_tag"):
    id = Serial(primary_key=True)
    uid = Varchar(length=36)
    parent_uid = Varchar(length=36)
    status = Varchar(length=16)
    expires_at = Timestamptz(null=True)
    note = Varchar(length=255)


class Entity(Table, tablename="entity"):
    id = Serial(primary_key=True)
    parent = ForeignKey(references="self", null=True)
    name = Varchar(length=200)
    kind = Varchar(length=16)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class Contact(Table, tablename="contact"):
    id = Serial(primary_key=True)
    owner_entity = ForeignKey(references=Entity)
    master_of_entity = ForeignKey(references=Entity, null=True)
    kind = Varchar(length=8)
    name = Varchar(length=200)
    company = Varchar(length=200)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class Medium(Table, tablename="medium"):
    id = Serial(primary_key=True)
    uid = Varchar(length=36)
    kind = Varchar(length=8)
    issuing_entity = ForeignKey(references=Entity)
    status = Varchar(length=8)
    valid_until = Timestamptz(null=True)
    group_uid = Varchar(length=36)
    note = Varchar(length=255)
    created_at = Timestamptz()
    updated_at = Timestamptz()


async def _issuing_entity(now: datetime) -> int:
    root = await Entity.select(Entity.id).where(Entity.parent.is_null()).order_by(Entity.id).first()
    if root:
        return root["id"]
    (row,) = await Entity.insert(
        Entity(name="Operator", kind="operator", created_at=now, updated_at=now)
    ).returning(Entity.id)
    await Contact.insert(
        Contact(
            owner_entity=row["id"],
            master_of_entity=row["id"],
            kind="company",
            name="Operator",
            company="Operator",
            created_at=now,
            updated_at=now,
        )
    )
    return row["id"]


async def tags_to_media() -> None:
    engine = engine_finder()
    assert engine is not None
    for name, table, columns in UNIQUE_INDEXES:
        await engine.run_ddl(f"CREATE UNIQUE INDEX {name} ON {table} ({columns})")
    tags = await IdTag.select().order_by(IdTag.id)
    if not tags:
        return
    now = datetime.now(UTC)
    entity = await _issuing_entity(now)
    media = [
        Medium(
            uid=tag["uid"],
            kind="rfid",
            issuing_entity=entity,
            status=STATUS.get(tag["status"], "blocked"),
            valid_until=tag["expires_at"],
            group_uid=tag["parent_uid"],
            note=tag["note"],
            created_at=now,
            updated_at=now,
        )
        for tag in tags
    ]
    for start in range(0, len(media), 500):
        await Medium.insert(*media[start : start + 500])


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="crm", description=DESCRIPTION)
    manager.add_raw(tags_to_media)
    manager.drop_table(class_name="IdTag", tablename="id_tag", schema=None)
    return manager
