"""Plain SQL on the connection of the current write transaction.

The group-commit path writes hundreds of rows per transaction; building a
piccolo model instance per row costs more than the database does. Here rows
go to the driver's own ``executemany`` (sqlite3's C loop, asyncpg's pipelined
protocol) inside the transaction piccolo opened, so piccolo still owns the
schema, migrations, pool and transaction, and the hot path stays thin.

SQL is written with ``?`` placeholders; on PostgreSQL they become ``$n``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from piccolo.engine.base import Engine

_PLACEHOLDER = re.compile(r"\?")


class TransactionSql:
    """Statements run on the connection of the engine's active transaction."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.sqlite = engine.engine_type == "sqlite"
        self._cache: dict[str, str] = {}

    def _connection(self) -> Any:
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

    def in_list(self, values: Iterable[Any]) -> str:
        """``(?, ?, ?)`` for an IN clause of that many values."""
        count = sum(1 for _ in values)
        return "(" + ", ".join("?" * count) + ")"
