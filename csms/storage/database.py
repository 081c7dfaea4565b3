"""The database engine: built from ``CSMS_DATABASE_URL``, opened and closed.

SQLite (the embedded default) runs in WAL mode with full synchronous commits,
so a committed write survives a power cut; PostgreSQL runs on a connection
pool. Writes use :func:`write_transaction`, which on SQLite takes the write
lock up front (``BEGIN IMMEDIATE``) instead of failing on lock upgrade.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import unquote, urlsplit

from piccolo.columns import Column
from piccolo.engine.base import Engine
from piccolo.engine.finder import engine_finder
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, TransactionType, dict_factory

log = logging.getLogger(__name__)


class DatabaseUrlError(ValueError):
    pass


def sqlite_path(url: str) -> str:
    """``sqlite:///relative/path`` or ``sqlite:////absolute/path``."""
    path = unquote(url.removeprefix("sqlite://"))
    if not path.startswith("/") or path == "/":
        raise DatabaseUrlError(f"not a SQLite URL with a file path: {url!r}")
    path = path[1:]  # "/var/x" -> "var/x", "//abs/x" -> "/abs/x"
    if path in ("", ":memory:"):
        raise DatabaseUrlError("an in-memory SQLite database cannot be shared; give a file")
    return path


class SharedConnectionSQLiteEngine(SQLiteEngine):
    """piccolo's SQLite engine, except that queries outside a transaction
    share one long-lived connection on one thread of its own.

    piccolo opens a new connection, and aiosqlite a new thread, for every
    such query. Under a boot storm the gateway's reads (id tags, active
    sessions) then started thousands of threads at once and Authorize
    stalled for seconds; on one connection each read is one hop to a warm
    connection. Transactions still get a connection each, as in piccolo.
    """

    def __init__(self, path: str, **connection_kwargs: Any) -> None:
        super().__init__(path=path, **connection_kwargs)
        self._reader: ThreadPoolExecutor | None = None
        self._shared: sqlite3.Connection | None = None

    async def _run_in_new_connection(
        self,
        query: str,
        args: list[Any] | None = None,
        query_type: str = "generic",
        table: Any = None,
    ) -> list[dict[str, Any]]:
        if self._reader is None:
            self._reader = ThreadPoolExecutor(1, thread_name_prefix="sqlite-shared")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._reader, self._run_shared, query, args or [])

    def _run_shared(self, query: str, args: list[Any]) -> list[dict[str, Any]]:
        if self._shared is None:
            connection = sqlite3.connect(**self.connection_kwargs)
            connection.row_factory = dict_factory
            connection.execute("PRAGMA foreign_keys = 1")
            self._shared = connection
        try:
            return list(self._shared.execute(query, args).fetchall())
        except sqlite3.DatabaseError as error:
            if not isinstance(error, sqlite3.IntegrityError | sqlite3.OperationalError):
                # A broken connection (the file went away...): start afresh.
                self._close_shared()
            raise

    def _close_shared(self) -> None:
        connection, self._shared = self._shared, None
        if connection is not None:
            connection.close()

    async def close_shared(self) -> None:
        if self._reader is not None:
            reader, self._reader = self._reader, None
            await asyncio.get_running_loop().run_in_executor(reader, self._close_shared)
            reader.shutdown(wait=True)


def engine_from_url(url: str) -> Engine:
    if url.startswith("sqlite://"):
        path = sqlite_path(url)
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        # timeout: how long a connection waits for another's write lock.
        return SharedConnectionSQLiteEngine(path=path, timeout=30)
    if url.startswith(("postgresql://", "postgres://")):
        parts = urlsplit(url)
        if not parts.path.strip("/"):
            raise DatabaseUrlError(f"the PostgreSQL URL names no database: {url!r}")
        return PostgresEngine(config={"dsn": url})
    raise DatabaseUrlError(f"unsupported database URL: {url!r}")


def current_engine() -> Engine:
    engine = engine_finder()
    if engine is None:
        raise RuntimeError("piccolo found no engine; is piccolo_conf importable?")
    return engine


def is_sqlite(engine: Engine | None = None) -> bool:
    return (engine or current_engine()).engine_type == "sqlite"


# Seconds a thread waiting for the GIL waits before asking for it, in a
# process that uses SQLite.
SQLITE_SWITCH_INTERVAL = 0.0002


def share_the_gil_with_sqlite_threads(engine: Engine | None = None) -> None:
    """On SQLite, a short GIL switch interval for this process.

    SQLite runs in threads (the group-commit writer, a billing run's writer,
    read connections) that release the GIL around every row they step and
    must take it back from a busy event loop. At Python's default 5 ms a
    batch of thousands of rows waited seconds for it under a boot storm, and
    a month's billing run (its next entity drafted while the one before
    commits) took 15% longer. PostgreSQL's driver has no such threads."""
    if is_sqlite(engine):
        sys.setswitchinterval(SQLITE_SWITCH_INTERVAL)


async def prepare_database(engine: Engine | None = None) -> None:
    """Settings that belong to the database itself, not to a connection."""
    engine = engine or current_engine()
    if isinstance(engine, SQLiteEngine):
        # WAL lets readers work beside the writer; it is a property of the
        # file, so setting it once per start is enough.
        await engine.run_ddl("PRAGMA journal_mode=WAL")


# Nodes that opened each engine and have not closed it: several nodes in one
# process (tests, a shared port) share the engine, and its pool must live
# until the last of them stops.
_users: dict[int, int] = {}


async def open_database(engine: Engine | None = None, *, pool_size: int = 10) -> None:
    """Prepares the database and, on PostgreSQL, starts the connection pool
    (close it with :func:`close_database` in the same event loop)."""
    engine = engine or current_engine()
    _users[id(engine)] = _users.get(id(engine), 0) + 1
    if _users[id(engine)] > 1:
        return
    await prepare_database(engine)
    if isinstance(engine, PostgresEngine):
        await engine.start_connection_pool(min_size=1, max_size=pool_size)


async def close_database(engine: Engine | None = None) -> None:
    engine = engine or current_engine()
    remaining = _users.get(id(engine), 1) - 1
    if remaining > 0:
        _users[id(engine)] = remaining
        return
    _users.pop(id(engine), None)
    if isinstance(engine, PostgresEngine):
        await engine.close_connection_pool()
    if isinstance(engine, SharedConnectionSQLiteEngine):
        await engine.close_shared()


def write_transaction(engine: Engine | None = None) -> Any:
    engine = engine or current_engine()
    if isinstance(engine, SQLiteEngine):
        return engine.transaction(transaction_type=TransactionType.immediate)
    return engine.transaction()


async def ping(engine: Engine | None = None) -> None:
    """Raises if the database cannot answer a trivial query."""
    await (engine or current_engine()).run_ddl("SELECT 1")


def lookup_statement(columns: Sequence[Column], key: Column) -> str:
    """``SELECT columns FROM table WHERE key = {} LIMIT 1`` for ``Table.raw``,
    written once. Hot lookups (a station's profile, a medium) use it instead
    of piccolo's query builder, which built the same text anew on every call
    at several times the cost of running it."""
    table = key._meta.table._meta.tablename
    names = ", ".join(f'"{column._meta.db_column_name}"' for column in columns)
    where = key._meta.db_column_name
    return f'SELECT {names} FROM "{table}" WHERE "{where}" = {{}} LIMIT 1'
