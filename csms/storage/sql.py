"""Plain SQL for the group-commit path, written once as a program of
statements and run by a driver per database.

The group-commit path writes thousands of rows per transaction; building a
piccolo model instance per row costs more than the database does, so rows go
to the driver's own ``executemany`` (sqlite3's C loop, asyncpg's pipelined
protocol). The batch logic is a generator (a :data:`SqlProgram`) that yields
statements and receives their rows, free of I/O, so one piece of logic runs
on both databases:

- SQLite: the whole program runs in one dedicated thread on one long-lived
  connection, and the event loop hears from it once per batch. Awaiting each
  statement instead would cost one pass of a busy event loop per statement
  (a dozen per batch), and piccolo's engine would open a new connection, with
  a cold page cache, for every transaction.
- PostgreSQL: each statement is awaited on a connection from piccolo's
  pool, in one transaction. The large row sets (meter values, the message
  log) go as binary COPY (:class:`CopyRows`): a batch of MeterValues with
  their message log took a fifth less of the node's CPU and a quarter less
  wall time than with ``executemany`` (docs/benchmarks.md, "Third
  session").

SQL is written with ``?`` placeholders; on PostgreSQL they become ``$n``.
piccolo keeps the schema, migrations and every other query.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import sqlite3
import time
from collections.abc import Callable, Generator, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, NamedTuple, TypeVar

import msgspec
from piccolo.engine.base import Engine
from piccolo.engine.sqlite import SQLiteEngine, convert_datetime_in, dict_factory

log = logging.getLogger(__name__)

_PLACEHOLDER = re.compile(r"\?")
# Page cache of a write connection of billing (the rater's, a run's): index
# pages of the big tables (CDRs, their detail) stay in memory between
# batches (benchmarks.billing at 100,000 sessions: rating 8% slower with
# SQLite's default 2 MiB).
SQLITE_WRITER_CACHE_KIB = 64 * 1024
# Page cache of the gateway's group-commit connection. Its writes append
# and its reads are point lookups, and the OS caches the file anyway: a
# larger cache bought no calls/s in benchmarks.gateway (64 MiB: 12,592-13,765
# against 11,531-13,743 with 2 MiB at 1,000 and 5,000 chargers; 256 KiB:
# 11,316-13,579 against 11,600-13,213 with 2 MiB, both interleaved) and
# filled with the pages the chargers' boots wrote (2 MiB: 2 MiB more RSS
# once 1,000 chargers had booted).
SQLITE_GATEWAY_CACHE_KIB = 256
# WAL pages after which a commit of the group-commit connection copies the
# log back into the database itself (SQLite's default is 1,000, about 4 MB:
# under load nearly every batch). Checkpoints run in the background instead
# (WriteConnection.checkpoint); this is the backstop if they fall behind.
SQLITE_WRITER_CHECKPOINT_PAGES = 16_384
# Page cache of a read connection (WriteConnection.read).
SQLITE_READER_CACHE_KIB = 16 * 1024
# A writer that commits starts a background checkpoint at most this often.
# Left to the backstop, a checkpoint of 64 MB ran inside a commit every few
# seconds of a billing run (85 ms each; benchmarks.billing at 100,000
# sessions: 5 s of its 53 s in 57 such commits).
SQLITE_CHECKPOINT_SECONDS = 1.0

# Fewer rows than this go to PostgreSQL as one pipelined executemany, not as
# COPY: COPY costs a round trip or two more (the staging table's statements),
# which a small batch does not earn back (python -m benchmarks.write_batches
# --batch 5: 1.3-1.8 ms wall with executemany, 1.7-2.6 ms with COPY; at 50
# groups the two were even for 50 rows and COPY ahead for 200).
COPY_MIN_ROWS = 64

T = TypeVar("T")

_PACKED_ROWS = msgspec.json.Decoder(list[list[Any]])


class Fetch(NamedTuple):
    """A statement whose rows (mappings of column to value) the program gets back."""

    sql: str
    args: tuple[Any, ...]


class FetchPacked(NamedTuple):
    """A SQLite fetch whose rows come back as one JSON array of arrays
    (``json_group_array``), decoded into lists of the columns' values.

    sqlite3 lets go of the GIL around every step of a statement, so a
    reader thread fetching row by row waits for the GIL once per row
    while the event loop's thread computes: 1,000 sessions' 6,000 meter
    values took 134 ms instead of 20 ms with a busy main thread. A packed
    fetch is one step (11 ms, busy or not)."""

    sql: str
    args: tuple[Any, ...]


class Execute(NamedTuple):
    sql: str
    args: tuple[Any, ...]


class ExecuteMany(NamedTuple):
    sql: str
    rows: Sequence[Sequence[Any]]


class CopyRows(NamedTuple):
    """Rows for a table's columns, sent with PostgreSQL's binary COPY.

    With ``skip_duplicates`` a row that would break a unique key is left
    out, as ``ON CONFLICT DO NOTHING`` does: the rows are copied into a
    temporary table of the session (emptied at every commit) and moved with
    one ``INSERT … SELECT … ON CONFLICT DO NOTHING``. At most one such
    statement per table in a transaction."""

    table: str
    columns: tuple[str, ...]
    rows: Sequence[Sequence[Any]]
    skip_duplicates: bool


Statement = Fetch | FetchPacked | Execute | ExecuteMany | CopyRows
# Yields statements, is sent each statement's rows (a list for Fetch, None
# otherwise), returns its result when done.
SqlProgram = Generator[Statement, Any, T]


class TransactionSql:
    """Builds the statements of a program, in the engine's dialect."""

    def __init__(self, engine: Engine) -> None:
        self.sqlite = engine.engine_type == "sqlite"
        self._cache: dict[str, str] = {}
        self._inserts: dict[tuple[str, tuple[str, ...], bool], str] = {}

    def _dialect(self, sql: str) -> str:
        if self.sqlite:
            return sql
        converted = self._cache.get(sql)
        if converted is None:
            counter = iter(range(1, 1_000_000))
            converted = _PLACEHOLDER.sub(lambda _: f"${next(counter)}", sql)
            self._cache[sql] = converted
        return converted

    def fetch(self, sql: str, *args: Any) -> Fetch:
        return Fetch(self._dialect(sql), args)

    def fetch_values(self, columns: Sequence[str], source: str, *args: Any) -> Fetch | FetchPacked:
        """``SELECT columns source`` (``source``: ``FROM … WHERE …``), its
        rows as sequences of the columns' values, in no particular order.

        On SQLite a :class:`FetchPacked`: the rows travel as one JSON value,
        so the columns must hold no BLOB and no REAL (JSON would refuse the
        one and round the other), and an ORDER BY or LIMIT belongs in a
        subquery of ``source`` (outside it would apply to the aggregate).
        On PostgreSQL a plain fetch (a record is a sequence too)."""
        listed = ", ".join(columns)
        if self.sqlite:
            return FetchPacked(f"SELECT json_group_array(json_array({listed})) {source}", args)
        return Fetch(self._dialect(f"SELECT {listed} {source}"), args)

    def execute(self, sql: str, *args: Any) -> Execute:
        return Execute(self._dialect(sql), args)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> ExecuteMany:
        return ExecuteMany(self._dialect(sql), rows)

    def insert_rows(
        self,
        table: str,
        columns: tuple[str, ...],
        rows: Sequence[Sequence[Any]],
        *,
        skip_duplicates: bool = False,
    ) -> ExecuteMany | CopyRows:
        """Rows into a table: a multi-row INSERT on SQLite, binary COPY on
        PostgreSQL (``executemany`` below ``COPY_MIN_ROWS`` rows); with
        ``skip_duplicates`` a row that breaks a unique key is left out."""
        if not self.sqlite and len(rows) >= COPY_MIN_ROWS:
            return CopyRows(table, columns, rows, skip_duplicates)
        key = (table, columns, skip_duplicates)
        sql = self._inserts.get(key)
        if sql is None:
            sql = self._dialect(
                f"INSERT INTO {table} ({', '.join(columns)})"
                f" VALUES ({', '.join('?' * len(columns))})"
                + (" ON CONFLICT DO NOTHING" if skip_duplicates else "")
            )
            self._inserts[key] = sql
        return ExecuteMany(sql, rows)

    def timestamps(self) -> Callable[[datetime], Any]:
        """A converter for the timestamps of one batch's rows. On SQLite it
        formats each distinct time once, as piccolo's adapter would: the
        samples of one meter value share their times, and the adapter is
        Python code run per cell. PostgreSQL takes datetimes as they are."""
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


