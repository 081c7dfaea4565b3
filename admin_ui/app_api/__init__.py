"""The drivers' app API under /app/v1: a Litestar app of its own, mounted
in the web app, with its own OpenAPI document (/app/v1/schema/openapi.json)
and its own login (driver tokens; operators' tokens do not work here, and
drivers' tokens do not work on /api/v1).

Each module holds the controllers of one resource; their handlers take the
request's ``driver`` (from the access token) and call one service.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar, asgi
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme, Server
from litestar.types import Receive, Scope, Send

from admin_ui.app_api import accounts, cards
from admin_ui.app_api.common import EXCEPTION_HANDLERS, provide_driver, provide_page
from admin_ui.app_api.context import AppContext

APP_PREFIX = "/app/v1"

CONTROLLERS: list[type] = [accounts.AccountController, cards.CardController]


def driver_app(context: AppContext) -> Litestar:
    """The drivers' API as an app of its own (paths without the prefix)."""
    from admin_ui.app_api import charging

    return Litestar(
        route_handlers=[*CONTROLLERS, *charging.CONTROLLERS],
        dependencies={
            "context": Provide(lambda: context, sync_to_thread=False, use_cache=True),
            "driver": Provide(provide_driver),
            "page": Provide(provide_page, sync_to_thread=False),
        },
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        openapi_config=OpenAPIConfig(
            title="csms drivers' app API",
            version="1",
            description="Register with an entity's registration code, verify your "
            "e-mail, log in at /login, then send the access token as "
            "'Authorization: Bearer <token>'; refresh it at /token.",
            path="/schema",
            servers=[Server(url=APP_PREFIX)],
            components=Components(
                security_schemes={
                    "driver": SecurityScheme(type="http", scheme="bearer"),
                }
            ),
            security=[{"driver": []}],
        ),
        logging_config=None,
    )


def app_api_mount(context: AppContext) -> Any:
    """The drivers' app mounted at /app/v1 in the web app."""
    app = driver_app(context)

    @asgi(APP_PREFIX, is_mount=True, copy_scope=True)
    async def drivers(scope: Scope, receive: Receive, send: Send) -> None:
        await app(scope, receive, send)

    return drivers
