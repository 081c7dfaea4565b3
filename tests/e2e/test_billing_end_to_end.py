"""Billing end to end: simulated chargers of both OCPP versions run sessions
on a real node, the node's rater prices them, and an operator bills the
month with the `csms billing` command, downloads the PDFs and the XML.

The group: a parent operator P with a sub-CPO A (a 1.6 charger), a CPO B
(a 2.0.1 charger); EMP X (may act as sub-EMP) and EMP Y (may not; its
parent Z may) each issue a card billed to a customer of theirs.
"""

from __future__ import annotations

import asyncio
import io
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import facturx
import pypdf
import pytest
from lxml import etree

from billing.tables import Cdr
from crm.tables import Medium
from csms.bootstrap import Node
from csms.tables import RatingQueue
from simulators.ocpp16 import connect16
from simulators.ocpp201 import connect201
from tests.billing_world import energy_tariff, make_contact, make_tariff
from tests.e2e.command_helpers import add_station
from tests.e2e.conftest import StartNode, ocpp_url
from tests.e2e.test_cli import csms
from tests.media_helpers import allow
from tests.unit.billing_documents.en16931_rules import rule_violations
from tests.world import make_entity

BERLIN = ZoneInfo("Europe/Berlin")


async def run_cli(*args: str) -> dict | list:
    done = await asyncio.to_thread(csms, *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


async def cli_bytes(*args: str) -> bytes:
    import subprocess
    import sys

    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "csms", *args], capture_output=True, timeout=60
    )
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout


