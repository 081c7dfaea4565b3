"""Sessions to CDRs to documents, on the real database: the rater and billing
runs as the composition root wires them (no HTTP; the API has its own tests).

The world: a parent operator P with a sub-CPO A (stations in Berlin) and a
CPO B; an EMP X (may act as sub-EMP) whose card is billed to contact C.
A charges X, B charges X, X charges C, P pays A (credit note).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import msgspec
import pytest

from billing.documents.model import from_json
from billing.rating.audiences import Communities
from billing.rating.rater import Rater
from billing.runs.service import BillingRuns
from billing.storage.runs import SqlBillingStore
from billing.storage.sources import SqlDirectory, SqlRatingQueue
from billing.storage.tariffs import PiccoloTariffLookup
from billing.tables import Cdr, Document
from crm.access import system_principal
from crm.errors import InvalidInput, NotFound
from crm.storage.tree import load_tree
from csms.storage.database import current_engine, is_sqlite
from tests.billing_world import (
    completed_session,
    energy_tariff,
    make_contact,
    make_medium,
    make_partner,
    make_station,
    make_tariff,
)
from tests.world import make_entity

pytestmark = pytest.mark.usefixtures("db")


class World(msgspec.Struct):
    parent: int
    sub_cpo: int
    cpo_b: int
    emp: int
    customer: int
    station_a: int
    station_b: int
    card: int


@pytest.fixture
async def world() -> World:
    parent = await make_entity(
        "Parent Operator GmbH", kind="operator", country="DE", time_zone="Europe/Berlin"
    )
    sub_cpo = await make_entity(
        "Sub-CPO Süd GmbH",
        parent=parent,
        kind="cpo",
        country="DE",
        time_zone="Europe/Berlin",
        invoice_number_range="A-RE-{yyyy}-{seq:04d}",
    )
    cpo_b = await make_entity("CPO Nord GmbH", kind="cpo", country="DE", time_zone="Europe/Berlin")
    emp = await make_entity(
        "EMP XY GmbH", kind="emp", country="DE", may_act_as_sub_emp=True, time_zone="Europe/Berlin"
    )
    customer = await make_contact(
        emp,
        "Erika Mustermann",
        street="Hauptstraße 1",
        postal_code="10115",
        city="Berlin",
        country="DE",
        customer_number="K-1",
    )
    station_a = await make_station(sub_cpo, "CP-A", time_zone="Europe/Berlin")
    station_b = await make_station(cpo_b, "CP-B", time_zone="Europe/Berlin")
    card = await make_medium("CARD-X", emp, bill_to=customer)
    await make_tariff(sub_cpo, energy_tariff("A-EMP", per_kwh="0.40"), audience="emp")
    await make_tariff(cpo_b, energy_tariff("B-EMP", per_kwh="0.30", flat=None), audience="emp")
    await make_tariff(emp, energy_tariff("X-END", per_kwh="0.59"), audience="customer")
    await make_tariff(parent, energy_tariff("P-SUB", per_kwh="0.20", flat=None), audience="sub_cpo")
    return World(parent, sub_cpo, cpo_b, emp, customer, station_a, station_b, card)


@pytest.fixture
async def parts() -> tuple[Rater, BillingRuns, SqlRatingQueue]:
    queue, directory, store = SqlRatingQueue(), SqlDirectory(), SqlBillingStore()
    yield Rater(queue, directory, PiccoloTariffLookup()), BillingRuns(store, directory), queue
    for part in (queue, directory, store):
        await part.close()


async def charge(world: World, station: int, started_at: datetime, energy_wh: int = 10_000) -> int:
    return await completed_session(
        station,
        id_tag="CARD-X",
        started_at=started_at,
        energy_wh=energy_wh,
        medium=world.card,
        issuer=world.emp,
        bill_to=world.customer,
    )


async def test_a_completed_session_is_rated_once_per_audience(world: World, parts) -> None:
    """A session at the sub-CPO's station by the EMP's card is priced three
    times: the owner to the EMP, the EMP to its customer, the parent to the
    sub-CPO; rating again adds nothing."""
    rater, _, queue = parts
    session = await charge(world, world.station_a, datetime(2026, 10, 5, 10, tzinfo=UTC))
    assert await rater.rate_all() == 1
    assert await queue.pending() == 0
    rows = await Cdr.select(Cdr.audience, Cdr.status, Cdr.total_net_e4, Cdr.energy_wh).where(
        Cdr.session == session
    )
    by_audience = {row["audience"]: row for row in rows}
    assert set(by_audience) == {"emp", "customer", "sub_cpo"}
    assert all(row["status"] == "rated" for row in rows)
    assert by_audience["emp"]["total_net_e4"] == 50_000  # 10 kWh x 0.40 + 1.00
    assert by_audience["customer"]["total_net_e4"] == 69_000  # 10 x 0.59 + 1.00
    assert by_audience["sub_cpo"]["total_net_e4"] == 20_000  # 10 x 0.20
    assert by_audience["emp"]["energy_wh"] == 10_000
    assert await rater.rate_all() == 0
    assert await Cdr.count().where(Cdr.session == session) == 3


async def test_a_session_without_an_applicable_tariff_shows_the_reason(world: World, parts) -> None:
    """A session at a station whose owner assigned no tariff for the EMP gets
    an error CDR naming why, instead of waiting unnoticed."""
    rater, _, _ = parts
    lonely = await make_entity("CPO ohne Tarif", kind="cpo", time_zone="Europe/Berlin")
    station = await make_station(lonely, "CP-LONELY")
    session = await charge(world, station, datetime(2026, 10, 5, 10, tzinfo=UTC))
    await rater.rate_all()
    (row,) = await Cdr.select(Cdr.status, Cdr.error).where(
        (Cdr.session == session) & (Cdr.audience == "emp")
    )
    assert row["status"] == "error"
    assert "no tariff applies" in row["error"]


async def test_community_sessions_are_not_invoiced_by_station(world: World, parts) -> None:
    """Media of an entity the station owner names as community partner are
    not invoiced by station (the customer is still billed by medium)."""
    rater, _, _ = parts
    await make_partner(world.cpo_b, world.emp)
    session = await charge(world, world.station_b, datetime(2026, 10, 5, 10, tzinfo=UTC))
    await rater.rate_all()
    audiences = {
        row["audience"] for row in await Cdr.select(Cdr.audience).where(Cdr.session == session)
    }
    assert audiences == {"customer"}


async def test_a_month_run_issues_each_issuers_documents(world: World, parts) -> None:
    """EMP XY charging at A and at B gets one invoice from A and one from B,
    each in its issuer's number range; the EMP invoices its customer; the
    parent issues the sub-CPO a credit note. Sums and VAT are per document."""
    rater, runs, _ = parts
    await charge(world, world.station_a, datetime(2026, 10, 5, 10, tzinfo=UTC))
    await charge(world, world.station_a, datetime(2026, 10, 6, 10, tzinfo=UTC), energy_wh=5_000)
    await charge(world, world.station_b, datetime(2026, 10, 7, 10, tzinfo=UTC))
    await rater.rate_all()
    principal = system_principal(await load_tree())

    from_a = await runs.run(principal, world.sub_cpo, "2026-10", preview=False)
    (invoice_a,) = from_a.issued
    document = from_json(invoice_a.content)
    assert invoice_a.kind == "invoice"
    assert invoice_a.number == "A-RE-2026-0001"
    assert document.recipient.name == "EMP XY GmbH"
    assert document.issuer.name == "Sub-CPO Süd GmbH"
    # 15 kWh x 0.40 + 2 session fees = 8.00 net, 19 % VAT on the sum.
    assert document.total_net == Decimal("8.00")
    assert document.total_vat == Decimal("1.52")
    assert document.total_gross == Decimal("9.52")
    assert (document.period_start, document.period_end) == (date(2026, 10, 1), date(2026, 10, 31))

    (invoice_b,) = (await runs.run(principal, world.cpo_b, "2026-10", preview=False)).issued
    assert invoice_b.number == "RE-2026-000001"  # B's own (default) range
    assert from_json(invoice_b.content).total_net == Decimal("3.00")

    (to_customer,) = (await runs.run(principal, world.emp, "2026-10", preview=False)).issued
    customer_document = from_json(to_customer.content)
    assert customer_document.recipient.name == "Erika Mustermann"
    assert customer_document.recipient.customer_number == "K-1"
    assert customer_document.total_net == Decimal("17.75")  # 25 kWh x 0.59 + 3.00

    (credit,) = (await runs.run(principal, world.parent, "2026-10", preview=False)).issued
    assert credit.kind == "credit_note"
    assert credit.number == "GS-2026-000001"
    assert from_json(credit.content).recipient.name == "Sub-CPO Süd GmbH"
    assert from_json(credit.content).total_net == Decimal("3.00")  # 15 kWh x 0.20


async def test_running_a_period_again_bills_nothing_twice(world: World, parts) -> None:
    """A second run of the same period finds nothing unbilled."""
    rater, runs, _ = parts
    await charge(world, world.station_a, datetime(2026, 10, 5, 10, tzinfo=UTC))
    await rater.rate_all()
    principal = system_principal(await load_tree())
    first = await runs.run(principal, world.sub_cpo, "2026-10", preview=False)
    again = await runs.run(principal, world.sub_cpo, "2026-10", preview=False)
    assert len(first.issued) == 1
    assert again.issued == [] and again.drafts == []
    assert await Document.count() == 1


async def test_month_boundaries_are_the_entitys_local_time(world: World, parts) -> None:
    """A session at 23:30 Berlin time on 31 October (22:30 UTC) belongs to
    October; one at 00:30 on 1 November (23:30 UTC on 31 October) does not."""
    rater, runs, _ = parts
    late_october = await charge(world, world.station_a, datetime(2026, 10, 31, 22, 30, tzinfo=UTC))
    early_november = await charge(
        world, world.station_a, datetime(2026, 10, 31, 23, 30, tzinfo=UTC)
    )
    await rater.rate_all()
    principal = system_principal(await load_tree())
    (october,) = (await runs.run(principal, world.sub_cpo, "2026-10", preview=False)).issued
    billed = {
        row["session"] for row in await Cdr.select(Cdr.session).where(Cdr.document == october.id)
    }
    assert billed == {late_october}
    (november,) = (await runs.run(principal, world.sub_cpo, "2026-11", preview=False)).issued
    billed = {
        row["session"] for row in await Cdr.select(Cdr.session).where(Cdr.document == november.id)
    }
    assert billed == {early_november}


async def test_a_session_rated_after_its_periods_run_is_billed_next_time(
    world: World, parts
) -> None:
    """A late October session rated after October's run is billed by
    November's run, never lost."""
    rater, runs, _ = parts
    principal = system_principal(await load_tree())
    await charge(world, world.station_a, datetime(2026, 10, 5, 10, tzinfo=UTC))
    await rater.rate_all()
    await runs.run(principal, world.sub_cpo, "2026-10", preview=False)
    late = await charge(world, world.station_a, datetime(2026, 10, 20, 10, tzinfo=UTC))
    await rater.rate_all()
    (november,) = (await runs.run(principal, world.sub_cpo, "2026-11", preview=False)).issued
    document = from_json(november.content)
    assert document.period_start == date(2026, 10, 20)
    (row,) = await Cdr.select(Cdr.document).where((Cdr.session == late) & (Cdr.audience == "emp"))
    assert row["document"] == november.id


