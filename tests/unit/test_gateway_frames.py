"""The gateway's frame reader (csms/gateway/frames.py) against a real
websockets server on port 0, driven by a raw TCP client so that every byte
boundary is the test's choice: whatever way the bytes arrive, each message
comes out whole and in order, and every frame it does not read itself gets
websockets' own answer."""

from __future__ import annotations

import asyncio
import base64
import os
import struct
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame
from websockets.protocol import State

from csms.gateway.frames import FramesConnection, text_frame

pytestmark = pytest.mark.backend_independent

MAX_SIZE = 4096


RECEIVED: list[bytes] = []


async def _echo(ws: ServerConnection) -> None:
    """Answers every message with ``got:`` and the message, and keeps it in
    RECEIVED."""
    try:
        async for message in ws:
            data = message if isinstance(message, bytes) else message.encode()
            RECEIVED.append(data)
            await ws.send(b"got:" + data, text=True)
    except ConnectionClosed:
        pass


@pytest.fixture
async def port() -> AsyncIterator[int]:
    RECEIVED.clear()
    async with serve(
        _echo,
        "127.0.0.1",
        0,
        create_connection=FramesConnection,
        max_size=MAX_SIZE,
        compression="deflate",
        ping_interval=None,
    ) as server:
        yield server.sockets[0].getsockname()[1]


def _frame(opcode: int, payload: bytes, *, fin: bool = True, masked: bool = True) -> bytes:
    """A client frame, masked as RFC 6455 requires (unless told not to)."""
    head = bytes([(0x80 if fin else 0) | opcode])
    mask_bit = 0x80 if masked else 0
    length = len(payload)
    if length < 126:
        head += bytes([mask_bit | length])
    elif length < 65536:
        head += bytes([mask_bit | 126]) + struct.pack("!H", length)
    else:
        head += bytes([mask_bit | 127]) + struct.pack("!Q", length)
    if not masked:
        return head + payload
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def _text(payload: bytes) -> bytes:
    return _frame(0x1, payload)


class RawClient:
    """A websocket client that writes exactly the bytes it is given."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int, *, with_request: bytes = b"") -> RawClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET /ocpp/CP1 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
        writer.write(request + with_request)
        await writer.drain()
        status = await reader.readuntil(b"\r\n\r\n")
        assert status.startswith(b"HTTP/1.1 101"), status
        return cls(reader, writer)

    async def send(self, data: bytes, *, pieces: int = 1) -> None:
        """Writes ``data`` in ``pieces`` writes, each drained before the next
        (one byte per write when ``pieces`` is len(data))."""
        step = max(1, -(-len(data) // pieces))
        for start in range(0, len(data), step):
            self.writer.write(data[start : start + step])
            await self.writer.drain()
            if pieces > 1:
                await asyncio.sleep(0)

    async def frame(self) -> tuple[int, bytes]:
        """The next server frame: (opcode, payload)."""
        head = await self.reader.readexactly(2)
        length = head[1] & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await self.reader.readexactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", await self.reader.readexactly(8))
        return head[0] & 0x0F, await self.reader.readexactly(length)

    async def texts(self, count: int) -> list[bytes]:
        return [(await self.frame())[1] for _ in range(count)]

    async def close_code(self) -> int:
        """The code of the close frame the server sends next."""
        opcode, payload = await self.frame()
        assert opcode == 0x8, (opcode, payload)
        return int(struct.unpack("!H", payload[:2])[0])

    def close(self) -> None:
        self.writer.close()


@pytest.fixture
async def client(port: int) -> AsyncIterator[RawClient]:
    raw = await RawClient.open(port)
    try:
        yield raw
    finally:
        raw.close()


async def test_a_message_written_a_byte_at_a_time_arrives_whole(client: RawClient) -> None:
    """A frame cut at every byte boundary is read as one message."""
    message = b'[2,"1","Heartbeat",{}]'
    await client.send(_text(message), pieces=len(_text(message)))
    assert await client.texts(1) == [b"got:" + message]


async def test_many_frames_in_one_write_arrive_in_order(client: RawClient) -> None:
    """Several whole frames in one TCP write come out in order, the last one
    cut in two across writes."""
    messages = [f'[2,"{n}","Heartbeat",{{}}]'.encode() for n in range(20)]
    data = b"".join(_text(message) for message in messages)
    await client.send(data[:-5])
    await client.send(data[-5:])
    assert await client.texts(20) == [b"got:" + message for message in messages]


async def test_two_byte_and_eight_byte_lengths_are_read(client: RawClient) -> None:
    """Messages of 125, 126, 300 and MAX_SIZE bytes (all three length forms
    of the header but the 8-byte one, which the limit refuses) come out whole."""
    messages = [b"a" * 125, b"b" * 126, b"c" * 300, b"d" * MAX_SIZE]
    await client.send(b"".join(_text(message) for message in messages), pieces=7)
    assert await client.texts(4) == [b"got:" + message for message in messages]


async def test_whole_text_frames_bypass_websockets_parser(
    client: RawClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ordinary frames are this reader's: websockets' frame parser sees none
    of them (a ping among them it does see)."""
    parsed: list[object] = []
    original = Frame.parse

    def counting_parse(*args: object, **kwargs: object) -> object:
        parsed.append(args)
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Frame, "parse", counting_parse)
    await client.send(b"".join(_text(f"m{n}".encode()) for n in range(10)), pieces=4)
    assert len(await client.texts(10)) == 10
    assert parsed == []
    await client.send(_frame(0x9, b"ping"))
    assert await client.frame() == (0xA, b"ping")
    assert len(parsed) == 1


