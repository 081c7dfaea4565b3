"""A station's local authorisation list.

- ``GET /stations/{id}/local-list``: the version and entries the station
  holds, as it last acknowledged them (permission stations:read).
- ``POST /stations/{id}/local-list/sync``: brings the station's list to
  what the media registry and its access rules say, with a Differential
  when the station holds the version we recorded, else Full (permission
  stations:command). Answers what was sent, or the outcome that stopped it.

The rules of the list are :mod:`csms.domain.local_list`'s.
"""

from __future__ import annotations

from litestar import Controller, get, post
from litestar.di import NamedDependency, Provide
from litestar.exceptions import ServiceUnavailableException
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK

from admin_ui.api.common import Id
from admin_ui.api.context import ApiContext
from crm.access import Principal
from csms.domain.local_list import LocalListService, LocalListView, SyncRequest, SyncResult


def provide_local_lists(context: NamedDependency[ApiContext]) -> LocalListService:
    if context.local_lists is None:
        raise ServiceUnavailableException("this process sends no commands to stations")
    return context.local_lists


class LocalListController(Controller):
    path = "/stations"
    tags = ["stations"]
    dependencies = {"local_lists": Provide(provide_local_lists, sync_to_thread=False)}

    @get("/{station_id:int}/local-list")
    async def get_local_list(
        self,
        station_id: Id,
        principal: NamedDependency[Principal],
        local_lists: NamedDependency[LocalListService],
    ) -> LocalListView:
        """The list the station holds as it last acknowledged it (version
        null: nothing sent yet)."""
        return await local_lists.view(principal, station_id)

    @post("/{station_id:int}/local-list/sync", status_code=HTTP_200_OK)
    async def sync_local_list(
        self,
        station_id: Id,
        principal: NamedDependency[Principal],
        local_lists: NamedDependency[LocalListService],
        data: JSONBody[SyncRequest | None] = None,
    ) -> SyncResult:
        """Send the station its local list: only the changes when it holds
        the version we recorded, else the whole list (in parts of at most
        ``items_per_message`` entries). ``synced`` says whether it holds the
        wanted list now; else ``outcome`` is the charger's refusal (Failed,
        NotSupported), a timeout, busy or not connected."""
        return await local_lists.sync_for(principal, station_id, data or SyncRequest())
