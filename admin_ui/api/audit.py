"""The audit log: every operator change made through the API is recorded
(``AuditTrail``, a middleware of the app) and listed at GET
/api/v1/audit-log within the reader's ``audit_log:read`` scope.

A change is a POST, PUT, PATCH or DELETE under /api/v1 (logging in and out
and switching entity are not changes) by a logged-in operator that was
answered 2xx, or a form an operators' page posts (a POST outside /api/v1;
logging in and out, the entity and language switches and one's own
password are not changes) answered with its page or a redirect (a form
with bad input is shown again with 400 and changed nothing). The entry is
written before the answer leaves, so a client that has its answer finds
the entry. Which entity a change concerns: the
entity a handler noted (``note_entity``: a removed station's owner), else
the entity itself for /entities/{id}, else the owner the answer (or, failing
that, the request) names (``owner_entity_id``, ``issuing_entity_id``,
``entity_id``, ``default_entity_id``), else the entity the user acted in.
Only the names of the fields sent are kept, never their values.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import parse_qsl

import msgspec
from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter
from litestar.types import ASGIApp, Message, Receive, ReceiveMessage, Scope, Send

from admin_ui.api.acting import Acting, acting
from admin_ui.api.common import MAX_ID, Page, PageParams
from admin_ui.api.context import ApiContext, AuditLog
from admin_ui.api.request_guard import current_request_id
from crm.access import Principal
from crm.audit import AuditEntry, AuditFilter, AuditRecord
from crm.clock import utcnow
from crm.errors import InvalidInput

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
AUDITED_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Not changes to the operators' data: one's own login, and a price check
# (a tariff and a CDR priced, nothing stored).
NOT_AUDITED = (f"{API_PREFIX}/auth/", f"{API_PREFIX}/tariffs/price")
# The operators' pages post their forms outside /api/v1; these are not
# changes to the operators' data either (one's login, entity, language,
# password), and the rest of the app is not the operators' (the drivers'
# app, files, static assets).
WEB_NOT_AUDITED = (
    "/login",
    "/logout",
    "/entity",
    "/language",
    "/account/",
    "/api/",
    "/app/",
    "/files/",
    "/static/",
)
# Bodies larger than this are not read for their field names (uploads).
MAX_READ_BYTES = 1_000_000
# The pages' CSRF token field (admin_ui.web.security): not a field changed.
CSRF_FIELD = "_csrf"
OWNER_KEYS = ("owner_entity_id", "issuing_entity_id", "entity_id", "default_entity_id")


def _json(body: bytes) -> Any:
    if not body or len(body) > MAX_READ_BYTES:
        return None
    try:
        return msgspec.json.decode(body)
    except msgspec.DecodeError:
        return None


def _form(body: bytes) -> dict[str, Any] | None:
    """A page's urlencoded form as names and values (numbers as ints, so an
    owner named in the form is found); the CSRF token left out."""
    if not body or len(body) > MAX_READ_BYTES:
        return None
    try:
        pairs = parse_qsl(body.decode(), keep_blank_values=True)
    except (UnicodeDecodeError, ValueError):
        return None
    return {
        name: int(value) if value.isascii() and value.isdigit() and len(value) < 10 else value
        for name, value in pairs
        if name != CSRF_FIELD
    }


def audited(method: str, path: str) -> bool:
    """A change the audit log keeps: the API's writes, and the forms the
    operators' pages post (module docstring)."""
    if method not in AUDITED_METHODS:
        return False
    if path.startswith(API_PREFIX + "/"):
        return not path.startswith(NOT_AUDITED)
    return method == "POST" and not path.startswith(WEB_NOT_AUDITED)


def describe(
    path: str, request: Any, answer: Any, principal: Principal
) -> tuple[str, str, int, list[str]]:
    """The kind and id of the changed object, the entity the change
    concerns and the names of the fields sent."""
    prefix = API_PREFIX if path.startswith(API_PREFIX + "/") else ""
    parts = path[len(prefix) :].strip("/").split("/")
    kind = parts[0] if parts else ""
    object_id = parts[1] if len(parts) > 1 and parts[1].isdigit() else ""
    if not object_id and isinstance(answer, dict) and isinstance(answer.get("id"), int):
        object_id = str(answer["id"])
    entity = None
    if kind == "entities" and object_id:
        entity = int(object_id)
    for source in (answer, request):
        if entity is None and isinstance(source, dict):
            entity = next((source[k] for k in OWNER_KEYS if isinstance(source.get(k), int)), None)
    fields = sorted(str(k) for k in request) if isinstance(request, dict) else []
    return kind, object_id, entity if entity is not None else principal.active_entity_id, fields


