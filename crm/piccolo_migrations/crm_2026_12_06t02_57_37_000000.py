"""Hand-written: the audit log is never changed or deleted; the database
refuses it too, whatever code asks (as billing_document does)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-06T02:57:37:000000"
VERSION = "1.38.0"
DESCRIPTION = "the audit log refuses UPDATE and DELETE"

PG_IMMUTABLE_AUDIT = (
    "CREATE FUNCTION audit_log_immutable() RETURNS trigger AS $$ "
    "BEGIN RAISE EXCEPTION 'the audit log is append-only (% of entry %)', "
    "TG_OP, OLD.id; END; $$ LANGUAGE plpgsql",
    'CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON "audit_log" '
    "FOR EACH ROW EXECUTE FUNCTION audit_log_immutable()",
)
SQLITE_IMMUTABLE_AUDIT = (
    'CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON "audit_log" '
    "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
    'CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON "audit_log" '
    "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
)
PG_DROP = (
    'DROP TRIGGER IF EXISTS audit_log_no_change ON "audit_log"',
    "DROP FUNCTION IF EXISTS audit_log_immutable()",
)
SQLITE_DROP = (
    "DROP TRIGGER IF EXISTS audit_log_no_update",
    "DROP TRIGGER IF EXISTS audit_log_no_delete",
)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="crm", description=DESCRIPTION)

    async def create_triggers():
        for statement in PG_IMMUTABLE_AUDIT if _postgres() else SQLITE_IMMUTABLE_AUDIT:
            await _run(statement)

    async def drop_triggers():
        for statement in PG_DROP if _postgres() else SQLITE_DROP:
            await _run(statement)

    manager.add_raw(create_triggers)
    manager.add_raw_backwards(drop_triggers)
    return manager


def _engine():
    from piccolo.engine.finder import engine_finder

    return engine_finder()


def _postgres() -> bool:
    from piccolo.engine.postgres import PostgresEngine

    return isinstance(_engine(), PostgresEngine)


async def _run(statement: str) -> None:
    await _engine().run_ddl(statement)
