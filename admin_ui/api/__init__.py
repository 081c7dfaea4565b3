"""The operators' REST API, under /api/v1.

Each module holds the controllers of one resource; their handlers take the
request's ``principal`` (computed once per request) and call one service.
"""

from __future__ import annotations

from litestar import Router
from litestar.di import Provide

from admin_ui.api import auth, contacts, entities, media, security, stations, users
from admin_ui.api.audit import AuditLogController
from admin_ui.api.commands import CommandController
from admin_ui.api.common import provide_page, provide_principal
from admin_ui.api.context import ApiContext
from admin_ui.api.device_model import DeviceModelController
from admin_ui.api.errors import EXCEPTION_HANDLERS
from admin_ui.api.files import FirmwareController, StationFilesController, UploadController
from admin_ui.api.local_list import LocalListController
from admin_ui.api.sessions import SessionController
from admin_ui.app_api.operator import RegistrationCodeController

API_PREFIX = "/api/v1"

CONTROLLERS: list[type] = [
    stations.StationController,
    stations.StationGroupController,
    stations.AccessRuleController,
    DeviceModelController,
    SessionController,
    CommandController,
    security.StationSecurityController,
    media.MediaController,
    auth.AuthController,
    entities.EntityController,
    users.UserController,
    users.GroupController,
    contacts.ContactController,
    contacts.DocumentController,
    LocalListController,
    FirmwareController,
    StationFilesController,
    UploadController,
    RegistrationCodeController,
    AuditLogController,
]


def api_router(context: ApiContext) -> Router:
    return Router(
        path=API_PREFIX,
        route_handlers=CONTROLLERS,
        dependencies={
            "context": Provide(lambda: context, sync_to_thread=False, use_cache=True),
            "principal": Provide(provide_principal),
            "page": Provide(provide_page, sync_to_thread=False),
        },
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
    )
