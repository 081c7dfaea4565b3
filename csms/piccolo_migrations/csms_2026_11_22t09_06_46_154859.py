"""Composite indexes, which piccolo's column definitions cannot declare.

The unique one lets status reports upsert with ON CONFLICT; an index rather
than a table constraint because SQLite cannot add constraints to a table.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine.finder import engine_finder

ID = "2026-11-22T09:06:46:154859"
VERSION = "1.38.0"
DESCRIPTION = "composite indexes"

INDEXES = {
    "connector_station_connector_id": (
        'CREATE UNIQUE INDEX connector_station_connector_id ON "connector" '
        '("station", "connector_id")'
    ),
    "charging_session_station_connector": (
        'CREATE INDEX charging_session_station_connector ON "charging_session" '
        '("station", "connector_id", "status")'
    ),
    "meter_value_session_received_at": (
        'CREATE INDEX meter_value_session_received_at ON "meter_value" ("session", "received_at")'
    ),
}


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="csms", description=DESCRIPTION)

    async def create_indexes():
        engine = engine_finder()
        for statement in INDEXES.values():
            await engine.run_ddl(statement)

    async def drop_indexes():
        engine = engine_finder()
        for name in INDEXES:
            await engine.run_ddl(f"DROP INDEX IF EXISTS {name}")

    manager.add_raw(create_indexes)
    manager.add_raw_backwards(drop_indexes)
    return manager
