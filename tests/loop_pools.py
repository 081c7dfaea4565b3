"""On PostgreSQL, a connection pool for each event loop of a test run.

The tests query one piccolo engine from several event loops: the test's
own, the loop of the thread that runs the app under a litestar test
client, a browser test module's node. piccolo's engine has one pool,
which works only on the loop that started it; without one, it opens and
closes a connection for every query (about 6 ms here, against 0.1 ms for
the query on an open connection), and the PostgreSQL half of the suite
ran half again as long as the SQLite half.

:class:`LoopPoolsPostgresEngine` keeps a stack of pools per loop: the
engine's ``pool`` is the newest one of the loop that asks. A node that
starts its own pool (``open_database``) pushes it above the test's and
gets exactly the pool it asked for; closing it uncovers the test's again.
The product is unchanged: one process, one loop, one pool.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
from piccolo.engine.postgres import PostgresEngine

# A test's own pool: queries of the test and its fixtures, rarely more
# than a few at once.
TEST_POOL_SIZE = 4
# Waiting for connections a test left acquired (a cancelled task) before
# the pool is terminated instead.
CLOSE_TIMEOUT = 5.0


class LoopPoolsPostgresEngine(PostgresEngine):
    # No slot of its own: the run's engine object becomes one in place, which
    # needs the same layout. (A run has one engine, so one table of pools.)
    __slots__ = ()
    _pools: dict[asyncio.AbstractEventLoop, list[asyncpg.Pool]] = {}

    @property  # type: ignore[override]
    def pool(self) -> asyncpg.Pool | None:
        try:
            stack = self._pools.get(asyncio.get_running_loop())
        except RuntimeError:
            return None
        return stack[-1] if stack else None

    @pool.setter
    def pool(self, value: asyncpg.Pool | None) -> None:
        # piccolo sets it on start (a new pool) and close (None).
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # PostgresEngine.__init__'s ``self.pool = None``
        stack = self._pools.setdefault(loop, [])
        if value is not None:
            stack.append(value)
        elif stack:
            stack.pop()
        if not stack:
            del self._pools[loop]

    async def start_connection_pool(self, **kwargs: Any) -> None:
        """Always a new pool on top of the loop's stack (piccolo's would
        keep the test's pool and only warn, so a node would run on a pool
        of another size than it asked for)."""
        self.pool = await asyncpg.create_pool(**{**self.config, **kwargs})

    async def open_loop_pool(self) -> asyncpg.Pool:
        await self.start_connection_pool(min_size=1, max_size=TEST_POOL_SIZE)
        pool = self.pool
        assert pool is not None
        return pool

    async def close_loop_pool(self, pool: asyncpg.Pool) -> None:
        """Closes ``pool`` wherever it is in its loop's stack."""
        loop = asyncio.get_running_loop()
        stack = self._pools.get(loop, [])
        if pool in stack:
            stack.remove(pool)
            if not stack:
                del self._pools[loop]
        try:
            await asyncio.wait_for(pool.close(), CLOSE_TIMEOUT)
        except TimeoutError:
            pool.terminate()


def pools_per_loop(engine: object) -> LoopPoolsPostgresEngine | None:
    """Turns the run's PostgreSQL engine into one with a pool per loop (in
    place: every table holds this engine object). None on SQLite, whose
    engine shares one connection between loops already."""
    if isinstance(engine, LoopPoolsPostgresEngine):
        return engine
    if not isinstance(engine, PostgresEngine):
        return None
    if engine.pool is not None:
        raise RuntimeError("a pool was started before the engine took one per loop")
    engine.__class__ = LoopPoolsPostgresEngine
    return engine


def pool_for_the_apps_loop(app: Any) -> Any:
    """On PostgreSQL, a pool for the loop a litestar test client runs
    ``app`` in (a thread of its own), opened when the app starts and
    closed when it stops. Returns the app."""
    from csms.storage.database import current_engine

    engine = pools_per_loop(current_engine())
    if engine is None:
        return app
    opened: list[asyncpg.Pool] = []

    async def open_pool() -> None:
        opened.append(await engine.open_loop_pool())

    async def close_pool() -> None:
        while opened:
            await engine.close_loop_pool(opened.pop())

    app.on_startup.insert(0, open_pool)
    app.on_shutdown.append(close_pool)
    return app
