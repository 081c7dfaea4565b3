from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Integer
from piccolo.columns.column_types import Varchar
from piccolo.columns.indexes import IndexMethod

ID = "2026-11-24T03:26:06:317516"
VERSION = "1.38.0"
DESCRIPTION = "OCPP 2.0.1 transactions (seqNo, charging state), meter multiplier, device model"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="csms", description=DESCRIPTION)

    manager.add_column(
        table_class_name="ChargingSession",
        tablename="charging_session",
        column_name="charging_state",
        db_column_name="charging_state",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 20,
            "default": "",
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.add_column(
        table_class_name="ChargingSession",
        tablename="charging_session",
        column_name="last_seq_no",
        db_column_name="last_seq_no",
        column_class_name="Integer",
        column_class=Integer,
        params={
            "default": None,
            "null": True,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.add_column(
        table_class_name="MeterValue",
        tablename="meter_value",
        column_name="multiplier",
        db_column_name="multiplier",
        column_class_name="Integer",
        column_class=Integer,
        params={
            "default": 0,
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    return manager
