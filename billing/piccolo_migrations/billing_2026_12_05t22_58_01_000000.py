from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-05T22:58:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "billing: unique keys, the unbilled-CDR index, immutable documents"

# Uniqueness and lookups the table classes cannot state (SQLite cannot add a
# table constraint later, so they are indexes).
CREATE_INDEXES = (
    'CREATE UNIQUE INDEX tariff_owner_code ON "tariff" ("owner_entity", "code")',
    'CREATE UNIQUE INDEX tariff_version_from ON "tariff_version" ("tariff", "valid_from")',
    'CREATE UNIQUE INDEX community_partner_pair ON "community_partner" '
    '("entity", "partner_entity")',
    'CREATE UNIQUE INDEX cdr_session_audience ON "cdr" ("session", "audience")',
    'CREATE INDEX cdr_unbilled ON "cdr" ("seller_entity", "document", "started_at")',
    'CREATE UNIQUE INDEX number_range_entity_kind ON "number_range" ("entity", "kind")',
    'CREATE UNIQUE INDEX billing_document_number ON "billing_document" '
    '("issuer_entity", "kind", "number")',
)
DROP_INDEXES = (
    "DROP INDEX IF EXISTS tariff_owner_code",
    "DROP INDEX IF EXISTS tariff_version_from",
    "DROP INDEX IF EXISTS community_partner_pair",
    "DROP INDEX IF EXISTS cdr_session_audience",
    "DROP INDEX IF EXISTS cdr_unbilled",
    "DROP INDEX IF EXISTS number_range_entity_kind",
    "DROP INDEX IF EXISTS billing_document_number",
)

# Issued documents are never changed or deleted: the database refuses it
# too, whatever code asks.
PG_IMMUTABLE_DOCUMENTS = (
    "CREATE FUNCTION billing_document_immutable() RETURNS trigger AS $$ "
    "BEGIN RAISE EXCEPTION 'issued documents are immutable (% of document %)', "
    "TG_OP, OLD.id; END; $$ LANGUAGE plpgsql",
    "CREATE TRIGGER billing_document_no_change BEFORE UPDATE OR DELETE ON "
    '"billing_document" FOR EACH ROW EXECUTE FUNCTION billing_document_immutable()',
)
SQLITE_IMMUTABLE_DOCUMENTS = (
    'CREATE TRIGGER billing_document_no_update BEFORE UPDATE ON "billing_document" '
    "BEGIN SELECT RAISE(ABORT, 'issued documents are immutable'); END",
    'CREATE TRIGGER billing_document_no_delete BEFORE DELETE ON "billing_document" '
    "BEGIN SELECT RAISE(ABORT, 'issued documents are immutable'); END",
)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="billing", description=DESCRIPTION)

    async def create_indexes():
        from piccolo.engine.postgres import PostgresEngine

        for statement in CREATE_INDEXES:
            await _run(statement)
        postgres = isinstance(_engine(), PostgresEngine)
        for statement in PG_IMMUTABLE_DOCUMENTS if postgres else SQLITE_IMMUTABLE_DOCUMENTS:
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