class AuditTrail:
    """ASGI middleware: records each operator change (module docstring)."""

    def __init__(self, app: ASGIApp, log: AuditLog) -> None:
        self.app = app
        self.log = log
        self.clock: Callable[[], datetime] = utcnow

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not audited(str(scope.get("method")), path):
            await self.app(scope, receive, send)
            return
        current = Acting()
        token = acting.set(current)
        request_body = bytearray()
        held: list[Message] = []
        answer_body = bytearray()

        async def reading() -> ReceiveMessage:
            message = await receive()
            if message["type"] == "http.request" and len(request_body) <= MAX_READ_BYTES:
                request_body.extend(message.get("body", b""))
            return message

        async def holding(message: Message) -> None:
            held.append(message)
            if message["type"] == "http.response.body":
                if len(answer_body) <= MAX_READ_BYTES:
                    answer_body.extend(message.get("body", b""))
                if message.get("more_body", False):
                    return
                await self._record(scope, current, held, bytes(request_body), bytes(answer_body))
                for each in held:
                    await send(each)
                held.clear()

        try:
            await self.app(scope, reading, holding)
        finally:
            acting.reset(token)
        for each in held:  # an answer that never finished its body
            await send(each)

    async def _record(
        self, scope: Scope, current: Acting, held: list[Message], request: bytes, answer: bytes
    ) -> None:
        start = next((m for m in held if m["type"] == "http.response.start"), None)
        status = int(start["status"]) if start is not None else 0
        principal = current.principal
        path = scope["path"]
        page = not path.startswith(API_PREFIX + "/")
        # A page's form that worked answers with the page or a redirect to
        # it; one with bad input is shown again with 400.
        if principal is None or not 200 <= status < (400 if page else 300):
            return
        if page:
            kind, object_id, entity, fields = describe(path, _form(request), None, principal)
        else:
            kind, object_id, entity, fields = describe(
                path, _json(request), _json(answer), principal
            )
        if current.entity_id is not None:
            entity = current.entity_id
        client = scope.get("client")
        record = AuditRecord(
            user_id=principal.user_id,
            entity_id=entity,
            acting_entity_id=principal.active_entity_id,
            method=str(scope.get("method", "")),
            path=path,
            kind=kind,
            object_id=object_id,
            fields=fields,
            status=status,
            client_address=str(client[0]) if client else "",
            request_id=current_request_id(),
        )
        try:
            await self.log.add(record, self.clock())
        except Exception:
            # The change is made; losing its entry is logged, loudly.
            logger.exception(
                "audit entry not written: %s %r by user %s (request id %s)",
                record.method,
                path,
                record.user_id,
                record.request_id,
            )


class AuditLogController(Controller):
    path = "/audit-log"
    tags = ["audit log"]

    @get("/")
    async def list_entries(
        self,
        principal: NamedDependency[Principal],
        context: NamedDependency[ApiContext],
        page: NamedDependency[PageParams],
        entity_id: Annotated[
            int | None, QueryParameter(ge=1, le=MAX_ID, description="changes of this entity")
        ] = None,
        user_id: Annotated[
            int | None, QueryParameter(ge=1, le=MAX_ID, description="changes by this user")
        ] = None,
        kind: Annotated[
            str | None, QueryParameter(description="of this kind: entities, stations, ...")
        ] = None,
        since: Annotated[
            datetime | None, QueryParameter(description="at or after, with a zone")
        ] = None,
        until: Annotated[datetime | None, QueryParameter(description="before, with a zone")] = None,
    ) -> Page[AuditEntry]:
        """Operator changes of the entities you may read the audit log of,
        newest first; nothing here can be changed or deleted."""
        principal.require("audit_log", "read")
        for moment in (since, until):
            if moment is not None and moment.tzinfo is None:
                raise InvalidInput("since and until need a zone, e.g. 2026-12-06T10:00:00Z")
        items, total = await context.ports.audit_log.page(
            principal.visible("audit_log", "read"),
            AuditFilter(entity_id=entity_id, user_id=user_id, kind=kind, since=since, until=until),
            limit=page.limit,
            offset=page.offset,
        )
        return Page(items=items, total=total, limit=page.limit, offset=page.offset)