async def test_a_preview_is_a_draft_until_issued(world: World, parts) -> None:
    """A preview takes no number and issues nothing; issuing it does."""
    rater, runs, _ = parts
    await charge(world, world.station_a, datetime(2026, 10, 5, 10, tzinfo=UTC))
    await rater.rate_all()
    principal = system_principal(await load_tree())
    draft = await runs.run(principal, world.sub_cpo, "2026-10", preview=True)
    assert draft.run.status == "draft" and len(draft.drafts) == 1 and draft.issued == []
    assert await Document.count() == 0
    issued = await runs.issue(principal, draft.run.id)
    assert issued.run.status == "issued"
    assert [d.number for d in issued.issued] == ["A-RE-2026-0001"]
    with pytest.raises(InvalidInput):
        await runs.issue(principal, draft.run.id)


async def test_two_drafts_of_the_same_sessions_issue_once(world: World, parts) -> None:
    """Two drafts of the same period: the first issued wins, the second is
    refused and takes no number (the next number is still gapless)."""
    rater, runs, _ = parts
    await charge(world, world.station_a, datetime(2026, 10, 5, 10, tzinfo=UTC))
    await rater.rate_all()
    principal = system_principal(await load_tree())
    first = await runs.run(principal, world.sub_cpo, "2026-10", preview=True)
    second = await runs.run(principal, world.sub_cpo, "2026-10", preview=True)
    await runs.issue(principal, first.run.id)
    with pytest.raises(InvalidInput, match="billed by another run"):
        await runs.issue(principal, second.run.id)
    assert (await runs.get_run(principal, second.run.id)).status == "superseded"
    await charge(world, world.station_a, datetime(2026, 10, 9, 10, tzinfo=UTC))
    await rater.rate_all()
    (next_invoice,) = (await runs.run(principal, world.sub_cpo, "2026-10", preview=False)).issued
    assert next_invoice.number == "A-RE-2026-0002"


