"""An entity's document layout through the operators' API: the pre- and
post-texts of its invoices, credit notes and cancellations, payment terms,
the PNG logo (base64 text in the JSON), the name in the header and the
documents' language. Billing data, not the CRM's: the colours stay the
entity's CRM branding (``PATCH /entities/{id}``).

``GET /entities/{id}/document-layout`` needs ``billing:read``,
``PUT /entities/{id}/document-layout`` ``billing:run`` on the entity (out
of scope: 404). PUT sets the fields it gives and keeps the others (an empty
text clears one, a ``logo_png_base64`` of null or "" removes the logo); a
bad field is a 400 naming it, e.g. ``invoice_pre_text: unknown field
{{customer_iban}}; known: ...``. Issued documents keep the texts they were
issued with.
"""

from __future__ import annotations

from litestar import Controller, Router, get, put
from litestar.di import NamedDependency, Provide
from litestar.params import JSONBody

from admin_ui.api.common import Id, provide_principal
from admin_ui.api.context import ApiContext
from admin_ui.api.errors import EXCEPTION_HANDLERS
from billing.documents.layouts import DocumentLayout, DocumentLayoutUpdate
from billing.services.layouts import LayoutService
from crm.access import Principal


class DocumentLayoutController(Controller):
    path = "/entities/{entity_id:int}/document-layout"
    tags = ["billing", "entities"]

    @get("/")
    async def get_layout(
        self,
        entity_id: Id,
        principal: NamedDependency[Principal],
        layouts: NamedDependency[LayoutService],
    ) -> DocumentLayout:
        """The entity's document layout (never saved: the defaults, with
        ``updated_at`` null)."""
        return await layouts.get(principal, entity_id)

    @put("/")
    async def put_layout(
        self,
        entity_id: Id,
        data: JSONBody[DocumentLayoutUpdate],
        principal: NamedDependency[Principal],
        layouts: NamedDependency[LayoutService],
    ) -> DocumentLayout:
        """Set fields of the layout; texts may use the fields of
        billing.documents.texts (``{{customer_name}}``, ``{{document_number}}``
        ...), at most 2,000 characters each; the logo is a PNG of at most
        256 KiB."""
        return await layouts.update(principal, entity_id, data)


def document_layout_router(
    context: ApiContext, prefix: str, layouts: LayoutService | None = None
) -> Router:
    """The layout controller under ``prefix`` (/api/v1) with the API's
    dependencies and error answers."""
    service = layouts if layouts is not None else LayoutService(context.ports.layouts)
    return Router(
        path=prefix,
        route_handlers=[DocumentLayoutController],
        dependencies={
            "context": Provide(lambda: context, sync_to_thread=False, use_cache=True),
            "principal": Provide(provide_principal),
            "layouts": Provide(lambda: service, sync_to_thread=False, use_cache=True),
        },
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
    )
