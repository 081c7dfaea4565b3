"""The OCPP core's piccolo app: tables and migrations."""

import os

from piccolo.conf.apps import AppConfig

from csms.tables import (
    AccessRule,
    ChargingSession,
    Connector,
    ConnectorStatusChange,
    FirmwareFile,
    LocalListState,
    MeterValue,
    OcppMessage,
    RatingQueue,
    SecurityEvent,
    SessionStateChange,
    Station,
    StationEvent,
    StationGroup,
    StationUpload,
    StationVariable,
    UploadSlot,
)

CURRENT_DIRECTORY = os.path.dirname(os.path.abspath(__file__))

APP_CONFIG = AppConfig(
    app_name="csms",
    migrations_folder_path=os.path.join(CURRENT_DIRECTORY, "piccolo_migrations"),
    table_classes=[
        StationGroup,
        Station,
        Connector,
        ConnectorStatusChange,
        ChargingSession,
        MeterValue,
        StationEvent,
        OcppMessage,
        AccessRule,
        SecurityEvent,
        LocalListState,
        FirmwareFile,
        UploadSlot,
        StationUpload,
        StationVariable,
        SessionStateChange,
        RatingQueue,
    ],
    migration_dependencies=["crm.piccolo_app"],
    commands=[],
)
