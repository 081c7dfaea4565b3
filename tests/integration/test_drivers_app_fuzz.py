"""The drivers' app API fuzzed from its own OpenAPI document (schemathesis):
every operation, with cases generated from the document, answered without
a 500 and as the document says (status codes, content types, bodies).

A driver is registered and verified first and each example logs in again,
so authenticated operations are reached too (logout included). Examples per
operation and run: CSMS_APP_FUZZ_EXAMPLES (default 15; e.g. 500 for a deep
local run).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import AsyncTestClient
from schemathesis import checks

from tests.drivers_app_helpers import (
    APP,
    PASSWORD,
    app_context,
    drivers_client,
    entity_with_code,
    registered,
)

EXAMPLES = int(os.environ.get("CSMS_APP_FUZZ_EXAMPLES", "15"))
# What the answers must meet. Not "positive data acceptance": the document
# states types and lengths, while an IBAN's check digits, an e-mail's form
# or a registration code's existence are decided by the service (400, 404),
# which the document lists for those operations.
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
]


@pytest.fixture
async def fuzzed(db: None) -> AsyncIterator[tuple[AsyncTestClient, dict[str, Any], list[Any]]]:
    """A client of the app, a verified driver, and the document's operations."""
    _, code = await entity_with_code(may_act_as_sub_emp=True)
    async with drivers_client(app_context(app_rate_limit=1_000_000)) as client:
        driver = await registered(client, code)
        answer = await client.get(f"{APP}/schema/openapi.json")
        assert answer.status_code == 200
        schema = schemathesis.openapi.from_dict(answer.json())
        yield client, driver, [result.ok() for result in schema.get_all_operations()]


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@given(data=st.data())
async def test_every_operation_answers_as_documented(
    fuzzed: tuple[AsyncTestClient, dict[str, Any], list[Any]], data: st.DataObject
) -> None:
    """No generated request gets a 500 or an answer the document does not
    describe."""
    client, driver, operations = fuzzed
    assert len(operations) >= 15
    login = await client.post(f"{APP}/login", json={"email": driver["email"], "password": PASSWORD})
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    for operation in operations:
        case = data.draw(operation.as_strategy(), label=operation.label)
        kwargs = case.as_transport_kwargs(base_url=f"http://testserver.local{APP}")
        generated = {
            name: value
            for name, value in (kwargs.get("headers") or {}).items()
            if name.lower() != "authorization"
        }
        kwargs["headers"] = {**generated, **headers}
        response = await client.request(**_httpx(kwargs))
        assert response.status_code < 500, (operation.label, response.text)
        case.validate_response(response, checks=CHECKS)


def _httpx(kwargs: dict[str, Any]) -> dict[str, Any]:
    """requests-style keyword arguments as httpx takes them."""
    kwargs = dict(kwargs)
    for unused in ("timeout", "verify", "allow_redirects", "cookies"):
        kwargs.pop(unused, None)
    if "data" in kwargs and not isinstance(kwargs["data"], dict):
        kwargs["content"] = kwargs.pop("data")
    return kwargs
