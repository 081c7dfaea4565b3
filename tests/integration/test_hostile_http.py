"""Hostile input to the operators' API (issue 14, item 7): what a probe
answered with a silent 500 is a 400 that says what is wrong, before any
query runs; and whatever still fails is logged with its traceback and the
request's id, which the answer carries too."""

from __future__ import annotations

import logging

import pytest

from admin_ui.api.common import MAX_BIG_ID, MAX_ID, MAX_OFFSET
from admin_ui.api.context import ApiContext
from crm.services.auth import AuthService
from tests.world import admin_token, api_client, bearer, make_entity

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
