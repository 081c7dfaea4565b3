"""What every page shows around its content: who is logged in, the entities
they work in (the switcher), the active entity's name, colours and logo,
the language and the formats of dates and money.

Composed of the services the composition root hands over (the API's
:class:`ApiContext` and the billing layouts); no storage here."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field

from litestar import Request

from admin_ui.api.acting import note_principal
from admin_ui.api.common import request_token
from admin_ui.api.context import ApiContext
from admin_ui.web.i18n import LANGUAGES, Formats, choose_language, translations
from admin_ui.web.security import LANGUAGE_COOKIE, csrf_token
from billing.services.layouts import LayoutService
from crm.access import Principal
from crm.errors import Forbidden, NotFound
from crm.services.entities import EntityService

_COLOUR = re.compile(r"#[0-9a-fA-F]{3}(?:[0-9a-fA-F]{3})?")
DEFAULT_PRIMARY = "#0b5cad"
DEFAULT_SECONDARY = "#13294b"


@dataclass(slots=True, frozen=True)
class EntityChoice:
    id: int
    name: str


@dataclass(slots=True)
class Brand:
    name: str
    primary: str = DEFAULT_PRIMARY
    secondary: str = DEFAULT_SECONDARY
    time_zone: str = "UTC"
    logo_png: bytes | None = None


def colour(value: str, default: str) -> str:
    """A CSS colour we write into a style sheet: #rgb or #rrggbb only."""
    value = (value or "").strip()
    return value if _COLOUR.fullmatch(value) else default


@dataclass(slots=True)
class WebServices:
    """The services the pages call, from the composition root."""

    context: ApiContext
    layouts: LayoutService | None = None
    entities: EntityService = field(init=False)

    def __post_init__(self) -> None:
        self.entities = EntityService(changes=self.context.crm_changes)

    async def principal(self, request: Request) -> Principal:
        """The logged-in user's principal (Unauthenticated otherwise), noted
        for the audit trail of a form's change."""
        principal = await self.context.auth.principal(request_token(request))
        note_principal(principal)
        return principal

    async def entity_name(self, principal: Principal, entity_id: int) -> str:
        try:
            return (await self.entities.get(principal, entity_id)).name
        except (Forbidden, NotFound):
            return f"#{entity_id}"

    async def brand(self, principal: Principal) -> Brand:
        """The active entity's name, colours, zone and logo (the document
        layout's display name and PNG logo when it has them)."""
        entity_id = principal.active_entity_id
        try:
            entity = await self.entities.get(principal, entity_id)
        except (Forbidden, NotFound):
            return Brand(name=f"#{entity_id}")
        brand = Brand(
            name=entity.name,
            primary=colour(entity.branding.primary_color, DEFAULT_PRIMARY),
            secondary=colour(entity.branding.secondary_color, DEFAULT_SECONDARY),
            time_zone=entity.time_zone or "UTC",
        )
        if self.layouts is not None:
            try:
                layout = await self.layouts.get(principal, entity_id)
            except (Forbidden, NotFound):
                layout = None
            if layout is not None:
                brand.name = layout.display_name or brand.name
                if layout.logo_png_base64:
                    brand.logo_png = base64.b64decode(layout.logo_png_base64)
        return brand

    async def shell(self, request: Request, principal: Principal | None) -> dict[str, object]:
        """The template variables every page has."""
        language = choose_language(
            request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language")
        )
        values: dict[str, object] = {
            "language": language,
            "languages": LANGUAGES,
            "csrf": csrf_token(request),
            "path": request.url.path,
            "_": translations(language).gettext,
        }
        if principal is None:
            values["fmt"] = Formats(language, "UTC")
            values["brand"] = Brand(name="csms")
            return values
        brand = await self.brand(principal)
        choices = [
            EntityChoice(entity_id, await self.entity_name(principal, entity_id))
            for entity_id in sorted(principal.member_entity_ids)
        ]
        values.update(
            principal=principal,
            brand=brand,
            entities=choices,
            fmt=Formats(language, brand.time_zone),
        )
        return values
