"""Browser tests of the operators' pages: a real node (gateway and web app)
on free ports and Debian's Chromium driven by Playwright's async API, both
in a thread of their own with its own event loop, one of each per test
module (the tests' own loops, pytest-asyncio's, are never touched: Playwright's
sync API would leave a loop running in the main thread for every later
async test).

A test is a plain function that hands its async body to
:meth:`UiNode.run`; the browser talks to the node over real HTTP.
Screenshots go to docs/screenshots/ with CSMS_UI_SCREENSHOTS=1."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import tempfile
import threading
from collections.abc import Coroutine, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import pytest

from crm.passwords import hash_password
from csms.bootstrap import Node
from csms.settings import Settings
from tests.conftest import empty_tables
from tests.world import PASSWORD, make_group, make_user

T = TypeVar("T")

CHROMIUM = os.environ.get("CSMS_TEST_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
# Waits of the browser (ms): a page of ours answers in well under a second.
TIMEOUT_MS = 10_000


def chromium_or_skip() -> str:
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (./scripts/test installs Debian's chromium)")
    return CHROMIUM


class UiNode:
    """A node started in a thread of its own; ``run`` awaits a coroutine in
    the node's loop and gives back its result."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="ui-node", daemon=True)
        self._thread.start()
        self.node: Node | None = None
        self.nodes: list[Node] = []
        self._playwright: Any = None
        self.browser: Any = None
        self._background: list[Future[Any]] = []

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> Future[Any]:
        """Runs ``coro`` in the node's loop without waiting (a charger)."""
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        self._background.append(future)
        return future

    def start(self, **overrides: Any) -> Node:
        """The node the browser talks to (the first one started)."""
        node = self.start_node(**overrides)
        if self.node is None:
            self.node = node
        return node

    def start_node(self, **overrides: Any) -> Node:
        """Another node in the same loop (``cluster``: an InProcessCluster
        the nodes share, as the processes of an installation share Redis)."""
        cluster = overrides.pop("cluster", None)
        local: dict[str, Any] = {
            # Failed logins are counted in this process, not in a Redis that
            # keeps earlier runs' failures from 127.0.0.1 (the nodes of a
            # test share a bus through ``cluster``).
            "redis_url": None,
            "ocpp_host": "127.0.0.1",
            "ocpp_port": 0,
            "http_host": "127.0.0.1",
            "http_port": 0,
        }

        async def start() -> Node:
            settings = dataclasses.replace(Settings.from_env(), **{**local, **overrides})
            node = Node(settings, cluster=cluster)
            await node.start()
            return node

        node = self.run(start(), timeout=60)
        self.nodes.append(node)
        return node

    def launch(self) -> None:
        """Debian's Chromium, headless (never a browser Playwright downloads)."""
        from playwright.async_api import async_playwright

        async def launch() -> None:
            self._playwright = await async_playwright().start()
            self.browser = await self._playwright.chromium.launch(
                executable_path=chromium_or_skip(), headless=True
            )

        self.run(launch(), timeout=60)

    async def new_page(self) -> Any:
        """A page in a fresh browser context (no cookies)."""
        context = await self.browser.new_context(viewport={"width": 1360, "height": 860})
        page = await context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        return page

    @property
    def base_url(self) -> str:
        assert self.node is not None
        return f"http://127.0.0.1:{self.node.http_port}"

    def ocpp_url(self, node: Node | None = None) -> str:
        node = node or self.node
        assert node is not None
        return f"ws://127.0.0.1:{node.ocpp_port}/ocpp"

    def empty(self) -> None:
        self.run(empty_tables())

    def stop(self) -> None:
        for future in self._background:
            future.cancel()
        if self.browser is not None:
            self.run(self.browser.close())
        if self._playwright is not None:
            self.run(self._playwright.stop())
        for node in reversed(self.nodes):
            self.run(node.stop(), timeout=60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def ui_node() -> Iterator[UiNode]:
    """The module's node and browser: one of each for all its tests (the
    node is stopped after the module, so its database connections never
    outlive it into other tests' event loops)."""
    chromium_or_skip()
    node = UiNode()
    try:
        node.start()
        node.launch()
        yield node
    finally:
        node.stop()


async def operator_user(
    entities: list[int],
    *,
    email: str,
    scope: str = "subtree",
    permissions: tuple[str, ...] = ("*",),
    hidden: tuple[str, ...] = (),
) -> int:
    """A user with a password (PASSWORD) in ``entities``, allowed
    ``permissions`` with ``scope`` through a group of the first entity."""
    group = await make_group(entities[0], scope=scope, permissions=permissions, hidden=hidden)
    return await make_user(
        entities,
        [group],
        email=email,
        password_hash=hash_password(PASSWORD, os.environ.get("CSMS_PASSWORD_HASHING", "fast")),
    )


async def screenshot(page: Any, name: str) -> None:
    """Saves the page (viewport) as <name>.png: in docs/screenshots/ with
    CSMS_UI_SCREENSHOTS=1 (to refresh the committed ones), else in a
    temporary directory (a test run leaves the checkout as it was)."""
    if os.environ.get("CSMS_UI_SCREENSHOTS") == "1":
        target = SCREENSHOTS
    else:
        target = Path(tempfile.gettempdir()) / "csms-ui-screenshots"
    target.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(target / f"{name}.png"))


async def login(page: Any, base_url: str, email: str, password: str = PASSWORD) -> None:
    await page.goto(base_url + "/login")
    await page.fill("#email", email)
    await page.fill("#password", password)
    await page.click("button[type=submit].primary")


async def logged_in_page(ui: UiNode, email: str, path: str = "") -> Any:
    """A new page of ``ui``, logged in as ``email`` (at the dashboard), then
    at ``path`` when one is given."""
    page = await ui.new_page()
    await login(page, ui.base_url, email)
    await page.wait_for_url(ui.base_url + "/")
    if path:
        await page.goto(ui.base_url + path)
    return page


async def follow_live_link(page: Any, link: Any, url: str, attempts: int = 3) -> None:
    """Clicks a link inside a live part until the page is at ``url``. A part
    that changed (the station's presence arriving just after the page was
    made) is swapped, and a click landing in that moment goes with it, as a
    person's would, who then clicks again; a wrong link fails every time."""
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    for attempt in range(1, attempts + 1):
        await link.click()
        try:
            await page.wait_for_url(url, timeout=5000)
            return
        except PlaywrightTimeout:
            if attempt == attempts:
                raise
