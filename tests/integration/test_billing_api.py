"""Billing through the operators' API over real HTTP: CDRs, billing runs
(preview, issue), documents (content, PDF, XML, cancellation), where each
session stands; scope breaks answer 404, documents cannot be changed (405),
bad input is a 4xx naming the field, and a contact shared with another
entity never shows the issuer's invoice to it."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from decimal import Decimal

from pypdf import PdfReader

from tests.integration.billing_world import (
    cdr,
    company,
    master_contact,
    person,
    session,
    station,
    user_token,
)
from tests.world import admin_token, api_client, bearer, make_group, make_user, token_for

API = "/api/v1"
OCT = datetime(2026, 10, 14, 9, 0, tzinfo=UTC)
CII = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
}


async def _world() -> dict[str, int]:
    """Root -> A (station owner, Berlin) and B (an EMP). A's station S; a
    session there of B's medium, priced for B (emp) and for B's customer K."""
    root = await company("Root")
    a = await company("Alpha Laden", parent=root)
    b = await company("Beta Mobil", parent=root, may_act_as_sub_emp=True)
    s = await station(a, "CP-ALPHA-1")
    k = await person(b, "Karla Kundin")
    one = await session(s, OCT)
    emp = await cdr(
        one,
        s,
        "emp",
        seller=a,
        buyer_entity=b,
        buyer_contact=await master_contact(b),
        started_at=OCT,
    )
    customer = await cdr(
        one, s, "customer", seller=b, buyer_contact=k, started_at=OCT, price=Decimal("0.59")
    )
    return {
        "root": root,
        "a": a,
        "b": b,
        "s": s,
        "k": k,
        "session": one,
        "emp": emp,
        "cus": customer,
    }


async def test_cdrs_are_listed_and_read_by_seller_or_buyer(db: None) -> None:
    """A's reader sees the emp CDR (A sells); B's sees both (B buys one,
    sells the other); the detail carries periods, totals, supplied lines and
    signed values; filters narrow; another entity's reader gets 404."""
    w = await _world()
    other = await company("Gamma", parent=w["root"])
    a_user = await user_token(w["a"], "billing:read")
    b_user = await user_token(w["b"], "billing:read")
    g_user = await user_token(other, "billing:read")
    async with api_client() as client:
        a_list = await client.get(f"{API}/cdrs", headers=bearer(a_user))
        b_list = await client.get(f"{API}/cdrs", headers=bearer(b_user))
        b_emp = await client.get(f"{API}/cdrs", params={"audience": "emp"}, headers=bearer(b_user))
        b_billed = await client.get(
            f"{API}/cdrs", params={"billed": "true"}, headers=bearer(b_user)
        )
        b_session = await client.get(
            f"{API}/cdrs", params={"session_id": w["session"]}, headers=bearer(b_user)
        )
        later = await client.get(
            f"{API}/cdrs", params={"started_after": "2026-10-15T00:00:00Z"}, headers=bearer(b_user)
        )
        detail = await client.get(f"{API}/cdrs/{w['emp']}", headers=bearer(a_user))
        hidden = await client.get(f"{API}/cdrs/{w['cus']}", headers=bearer(a_user))
        foreign = await client.get(f"{API}/cdrs/{w['emp']}", headers=bearer(g_user))
        g_list = await client.get(f"{API}/cdrs", headers=bearer(g_user))
    assert a_list.status_code == 200, a_list.text
    assert [c["id"] for c in a_list.json()["items"]] == [w["emp"]]
    assert sorted(c["id"] for c in b_list.json()["items"]) == sorted([w["emp"], w["cus"]])
    assert b_list.json()["total"] == 2
    assert [c["audience"] for c in b_emp.json()["items"]] == ["emp"]
    assert b_billed.json()["total"] == 0 and b_session.json()["total"] == 2
    assert later.json()["total"] == 0
    body = detail.json()
    assert body["total_net"] == "4.0000" and body["total_gross"] == "4.7600"
    assert body["energy_kwh"] == "10.000" and body["charge_point_id"] == "CP-ALPHA-1"
    assert body["detail"]["charging_periods"][0]["dimensions"][0]["type"] == "ENERGY"
    assert body["detail"]["supplied"][0]["price"] == "0.40"
    assert body["detail"]["signed_meter_values"][0]["verified"] is True
    assert hidden.status_code == 404 and foreign.status_code == 404
    assert g_list.json()["items"] == []


