from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Varchar

ID = "2026-11-24T03:30:13:429773"
VERSION = "1.38.0"
DESCRIPTION = "station_variable.mutability holds ReadWrite"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="csms", description=DESCRIPTION)

    manager.alter_column(
        table_class_name="StationVariable",
        tablename="station_variable",
        column_name="mutability",
        db_column_name="mutability",
        params={"length": 10},
        old_params={"length": 4},
        column_class=Varchar,
        old_column_class=Varchar,
        schema=None,
    )

    return manager
