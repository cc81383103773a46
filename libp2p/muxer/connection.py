"""The asyncio adapter that drives a muxer session core (yamux or mplex) over a secure channel.

Bytes from the socket are decrypted and fed to the core inside ``buffer_updated`` (no task
per chunk); the core's events wake the streams' readers and writers; what the core wants to
send is encrypted once per flush and written with one call. Stream writes wait on the core's
send window (yamux flow control) and on the socket's write buffer (TCP backpressure).
"""

from __future__ import annotations

import asyncio
import time
import logging
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, NoReturn

from libp2p.abc import MuxerSession, SecureSession
from libp2p.driver import CoreTimer
from libp2p.errors import Libp2pError, LocalProtocolError, StateError
from libp2p.muxer.events import (
    DataReceived,
    PingAcknowledged,
    SendWindowUpdated,
    SessionClosed,
    StreamEnded,
    StreamOpened,
    StreamReset,
)
from libp2p.negotiate.core import MultistreamDialer
from libp2p.negotiate.service import OptimisticNegotiation
from libp2p.resources import PRIORITY_ALWAYS, PRIORITY_LOW, Direction, ResourceLimitExceededError
from libp2p.transport.connection import ConnectionClosedError, RawConnection

if TYPE_CHECKING:
    from libp2p.identity.keys import PublicKey
    from libp2p.identity.peer_id import PeerId
    from libp2p.multiaddr import Multiaddr
    from libp2p.resources import ConnectionScope, StreamScope

__all__ = ["MuxedConnection", "MuxedStream", "StreamResetError", "StreamClosedError"]

# The clock handed to the muxer core (RTT samples, window auto-tuning, timers). Not loop.time():
# uvloop's is libuv's cached millisecond clock, on which a loopback RTT measures 0 and yamux
# windows never grow (perf ran ~2.5x slower on uvloop than on the default loop because of it).
_clock = time.perf_counter
# A reader's waiter is made directly, not with ``loop.create_future()``: on asyncio's default loop
# that is one Python call more per read (uvloop's makes the same asyncio.Future).
_Future = asyncio.Future

log = logging.getLogger("libp2p.muxer")

# A stream holding more unread bytes than this makes the connection stop reading the socket until
# the loop has run its ready tasks once (see ``MuxedConnection._throttle_input``).
_UNREAD_HIGH_WATER = 1 << 20
# A muxer without flow control (mplex) cannot tell the sender to wait, so a stream over
# _UNREAD_HIGH_WATER stops the connection reading its socket (TCP backpressure) until its reader
# brings it under _UNREAD_LOW_WATER, as go-mplex (blocking reader) and rust-libp2p
# (MaxBufferBehaviour::Block) do; a stream whose reader takes nothing for _BACKLOG_TIMEOUT seconds
# meanwhile is reset (go-mplex's ReceiveTimeout), so one stuck reader cannot stall the connection.
_UNREAD_LOW_WATER = _UNREAD_HIGH_WATER // 2
# Unread bytes of a muxer without flow control are reserved in slabs of this size, so small
# messages do not walk the scope chain each; at most one slab per stream is held unused.
_RESERVE_SLAB = 4096
_BACKLOG_TIMEOUT = 5.0
# Loop passes a dialer's first frames wait for the application's first request (see ``start``).
_DIALER_FIRST_FLUSH_PASSES = 3
# Inbound streams refused for resource limits before the connection is closed: a peer that
# keeps opening streams it may not have is flooding us (2 million refused opens cost 29 s of CPU).
_MAX_REFUSED_STREAMS = 1024


class StreamResetError(Libp2pError, ConnectionResetError):
    """The stream was reset (by the remote, by us, or because its connection ended)."""


class StreamClosedError(LocalProtocolError):
    """Write after ``close()`` on this stream."""