async def test_cdr_filters_and_permissions_are_checked(db: None) -> None:
    """Bad filters are 400 naming the field; no billing:read at all is 403."""
    w = await _world()
    reader = await user_token(w["a"], "billing:read")
    stranger = await user_token(w["a"], "stations:read")
    async with api_client() as client:
        answers = {
            name: await client.get(f"{API}/cdrs", params=params, headers=bearer(reader))
            for name, params in {
                "audience": {"audience": "retail"},
                "status": {"status": "paid"},
                "started_after": {"started_after": "2026-10-01T00:00:00"},
                "billed": {"billed": "maybe"},
            }.items()
        }
        forbidden = await client.get(f"{API}/cdrs", headers=bearer(stranger))
    for name, answer in answers.items():
        assert answer.status_code == 400, (name, answer.text)
        assert name in answer.text, (name, answer.text)
    assert forbidden.status_code == 403


async def test_a_month_is_previewed_issued_rendered_and_cancelled(db: None) -> None:
    """POST /billing-runs previews A's October (a draft, no number), the run
    shows its drafts, issuing numbers the invoice; its content, PDF (text)
    and XML (number) agree; running October again bills nothing; the
    cancellation refers to the invoice and the session can be billed again."""
    w = await _world()
    token = await admin_token(w["a"])
    headers = bearer(token)
    async with api_client() as client:
        preview = await client.post(
            f"{API}/billing-runs",
            json={"entity_id": w["a"], "period": "2026-10", "preview": True},
            headers=headers,
        )
        run_id = preview.json()["id"]
        shown = await client.get(f"{API}/billing-runs/{run_id}", headers=headers)
        status_draft = await client.get(f"{API}/sessions/{w['session']}/billing", headers=headers)
        issued = await client.post(f"{API}/billing-runs/{run_id}/issue", headers=headers)
        document_id = issued.json()["documents"][0]["id"]
        runs = await client.get(f"{API}/billing-runs", headers=headers)
        listed = await client.get(
            f"{API}/billing-documents", params={"run_id": run_id}, headers=headers
        )
        invoices = await client.get(
            f"{API}/billing-documents", params={"kind": "invoice"}, headers=headers
        )
        document = await client.get(f"{API}/billing-documents/{document_id}", headers=headers)
        pdf = await client.get(f"{API}/billing-documents/{document_id}/pdf", headers=headers)
        xml = await client.get(f"{API}/billing-documents/{document_id}/xml", headers=headers)
        status_billed = await client.get(f"{API}/sessions/{w['session']}/billing", headers=headers)
        again = await client.post(
            f"{API}/billing-runs", json={"entity_id": w["a"], "period": "2026-10"}, headers=headers
        )
        reissue = await client.post(f"{API}/billing-runs/{run_id}/issue", headers=headers)
        cancelled = await client.post(
            f"{API}/billing-documents/{document_id}/cancel", headers=headers
        )
        twice = await client.post(f"{API}/billing-documents/{document_id}/cancel", headers=headers)
        status_after = await client.get(f"{API}/sessions/{w['session']}/billing", headers=headers)
        cdr_after = await client.get(f"{API}/cdrs/{w['emp']}", headers=headers)

    assert preview.status_code == 201, preview.text
    draft = preview.json()
    assert draft["status"] == "draft" and draft["documents"] == []
    assert draft["period_start"] == "2026-10-01" and draft["time_zone"] == "Europe/Berlin"
    assert [d["recipient_entity_id"] for d in draft["drafts"]] == [w["b"]]
    assert draft["drafts"][0]["cdr_ids"] == [w["emp"]]
    assert draft["drafts"][0]["total_net"] == "4.00"
    assert draft["drafts"][0]["total_gross"] == "4.76"
    assert draft["drafts"][0]["document"]["number"] == ""
    assert shown.json()["drafts"] == draft["drafts"]
    emp_state = {a["audience"]: a for a in status_draft.json()["audiences"]}["emp"]
    assert emp_state["state"] == "in_draft" and emp_state["run_id"] == run_id

    assert issued.status_code == 201, issued.text
    number = issued.json()["documents"][0]["number"]
    assert number and issued.json()["status"] == "issued"
    assert [r["id"] for r in runs.json()["items"]] == [run_id]
    assert [d["id"] for d in listed.json()["items"]] == [document_id]
    assert [d["id"] for d in invoices.json()["items"]] == [document_id]
    content = document.json()["content"]
    assert document.json()["number"] == number == content["number"]
    assert content["issuer"]["name"] == "Alpha Laden"
    assert content["recipient"]["name"] == "Beta Mobil"
    assert content["lines"][0]["quantity"] == "10"
    assert [v["rate"] for v in content["vat_breakdown"]] == ["19"]
    assert content["total_gross"] == "4.76" and document.json()["total_vat"] == "0.76"

    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert number in pdf.headers["content-disposition"]
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    assert number in text and "Beta Mobil" in text
    assert xml.status_code == 200 and xml.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(xml.content)
    assert root.findtext("rsm:ExchangedDocument/ram:ID", namespaces=CII) == number

    billed = {a["audience"]: a for a in status_billed.json()["audiences"]}["emp"]
    assert billed["state"] == "billed" and billed["document_id"] == document_id
    assert billed["document_number"] == number
    assert again.status_code == 201 and again.json()["documents"] == []
    assert again.json()["drafts"] == []
    assert reissue.status_code == 400 and "not a draft" in reissue.text

    assert cancelled.status_code == 201, cancelled.text
    cancellation = cancelled.json()
    assert cancellation["kind"] == "cancellation" and cancellation["refers_to_id"] == document_id
    assert cancellation["number"] != number and cancellation["total_gross"] == "-4.76"
    assert cancellation["content"]["refers_to_number"] == number
    assert twice.status_code == 400 and "already cancelled" in twice.text
    after = {a["audience"]: a for a in status_after.json()["audiences"]}["emp"]
    assert after["state"] == "rated"
    assert cdr_after.json()["document_id"] is None