async def test_a_cancellation_reverses_an_invoice(world: World, parts) -> None:
    """Cancelling an invoice issues a document with its own number that
    refers to the original and negates its sums; the original is unchanged
    and cannot be cancelled twice."""
    rater, runs, _ = parts
    await charge(world, world.station_a, datetime(2026, 10, 5, 10, tzinfo=UTC))
    await rater.rate_all()
    principal = system_principal(await load_tree())
    (invoice,) = (await runs.run(principal, world.sub_cpo, "2026-10", preview=False)).issued
    cancellation = await runs.cancel(principal, invoice.id)
    content = from_json(cancellation.content)
    assert cancellation.number == "ST-2026-000001"
    assert cancellation.refers_to_id == invoice.id
    assert content.refers_to_number == invoice.number
    assert content.total_gross == -from_json(invoice.content).total_gross
    assert (await runs.document(principal, invoice.id)).content == invoice.content
    with pytest.raises(InvalidInput, match="already cancelled"):
        await runs.cancel(principal, invoice.id)


async def test_issued_documents_cannot_be_changed_in_the_database(world: World, parts) -> None:
    """The database refuses UPDATE and DELETE of an issued document."""
    rater, runs, _ = parts
    await charge(world, world.station_a, datetime(2026, 10, 5, 10, tzinfo=UTC))
    await rater.rate_all()
    principal = system_principal(await load_tree())
    (invoice,) = (await runs.run(principal, world.sub_cpo, "2026-10", preview=False)).issued
    with pytest.raises(Exception, match="immutable"):
        await Document.update({Document.number: "FORGED"}).where(Document.id == invoice.id)
    with pytest.raises(Exception, match="immutable"):
        await Document.delete().where(Document.id == invoice.id)
    (row,) = await Document.select(Document.number).where(Document.id == invoice.id)
    assert row["number"] == invoice.number


