from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-06T19:50:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "billing: the CDR's document and draft-run indexes hold billed and drafted CDRs only"

# Most CDRs wait unbilled (NULL) until their month's run. Indexed whole, a
# run that marks its CDRs billed took each one's NULL entry out of both
# indexes, scattered over their pages (one page write per CDR and index);
# indexed where not NULL, the run only appends its new document and run ids
# (benchmarks.billing, 100,000 sessions: billing 13.8 -> 12.4 s). Lookups by
# document or run (`document = ?`, `draft_run = ?`) use them as before: both
# databases know such a comparison implies NOT NULL.
PARTIAL = (
    "DROP INDEX IF EXISTS cdr_document",
    "DROP INDEX IF EXISTS cdr_draft_run",
    'CREATE INDEX cdr_document ON "cdr" ("document") WHERE "document" IS NOT NULL',
    'CREATE INDEX cdr_draft_run ON "cdr" ("draft_run") WHERE "draft_run" IS NOT NULL',
)
WHOLE = (
    "DROP INDEX IF EXISTS cdr_document",
    "DROP INDEX IF EXISTS cdr_draft_run",
    'CREATE INDEX cdr_document ON "cdr" ("document")',
    'CREATE INDEX cdr_draft_run ON "cdr" ("draft_run")',
)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="billing", description=DESCRIPTION)

    async def partial():
        for statement in PARTIAL:
            await _run(statement)

    async def whole():
        for statement in WHOLE:
            await _run(statement)

    manager.add_raw(partial)
    manager.add_raw_backwards(whole)
    return manager


def _engine():
    from piccolo.engine.finder import engine_finder

    return engine_finder()


async def _run(statement: str) -> None:
    await _engine().run_ddl(statement)