async def test_a_ping_between_messages_is_answered_and_messages_go_on(client: RawClient) -> None:
    """A ping among text frames gets its pong; the messages around it arrive."""
    await client.send(_text(b"one") + _frame(0x9, b"are you there") + _text(b"two"))
    frames = [await client.frame() for _ in range(3)]
    assert (0xA, b"are you there") in frames
    assert [payload for opcode, payload in frames if opcode == 0x1] == [b"got:one", b"got:two"]


async def test_a_fragmented_message_is_assembled(client: RawClient) -> None:
    """A text frame without FIN and its continuations make one message, and
    whole frames after it are read again as usual."""
    data = (
        _frame(0x1, b"frag", fin=False)
        + _frame(0x0, b"men", fin=False)
        + _frame(0x0, b"ted")
        + _text(b"after")
    )
    await client.send(data, pieces=3)
    assert await client.texts(2) == [b"got:fragmented", b"got:after"]


async def test_messages_keep_their_order_across_both_readers(client: RawClient) -> None:
    """Whole frames (this reader's), a fragmented message and a binary one
    (websockets' parser's) come out in the order they were sent."""
    data = (
        _text(b"first")
        + _frame(0x1, b"sec", fin=False)
        + _frame(0x0, b"ond")
        + _text(b"third")
        + _frame(0x2, b"fourth")
        + _text(b"fifth")
    )
    await client.send(data, pieces=2)
    answers = await client.texts(5)
    assert answers == [b"got:first", b"got:second", b"got:third", b"got:fourth", b"got:fifth"]


async def test_reading_stops_above_max_queue_and_resumes() -> None:
    """A charger that sends without waiting is read only up to max_queue
    messages ahead of the one being handled; then every message arrives, in
    order, as the handler takes them."""
    connections: list[FramesConnection] = []
    release = asyncio.Event()
    taken: list[bytes] = []

    async def slow_reader(ws: ServerConnection) -> None:
        assert isinstance(ws, FramesConnection)
        connections.append(ws)
        await release.wait()
        try:
            while True:
                taken.append(await ws.next_message())
        except ConnectionClosed:
            pass

    async with serve(
        slow_reader,
        "127.0.0.1",
        0,
        create_connection=FramesConnection,
        max_queue=(4, 2),
        ping_interval=None,
    ) as server:
        raw = await RawClient.open(server.sockets[0].getsockname()[1])
        try:
            # 2 MB: more than one read of the socket takes, and more than the
            # kernel's buffers hold, so reading must stop before the end. Not
            # drained: the client's transport keeps what the server does not
            # read yet.
            messages = [f"m{n:04d}".encode() + b"." * 1000 for n in range(2000)]
            for message in messages:
                raw.writer.write(_text(message))
            connection = connections[0]
            for _ in range(100):
                if not connection.transport.is_reading():
                    break
                await asyncio.sleep(0.01)
            assert not connection.transport.is_reading()
            # One read's worth of frames past the mark at most, not all.
            assert 4 < connection.messages_waiting < 1000
            release.set()
            for _ in range(500):
                if len(taken) == len(messages):
                    break
                await asyncio.sleep(0.01)
            assert taken == messages
            assert connection.transport.is_reading()
        finally:
            raw.close()


