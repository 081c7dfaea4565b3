"""A station's device model (OCPP 2.0.1 variables it reported), read-only."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.di import NamedDependency, Provide
from litestar.params import QueryParameter

from admin_ui.api.common import Id, Page, PageParams
from admin_ui.api.context import ApiContext
from crm.access import Principal
from csms.domain.device_model import DeviceModel, StationVariable


def provide_device_model(context: NamedDependency[ApiContext]) -> DeviceModel:
    return DeviceModel(context.ports.device_model)


class DeviceModelController(Controller):
    path = "/stations/{station_id:int}/variables"
    tags = ["stations"]
    dependencies = {"device_model": Provide(provide_device_model, sync_to_thread=False)}

    @get("/")
    async def list_variables(
        self,
        station_id: Id,
        principal: NamedDependency[Principal],
        device_model: NamedDependency[DeviceModel],
        page: NamedDependency[PageParams],
        component: Annotated[
            str | None, QueryParameter(description="only this component, e.g. OCPPCommCtrlr")
        ] = None,
    ) -> Page[StationVariable]:
        """The variables the station reported (NotifyReport), by component,
        variable and attribute type; evse_id / connector_id null when the
        component is not on one."""
        items, total = await device_model.variables(
            principal, station_id, component=component, limit=page.limit, offset=page.offset
        )
        return Page(items=items, total=total, limit=page.limit, offset=page.offset)
