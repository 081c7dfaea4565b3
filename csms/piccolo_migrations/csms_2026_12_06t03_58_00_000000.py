from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Varchar

ID = "2026-12-06T03:58:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "meter_value.unit holds 2.0.1's 20-character units"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="csms", description=DESCRIPTION)

    manager.alter_column(
        table_class_name="MeterValue",
        tablename="meter_value",
        column_name="unit",
        db_column_name="unit",
        params={"length": 20},
        old_params={"length": 16},
        column_class=Varchar,
        old_column_class=Varchar,
        schema=None,
    )

    return manager
