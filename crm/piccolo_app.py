"""The CRM's piccolo app: tables and migrations."""

import os

from piccolo.conf.apps import AppConfig

from crm.tables import (
    AuditEntry,
    Contact,
    ContactDocument,
    ContactShare,
    DriverLogin,
    DriverToken,
    Entity,
    Group,
    GroupMember,
    LoginSession,
    MailOutbox,
    Medium,
    Membership,
    RegistrationCode,
    User,
)

CURRENT_DIRECTORY = os.path.dirname(os.path.abspath(__file__))

APP_CONFIG = AppConfig(
    app_name="crm",
    migrations_folder_path=os.path.join(CURRENT_DIRECTORY, "piccolo_migrations"),
    table_classes=[
        Entity,
        Contact,
        ContactShare,
        ContactDocument,
        User,
        Membership,
        Group,
        GroupMember,
        LoginSession,
        Medium,
        RegistrationCode,
        DriverLogin,
        DriverToken,
        MailOutbox,
        AuditEntry,
    ],
    migration_dependencies=[],
    commands=[],
)
