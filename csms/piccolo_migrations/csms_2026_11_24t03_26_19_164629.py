"""Indexes for OCPP 2.0.1: sessions by station and the charger's transactionId,
and the device model's key (so a report upserts with ON CONFLICT; an index
rather than a constraint because SQLite cannot add constraints to a table)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine.finder import engine_finder

ID = "2026-11-24T03:26:19:164629"
VERSION = "1.38.0"
DESCRIPTION = "OCPP 2.0.1 indexes"

INDEXES = {
    "charging_session_station_charger_tx": (
        'CREATE INDEX charging_session_station_charger_tx ON "charging_session" '
        '("station", "charger_transaction_id")'
    ),
    "station_variable_key": (
        'CREATE UNIQUE INDEX station_variable_key ON "station_variable" '
        '("station", "component", "component_instance", "evse_id", "connector_id",'
        ' "variable", "variable_instance", "attribute_type")'
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