async def test_billing_an_entity_out_of_scope_is_not_found(world: World, parts) -> None:
    """A principal that may not bill an entity is told it does not exist."""
    _, runs, _ = parts
    tree = await load_tree()
    own = system_principal(tree, world.cpo_b)
    from crm.access import AccessProfile, Grant, Principal, Scope

    narrow = Principal(
        user_id=1,
        active_entity_id=world.cpo_b,
        member_entity_ids=frozenset({world.cpo_b}),
        profile=AccessProfile.combine(
            [Grant(frozenset({"billing:run", "billing:read"}), Scope.OWN)]
        ),
        tree=tree,
    )
    assert own is not None
    with pytest.raises(NotFound):
        await runs.run(narrow, world.sub_cpo, "2026-10", preview=True)
    with pytest.raises(InvalidInput, match="YYYY-MM"):
        await runs.run(narrow, world.cpo_b, "October", preview=True)


async def test_a_session_queued_again_is_rated_again_until_billed(world: World, parts) -> None:
    """A session queued again (its stop changed after rating) replaces its
    unbilled CDRs; a draft made before that cannot be issued with the old
    prices; once billed, a CDR stays as billed."""
    rater, runs, _ = parts
    from csms.tables import ChargingSession, RatingQueue

    session = await charge(world, world.station_a, datetime(2026, 10, 5, 10, tzinfo=UTC))
    await rater.rate_all()
    principal = system_principal(await load_tree())
    stale_draft = await runs.run(principal, world.sub_cpo, "2026-10", preview=True)
    await ChargingSession.update({ChargingSession.meter_stop_wh: 1_020_000}).where(
        ChargingSession.id == session
    )
    await RatingQueue.insert(
        RatingQueue(
            session=session,
            completed_at=datetime(2026, 10, 5, 11, tzinfo=UTC),
            enqueued_at=datetime.now(UTC),
        )
    )
    await rater.rate_all()
    (row,) = await Cdr.select(Cdr.total_net_e4, Cdr.draft_run).where(
        (Cdr.session == session) & (Cdr.audience == "emp")
    )
    assert row["total_net_e4"] == 90_000  # 20 kWh x 0.40 + 1.00
    assert row["draft_run"] is None
    with pytest.raises(InvalidInput, match="rated again since the draft"):
        await runs.issue(principal, stale_draft.run.id)
    (invoice,) = (await runs.run(principal, world.sub_cpo, "2026-10", preview=False)).issued
    assert from_json(invoice.content).total_net == Decimal("9.00")

    await RatingQueue.insert(
        RatingQueue(session=session, completed_at=datetime.now(UTC), enqueued_at=datetime.now(UTC))
    )
    await ChargingSession.update({ChargingSession.meter_stop_wh: 1_030_000}).where(
        ChargingSession.id == session
    )
    await rater.rate_all()
    (row,) = await Cdr.select(Cdr.total_net_e4, Cdr.document).where(
        (Cdr.session == session) & (Cdr.audience == "emp")
    )
    assert (row["total_net_e4"], row["document"]) == (90_000, invoice.id)


