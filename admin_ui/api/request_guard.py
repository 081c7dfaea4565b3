"""What every request of the web app passes before a handler or a parser sees
it, and what happens when one fails anyway.

- Each request gets an id (``X-Request-ID`` on the answer); an unexpected
  error is logged once with its traceback and that id, and answered 500 with
  the id in the body, so no failure is silent and a report can be matched to
  its log line.
- A NUL character is refused with 400 naming where it was (the path, a query
  parameter, a field of a JSON body of the APIs): no text column of
  PostgreSQL can hold one, and no operator types one. (Chargers' uploads
  under /files/ are bytes, never read here.)
- A JSON body nested deeper than ``MAX_JSON_DEPTH`` is refused with 400
  before any parser recurses into it (with or without a login).
- An integer in a JSON body that its column cannot hold is refused with 400
  naming the field ("must be at most ..."): ids fit PostgreSQL's integer
  (``BIG_ID_FIELDS`` and other numbers its bigint), as path ids do
  (``admin_ui.api.common``).
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any
from urllib.parse import parse_qsl, unquote

import msgspec
from litestar import MediaType, Request, Response
from litestar.exceptions import ClientException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.types import ASGIApp, Message, Receive, ReceiveMessage, Scope, Send

logger = logging.getLogger("admin_ui.errors")

REQUEST_ID_HEADER = "X-Request-ID"
# Deeper JSON is no operator's input; msgspec recurses per level.
MAX_JSON_DEPTH = 64
# JSON bodies larger than this are not inspected here (Litestar refuses
# bodies above its request_max_body_size, 10 MB, anyway).
MAX_INSPECTED_BYTES = 10_000_000
# Bodies that are files or forms, never JSON: streamed past untouched.
_NOT_JSON = ("multipart/", "application/octet-stream", "application/x-www-form-urlencoded")
# Where bodies are JSON (the operators' and the drivers' APIs); elsewhere
# (chargers' uploads under /files/, any content type) they are not read.
_JSON_APIS = ("/api/", "/app/")

# PostgreSQL's integer and bigint: what an id or a number in a body may be.
MAX_INT = 2**31 - 1
MAX_BIGINT = 2**63 - 1
# Body fields naming rows of BigSerial tables (CDRs, billing runs, documents).
BIG_ID_FIELDS = frozenset(
    {"cdr_id", "document_id", "run_id", "billing_run_id", "draft_run_id", "refers_to_id"}
)

_request_id: ContextVar[str] = ContextVar("csms_request_id", default="-")

_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)
_NOT_A_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_NUL_ESCAPE = re.compile(rb"\\u0000", re.I)
# A number of 10 digits or more: the only kind that can exceed an integer.
_LONG_NUMBER = re.compile(rb"\d{10,}")


def current_request_id() -> str:
    """The id of the request being handled ("-" outside one)."""
    return _request_id.get()


def json_depth_exceeds(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether ``body`` nests arrays and objects deeper than ``limit``,
    decided without recursion (brackets inside strings do not count)."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    brackets = _JSON_STRING.sub(b"", body).translate(None, _NOT_A_BRACKET)
    depth = 0
    for byte in brackets:
        depth += 1 if byte in b"[{" else -1
        if depth > limit:
            return True
    return False


def _nul_paths(value: Any, where: str) -> Iterator[str]:
    if isinstance(value, str):
        if "\x00" in value:
            yield where
    elif isinstance(value, dict):
        for key, item in value.items():
            name = f"{where}.{key}" if where else str(key)
            if "\x00" in str(key):
                yield name
            else:
                yield from _nul_paths(item, name)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _nul_paths(item, f"{where}[{index}]")


def nul_field(body: bytes) -> str | None:
    """The first field of a JSON body holding a NUL character ("body" for a
    NUL outside a readable JSON document), else None."""
    if b"\x00" not in body and not _NUL_ESCAPE.search(body):
        return None
    try:
        document = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return "body"
    return next(_nul_paths(document, ""), None) or None


def _refuse(message: str) -> ClientException:
    return ClientException(detail=message)


def check_target(scope: Scope) -> None:
    """Refuses a NUL in the path or in a query parameter's name or value."""
    if "\x00" in scope.get("path", ""):
        raise _refuse("the path must not contain NUL characters")
    query = scope.get("query_string", b"").decode("latin-1")
    if "%00" not in query and "\x00" not in query:
        return
    for name, value in parse_qsl(query, keep_blank_values=True, encoding="latin-1"):
        if "\x00" in name or "\x00" in value:
            shown = name.replace("\x00", "") or "?"
            raise _refuse(f"query parameter {shown!r} must not contain NUL characters")
    if "\x00" in unquote(query):
        raise _refuse("the query must not contain NUL characters")


