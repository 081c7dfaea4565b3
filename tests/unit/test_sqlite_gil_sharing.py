"""A process on SQLite shortens its GIL switch interval (its database work
runs in threads that must take the GIL back from a busy event loop); on
PostgreSQL it keeps Python's default."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from csms.storage.database import (
    SQLITE_SWITCH_INTERVAL,
    engine_from_url,
    share_the_gil_with_sqlite_threads,
)


@pytest.fixture
def default_interval() -> Iterator[float]:
    before = sys.getswitchinterval()
    sys.setswitchinterval(0.005)
    yield 0.005
    sys.setswitchinterval(before)


def test_sqlite_shortens_the_switch_interval(default_interval: float, tmp_path: Path) -> None:
    """On SQLite the interval becomes SQLITE_SWITCH_INTERVAL (0.2 ms)."""
    share_the_gil_with_sqlite_threads(engine_from_url(f"sqlite:///{tmp_path}/db.sqlite"))
    assert sys.getswitchinterval() == pytest.approx(SQLITE_SWITCH_INTERVAL)
    assert default_interval > SQLITE_SWITCH_INTERVAL


def test_postgresql_keeps_the_default(default_interval: float) -> None:
    """On PostgreSQL (no database threads) it stays as it was."""
    share_the_gil_with_sqlite_threads(engine_from_url("postgresql://127.0.0.1:5432/test"))
    assert sys.getswitchinterval() == pytest.approx(default_interval)