async def rated(expected_cdrs: int, timeout: float = 30.0) -> None:
    """Waits for the node's rater to empty the queue."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if await RatingQueue.count() == 0 and await Cdr.count() >= expected_cdrs:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"not rated in {timeout} s: {await Cdr.count()} CDRs")


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages)


@pytest.fixture
async def billing_node(start_node: StartNode) -> Node:
    return await start_node(rating_interval=0.2)


async def test_a_month_of_both_versions_is_billed_with_the_right_documents(
    billing_node: Node,
) -> None:
    """Sessions on a 1.6 charger of sub-CPO A and a 2.0.1 charger of CPO B
    with cards of EMP X and EMP Y: A and B each invoice X and Y, X invoices
    its customer, Y's parent Z (the nearest that may act as sub-EMP)
    invoices Y's customer, P credits A; every document opens as PDF with
    its Factur-X XML, which passes the EN 16931 rules; numbers come from
    each issuer's range; a cancellation reverses one invoice."""
    parent = await make_entity(
        "Parent Operator GmbH",
        kind="operator",
        country="DE",
        street="Ringstraße 1",
        postal_code="80331",
        city="München",
        vat_id="DE111111111",
        time_zone="Europe/Berlin",
        may_act_as_sub_emp=True,
    )
    sub_cpo = await make_entity(
        "Sub-CPO Süd GmbH",
        parent=parent,
        kind="cpo",
        country="DE",
        street="Südweg 2",
        postal_code="80333",
        city="München",
        vat_id="DE222222222",
        time_zone="Europe/Berlin",
        invoice_number_range="A-{yyyy}-{seq:05d}",
    )
    cpo_b = await make_entity(
        "CPO Nord GmbH",
        kind="cpo",
        country="DE",
        street="Nordweg 3",
        postal_code="20095",
        city="Hamburg",
        vat_id="DE333333333",
        time_zone="Europe/Berlin",
    )
    emp_x = await make_entity(
        "EMP X GmbH",
        kind="emp",
        country="DE",
        street="X-Allee 4",
        postal_code="10115",
        city="Berlin",
        vat_id="DE444444444",
        may_act_as_sub_emp=True,
        time_zone="Europe/Berlin",
    )
    z = await make_entity(
        "Z Holding AG",
        kind="emp",
        country="DE",
        street="Z-Platz 5",
        postal_code="50667",
        city="Köln",
        vat_id="DE555555555",
        may_act_as_sub_emp=True,
        time_zone="Europe/Berlin",
    )
    emp_y = await make_entity(
        "EMP Y GmbH",
        parent=z,
        kind="emp",
        country="DE",
        street="Y-Straße 6",
        postal_code="50668",
        city="Köln",
        time_zone="Europe/Berlin",
    )
    customer_x = await make_contact(
        emp_x,
        "Jörg Größer",
        street="Weg 7",
        postal_code="10117",
        city="Berlin",
        country="DE",
        customer_number="X-1",
    )
    customer_y = await make_contact(
        emp_y,
        "Ada Müller",
        street="Pfad 8",
        postal_code="50670",
        city="Köln",
        country="DE",
        customer_number="Y-1",
    )
    await add_station("CP-A16", sub_cpo)
    await add_station("CS-B201", cpo_b)
    from csms.tables import Station

    await Station.update({Station.time_zone: "Europe/Berlin"}).where(Station.id > 0)
    # (The node's media cache is cold: its first lookup reads the bill-to.)
    for uid, issuer, bill_to in (("CARD-X", emp_x, customer_x), ("CARD-Y", emp_y, customer_y)):
        await allow(uid, issuer=issuer)
        await Medium.update({Medium.bill_to_contact: bill_to}).where(Medium.uid == uid)
    await make_tariff(sub_cpo, energy_tariff("A-EMP", per_kwh="0.40"), audience="emp")
    await make_tariff(cpo_b, energy_tariff("B-EMP", per_kwh="0.35", flat=None), audience="emp")
    await make_tariff(emp_x, energy_tariff("X-END", per_kwh="0.59"), audience="customer")
    await make_tariff(z, energy_tariff("Z-END", per_kwh="0.55"), audience="customer")
    await make_tariff(parent, energy_tariff("P-SUB", per_kwh="0.20", flat=None), audience="sub_cpo")

    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    async with connect16(ocpp_url(billing_node), "CP-A16") as cp:
        await cp.boot()
        for connector, tag, energy in ((1, "CARD-X", 12_000), (2, "CARD-Y", 8_000)):
            started = await cp.start_transaction(
                connector, id_tag=tag, meter_start=100_000, timestamp=start
            )
            await cp.status(connector, "Charging", timestamp=start)
            await cp.stop_transaction(
                started.transaction_id,
                meter_stop=100_000 + energy,
                timestamp=start + timedelta(minutes=20),
            )
    async with connect201(ocpp_url(billing_node), "CS-B201", boot=True) as cs:
        for tag in ("CARD-X", "CARD-Y"):
            await cs.start_transaction(1, id_token=tag, meter_start=5_000, meter_interval=3600)
            await cs.stop_transaction(1, reason="Local")

    # 4 sessions x (emp + customer) + 2 sessions at A x sub_cpo.
    await rated(10)
    errors = await Cdr.select(Cdr.session, Cdr.audience, Cdr.error).where(Cdr.status == "error")
    assert errors == []

    period = datetime.now(UTC).astimezone(BERLIN).strftime("%Y-%m")
    issued: dict[int, list[dict]] = {}
    for entity in (sub_cpo, cpo_b, emp_x, z, parent, emp_y):
        result = await run_cli(
            "billing", "run", "--entity", str(entity), "--period", period, "--json"
        )
        issued[entity] = result["documents"]
    year = period[:4]
    assert sorted((d["number"], d["recipient_name"]) for d in issued[sub_cpo]) == [
        (f"A-{year}-00001", "EMP X GmbH"),
        (f"A-{year}-00002", "EMP Y GmbH"),
    ]
    assert sorted(d["recipient_name"] for d in issued[cpo_b]) == ["EMP X GmbH", "EMP Y GmbH"]
    assert [d["number"] for d in issued[cpo_b]] == [f"RE-{year}-000001", f"RE-{year}-000002"]
    assert [d["recipient_name"] for d in issued[emp_x]] == ["Jörg Größer"]
    assert [d["recipient_name"] for d in issued[z]] == ["Ada Müller"]
    assert issued[emp_y] == []  # Y may not act as sub-EMP: Z invoices its customer
    (credit,) = issued[parent]
    assert credit["kind"] == "credit_note" and credit["recipient_name"] == "Sub-CPO Süd GmbH"
    # P pays A 0.20 per kWh for the 20 kWh at A's station; 19 % VAT on the sum.
    assert (credit["total_net"], credit["total_vat"], credit["total_gross"]) == (
        "4.00",
        "0.76",
        "4.76",
    )
    invoice_a_x = next(d for d in issued[sub_cpo] if d["recipient_name"] == "EMP X GmbH")
    # 12 kWh x 0.40 + 1.00 session fee.
    assert (invoice_a_x["total_net"], invoice_a_x["total_gross"]) == ("5.80", "6.90")

    again = await run_cli("billing", "run", "--entity", str(sub_cpo), "--period", period, "--json")
    assert again["documents"] == [] and again["drafts"] == []

    for document in [d for docs in issued.values() for d in docs]:
        pdf = await cli_bytes("billing", "pdf", str(document["id"]), "-o", "-")
        text = pdf_text(pdf)
        assert document["number"] in text
        assert document["recipient_name"] in text
        assert document["total_gross"].replace(".", ",") in text
        embedded = facturx.get_facturx_xml_from_pdf(pdf, check_xsd=True)[1]
        xml = await cli_bytes("billing", "xml", str(document["id"]), "-o", "-")
        assert embedded == xml
        fatal = [v for v in rule_violations(xml) if v.startswith("[fatal]")]
        assert fatal == []
        root = etree.fromstring(xml)
        ids = root.xpath("//*[local-name()='ExchangedDocument']/*[local-name()='ID']/text()")
        assert ids == [document["number"]]

    cancelled = await asyncio.to_thread(csms, "billing", "cancel", str(invoice_a_x["id"]))
    assert cancelled.returncode == 0, cancelled.stderr
    assert f"ST-{year}-000001" in cancelled.stdout
    cancellations = await run_cli("billing", "documents", "--kind", "cancellation", "--json")
    (cancellation,) = cancellations
    assert cancellation["refers_to_id"] == invoice_a_x["id"]
    assert Decimal(cancellation["total_gross"]) == -Decimal(invoice_a_x["total_gross"])
    text = pdf_text(await cli_bytes("billing", "pdf", str(cancellation["id"]), "-o", "-"))
    assert invoice_a_x["number"] in text


