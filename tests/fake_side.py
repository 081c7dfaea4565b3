"""What the tests' fake CSMSs share about their end of a connection."""

from __future__ import annotations

import contextlib

from websockets.exceptions import ConnectionClosed


class KeepsReadingAfterALostAnswer:
    """A fake CSMS end (mixed into the ``ocpp`` library's ChargePoint) whose
    answers to a station that has closed are dropped, not raised.

    A station may answer one of our calls and close at once (Reset) while
    we are still answering one of its own (the SecurityEventNotification a
    password change sends). The library's receive loop ends on the failed
    send, and the station's answer, already received, would never be read:
    the test's call waited out its timeout. Our calls still fail at once on
    a closed connection."""

    async def _send(self, message: str) -> None:
        if message.startswith(("[3", "[4")):
            with contextlib.suppress(ConnectionClosed):
                await super()._send(message)  # type: ignore[misc]
            return
        await super()._send(message)  # type: ignore[misc]
