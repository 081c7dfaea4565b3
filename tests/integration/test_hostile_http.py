"""Hostile input to the operators' API (issue 14, item 7): what a probe
answered with a silent 500 is a 400 that says what is wrong, before any
query runs; and whatever still fails is logged with its traceback and the
request's id, which the answer carries too."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import logging
import re
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any
from unittest.mock import ANY

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from admin_ui.api.common import MAX_BIG_ID, MAX_ID, MAX_OFFSET
from admin_ui.api.context import ApiContext
from crm.passwords import hash_password
from crm.services.auth import AuthService
from crm.tables import Contact
from csms.bootstrap import Node
from csms.commands.service import CommandService
from csms.domain.credentials import hash_secret
from csms.domain.local_list import LocalListService
from csms.domain.station_security import StationSecurity
from csms.log_redaction import redact
from csms.settings import Settings
from csms.storage.access import PiccoloStationAccessSource
from csms.storage.local_list import PiccoloHeldLists, PiccoloMediaRecords, PiccoloStationRefs
from csms.storage.security import PiccoloSecurityStore
from csms.storage.stations import PiccoloStationAdmin
from csms.tables import Station
from tests.integration.test_stations_api import make_station, user_token
from tests.world import (
    PASSWORD,
    admin_token,
    api_client,
    bearer,
    make_entity,
    make_group,
    make_user,
    token_for,
)

DEEP = b"[" * 100_000 + b"]" * 100_000
JSON = {"content-type": "application/json"}


def _extra(answer: object) -> list[dict[str, str]]:
    return answer.json()["extra"]  # type: ignore[attr-defined,no-any-return]


async def test_path_ids_beyond_the_storage_are_400_naming_the_parameter(db: None) -> None:
    """An id no Serial (or BigSerial) column can hold is 400 '<= max' naming
    the path parameter; the largest one that fits is an ordinary 404."""
    root = await make_entity("Root")
    token = await admin_token(root)
    async with api_client() as client:
        entity = await client.get("/api/v1/entities/9999999999", headers=bearer(token))
        session = await client.get("/api/v1/sessions/9223372036854775808", headers=bearer(token))
        negative = await client.get("/api/v1/entities/-9999999999", headers=bearer(token))
        document = await client.get(
            f"/api/v1/billing-documents/{MAX_BIG_ID + 1}", headers=bearer(token)
        )
        fits = await client.get(f"/api/v1/entities/{MAX_ID}", headers=bearer(token))
        big_fits = await client.get(
            f"/api/v1/billing-documents/{MAX_BIG_ID}", headers=bearer(token)
        )
    assert entity.status_code == 400, entity.text
    assert _extra(entity) == [
        {"message": f"Expected `int` <= {MAX_ID}", "key": "entity_id", "source": "path"}
    ]
    assert session.status_code == 400
    assert _extra(session)[0]["key"] == "session_id"
    assert negative.status_code == 400
    assert ">= 1" in _extra(negative)[0]["message"]
    assert document.status_code == 400, document.text
    assert _extra(document)[0]["message"] == f"Expected `int` <= {MAX_BIG_ID}"
    assert fits.status_code == 404, fits.text
    assert big_fits.status_code == 404, big_fits.text


async def test_offsets_beyond_bigint_are_400_and_the_largest_is_an_empty_page(db: None) -> None:
    """?offset= beyond what an OFFSET holds is 400 naming it; the largest
    one is answered with an empty page, on every kind of list."""
    root = await make_entity("Root")
    token = await admin_token(root)
    async with api_client() as client:
        for path in ("/api/v1/entities", "/api/v1/sessions", "/api/v1/contacts"):
            huge = await client.get(f"{path}?offset=99999999999999999999", headers=bearer(token))
            assert huge.status_code == 400, (path, huge.text)
            assert _extra(huge)[0]["key"] == "offset"
            last = await client.get(f"{path}?offset={MAX_OFFSET}", headers=bearer(token))
            assert last.status_code == 200, (path, last.text)
            assert last.json()["items"] == []
        filtered = await client.get("/api/v1/sessions?station_id=2147483648", headers=bearer(token))
    assert filtered.status_code == 400
    assert _extra(filtered)[0]["key"] == "station_id"


async def test_ids_in_a_body_beyond_the_storage_are_400_naming_the_field(db: None) -> None:
    """An id in a JSON body that no integer column holds is 400 "must be at
    most ..." naming the field (before: 500 on PostgreSQL), as a number no
    bigint holds is anywhere in a body; an id of a BigSerial row may be
    larger."""
    root = await make_entity("Root")
    token = await admin_token(root)
    user = await make_user([root])
    station = await make_station("CP-1", root)
    contact = await make_contact(root)
    big = MAX_ID + 1
    cases = [
        ("POST", f"/users/{user}/groups", {"group_id": big}, "group_id"),
        ("PATCH", f"/stations/{station}", {"station_group_id": big}, "station_group_id"),
        ("POST", "/media", {"uid": "04X", "owner_contact_id": big}, "owner_contact_id"),
        ("POST", f"/contacts/{contact}/shares", {"entity_id": big}, "entity_id"),
        (
            "POST",
            "/groups",
            {"name": "g", "owner_entity_id": big, "scope": "own"},
            "owner_entity_id",
        ),
        ("POST", "/community-partners", {"partner_entity_id": big}, "partner_entity_id"),
        (
            "POST",
            "/users",
            {"email": "a@b.example", "name": "n", "entity_ids": [root, big]},
            "entity_ids[1]",
        ),
    ]
    async with api_client() as client:
        for method, path, body, field in cases:
            answer = await client.request(
                method, "/api/v1" + path, json=body, headers=bearer(token)
            )
            assert answer.status_code == 400, (path, answer.text)
            assert answer.json()["detail"] == f"field {field!r} must be at most {MAX_ID}", path
        huge = await client.put(
            f"/api/v1/entities/{root}/document-layout",
            json={"payment_days": MAX_BIG_ID + 1},
            headers=bearer(token),
        )
        big_row = await client.post(
            "/api/v1/billing-documents/1/cancel",
            json={"refers_to_id": MAX_ID + 1},
            headers=bearer(token),
        )
    assert huge.status_code == 400
    assert huge.json()["detail"] == f"field 'payment_days' must be at most {MAX_BIG_ID}"
    assert "must be at most" not in big_row.text


async def test_a_nul_in_a_query_parameter_is_400_naming_it(db: None) -> None:
    """?q=%00 is refused with 400 naming q (PostgreSQL cannot compare a NUL)."""
    root = await make_entity("Root")
    token = await admin_token(root)
    async with api_client() as client:
        answer = await client.get("/api/v1/entities?q=%00", headers=bearer(token))
        contacts = await client.get("/api/v1/contacts?q=a%00b", headers=bearer(token))
    assert answer.status_code == 400
    assert answer.json()["detail"] == "query parameter 'q' must not contain NUL characters"
    assert contacts.status_code == 400


async def test_a_nul_in_a_json_field_is_400_naming_the_field_and_nothing_is_stored(
    db: None,
) -> None:
    """A NUL in an entity's name, created or edited, is 400 naming 'name';
    the entity is neither created nor changed."""
    root = await make_entity("Root")
    token = await admin_token(root)
    async with api_client() as client:
        created = await client.post(
            "/api/v1/entities",
            json={"name": "Evil\x00Corp", "parent_id": root, "kind": "cpo"},
            headers=bearer(token),
        )
        edited = await client.patch(
            f"/api/v1/entities/{root}", json={"city": "K\x00iel"}, headers=bearer(token)
        )
        nested = await client.post(
            "/api/v1/entities",
            json={"name": "ok", "parent_id": root, "tags": ["a", "b\x00"]},
            headers=bearer(token),
        )
        listed = await client.get("/api/v1/entities", headers=bearer(token))
    assert created.status_code == 400
    assert created.json()["detail"] == "field 'name' must not contain NUL characters"
    assert edited.status_code == 400
    assert edited.json()["detail"] == "field 'city' must not contain NUL characters"
    assert nested.json()["detail"] == "field 'tags[1]' must not contain NUL characters"
    assert [(e["name"], e["city"]) for e in listed.json()["items"]] == [("Root", "")]


@pytest.mark.parametrize("logged_in", [False, True])
async def test_a_deeply_nested_json_body_is_400_before_it_is_parsed(
    db: None, logged_in: bool
) -> None:
    """A 100,000-deep JSON body is 400 with or without a login, on the login
    endpoint as anywhere; 64 levels still reach the handler."""
    root = await make_entity("Root")
    headers = JSON | (bearer(await admin_token(root)) if logged_in else {})
    async with api_client() as client:
        login = await client.post("/api/v1/auth/login", content=DEEP, headers=headers)
        entity = await client.post("/api/v1/entities", content=DEEP, headers=headers)
        shallow = await client.post(
            "/api/v1/auth/login", content=b"[" * 64 + b"]" * 64, headers=headers
        )
    for answer in (login, entity):
        assert answer.status_code == 400, answer.text
        assert answer.json()["detail"] == "the JSON body is nested deeper than 64 levels"
    assert shallow.status_code == 400
    assert "nested" not in shallow.text


class _BrokenAuth(AuthService):
    async def principal(self, token: str, entity_id: int | None = None) -> object:  # type: ignore[override]
        raise RuntimeError("the login store is broken (test)")


async def test_an_unexpected_error_is_logged_with_traceback_and_request_id(
    db: None, caplog: pytest.LogCaptureFixture
) -> None:
    """A handler that raises is answered 500 with a request id that is also
    the X-Request-ID header and is in the one error log line, which carries
    the traceback."""
    caplog.set_level(logging.ERROR, logger="admin_ui.errors")
    async with api_client(ApiContext(auth=_BrokenAuth())) as client:
        answer = await client.get("/api/v1/entities", headers=bearer("whatever"))
        healthy = await client.get("/healthz")
    assert answer.status_code == 500
    request_id = answer.json()["request_id"]
    assert answer.headers["x-request-id"] == request_id
    assert len(request_id) == 16
    (record,) = [r for r in caplog.records if r.name == "admin_ui.errors"]
    assert request_id in record.getMessage()
    assert "/api/v1/entities" in record.getMessage()
    assert record.exc_info is not None
    assert "the login store is broken (test)" in caplog.text
    assert "Traceback" in caplog.text
    assert healthy.headers["x-request-id"] != request_id


# -- item 10: an entity or station one may not see answers as an absent one --

ABSENT = 999_999


async def make_contact(owner: int) -> int:
    now = datetime.now(UTC)
    (row,) = (
        await Contact.insert(
            Contact(owner_entity=owner, kind="person", name="P", created_at=now, updated_at=now)
        )
        .returning(Contact.id)
        .run()
    )
    return int(row["id"])


def _same_answer(answer: Any, absent_id: int, hidden_id: int) -> tuple[int, str]:
    """The status and detail, with the id asked for written as N."""
    detail = str(answer.json().get("detail", ""))
    detail = re.sub(rf"\b({absent_id}|{hidden_id})\b", "N", detail)
    return answer.status_code, detail


async def test_an_entity_one_may_not_see_is_answered_as_an_absent_one(db: None) -> None:
    """For every endpoint that takes an entity id from the request, a user of
    entity A (all rights, scope own) gets the same status and message for
    the sibling entity B as for an id no entity has: nothing tells that B
    exists. (Before: 403 for B where an absent id was 400.)"""
    root = await make_entity("Root")
    a = await make_entity("A", parent=root)
    b = await make_entity("B", parent=root)
    headers = bearer(await user_token(a))
    own_station = await make_station("CP-A", a)
    own_user = await make_user([a])
    own_contact = await make_contact(a)
    cases: list[tuple[str, str, Callable[[int], dict[str, Any]]]] = [
        ("POST", "/entities", lambda e: {"name": "n", "parent_id": e, "kind": "cpo"}),
        ("PATCH", f"/entities/{a}", lambda e: {"parent_id": e}),
        ("POST", "/users", lambda e: {"email": "n@x.example", "name": "N", "entity_ids": [e]}),
        ("POST", f"/users/{own_user}/memberships", lambda e: {"entity_id": e}),
        ("POST", "/groups", lambda e: {"name": "g", "owner_entity_id": e, "scope": "own"}),
        ("POST", "/contacts", lambda e: {"kind": "person", "name": "P", "owner_entity_id": e}),
        ("PUT", f"/contacts/{own_contact}/shares/{{e}}", lambda e: {}),
        ("POST", "/media", lambda e: {"uid": "04CC", "issuing_entity_id": e}),
        ("POST", "/station-groups", lambda e: {"name": "sg", "owner_entity_id": e}),
        ("PATCH", f"/stations/{own_station}", lambda e: {"owner_entity_id": e}),
        ("PATCH", "/entities/{e}", lambda e: {"name": "n"}),
        ("DELETE", "/entities/{e}", lambda e: {}),
        ("GET", "/entities/{e}", lambda e: {}),
    ]
    mismatches = []
    async with api_client() as client:
        for method, path, body in cases:
            answers = []
            for entity in (b, ABSENT):
                answer = await client.request(
                    method,
                    "/api/v1" + path.format(e=entity),
                    json=body(entity) if method != "GET" and method != "DELETE" else None,
                    headers=headers,
                )
                answers.append(_same_answer(answer, ABSENT, b))
            if answers[0] != answers[1] or answers[0][0] < 400:
                mismatches.append((method, path, answers))
    assert mismatches == []


async def _read_everywhere_act_at_home(entity: int) -> str:
    """A user of ``entity`` who reads stations everywhere but may command and
    update only their own entity's."""
    reads = await make_group(entity, scope="all", permissions=["stations:read"])
    acts = await make_group(entity, scope="own", permissions=["stations:*"])
    return await token_for(await make_user([entity], [reads, acts]), entity)


