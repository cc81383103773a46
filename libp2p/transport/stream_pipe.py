"""A raw connection carried by a stream of another connection (a relayed connection).

Circuit relay makes a connection to B out of a stream to relay R that R splices onto a stream
to B, as go's circuit transport does; the stream is then one more raw byte pipe for the
upgrader, which secures (end to end, R sees ciphertext) and multiplexes it like a TCP socket.
``raw_connection_over(stream)`` drives the same ``RawConnection`` protocol object as TCP,
through a small ``asyncio.Transport`` that reads the stream in one task and writes it in
another, with pause/resume both ways so backpressure crosses the relay.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import TYPE_CHECKING, Any

from libp2p.errors import Libp2pError
from libp2p.transport.connection import RawConnection

if TYPE_CHECKING:
    from libp2p.abc import Stream
    from libp2p.multiaddr import Multiaddr

__all__ = ["raw_connection_over"]

log = logging.getLogger("libp2p.transport.stream_pipe")

_READ_CHUNK = 64 * 1024
_HIGH_WATER = 1 << 20
_LOW_WATER = 1 << 18


class _StreamPipe(asyncio.Transport):
    def __init__(self, stream: Stream, protocol: RawConnection) -> None:
        super().__init__()
        self._stream = stream
        self._protocol = protocol
        self._queue: deque[bytes] = deque()
        self._queued = 0
        self._wake_writer = asyncio.Event()
        self._reading = asyncio.Event()
        self._reading.set()
        self._closing = False
        self._eof_requested = False
        self._write_paused = False
        self._lost = False
        self._high, self._low = _HIGH_WATER, _LOW_WATER
        self._reader = asyncio.ensure_future(self._read_loop())
        self._writer = asyncio.ensure_future(self._write_loop())

    # --- reading: stream -> protocol ------------------------------------------------------------

    async def _read_loop(self) -> None:
        proto = self._protocol
        try:
            while True:
                await self._reading.wait()
                data = await self._stream.read(_READ_CHUNK)
                if not data:
                    proto.eof_received()
                    return
                proto.feed(data)
        except asyncio.CancelledError:
            raise
        except (Libp2pError, OSError, EOFError) as exc:
            self._connection_lost(exc)

    def pause_reading(self) -> None:
        self._reading.clear()

    def resume_reading(self) -> None:
        self._reading.set()

    def is_reading(self) -> bool:
        return self._reading.is_set()

    # --- writing: protocol -> stream ------------------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._closing or self._lost or not data:
            return
        self._queue.append(bytes(data))
        self._queued += len(data)
        self._wake_writer.set()
        if self._queued > self._high and not self._write_paused:
            self._write_paused = True
            self._protocol.pause_writing()

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    async def _write_loop(self) -> None:
        try:
            while True:
                while not self._queue:
                    if self._closing or self._eof_requested:
                        await self._stream.close()
                        if self._closing:
                            # Our half is done; the connection ends when the remote's half does.
                            return
                        self._eof_requested = False
                    self._wake_writer.clear()
                    await self._wake_writer.wait()
                chunk = self._queue.popleft()
                self._queued -= len(chunk)
                await self._stream.write(chunk)
                if self._write_paused and self._queued <= self._low:
                    self._write_paused = False
                    self._protocol.resume_writing()
        except asyncio.CancelledError:
            raise
        except (Libp2pError, OSError) as exc:
            self._connection_lost(exc)

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self._eof_requested = True
        self._wake_writer.set()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._high = high if high is not None else _HIGH_WATER
        self._low = low if low is not None else self._high // 4

    def get_write_buffer_size(self) -> int:
        return self._queued

    # --- closing ----------------------------------------------------------------------------------

    def is_closing(self) -> bool:
        return self._closing or self._lost

    def close(self) -> None:
        """Send what is queued, half-close the stream, and end once the remote ends too."""
        if self._closing or self._lost:
            return
        self._closing = True
        self._wake_writer.set()
        self._reader.add_done_callback(lambda _: self._connection_lost(None))

    def abort(self) -> None:
        if self._lost:
            return
        self._queue.clear()
        self._connection_lost(None)
        # Held by the pipe until it is done (a stream reset sends one frame and returns).
        self._reset_task: asyncio.Task[None] | None = asyncio.ensure_future(self._stream.reset())

    def _connection_lost(self, exc: Exception | None) -> None:
        if self._lost:
            return
        self._lost = True
        self._closing = True
        current = asyncio.current_task()
        for task in (self._reader, self._writer):
            if task is not current and not task.done():
                task.cancel()
        self._protocol.connection_lost(exc)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "stream":
            return self._stream
        return default


def raw_connection_over(
    stream: Stream,
    *,
    is_initiator: bool,
    local_addr: Multiaddr | None = None,
    remote_addr: Multiaddr | None = None,
    limited: bool = False,
) -> RawConnection:
    """A ``RawConnection`` whose bytes travel on ``stream`` (for the upgrader, as over TCP);
    ``limited``: the relay limits it (the upgraded connection is marked limited)."""
    conn = RawConnection(is_initiator=is_initiator)
    conn.limited = limited
    conn.connection_made(_StreamPipe(stream, conn))
    conn.local_addr = local_addr
    conn.remote_addr = remote_addr
    return conn
