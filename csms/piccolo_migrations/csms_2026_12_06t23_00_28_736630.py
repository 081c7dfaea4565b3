"""The rating queue's revision: a session that completes anew while its
row waits (a charger's stop replacing a rule's) moves the row to a new
revision, and the rater removes only the revision it rated. Before, it
removed the row by session, so a change made while the session was being
rated was never rated."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Integer
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-06T23:00:28:736630"
VERSION = "1.38.0"
DESCRIPTION = "rating_queue: revision, so a session completed anew while rated is rated again"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="csms", description=DESCRIPTION)

    manager.add_column(
        table_class_name="RatingQueue",
        tablename="rating_queue",
        column_name="revision",
        db_column_name="revision",
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
