"""The directory pages (entity tree, users, groups) in a real browser on a
real node: users of different entities and scopes log in, switch entity,
create, edit, move and deactivate an entity, create, edit and deactivate a
user, create and edit a group; every form's bad input shows the field's
message with what was entered kept; hidden fields stay hidden; screenshots
of the entity tree and the users page (docs/screenshots/entities.png,
users.png with CSMS_UI_SCREENSHOTS=1).

Run: ``python -m pytest tests/e2e/test_admin_ui_directory.py -q`` (needs
/usr/bin/chromium)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from crm.tables import Group, GroupMember, User
from tests.e2e.ui_helpers import UiNode, login, operator_user, screenshot, ui_node
from tests.world import make_entity, make_user

__all__ = ["ui_node"]

QUIET_EMAIL = "quiet.colleague@alpha.example"
ALPHA_VAT = "DE811907980"


async def _world() -> dict[str, Any]:
    operator = await make_entity("Operator Holding", kind="operator")
    a = await make_entity(
        "Alpha Energie GmbH", parent=operator, kind="cpo", city="Hamburg", vat_id=ALPHA_VAT
    )
    north = await make_entity("Alpha Nord", parent=a, kind="subsidiary", city="Kiel")
    south = await make_entity("Alpha Süd", parent=a, kind="subsidiary", city="München")
    b = await make_entity("Bravo Mobility AG", parent=operator, kind="emp", city="Bremen")
    users = {
        "olga": await operator_user([operator], email="olga@operator.example", scope="all"),
        "anna": await operator_user([a], email="anna@alpha.example"),
        "max": await operator_user([a, b], email="max@both.example"),
        "hanna": await operator_user(
            [a], email="hanna@alpha.example", hidden=("users.email", "entities.vat_id")
        ),
        "vera": await operator_user(
            [a],
            email="vera@alpha.example",
            scope="own",
            permissions=("entities:read", "users:read", "groups:read"),
        ),
        "bert": await operator_user([b], email="bert@bravo.example"),
        "quiet": await make_user([a], email=QUIET_EMAIL),
    }
    # Names as an operator's directory has them (for the screenshots).
    for key, name in (
        ("olga", "Olga Berger"),
        ("anna", "Anna Schulz"),
        ("max", "Max Hoffmann"),
        ("hanna", "Hanna Vogel"),
        ("vera", "Vera Lang"),
        ("bert", "Bert Brandt"),
        ("quiet", "Quentin Stiller"),
    ):
        await User.update({User.name: name}).where(User.id == users[key]).run()
    for user, group in (
        ("anna", "Operations"),
        ("max", "Dispatch"),
        ("hanna", "Support (no e-mail, no VAT id)"),
        ("vera", "Auditors"),
    ):
        await (
            Group.update({Group.name: group})
            .where(
                Group.id.is_in(
                    GroupMember.select(GroupMember.group).where(GroupMember.user == users[user])
                )
            )
            .run()
        )
    await make_entity("Ladepark Kiel Hafen", parent=north, kind="customer", city="Kiel")
    await make_entity("Ladepark Flensburg", parent=north, kind="customer", city="Flensburg")
    return {
        "operator": operator,
        "a": a,
        "north": north,
        "south": south,
        "b": b,
        "users": users,
    }


@pytest.fixture
def world(ui_node: UiNode) -> dict[str, Any]:
    ui_node.empty()
    return ui_node.run(_world())


async def logged_in(ui_node: UiNode, email: str) -> Any:
    page = await ui_node.new_page()
    await login(page, ui_node.base_url, email)
    await page.wait_for_url(ui_node.base_url + "/")
    return page


async def submit(page: Any, form: str = "[data-testid=entity-form]") -> None:
    async with page.expect_navigation():
        await page.click(f"{form} button[type=submit]")


async def tree_names(page: Any) -> list[str]:
    names = await page.eval_on_selector_all(
        "[data-testid=entity-tree] .tree-name", "links => links.map(a => a.innerText)"
    )
    return list(names)


def test_the_entity_tree_shows_the_subtree_and_a_child_is_created(
    ui_node: UiNode, world: dict[str, Any]
) -> None:
    """A user of A sees A's subtree as a tree (never B or the parent), opens
    the new-entity form from the menu; bad input (no name, an unknown time
    zone, a number range and a customer-number format that cannot be used,
    a bad colour) shows each message beside its field with the entered
    values kept; the corrected form creates the entity under A."""

    async def body() -> None:
        page = await logged_in(ui_node, "anna@alpha.example")
        await page.click("nav.menu >> text=Entities")
        await page.wait_for_url(ui_node.base_url + "/entities")
        assert await tree_names(page) == [
            "Alpha Energie GmbH",
            "Alpha Nord",
            "Ladepark Flensburg",
            "Ladepark Kiel Hafen",
            "Alpha Süd",
        ]
        nested = await page.locator(
            "[data-testid=entity-tree] > li > ul .tree-name", has_text="Alpha Nord"
        ).count()
        assert nested == 1, "Alpha Nord is shown under Alpha Energie GmbH"
        html = await page.content()
        assert "Bravo" not in html and "Operator Holding" not in html
        await page.click("h1 >> text=New entity")
        await page.wait_for_url(re.compile(r".*/entities/new$"))
        await page.fill("#name", "")
        await page.fill("#city", "Lübeck")
        await page.fill("#time_zone", "Mars/Olympus")
        await page.fill("#invoice_number_range", "RE-{year}")
        await page.fill("#customer_number_format", "K-%x")
        await submit(page)
        assert await page.inner_text("#name-error") == "Enter a name."
        assert "unknown time zone" in await page.inner_text("#time_zone-error")
        assert "unknown field(s) {year}" in await page.inner_text("#invoice_number_range-error")
        assert "'%'" in await page.inner_text("#customer_number_format-error")
        assert await page.input_value("#city") == "Lübeck"
        assert await page.input_value("#time_zone") == "Mars/Olympus"
        await page.fill("#name", "Alpha Ost")
        await page.fill("#time_zone", "Europe/Berlin")
        await page.fill("#invoice_number_range", "AO-{yyyy}-{seq:05d}")
        await page.fill("#customer_number_format", "AO-%05d")
        await page.fill("#primary_color", "teal")
        await submit(page)
        assert "colour like #1a2b3c" in await page.inner_text("#primary_color-error")
        assert await page.input_value("#name") == "Alpha Ost"
        await page.fill("#primary_color", "#0f7b6c")
        await page.select_option("#kind", "cpo")
        await submit(page)
        await page.wait_for_url(re.compile(r".*/entities/\d+\?saved=1$"))
        assert await page.get_by_role("status").inner_text() == "Saved."
        assert await page.get_by_test_id("entity-name").inner_text() == "Alpha Ost"
        assert await page.input_value("#invoice_number_range") == "AO-{yyyy}-{seq:05d}"
        assert await page.input_value("#time_zone") == "Europe/Berlin"
        await page.click(".crumbs >> text=Entities")
        assert await tree_names(page) == [
            "Alpha Energie GmbH",
            "Alpha Nord",
            "Ladepark Flensburg",
            "Ladepark Kiel Hafen",
            "Alpha Ost",
            "Alpha Süd",
        ]
        await screenshot(page, "entities")
        await page.context.close()

    ui_node.run(body())


def test_an_entity_is_edited_moved_and_deactivated(ui_node: UiNode, world: dict[str, Any]) -> None:
    """Editing checks the fields (a bad e-mail beside its field); moving
    offers only the entities the service allows (never the entity itself
    or its descendants) and shows the service's refusal beside the field
    when another is sent; the entity one works in cannot be deactivated
    (the message beside the button), a sub-entity can."""

    async def body() -> None:
        base = ui_node.base_url
        page = await logged_in(ui_node, "anna@alpha.example")
        await page.goto(f"{base}/entities/{world['north']}")
        await page.fill("#email", "not an address")
        await page.fill("#street", "Hafenstraße 5")
        await submit(page)
        assert "email is an address like" in await page.inner_text("#email-error")
        assert await page.input_value("#street") == "Hafenstraße 5"
        await page.fill("#email", "nord@alpha.example")
        await submit(page)
        await page.wait_for_url(re.compile(r".*\?saved=1$"))
        assert await page.input_value("#email") == "nord@alpha.example"
        assert await page.input_value("#street") == "Hafenstraße 5"

        # Move Alpha Nord under Alpha Süd.
        options = await page.eval_on_selector_all(
            "#parent_id option:not([disabled])", "os => os.map(o => o.innerText.trim())"
        )
        assert options == ["Alpha Energie GmbH", "Alpha Süd"]
        await page.select_option("#parent_id", str(world["south"]))
        await submit(page, "[data-testid=move-form]")
        await page.wait_for_url(re.compile(r".*\?saved=1$"))
        crumbs = await page.inner_text(".crumbs")
        assert "Alpha Energie GmbH" in crumbs and "Alpha Süd" in crumbs

        # Alpha Süd under Alpha Nord (now its descendant) is not offered;
        # sent anyway, the service refuses it beside the field.
        await page.goto(f"{base}/entities/{world['south']}")
        offered = await page.eval_on_selector_all("#parent_id option", "os => os.map(o => o.value)")
        assert str(world["north"]) not in offered
        await page.eval_on_selector(
            "#parent_id",
            "(s, id) => { const o = document.createElement('option');"
            " o.value = id; o.text = 'x'; s.appendChild(o); s.value = id; }",
            str(world["north"]),
        )
        await submit(page, "[data-testid=move-form]")
        assert "one of its own descendants" in await page.inner_text("#parent_id-error")

        # Not the entity one works in; a sub-entity, yes.
        await page.goto(f"{base}/entities/{world['a']}")
        await submit(page, "[data-testid=active-form]")
        assert await page.inner_text("#active-error") == (
            "you cannot deactivate the entity you are working in"
        )
        await page.goto(f"{base}/entities/{world['north']}")
        await submit(page, "[data-testid=active-form]")
        await page.wait_for_url(re.compile(r".*\?saved=1$"))
        assert await page.get_by_test_id("entity-status").inner_text() == "Inactive"
        await page.goto(f"{base}/entities")
        assert await page.locator(".tree-node.inactive", has_text="Alpha Nord").count() == 1
        await page.context.close()

    ui_node.run(body())


def test_a_user_is_created_edited_and_deactivated(ui_node: UiNode, world: dict[str, Any]) -> None:
    """The users list holds A's users only (searchable, sortable); a new
    user with bad input (an address that is none, a short password, no
    entity) shows each message beside its field, the name kept; then the
    user is created in a group, logs in, is edited (a taken address is
    refused beside the field) and deactivated; nobody deactivates
    themselves."""

    async def body() -> None:
        base = ui_node.base_url
        page = await logged_in(ui_node, "anna@alpha.example")
        await page.click("nav.menu >> text=Users")
        await page.wait_for_url(base + "/users")
        listed = await page.inner_text("[data-testid=users] tbody")
        for email in ("anna@alpha.example", "max@both.example", QUIET_EMAIL):
            assert email in listed
        assert "bert@bravo.example" not in listed
        assert "Bravo" not in await page.content()
        await page.fill("input[name=q]", "quiet")
        async with page.expect_navigation():
            await page.click("form.filters button[type=submit]")
        assert await page.locator("[data-testid=users] tbody tr").count() == 1
        await page.goto(base + "/users?sort=-email")
        emails = await page.eval_on_selector_all(
            "[data-testid=users] tbody tr td:nth-child(2)", "cells => cells.map(c => c.innerText)"
        )
        assert emails == sorted(emails, reverse=True)

        await page.goto(base + "/users")
        await page.click("h1 >> text=New user")
        await page.wait_for_url(re.compile(r".*/users/new$"))
        await page.fill("#name", "Nina Neu")
        await page.fill("#email", "not-an-address")
        await page.fill("#password", "short")
        await page.uncheck(f"input[name=entity_ids][value='{world['a']}']")
        await submit(page, "[data-testid=user-form]")
        assert await page.inner_text("#password-error") == "A password has at least 10 characters."
        assert await page.inner_text("#entity_ids-error") == "Choose at least one entity."
        assert await page.input_value("#name") == "Nina Neu"
        await page.fill("#password", "a long enough passphrase")
        await page.check(f"input[name=entity_ids][value='{world['north']}']")
        await page.select_option("#default_entity_id", str(world["north"]))
        await submit(page, "[data-testid=user-form]")
        assert "email is an address like" in await page.inner_text("#email-error")
        assert await page.input_value("#name") == "Nina Neu"
        await page.fill("#email", "nina@alpha.example")
        await page.fill("#password", "a long enough passphrase")
        await page.locator("label.check", has_text="Operations").locator("input").check()
        await submit(page, "[data-testid=user-form]")
        await page.wait_for_url(re.compile(r".*/users/\d+\?saved=1$"))
        nina_url = page.url.split("?")[0]
        assert await page.get_by_test_id("user-name").inner_text() == "Nina Neu"
        assert await page.locator("input[name=group_ids]:checked").count() == 1

        newcomer = await ui_node.new_page()
        await login(newcomer, base, "nina@alpha.example", "a long enough passphrase")
        await newcomer.wait_for_url(base + "/")
        assert await newcomer.get_by_test_id("brand-name").inner_text() == "Alpha Nord"
        await newcomer.context.close()

        await page.fill("#email", "anna@alpha.example")
        await page.fill("#name", "Nina Neumann")
        await submit(page, "[data-testid=user-form]")
        assert "exists already" in await page.inner_text("#email-error")
        assert await page.input_value("#name") == "Nina Neumann"
        await page.fill("#email", "nina.neumann@alpha.example")
        await submit(page, "[data-testid=user-form]")
        await page.wait_for_url(re.compile(r".*\?saved=1$"))
        assert await page.get_by_test_id("user-name").inner_text() == "Nina Neumann"
        await submit(page, "[data-testid=active-form]")
        await page.wait_for_url(re.compile(r".*\?saved=1$"))
        assert await page.get_by_test_id("user-status").inner_text() == "Inactive"
        assert nina_url.startswith(base + "/users/")

        await page.goto(f"{base}/users/{world['users']['anna']}")
        await submit(page, "[data-testid=active-form]")
        assert await page.inner_text("#active-error") == "you cannot deactivate yourself"
        await page.goto(base + "/users")
        await screenshot(page, "users")
        await page.context.close()

    ui_node.run(body())


def test_a_group_is_created_and_edited_within_ones_own_rights(
    ui_node: UiNode, world: dict[str, Any]
) -> None:
    """A group needs a name, a unique one, and gives no more than its maker
    has (a scope of all entities for a user who sees a subtree is refused
    beside the permissions); a good one is created with its permissions
    and hidden fields, edited, and deleted."""

    async def body() -> None:
        base = ui_node.base_url
        page = await logged_in(ui_node, "anna@alpha.example")
        await page.click("nav.menu >> text=Groups")
        await page.wait_for_url(base + "/groups")
        await page.click("h1 >> text=New group")
        await page.fill("#name", "")
        await page.check("input[name=permissions][value='contacts:read']")
        await submit(page, "[data-testid=group-form]")
        assert await page.inner_text("#name-error") == "Enter a name."
        assert await page.is_checked("input[name=permissions][value='contacts:read']")
        await page.fill("#name", "Hotline")
        await page.select_option("#scope", "all")
        await submit(page, "[data-testid=group-form]")
        assert "rights you do not have" in await page.inner_text("#permissions-error")
        assert await page.input_value("#name") == "Hotline"
        await page.select_option("#scope", "subtree")
        await page.check("input[name=permissions][value='media:*']")
        await page.check("input[name=hidden_fields][value='contacts.iban']")
        await submit(page, "[data-testid=group-form]")
        await page.wait_for_url(re.compile(r".*/groups/\d+\?saved=1$"))
        assert await page.get_by_test_id("group-name").inner_text() == "Hotline"
        assert await page.is_checked("input[name=permissions][value='media:*']")
        assert await page.is_checked("input[name=hidden_fields][value='contacts.iban']")

        await page.goto(base + "/groups/new")
        await page.fill("#name", "Hotline")
        await submit(page, "[data-testid=group-form]")
        assert "has a group named 'Hotline'" in await page.inner_text("#name-error")

        await page.goto(base + "/groups")
        await page.click("[data-testid=groups] >> text=Hotline")
        await page.uncheck("input[name=hidden_fields][value='contacts.iban']")
        await page.fill("#description", "First-level support")
        await submit(page, "[data-testid=group-form]")
        await page.wait_for_url(re.compile(r".*\?saved=1$"))
        assert not await page.is_checked("input[name=hidden_fields][value='contacts.iban']")
        await page.fill("#name", "   ")
        await submit(page, "[data-testid=group-form]")
        assert await page.inner_text("#name-error") == "Enter a name."
        await page.goto(page.url.split("?")[0])
        await submit(page, "[data-testid=delete-form]")
        await page.wait_for_url(re.compile(r".*/groups\?deleted=1$"))
        assert "Hotline" not in await page.inner_text("[data-testid=groups]")
        await page.context.close()

    ui_node.run(body())


def test_users_of_other_entities_and_scopes_see_their_own_directory(
    ui_node: UiNode, world: dict[str, Any]
) -> None:
    """A user of A and B switches to B and sees B's tree and users, not A's;
    a user who sees every entity creates a new root; a read-only user of A
    (scope: own) sees the forms without a way to save them."""

    async def body() -> None:
        base = ui_node.base_url
        page = await logged_in(ui_node, "max@both.example")
        await page.goto(base + "/entities")
        assert "Alpha Energie GmbH" in await tree_names(page)
        await page.select_option("#entity-switch", str(world["b"]))
        await page.wait_for_function(
            "() => document.querySelector('[data-testid=brand-name]').innerText"
            " === 'Bravo Mobility AG'"
        )
        assert page.url == base + "/entities"
        assert await tree_names(page) == ["Bravo Mobility AG"]
        await page.goto(base + "/users")
        listed = await page.inner_text("[data-testid=users] tbody")
        assert "bert@bravo.example" in listed and "anna@alpha.example" not in listed
        await page.context.close()

        page = await logged_in(ui_node, "olga@operator.example")
        await page.goto(base + "/entities")
        names = await tree_names(page)
        assert names[0] == "Operator Holding" and "Bravo Mobility AG" in names
        await page.goto(base + "/entities/new")
        await page.select_option("#parent_id", "root")
        await page.fill("#name", "Charlie Netz")
        await submit(page)
        await page.wait_for_url(re.compile(r".*/entities/\d+\?saved=1$"))
        await page.goto(base + "/entities?all=1")
        assert "Charlie Netz" in await tree_names(page)
        await page.context.close()

        page = await logged_in(ui_node, "vera@alpha.example")
        await page.goto(base + "/entities")
        assert await tree_names(page) == ["Alpha Energie GmbH"]
        assert await page.locator("text=New entity").count() == 0
        await page.click("[data-testid=entity-tree] >> text=Alpha Energie GmbH")
        assert await page.locator("[data-testid=entity-form] button[type=submit]").count() == 0
        assert await page.locator("[data-testid=move-form]").count() == 0
        response = await page.goto(base + "/entities/new")
        assert response is not None and response.status == 403
        await page.context.close()

    ui_node.run(body())


def test_hidden_fields_stay_hidden_on_the_directory_pages(
    ui_node: UiNode, world: dict[str, Any]
) -> None:
    """A user whose group hides users' e-mail addresses and entities' VAT ids
    sees 'hidden' where they are, never their values, cannot find a user
    by a hidden address, and saving an entity keeps its hidden VAT id."""

    async def body() -> None:
        base = ui_node.base_url
        page = await logged_in(ui_node, "hanna@alpha.example")
        await page.goto(base + "/users")
        assert QUIET_EMAIL not in await page.content()
        assert await page.locator("[data-testid=users] td >> text=hidden").count() >= 1
        await page.goto(base + "/users?q=quiet.colleague")
        assert await page.locator("[data-testid=users] tbody tr td.muted").count() == 1
        assert QUIET_EMAIL not in await page.content()
        await page.goto(f"{base}/users/{world['users']['quiet']}")
        assert QUIET_EMAIL not in await page.content()
        assert await page.locator("#email").count() == 0
        await page.goto(f"{base}/entities/{world['a']}")
        assert ALPHA_VAT not in await page.content()
        assert await page.locator("#vat_id").count() == 0
        assert "VAT id" in await page.inner_text("[data-testid=hidden-fields]")
        await page.fill("#city", "Hamburg-Altona")
        await submit(page)
        await page.wait_for_url(re.compile(r".*\?saved=1$"))
        await page.context.close()

        page = await logged_in(ui_node, "anna@alpha.example")
        await page.goto(f"{base}/entities/{world['a']}")
        assert await page.input_value("#vat_id") == ALPHA_VAT
        assert await page.input_value("#city") == "Hamburg-Altona"
        await page.context.close()

    ui_node.run(body())
