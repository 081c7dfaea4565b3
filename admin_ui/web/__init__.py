"""The operators' admin UI: server-rendered pages (Jinja2), our own small
script and style sheet served by the app (no CDN), mounted at ``/``.

Pages get their services from the composition root (the API's
:class:`~admin_ui.api.context.ApiContext`) and never import storage."""

from __future__ import annotations

from pathlib import Path

from litestar import Router
from litestar.static_files import create_static_files_router

from admin_ui.api.context import ApiContext
from admin_ui.web.metering import MessageReader, MeterReader
from admin_ui.web.pages import web_router
from billing.services.layouts import LayoutService
from billing.services.tariffs import TariffService
from csms.domain.live import LiveFeed

STATIC_DIR = Path(__file__).parent / "static"


def web_routes(
    context: ApiContext,
    layouts: LayoutService | None = None,
    live: LiveFeed | None = None,
    meter_values: MeterReader | None = None,
    tariffs: TariffService | None = None,
    message_log: MessageReader | None = None,
) -> list[Router]:
    """The pages at / and their static files at /static; ``live``: the
    node's feed of changed stations (None: pages do not update live);
    ``meter_values``: a session's meter values (None: no charts)."""
    return [
        web_router(context, layouts, live, meter_values, tariffs, message_log),
        create_static_files_router(
            path="/static", directories=[STATIC_DIR], include_in_schema=False
        ),
    ]
