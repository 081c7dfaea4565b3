"""The queue of transaction messages a charger keeps until the server has answered them.

Like a real charger, a station never loses a StartTransaction, a MeterValues
inside a transaction or a StopTransaction because the socket is down: they wait
here, in order, and go out after the reconnect. A message whose delivery failed
(no answer in time, CALLERROR) is retried after a pause, up to a number of
attempts (OCPP 1.6's ``TransactionMessageAttempts``); a lost socket costs no
attempt. If a start is given up, the transaction's later messages go with it:
without the server's transaction id they cannot be sent.

The messages stay neutral (``intents``); the id the server gave a transaction is
filled in when a message is encoded for sending, so a StopTransaction queued
before its StartTransaction was answered still carries the right id.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from simulators.fleet.intents import TransactionMessage, TransactionStart

__all__ = ["QueuedMessage", "TransactionOutbox"]


@dataclass(eq=False, slots=True)
class QueuedMessage:
    message: TransactionMessage
    attempts: int = 0
    """Deliveries that failed with a timeout or a CALLERROR."""
    not_before: float = 0.0
    """Monotonic time before which it is not sent again."""
    maybe_stored: bool = False
    """It was sent once without an answer: the server may have stored it already."""
    waited: bool = False
    """It was queued while the socket was down (or the socket went down while it waited)."""


class TransactionOutbox:
    """Transaction messages in the order they happened, the oldest first."""

    def __init__(self, max_attempts: int, retry_interval: float) -> None:
        if max_attempts < 1:
            raise ValueError("a message gets at least one attempt")
        self.max_attempts = max_attempts
        self.retry_interval = retry_interval
        self._queue: deque[QueuedMessage] = deque()

    def __len__(self) -> int:
        return len(self._queue)

    def append(self, message: TransactionMessage, *, waited: bool = False) -> None:
        self._queue.append(QueuedMessage(message, waited=waited))

    def mark_waiting(self) -> None:
        """The socket went down: everything queued now waits for the reconnect."""
        for queued in self._queue:
            queued.waited = True

    def head(self, now: float) -> QueuedMessage | None:
        """The message to send next, or None when the queue is empty or the head must wait."""
        if not self._queue:
            return None
        head = self._queue[0]
        return head if head.not_before <= now else None

    def next_attempt_at(self) -> float | None:
        return self._queue[0].not_before if self._queue else None

    def delivered(self) -> QueuedMessage:
        """The head was answered: it leaves the queue."""
        return self._queue.popleft()

    def unanswered(self) -> None:
        """The head went out but the socket closed before its answer: resend, no attempt used."""
        if self._queue:
            self._queue[0].maybe_stored = True

    def failed(self, now: float, *, maybe_stored: bool) -> list[QueuedMessage]:
        """The head's delivery failed (timeout or CALLERROR). Returns what was given up.

        Until the attempts are spent the head stays and waits ``retry_interval``
        times the attempts so far; then it is dropped, and for a start every later
        message of its transaction too.
        """
        if not self._queue:
            return []
        head = self._queue[0]
        head.attempts += 1
        head.maybe_stored = head.maybe_stored or maybe_stored
        if head.attempts < self.max_attempts:
            head.not_before = now + self.retry_interval * head.attempts
            return []
        self._queue.popleft()
        dropped = [head]
        if isinstance(head.message, TransactionStart):
            transaction = head.message.transaction
            transaction.start_dropped = True
            kept: deque[QueuedMessage] = deque()
            for queued in self._queue:
                if queued.message.transaction is transaction:
                    dropped.append(queued)
                else:
                    kept.append(queued)
            self._queue = kept
        return dropped

    def pending(self) -> list[TransactionMessage]:
        return [queued.message for queued in self._queue]
