"""The Litestar application: health and metrics, the operators' REST API
(/api/v1, OpenAPI at /api/schema), the operators' pages and the drivers'
app API. Every service gets its storage from the context the composition
root hands over (``ApiContext.ports``); nothing here imports storage."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Litestar, MediaType, Response, get
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import RedocRenderPlugin
from litestar.status_codes import (
    HTTP_200_OK,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_503_SERVICE_UNAVAILABLE,
)

from admin_ui.api import API_PREFIX, api_router
from admin_ui.api.audit import AuditTrail
from admin_ui.api.billing import billing_router
from admin_ui.api.context import ApiContext
from admin_ui.api.document_layouts import document_layout_router
from admin_ui.api.files import public_files_app
from admin_ui.api.request_guard import RequestGuard, internal_error
from admin_ui.api.tariffs import tariff_router
from admin_ui.app_api import app_api_mount
from admin_ui.app_api.context import AppContext
from admin_ui.web import web_routes
from billing.services.layouts import LayoutService
from billing.services.tariffs import TariffService
from csms.domain.live import LiveFeed
from csms.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE

# Returns the readiness of each dependency: name to "ok" or what is wrong.
ReadinessCheck = Callable[[], Awaitable[dict[str, str]]]


# Prometheus metrics in the text exposition format.
MetricsExposition = Callable[[], bytes]
# /readyz answers within this (each check has its own, shorter bound).
READYZ_TIMEOUT = 1.5


def create_app(
    *,
    readiness: ReadinessCheck,
    metrics: MetricsExposition,
    api: ApiContext | None = None,
    tariffs: TariffService | None = None,
    drivers: AppContext | None = None,
    layouts: LayoutService | None = None,
    live: LiveFeed | None = None,
    debug: bool = False,
) -> Litestar:
    @get("/healthz", media_type=MediaType.JSON, sync_to_thread=False)
    def healthz() -> dict[str, str]:
        """Alive: the process answers."""
        return {"status": "ok"}

    @get("/readyz", media_type=MediaType.JSON)
    async def readyz() -> Response[dict[str, Any]]:
        """Ready: the database (and every other dependency) answers. The
        checks bound themselves; this bound is the last resort (503, never a
        hang)."""
        try:
            checks = await asyncio.wait_for(readiness(), READYZ_TIMEOUT)
        except TimeoutError:
            checks = {"readiness": f"timed out after {READYZ_TIMEOUT:g} s"}
        ready = all(state == "ok" for state in checks.values())
        return Response(
            {"status": "ready" if ready else "unavailable", "checks": checks},
            status_code=HTTP_200_OK if ready else HTTP_503_SERVICE_UNAVAILABLE,
        )

    @get("/metrics", media_type=METRICS_CONTENT_TYPE, sync_to_thread=False)
    def prometheus_metrics() -> Response[bytes]:
        """This process's metrics for Prometheus: connected stations, calls,
        CALLERRORs, latencies, group-commit queue, batches and write latency."""
        return Response(metrics(), media_type=METRICS_CONTENT_TYPE)

    context = api or ApiContext()
    ports = context.ports
    if tariffs is None:
        tariffs = TariffService(ports.tariffs)
    if layouts is None:
        layouts = LayoutService(ports.layouts)
    # A session's meter values for the pages' charts, a station's latest
    # OCPP messages for its page.
    meter_values = ports.meter_values
    message_log = ports.message_log
    # logging_config=None: the process (CLI, tests) owns the logging set-up.
    return Litestar(
        route_handlers=[
            healthz,
            readyz,
            prometheus_metrics,
            api_router(context),
            # Tariffs, their assignments and community partners (billing).
            tariff_router(context, tariffs, API_PREFIX),
            # CDRs, session billing status, runs, documents, reports (billing).
            billing_router(context, API_PREFIX),
            # Each entity's document layout: texts, payment terms, logo (billing).
            document_layout_router(context, API_PREFIX, layouts),
            # Firmware downloads and log uploads of chargers (no login).
            public_files_app(context),
            # The drivers' app API (/app/v1, its own OpenAPI document and login).
            *([app_api_mount(drivers)] if drivers is not None else []),
            # The operators' pages at / and their static files (no CDN).
            *web_routes(context, layouts, live, meter_values, tariffs, message_log),
        ],
        openapi_config=OpenAPIConfig(
            title="csms operators' API",
            version="1",
            description="Entities, users, groups, contacts, media, stations and "
            "access rules. Log in at /api/v1/auth/login, then send the token as "
            "'Authorization: Bearer <token>'.",
            path="/api/schema",
            # Redoc from our own static files, no web fonts: works offline.
            render_plugins=[
                RedocRenderPlugin(
                    js_url="/static/vendor/redoc.standalone.js",
                    google_fonts=False,
                    path="/",
                    favicon="",
                )
            ],
        ),
        # Request ids, NUL and deep JSON refused; every 500 logged with its id.
        # (and every operator change recorded in the audit log).
        middleware=[RequestGuard, DefineMiddleware(AuditTrail, log=ports.audit_log)],
        exception_handlers={HTTP_500_INTERNAL_SERVER_ERROR: internal_error},
        # The drivers' app's connections close in the loop that opened them.
        on_shutdown=[drivers.close] if drivers is not None else [],
        debug=debug,
        logging_config=None,
    )
