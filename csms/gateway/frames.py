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

from websockets.asyncio.server import ServerConnection
from websockets.frames import Frame, Opcode
from websockets.protocol import State

try:
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - websockets built without its C part
    from websockets.utils import apply_mask

# The first header byte of a whole, uncompressed text frame: FIN, no RSV bits.
_FINAL_TEXT = 0x80 | Opcode.TEXT.value
_MASKED = 0x80


class FramesConnection(ServerConnection):
    """websockets' server connection, with whole text frames read in one pass."""

    # Who reads the frames: None until the handshake is done, True while
    # this reader does, False once websockets' parser reads everything.
    _reading: bool | None = None
    # The bytes of a frame not yet whole, while this reader works.
    _partial = b""
    # Whether the last bytes received during the handshake ended the request:
    # bytes after it would have gone to websockets' parser, which may then
    # be inside a frame.
    _request_ended_chunk = False

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
                payload = apply_mask(buffer[start:end], buffer[start - 4 : start])
                try:
                    self.recv_messages.put(Frame(Opcode.TEXT, payload))
                except EOFError:
                    # The connection is closing: nothing more is read.
                    return
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
