"""The billing pages in a real browser on a real node: a month previewed
(a draft, nothing numbered), issued, and its invoice's PDF downloaded; bad
input beside the field; a user of another entity sees none of it.

Run: ``python -m pytest tests/e2e/test_admin_ui_billing.py -q`` (needs
/usr/bin/chromium)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.billing_world import energy_tariff, make_tariff
from tests.e2e.ui_helpers import UiNode, login, operator_user, screenshot, ui_node
from tests.integration.billing_world import cdr, company, master_contact, session, station

__all__ = ["ui_node"]

OCT = datetime(2026, 10, 14, 9, 0, tzinfo=UTC)


async def _world() -> dict[str, Any]:
    """A (station owner) sells B (an EMP) one session of October."""
    root = await company("Root Holding")
    a = await company("Alpha Laden")
    b = await company("Beta Mobil", parent=root)
    c = await company("Gamma Strom", parent=root)
    s = await station(a, "CP-ALPHA-1")
    one = await session(s, OCT)
    await cdr(
        one,
        s,
        "emp",
        seller=a,
        buyer_entity=b,
        buyer_contact=await master_contact(b),
        started_at=OCT,
    )
    await make_tariff(a, energy_tariff("ALPHA-AC"), audience="customer")
    await make_tariff(c, energy_tariff("GAMMA-DC", per_kwh="0.69"), audience="customer")
    await operator_user([a], email="anna@alpha.example")
    await operator_user([c], email="carl@gamma.example")
    return {"a": a, "b": b, "c": c}


@pytest.fixture
def world(ui_node: UiNode) -> dict[str, Any]:
    ui_node.empty()
    return ui_node.run(_world())


def test_a_month_is_previewed_issued_and_its_pdf_downloaded(
    ui_node: UiNode, world: dict[str, Any], tmp_path: Path
) -> None:
    """A bad month shows its message beside the field; October's preview
    is a draft with B's invoice and no number; issuing it numbers the
    invoice, whose PDF downloads as a PDF; a user of another entity sees
    neither the run nor the document."""

    async def body() -> None:
        page = await ui_node.new_page()
        base = ui_node.base_url
        await login(page, base, "anna@alpha.example")
        await page.wait_for_url(base + "/")
        await page.click("nav.menu >> text=Billing runs")
        await page.fill("#period", "October")
        await page.click("button:has-text('Preview')")
        assert await page.inner_text("#period-error") == "Enter a month as YYYY-MM, e.g. 2026-10."
        await page.fill("#period", "2026-10")
        await page.click("button:has-text('Preview')")
        await page.wait_for_selector("[data-testid=run-status] >> text=Draft")
        run_url = page.url
        drafts = await page.inner_text("[data-testid=drafts]")
        assert "Beta Mobil" in drafts and "Invoice" in drafts
        await screenshot(page, "billing-preview")
        await page.click("button:has-text('Issue the documents')")
        await page.wait_for_selector("[data-testid=run-status] >> text=Issued")
        documents = await page.inner_text("[data-testid=documents]")
        assert "Beta Mobil" in documents
        async with page.expect_download() as waiting:
            await page.click("[data-testid=documents] >> text=PDF")
        download = await waiting.value
        target = tmp_path / "invoice.pdf"
        await download.save_as(target)
        assert target.read_bytes().startswith(b"%PDF-")
        await screenshot(page, "billing-issued")
        await page.context.close()

        other = await ui_node.new_page()
        await login(other, base, "carl@gamma.example")
        await other.wait_for_url(base + "/")
        for path in ("/billing", "/billing/documents"):
            await other.goto(base + path)
            text = await other.inner_text("main")
            assert "Beta Mobil" not in text and "2026-10" not in text, path
        missing = await other.goto(run_url)
        assert missing is not None and missing.status == 404
        await other.context.close()

    ui_node.run(body(), timeout=60)


def test_the_tariff_list_shows_only_the_users_entitys_tariffs(
    ui_node: UiNode, world: dict[str, Any]
) -> None:
    """A's user finds A's tariff under Tariffs (and by its code) and never
    C's; C's user the other way round."""

    async def body() -> None:
        base = ui_node.base_url
        for email, own, other in (
            ("anna@alpha.example", "ALPHA-AC", "GAMMA-DC"),
            ("carl@gamma.example", "GAMMA-DC", "ALPHA-AC"),
        ):
            page = await ui_node.new_page()
            await login(page, base, email)
            await page.wait_for_url(base + "/")
            await page.click("nav.menu >> text=Tariffs")
            listed = await page.inner_text("[data-testid=tariffs]")
            assert own in listed and other not in listed, email
            await page.goto(f"{base}/tariffs?q={other}")
            assert other not in await page.inner_text("[data-testid=tariffs]")
            await page.goto(f"{base}/tariffs?q={own}")
            assert own in await page.inner_text("[data-testid=tariffs]")
            await page.context.close()

    ui_node.run(body(), timeout=60)


def test_reports_chart_a_month_and_an_invoice_is_cancelled_from_its_list(
    ui_node: UiNode, world: dict[str, Any], tmp_path: Path
) -> None:
    """The reports page charts October's rated session (revenue and energy
    per month, with totals) and downloads it as CSV; a month written
    wrongly shows its message beside the field. An issued invoice is
    cancelled from the documents list after a confirmation: the
    cancellation is listed; cancelling it twice shows why not."""

    async def body() -> None:
        page = await ui_node.new_page()
        base = ui_node.base_url
        await login(page, base, "anna@alpha.example")
        await page.wait_for_url(base + "/")
        await page.click("nav.menu >> text=Reports")
        await page.fill("#from", "Oct")
        await page.click("button:has-text('Show')")
        assert await page.inner_text("#from-error") == "Enter a month as YYYY-MM, e.g. 2026-10."
        await page.fill("#from", "2026-10")
        await page.fill("#to", "2026-10")
        await page.click("button:has-text('Show')")
        report = await page.inner_text("[data-testid=report]")
        assert "2026-10" in report and "total" in report.lower()
        assert await page.locator("svg.chart rect.bar").count() >= 2
        await screenshot(page, "reports")
        async with page.expect_download() as waiting:
            await page.click("[data-testid=report-csv]")
        target = tmp_path / "report.csv"
        await (await waiting.value).save_as(target)
        lines = target.read_text().splitlines()
        assert lines[0].startswith("group") and any("2026-10" in line for line in lines[1:])

        await page.goto(base + "/billing")
        await page.fill("#period", "2026-10")
        await page.click("button:has-text('Preview')")
        await page.click("button:has-text('Issue the documents')")
        await page.wait_for_selector("[data-testid=run-status] >> text=Issued")
        await page.goto(base + "/billing/documents?q=beta")
        assert "Beta Mobil" in await page.inner_text("[data-testid=documents]")
        await page.goto(base + "/billing/documents?q=nobody")
        assert "Beta Mobil" not in await page.inner_text("[data-testid=documents]")
        await page.goto(base + "/billing?q=2026-10")
        assert "2026-10" in await page.inner_text("[data-testid=runs]")
        await page.click("[data-testid=runs] >> [data-sort=period]")
        assert "sort=period" in page.url
        await page.goto(base + "/billing/documents")
        await page.click("[data-testid=documents] >> [data-sort=gross]")
        assert "sort=gross" in page.url
        await page.click("[data-testid=documents] >> text=Cancel")
        cancel_url = page.url
        await page.click("[data-testid=cancel-document]")
        await page.wait_for_url(base + "/billing/documents?kind=cancellation")
        listed = await page.inner_text("[data-testid=documents]")
        assert "Cancellation" in listed and "Beta Mobil" in listed
        await page.goto(cancel_url)
        await page.click("[data-testid=cancel-document]")
        assert await page.get_by_test_id("form-error").inner_text() != ""
        await page.context.close()

    ui_node.run(body(), timeout=90)