async def test_a_session_completed_anew_while_rated_is_rated_again(world: World, parts) -> None:
    """The session's stop changes (the charger's stop replacing a rule's)
    while its batch is being rated: recording that batch leaves the newer
    queue revision, and the next rating prices the new stop."""
    _, _, queue = parts
    from csms.storage.sessions import enqueue_rating
    from csms.tables import ChargingSession

    session = await charge(world, world.station_a, datetime(2026, 10, 5, 10, tzinfo=UTC))
    directory = SqlDirectory()
    try:
        rater = Rater(queue, directory, PiccoloTariffLookup())
        (taken,) = await queue.next_batch(10)
        entities = await directory.entities()
        communities = Communities(entities, await directory.community_partners())
        cdrs = await rater.rate_session(taken, entities, communities)
        # Meanwhile the session completes anew with 10 kWh more.
        await ChargingSession.update({ChargingSession.meter_stop_wh: 1_020_000}).where(
            ChargingSession.id == session
        )
        await enqueue_rating(
            session, completed_at=datetime(2026, 10, 5, 11, tzinfo=UTC), now=datetime.now(UTC)
        )
        await queue.record(cdrs, [taken])
        assert await queue.pending() == 1
        (again,) = await queue.next_batch(10)
        assert (again.id, again.queue_revision) == (session, taken.queue_revision + 1)
        assert await rater.rate_all() == 1
        assert await queue.pending() == 0
    finally:
        await directory.close()
    (row,) = await Cdr.select(Cdr.total_net_e4).where(
        (Cdr.session == session) & (Cdr.audience == "emp")
    )
    assert row["total_net_e4"] == 90_000  # 20 kWh x 0.40 + 1.00, not the 10 kWh taken first


async def test_a_contacts_documents_are_listed_newest_first_without_content(
    world: World, parts
) -> None:
    """The documents addressed to a contact (the drivers' app lists a
    driver's invoices so), its invoice and that invoice's cancellation,
    newest first; another contact's documents are not among them."""
    rater, runs, _ = parts
    await charge(world, world.station_a, datetime(2026, 10, 5, 10, tzinfo=UTC))
    await rater.rate_all()
    principal = system_principal(await load_tree())
    issued = (await runs.run(principal, world.emp, "2026-10", preview=False)).issued
    (invoice,) = [d for d in issued if d.recipient_contact_id == world.customer]
    cancellation = await runs.cancel(principal, invoice.id)
    store = SqlBillingStore()
    try:
        listed = await store.contact_documents(world.customer, limit=10)
        assert [(d.id, d.kind, d.number) for d in listed] == [
            (cancellation.id, "cancellation", cancellation.number),
            (invoice.id, "invoice", invoice.number),
        ]
        assert listed[1].total_gross_e4 == invoice.total_gross_e4
        assert listed[0].refers_to_id == invoice.id
        assert not hasattr(listed[0], "content")
        assert await store.contact_documents(world.customer, limit=1) == listed[:1]
        others = {d.recipient_contact_id for d in issued} - {world.customer}
        for contact in others - {None}:
            assert all(
                d.recipient_contact_id == contact
                for d in await store.contact_documents(contact, limit=10)
            )
    finally:
        await store.close()


async def test_the_cdr_document_and_run_indexes_hold_set_values_only(db: None) -> None:
    """The migrated database indexes a CDR's document and draft run only where
    they are set (a billing run appends to them), and a lookup by document
    still uses its index."""
    engine = current_engine()
    if is_sqlite(engine):
        rows = await Cdr.raw(
            "SELECT name, sql AS definition FROM sqlite_master"
            " WHERE name IN ('cdr_document', 'cdr_draft_run')"
        ).run()
        plan = await Cdr.raw("EXPLAIN QUERY PLAN SELECT id FROM cdr WHERE document = 5").run()
        used = " ".join(str(row["detail"]) for row in plan)
    else:
        rows = await Cdr.raw(
            "SELECT indexname AS name, indexdef AS definition FROM pg_indexes"
            " WHERE indexname IN ('cdr_document', 'cdr_draft_run')"
        ).run()
        async with engine.transaction():  # SET LOCAL: this transaction only
            await Cdr.raw("SET LOCAL enable_seqscan = off").run()
            plan = await Cdr.raw("EXPLAIN SELECT id FROM cdr WHERE document = 5").run()
        used = " ".join(str(value) for row in plan for value in row.values())
    definitions = {row["name"]: row["definition"] for row in rows}
    assert set(definitions) == {"cdr_document", "cdr_draft_run"}
    assert all("IS NOT NULL" in d.upper() for d in definitions.values()), definitions
    assert "cdr_document" in used, used