def _int_bounds(key: str) -> tuple[int, int]:
    """What a JSON integer named ``key`` may be: ids (``..._id``, items of
    ``..._ids``) fit PostgreSQL's integer (Serial keys, OCPP's integers),
    ids of BigSerial rows and every other number its bigint."""
    name = key.removesuffix("s") if key.endswith("_ids") else key
    if name.endswith("_id") and name not in BIG_ID_FIELDS:
        return -MAX_INT, MAX_INT
    return -MAX_BIGINT - 1, MAX_BIGINT


def _out_of_range(value: Any, where: str, key: str) -> Iterator[str]:
    if isinstance(value, bool):
        return
    if isinstance(value, int):
        low, high = _int_bounds(key)
        if value > high:
            yield f"field {where!r} must be at most {high}"
        elif value < low:
            yield f"field {where!r} must be at least {low}"
    elif isinstance(value, dict):
        for name, item in value.items():
            yield from _out_of_range(item, f"{where}.{name}" if where else str(name), str(name))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _out_of_range(item, f"{where}[{index}]", key)


def number_out_of_range(body: bytes) -> str | None:
    """What is wrong with the first integer of a JSON body that the storage
    cannot hold, else None."""
    if not _LONG_NUMBER.search(body):
        return None
    try:
        document = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return None  # the handler's decoder says what is wrong
    return next(_out_of_range(document, "", ""), None)


def check_json_body(body: bytes) -> None:
    if json_depth_exceeds(body):
        raise _refuse(f"the JSON body is nested deeper than {MAX_JSON_DEPTH} levels")
    field = nul_field(body)
    if field == "body":
        raise _refuse("the body must not contain NUL characters")
    if field is not None:
        raise _refuse(f"field {field!r} must not contain NUL characters")
    problem = number_out_of_range(body)
    if problem is not None:
        raise _refuse(problem)


def _content_type(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return str(value.decode("latin-1").lower())
    return ""


class RequestGuard:
    """ASGI middleware (see the module's docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = secrets.token_hex(8)
        token = _request_id.set(request_id)
        header = (REQUEST_ID_HEADER.lower().encode(), request_id.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            try:
                check_target(scope)
                if scope.get("path", "").startswith(_JSON_APIS) and not _content_type(
                    scope
                ).startswith(_NOT_JSON):
                    receive = await self._inspected(receive)
            except ClientException as refused:
                await _send_json(send_with_id, 400, {"status_code": 400, "detail": refused.detail})
                return
            await self.app(scope, receive, send_with_id)
        finally:
            _request_id.reset(token)

    async def _inspected(self, receive: Receive) -> Receive:
        """Reads the body (up to MAX_INSPECTED_BYTES), checks it, and gives the
        app a ``receive`` that replays it."""
        messages: list[ReceiveMessage] = []
        body = bytearray()
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if not message.get("more_body", False):
                check_json_body(bytes(body))
                break
            if len(body) > MAX_INSPECTED_BYTES:
                break

        async def replay() -> ReceiveMessage:
            if messages:
                return messages.pop(0)
            return await receive()

        return replay


async def _send_json(send: Send, status: int, content: dict[str, Any]) -> None:
    body = msgspec.json.encode(content)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})


def internal_error(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    """Every unexpected error: logged with its traceback and the request's id
    (method and path quoted, so no client text forges a log line), answered
    500 with the same id."""
    request_id = current_request_id()
    logger.error(
        "500 Internal Server Error on %s %r (request id %s)",
        request.method,
        request.url.path,
        request_id,
        exc_info=error,
    )
    return Response(
        {
            "status_code": HTTP_500_INTERNAL_SERVER_ERROR,
            "detail": "Internal Server Error",
            "request_id": request_id,
        },
        status_code=HTTP_500_INTERNAL_SERVER_ERROR,
        media_type=MediaType.JSON,
    )