class _OwnConnection:
    """A PostgreSQL connection of a dedicated WriteConnection, with the
    staging tables it has."""

    __slots__ = ("connection", "staged")

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.staged: set[str] = set()


class WriteConnection:
    """Runs programs in one write transaction each, on the engine's database.

    On SQLite: one connection, opened in a dedicated thread and kept with a
    large page cache; after a failure it is rolled back, or dropped and
    reopened for the next program if even that fails.
    """

    def __init__(
        self, engine: Engine, *, dedicated: bool = False, cache_kib: int = SQLITE_WRITER_CACHE_KIB
    ) -> None:
        self._engine = engine
        self._dedicated = dedicated
        self._cache_kib = cache_kib
        self._thread: ThreadPoolExecutor | None = None
        self._sqlite: sqlite3.Connection | None = None
        self._checkpointer: ThreadPoolExecutor | None = None
        self._checkpoint_connection: sqlite3.Connection | None = None
        # Programs that only read (``read``), on SQLite: a connection and
        # thread of their own, without piccolo's column converters.
        self._reader: ThreadPoolExecutor | None = None
        self._raw: sqlite3.Connection | None = None
        # The background checkpoint its commits started, if one is running.
        self._checkpointing: asyncio.Task[Any] | None = None
        self._checkpointed_at = float("-inf")
        # PostgreSQL, ``dedicated``: connections of the writer's own (one
        # per program running at once: the group committer's batches in
        # flight), not one from the pool per program: the pool's release
        # runs a reset query (a round trip and four statements per batch),
        # and an own connection's staging tables (_copy_rows), made once,
        # are known to exist. The other callers share the pool.
        self._idle: list[_OwnConnection] = []

    async def open(self) -> None:
        """Opens the write connection now rather than at the first program:
        a database file that cannot be opened fails the start, and what the
        connection costs once (on SQLite its thread and the parsed schema,
        and the background checkpoint's, which the first commit would
        start) is paid before the first stations connect, not while they
        boot."""
        if isinstance(self._engine, SQLiteEngine):
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._writer_thread(), self._open_sqlite)
            await self.checkpoint()
            return
        if self._dedicated and not self._idle:
            self._idle.append(_OwnConnection(await self._engine.get_new_connection()))  # type: ignore[attr-defined]

    async def checkpoint(self) -> tuple[int, int] | None:
        """Copies committed WAL pages into the SQLite database on a thread and
        connection of its own (PASSIVE: it never blocks the writer), so
        commits do not pay for checkpoints. Returns the WAL's frames and
        those checkpointed; None on PostgreSQL."""
        if not isinstance(self._engine, SQLiteEngine):
            return None
        if self._checkpointer is None:
            self._checkpointer = ThreadPoolExecutor(1, thread_name_prefix="sqlite-checkpoint")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._checkpointer, self._checkpoint)

    async def read(self, sql: TransactionSql, program: SqlProgram[T]) -> T:
        """Runs a program that only reads, for reads of many rows.

        On SQLite on a connection and thread of their own, in one read
        transaction (one snapshot), without piccolo's column converters:
        rows are ``sqlite3.Row`` with the values as stored (a timestamp is
        its text, which compares as the database compares it; INTEGER and
        TEXT are ``int`` and ``str`` anyway). The converters are Python code
        run per cell: in the rating queue's read of a batch's meter values
        they cost more than the query. The connection is ``query_only``: a
        program that writes fails. On PostgreSQL as :meth:`run` (asyncpg's
        records are typed already)."""
        if not isinstance(self._engine, SQLiteEngine):
            return await self.run(sql, program)
        if self._reader is None:
            self._reader = ThreadPoolExecutor(1, thread_name_prefix="sqlite-reader")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._reader, self._read_sqlite, program)

    def _read_sqlite(self, program: SqlProgram[T]) -> T:
        connection = self._raw_connection()
        try:
            connection.execute("BEGIN")
            return _drive_sqlite(connection, program)
        finally:
            try:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
            except Exception as error:
                log.warning("ending a read failed (%s); reopening the read connection", error)
                self._raw = None
                connection.close()

    def _raw_connection(self) -> sqlite3.Connection:
        if self._raw is None:
            assert isinstance(self._engine, SQLiteEngine)
            connection = sqlite3.connect(**{**self._engine.connection_kwargs, "detect_types": 0})
            connection.row_factory = sqlite3.Row
            try:
                connection.execute("PRAGMA query_only = 1")
                connection.execute(f"PRAGMA cache_size = -{SQLITE_READER_CACHE_KIB}")
            except BaseException:
                connection.close()
                raise
            self._raw = connection
        return self._raw

    def _checkpoint_soon(self) -> None:
        """After a commit: a background checkpoint, unless one is running
        or one started less than SQLITE_CHECKPOINT_SECONDS ago, so every
        writer (the gateway's, the rater's, a billing run's) keeps the WAL
        short without its commits paying for it."""
        now = time.monotonic()
        recently = now - self._checkpointed_at < SQLITE_CHECKPOINT_SECONDS
        if self._checkpointing is not None or recently:
            return
        self._checkpointed_at = now
        self._checkpointing = task = asyncio.create_task(self.checkpoint(), name="wal-checkpoint")
        task.add_done_callback(self._checkpoint_done)

    def _checkpoint_done(self, task: asyncio.Task[Any]) -> None:
        self._checkpointing = None
        if not task.cancelled() and task.exception() is not None:
            log.warning("background WAL checkpoint failed: %s", task.exception())

    def _checkpoint(self) -> tuple[int, int]:
        if self._checkpoint_connection is None:
            assert isinstance(self._engine, SQLiteEngine)
            self._checkpoint_connection = sqlite3.connect(**self._engine.connection_kwargs)
        try:
            _, frames, copied = self._checkpoint_connection.execute(
                "PRAGMA wal_checkpoint(PASSIVE)"
            ).fetchone()
        except Exception:
            connection, self._checkpoint_connection = self._checkpoint_connection, None
            connection.close()
            raise
        return int(frames), int(copied)

    async def run(self, sql: TransactionSql, program: SqlProgram[T]) -> T:
        if isinstance(self._engine, SQLiteEngine):
            loop = asyncio.get_running_loop()
            result = await loop.run_in_executor(self._writer_thread(), self._run_sqlite, program)
            self._checkpoint_soon()
            return result
        # asyncpg directly, not piccolo's transaction: when the server dies
        # mid-batch piccolo's failed rollback left its transaction current in
        # the committer's task (and the connection out of the pool), so every
        # later batch ran on the dead connection until a restart.
        if not self._dedicated:
            pool = self._engine.pool  # type: ignore[attr-defined]
            connection = await (pool.acquire() if pool else self._engine.get_new_connection())  # type: ignore[attr-defined]
            try:
                async with connection.transaction():
                    return await _drive_asyncpg(connection, program, set(), set())
            finally:
                await (pool.release(connection) if pool else connection.close())
        own = self._idle.pop() if self._idle else None
        if own is None or own.connection.is_closed():
            own = _OwnConnection(await self._engine.get_new_connection())  # type: ignore[attr-defined]
        staged: set[str] = set()
        try:
            async with own.connection.transaction():
                result = await _drive_asyncpg(own.connection, program, own.staged, staged)
        except BaseException:
            # Dropped, whatever failed: the server may have ended it (an
            # administrator, a restart) without the driver knowing yet, or
            # its rollback failed. The next program opens another; failures
            # are rare enough that telling the cases apart does not pay.
            own.connection.terminate()
            raise
        own.staged |= staged
        self._idle.append(own)
        return result

    # -- SQLite, in the writer thread ------------------------------------------

    def _writer_thread(self) -> ThreadPoolExecutor:
        if self._thread is None:
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
        return self._thread

    def _open_sqlite(self) -> None:
        # Preparing a statement that names a table parses the schema.
        self._sqlite_connection().execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()

    def _run_sqlite(self, program: SqlProgram[T]) -> T:
        connection = self._sqlite_connection()
        try:
            connection.execute("BEGIN IMMEDIATE")
            result = _drive_sqlite(connection, program)
            connection.execute("COMMIT")
            return result
        except BaseException:
            self._rollback(connection)
            raise

    def _sqlite_connection(self) -> sqlite3.Connection:
        if self._sqlite is None:
            assert isinstance(self._engine, SQLiteEngine)
            connection = sqlite3.connect(**self._engine.connection_kwargs)
            connection.row_factory = dict_factory
            try:
                connection.execute("PRAGMA foreign_keys = 1")
                connection.execute(f"PRAGMA cache_size = -{self._cache_kib}")
                connection.execute(f"PRAGMA wal_autocheckpoint = {SQLITE_WRITER_CHECKPOINT_PAGES}")
            except BaseException:
                connection.close()
                raise
            self._sqlite = connection
        return self._sqlite

    def _rollback(self, connection: sqlite3.Connection) -> None:
        try:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
        except Exception as error:
            log.warning("rollback failed (%s); reopening the write connection", error)
            self._close_sqlite()

    def _close_sqlite(self) -> None:
        connection, self._sqlite = self._sqlite, None
        if connection is not None:
            try:
                connection.close()
            except Exception as error:
                log.warning("closing the write connection failed: %s", error)

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        if self._checkpointing is not None:
            # Its outcome is logged by _checkpoint_done.
            await asyncio.wait([self._checkpointing])
        if self._checkpointer is not None:
            checkpointer, self._checkpointer = self._checkpointer, None
            connection, self._checkpoint_connection = self._checkpoint_connection, None
            if connection is not None:
                await loop.run_in_executor(checkpointer, connection.close)
            checkpointer.shutdown(wait=True)
        if self._thread is not None:
            thread, self._thread = self._thread, None
            await loop.run_in_executor(thread, self._close_sqlite)
            thread.shutdown(wait=True)
        if self._reader is not None:
            reader, self._reader = self._reader, None
            raw, self._raw = self._raw, None
            if raw is not None:
                await loop.run_in_executor(reader, raw.close)
            reader.shutdown(wait=True)
        idle, self._idle = self._idle, []
        for own in idle:
            try:
                await own.connection.close()
            except Exception as error:
                log.warning("closing a write connection failed: %s", error)
                own.connection.terminate()


