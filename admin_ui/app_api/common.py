"""What the drivers' app controllers share: the driver of the request, rate
limits, errors."""

from __future__ import annotations

import hashlib
import logging
from typing import Annotated, Any

import msgspec
from litestar import MediaType, Request, Response
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import PathParameter, QueryParameter
from litestar.status_codes import HTTP_429_TOO_MANY_REQUESTS, HTTP_500_INTERNAL_SERVER_ERROR

from admin_ui.api.errors import EXCEPTION_HANDLERS as API_HANDLERS
from admin_ui.app_api.context import AppContext
from crm.drivers.model import Driver
from crm.errors import Unauthenticated

log = logging.getLogger(__name__)

MAX_ID = 2**31 - 1
MAX_BIG_ID = 2**63 - 1
MAX_PAGE = 100

Id = Annotated[int, PathParameter(ge=1, le=MAX_ID)]
BigId = Annotated[int, PathParameter(ge=1, le=MAX_BIG_ID)]


class Problem(msgspec.Struct, frozen=True):
    status_code: int
    detail: str


def answers(*statuses: int) -> dict[int, ResponseSpec]:
    """The error answers a route documents (each a Problem)."""
    return {
        status: ResponseSpec(data_container=Problem, description="see detail")
        for status in statuses
    }


class Page(msgspec.Struct, frozen=True):
    limit: int
    offset: int


def provide_page(
    limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE, description="rows per page")] = 20,
    offset: Annotated[int, QueryParameter(ge=0, le=2**31, description="rows to skip")] = 0,
) -> Page:
    return Page(limit=limit, offset=offset)


class RateLimited(Exception):
    def __init__(self, retry_after: float) -> None:
        super().__init__("too many attempts: try again later")
        self.retry_after = retry_after


def bearer(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    raise Unauthenticated("log in first: send 'Authorization: Bearer <access token>'")


async def provide_driver(request: Request, context: NamedDependency[AppContext]) -> Driver:
    """The driver of the request (their access token)."""
    return await context.accounts.driver(bearer(request))


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def limit(context: AppContext, request: Request, action: str, email: str = "") -> None:
    """RateLimited when the client address, or the e-mail given, made more
    than the allowed attempts at ``action`` in the window."""
    keys = [f"{action}:address:{client_address(request)}"]
    if email:
        digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
        keys.append(f"{action}:email:{digest}")
    waits = [
        wait
        for key in keys
        if (wait := await context.limiter.hit(key, context.rate_limit, context.rate_window))
        is not None
    ]
    if waits:
        raise RateLimited(max(waits))


def rate_limited(_: Request, error: RateLimited) -> Response:
    return Response(
        {"status_code": HTTP_429_TOO_MANY_REQUESTS, "detail": str(error)},
        status_code=HTTP_429_TOO_MANY_REQUESTS,
        media_type=MediaType.JSON,
        headers={"Retry-After": str(max(1, int(error.retry_after + 0.999)))},
    )


def internal_error(request: Request, error: Exception) -> Response:
    """Logged with its traceback; the driver sees no detail."""
    log.error("drivers' app: %s %s failed", request.method, request.url.path, exc_info=error)
    return Response(
        {"status_code": HTTP_500_INTERNAL_SERVER_ERROR, "detail": "Internal Server Error"},
        status_code=HTTP_500_INTERNAL_SERVER_ERROR,
        media_type=MediaType.JSON,
    )


EXCEPTION_HANDLERS: dict[Any, Any] = {
    **API_HANDLERS,
    RateLimited: rate_limited,
    HTTP_500_INTERNAL_SERVER_ERROR: internal_error,
}
