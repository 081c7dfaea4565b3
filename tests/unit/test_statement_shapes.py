"""Multi-row statements come in few shapes: each shape is a prepared
statement the driver keeps, so a batch size of its own per statement would
cost memory for as long as the connection lives.

Run: ``python -m pytest tests/unit/test_statement_shapes.py -q``."""

from __future__ import annotations

import sqlite3

from csms.storage.sql import (
    _execute_many_sqlite,
    power_of_four_at_most,
)
from csms.storage.writes import _padded_chunks

POWERS_OF_FOUR = {1, 4, 16, 64, 256}


def test_power_of_four_at_most() -> None:
    """The largest power of four not above each count, 1 for nothing."""
    for count in range(1, 1100):
        size = power_of_four_at_most(count)
        assert size <= count < size * 4, count
        assert size & (size - 1) == 0 and (size.bit_length() - 1) % 2 == 0, count
    assert power_of_four_at_most(0) == 1


def test_an_insert_of_any_size_stores_every_row_in_order_in_five_shapes() -> None:
    """From 0 to 600 rows, a multi-row INSERT stores every row once, in
    order, with statements of 1, 4, 16, 64 or 256 rows only."""
    connection = sqlite3.connect(":memory:")
    connection.execute("CREATE TABLE sample (n INTEGER, label TEXT)")
    shapes: set[int] = set()
    # The trace shows each statement with its values filled in.
    connection.set_trace_callback(
        lambda sql: shapes.add(sql.count("), (") + 1) if sql.startswith("INSERT") else None
    )
    for count in range(601):
        connection.execute("DELETE FROM sample")
        rows = [(i, f"row {i}") for i in range(count)]
        _execute_many_sqlite(connection, "INSERT INTO sample (n, label) VALUES (?, ?)", rows)
        assert connection.execute("SELECT n, label FROM sample ORDER BY rowid").fetchall() == rows
    assert shapes == POWERS_OF_FOUR


def test_a_statement_that_is_no_insert_goes_row_by_row() -> None:
    """An UPDATE given many rows runs once per row, as executemany does."""
    connection = sqlite3.connect(":memory:")
    connection.execute("CREATE TABLE sample (n INTEGER PRIMARY KEY, label TEXT)")
    connection.executemany("INSERT INTO sample VALUES (?, 'old')", [(i,) for i in range(5)])
    _execute_many_sqlite(
        connection, "UPDATE sample SET label = ? WHERE n = ?", [("new", 1), ("new", 3)]
    )
    labels = connection.execute("SELECT label FROM sample ORDER BY n").fetchall()
    assert [label for (label,) in labels] == ["old", "new", "old", "new", "old"]


def test_padded_chunks_hold_every_value_in_few_shapes() -> None:
    """Chunks keep every value in order; each is a power of two up to the
    bound, padded with repeats of its last value."""
    for most in (256, 200, 4096 // 9):
        top = 1 << (most.bit_length() - 1)
        for count in range(1, 700):
            values = list(range(count))
            seen: list[int] = []
            for chunk in _padded_chunks(values, most):
                assert len(chunk) & (len(chunk) - 1) == 0 and len(chunk) <= top, (most, count)
                real = list(dict.fromkeys(chunk))
                assert chunk[len(real) :] == [real[-1]] * (len(chunk) - len(real))
                seen.extend(real)
            assert seen == values, (most, count)