def _station_context() -> ApiContext:
    """The services a node hands the API for commands, local lists and
    security (no gateway: commands answer NotConnected)."""
    commands = CommandService()
    return ApiContext(
        commands=commands,
        security=StationSecurity(PiccoloSecurityStore(), commands),
        local_lists=LocalListService(
            store=PiccoloHeldLists(),
            media=PiccoloMediaRecords(),
            access=PiccoloStationAccessSource(),
            commands=commands,
            stations=PiccoloStationRefs(),
        ),
    )


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        # OperatorCommands.station_for
        ("POST", "/stations/{s}/commands/clear-cache", {}),
        # local_list.command_station
        ("POST", "/stations/{s}/local-list/sync", {}),
        # StationSecurity._station
        ("PUT", "/stations/{s}/security", {"security_profile": 1}),
    ],
)
async def test_a_station_outside_ones_scope_is_404_on_every_command_path(
    db: None, method: str, path: str, body: dict[str, Any]
) -> None:
    """A station the user may read but not act on is 404 "there is no
    station N", exactly as an absent one, on each of the three paths that
    decide which station a principal may command; without the permission at
    all it is 403. (Before: 403 on two of them, 404 on the third.)"""
    root = await make_entity("Root")
    a = await make_entity("A", parent=root)
    b = await make_entity("B", parent=root)
    theirs = await make_station("CP-B", b)
    token = await _read_everywhere_act_at_home(a)
    readers_only = await token_for(
        await make_user([a], [await make_group(a, scope="all", permissions=["stations:read"])]),
        a,
    )
    async with api_client(_station_context()) as client:
        hidden, absent, forbidden = [
            await client.request(
                method, "/api/v1" + path.format(s=station), json=body, headers=bearer(who)
            )
            for station, who in ((theirs, token), (ABSENT, token), (theirs, readers_only))
        ]
        seen = await client.get(f"/api/v1/stations/{theirs}", headers=bearer(token))
    assert seen.status_code == 200
    assert hidden.status_code == absent.status_code == 404, (hidden.text, absent.text)
    assert _same_answer(hidden, ABSENT, theirs) == _same_answer(absent, ABSENT, theirs)
    assert hidden.json()["detail"] == f"there is no station {theirs}"
    assert forbidden.status_code == 403


