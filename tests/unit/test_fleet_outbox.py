"""The offline queue of transaction messages: order, retries, and ids filled in late."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from simulators.fleet.intents import (
    LocalTransaction,
    MeterReport,
    TransactionStart,
    TransactionStop,
)
from simulators.fleet.outbox import TransactionOutbox
from simulators.fleet.v16 import Ocpp16Encoding
from simulators.meter import MeterModel

pytestmark = pytest.mark.backend_independent

_AT = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)
_MEASURANDS = ("Energy.Active.Import.Register", "Power.Active.Import")


def _transaction(local_id: int = 1) -> LocalTransaction:
    return LocalTransaction(
        local_id, connector_id=1, id_tag="T-1", meter_start_wh=100, started_at=_AT
    )


def _meter(transaction: LocalTransaction) -> MeterReport:
    return MeterReport(1, transaction, (MeterModel(energy_wh=150).sample(_AT),), _MEASURANDS)


def _stop(transaction: LocalTransaction) -> TransactionStop:
    sample = MeterModel(energy_wh=200).sample(_AT)
    return TransactionStop(transaction, 200, _AT, "Local", sample, sample, _MEASURANDS)


def test_messages_leave_in_the_order_they_were_queued() -> None:
    """Start, meter values, stop: delivered oldest first."""
    outbox = TransactionOutbox(max_attempts=3, retry_interval=1)
    transaction = _transaction()
    messages = [TransactionStart(transaction), _meter(transaction), _stop(transaction)]
    for message in messages:
        outbox.append(message)
    delivered = []
    while (head := outbox.head(now=0)) is not None:
        delivered.append(head.message)
        outbox.delivered()
    assert delivered == messages
    assert len(outbox) == 0


def test_a_stop_queued_before_its_start_was_answered_carries_the_servers_id() -> None:
    """Start and stop both queued offline: the stop is encoded after the start's answer, so
    it names the transactionId the server gave, not a made-up one."""
    encoding = Ocpp16Encoding()
    outbox = TransactionOutbox(max_attempts=3, retry_interval=1)
    transaction = _transaction()
    outbox.append(TransactionStart(transaction), waited=True)
    outbox.append(_stop(transaction), waited=True)

    head = outbox.head(now=0)
    assert head is not None and encoding.encode(head.message).action == "StartTransaction"
    transaction.server_id = 4711  # what the server answered
    outbox.delivered()
    head = outbox.head(now=0)
    assert head is not None and head.waited
    encoded = encoding.encode(head.message)
    assert (encoded.action, encoded.payload["transactionId"]) == ("StopTransaction", 4711)


def test_a_failed_delivery_waits_and_is_retried_until_the_attempts_are_spent() -> None:
    """After a timeout or CALLERROR the head waits retry_interval x attempts, then goes
    again; after max_attempts it is given up."""
    outbox = TransactionOutbox(max_attempts=3, retry_interval=2)
    transaction = _transaction()
    transaction.server_id = 1
    outbox.append(_meter(transaction))
    assert outbox.failed(now=10, maybe_stored=True) == []
    assert outbox.head(now=11.9) is None
    assert outbox.head(now=12) is not None
    assert outbox.failed(now=12, maybe_stored=False) == []
    assert outbox.next_attempt_at() == 16
    head = outbox.head(now=16)
    assert head is not None and head.maybe_stored and head.attempts == 2
    dropped = outbox.failed(now=16, maybe_stored=False)
    assert [q.message for q in dropped] == [head.message]
    assert len(outbox) == 0


def test_giving_up_a_start_drops_the_rest_of_its_transaction_only() -> None:
    """Without the server's id a transaction's later messages cannot be sent; another
    transaction's messages stay."""
    outbox = TransactionOutbox(max_attempts=1, retry_interval=0)
    lost, other = _transaction(1), _transaction(2)
    outbox.append(TransactionStart(lost))
    outbox.append(TransactionStart(other))
    outbox.append(_meter(lost))
    outbox.append(_stop(other))
    outbox.append(_stop(lost))
    dropped = outbox.failed(now=0, maybe_stored=False)
    assert len(dropped) == 3
    assert lost.start_dropped and not other.start_dropped
    assert [type(m).__name__ for m in outbox.pending()] == ["TransactionStart", "TransactionStop"]
    assert all(m.transaction is other for m in outbox.pending())


def test_a_lost_socket_costs_no_attempt_but_marks_the_message_as_maybe_stored() -> None:
    """The socket closed after sending: the message stays at the head, with its attempts
    unchanged, flagged because the server may have stored it already."""
    outbox = TransactionOutbox(max_attempts=1, retry_interval=0)
    transaction = _transaction()
    outbox.append(TransactionStart(transaction))
    outbox.unanswered()
    outbox.mark_waiting()
    head = outbox.head(now=0)
    assert head is not None
    assert (head.attempts, head.maybe_stored, head.waited) == (0, True, True)