async def test_a_frame_above_the_limit_closes_with_1009(client: RawClient) -> None:
    """The limit is websockets': a header announcing more than max_size closes
    the connection with 1009 before the payload arrives."""
    await client.send(_text(b"fine"))
    assert await client.texts(1) == [b"got:fine"]
    await client.send(_text(b"x" * (MAX_SIZE + 1))[:20])
    assert await client.close_code() == 1009


async def test_an_unmasked_frame_closes_with_1002(client: RawClient) -> None:
    """A client frame without a mask is a protocol error, as websockets says."""
    await client.send(_frame(0x1, b"no mask", masked=False))
    assert await client.close_code() == 1002


async def test_a_frame_with_reserved_bits_closes_with_1002(client: RawClient) -> None:
    """RSV bits set without an extension that defines them: 1002."""
    frame = bytearray(_text(b"rsv"))
    frame[0] |= 0x40
    await client.send(bytes(frame))
    assert await client.close_code() == 1002


async def test_a_continuation_without_a_start_closes_with_1002(client: RawClient) -> None:
    """A continuation frame with no message begun is a protocol error."""
    await client.send(_frame(0x0, b"orphan"))
    assert await client.close_code() == 1002


async def test_a_text_frame_inside_a_fragmented_message_closes_with_1002(
    client: RawClient,
) -> None:
    """A whole text frame while a fragmented message is open is refused, not
    read as a message of its own."""
    await client.send(_frame(0x1, b"begun", fin=False) + _text(b"interloper"))
    assert await client.close_code() == 1002


async def test_the_clients_close_is_echoed_after_its_messages(client: RawClient) -> None:
    """A message before a close frame in the same write is received, and the
    close is echoed with the client's code."""
    close = _frame(0x8, struct.pack("!H", 4001) + b"bye")
    await client.send(_text(b"last") + close)
    assert await client.close_code() == 4001
    for _ in range(100):
        if RECEIVED:
            break
        await asyncio.sleep(0.01)
    assert RECEIVED == [b"last"]


async def test_a_frame_sent_with_the_handshake_request_is_read(port: int) -> None:
    """Frames that arrive with the handshake request (before the 101) are
    read by websockets' parser, and so is everything after them."""
    early = _text(b"early")
    raw = await RawClient.open(port, with_request=early[:5])
    try:
        await raw.send(early[5:] + _text(b"later"), pieces=2)
        assert await raw.texts(2) == [b"got:early", b"got:later"]
    finally:
        raw.close()


async def test_a_compressed_connection_is_read_by_websockets(port: int) -> None:
    """A client that negotiates permessage-deflate is served as before (its
    frames carry RSV1 and are websockets' to read)."""
    async with connect(f"ws://127.0.0.1:{port}/ocpp/CP1", compression="deflate") as ws:
        assert ws.protocol.extensions
        for number in range(3):
            await ws.send(f"compressed {number} " + "z" * 500)
            assert await ws.recv() == f"got:compressed {number} " + "z" * 500


@pytest.mark.parametrize("length", [0, 1, 125, 126, 127, 65535, 65536, 70000])
def test_the_answer_frame_is_what_websockets_writes(length: int) -> None:
    """text_frame gives byte for byte the frame websockets' server protocol
    writes for the same text, for each of the three length forms."""
    from websockets.server import ServerProtocol

    protocol = ServerProtocol()
    protocol.state = State.OPEN
    payload = b"x" * length
    protocol.send_text(payload)
    assert text_frame(payload) == b"".join(protocol.data_to_send())


async def test_the_frames_benchmark_prints_both_paths(capsys: pytest.CaptureFixture[str]) -> None:
    """benchmarks.websocket_frames times a received frame and a sent answer
    through websockets' connection and through the gateway's, and prints a
    row of figures for each."""
    import re

    from benchmarks.websocket_frames import _main

    await _main(200, 1)
    text = capsys.readouterr().out
    for label in (
        "websockets \\(ServerConnection\\)",
        "gateway \\(FramesConnection, text_frame\\)",
    ):
        assert re.search(rf"\| {label} \| [\d.]+ \| [\d.]+ \|", text), text