# -- no secret in any log line ---------------------------------------------------


@pytest.fixture
async def debug_node(db: None) -> AsyncIterator[Node]:
    """A real node (gateway and web app on free ports) logging at DEBUG."""
    settings = dataclasses.replace(
        Settings.from_env(),
        ocpp_host="127.0.0.1",
        ocpp_port=0,
        http_host="127.0.0.1",
        http_port=0,
        log_level="DEBUG",
    )
    node = Node(settings)
    await node.start()
    yield node
    await node.stop()


async def test_no_secret_reaches_any_log_line(
    debug_node: Node, caplog: pytest.LogCaptureFixture
) -> None:
    """At DEBUG, with every library's records captured: a login (right and
    wrong password), a password change, a station's handshake with a wrong
    basic-auth password and a new basic-auth secret sent to a connected
    station leave no password, token, secret or its base64 or hex in the
    log; what was redacted says so."""
    caplog.set_level(logging.DEBUG)
    root = await make_entity("Root")
    user = await make_user(
        [root], email="ops@example.com", password_hash=hash_password(PASSWORD, "fast")
    )
    admin = await admin_token(root)
    station_secret = "the-station-secret-1"
    new_secret = "new-station-secret"
    await PiccoloStationAdmin().add("CP-SEC", secret_hash=hash_secret(station_secret))
    pk = (await Station.select(Station.id).where(Station.charge_point_id == "CP-SEC").first())["id"]  # type: ignore[index]
    ocpp = f"ws://127.0.0.1:{debug_node.ocpp_port}/ocpp/CP-SEC"
    secrets_seen: list[str] = [PASSWORD, "wrong-password-x", "a-new-password-123", admin]

    def basic(secret: str) -> dict[str, str]:
        encoded = base64.b64encode(f"CP-SEC:{secret}".encode()).decode()
        secrets_seen.append(encoded)
        return {"Authorization": f"Basic {encoded}"}

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{debug_node.http_port}") as http:
        good = await http.post(
            "/api/v1/auth/login", json={"email": "ops@example.com", "password": PASSWORD}
        )
        secrets_seen.append(good.json()["token"])
        wrong = await http.post(
            "/api/v1/auth/login", json={"email": "ops@example.com", "password": "wrong-password-x"}
        )
        changed = await http.patch(
            f"/api/v1/users/{user}", json={"password": "a-new-password-123"}, headers=bearer(admin)
        )
        with pytest.raises(InvalidStatus) as refused:
            async with connect(ocpp, subprotocols=["ocpp1.6"], additional_headers=basic("nope-1")):  # type: ignore[list-item]
                pass
        async with connect(
            ocpp,
            subprotocols=["ocpp1.6"],  # type: ignore[list-item]
            additional_headers=basic(station_secret),
        ) as ws:
            boot = {"chargePointVendor": "V", "chargePointModel": "M"}
            await ws.send(json.dumps([2, "boot", "BootNotification", boot]))
            assert json.loads(await ws.recv())[2]["status"] == "Accepted"
            sent = asyncio.create_task(
                http.post(
                    f"/api/v1/stations/{pk}/security/basic-auth",
                    json={"secret": new_secret},
                    headers=bearer(admin),
                )
            )
            call = json.loads(await asyncio.wait_for(ws.recv(), 10))
            await ws.send(json.dumps([3, call[1], {"status": "Accepted"}]))
            rotated = await sent
    assert good.status_code == 201 and wrong.status_code == 401
    assert changed.status_code == 200
    assert refused.value.response.status_code == 401
    assert call[2:] == ["ChangeConfiguration", {"key": "AuthorizationKey", "value": ANY}]
    assert rotated.status_code == 200, rotated.text
    secrets_seen += [
        station_secret,
        new_secret,
        call[3]["value"],
        station_secret.encode().hex(),
        "nope-1",
    ]
    logged = caplog.text
    leaked = [secret for secret in secrets_seen if secret in logged]
    assert leaked == []
    assert "Authorization: Basic [redacted]" in logged  # websockets' handshake dump