async def test_signed_meter_values_reach_the_cdr_verified(billing_node: Node) -> None:
    """A 1.6 charger's signed (OCMF) end reading is kept with the session and
    carried to its CDR, verified against the meter key the operator set for
    the station; a tampered copy in the same session fails verification."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from tests.e2e.command_helpers import operator_api
    from tests.world import admin_token

    key = ec.generate_private_key(ec.SECP256R1())
    public_hex = (
        key.public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        .hex()
    )
    payload = {
        "FV": "1.0",
        "GI": "SIMULATOR",
        "GS": "METER-1",
        "PG": "T1",
        "MS": "METER-1",
        "IS": True,
        "IT": "ISO14443",
        "ID": "CARD-S",
        "RD": [
            {
                "TM": "2026-12-05T10:20:00,000+0000 S",
                "TX": "E",
                "RV": 3.5,
                "RI": "1-b:1.8.0",
                "RU": "kWh",
                "ST": "G",
            }
        ],
    }
    text = json.dumps(payload, separators=(",", ":"))
    signature = key.sign(text.encode(), ec.ECDSA(hashes.SHA256())).hex()
    genuine = f"OCMF|{text}|{json.dumps({'SA': 'ECDSA-secp256r1-SHA256', 'SD': signature})}"
    tampered = genuine.replace('"RV":3.5', '"RV":2.5')

    cpo = await make_entity("CPO", kind="cpo", country="DE")
    emp = await make_entity("EMP", kind="emp", country="DE")
    await add_station("CP-SIGNED", cpo)
    await allow("CARD-S", issuer=emp)
    await make_tariff(cpo, energy_tariff("CPO-EMP"), audience="emp")
    done = await asyncio.to_thread(
        csms, "station", "set", "CP-SIGNED", "--meter-public-key", public_hex
    )
    assert done.returncode == 0, done.stderr

    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=20)
    async with connect16(ocpp_url(billing_node), "CP-SIGNED") as cp:
        await cp.boot()
        started = await cp.start_transaction(1, id_tag="CARD-S", meter_start=0, timestamp=start)
        end = start + timedelta(minutes=15)
        await cp.meter_values(
            1,
            started.transaction_id,
            meter_value=[
                {
                    "timestamp": end.isoformat().replace("+00:00", "Z"),
                    "sampledValue": [
                        {"value": "3500", "context": "Transaction.End", "unit": "Wh"},
                        {"value": genuine, "format": "SignedData", "context": "Transaction.End"},
                        {"value": tampered, "format": "SignedData", "context": "Other"},
                    ],
                }
            ],
        )
        await cp.stop_transaction(started.transaction_id, meter_stop=3_500, timestamp=end)
    await rated(1)

    async with operator_api(billing_node, await admin_token(cpo)) as api:
        listed = await api.get("/cdrs", params={"session_id": started.transaction_id})
        assert listed.status_code == 200, listed.text
        (item,) = listed.json()["items"]
        detail = (await api.get(f"/cdrs/{item['id']}")).json()["detail"]
    verifications = detail["signed_meter_values"]
    assert [v["verified"] for v in verifications] == [True, False]
    assert verifications[0]["format"] == "OCMF"
    assert Decimal(str(verifications[0]["readings"][0]["value"])) == Decimal("3.5")
    assert verifications[1]["reason"]
