"""POST /api/v1/tariffs/price: ``csms tariff price`` through the API, on the
reference cases (priced to their totals at 4 decimals), bad parts named."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from tests.world import (
    admin_token,
    api_client,
    bearer,
    make_entity,
    make_group,
    make_user,
    token_for,
)

CASES = Path(__file__).parents[1] / "data" / "ocpi-tariff-cases"
CDRS = sorted(CASES.glob("*/cdr*.json"))
# Each case's tariff and CDR text, read once (the tests are async).
TEXTS = {cdr: ((cdr.parent / "tariff.json").read_bytes(), cdr.read_bytes()) for cdr in CDRS}
STEP_SIZE = CASES / "step_size" / "cdr1.json"
FOUR = Decimal("0.0001")


def _body(tariff: bytes, cdr: bytes, time_zone: str | None = None) -> bytes:
    # The OCPI texts go in as they are: their numbers never become floats.
    zone = "" if time_zone is None else f', "time_zone": {json.dumps(time_zone)}'
    return b'{"tariff": ' + tariff + b', "cdr": ' + cdr + zone.encode() + b"}"


@pytest.mark.parametrize("cdr", CDRS, ids=lambda p: f"{p.parent.name}/{p.name}")
async def test_every_reference_cdr_prices_to_its_totals(db: None, cdr: Path) -> None:
    """Each reference CDR's totals come back at 4 decimals (absent = 0), as
    decimal strings."""
    token = await admin_token(await make_entity("Root"))
    async with api_client() as client:
        answer = await client.post(
            "/api/v1/tariffs/price",
            content=_body(*TEXTS[cdr]),
            headers={**bearer(token), "content-type": "application/json"},
        )
    assert answer.status_code == 200, answer.text
    got = answer.json()
    expected = json.loads(TEXTS[cdr][1], parse_float=Decimal, parse_int=Decimal)
    for name in ("total_cost", "total_energy_cost", "total_time_cost", "total_fixed_cost"):
        want = expected.get(name) or {"excl_vat": Decimal(0), "incl_vat": Decimal(0)}
        for part in ("excl_vat", "incl_vat"):
            assert isinstance(got[name][part], str)
            assert Decimal(got[name][part]).quantize(FOUR) == Decimal(want[part]).quantize(FOUR)
    assert Decimal(got["total_energy"]).quantize(FOUR) == Decimal(
        expected.get("total_energy") or 0
    ).quantize(FOUR)


async def test_bad_parts_are_400_naming_them_and_reading_needs_tariffs_read(db: None) -> None:
    """A broken tariff names ``tariff`` and its field, a CDR without periods
    ``cdr``, an unknown zone ``time_zone``; a user who may not read tariffs
    gets 403; a price check is not an audited change."""
    root = await make_entity("Root")
    token = await admin_token(root)
    tariff, cdr = TEXTS[STEP_SIZE]
    nobody = await make_user([root], [await make_group(root, permissions=["stations:read"])])
    headers = {**bearer(token), "content-type": "application/json"}
    async with api_client() as client:
        bad_tariff = await client.post(
            "/api/v1/tariffs/price",
            content=_body(b'{"currency": "EUR", "elements": "none"}', cdr),
            headers=headers,
        )
        bad_cdr = await client.post(
            "/api/v1/tariffs/price",
            content=_body(tariff, b'{"charging_periods": 5}'),
            headers=headers,
        )
        bad_zone = await client.post(
            "/api/v1/tariffs/price", content=_body(tariff, cdr, "Mars/Olympus"), headers=headers
        )
        refused = await client.post(
            "/api/v1/tariffs/price",
            content=_body(tariff, cdr),
            headers={**bearer(await token_for(nobody, root)), "content-type": "application/json"},
        )
        audit = await client.get("/api/v1/audit-log", params={"kind": "tariffs"}, headers=headers)
    assert bad_tariff.status_code == 400 and bad_tariff.json()["detail"].startswith("tariff: ")
    assert bad_cdr.status_code == 400 and bad_cdr.json()["detail"].startswith("cdr: ")
    assert bad_zone.status_code == 400 and "time_zone" in bad_zone.json()["detail"]
    assert refused.status_code == 403
    assert all(e["path"] != "/api/v1/tariffs/price" for e in audit.json()["items"])