def test_redaction_covers_headers_fields_and_ocpp_frames() -> None:
    """Each shape a secret is logged in by a library is rewritten."""
    assert redact("< Authorization: Basic QUJDOmRlZg==") == "< Authorization: Basic [redacted]"
    assert redact("authorization: Bearer abc.def") == "authorization: Bearer [redacted]"
    assert redact('{"email": "a@b", "password": "p\\"w"}') == (
        '{"email": "a@b", "password": \'[redacted]\'}'
    )
    assert "0123" not in redact(
        '[2,"1","ChangeConfiguration",{"key":"AuthorizationKey","value":"0123abcd"}]'
    )
    assert "s3cr3t" not in redact(
        "{'setVariableData': [{'attributeValue': 's3cr3t', 'component': {'name': "
        "'SecurityCtrlr'}, 'variable': {'name': 'BasicAuthPassword'}}]}"
    )
    assert redact("GET /files/uploads/AbCdEfGhIjKlMnOpQrSt/log.zip") == (
        "GET /files/uploads/[redacted]/log.zip"
    )
    assert redact("heartbeat from CP-1") == "heartbeat from CP-1"


async def test_a_chargers_binary_upload_is_not_read_as_json(db: None) -> None:
    """Bytes PUT to an upload location (any content type, NUL bytes and
    brackets in them) are not refused as hostile JSON: only the APIs' bodies
    are inspected."""
    async with api_client() as client:
        upload = await client.put(
            "/files/uploads/" + "A" * 24 + "/log.bin",
            content=b"\x00" + b"[" * 1000 + b"\x00",
            headers={"content-type": "text/plain"},
        )
    assert upload.status_code != 400 or "NUL" not in upload.text, upload.text
    assert "nested" not in upload.text
