from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import ForeignKey

ID = "2026-12-06T19:55:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "billing: a CDR is not indexed by session or by seller alone (wider indexes serve those lookups)"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="billing", description=DESCRIPTION)

    manager.alter_column(
        table_class_name="Cdr",
        tablename="cdr",
        column_name="session",
        db_column_name="session",
        params={"index": False},
        old_params={"index": True},
        column_class=ForeignKey,
        old_column_class=ForeignKey,
        schema=None,
    )

    manager.alter_column(
        table_class_name="Cdr",
        tablename="cdr",
        column_name="seller_entity",
        db_column_name="seller_entity",
        params={"index": False},
        old_params={"index": True},
        column_class=ForeignKey,
        old_column_class=ForeignKey,
        schema=None,
    )

    return manager
