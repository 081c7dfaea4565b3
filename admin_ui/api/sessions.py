"""Charging sessions (1.6 and 2.0.1 alike), read-only: seen exactly when
their station is (``stations:read`` on the station's owner)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Controller, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import QueryParameter

from admin_ui.api.common import Id, Page, PageParams, QueryId
from admin_ui.api.context import ApiContext, default_ports
from crm.access import Principal
from csms.domain.sessions_view import ChargingSession, SessionFilter, SessionsView
from csms.domain.stale_sessions import StaleFinding, StaleSessionReview, StaleSessionRule
from csms.domain.views import MeterValueView


def provide_sessions(context: ApiContext | None = None) -> SessionsView:
    """The sessions service on the context's storage (without a context:
    the composition root's default storage)."""
    ports = context.ports if context is not None else default_ports()
    return SessionsView(ports.sessions)


def _provide_sessions(context: NamedDependency[ApiContext]) -> SessionsView:
    return provide_sessions(context)


def provide_stale_review(context: ApiContext | None = None) -> StaleSessionReview:
    """The stale-session rule on the context's storage, for operators."""
    ports = context.ports if context is not None else default_ports()
    hours = context.stale_session_hours if context is not None else 24
    return StaleSessionReview(
        StaleSessionRule(ports.stale_sessions, inactive_hours=hours), ports.stations.get_station
    )


class StaleSession(msgspec.Struct, frozen=True):
    """An open session the stale-session rule closes (or closed): the
    charger never stopped it."""

    session_id: int
    station_id: int
    connector_id: int
    started_at: datetime | None
    # superseded (its connector started a later session) or inactive (no
    # meter value for CSMS_STALE_SESSION_HOURS)
    rule: str
    # The stop time and meter reading the closure gives it.
    stopped_at: datetime
    meter_stop_wh: int | None


def stale_view(finding: StaleFinding) -> StaleSession:
    return StaleSession(
        session_id=finding.session.session_id,
        station_id=finding.session.station_pk,
        connector_id=finding.session.connector_id,
        started_at=finding.session.started_at,
        rule=finding.rule,
        stopped_at=finding.stopped_at,
        meter_stop_wh=finding.session.last_register_wh,
    )


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

    @get("/stale")
    async def stale_sessions(
        self, principal: NamedDependency[Principal], context: NamedDependency[ApiContext]
    ) -> list[StaleSession]:
        """Open sessions the stale-session rule would close, at the stations
        you may see (``csms session stale``): superseded by a later session
        on their connector, or without a meter value for
        CSMS_STALE_SESSION_HOURS. The node closes them on its own rounds."""
        findings = await provide_stale_review(context).findings(principal)
        return [stale_view(f) for f in findings]

    @post("/stale/close", status_code=200)
    async def close_stale_sessions(
        self, principal: NamedDependency[Principal], context: NamedDependency[ApiContext]
    ) -> list[StaleSession]:
        """Closes them now at the stations you may update (``csms session
        stale --close``); answers those closed. A charger's own
        StopTransaction later replaces the closure."""
        closed = await provide_stale_review(context).close(principal)
        return [stale_view(f) for f in closed]

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
