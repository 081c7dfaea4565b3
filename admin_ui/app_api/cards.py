"""The driver's identification media: the app token and RFID cards."""

from __future__ import annotations

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from litestar.status_codes import HTTP_201_CREATED

from admin_ui.app_api.common import Id, answers
from admin_ui.app_api.context import AppContext
from crm.drivers.model import Card, CardCreate, Driver


class CardController(Controller):
    path = "/cards"
    tags = ["cards"]

    @get("/", responses=answers(401))
    async def list_cards(
        self, driver: NamedDependency[Driver], context: NamedDependency[AppContext]
    ) -> list[Card]:
        """Your media: the app token and your RFID cards."""
        return await context.accounts.cards(driver)

    @post("/", status_code=HTTP_201_CREATED, responses=answers(400, 401, 409))
    async def add_card(
        self,
        data: JSONBody[CardCreate],
        driver: NamedDependency[Driver],
        context: NamedDependency[AppContext],
    ) -> Card:
        """Add an RFID card by its uid (409 when the uid is known)."""
        return await context.accounts.add_card(driver, data)

    @get("/{card_id:int}", responses=answers(401, 404))
    async def get_card(
        self, card_id: Id, driver: NamedDependency[Driver], context: NamedDependency[AppContext]
    ) -> Card:
        """One of your media."""
        return await context.accounts.card(driver, card_id)

    @post("/{card_id:int}/block", status_code=200, responses=answers(400, 401, 404))
    async def block_card(
        self, card_id: Id, driver: NamedDependency[Driver], context: NamedDependency[AppContext]
    ) -> Card:
        """Block one of your RFID cards (lost or stolen): it stops charging."""
        return await context.accounts.block_card(driver, card_id)
