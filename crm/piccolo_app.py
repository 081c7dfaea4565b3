"""The CRM's piccolo app: tables and migrations."""

import os

from piccolo.conf.apps import AppConfig

from crm.tables import IdTag

CURRENT_DIRECTORY = os.path.dirname(os.path.abspath(__file__))

APP_CONFIG = AppConfig(
    app_name="crm",
    migrations_folder_path=os.path.join(CURRENT_DIRECTORY, "piccolo_migrations"),
    table_classes=[IdTag],
    migration_dependencies=[],
    commands=[],
)