async def test_documents_cannot_be_changed_or_deleted(db: None) -> None:
    """No update or delete route for documents: PUT, PATCH and DELETE are 405."""
    w = await _world()
    token = await admin_token(w["a"])
    async with api_client() as client:
        run = await client.post(
            f"{API}/billing-runs",
            json={"entity_id": w["a"], "period": "2026-10"},
            headers=bearer(token),
        )
        document_id = run.json()["documents"][0]["id"]
        path = f"{API}/billing-documents/{document_id}"
        answers = [
            await client.put(path, json={"number": "X"}, headers=bearer(token)),
            await client.patch(path, json={"number": "X"}, headers=bearer(token)),
            await client.delete(path, headers=bearer(token)),
            await client.delete(f"{API}/billing-documents", headers=bearer(token)),
            await client.put(f"{path}/pdf", content=b"%PDF", headers=bearer(token)),
        ]
        still = await client.get(path, headers=bearer(token))
    assert [a.status_code for a in answers] == [405] * 5
    assert still.json()["number"] == run.json()["documents"][0]["number"]


async def test_runs_and_documents_out_of_scope_are_404(db: None) -> None:
    """B's user (billing:* in B) cannot run, read, issue, render or cancel
    A's runs and documents: 404 each, never 403 or 500; a user without
    billing:run is 403 on running."""
    w = await _world()
    a_admin = await admin_token(w["a"])
    b_user = await user_token(w["b"], "billing:*")
    reader = await user_token(w["a"], "billing:read")
    async with api_client() as client:
        draft = await client.post(
            f"{API}/billing-runs",
            json={"entity_id": w["a"], "period": "2026-10", "preview": True},
            headers=bearer(a_admin),
        )
        run_id = draft.json()["id"]
        issued = await client.post(f"{API}/billing-runs/{run_id}/issue", headers=bearer(a_admin))
        document_id = issued.json()["documents"][0]["id"]
        second = await client.post(
            f"{API}/billing-runs",
            json={"entity_id": w["a"], "period": "2026-11", "preview": True},
            headers=bearer(a_admin),
        )
        b = bearer(b_user)
        answers = {
            "run": await client.post(
                f"{API}/billing-runs", json={"entity_id": w["a"], "period": "2026-10"}, headers=b
            ),
            "get run": await client.get(f"{API}/billing-runs/{run_id}", headers=b),
            "issue": await client.post(
                f"{API}/billing-runs/{second.json()['id']}/issue", headers=b
            ),
            "document": await client.get(f"{API}/billing-documents/{document_id}", headers=b),
            "pdf": await client.get(f"{API}/billing-documents/{document_id}/pdf", headers=b),
            "xml": await client.get(f"{API}/billing-documents/{document_id}/xml", headers=b),
            "cancel": await client.post(f"{API}/billing-documents/{document_id}/cancel", headers=b),
        }
        runs = await client.get(f"{API}/billing-runs", headers=b)
        documents = await client.get(f"{API}/billing-documents", headers=b)
        not_allowed = await client.post(
            f"{API}/billing-runs",
            json={"entity_id": w["a"], "period": "2026-10"},
            headers=bearer(reader),
        )
        not_allowed_cancel = await client.post(
            f"{API}/billing-documents/{document_id}/cancel", headers=bearer(reader)
        )
    for name, answer in answers.items():
        assert answer.status_code == 404, (name, answer.status_code, answer.text)
    assert runs.json()["items"] == [] and documents.json()["items"] == []
    assert not_allowed.status_code == 403 and not_allowed_cancel.status_code == 403


