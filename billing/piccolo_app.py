"""The billing engine's piccolo app: tables and migrations."""

import os

from piccolo.conf.apps import AppConfig

from billing.tables import (
    BillingRun,
    Cdr,
    CommunityPartner,
    Document,
    DocumentLayout,
    NumberRange,
    Tariff,
    TariffAssignment,
    TariffVersion,
)

CURRENT_DIRECTORY = os.path.dirname(os.path.abspath(__file__))

APP_CONFIG = AppConfig(
    app_name="billing",
    migrations_folder_path=os.path.join(CURRENT_DIRECTORY, "piccolo_migrations"),
    table_classes=[
        Tariff,
        TariffVersion,
        TariffAssignment,
        CommunityPartner,
        Cdr,
        NumberRange,
        BillingRun,
        Document,
        DocumentLayout,
    ],
    migration_dependencies=["csms.piccolo_app"],
    commands=[],
)
