"""Commands for stations held by another node, over the bus.

Each node subscribes to its own request topic (``node.{name}.commands``)
and reply topic (``node.{name}.replies``). :meth:`BusRemoteNodes.execute_on`
publishes a :class:`CommandRequest` (the command as tagged JSON, a
correlation id, the caller's node) on the holder's request topic; the holder
runs it with its :class:`~csms.commands.ports.LocalStations` and publishes
the :class:`CommandReply` (the outcome as tagged JSON) on the caller's reply
topic.

The directory may name a node that is gone (its entry lives until it
expires): nobody subscribes to its request topic, the bus says so and the
answer is ``NotConnected`` at once. A node that dies while running the
command leaves the caller waiting until the command's timeout plus
:data:`REPLY_MARGIN`, then ``TimedOut`` (the call may have been sent).
"""

from __future__ import annotations

import asyncio
import logging
import uuid

import msgspec

from csms.commands.model import Command
from csms.commands.outcomes import CallFailed, NotConnected, Outcome, TimedOut
from csms.commands.ports import LocalStations
from csms.domain.bus import Bus

log = logging.getLogger(__name__)

# Seconds the caller waits beyond the command's own timeout for the answer
# to cross the bus (twice) and for the holder to reach the charger.
REPLY_MARGIN = 5.0


def request_topic(node: str) -> str:
    return f"node.{node}.commands"


def reply_topic(node: str) -> str:
    return f"node.{node}.replies"


class CommandRequest(msgspec.Struct, frozen=True):
    id: str
    reply_to: str
    charge_point_id: str
    command: Command
    timeout: float


class CommandReply(msgspec.Struct, frozen=True):
    id: str
    outcome: Outcome


_encode = msgspec.json.Encoder().encode
_decode_request = msgspec.json.Decoder(CommandRequest).decode
_decode_reply = msgspec.json.Decoder(CommandReply).decode


class _NoStations:
    def holds(self, charge_point_id: str) -> bool:
        return False

    async def execute(self, charge_point_id: str, command: Command, timeout: float) -> Outcome:
        return NotConnected()


class BusRemoteNodes:
    """:class:`~csms.commands.ports.RemoteNodes` over the bus, and the
    serving side of it for this node's ``local`` stations (set once the
    gateway runs; a node without one answers ``NotConnected``).

    Call :meth:`subscribe` before the bus starts."""

    def __init__(
        self,
        bus: Bus,
        node: str,
        local: LocalStations | None = None,
        *,
        margin: float = REPLY_MARGIN,
    ) -> None:
        self._bus = bus
        self.node = node
        self.local: LocalStations = local if local is not None else _NoStations()
        self.margin = margin
        self._waiting: dict[str, asyncio.Future[Outcome]] = {}
        self._serving: set[asyncio.Task[None]] = set()

    def subscribe(self) -> None:
        self._bus.subscribe(request_topic(self.node), self._requested)
        self._bus.subscribe(reply_topic(self.node), self._replied)

    async def stop(self) -> None:
        """Gives up the commands being run for other nodes (their callers
        time out) and the waits for answers (``NotConnected``)."""
        for task in list(self._serving):
            task.cancel()
        await asyncio.gather(*self._serving, return_exceptions=True)
        for future in self._waiting.values():
            if not future.done():
                future.set_result(NotConnected())

    # -- the caller's side --------------------------------------------------------

    async def execute_on(
        self, node: str, charge_point_id: str, command: Command, timeout: float
    ) -> Outcome:
        request = CommandRequest(uuid.uuid4().hex, self.node, charge_point_id, command, timeout)
        answer: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._waiting[request.id] = answer
        try:
            receivers = await self._bus.publish(request_topic(node), _encode(request))
            if receivers == 0:
                log.info(
                    "command %s for %s: node %s is gone",
                    type(command).__name__,
                    charge_point_id,
                    node,
                )
                return NotConnected()
            try:
                return await asyncio.wait_for(answer, timeout + self.margin)
            except TimeoutError:
                log.warning(
                    "command %s for %s: no answer from node %s within %.0f s",
                    type(command).__name__,
                    charge_point_id,
                    node,
                    timeout + self.margin,
                )
                return TimedOut(timeout)
        finally:
            del self._waiting[request.id]

    def _replied(self, payload: bytes) -> None:
        try:
            reply = _decode_reply(payload)
        except msgspec.ValidationError as error:
            log.warning("dropped a malformed command reply: %s", error)
            return
        answer = self._waiting.get(reply.id)
        if answer is None:
            log.info("a command reply came after its caller stopped waiting (%s)", reply.id)
            return
        if not answer.done():
            answer.set_result(reply.outcome)

    # -- the holder's side ----------------------------------------------------------

    def _requested(self, payload: bytes) -> None:
        try:
            request = _decode_request(payload)
        except msgspec.ValidationError as error:
            log.warning("dropped a malformed command request: %s", error)
            return
        task = asyncio.create_task(self._serve(request), name=f"remote-command-{request.id}")
        self._serving.add(task)
        task.add_done_callback(self._served)

    async def _serve(self, request: CommandRequest) -> None:
        outcome: Outcome
        try:
            if self.local.holds(request.charge_point_id):
                outcome = await self.local.execute(
                    request.charge_point_id, request.command, request.timeout
                )
            else:
                # The directory's entry was stale or the station left since.
                outcome = NotConnected()
        except Exception as error:
            log.exception(
                "command %s for %s from node %s failed",
                type(request.command).__name__,
                request.charge_point_id,
                request.reply_to,
            )
            outcome = CallFailed("InternalError", f"the node holding the station failed: {error}")
        await self._bus.publish(
            reply_topic(request.reply_to), _encode(CommandReply(request.id, outcome))
        )

    def _served(self, task: asyncio.Task[None]) -> None:
        self._serving.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("could not send a command's answer back: %s", task.exception())
