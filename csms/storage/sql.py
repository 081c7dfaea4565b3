"""Plain SQL on the connection of the current write transaction.

The group-commit path writes hundreds of rows per transaction; building a
piccolo model instance per row costs more than the database does. Here rows
go to the driver's own ``executemany`` (sqlite3's C loop, asyncpg's pipelined
protocol) inside the transaction piccolo opened, so piccolo still owns the
schema, migrations, pool and transaction, and the hot path stays thin.

SQL is written with ``?`` placeholders; on PostgreSQL they become ``$n``.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from contextvars import ContextVar
from datetime import datetime
from typing import Any

import aiosqlite
from piccolo.engine.base import Engine
from piccolo.engine.sqlite import SQLiteEngine, convert_datetime_in, dict_factory

from csms.storage.database import write_transaction

log = logging.getLogger(__name__)

# Page cache of the group-commit connection: index pages of the big tables
# (meter values, message log) stay in memory between batches.
SQLITE_WRITER_CACHE_KIB = 64 * 1024

_PLACEHOLDER = re.compile(r"\?")


class TransactionSql:
    """Statements run on the connection of the active write transaction:
    the one :class:`WriteConnection` opened, else the engine's."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.sqlite = engine.engine_type == "sqlite"
        self._cache: dict[str, str] = {}
        self._bound: ContextVar[Any] = ContextVar("bound_write_connection", default=None)

    @contextlib.contextmanager
    def bound(self, connection: Any) -> Iterator[None]:
        """Runs the statements of this block on ``connection``."""
        token = self._bound.set(connection)
        try:
            yield
        finally:
            self._bound.reset(token)

    def _connection(self) -> Any:
        bound = self._bound.get()
        if bound is not None:
            return bound
        transaction = self._engine.current_transaction.get()
        if transaction is None:
            raise RuntimeError("TransactionSql used outside a transaction")
        return transaction.connection

    def _dialect(self, sql: str) -> str:
        if self.sqlite:
            return sql
        converted = self._cache.get(sql)
        if converted is None:
            counter = iter(range(1, 1_000_000))
            converted = _PLACEHOLDER.sub(lambda _: f"${next(counter)}", sql)
            self._cache[sql] = converted
        return converted

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        """Rows as mappings (column name to value)."""
        connection = self._connection()
        statement = self._dialect(sql)
        if self.sqlite:
            async with connection.execute(statement, args) as cursor:
                return list(await cursor.fetchall())
        return list(await connection.fetch(statement, *args))

    async def execute(self, sql: str, *args: Any) -> None:
        connection = self._connection()
        statement = self._dialect(sql)
        if self.sqlite:
            await connection.execute(statement, args)
        else:
            await connection.execute(statement, *args)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        connection = self._connection()
        await connection.executemany(self._dialect(sql), rows)

    def timestamps(self) -> Callable[[datetime], Any]:
        """A converter for the timestamps of one batch's rows. On SQLite it
        formats each distinct time once, as piccolo's adapter would: the
        samples of one meter value share their times, and the adapter is
        Python code run per cell, holding the GIL in the database thread.
        PostgreSQL takes datetimes as they are."""
        if not self.sqlite:
            return _same
        formatted: dict[datetime, str] = {}

        def stamp(value: datetime) -> str:
            text = formatted.get(value)
            if text is None:
                text = formatted[value] = convert_datetime_in(value)
            return text

        return stamp

    def in_list(self, values: Iterable[Any]) -> str:
        """``(?, ?, ?)`` for an IN clause of that many values."""
        count = sum(1 for _ in values)
        return "(" + ", ".join("?" * count) + ")"


def _same(value: datetime) -> datetime:
    return value


class WriteConnection:
    """Where the group-commit path opens its transactions.

    piccolo's SQLite engine opens a new connection (and a new thread) for
    every transaction, so each batch would start with a cold page cache and
    re-read the index pages it updates. On SQLite the hot path keeps one
    connection open instead, with a large page cache; it is reopened after a
    failure. On PostgreSQL piccolo's pool already reuses connections.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._sqlite: aiosqlite.Connection | None = None

    @contextlib.asynccontextmanager
    async def transaction(self, sql: TransactionSql) -> AsyncIterator[None]:
        if not isinstance(self._engine, SQLiteEngine):
            async with write_transaction(self._engine):
                yield
            return
        connection = await self._sqlite_connection()
        try:
            await connection.execute("BEGIN IMMEDIATE")
            with sql.bound(connection):
                yield
            await connection.execute("COMMIT")
        except BaseException:
            await self._rollback(connection)
            raise

    async def _sqlite_connection(self) -> aiosqlite.Connection:
        if self._sqlite is None:
            assert isinstance(self._engine, SQLiteEngine)
            connection = await aiosqlite.connect(**self._engine.connection_kwargs)
            connection.row_factory = dict_factory  # type: ignore[assignment]
            try:
                await connection.execute("PRAGMA foreign_keys = 1")
                await connection.execute(f"PRAGMA cache_size = -{SQLITE_WRITER_CACHE_KIB}")
            except BaseException:
                await connection.close()
                raise
            self._sqlite = connection
        return self._sqlite

    async def _rollback(self, connection: aiosqlite.Connection) -> None:
        """Undoes the open transaction; a connection that cannot is dropped,
        so the next batch starts on a fresh one."""
        try:
            await connection.execute("ROLLBACK")
        except Exception as error:
            log.warning("rollback failed (%s); reopening the write connection", error)
            await self.close()

    async def close(self) -> None:
        connection, self._sqlite = self._sqlite, None
        if connection is not None:
            try:
                await connection.close()
            except Exception as error:
                log.warning("closing the write connection failed: %s", error)
