"""Which node holds which station's socket, across the processes of one
installation.

:class:`NodeDirectory` is the record (Redis with many nodes:
``csms.messaging.redis_directory``; :class:`MemoryNodeDirectory` in one
process). Entries expire unless refreshed, so a node that dies without
saying so is forgotten within the expiry; a node deletes an entry on
disconnect only if it still names that node.

:class:`NodePresence` keeps this node's entries: it records connects and
disconnects in order, in batches (one round trip for a reconnect storm),
refreshes every held station's entry (at once when the bus reconnects after
losing Redis), and announces each connect on the bus
(:data:`CLAIMS_TOPIC`) so that a node still holding an older socket of that
station drops it. It answers ``locate`` for the command service
(``csms.commands.ports.StationLocator``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol

import msgspec

from csms.domain.bus import Bus

log = logging.getLogger(__name__)

CLAIMS_TOPIC = "station-claims"
# Seconds an entry lives unless refreshed, and how often held stations'
# entries are refreshed.
ENTRY_SECONDS = 90
REFRESH_SECONDS = 30.0


class NodeDirectory(Protocol):
    """The shared record of station to node. ``node`` is this process."""

    node: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def record(self, changes: Sequence[tuple[str, bool]]) -> None:
        """Applies ``(charge_point_id, held)`` in order: held records this
        node for the station (newest connection wins); not held deletes the
        entry only if it still names this node."""
        ...

    async def refresh(self, charge_point_ids: Sequence[str]) -> dict[str, str]:
        """Renews the entries of stations this node holds (an entry that
        expired is recorded again); returns those whose entry names another
        node now (station id to that node), left unchanged."""
        ...

    async def locate(self, charge_point_id: str) -> str | None:
        """The node that holds the station's socket, if any."""
        ...

    async def forget_node(self) -> int:
        """Deletes entries that name this node (left by its previous run);
        returns how many."""
        ...


class MemoryNodeDirectory:
    """The directory within one process. Nodes of one process (tests) share
    a ``table`` (:meth:`for_node`); entries do not expire."""

    def __init__(self, node: str, table: dict[str, str] | None = None) -> None:
        self.node = node
        self.table: dict[str, str] = {} if table is None else table

    def for_node(self, node: str) -> MemoryNodeDirectory:
        return MemoryNodeDirectory(node, self.table)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def record(self, changes: Sequence[tuple[str, bool]]) -> None:
        for charge_point_id, held in changes:
            if held:
                self.table[charge_point_id] = self.node
            elif self.table.get(charge_point_id) == self.node:
                del self.table[charge_point_id]

    async def refresh(self, charge_point_ids: Sequence[str]) -> dict[str, str]:
        others: dict[str, str] = {}
        for charge_point_id in charge_point_ids:
            holder = self.table.setdefault(charge_point_id, self.node)
            if holder != self.node:
                others[charge_point_id] = holder
        return others

    async def locate(self, charge_point_id: str) -> str | None:
        return self.table.get(charge_point_id)

    async def forget_node(self) -> int:
        mine = [key for key, node in self.table.items() if node == self.node]
        for key in mine:
            del self.table[key]
        return len(mine)


class Claim(msgspec.Struct, frozen=True):
    """``node`` took these stations' connections just now."""

    node: str
    stations: list[str]


_encode_claim = msgspec.json.Encoder().encode
_decode_claim = msgspec.json.Decoder(Claim).decode

# (charge_point_id, node that has it now) -> close this node's socket of it.
DropStation = Callable[[str, str], None]