async def test_bad_run_input_names_the_field(db: None) -> None:
    """A bad period, a missing or mistyped entity id and an unknown entity
    are 4xx naming what is wrong."""
    w = await _world()
    token = await admin_token(w["a"])
    async with api_client() as client:
        post = client.post
        bad_period = await post(
            f"{API}/billing-runs",
            json={"entity_id": w["a"], "period": "2026-13"},
            headers=bearer(token),
        )
        words = await post(
            f"{API}/billing-runs",
            json={"entity_id": w["a"], "period": "October"},
            headers=bearer(token),
        )
        missing = await post(
            f"{API}/billing-runs", json={"period": "2026-10"}, headers=bearer(token)
        )
        typed = await post(
            f"{API}/billing-runs",
            json={"entity_id": "A", "period": "2026-10"},
            headers=bearer(token),
        )
        unknown = await post(
            f"{API}/billing-runs",
            json={"entity_id": 999_999, "period": "2026-10"},
            headers=bearer(token),
        )
        no_run = await post(f"{API}/billing-runs/999999/issue", headers=bearer(token))
        no_document = await client.get(f"{API}/billing-documents/999999/pdf", headers=bearer(token))
        bad_kind = await client.get(
            f"{API}/billing-documents", params={"kind": "quote"}, headers=bearer(token)
        )
    assert bad_period.status_code == 400 and "period" in bad_period.text
    assert words.status_code == 400 and "period" in words.text
    assert missing.status_code == 400 and "entity_id" in missing.text
    assert typed.status_code == 400 and "entity_id" in typed.text
    assert unknown.status_code == 404 and "999999" in unknown.text
    assert no_run.status_code == 404 and no_document.status_code == 404
    assert bad_kind.status_code == 400 and "kind" in bad_kind.text


async def test_a_shared_contact_never_shows_the_issuers_invoice(db: None) -> None:
    """A invoices its contact C, which A shares with B. B's user reads C
    through the share, but neither lists nor reads A's invoice to C (by id,
    PDF or XML), and sees no CDR of it."""
    w = await _world()
    a, b = w["a"], w["b"]
    c = await person(a, "Conny Geteilt")
    from crm.tables import ContactShare

    await ContactShare.insert(
        ContactShare(contact=c, entity=b, access="read", created_at=datetime.now(UTC))
    ).run()
    later = datetime(2026, 10, 20, 12, 0, tzinfo=UTC)
    shared_session = await session(w["s"], later)
    invoice_cdr = await cdr(
        shared_session, w["s"], "customer", seller=a, buyer_contact=c, started_at=later
    )
    a_admin = await admin_token(a)
    group = await make_group(b, scope="own", permissions=("contacts:read", "billing:read"))
    b_user = await token_for(await make_user([b], [group]), b)
    async with api_client() as client:
        run = await client.post(
            f"{API}/billing-runs",
            json={"entity_id": a, "period": "2026-10"},
            headers=bearer(a_admin),
        )
        to_c = [d for d in run.json()["documents"] if d["recipient_contact_id"] == c]
        contact = await client.get(f"{API}/contacts/{c}", headers=bearer(b_user))
        listed = await client.get(f"{API}/billing-documents", headers=bearer(b_user))
        paths = [f"{API}/billing-documents/{to_c[0]['id']}{tail}" for tail in ("", "/pdf", "/xml")]
        reads = [await client.get(path, headers=bearer(b_user)) for path in paths]
        cdrs = await client.get(f"{API}/cdrs", headers=bearer(b_user))
        the_cdr = await client.get(f"{API}/cdrs/{invoice_cdr}", headers=bearer(b_user))
    assert run.status_code == 201 and len(to_c) == 1
    assert contact.status_code == 200, contact.text
    assert to_c[0]["id"] not in [d["id"] for d in listed.json()["items"]]
    assert [r.status_code for r in reads] == [404, 404, 404]
    assert invoice_cdr not in [x["id"] for x in cdrs.json()["items"]]
    assert the_cdr.status_code == 404
