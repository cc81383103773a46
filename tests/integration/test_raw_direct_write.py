"""``RawConnection.write`` on asyncio's own socket transport sends to the transport's socket
itself while the transport buffers nothing: the bytes, their order and the errors stay the
transport's (what it cannot send now is handed to it; once it buffers, every write goes to it)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from libp2p.transport.connection import ConnectionClosedError, RawConnection
from libp2p.transport.tcp import _TcpConnection


class _Sink(asyncio.Protocol):
    """The other end: collects what arrives; its reading can be paused (the sender's socket fills)."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.transport: asyncio.Transport | None = None
        self.lost = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.data += data

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)


class _CountingSocket:
    """Stands in for the socket ``RawConnection.write`` sends to itself, counting its sends."""

    def __init__(self, raw: RawConnection) -> None:
        assert raw._sock is not None
        self._sock = raw._sock
        self.count = 0
        raw._sock = self  # type: ignore[assignment]

    def send(self, data: bytes | memoryview) -> int:
        self.count += 1
        return self._sock.send(data)


async def _eventually(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not cond():
            await asyncio.sleep(0.005)


async def _pair() -> tuple[RawConnection, _Sink, asyncio.Server]:
    loop = asyncio.get_running_loop()
    sinks: list[_Sink] = []

    def made() -> _Sink:
        sinks.append(_Sink())
        return sinks[-1]

    server = await loop.create_server(made, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    _, raw = await loop.create_connection(lambda: _TcpConnection(is_initiator=True), "127.0.0.1", port)
    await _eventually(lambda: bool(sinks) and sinks[0].transport is not None)
    return raw, sinks[0], server


async def test_small_writes_go_to_the_socket_in_order() -> None:
    raw, sink, server = await _pair()
    try:
        # asyncio's default loop: the connection writes to the socket itself
        assert raw._sock is not None
        for i in range(100):
            raw.write(bytes([i]) * (i + 1))
        expected = b"".join(bytes([i]) * (i + 1) for i in range(100))
        await _eventually(lambda: len(sink.data) >= len(expected))
        assert bytes(sink.data) == expected
        assert raw.bytes_sent == len(expected)
        assert raw.transport is not None and raw.transport.get_write_buffer_size() == 0
    finally:
        raw.close()
        server.close()


async def test_what_the_socket_does_not_take_is_buffered_and_later_writes_queue_behind_it() -> None:
    raw, sink, server = await _pair()
    try:
        assert sink.transport is not None
        sink.transport.pause_reading()  # the sender's socket buffer fills up
        sends = _CountingSocket(raw)
        big = bytes(range(256)) * (64 * 1024)  # 16 MiB: more than the socket buffers take
        raw.write(big)
        assert sends.count == 1
        assert raw.transport is not None and raw.transport.get_write_buffer_size() > 0
        raw.write(b"tail")  # behind what the transport holds, not straight to the socket
        raw.write(memoryview(b"-end"))
        assert sends.count == 1
        sink.transport.resume_reading()
        total = len(big) + 8
        await _eventually(lambda: len(sink.data) >= total, timeout=30.0)
        assert len(sink.data) == total
        assert sink.data[: len(big)] == big
        assert bytes(sink.data[len(big):]) == b"tail-end"
        assert raw.bytes_sent == total
    finally:
        raw.close()
        server.close()


async def test_write_after_close_raises_and_later_bytes_are_prepended() -> None:
    raw, sink, server = await _pair()
    try:
        raw.write_later(b"first ")
        raw.write(b"second")
        await _eventually(lambda: len(sink.data) >= 12)
        assert bytes(sink.data) == b"first second"
        raw.close()
        with pytest.raises(ConnectionClosedError):
            raw.write(b"after close")
        async with asyncio.timeout(10):
            await sink.lost
        assert bytes(sink.data) == b"first second"
    finally:
        server.close()


async def test_write_after_write_eof_raises_as_the_transport_does() -> None:
    raw, sink, server = await _pair()
    try:
        raw.write_eof()
        with pytest.raises(RuntimeError):
            raw.write(b"x")
    finally:
        raw.close()
        server.close()


async def test_other_transports_are_written_through_their_write() -> None:
    """A wrapped transport (or uvloop's, or a relayed pipe): no socket of its own is used."""
    written: list[bytes] = []

    class Wrapped(asyncio.Transport):
        def write(self, data: bytes | bytearray | memoryview) -> None:
            written.append(bytes(data))

        def is_closing(self) -> bool:
            return False

    raw = RawConnection(is_initiator=True)
    raw.connection_made(Wrapped())
    assert raw._sock is None
    raw.write(b"abc")
    assert written == [b"abc"]
