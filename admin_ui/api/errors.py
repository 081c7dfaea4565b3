"""Domain errors to HTTP answers: always a 4xx with a message for bad input,
never a 500."""

from __future__ import annotations

from litestar import MediaType, Request, Response
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_401_UNAUTHORIZED,
    HTTP_403_FORBIDDEN,
    HTTP_404_NOT_FOUND,
    HTTP_409_CONFLICT,
)

from crm.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated


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


EXCEPTION_HANDLERS = {
    InvalidInput: invalid_input,
    NotFound: not_found,
    Unauthenticated: unauthenticated,
    Forbidden: forbidden,
}
