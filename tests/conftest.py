"""Test set-up: a real database of the kind CSMS_DATABASE_URL names.

Unset (the default): a fresh SQLite file per test run. A ``postgresql://``
URL: a fresh database is created on that server for the run and dropped at
the end, so runs never see each other's rows. Every test that touches the
database starts from empty tables.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.loop_pools import pools_per_loop

# The server named when the run started: pytest-xdist workers inherit the
# environment after the controller has pointed CSMS_DATABASE_URL at a
# database of its own, so the original is kept aside for them.
_BASE_URL = os.environ.setdefault(
    "CSMS_TESTS_DATABASE_SERVER", os.environ.get("CSMS_DATABASE_URL", "")
)
_TMP = tempfile.mkdtemp(prefix="csms-tests-")
_PG_DATABASE: str | None = None

if _BASE_URL.startswith(("postgresql://", "postgres://")):
    _PG_DATABASE = f"csms_test_{uuid.uuid4().hex[:12]}"
    _parts = urlsplit(_BASE_URL)
    os.environ["CSMS_DATABASE_URL"] = urlunsplit(_parts._replace(path=f"/{_PG_DATABASE}"))
else:
    os.environ["CSMS_DATABASE_URL"] = f"sqlite:///{_TMP}/csms.sqlite"

# Redis keys and channels of this run (of this pytest-xdist worker) alone:
# parallel workers and runs share the machine's Redis without meeting.
os.environ["CSMS_REDIS_PREFIX"] = f"csms-test-{uuid.uuid4().hex[:8]}:"

# Settings for every node the tests start; single tests override what they need.
os.environ.setdefault("CSMS_LOG_LEVEL", "INFO")
# Tests create many users; the standard argon2 cost would only slow them down.
os.environ.setdefault("CSMS_PASSWORD_HASHING", "fast")
# Hosted files (firmware, uploads) of the run (of each worker) go with its
# temporary directory, unless the one who started the run chose a folder.
if "CSMS_FILES_DIR" not in os.environ or os.environ.get("CSMS_TESTS_OWN_FILES_DIR"):
    os.environ["CSMS_FILES_DIR"] = f"{_TMP}/files"
    os.environ["CSMS_TESTS_OWN_FILES_DIR"] = "1"

TABLES_IN_DELETE_ORDER = (
    "audit_log",
    "document_layout",
    "billing_document",
    "billing_run",
    "number_range",
    "cdr",
    "community_partner",
    "tariff_assignment",
    "tariff_version",
    "tariff",
    "meter_value",
    "ocpp_message",
    "station_event",
    "security_event",
    "station_variable",
    "connector_status_change",
    "connector",
    "session_state_change",
    "rating_queue",
    "charging_session",
    "access_rule",
    "station_upload",
    "upload_slot",
    "local_list_state",
    "firmware_file",
    "station",
    "station_group",
    "driver_token",
    "driver_login",
    "registration_code",
    "mail_outbox",
    "medium",
    "login_session",
    "group_member",
    "user_group",
    "membership",
    "app_user",
    "contact_document",
    "contact_share",
    "contact",
    "entity",
)


async def _admin_execute(statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(_BASE_URL)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def _is_xdist_controller(config: pytest.Config) -> bool:
    """Under ``pytest -n N`` the controller runs no test: only its workers
    need (each their own) database."""
    return not hasattr(config, "workerinput") and bool(config.getoption("numprocesses", None))


def pytest_sessionstart(session: pytest.Session) -> None:
    if _is_xdist_controller(session.config):
        return
    if _PG_DATABASE is not None:
        asyncio.run(_admin_execute(f'CREATE DATABASE "{_PG_DATABASE}"'))
    from csms.storage.database import current_engine
    from csms.storage.migrate import migrate

    asyncio.run(migrate())
    pools_per_loop(current_engine())


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _is_xdist_controller(session.config):
        shutil.rmtree(_TMP, ignore_errors=True)
        return
    _forget_redis_keys(os.environ["CSMS_REDIS_PREFIX"] + "*")
    if _PG_DATABASE is not None:
        asyncio.run(_admin_execute(f'DROP DATABASE IF EXISTS "{_PG_DATABASE}" WITH (FORCE)'))
    shutil.rmtree(_TMP, ignore_errors=True)


# Rate-limit counters in Redis (failed logins, the drivers' app's attempts)
# outlive a test and a test run: every test from 127.0.0.1 would add to one
# address's count until logins answered 429.
_REDIS_COUNTER_PATTERNS = tuple(
    os.environ["CSMS_REDIS_PREFIX"] + kind for kind in ("login:*", "app:*")
)


@pytest.fixture(autouse=True)
def _no_rate_limit_counts_left() -> None:
    """Each test starts without failed-login or app-attempt counts in Redis."""
    _forget_redis_keys(*_REDIS_COUNTER_PATTERNS)


def _forget_redis_keys(*patterns: str) -> None:
    url = os.environ.get("CSMS_REDIS_URL")
    if not url:
        return
    import redis

    client = redis.Redis.from_url(url)
    try:
        for pattern in patterns:
            keys = list(client.scan_iter(match=pattern, count=1000))
            if keys:
                client.delete(*keys)
    finally:
        client.close()


if _PG_DATABASE is not None:

    @pytest.fixture(autouse=True)
    async def _a_pool_for_the_tests_loop(request: pytest.FixtureRequest) -> AsyncIterator[None]:
        """On PostgreSQL, the test's event loop queries through a pool of its
        own (tests/loop_pools.py), not a new connection per query."""
        from csms.storage.database import current_engine

        if request.node.get_closest_marker("backend_independent") is not None:
            yield
            return
        engine = pools_per_loop(current_engine())
        assert engine is not None
        pool = await engine.open_loop_pool()
        try:
            yield
        finally:
            await engine.close_loop_pool(pool)


# What a test marked backend_independent must not call: every way into a
# database or Redis (piccolo's engines, the drivers, the clients) and child
# processes (a server or a command would open the database).
_BACKEND_ENTRY_POINTS = (
    ("piccolo.engine.sqlite", "SQLiteEngine.run_querystring"),
    ("piccolo.engine.sqlite", "SQLiteEngine.run_ddl"),
    ("piccolo.engine.sqlite", "SQLiteEngine.transaction"),
    ("piccolo.engine.postgres", "PostgresEngine.run_querystring"),
    ("piccolo.engine.postgres", "PostgresEngine.run_ddl"),
    ("piccolo.engine.postgres", "PostgresEngine.transaction"),
    ("sqlite3", "connect"),
    ("asyncpg", "connect"),
    ("asyncpg", "create_pool"),
    ("redis", "Redis.__init__"),
    ("redis.asyncio", "Redis.__init__"),
    ("subprocess", "Popen.__init__"),
)


@pytest.fixture(autouse=True)
def _backend_independent_stays_so(
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    _no_rate_limit_counts_left: None,
) -> Iterator[None]:
    """A test marked backend_independent fails if it reached a database,
    Redis or a child process: .ci/run leaves it out of the PostgreSQL and
    Redis pass on the strength of the mark. (Recorded and failed at the end,
    so code that swallows errors cannot hide the call. The suite's own
    Redis clean-up runs before the check.)"""
    if request.node.get_closest_marker("backend_independent") is None:
        yield
        return
    import importlib

    reached: list[str] = []
    for module_name, dotted in _BACKEND_ENTRY_POINTS:
        owner: Any = importlib.import_module(module_name)
        *path, name = dotted.split(".")
        for part in path:
            owner = getattr(owner, part)
        original = getattr(owner, name)

        def record(
            *args: Any, _original: Any = original, _what: str = dotted, **kwargs: Any
        ) -> Any:
            reached.append(f"{_what}")
            return _original(*args, **kwargs)

        monkeypatch.setattr(owner, name, record)
    yield
    if reached:
        pytest.fail(
            "marked backend_independent but reached " + ", ".join(sorted(set(reached))),
            pytrace=False,
        )


@pytest.fixture
def database_url() -> str:
    return os.environ["CSMS_DATABASE_URL"]


@pytest.fixture
def tmp_dir() -> Iterator[str]:
    directory = tempfile.mkdtemp(prefix="csms-test-", dir=_TMP)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


async def empty_tables(*, restart_ids: bool = True) -> None:
    """Deletes every row of every table (the ``db`` fixture; property tests
    call it for each hypothesis example). ``restart_ids``: ids start at 1
    again, which PostgreSQL's TRUNCATE does at about 50 ms a table set, too
    slow for hundreds of hypothesis examples that do not care about ids."""
    from csms.storage.database import current_engine

    engine = current_engine()
    if engine.engine_type == "sqlite" or not restart_ids:
        # (SQLite reuses ids from the largest one left, so from 1 when empty.)
        for table in TABLES_IN_DELETE_ORDER:
            if table == "billing_document":
                await _empty_immutable_documents(engine)
                continue
            if table == "audit_log":
                await _empty_audit_log(engine)
                continue
            if table == "entity":
                # RESTRICT is checked row by row: unhang the tree first.
                await engine.run_ddl('UPDATE "entity" SET parent = NULL')
            await engine.run_ddl(f'DELETE FROM "{table}"')
    else:
        import asyncpg

        truncate = (
            "TRUNCATE "
            + ", ".join(f'"{t}"' for t in TABLES_IN_DELETE_ORDER)
            + " RESTART IDENTITY CASCADE"
        )
        # A node a test module shares (the browser tests') may still be
        # writing what the previous test left running (a charger's session,
        # the rater): TRUNCATE's locks and its transaction can deadlock,
        # and PostgreSQL then aborts one of them. Ours is simply retried.
        for attempt in range(5):
            try:
                await engine.run_ddl(truncate)
                return
            except asyncpg.exceptions.DeadlockDetectedError:
                if attempt == 4:
                    raise
                await asyncio.sleep(0.2 * (attempt + 1))


async def _empty_immutable_documents(engine: object) -> None:
    """Issued documents refuse DELETE (a trigger); tests start empty anyway:
    PostgreSQL's TRUNCATE fires no row trigger, SQLite's triggers are set
    aside for the delete."""
    import importlib

    immutability = importlib.import_module(
        "billing.piccolo_migrations.billing_2026_12_05t22_58_01_000000"
    )
    run = engine.run_ddl  # type: ignore[attr-defined]
    if engine.engine_type == "sqlite":  # type: ignore[attr-defined]
        await run("DROP TRIGGER IF EXISTS billing_document_no_update")
        await run("DROP TRIGGER IF EXISTS billing_document_no_delete")
        await run('DELETE FROM "billing_document"')
        for statement in immutability.SQLITE_IMMUTABLE_DOCUMENTS:
            await run(statement)
    else:
        await run('TRUNCATE "billing_document" CASCADE')


async def _empty_audit_log(engine: object) -> None:
    """The audit log refuses DELETE (a trigger), as issued documents do."""
    import importlib

    immutability = importlib.import_module("crm.piccolo_migrations.crm_2026_12_06t02_57_37_000000")
    run = engine.run_ddl  # type: ignore[attr-defined]
    if engine.engine_type == "sqlite":  # type: ignore[attr-defined]
        for statement in immutability.SQLITE_DROP:
            await run(statement)
        await run('DELETE FROM "audit_log"')
        for statement in immutability.SQLITE_IMMUTABLE_AUDIT:
            await run(statement)
    else:
        await run('TRUNCATE "audit_log"')


@pytest.fixture
async def db() -> AsyncIterator[None]:
    """Empty tables for this test."""
    await empty_tables()
    yield
