"""A database of its own for one in-process benchmark run."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import Iterator


@contextlib.contextmanager
def scratch_database(server_url: str, name: str) -> Iterator[str]:
    """The URL of a fresh database: a SQLite file in a temp dir when
    ``server_url`` is empty, else a new database ``<name>_<pid>`` on that
    PostgreSQL server, dropped on exit."""
    with tempfile.TemporaryDirectory(prefix=f"{name}-") as tmp:
        if not server_url:
            yield f"sqlite:///{tmp}/{name}.sqlite"
            return
        import asyncpg

        created = f"{name}_{os.getpid()}".replace("-", "_")

        async def admin(statement: str) -> None:
            connection = await asyncpg.connect(server_url)
            try:
                await connection.execute(statement)
            finally:
                await connection.close()

        asyncio.run(admin(f'CREATE DATABASE "{created}"'))
        try:
            yield server_url.rsplit("/", 1)[0] + "/" + created
        finally:
            asyncio.run(admin(f'DROP DATABASE IF EXISTS "{created}"'))
