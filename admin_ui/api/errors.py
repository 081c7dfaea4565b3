"""Domain errors to HTTP answers: always a 4xx with a message for bad input,
never a 500; a 503 (with Retry-After) when a command cannot be routed
because the node directory or the bus to another node is down."""

from __future__ import annotations

from litestar import MediaType, Request, Response
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_401_UNAUTHORIZED,
    HTTP_403_FORBIDDEN,
    HTTP_404_NOT_FOUND,
    HTTP_409_CONFLICT,
    HTTP_429_TOO_MANY_REQUESTS,
    HTTP_503_SERVICE_UNAVAILABLE,
)

from crm.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    TooManyAttempts,
    Unauthenticated,
)
from csms.commands.errors import CommandNotRouted

# Seconds a caller told the other nodes are unreachable should wait.
RETRY_AFTER_SECONDS = 5


def _answer(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(
        {"status_code": status, "detail": message},
        status_code=status,
        media_type=MediaType.JSON,
        headers=headers,
    )


def invalid_input(_: Request, error: InvalidInput) -> Response:
    status = HTTP_409_CONFLICT if isinstance(error, Conflict) else HTTP_400_BAD_REQUEST
    return _answer(status, str(error))


def not_found(_: Request, error: NotFound) -> Response:
    return _answer(HTTP_404_NOT_FOUND, str(error))


def unauthenticated(_: Request, error: Unauthenticated) -> Response:
    return _answer(HTTP_401_UNAUTHORIZED, str(error), {"WWW-Authenticate": "Bearer"})


def forbidden(_: Request, error: Forbidden) -> Response:
    return _answer(HTTP_403_FORBIDDEN, str(error))


def too_many_attempts(_: Request, error: TooManyAttempts) -> Response:
    return _answer(HTTP_429_TOO_MANY_REQUESTS, str(error), {"Retry-After": str(error.retry_after)})


def not_routed(_: Request, error: CommandNotRouted) -> Response:
    """The node directory or the bus is down (logged where it happened)."""
    return _answer(
        HTTP_503_SERVICE_UNAVAILABLE, str(error), {"Retry-After": str(RETRY_AFTER_SECONDS)}
    )


EXCEPTION_HANDLERS = {
    InvalidInput: invalid_input,
    NotFound: not_found,
    Unauthenticated: unauthenticated,
    Forbidden: forbidden,
    TooManyAttempts: too_many_attempts,
    CommandNotRouted: not_routed,
}
