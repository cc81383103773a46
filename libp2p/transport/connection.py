"""The raw byte connection every transport hands to the upgrader.

One ``asyncio.BufferedProtocol`` serves both TCP and the in-memory transport. During the
handshake a dialer's upgrade reads with ``await read()``; a listener's inbound upgrade, and
afterwards the secured, muxed connection, take the bytes straight from ``buffer_updated``
through ``set_receiver`` (no task switch or copy per chunk).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Callable
from typing import cast

from libp2p.errors import Libp2pError, StateError
from libp2p.multiaddr import Multiaddr

__all__ = ["RawConnection", "ConnectionClosedError", "Receiver"]

log = logging.getLogger("libp2p.transport")

# Receive buffer handed to the kernel for each read; 256 KiB keeps syscalls few on bulk transfers.
_RECV_BUFFER_SIZE = 256 * 1024
# During the handshake, reading pauses when this much is pending unread.
_PENDING_HIGH_WATER = 1 << 20
# close() lets queued bytes drain for this long, then aborts: a peer that stops reading must not
# keep a closed connection's socket (and its write buffer) alive.
_CLOSE_GRACE = 5.0

Receiver = Callable[[memoryview], None]

# asyncio's own socket transport (the default loop's), whose ``write`` ``RawConnection.write``
# does itself while the transport buffers nothing (see ``_direct_socket``).
_SelectorSocketTransport = getattr(asyncio.selector_events, "_SelectorSocketTransport", None)
_DIRECT_ATTRS = ("_sock", "_buffer", "_closing", "_conn_lost", "_eof", "_empty_waiter")


def _direct_socket(transport: object) -> socket.socket | None:
    """The socket of asyncio's own socket transport, for ``RawConnection.write`` to send to
    while the transport's buffer is empty, as that transport's ``write`` does first, with the
    same checks (on the default loop its call, ``is_closing`` and an isinstance are a tenth of
    a small message's Python calls). None for any other transport, and if its attributes are
    not the ones this relies on (another Python version)."""
    if _SelectorSocketTransport is None or type(transport) is not _SelectorSocketTransport:
        return None
    if not all(hasattr(transport, name) for name in _DIRECT_ATTRS):
        return None
    sock = transport._sock  # type: ignore[attr-defined]
    return sock if isinstance(sock, socket.socket) else None

_local = threading.local()


def _receive_buffer() -> memoryview:
    """This thread's receive buffer, shared by all its connections.

    The loop fills it and calls ``buffer_updated`` at once, which consumes or copies every byte
    before returning (the Noise decryptor copies partial frames), so connections can share one
    buffer: an idle connection then costs no 256 KiB buffer of its own.
    """
    view: memoryview | None = getattr(_local, "view", None)
    if view is None:
        view = _local.view = memoryview(bytearray(_RECV_BUFFER_SIZE))
    return view


class ConnectionClosedError(Libp2pError, ConnectionError):
    """The connection was closed (locally, by the peer, or by an error)."""


class RawConnection(asyncio.BufferedProtocol):
    """A bidirectional byte pipe: TCP socket or in-memory pair."""

    # True for the loop's own socket transports: ``close()`` with an empty write buffer closes the
    # socket at once (``connection_lost`` follows without the peer's help). Other transports (a
    # WebSocket's close handshake) may need the peer to finish closing, so they keep the grace timer.
    _closes_at_once_when_drained = False
    # A listener's connections take its thread's receive buffer from here (set per listener).
    _listener_view: memoryview | None = None

    def __init__(self, *, is_initiator: bool, loop: asyncio.AbstractEventLoop | None = None) -> None:
        # ``loop``: a listener passes its own (CPython 3.11's get_running_loop() costs a getpid()).
        if loop is None:
            loop = asyncio.get_running_loop()
        #: the event loop this connection runs on
        self.loop = loop
        self.is_initiator = is_initiator
        self.transport: asyncio.Transport | None = None
        self._sock: socket.socket | None = None  # see ``_direct_socket``
        self.local_addr: Multiaddr | None = None
        self.remote_addr: Multiaddr | None = None
        #: a relayed connection with limits (circuit relay v2): only opted-in protocols run on it
        self.limited = False
        view = self._listener_view
        self._recv_view = view if view is not None else _receive_buffer()
        self._pending = bytearray()
        #: bytes that go out in front of the next write (see ``write_later``)
        self._later = b""
        self._read_waiter: asyncio.Future[None] | None = None
        self._drain_waiter: asyncio.Future[None] | None = None
        self._receiver: Receiver | None = None
        self._on_eof: Callable[[], None] | None = None
        self._on_lost: Callable[[Exception | None], None] | None = None
        self._eof = False
        self._write_paused = False
        self._read_paused = False
        # A future only once someone waits for the close (``wait_closed``): most connections never do.
        self._closed_waiter: asyncio.Future[None] | None = None
        self._lost = False
        self._abort_timer: asyncio.TimerHandle | None = None
        self._exc: Exception | None = None
        self.bytes_received = 0
        self.bytes_sent = 0
        #: loop time of the last bytes received before ``set_receiver`` (handshake progress)
        self.last_activity = loop.time()

    # --- asyncio.BufferedProtocol --------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Not an isinstance check: uvloop's transports do not derive from asyncio.Transport.
        self.transport = cast(asyncio.Transport, transport)
        self._sock = _direct_socket(transport)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._recv_view

    def buffer_updated(self, nbytes: int) -> None:
        self.bytes_received += nbytes
        data = self._recv_view[:nbytes]
        if self._receiver is not None:
            self._receiver(data)
            return
        self._pending += data
        self.last_activity = self.loop.time()
        if len(self._pending) > _PENDING_HIGH_WATER and not self._read_paused and self.transport is not None:
            self._read_paused = True
            self.transport.pause_reading()
        self._wake_reader()

    def feed(self, data: bytes | memoryview) -> None:
        """Deliver ``data`` as the loop would: through ``get_buffer``/``buffer_updated`` (for
        transports that move bytes in-process: memory pipes, relayed streams)."""
        view = memoryview(data)
        while view:
            buf = self.get_buffer(len(view))
            n = min(len(buf), len(view))
            buf[:n] = view[:n]
            self.buffer_updated(n)
            view = view[n:]

    def eof_received(self) -> bool | None:
        self._eof = True
        if self._read_waiter is not None:
            self._wake_reader()
        if self._on_eof is not None:
            self._on_eof()
        # Keep the write side open: the peer only half-closed.
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self._eof = True
        self._exc = exc
        if self._read_waiter is not None:
            self._wake_reader()
        waiter = self._drain_waiter
        if waiter is not None and not waiter.done():
            # A result, not an exception: a waiter whose drain() was cancelled would otherwise log
            # "exception was never retrieved". drain() raises once it sees the connection closed.
            waiter.set_result(None)
        self._drain_waiter = None
        if self._abort_timer is not None:
            self._abort_timer.cancel()
            self._abort_timer = None
        self._lost = True
        closed_waiter = self._closed_waiter
        if closed_waiter is not None and not closed_waiter.done():
            closed_waiter.set_result(None)
        on_lost = self._on_lost
        # Nothing arrives after this: drop the receiver's bound methods, which refer back to
        # the muxer holding this connection (a reference cycle per closed connection otherwise).
        self._receiver = self._on_eof = self._on_lost = None
        if on_lost is not None:
            on_lost(exc)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        waiter = self._drain_waiter
        self._drain_waiter = None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # --- reading during the handshake ----------------------------------------------------

    def _wake_reader(self) -> None:
        waiter = self._read_waiter
        if waiter is not None:
            self._read_waiter = None
            if not waiter.done():
                waiter.set_result(None)

    async def read(self, max_bytes: int = -1) -> bytes:
        """Up to ``max_bytes`` (all pending when -1); ``b""`` at EOF."""
        while not self._pending:
            if self._later:
                self.flush_later()  # the peer may be waiting for them
            if self._eof:
                if self._exc is not None:
                    raise ConnectionClosedError(f"connection lost: {self._exc}") from self._exc
                return b""
            if self._read_waiter is not None:
                raise StateError("read() is already being awaited")
            self._read_waiter = self.loop.create_future()
            try:
                await self._read_waiter
            finally:
                self._read_waiter = None
        if max_bytes < 0 or max_bytes >= len(self._pending):
            data = bytes(self._pending)
            self._pending.clear()
        else:
            data = bytes(self._pending[:max_bytes])
            del self._pending[:max_bytes]
        self._maybe_resume_reading()
        return data

    def unread(self, data: bytes) -> None:
        """Put bytes back in front of the pending data (a negotiation read past its end)."""
        if data:
            self._pending[:0] = data

    def _maybe_resume_reading(self) -> None:
        if self._read_paused and len(self._pending) <= _PENDING_HIGH_WATER // 2 and self.transport is not None:
            self._read_paused = False
            self.transport.resume_reading()

    def set_receiver(
        self,
        receiver: Receiver,
        on_eof: Callable[[], None] | None = None,
        on_lost: Callable[[Exception | None], None] | None = None,
    ) -> None:
        """Hand every further byte to ``receiver`` (and any pending ones now, in order)."""
        self._receiver = receiver
        self._on_eof = on_eof
        self._on_lost = on_lost
        if self._pending:
            data = bytes(self._pending)
            self._pending.clear()
            receiver(memoryview(data))
        if self._read_paused:
            self._maybe_resume_reading()
        if self._lost:
            if on_lost is not None:
                on_lost(self._exc)
        elif self._eof and on_eof is not None:
            on_eof()

    def clear_receiver(self) -> None:
        """Stop handing bytes to the receiver: from here ``read`` returns them (an upgrade driven
        from the callbacks continues in a coroutine)."""
        self._receiver = self._on_eof = self._on_lost = None

    def pause_reading(self) -> None:
        if not self._read_paused and self.transport is not None and not self.transport.is_closing():
            self._read_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self._read_paused and self.transport is not None and not self.transport.is_closing():
            self._read_paused = False
            self.transport.resume_reading()

    # --- writing ---------------------------------------------------------------------------

    @property
    def is_closing(self) -> bool:
        return self.transport is None or self.transport.is_closing()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        transport = self.transport
        sock = self._sock
        if sock is not None:
            # asyncio's socket transport: its ``is_closing()`` and, while it buffers nothing,
            # its ``write``'s first step, here (the same checks, without its calls)
            if transport._closing:  # type: ignore[union-attr]
                raise ConnectionClosedError("write on a closed connection")
            if self._later:
                data, self._later = self._later + data, b""
            size = len(data)
            self.bytes_sent += size
            if (size and not transport._buffer and not transport._conn_lost  # type: ignore[union-attr]
                    and not transport._eof and transport._empty_waiter is None):  # type: ignore[union-attr]
                try:
                    sent = sock.send(data)
                except OSError:
                    sent = 0  # the transport's write meets it again and handles it (or waits)
                if sent == size:
                    return
                if sent:
                    data = memoryview(data)[sent:]
            transport.write(data)  # type: ignore[union-attr]
            return
        if transport is None or transport.is_closing():
            raise ConnectionClosedError("write on a closed connection")
        if self._later:
            data, self._later = self._later + data, b""
        self.bytes_sent += len(data)
        transport.write(data)

    def write_later(self, data: bytes) -> None:
        """Queue ``data`` to go out in front of the next ``write``, or before ``read`` has to wait
        for the peer, or at ``close``/``abort``, whichever comes first.

        A listener's multistream answer then leaves in the same segment as the handshake message
        it writes next when the dialer sent that message's trigger optimistically: one send
        (a syscall, and a wake-up of the peer) fewer per connection.
        """
        self._later += data

    def flush_later(self) -> None:
        """Write what ``write_later`` holds now."""
        data, self._later = self._later, b""
        if data and self.transport is not None and not self.transport.is_closing():
            self.bytes_sent += len(data)
            self.transport.write(data)

    def writelines(self, buffers: list[bytes]) -> None:
        if self.transport is None or self.transport.is_closing():
            raise ConnectionClosedError("write on a closed connection")
        if self._later:
            buffers, self._later = [self._later, *buffers], b""
        for b in buffers:
            self.bytes_sent += len(b)
        self.transport.writelines(buffers)

    @property
    def write_paused(self) -> bool:
        return self._write_paused

    async def drain(self) -> None:
        """Wait until the transport's write buffer is below its high-water mark."""
        if self._lost:
            raise ConnectionClosedError("connection closed")
        if not self._write_paused:
            return
        if self._drain_waiter is None or self._drain_waiter.done():
            self._drain_waiter = self.loop.create_future()
        await asyncio.shield(self._drain_waiter)
        if self._lost:
            raise ConnectionClosedError("connection lost")

    def write_eof(self) -> None:
        if self._later:
            self.flush_later()
        if self.transport is not None and not self.transport.is_closing() and self.transport.can_write_eof():
            self.transport.write_eof()

    def close(self) -> None:
        """Close after the queued bytes are written; abort if that takes over ``_CLOSE_GRACE`` s."""
        if self._later:
            self.flush_later()
        transport = self.transport
        if transport is not None and not transport.is_closing():
            # A socket transport with nothing queued closes at once: no grace timer to arm and cancel.
            drained = self._closes_at_once_when_drained and not transport.get_write_buffer_size()
            transport.close()
            if not drained and not self._lost and self._abort_timer is None:
                self._abort_timer = self.loop.call_later(_CLOSE_GRACE, self.abort)

    def abort(self) -> None:
        if self._later:
            self.flush_later()  # a refusal, say: tried once, whatever the socket takes now
        if self.transport is not None:
            self.transport.abort()

    async def wait_closed(self) -> None:
        if self._lost:
            return
        waiter = self._closed_waiter
        if waiter is None:
            waiter = self._closed_waiter = self.loop.create_future()
        await asyncio.shield(waiter)

    @property
    def closed(self) -> bool:
        return self._lost
