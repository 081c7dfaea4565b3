"""Stations the driver may use, remote start and stop, sessions, invoices."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, QueryParameter
from litestar.status_codes import (
    HTTP_200_OK,
    HTTP_409_CONFLICT,
    HTTP_502_BAD_GATEWAY,
    HTTP_503_SERVICE_UNAVAILABLE,
    HTTP_504_GATEWAY_TIMEOUT,
)

from admin_ui.app_api.common import BigId, Id, Page, answers
from admin_ui.app_api.context import AppContext
from admin_ui.app_api.service import (
    CommandAnswer,
    DriverCharging,
    InvoiceView,
    SessionPage,
    SessionView,
    StartRequest,
    StationPage,
)
from crm.drivers.model import Driver
from crm.errors import NotFound

_STATUS = {
    "answered": HTTP_200_OK,
    "timed_out": HTTP_504_GATEWAY_TIMEOUT,
    "busy": HTTP_503_SERVICE_UNAVAILABLE,
    "not_connected": HTTP_409_CONFLICT,
    "call_failed": HTTP_502_BAD_GATEWAY,
    "unsupported": HTTP_409_CONFLICT,
}


def _charging(context: AppContext) -> DriverCharging:
    if context.charging is None:
        raise NotFound("this process serves no charging")
    return context.charging


def _command(answer: CommandAnswer) -> Response[CommandAnswer]:
    return Response(answer, status_code=_STATUS.get(answer.result, HTTP_200_OK))


_COMMAND_ANSWERS = {
    **answers(400, 401, 403, 404, 409),
    **{
        status: answers(status)[status]
        for status in (HTTP_502_BAD_GATEWAY, HTTP_503_SERVICE_UNAVAILABLE, HTTP_504_GATEWAY_TIMEOUT)
    },
}


class StationController(Controller):
    path = "/stations"
    tags = ["stations"]

    @get("/", responses=answers(400, 401))
    async def list_stations(
        self,
        driver: NamedDependency[Driver],
        context: NamedDependency[AppContext],
        page: NamedDependency[Page],
        lat: Annotated[
            float | None, QueryParameter(ge=-90, le=90, description="latitude, WGS 84")
        ] = None,
        lon: Annotated[
            float | None, QueryParameter(ge=-180, le=180, description="longitude, WGS 84")
        ] = None,
        radius_km: Annotated[
            float | None, QueryParameter(gt=0, le=20_000, description="only this near (km)")
        ] = None,
    ) -> StationPage:
        """Stations where your media may charge, with each connector's
        status and the tariff that applies to you; nearest first around
        lat/lon (within radius_km)."""
        return await _charging(context).stations(
            driver,
            latitude=lat,
            longitude=lon,
            radius_km=radius_km,
            limit=page.limit,
            offset=page.offset,
        )


class ChargingController(Controller):
    tags = ["charging"]

    @post("/charging/start", responses=_COMMAND_ANSWERS, status_code=HTTP_200_OK)
    async def start(
        self,
        data: JSONBody[StartRequest],
        driver: NamedDependency[Driver],
        context: NamedDependency[AppContext],
    ) -> Response[CommandAnswer]:
        """Start charging at a station's connector with your app token
        (403 until your e-mail is verified)."""
        return _command(await _charging(context).start(driver, data))

    @post("/sessions/{session_id:int}/stop", responses=_COMMAND_ANSWERS, status_code=HTTP_200_OK)
    async def stop(
        self,
        session_id: Id,
        driver: NamedDependency[Driver],
        context: NamedDependency[AppContext],
    ) -> Response[CommandAnswer]:
        """Stop one of your active sessions."""
        return _command(await _charging(context).stop(driver, session_id))

    @get("/sessions", responses=answers(400, 401))
    async def sessions(
        self,
        driver: NamedDependency[Driver],
        context: NamedDependency[AppContext],
        page: NamedDependency[Page],
        active: Annotated[bool | None, QueryParameter(description="only active (or ended)")] = None,
    ) -> SessionPage:
        """Your sessions, newest first: live energy and cost of the active
        ones, the CDR price of the rated ones."""
        return await _charging(context).sessions(
            driver, active=active, limit=page.limit, offset=page.offset
        )

    @get("/sessions/{session_id:int}", responses=answers(401, 404))
    async def session(
        self, session_id: Id, driver: NamedDependency[Driver], context: NamedDependency[AppContext]
    ) -> SessionView:
        """One of your sessions (live while it runs)."""
        return await _charging(context).session(driver, session_id)

    @get("/invoices", responses=answers(401))
    async def invoices(
        self, driver: NamedDependency[Driver], context: NamedDependency[AppContext]
    ) -> list[InvoiceView]:
        """Your invoices, newest first."""
        return await _charging(context).invoices(driver)

    @get(
        "/invoices/{document_id:int}/pdf",
        media_type="application/pdf",
        responses=answers(401, 404),
    )
    async def invoice_pdf(
        self,
        document_id: BigId,
        driver: NamedDependency[Driver],
        context: NamedDependency[AppContext],
    ) -> Response[bytes]:
        """One of your invoices as PDF."""
        name, data = await _charging(context).invoice_pdf(driver, document_id)
        return Response(
            data,
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )


CONTROLLERS: list[type] = [StationController, ChargingController]
