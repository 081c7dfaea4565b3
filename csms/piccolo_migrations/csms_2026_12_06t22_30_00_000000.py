"""Connector states: indexed by (station, connector_id, reported_at).

Rating reads each 1.6 session's connector states between its start and
stop (``billing.storage.sources``). With an index on the station alone,
every such read scanned all the states the station ever reported and
kept the connector's in the session's span: a batch of 1,000 sessions
spent 53 ms on it at 173 states per station, and a station's history
only grows. Led by the same column, the new index still serves every
lookup by station (the old index is dropped: it would repeat it).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import ForeignKey
from piccolo.engine.finder import engine_finder

ID = "2026-12-06T22:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "connector_status_change: index by station, connector and time"

INDEX = "connector_status_change_station_connector_time"


async def create_index() -> None:
    engine = engine_finder()
    assert engine is not None
    await engine.run_ddl(
        f'CREATE INDEX {INDEX} ON "connector_status_change"'
        ' ("station", "connector_id", "reported_at")'
    )


async def drop_index() -> None:
    engine = engine_finder()
    assert engine is not None
    await engine.run_ddl(f"DROP INDEX IF EXISTS {INDEX}")


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="csms", description=DESCRIPTION)
    manager.alter_column(
        table_class_name="ConnectorStatusChange",
        tablename="connector_status_change",
        column_name="station",
        db_column_name="station",
        params={"index": False},
        old_params={"index": True},
        column_class=ForeignKey,
        old_column_class=ForeignKey,
        schema=None,
    )
    manager.add_raw(create_index)
    manager.add_raw_backwards(drop_index)
    return manager