class NodePresence:
    """This node's entries in the directory, and the claims on the bus.

    ``held`` lists the stations whose sockets this node holds; ``drop``
    closes this node's socket of a station another node took (without
    marking the station offline). Call :meth:`subscribe` before the bus
    starts, :meth:`start` after.
    """

    def __init__(
        self,
        directory: NodeDirectory,
        bus: Bus,
        *,
        held: Callable[[], Iterable[str]],
        holds: Callable[[str], bool],
        drop: DropStation,
    ) -> None:
        self.directory = directory
        self.node = directory.node
        self._bus = bus
        self._held = held
        self._holds = holds
        self._drop = drop
        self._queue: list[tuple[str, bool]] = []
        self._refresh_due = False
        self._refreshed: asyncio.Event | None = None
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._worker: asyncio.Task[None] | None = None

    def subscribe(self) -> None:
        self._bus.subscribe(CLAIMS_TOPIC, self._heard)
        self._bus.on_reconnect(self._server_back)

    def _server_back(self) -> None:
        """The bus lost its server and is back: a restarted Redis holds no
        entries, so every held station is recorded again now rather than at
        the next periodic refresh (up to REFRESH_SECONDS later)."""
        log.info("node directory: the bus reconnected; recording held stations again")
        self._refresh_due = True
        self._idle.clear()
        self._wake.set()

    async def start(self) -> None:
        forgotten = await self.directory.forget_node()
        if forgotten:
            log.info("node directory: dropped %d entries left by this node's last run", forgotten)
        self._worker = asyncio.create_task(self._work(), name="node-presence")
        self._worker.add_done_callback(_log_end)

    async def stop(self) -> None:
        """Records what is queued, then stops."""
        await self.flush()
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None

    # -- what the gateway tells -------------------------------------------------

    def connected(self, charge_point_id: str) -> None:
        self._enqueue(charge_point_id, True)

    def disconnected(self, charge_point_id: str) -> None:
        self._enqueue(charge_point_id, False)

    def _enqueue(self, charge_point_id: str, held: bool) -> None:
        self._queue.append((charge_point_id, held))
        self._idle.clear()
        self._wake.set()

    async def refresh(self) -> None:
        """Renews every held station's entry (run every REFRESH_SECONDS);
        a station another node has recorded since is dropped here."""
        self._refresh_due = True
        self._idle.clear()
        self._wake.set()
        await self.flush()

    async def flush(self) -> None:
        """Waits until everything queued so far is recorded."""
        if self._worker is not None and not self._worker.done():
            await self._idle.wait()

    # -- the command service's locator ------------------------------------------

    async def locate(self, charge_point_id: str) -> str | None:
        return await self.directory.locate(charge_point_id)

    # -- internals --------------------------------------------------------------

    async def _work(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue or self._refresh_due:
                if self._queue:
                    batch, self._queue = self._queue, []
                    await self._record(batch)
                if self._refresh_due and not self._queue:
                    self._refresh_due = False
                    await self._refresh()
            self._idle.set()

    async def _record(self, batch: list[tuple[str, bool]]) -> None:
        try:
            await self.directory.record(batch)
        except Exception as error:
            # The next refresh records the held ones again; a stale entry
            # of a station gone expires.
            log.warning("node directory: could not record %d change(s): %s", len(batch), error)
            return
        claimed = list(dict.fromkeys(cp for cp, held in batch if held))
        if claimed:
            try:
                await self._bus.publish(CLAIMS_TOPIC, _encode_claim(Claim(self.node, claimed)))
            except Exception as error:
                # The other node's refresh finds the station recorded here.
                log.warning(
                    "node directory: could not announce %d claim(s): %s", len(claimed), error
                )

    async def _refresh(self) -> None:
        held = list(self._held())
        if not held:
            return
        try:
            others = await self.directory.refresh(held)
        except Exception as error:
            log.warning("node directory: could not refresh %d entries: %s", len(held), error)
            return
        self._drop_taken(others)

    def _heard(self, payload: bytes) -> None:
        try:
            claim = _decode_claim(payload)
        except msgspec.ValidationError as error:
            log.warning("dropped a malformed station claim: %s", error)
            return
        if claim.node != self.node:
            self._drop_taken({station: claim.node for station in claim.stations})

    def _drop_taken(self, taken: Mapping[str, str]) -> None:
        for charge_point_id, node in taken.items():
            if self._holds(charge_point_id):
                log.info(
                    "station %s connected to node %s; closing its socket here",
                    charge_point_id,
                    node,
                )
                self._drop(charge_point_id, node)


def _log_end(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("the node presence worker stopped", exc_info=task.exception())
