"""What every endpoint of the operators' API shares: the principal of the
request, pagination, and the shape of list answers."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

import msgspec
from litestar import Request
from litestar.di import NamedDependency
from litestar.params import PathParameter, QueryParameter

from admin_ui.api.acting import note_principal
from admin_ui.api.context import ApiContext
from crm.access import Principal
from crm.errors import Unauthenticated
from crm.services.auth import parse_entity_header

T = TypeVar("T")

SESSION_COOKIE = "csms_session"
ENTITY_HEADER = "X-Entity-Id"
MAX_PAGE = 500

# What the storage holds: row ids are PostgreSQL integer (Serial) or bigint
# (BigSerial) keys, and an OFFSET is a bigint. A larger number in a path or a
# query is refused with 400 (naming the parameter: "Expected `int` <= max")
# before any query runs: the one rule for every id and offset of the API.
MAX_ID = 2**31 - 1
MAX_BIG_ID = 2**63 - 1
MAX_OFFSET = 2**63 - 1

# The id of a row in a Serial table, in the path.
Id = Annotated[int, PathParameter(ge=1, le=MAX_ID)]
# The id of a row in a BigSerial table (CDRs, billing runs and documents).
BigId = Annotated[int, PathParameter(ge=1, le=MAX_BIG_ID)]
# An optional filter by the id of a row in a Serial table, in the query.
QueryId = Annotated[int | None, QueryParameter(ge=1, le=MAX_ID)]


class Page(msgspec.Struct, Generic[T]):
    """One page of a list: ``items``, how many rows match in all, and the
    ``limit`` and ``offset`` that gave this page."""

    items: list[T]
    total: int
    limit: int
    offset: int


class PageParams(msgspec.Struct, frozen=True):
    limit: int
    offset: int


def request_token(request: Request) -> str:
    """The bearer token, or the browser session's cookie."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    cookie = request.cookies.get(SESSION_COOKIE, "")
    if cookie:
        return cookie
    raise Unauthenticated("log in first: send 'Authorization: Bearer <token>'")


async def provide_principal(request: Request, context: NamedDependency[ApiContext]) -> Principal:
    """Computed once per request: who asks, in which entity, seeing what."""
    entity = parse_entity_header(request.headers.get(ENTITY_HEADER))
    principal = await context.auth.principal(request_token(request), entity)
    note_principal(principal)  # for the audit trail
    return principal


def provide_page(
    limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE, description="rows per page")] = 50,
    offset: Annotated[int, QueryParameter(ge=0, le=MAX_OFFSET, description="rows to skip")] = 0,
) -> PageParams:
    return PageParams(limit=limit, offset=offset)