_INSERT_VALUES = re.compile(r"^\s*INSERT\b.*?\bVALUES\s*(\([?,\s]+\))", re.IGNORECASE | re.DOTALL)
# Rows per multi-row INSERT: 256 rows of up to 127 columns stay under
# SQLite's 32,766 bound parameters. Smaller remainders go in chunks of
# powers of four, so each INSERT has at most five shapes: sqlite3 caches
# every distinct statement text it prepares, and one shape per batch size
# cost about 3 kB of memory per connected charger (prepared statements of
# hundreds of rows).
_ROWS_PER_INSERT = 256


def power_of_four_at_most(count: int) -> int:
    """The largest power of four not above ``count`` (at least 1).

    Multi-row statements are cut to these sizes. SQLite keeps a prepared
    statement at about 140 bytes per parameter (a 256-row message-log
    INSERT: 240 kB), and sqlite3 keeps each statement text it prepared, so
    every size in use stays in memory. Powers of two kept nine shapes per
    statement, powers of four keep five: 2.07 MB of prepared statements
    after 1,000 OCPP 2.0.1 boots became 1.41 MB, for at most twelve
    statements per batch instead of eight, which did not show in CPU per
    call."""
    return 1 << ((max(count, 1).bit_length() - 1) & ~1)


def _execute_many_sqlite(
    connection: sqlite3.Connection, sql: str, rows: Sequence[Sequence[Any]]
) -> None:
    """``executemany`` for SQLite, with INSERTs sent as multi-row VALUES.

    sqlite3's executemany releases the GIL around every row it steps and must
    take it back from the event loop's thread: under load each row waited
    for it (3,600 meter rows: 14 ms alone, 230 ms beside a busy thread). A
    multi-row INSERT steps once per 256 rows (14 ms either way)."""
    found = _INSERT_VALUES.match(sql)
    if found is None:
        connection.executemany(sql, rows)
        return
    row_text = found.group(1)
    head, tail = sql[: found.start(1)], sql[found.end(1) :]
    start = 0
    while start < len(rows):
        size = min(_ROWS_PER_INSERT, power_of_four_at_most(len(rows) - start))
        chunk = rows[start : start + size]
        connection.execute(
            head + ", ".join([row_text] * size) + tail,
            [value for row in chunk for value in row],
        )
        start += size