class MuxedStream(OptimisticNegotiation):
    """One multiplexed stream: ``read``, ``readexactly``, ``write``, half-close ``close``, ``reset``."""

    def __init__(
        self, conn: MuxedConnection, stream_id: int, *, outbound: bool, scope: StreamScope | None = None
    ) -> None:
        self.conn = conn
        self.stream_id = stream_id
        self.outbound = outbound
        self.protocol: str | None = None
        #: this stream's resource scope (None when the host runs without a resource manager)
        self.scope = scope
        # Bytes reserved in ``scope``: at least the unread data, and the receive window's growth
        # beyond the initial one (``_window_reserved``); the initial window itself is not reserved.
        self._reserved = 0
        self._window_reserved = 0
        self._scope_held = False  # reset by the remote, still counted until its handler lets go
        # Unread data: None while there is none, so an idle stream holds no buffer (a deque is ~1 KiB);
        # a lone chunk as it is; a deque of them once a second one waits. Chunks are never empty.
        self._chunks: deque[bytes] | bytes | None = None
        self._buffered = 0
        self._eof = False
        self._fin = False  # the remote half-closed: reads end cleanly even if a reset follows
        self._reset: BaseException | None = None
        self._write_closed = False
        self._read_waiter: asyncio.Future[None] | None = None
        self._window_waiter: asyncio.Future[None] | None = None
        self._pushback = b""
        self._pending_negotiation: MultistreamDialer | None = None
        self._negotiated: asyncio.Future[None] | None = None  # set while a read takes the answer
        self._backlogged = False  # the connection stopped reading its socket for this stream
        # Bytes read but not yet acknowledged to the core, and how many it lets us hold back.
        self._unacked = 0
        self._ack_slack = 0
        self._progress_at = 0.0  # loop time of the last read while backlogged
        # ``set_readable_callback``: called instead of waking a reader when bytes arrive
        self._on_readable: Callable[[], None] | None = None
        self._readable_queued = False

    # --- identity of the stream ----------------------------------------------------------------

    @property
    def remote_peer_id(self) -> PeerId:
        """The peer at the other end of the stream."""
        return self.conn.remote_peer_id

    @property
    def is_reset(self) -> bool:
        """Whether the stream was reset (by either end, or with its connection)."""
        return self._reset is not None

    @property
    def at_eof(self) -> bool:
        """The remote closed its side and every byte it sent was read."""
        return self._eof and not self._chunks and not self._pushback

    def __repr__(self) -> str:
        direction = "out" if self.outbound else "in"
        return f"<MuxedStream {self.stream_id} {direction} {self.protocol!r} peer={self.conn.remote_peer_id}>"

    # --- called by the connection ---------------------------------------------------------------

    def _feed(self, data: bytes) -> None:
        chunks = self._chunks
        if chunks is None:
            self._chunks = data  # a lone chunk needs no deque (the usual small message)
        elif isinstance(chunks, deque):
            chunks.append(data)
        else:
            self._chunks = deque((chunks, data))
        self._buffered += len(data)
        conn = self.conn
        if self._on_readable is not None:
            # answered from the read callback that brought the bytes, once it has fed them all
            if not self._readable_queued:
                self._readable_queued = True
                conn._readable.append(self)
        else:
            waiter = self._read_waiter  # ``_wake_reader``, inline: this runs once per message
            if waiter is not None:
                self._read_waiter = None
                if not waiter.done():
                    waiter.set_result(None)
        if self.scope is not None and self._buffered > self._reserved:
            self._reserve_unread()
        if self._buffered > _UNREAD_HIGH_WATER:
            conn._throttle_input()
            if not conn._flow_controlled:
                conn._backlog(self)

    def _reserve_unread(self) -> None:
        """Unread data is reserved as it arrives (a yamux window bounds it per stream, nothing
        does for mplex); when the connection (or the peer, or the node) has no memory left for
        it, the socket stops being read until this stream's reader catches up."""
        assert self.scope is not None
        deficit = self._buffered + len(self._pushback) - self._reserved
        if deficit > 0:
            slabs = -(-deficit // _RESERVE_SLAB) * _RESERVE_SLAB
            if self.scope.try_reserve_memory(slabs, PRIORITY_ALWAYS):
                self._reserved += slabs
            else:
                self.conn._backlog(self)

    def _feed_eof(self) -> None:
        self._eof = True
        self._fin = True
        self._wake_reader()
        if self._backlogged:  # nothing more comes for this stream
            self.conn._unbacklog(self)

    def _release(self) -> None:
        """The stream is gone from its connection: give back what its scope holds."""
        if self.scope is not None:
            self.scope.done()
            self._reserved = self._window_reserved = 0

    def _let_go(self) -> None:
        """Whoever handles this stream is done with it (it called ``close`` or ``reset``)."""
        if self._scope_held:
            self._scope_held = False
            self.conn._held.discard(self)
            self._release()

    def _set_reset(self, exc: BaseException) -> None:
        if self._reset is None:
            self._reset = exc
        self._eof = True
        if self._read_waiter is not None:
            self._wake_reader()
        if self._window_waiter is not None:
            self._wake_writer()
        if self._backlogged:
            self.conn._unbacklog(self)

    def _wake_reader(self) -> None:
        waiter = self._read_waiter
        if waiter is not None:
            self._read_waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def _wake_writer(self) -> None:
        waiter = self._window_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # --- reading ---------------------------------------------------------------------------------

    def io_ready(self) -> bool:
        """Whether a read returns at once (data or EOF is buffered) and a small write is taken
        without waiting (the socket is not backed up): inbound negotiation then arms no timer."""
        return bool(self._chunks or self._pushback or self._eof) and not self.conn.raw.write_paused

    async def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes (everything buffered when ``n`` < 0); ``b""`` at end of stream.

        (The wait is inline, as in ``_read_data``: one coroutine frame per read, and a reader
        waiting on an idle stream holds only that one.)"""
        if self._pending_negotiation is not None or self._negotiated is not None:
            await self._negotiation_settled()
        if n == 0:
            return b""
        while not self._chunks and not self._pushback and not self._eof:
            waiter = self._read_waiter
            if waiter is not None and not waiter.done():
                raise StateError("another read() is already waiting on this stream")
            waiter = self._read_waiter = _Future(loop=self.conn._loop)
            await waiter
        return self._take(n)

    def when_readable(self) -> asyncio.Future[None]:
        """A future done once ``read`` would return without waiting (data, the remote's FIN or a
        reset arrived): a protocol can wait for its peer's first answer with no task of its own
        (identify, on every new connection). Takes the place of a waiting ``read``."""
        waiter = self._read_waiter
        if waiter is not None and not waiter.done():
            raise StateError("another read() is already waiting on this stream")
        waiter = self.conn._loop.create_future()
        if self._chunks or self._pushback or self._eof:
            waiter.set_result(None)
        else:
            self._read_waiter = waiter
        return waiter

    def set_readable_callback(self, callback: Callable[[], None] | None) -> None:
        """While set, bytes arriving for this stream call ``callback()`` instead of waking a
        reader: once per socket read that brought any, after the connection has fed all of
        that read to its streams, in the loop's read callback. A protocol that answers each
        message (ping, echo) then answers it there, with ``read_nowait`` and ``write_now``,
        and no task wakes up per message: on asyncio's default loop a wake-up is a loop pass
        (an ``epoll_wait`` and ``_run_once`` in Python) on the round trip's path.

        The remote's EOF and resets still wake a waiting reader (``when_readable``), and so
        does clearing the callback (``None``): its task takes over from there. A reader that
        waits meanwhile is not woken by data. See ``libp2p.muxer.answer``."""
        self._on_readable = callback
        if callback is None:
            self._wake_reader()

    def read_nowait(self, n: int = -1) -> bytes:
        """Up to ``n`` buffered bytes (all when ``n`` < 0), without waiting: ``b""`` when none
        are buffered (``at_eof`` tells the end of the stream) or while an optimistic
        negotiation is unsettled; raises ``StreamResetError`` as ``read`` would."""
        if n == 0 or self._pending_negotiation is not None or self._negotiated is not None:
            return b""
        if not self._chunks and not self._pushback and not self._eof:
            return b""
        return self._take(n)

    def write_now(self, data: bytes) -> int:
        """``write`` without waiting: how many leading bytes of ``data`` were framed, encrypted
        and handed to the socket in this call. All of them, unless the send window is short
        (its part), or the socket is backed up (none); the caller ``write``s the rest, which
        waits for the window and the socket. Raises as ``write`` does on a reset or closed stream."""
        conn = self.conn
        if self._reset is not None or self._write_closed or conn._closed:
            self._raise_unwritable()
        raw = conn.raw
        if raw._write_paused or not data:
            return 0
        send_now = conn._send_now
        if send_now is not None and not conn._carry:
            frame = send_now(self.stream_id, data)  # as in ``write``'s fast path
            if frame is not None:
                try:
                    raw.write(conn.secure.encrypt(frame))
                except ConnectionClosedError:
                    pass  # the socket is closing: as ``_write_out``, which then writes nothing
                except Libp2pError as exc:
                    conn._fail(exc)
                return len(data)
        return conn._send(self.stream_id, data)

    async def _read_data(self, n: int) -> bytes:
        """``read`` without the wait for a negotiation (the negotiation's own reads)."""
        if n == 0:
            return b""
        while not self._chunks and not self._pushback and not self._eof:
            # The future a reader awaits until data, EOF or a reset arrives, awaited directly (no
            # coroutine or helper frame: a small message wakes its reader with none in between).
            waiter = self._read_waiter
            if waiter is not None and not waiter.done():
                raise StateError("another read() is already waiting on this stream")
            waiter = self._read_waiter = _Future(loop=self.conn._loop)
            await waiter
        return self._take(n)

    def _take(self, n: int) -> bytes:
        """Up to ``n`` buffered bytes (all when ``n`` < 0); ``b""`` at EOF. Data or EOF is there."""
        if self._pushback:
            data = self._pushback
            if 0 < n < len(data):
                self._pushback = data[n:]
                data = data[:n]
            else:
                self._pushback = b""
            if self._reserved - self._buffered > _RESERVE_SLAB + self._window_reserved:
                self._release_excess()
            if self._backlogged:
                self._made_progress()
            return data
        chunks = self._chunks
        if not chunks:
            # As go-yamux: a reset after the remote's FIN (say, the connection closing right after
            # it) leaves the read side at a clean end of stream.
            if self._reset is not None and not self._fin:
                raise StreamResetError("stream reset") from self._reset
            return b""
        if type(chunks) is deque:
            if n < 0:
                data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
                self._chunks = None
            else:
                first = chunks[0]
                if len(first) <= n:
                    data = chunks.popleft()
                    if not chunks:
                        self._chunks = None  # drained: the buffer goes until data waits again
                else:
                    data = first[:n]
                    chunks[0] = first[n:]
            size = len(data)
        else:
            # a lone chunk (the usual small message): one len, no isinstance call
            lone: bytes = chunks  # type: ignore[assignment]  # (not narrowed by ``type() is``)
            size = len(lone)
            if 0 <= n < size:
                data = lone[:n]
                self._chunks = lone[n:]
                size = n
            else:
                data = lone
                self._chunks = None
        self._buffered -= size
        if self._reserved - self._buffered > _RESERVE_SLAB + self._window_reserved:
            self._release_excess()
        conn = self.conn
        if size and not conn._closed:
            # The application consumed these bytes: most reads grant no window (yamux sends an
            # update once half the window is free), and then nothing more happens. The core says
            # how many bytes may be consumed before that can change; until then this stream holds
            # the acknowledgements back and passes their sum in one call (the same updates).
            held = self._unacked + size
            if held <= self._ack_slack:
                self._unacked = held
            else:
                self._unacked = 0
                acknowledge = conn._acknowledge
                try:
                    if acknowledge is not None:
                        slack = acknowledge(self.stream_id, held, _clock())
                    else:  # a muxer without slack (mplex): every read acknowledged
                        slack = -1 if conn.session.acknowledge_received(self.stream_id, held, _clock()) else 0
                except Libp2pError:
                    slack = 0  # the stream is gone: nothing to acknowledge
                if slack < 0:
                    slack = ~slack
                    conn._carry_output()
                self._ack_slack = slack
        if self._backlogged:
            self._made_progress()
        return data

    def _made_progress(self) -> None:
        """A read of a backlogged stream: under the low water mark, with what arrived while
        memory was short now accounted (or read), the socket is read again."""
        self._progress_at = self.conn._loop.time()
        if self._buffered <= _UNREAD_LOW_WATER and self._buffered + len(self._pushback) <= self._reserved:
            self.conn._unbacklog(self)

    def _release_excess(self) -> None:
        """Give back what is reserved beyond the unread bytes (in slabs) and the window's growth."""
        keep = max(-(-(self._buffered + len(self._pushback)) // _RESERVE_SLAB) * _RESERVE_SLAB, self._window_reserved)
        if self._reserved > keep:
            assert self.scope is not None
            self.scope.release_memory(self._reserved - keep)
            self._reserved = keep

    async def readexactly(self, n: int) -> bytes:
        """Exactly ``n`` bytes; ``asyncio.IncompleteReadError`` if the stream ends first."""
        parts: list[bytes] | None = None  # made only when the bytes come in more than one chunk
        got = 0
        while got < n:
            if self._pending_negotiation is not None or self._negotiated is not None:
                chunk = await self.read(n - got)
            else:
                while not self._chunks and not self._pushback and not self._eof:
                    # as in ``_read_data``
                    waiter = self._read_waiter
                    if waiter is not None and not waiter.done():
                        raise StateError("another read() is already waiting on this stream")
                    waiter = self._read_waiter = _Future(loop=self.conn._loop)
                    await waiter
                chunk = self._take(n - got)
            if not chunk:
                raise asyncio.IncompleteReadError(b"".join(parts) if parts else b"", n)
            got += len(chunk)
            if parts is None:
                if got == n:
                    return chunk  # the common case: one chunk, no list, no join
                parts = [chunk]
            else:
                parts.append(chunk)
        return b"".join(parts) if parts else b""

    def unread(self, data: bytes) -> None:
        """Put bytes back in front (protocol negotiation read past its last message)."""
        if data:
            self._pushback = data + self._pushback
            if self.scope is not None:
                # Read, then put back: it is unread data again, reserved as such.
                self._reserve_unread()

    # --- writing ---------------------------------------------------------------------------------

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        """Send ``data``; waits while the send window is exhausted or the socket is backed up."""
        conn = self.conn
        if self._reset is not None or self._write_closed or conn._closed:
            await self._unwritable()
        raw = conn.raw
        # A backed-up socket takes nothing more until it drains: otherwise each of many streams
        # writing at once adds its chunk to the transport's buffer (a peer that never reads its
        # socket would have 256 echo streams park 64 MiB there).
        if raw._write_paused:
            while raw._write_paused:
                await raw.drain()
            if self._reset is not None or conn._closed:  # while it drained
                await self._unwritable()
        if type(data) is bytes:
            # Fast path (a small message's whole write side): bytes the window takes whole go to
            # the core as they are (a memoryview would be sliced and copied there), are framed,
            # encrypted and handed to the socket in this call, with no drain wait unless the
            # socket is backed up.
            send_now = conn._send_now
            if send_now is not None and not conn._carry:
                # The common case (yamux, window open, nothing else queued): the core frames it,
                # it is encrypted and handed to the socket here, with no queue in between.
                frame = send_now(self.stream_id, data)
                if frame is not None:
                    try:
                        # a call kept: tests and the profiler count socket writes there
                        raw.write(conn.secure.encrypt(frame))
                    except ConnectionClosedError:
                        return  # the socket is closing: as ``_write_out``, which then writes nothing
                    except Libp2pError as exc:
                        conn._fail(exc)  # as ``_write_out`` does
                        return
                    if raw._write_paused:
                        await raw.drain()
                    return
            accepted = conn.session.send_data(self.stream_id, data)
            if accepted:
                conn._write_out()
                if accepted == len(data):
                    if raw._write_paused:
                        await raw.drain()
                    return
            elif not data:
                return
            view = memoryview(data)[accepted:]
        else:
            view = memoryview(data).cast("B")
        loop = asyncio.get_running_loop()
        while True:
            accepted = conn._send(self.stream_id, view)
            if accepted:
                view = view[accepted:]
            if not view:
                break
            self._window_waiter = loop.create_future()
            try:
                await self._window_waiter
            finally:
                self._window_waiter = None
            if self._reset is not None:
                await self._unwritable()
            while conn.raw.write_paused:
                await conn.raw.drain()
        await conn._drain()

    def write_nowait(self, data: bytes) -> int:
        """``write`` without waiting: how many leading bytes of ``data`` the send window took now
        (all, some, or none while the socket is backed up). Like ``write_soon``'s, they leave
        with the connection's flush at the end of this loop turn, in one encryption and one
        socket write with whatever else goes to that connection meanwhile; the caller
        ``write``s the rest. Raises as ``write`` does on a reset or closed stream. (Pubsub sends
        each RPC to many peers this way: no task wake-up per peer unless one is backpressured.)"""
        conn = self.conn
        if self._reset is not None or self._write_closed or conn._closed:
            self._raise_unwritable()
        if conn.raw._write_paused:
            return 0
        accepted = conn.session.send_data(self.stream_id, data)
        if accepted and not conn._flush_scheduled:
            conn._schedule_flush()
        return accepted

    async def write_soon(self, data: bytes) -> None:
        """``write`` whose bytes may wait in the muxer until the end of the loop turn, to leave in
        one socket write with what follows them (a protocol proposal or a negotiation answer with
        the first message: 2 of the 6 writes an open + request + reply + close used to cost)."""
        if self._reset is None and not self._write_closed and not self.conn._closed:  # else write raises
            accepted = self.write_nowait(data)
            if accepted == len(data):
                return
            data = data[accepted:]
        await self.write(data)  # the rest, or the error

    async def _raise_reset(self) -> NoReturn:
        # A refused optimistic proposal: the remote answered "na" and then reset the stream, and
        # the answer sits unread in front of the reset. Say "refused", as a read would.
        if self._pending_negotiation is not None:
            await self._finish_negotiation(self._pending_negotiation)
        raise StreamResetError("stream reset") from self._reset

    async def _unwritable(self) -> NoReturn:
        """``_raise_unwritable`` for ``write``, which reports a refused proposal first."""
        if self._reset is not None:
            await self._raise_reset()
        self._raise_unwritable()

    def _raise_unwritable(self) -> NoReturn:
        """The error of a write to a stream that is reset, closed for writing, or whose connection
        closed (called only once the writer's one combined check failed)."""
        if self._reset is not None:
            raise StreamResetError("stream reset") from self._reset
        if self._write_closed:
            raise StreamClosedError("write after close()")
        raise StreamResetError("connection closed") from self.conn._close_reason

    async def close(self) -> None:
        """Half-close: we send no more; the remote may still send until it closes too.

        On an optimistically negotiated stream whose answer has not arrived yet, the FIN waits
        for it: js-libp2p 3 aborts an inbound stream whose proposal, data and FIN all arrive
        before its negotiation reads them (see interop/js/README.md).
        """
        if self._write_closed or self._reset is not None:
            self._let_go()
            return
        if self._pending_negotiation is not None or self._negotiated is not None:
            await self._negotiation_settled()  # bounded; on failure the stream is reset and it raises
        self._write_closed = True
        self.conn._close_stream(self.stream_id)

    async def close_soon(self) -> None:
        """``close`` whose FIN may wait in the muxer until the end of the loop pass, to leave in one
        socket write with what else is written in it (identify's FIN with the answers of a new
        connection's set-up). An optimistically negotiated stream closes as ``close`` does."""
        if self._write_closed or self._reset is not None or self._pending_negotiation is not None \
                or self._negotiated is not None:
            await self.close()
            return
        self._write_closed = True
        self.conn._close_stream(self.stream_id, soon=True)

    async def reset(self) -> None:
        """Abort both directions."""
        if self._reset is not None:
            self._let_go()
            return
        self._set_reset(StreamResetError("stream reset locally"))
        self.conn._reset_stream(self.stream_id)

    async def __aenter__(self) -> MuxedStream:
        return self

    async def __aexit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc is not None:
            await self.reset()
        else:
            await self.close()


StreamCallback = Callable[[MuxedStream], None]


def _ignore_stream(stream: MuxedStream) -> None:  # before start(): nobody takes inbound streams yet
    pass


def _ignore_closed(conn: MuxedConnection) -> None:
    pass


class MuxedConnection:
    """A secured, multiplexed connection to one peer."""

    # Slots: over ~30 attributes an instance dict costs ~0.6 us more per connection to fill (3.11's
    # shared keys stop there), and reads are slower. ``__dict__`` keeps other attributes possible.
    __slots__ = (
        "raw",
        "secure",
        "session",
        "muxer_id",
        "local_peer_id",
        "remote_peer_id",
        "is_initiator",
        "limited",
        "_leftover",
        "scope",
        "_on_stream",
        "_on_closed",
        "_refused_streams",
        "_started",
        "_streams",
        "_held",
        "_closed",
        "_close_reason",
        "_close_waiters",
        "_flush_scheduled",
        "_readable",
        "_first_flush_passes",
        "_carry",
        "_open_waiters",
        "_input_throttled",
        "_backlogged",
        "_backlog_timer",
        "_loop",
        "_timer",
        "_ping_waiters",
        "_flow_controlled",
        "_pending_events",
        "_set_data_receiver",
        "_acknowledge",
        "_send_now",
        "opened_at",
        "__dict__",
        "__weakref__",
    )

    def __init__(
        self,
        raw: RawConnection,
        secure: SecureSession,
        session: MuxerSession,
        *,
        muxer_id: str,
        local_peer_id: PeerId,
        leftover: bytes = b"",
        scope: ConnectionScope | None = None,
    ) -> None:
        self.raw = raw
        self.secure = secure
        self.session = session
        self.muxer_id = muxer_id
        self.local_peer_id = local_peer_id
        self.remote_peer_id = secure.remote_peer_id
        self.is_initiator = raw.is_initiator
        #: relayed with limits: the host runs only protocols that opt in (go's Limited, js's limits)
        self.limited: bool = raw.limited
        self._leftover = leftover
        #: this connection's resource scope (None when the host runs without a resource manager)
        self.scope = scope
        self._on_stream: StreamCallback = _ignore_stream
        self._on_closed: Callable[[MuxedConnection], None] = _ignore_closed
        self._refused_streams = 0
        self._started = False
        self._streams: dict[int, MuxedStream] = {}
        # Inbound streams the remote reset before their handler let go of them: they still count
        # against the stream limits, or SYN|RST floods would spawn handlers without bound.
        self._held: set[MuxedStream] = set()
        self._closed = False
        self._close_reason: BaseException | None = None
        # wait_closed() callers (an asyncio.Event and its deque per connection cost more, for a rare wait)
        self._close_waiters: list[asyncio.Future[None]] | None = None
        # True until start(): what is written before (a service opening its stream on the
        # connection-opened event) leaves with start's first flush, not in a send of its own.
        self._flush_scheduled = True
        self._first_flush_passes = 1
        # Output the core produced when a read granted window, written by the next flush.
        self._carry: list[bytes] = []
        self._open_waiters: list[asyncio.Future[None]] = []  # openers waiting for the peer's ACKs
        self._readable: list[MuxedStream] = []  # streams whose readable callback is due
        self._input_throttled = False
        self._flow_controlled: bool
        self._backlogged: set[MuxedStream] = set()
        self._backlog_timer: asyncio.TimerHandle | None = None
        # the raw connection's loop (CPython 3.11's get_running_loop() costs a getpid())
        self._loop: asyncio.AbstractEventLoop = raw.loop
        self._timer = CoreTimer(self._on_timer, _clock, self._loop)
        self._ping_waiters: dict[int, asyncio.Future[None]] = {}
        # yamux: the core's event queue (input that raised no event then costs no event loop here);
        # a stream's plain Data handed to its ``_feed`` directly, with no event in between;
        # ``acknowledge_within(stream_id, n, now) -> slack`` (see ``MuxedStream._take``), not a
        # bound method of this connection (that would be a reference cycle); a small write framed
        # whole when nothing else is queued (``MuxedStream.write``). None for mplex.
        self._pending_events: deque[object] | None
        self._set_data_receiver: Callable[[int, Callable[[bytes], None] | None], None] | None
        self._acknowledge: Callable[[int, int, float], int] | None
        self._send_now: Callable[[int, bytes], bytes | None] | None
        try:  # plain attribute reads when the session has them all (yamux): no getattr calls
            self._flow_controlled = session.flow_control  # type: ignore[attr-defined]
            self._pending_events = session.pending_events  # type: ignore[attr-defined]
            self._set_data_receiver = session.set_data_receiver  # type: ignore[attr-defined]
            self._acknowledge = session.acknowledge_within  # type: ignore[attr-defined]
            self._send_now = session.send_now  # type: ignore[attr-defined]
        except AttributeError:
            self._flow_controlled = getattr(session, "flow_control", True)
            self._pending_events = getattr(session, "pending_events", None)
            self._set_data_receiver = getattr(session, "set_data_receiver", None)
            self._acknowledge = getattr(session, "acknowledge_within", None)
            self._send_now = getattr(session, "send_now", None)
        self.opened_at = _clock()

    def start(self, on_stream: StreamCallback, on_closed: Callable[[MuxedConnection], None]) -> None:
        """Take over the raw connection's input: inbound streams go to ``on_stream``, and
        ``on_closed(self)`` is called once when the connection ends."""
        if self._started:
            raise LocalProtocolError("connection already started")
        self._started = True
        self._on_stream = on_stream
        self._on_closed = on_closed
        if self.scope is not None and self._flow_controlled:
            # Window growth (auto-tuning) reserves memory first, at low priority: under pressure
            # windows stay as they are instead of growing.
            self.session.window_limiter = self._may_grow_window  # type: ignore[attr-defined]
        leftover, self._leftover = self._leftover, b""
        if leftover:
            self._on_raw(memoryview(b""), [leftover])
        self.raw.set_receiver(self._on_raw, on_eof=self._on_eof, on_lost=self._on_lost)
        session = self.session
        if not self._closed and session.get_timer() == 0.0:
            # The session's clock starts now (yamux: go's first RTT ping), not a loop pass later
            # in a write of its own.
            session.handle_timer(_clock())
            pending = self._pending_events
            if pending is None or pending:
                self._process_events()
        # Flushed at the end of this loop pass, with what the host's services write first on a new
        # connection (identify opens its stream): one send per connection, not three. A dialer's
        # waits two passes more: ``connect`` returns to the application then, and its first
        # request (written at once) takes Noise message 3 and identify's proposal with it.
        self._flush_scheduled = True
        self._first_flush_passes = _DIALER_FIRST_FLUSH_PASSES if self.is_initiator else 1
        self._loop.call_soon(self._first_flush)

    def _first_flush(self) -> None:
        self._first_flush_passes -= 1
        if self._first_flush_passes > 0 and not self._closed:
            self._loop.call_soon(self._first_flush)
            return
        self._flush()
        # What the secure channel left to go with our first frames (Noise message 3) goes out now at
        # the latest, even when nothing else did.
        if self.raw._later:
            self.raw.flush_later()

    # --- addresses ---------------------------------------------------------------------------

    @property
    def local_addr(self) -> Multiaddr | None:
        """Our end of the underlying transport connection."""
        return self.raw.local_addr

    @property
    def remote_addr(self) -> Multiaddr | None:
        """The remote end of the underlying transport connection."""
        return self.raw.remote_addr

    @property
    def remote_public_key(self) -> PublicKey:
        """The public key the remote authenticated with."""
        return self.secure.remote_public_key

    @property
    def is_closed(self) -> bool:
        """Whether the connection is closed (or closing)."""
        return self._closed

    @property
    def close_reason(self) -> BaseException | None:
        """Why the connection ended (a typed error when the peer broke a protocol); None while open."""
        return self._close_reason

    @property
    def streams(self) -> list[MuxedStream]:
        """The streams open on this connection."""
        return list(self._streams.values())

    def __repr__(self) -> str:
        return f"<MuxedConnection {self.muxer_id} to {self.remote_peer_id} via {self.remote_addr}>"

    # --- input path -----------------------------------------------------------------------------

    def _on_raw(self, data: memoryview, plaintext: list[bytes] | None = None) -> None:
        """Bytes from the socket (or, from ``start``, ``plaintext`` that came with the handshake):
        decrypted and fed to the core in this one call per socket read."""
        if self._closed:
            return
        if plaintext is not None:
            chunks = plaintext
        else:
            try:
                chunks = self.secure.decrypt(data)
            except Libp2pError as exc:
                self._fail(exc)
                return
        session = self.session
        now = _clock()
        queued: bool | None = False
        try:
            for chunk in chunks:
                # what the last call says covers the earlier ones: nothing takes output between
                queued = session.receive_data(chunk, now)
        except Libp2pError as exc:
            # The typed error is the close reason; the core's GoAway / resets still go out.
            self._shutdown(exc)
            self._process_events()
            self._flush()
            self._fail(exc)
            return
        pending = self._pending_events
        if pending is None or pending:
            self._process_events()
            queued = None  # handling events may queue output (a refused stream's RST, say)
        if self._open_waiters:
            self._wake_openers()
        if self._readable:
            self._run_readable()
        # What the core answers (a new stream's ACK, window updates, pongs) waits for the end of
        # the loop turn, to leave with what the woken handlers write; most input needs no answer
        # and then no flush (and yamux says so: no ``data_to_send`` call). With a flush already
        # scheduled (a new connection's first one) the answer stays in the core: that flush takes it.
        out = session.data_to_send() if queued is not False and not self._flush_scheduled else None
        if out:
            if isinstance(out, list):
                self._carry.extend(out)
            else:
                self._carry.append(out)
        if self._closed:
            self._flush()  # the session ended (a GoAway, say): write what is queued, close the socket
        elif out:
            self._schedule_flush()

    def _run_readable(self) -> None:
        """Call the readable callbacks of the streams that received bytes (``_feed``)."""
        ready, self._readable = self._readable, []
        for stream in ready:
            stream._readable_queued = False
            callback = stream._on_readable
            if callback is None or stream._reset is not None:
                continue  # cleared meanwhile, or reset (which woke its reader)
            try:
                callback()
            except Exception:
                # A callback's bug must not take the connection down: its task takes over.
                log.exception("%r: readable callback failed", stream)
                stream.set_readable_callback(None)

    def _process_events(self) -> None:
        session = self.session
        streams = self._streams
        pending = self._pending_events  # yamux: its event queue, read here with no method call each
        while True:
            if pending is not None:
                if not pending:
                    break
                event = pending.popleft()
            else:
                event = session.next_event()
                if event is None:
                    break
            if self._closed:
                continue  # the connection is gone, and its streams with it
            if isinstance(event, DataReceived):
                stream = streams.get(event.stream_id)
                if stream is not None:
                    stream._feed(event.data)
            elif isinstance(event, SendWindowUpdated):
                stream = streams.get(event.stream_id)
                if stream is not None:
                    stream._wake_writer()
            elif isinstance(event, StreamOpened):
                try:
                    scope = self._admit_stream(Direction.INBOUND)
                except ResourceLimitExceededError:
                    self._refuse_stream(event.stream_id)
                    continue
                stream = MuxedStream(self, event.stream_id, outbound=False, scope=scope)
                streams[event.stream_id] = stream
                if self._set_data_receiver is not None:
                    self._set_data_receiver(event.stream_id, stream._feed)
                self._on_stream(stream)
            elif isinstance(event, StreamEnded):
                stream = streams.get(event.stream_id)
                if stream is not None:
                    stream._feed_eof()
                    self._maybe_forget(stream)
            elif isinstance(event, StreamReset):
                stream = streams.pop(event.stream_id, None)
                if stream is not None:
                    stream._set_reset(StreamResetError("stream reset by the remote" if event.remote else "stream reset"))
                    if stream.outbound or stream.scope is None:
                        stream._release()
                    else:
                        self._hold(stream)
            elif isinstance(event, PingAcknowledged):
                waiter = self._ping_waiters.pop(event.opaque, None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)
            elif isinstance(event, SessionClosed):
                # The core's typed error (yamux keeps it in ``error``) is the close reason.
                error = getattr(session, "error", None)
                reason = error if isinstance(error, Libp2pError) else ConnectionClosedError(
                    event.reason or "muxer session closed"
                )
                if event.error_code and not event.remote:
                    log.warning("closing connection to %s: %s: %s", self.remote_peer_id, type(reason).__name__, reason)
                else:
                    log.debug("%r: session closed (code %d, remote=%s): %s", self, event.error_code, event.remote, event.reason)
                # The socket is closed by the _flush that follows, after the core's GoAway.
                self._shutdown(reason)

    def _hold(self, stream: MuxedStream) -> None:
        """Keep a reset inbound stream's count (not its memory) until its handler lets go."""
        assert stream.scope is not None
        stream.scope.release_memory(stream.scope.memory)
        stream._reserved = stream._window_reserved = 0
        stream._scope_held = True
        self._held.add(stream)

    def _maybe_forget(self, stream: MuxedStream) -> None:
        if stream._eof and stream._write_closed:
            if self._streams.pop(stream.stream_id, None) is not None:
                stream._release()

    # --- resources ---------------------------------------------------------------------------

    def _admit_stream(self, direction: Direction) -> StreamScope | None:
        """A new stream's scope (None without a resource manager); raises when a stream limit
        refuses it.

        No memory is reserved up front: the stream's unread bytes are, as they arrive (``_feed``),
        and so is its receive window's growth beyond the initial one (``_may_grow_window``). So an
        idle stream costs the connection's memory budget nothing, and 256 streams fit the default
        limits (reserving each initial 256 KiB window, as go-yamux does against the peer's budget,
        allowed ~100 per connection against our 32 MiB connection limit); what a peer pushes
        without our reading is still bounded by the limits: past them the socket is not read.
        """
        if self.scope is None:
            return None
        return self.scope.open_stream(direction)

    def _refuse_stream(self, stream_id: int) -> None:
        try:
            self.session.reset_stream(stream_id)
        except Libp2pError:
            pass
        self._refused_streams += 1
        if self._refused_streams == _MAX_REFUSED_STREAMS:
            log.warning("%s opened %d streams beyond its limits; closing the connection", self.remote_peer_id,
                        _MAX_REFUSED_STREAMS)
            self._shutdown(ResourceLimitExceededError("conn", "streams", "too many refused streams"))
            try:
                self.session.go_away(0)
            except Libp2pError:
                pass

    def _may_grow_window(self, stream_id: int, delta: int) -> bool:
        """A larger window is a promise to buffer more: reserve the growth first, at low priority
        (under pressure windows stay as they are). What is reserved for unread data counts."""
        stream = self._streams.get(stream_id)
        if stream is None or stream.scope is None:
            return True
        grown = stream._window_reserved + delta
        need = grown - stream._reserved
        if need > 0:
            if not stream.scope.try_reserve_memory(need, PRIORITY_LOW):
                return False
            stream._reserved = grown
        stream._window_reserved = grown
        return True

    def _on_eof(self) -> None:
        self._shutdown(ConnectionClosedError("the remote closed the connection"))
        raw = self.raw
        raw._on_lost = None  # shut down already: its loss has nothing left to do here
        raw.close()

    def _on_lost(self, exc: Exception | None) -> None:
        if self._closed:  # as after the remote's EOF: nothing left to shut down
            return
        self._shutdown(ConnectionClosedError(f"connection lost: {exc}" if exc else "connection closed"))

    def _throttle_input(self) -> None:
        """A stream has much unread data: pause the socket until the woken readers have run.

        uvloop (libuv) reads a readable socket up to 32 times, 256 KiB each here, before any task
        runs; an mplex stream (no flow control) then passes its 4 MiB unread limit and is reset,
        and a yamux stream piles up its whole window. Reading resumes on the next loop turn,
        after the readers woken so far (at worst one socket read per turn, like asyncio's own loop).
        """
        if not self._input_throttled:
            self._input_throttled = True
            self.raw.pause_reading()
            self._loop.call_soon(self._resume_input)

    def _resume_input(self) -> None:
        self._input_throttled = False
        if not self._closed and not self._backlogged:
            self.raw.resume_reading()

    def _backlog(self, stream: MuxedStream) -> None:
        """Stop reading the socket until ``stream``'s reader catches up (no flow control, or no
        memory left for what it buffers)."""
        if stream._backlogged or self._closed:
            return
        stream._backlogged = True
        stream._progress_at = self._loop.time()
        self._backlogged.add(stream)
        self.raw.pause_reading()
        if self._backlog_timer is None:
            self._backlog_timer = self._loop.call_later(_BACKLOG_TIMEOUT, self._check_backlog)

    def _unbacklog(self, stream: MuxedStream) -> None:
        stream._backlogged = False
        self._backlogged.discard(stream)
        if not self._backlogged:
            if self._backlog_timer is not None:
                self._backlog_timer.cancel()
                self._backlog_timer = None
            if not self._closed and not self._input_throttled:
                self.raw.resume_reading()

    def _check_backlog(self) -> None:
        """Reset the backlogged streams whose readers made no progress for ``_BACKLOG_TIMEOUT``."""
        self._backlog_timer = None
        if self._closed:
            return
        now = self._loop.time()
        for stream in list(self._backlogged):
            if now - stream._progress_at >= _BACKLOG_TIMEOUT:
                log.debug("%r: %r read nothing of its %d unread bytes for %.0f s; resetting it",
                          self, stream, stream._buffered, _BACKLOG_TIMEOUT)
                stream._set_reset(StreamResetError("stream reset: its reader stalled with too much unread data"))
                self._reset_stream(stream.stream_id)
        if self._backlogged:
            due = min(s._progress_at for s in self._backlogged) + _BACKLOG_TIMEOUT
            self._backlog_timer = self._loop.call_later(max(0.0, due - now), self._check_backlog)

    # --- output path ---------------------------------------------------------------------------

    def _flush(self) -> None:
        if self._write_out():  # then not closed: ``_reschedule_timer``, inline
            self._timer.arm(self.session.get_timer())

    def _write_out(self) -> bool:
        """Write what the core queued; False once the connection is done (no timer to re-arm).

        The core's deadline moves earlier only when a stream is opened, a ping sent or its timer
        handled (each followed by ``_flush``); after data, window updates and input it can only
        move later or go, and a timer that fires early just re-arms. So writes and reads leave
        the timer alone."""
        self._flush_scheduled = False
        transport = self.raw.transport
        if transport is None or transport.is_closing():
            return False
        out = self.session.data_to_send()
        if self._carry:
            out = [*self._carry, *out] if isinstance(out, list) else [*self._carry, out]
            self._carry.clear()
        if out:
            if isinstance(out, list):
                # One AEAD pass over everything queued (Noise fills messages up to 64 KiB).
                out = out[0] if len(out) == 1 else b"".join(out)
            try:
                self.raw.write(self.secure.encrypt(out))
            except Libp2pError as exc:
                self._fail(exc)
                return False
        if self._closed:
            # The session ended (GoAway, violation, keep-alive timeout): what it queued is written;
            # close the socket too, or a peer that never closes it would keep it open forever.
            self.raw.close()
            return False
        return True

    def _schedule_flush(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _on_timer(self) -> None:
        if self._closed:
            return
        self.session.handle_timer(_clock())
        self._process_events()
        if self._readable:
            self._run_readable()
        self._flush()

    # --- called by streams -----------------------------------------------------------------------

    def _send(self, stream_id: int, data: bytes | memoryview) -> int:
        if self._closed:
            raise StreamResetError("connection closed") from self._close_reason
        accepted = self.session.send_data(stream_id, data)
        if accepted:
            # At once: when write() returns, the bytes are the transport's (callers rely on it).
            # What the core answered since (a new stream's ACK, say) leaves in the same write.
            self._write_out()
        return accepted

    async def _drain(self) -> None:
        if self.raw.write_paused:
            await self.raw.drain()

    def _carry_output(self) -> None:
        """A read granted window: the update leaves with the next flush, at the end of this loop
        pass (with what the woken handlers write meanwhile)."""
        out = self.session.data_to_send()
        if out:
            if isinstance(out, list):
                self._carry.extend(out)
            else:
                self._carry.append(out)
            self._schedule_flush()

    def _close_stream(self, stream_id: int, soon: bool = False) -> None:
        if self._closed:
            return
        try:
            self.session.close_stream(stream_id)
        except Libp2pError:
            return
        stream = self._streams.get(stream_id)
        if stream is not None:
            self._maybe_forget(stream)
        if soon or self._flush_scheduled:
            # A burst (write_soon answers, a new connection's first frames) leaves at the end of
            # this loop pass: the FIN joins it, one send for all. A lone close still flushes now.
            self._schedule_flush()
            return
        # (not ``_flush``: a FIN moves no core deadline earlier, the timer stays as it is)
        self._write_out()

    def _reset_stream(self, stream_id: int) -> None:
        stream = self._streams.pop(stream_id, None)
        if stream is not None:
            stream._release()
        if self._closed:
            return
        try:
            self.session.reset_stream(stream_id)
        except Libp2pError:
            return
        if self._open_waiters:
            self._wake_openers()  # a reset stream awaiting its ACK frees a place
        self._flush()

    # --- public API --------------------------------------------------------------------------------

    @property
    def opening_blocked(self) -> bool:
        """Whether ``open_stream`` must wait for ``opening_slot`` (the peer has 256 of ours to ACK)."""
        return not self._closed and getattr(self.session, "outbound_backlog_full", False)

    async def opening_slot(self) -> None:
        """Wait until the muxer takes another outbound stream: yamux refuses a new one while
        ``accept_backlog`` (256) of ours await the peer's ACK, where go-yamux's OpenStream blocks."""
        while not self._closed and getattr(self.session, "outbound_backlog_full", False):
            waiter = self._loop.create_future()
            self._open_waiters.append(waiter)
            await waiter

    def _wake_openers(self) -> None:
        waiters, self._open_waiters = self._open_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def open_stream(self) -> MuxedStream:
        """A new outbound stream (no protocol negotiated yet)."""
        if self._closed:
            raise ConnectionClosedError("connection closed") from self._close_reason
        conn_scope = self.scope  # ``_admit_stream``, inline
        scope = conn_scope.open_stream(Direction.OUTBOUND) if conn_scope is not None else None
        try:
            stream_id = self.session.open_stream()
        except BaseException:
            if scope is not None:
                scope.done()
            raise
        stream = MuxedStream(self, stream_id, outbound=True, scope=scope)
        self._streams[stream_id] = stream
        if self._set_data_receiver is not None:
            self._set_data_receiver(stream_id, stream._feed)
        if not self._flush_scheduled:
            self._schedule_flush()
        return stream

    async def ping(self, timeout: float = 10.0) -> float:
        """Round-trip time of a muxer-level ping (yamux), in seconds."""
        ping = getattr(self.session, "ping", None)
        if ping is None:
            raise LocalProtocolError(f"{self.muxer_id} has no ping")
        start = _clock()
        opaque = ping(start)
        waiter = self._loop.create_future()
        self._ping_waiters[opaque] = waiter
        self._flush()
        async with asyncio.timeout(timeout):
            await waiter
        return _clock() - start

    def _fail(self, exc: BaseException) -> None:
        log.warning("closing connection to %s: %s: %s", self.remote_peer_id, type(exc).__name__, exc)
        self._shutdown(exc)
        self.raw.close()

    def _shutdown(self, reason: BaseException) -> None:
        if self._closed:
            return
        self._closed = True
        self._close_reason = reason
        self._timer.close()
        if self.scope is not None and self._flow_controlled:
            self.session.window_limiter = None  # type: ignore[attr-defined]  # a bound method of self: a cycle
        if self._backlog_timer is not None:
            self._backlog_timer.cancel()
            self._backlog_timer = None
        set_data_receiver = self._set_data_receiver
        for stream in list(self._streams.values()):
            stream._set_reset(StreamResetError(f"connection closed: {reason}"))
            stream._release()
            if set_data_receiver is not None:
                # the session's hold on the stream (its _feed) would close a cycle through it
                set_data_receiver(stream.stream_id, None)
        self._streams.clear()
        if self._readable:
            self._readable.clear()
        if self._held:
            for stream in self._held:
                stream._scope_held = False
                stream._release()
            self._held.clear()
        if self._ping_waiters:
            for waiter in self._ping_waiters.values():
                if not waiter.done():
                    waiter.set_exception(ConnectionClosedError("connection closed"))
            self._ping_waiters.clear()
        if self._open_waiters:
            self._wake_openers()  # they find the connection closed: open_stream raises
        waiters = self._close_waiters
        if waiters is not None:
            self._close_waiters = None
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)
        self._on_closed(self)
        if self.scope is not None:
            self.scope.done()

    async def close(self) -> None:
        """Graceful close: GoAway (yamux), flush, then close the socket."""
        if not self._closed:
            try:
                self.session.go_away(0)
            except Libp2pError:
                pass
            self._flush()
            self._shutdown(ConnectionClosedError("closed locally"))
        self.raw.close()
        try:
            async with asyncio.timeout(5):
                await self.raw.wait_closed()
        except TimeoutError:
            self.raw.abort()

    async def wait_closed(self) -> None:
        """Wait until the connection has closed."""
        if self._closed:
            return
        waiter = self._loop.create_future()
        if self._close_waiters is None:
            self._close_waiters = []
        self._close_waiters.append(waiter)
        await waiter
