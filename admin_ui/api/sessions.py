"""Charging sessions (1.6 and 2.0.1 alike), read-only: seen exactly when
their station is (``stations:read`` on the station's owner)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from litestar import Controller, get
from litestar.di import NamedDependency, Provide
from litestar.params import QueryParameter

from admin_ui.api.common import Id, Page, PageParams, QueryId
from admin_ui.api.context import ApiContext, default_ports
from crm.access import Principal
from csms.domain.sessions_view import ChargingSession, SessionFilter, SessionsView
from csms.domain.views import MeterValueView


def provide_sessions(context: ApiContext | None = None) -> SessionsView:
    """The sessions service on the context's storage (without a context:
    the composition root's default storage)."""
    ports = context.ports if context is not None else default_ports()
    return SessionsView(ports.sessions)


def _provide_sessions(context: NamedDependency[ApiContext]) -> SessionsView:
    return provide_sessions(context)


class SessionController(Controller):
    path = "/sessions"
    tags = ["sessions"]
    dependencies = {"sessions": Provide(_provide_sessions, sync_to_thread=False)}

    @get("/")
    async def list_sessions(
        self,
        principal: NamedDependency[Principal],
        sessions: NamedDependency[SessionsView],
        page: NamedDependency[PageParams],
        station_id: QueryId = None,
        status: Annotated[str | None, QueryParameter(description="active or completed")] = None,
        id_tag: Annotated[
            str | None, QueryParameter(description="the id tag that started it")
        ] = None,
        started_after: Annotated[
            datetime | None,
            QueryParameter(description="started at or after, with a zone: 2026-11-24T12:00:00Z"),
        ] = None,
        started_before: Annotated[
            datetime | None, QueryParameter(description="started before, with a zone")
        ] = None,
    ) -> Page[ChargingSession]:
        """Sessions of the stations you may see, newest first."""
        filters = SessionFilter(
            station_id=station_id,
            status=status,
            id_tag=id_tag,
            started_after=started_after,
            started_before=started_before,
        )
        items, total = await sessions.list_sessions(
            principal, filters, limit=page.limit, offset=page.offset
        )
        return Page(items=items, total=total, limit=page.limit, offset=page.offset)

    @get("/{session_id:int}")
    async def get_session(
        self,
        session_id: Id,
        principal: NamedDependency[Principal],
        sessions: NamedDependency[SessionsView],
    ) -> ChargingSession:
        """One session: meter start and stop (Wh), energy, times, how it ended."""
        return await sessions.get_session(principal, session_id)

    @get("/{session_id:int}/meter-values")
    async def list_meter_values(
        self,
        session_id: Id,
        principal: NamedDependency[Principal],
        sessions: NamedDependency[SessionsView],
        context: NamedDependency[ApiContext],
    ) -> list[MeterValueView]:
        """The session's meter values in the order sampled (``csms session
        show``): measurand, value and unit as the charger sent them (a 2.0.1
        value is value x 10^multiplier unit); 404 as for the session."""
        await sessions.get_session(principal, session_id)
        return await context.ports.meter_values(session_id)