def _drive_sqlite(connection: sqlite3.Connection, program: SqlProgram[T]) -> T:
    answer: Any = None
    try:
        while True:
            statement = program.send(answer)
            answer = None
            if isinstance(statement, ExecuteMany):
                if statement.rows:
                    _execute_many_sqlite(connection, statement.sql, statement.rows)
            elif isinstance(statement, Fetch):
                answer = connection.execute(statement.sql, statement.args).fetchall()
            elif isinstance(statement, FetchPacked):
                cursor = connection.cursor()
                cursor.row_factory = None  # a tuple, whatever the connection's rows are
                (packed,) = cursor.execute(statement.sql, statement.args).fetchone()
                answer = _PACKED_ROWS.decode(packed)
            elif isinstance(statement, CopyRows):
                # TransactionSql.insert_rows makes INSERTs for SQLite.
                raise TypeError("COPY is PostgreSQL's; SQLite gets a multi-row INSERT")
            else:
                connection.execute(statement.sql, statement.args)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


async def _drive_asyncpg(
    connection: Any, program: SqlProgram[T], made: set[str], staged: set[str]
) -> T:
    """Runs a program on a connection in a transaction; ``made`` names the
    staging tables the connection is known to have, ``staged`` collects
    those this program makes (they exist once its transaction commits)."""
    answer: Any = None
    try:
        while True:
            statement = program.send(answer)
            answer = None
            if isinstance(statement, CopyRows):
                if statement.rows:
                    await _copy_rows(connection, statement, made, staged)
            elif isinstance(statement, ExecuteMany):
                if statement.rows:
                    await connection.executemany(statement.sql, statement.rows)
            elif isinstance(statement, Fetch):
                answer = list(await connection.fetch(statement.sql, *statement.args))
            elif isinstance(statement, FetchPacked):
                # TransactionSql.fetch_values packs only for SQLite.
                raise TypeError("a packed fetch is SQLite's; PostgreSQL gets a plain fetch")
            else:
                await connection.execute(statement.sql, *statement.args)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


async def _copy_rows(
    connection: Any, statement: CopyRows, made: set[str], staged: set[str]
) -> None:
    table, columns = statement.table, statement.columns
    if not statement.skip_duplicates:
        await connection.copy_records_to_table(table, records=statement.rows, columns=columns)
        return
    names = ", ".join(columns)
    staging = f"{table}_incoming_" + hashlib.sha1(names.encode()).hexdigest()[:8]
    if staging in staged:
        raise RuntimeError(f"rows for {table} were copied twice in one transaction")
    staged.add(staging)
    # A table of this session only, emptied when a transaction that used it
    # commits (or rolls back), so it never holds another batch's rows. Made
    # by the first batch on the writer's connection that needs it (its name
    # says which columns it has); the later ones skip the round trip.
    if staging not in made:
        await connection.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {staging} ON COMMIT DELETE ROWS"
            f" AS SELECT {names} FROM {table} WITH NO DATA"
        )
    await connection.copy_records_to_table(staging, records=statement.rows, columns=columns)
    await connection.execute(
        f"INSERT INTO {table} ({names}) SELECT {names} FROM {staging} ON CONFLICT DO NOTHING"
    )
