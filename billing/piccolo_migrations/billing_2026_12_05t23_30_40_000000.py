from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-05T23:30:40:000000"
VERSION = "1.38.0"
DESCRIPTION = "billing: one document layout per entity"

# A unique index, not a table constraint: SQLite cannot add one later.
CREATE_INDEXES = ('CREATE UNIQUE INDEX document_layout_entity ON "document_layout" ("entity")',)
DROP_INDEXES = ("DROP INDEX IF EXISTS document_layout_entity",)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="billing", description=DESCRIPTION)

    async def create_indexes():
        for statement in CREATE_INDEXES:
            await _run(statement)

    async def drop_indexes():
        for statement in DROP_INDEXES:
            await _run(statement)

    manager.add_raw(create_indexes)
    manager.add_raw_backwards(drop_indexes)
    return manager


def _engine():
    from piccolo.engine.finder import engine_finder

    return engine_finder()


async def _run(statement: str) -> None:
    await _engine().run_ddl(statement)
