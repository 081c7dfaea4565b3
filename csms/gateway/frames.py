"""A websocket connection that reads a charger's ordinary frames itself, and
the frame that carries an answer back.

Almost every frame a charger sends is one whole, masked text frame of a few
hundred bytes. websockets parses each through a generator-based reader and
hands it on as an event: about a tenth of the gateway's event loop per call
(docs/benchmarks.md, "Gateway profile"). ``FramesConnection`` reads those
frames in one pass over the bytes received and queues each message as
websockets' own parser would. Every other frame (control frames, fragments,
compressed or malformed frames, anything while the connection is not open)
goes to websockets' parser, whole, so its rules and close codes stay the
only ones: this reader only decides, per frame, which of the two reads it.

websockets' parser stays at a frame boundary: it is given only whole frames
while this reader works, and once it has been given a part of one (a frame
above the size limit, say, which it must refuse before it arrives whole) it
reads everything from then on.
"""

from __future__ import annotations

import asyncio
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.frames import Frame, Opcode
from websockets.protocol import Event, State
from websockets.typing import Data

try:
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - websockets built without its C part
    from websockets.utils import apply_mask

# The first header byte of a whole, uncompressed text frame: FIN, no RSV bits.
_FINAL_TEXT = 0x80 | Opcode.TEXT.value
_MASKED = 0x80


class FramesConnection(ServerConnection):
    """websockets' server connection, with whole text frames read in one pass
    into a queue of its own: messages are taken with ``next_message``,
    ``recv`` or iteration (not ``recv_streaming``, which reads websockets'
    queue only)."""

    # Slots: attributes added to websockets' instance dictionary would grow it
    # to its next size, about 1.6 kB for every connection.
    __slots__ = ("_messages", "_partial", "_reading", "_request_ended_chunk", "_waiter")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Messages in the order received: the payloads this reader read, and
        # a None for each message websockets' parser read (it is in
        # websockets' queue, taken from there with recv). A list, not a
        # deque: it holds one message or none nearly always, and an empty
        # deque takes 760 bytes.
        self._messages: list[bytes | None] = []
        # Who reads the frames: None until the handshake is done, True while
        # this reader does, False once websockets' parser reads everything.
        self._reading: bool | None = None
        # The bytes of a frame not yet whole, while this reader works.
        self._partial = b""
        self._waiter: asyncio.Future[None] | None = None
        # Whether the last bytes received during the handshake ended the
        # request: bytes after it would have gone to websockets' parser,
        # which may then be inside a frame.
        self._request_ended_chunk = False

    def data_received(self, data: bytes) -> None:
        reading = self._reading
        if reading is False:
            super().data_received(data)
            return
        if self.protocol.state is not State.OPEN:
            if reading is None:
                self._request_ended_chunk = data.endswith(b"\r\n\r\n")
                super().data_received(data)
            else:
                # Closing: websockets' parser reads the rest, from the frame
                # this reader had begun.
                self._parser_reads_everything(self._partial + data)
            return
        if reading is None:
            if (
                not self._request_ended_chunk
                or self.protocol.reader.buffer
                or self.protocol.extensions
            ):
                # Bytes that came with the handshake request, or a compressed
                # connection: websockets' parser reads it all.
                self._parser_reads_everything(data)
                return
            self._reading = True
        partial = self._partial
        if partial:
            self._partial = b""
            data = partial + data
        self._read_frames(data)

    def _read_frames(self, buffer: bytes) -> None:
        protocol = self.protocol
        size = len(buffer)
        max_size = protocol.max_message_size
        position = 0
        while size - position >= 2:
            head1 = buffer[position]
            head2 = buffer[position + 1]
            if not head2 & _MASKED:
                # Refused by websockets (1002): a client masks every frame.
                self._parser_reads_everything(buffer[position:])
                return
            length = head2 & 0x7F
            start = position + 6
            if length == 126:
                if size - position < 4:
                    break
                length = (buffer[position + 2] << 8) | buffer[position + 3]
                start = position + 8
            elif length == 127:
                if size - position < 10:
                    break
                length = int.from_bytes(buffer[position + 2 : position + 10], "big")
                start = position + 14
            if max_size is not None and length > max_size:
                # websockets refuses it from its header (1009).
                self._parser_reads_everything(buffer[position:])
                return
            end = start + length
            if end > size:
                break
            if head1 == _FINAL_TEXT and protocol.current_size is None:
                self._queue(apply_mask(buffer[start:end], buffer[start - 4 : start]))
            else:
                # A control frame, a fragment, a bad header: websockets'
                # parser reads it, whole, and answers it as it would.
                super().data_received(buffer[position:end])
                if self.protocol.state is not State.OPEN:
                    self._parser_reads_everything(buffer[end:])
                    return
            position = end
        if position < size:
            self._partial = buffer[position:] if position else buffer

    def process_event(self, event: Event) -> None:
        if isinstance(event, Frame) and (
            event.opcode is Opcode.TEXT or event.opcode is Opcode.BINARY
        ):
            # The first frame of a message websockets' parser read: its
            # place in the order of messages is kept by a marker.
            self._queue(None)
        super().process_event(event)

    def _queue(self, message: bytes | None) -> None:
        """Queues a message this reader read (None: the next message in
        websockets' own queue), wakes the one waiting for it, and stops
        reading above the high-water mark, as websockets' queue does."""
        messages = self._messages
        messages.append(message)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        assembler = self.recv_messages
        if assembler.high is not None and len(messages) > assembler.high and not assembler.paused:
            assembler.paused = True
            assembler.pause()

    @property
    def messages_waiting(self) -> int:
        """Messages read and not yet taken."""
        return len(self._messages)

    async def next_message(self) -> bytes:
        """The next message as received (a text message's UTF-8 bytes);
        raises websockets' ConnectionClosed once the connection is closed
        and every message received before has been taken."""
        message = await self._next(False)
        assert isinstance(message, bytes)
        return message

    async def recv(self, decode: bool | None = None) -> Data:  # type: ignore[override]
        """websockets' ``recv``, over this connection's queue."""
        return await self._next(decode)

    async def _next(self, decode: bool | None) -> Data:
        messages = self._messages
        while not messages:
            if self.recv_messages.closed:
                # Closed: websockets' recv says how.
                return await super().recv(decode)
            waiter = self._waiter = self.loop.create_future()
            try:
                await waiter
            finally:
                self._waiter = None
        message = messages.pop(0)
        assembler = self.recv_messages
        if assembler.paused and assembler.low is not None and len(messages) <= assembler.low:
            assembler.paused = False
            assembler.resume()
        if message is None:
            return await super().recv(decode)
        # This reader reads text messages only.
        return message if decode is False else message.decode()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _parser_reads_everything(self, data: bytes) -> None:
        self._reading = False
        self._partial = b""
        if data:
            super().data_received(data)


def text_frame(payload: bytes) -> bytes:
    """A server's whole, unmasked, uncompressed text frame carrying
    ``payload``: what websockets' ``send_text`` writes for it, built without
    its frame object (the gateway writes one per answer)."""
    length = len(payload)
    if length < 126:
        return bytes((_FINAL_TEXT, length)) + payload
    if length < 65536:
        return bytes((_FINAL_TEXT, 126)) + length.to_bytes(2, "big") + payload
    return bytes((_FINAL_TEXT, 127)) + length.to_bytes(8, "big") + payload
