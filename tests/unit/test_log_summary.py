"""RepeatSummary: repeated identical errors summarised, not flooded (issue 14, item 8)."""

from __future__ import annotations

import logging

import pytest

from csms.logsummary import RepeatSummary, summarise

pytestmark = pytest.mark.backend_independent


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _failing(logger: logging.Logger, station: str) -> None:
    try:
        raise ConnectionError("database unreachable")
    except ConnectionError:
        logger.exception("station %s: %s failed", station, "MeterValues")


@pytest.fixture
def logger() -> logging.Logger:
    logger = logging.getLogger("tests.logsummary")
    logger.filters.clear()
    return logger


def test_the_first_error_keeps_its_traceback_and_repeats_are_held_back(
    logger: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    """1,000 identical failures (different stations) within the interval
    log one record, with its traceback."""
    clock = Clock()
    logger.addFilter(RepeatSummary(10, clock=clock))
    with caplog.at_level(logging.WARNING, logger=logger.name):
        for n in range(1000):
            clock.now = n * 0.005
            _failing(logger, f"CP-{n}")
    assert len(caplog.records) == 1
    assert caplog.records[0].exc_info is not None
    assert caplog.records[0].getMessage() == "station CP-0: MeterValues failed"


def test_one_line_per_interval_counts_what_was_held_back(
    logger: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    """After the interval the next repeat is one line without traceback
    saying how many were held back: 20 s of 500 errors/s with a 10 s
    interval log two lines (the last interval's count goes with the next
    repeat)."""
    clock = Clock()
    logger.addFilter(RepeatSummary(10, clock=clock))
    with caplog.at_level(logging.WARNING, logger=logger.name):
        for n in range(10_000):
            clock.now = n * 0.002
            _failing(logger, f"CP-{n}")
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert lines[1].endswith("(4999 more like this in the last 10 s)")
    assert caplog.records[1].exc_info is None and caplog.records[1].exc_text is None


def test_different_errors_are_not_summarised_together(
    logger: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    """Another message template, level or exception type is its own kind."""
    clock = Clock()
    logger.addFilter(RepeatSummary(10, clock=clock))
    with caplog.at_level(logging.WARNING, logger=logger.name):
        _failing(logger, "A")
        logger.warning("station %s: %s not committed in time", "A", "Heartbeat")
        try:
            raise ValueError("bad")
        except ValueError:
            logger.exception("station %s: %s failed", "B", "MeterValues")
        _failing(logger, "C")
    assert len(caplog.records) == 3


def test_a_rare_error_is_logged_in_full_every_time(
    logger: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    """An error that recurs only after the interval, with nothing held back,
    keeps its traceback every time."""
    clock = Clock()
    logger.addFilter(RepeatSummary(10, clock=clock))
    with caplog.at_level(logging.WARNING, logger=logger.name):
        for n in range(3):
            clock.now = n * 60.0
            _failing(logger, "CP")
    assert [r.exc_info is not None for r in caplog.records] == [True, True, True]


def test_info_records_are_never_held_back(
    logger: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    """Below WARNING nothing is summarised."""
    logger.addFilter(RepeatSummary(10, clock=Clock()))
    with caplog.at_level(logging.INFO, logger=logger.name):
        for _ in range(5):
            logger.info("station %s connected", "CP")
    assert len(caplog.records) == 5


def test_summarise_attaches_one_filter_per_logger(logger: logging.Logger) -> None:
    """Attaching twice (two nodes in one process) keeps one filter."""
    first = summarise(logger.name)
    second = summarise(logger.name)
    assert first == second
    assert len([f for f in logger.filters if isinstance(f, RepeatSummary)]) == 1
