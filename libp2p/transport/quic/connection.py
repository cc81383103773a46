"""A QUIC connection as the host sees it: secured and multiplexed by QUIC itself.

``QuicConn`` drives one aioquic ``QuicConnection`` (sans-IO) for its ``QuicEndpoint`` (the UDP
socket); each bidirectional QUIC stream is a ``QuicStream`` that carries multistream-select and
one protocol, as libp2p/specs ``quic/README.md`` says. Close is FIN, reset is RESET_STREAM +
STOP_SENDING.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aioquic.quic import events as qe
from aioquic.quic.connection import QuicConnection

from libp2p.errors import Libp2pError, LocalProtocolError, StateError
from libp2p.identity.peer_id import PeerId
from libp2p.muxer.connection import StreamClosedError, StreamResetError
from libp2p.negotiate.core import MultistreamDialer
from libp2p.negotiate.service import OptimisticNegotiation
from libp2p.resources import PRIORITY_ALWAYS, Direction, ResourceLimitExceededError
from libp2p.security.tls.certificate import VerifiedPeer, verify_certificate_chain
from libp2p.security.tls.config import ALPN_LIBP2P
from libp2p.security.tls.errors import PeerIdMismatchError, TLSHandshakeError
from libp2p.transport.connection import ConnectionClosedError
from libp2p.transport.quic._aioquic_hooks import unacked_send_bytes
from libp2p.transport.quic.config import QuicConfig

if TYPE_CHECKING:
    from libp2p.identity.keys import PublicKey
    from libp2p.multiaddr import Multiaddr
    from libp2p.resources import ConnectionScope, StreamScope
    from libp2p.transport.quic.transport import QuicEndpoint

__all__ = ["QuicConn", "QuicStream", "QuicHandshakeError", "MUXER_ID"]

log = logging.getLogger("libp2p.transport.quic")

#: what ``Connection.muxer_id`` says for QUIC (it multiplexes itself)
MUXER_ID = "/quic-v1"
# Application error codes (go-libp2p uses 0 for a plain reset and close).
_RESET_CODE = 0
_CLOSE_CODE = 0
_RESERVE_SLAB = 64 * 1024
# How long a connection closed by the peer (or by an error) keeps its connection IDs routed, so
# late packets reach aioquic's draining state instead of looking like new connections.
_DRAIN_SECONDS = 1.0


class QuicHandshakeError(TLSHandshakeError):
    """The QUIC handshake failed or timed out."""


class QuicStream(OptimisticNegotiation):
    """One bidirectional QUIC stream (a ``Stream``)."""

    def __init__(self, conn: QuicConn, stream_id: int, *, outbound: bool, scope: StreamScope | None) -> None:
        self._conn = conn
        self.stream_id = stream_id
        self.outbound = outbound
        self.scope = scope
        self.protocol: str | None = None
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._reserved = 0
        self._eof = False
        self._reset: BaseException | None = None
        self._write_closed = False
        self._send_stopped = False
        self._read_waiter: asyncio.Future[None] | None = None
        self._write_waiter: asyncio.Future[None] | None = None
        self._pushback = b""
        self._pending_negotiation: MultistreamDialer | None = None
        self._negotiated: asyncio.Future[None] | None = None  # set while a read takes the answer
        self._released = False

    @property
    def conn(self) -> QuicConn:
        return self._conn

    @property
    def remote_peer_id(self) -> PeerId:
        return self._conn.remote_peer_id

    @property
    def is_reset(self) -> bool:
        return self._reset is not None

    def __repr__(self) -> str:
        return f"<QuicStream {self.stream_id} {'out' if self.outbound else 'in'} {self.protocol!r}>"

    # --- called by the connection -------------------------------------------------------------

    def _feed(self, data: bytes) -> bool:
        """Buffer ``data``; False when the stream is over its memory limit (reset it)."""
        if self._reset is not None:
            return True
        self._chunks.append(data)
        self._buffered += len(data)
        self._wake(self._read_waiter)
        if self._buffered > self._conn.config.max_stream_buffer:
            return False
        if self.scope is not None and self._buffered > self._reserved:
            slabs = -(-(self._buffered - self._reserved) // _RESERVE_SLAB) * _RESERVE_SLAB
            if not self.scope.try_reserve_memory(slabs, PRIORITY_ALWAYS):
                return False
            self._reserved += slabs
        return True

    def _feed_eof(self) -> None:
        self._eof = True
        self._wake(self._read_waiter)

    def _set_reset(self, exc: BaseException) -> None:
        if self._reset is None:
            self._reset = exc
        self._eof = True
        self._wake(self._read_waiter)
        self._wake(self._write_waiter)

    def _release(self) -> None:
        if not self._released:
            self._released = True
            if self.scope is not None:
                self.scope.done()

    @staticmethod
    def _wake(waiter: asyncio.Future[None] | None) -> None:
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # --- reading ---------------------------------------------------------------------------------

    async def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes (all buffered when ``n`` < 0); ``b""`` at end of stream."""
        if self._pending_negotiation is not None or self._negotiated is not None:
            await self._negotiation_settled()
        return await self._read_data(n)

    async def _read_data(self, n: int) -> bytes:
        if n == 0:
            return b""
        while not self._chunks and not self._pushback and not self._eof:
            if self._read_waiter is not None and not self._read_waiter.done():
                raise StateError("another read() is already waiting on this stream")
            self._read_waiter = asyncio.get_running_loop().create_future()
            try:
                await self._read_waiter
            finally:
                self._read_waiter = None
        if self._pushback:
            data = self._pushback
            if 0 < n < len(data):
                self._pushback = data[n:]
                return data[:n]
            self._pushback = b""
            return data
        if not self._chunks:
            if self._reset is not None:
                raise StreamResetError("stream reset") from self._reset
            return b""
        if n < 0:
            data = b"".join(self._chunks)
            self._chunks.clear()
        else:
            first = self._chunks[0]
            if len(first) > n:
                data, self._chunks[0] = first[:n], first[n:]
            elif len(self._chunks) == 1 or len(first) + len(self._chunks[1]) > n:
                data = self._chunks.popleft()
            else:
                # a batch of datagrams left many small chunks: hand over as many as fit in n
                # (one read and one wake-up per batch, not per QUIC packet)
                parts, size = [], 0
                while self._chunks and size + len(self._chunks[0]) <= n:
                    chunk = self._chunks.popleft()
                    parts.append(chunk)
                    size += len(chunk)
                data = b"".join(parts)
        self._buffered -= len(data)
        if self.scope is not None and self._reserved - self._buffered >= 2 * _RESERVE_SLAB:
            keep = -(-self._buffered // _RESERVE_SLAB) * _RESERVE_SLAB
            self.scope.release_memory(self._reserved - keep)
            self._reserved = keep
        return data

    async def readexactly(self, n: int) -> bytes:
        parts: list[bytes] = []
        got = 0
        while got < n:
            chunk = await self.read(n - got)
            if not chunk:
                raise asyncio.IncompleteReadError(b"".join(parts), n)
            parts.append(chunk)
            got += len(chunk)
        return b"".join(parts)

    def unread(self, data: bytes) -> None:
        if data:
            self._pushback = data + self._pushback

    # --- writing ---------------------------------------------------------------------------------

    def _check_writable(self) -> None:
        if self._reset is not None:
            raise StreamResetError("stream reset") from self._reset
        if self._write_closed:
            raise StreamClosedError("write after close()")
        if self._send_stopped:
            raise StreamResetError("the remote stopped reading this stream")

    def write_nowait(self, data: bytes) -> int:
        """``write`` without waiting: all of ``data`` goes to QUIC now, or none of it while more
        than ``write_high_water`` bytes are unacknowledged (the caller ``write``s the rest)."""
        self._check_writable()
        if unacked_send_bytes(self._conn._quic, self.stream_id) > self._conn.config.write_high_water:
            return 0
        if data:
            self._conn._send(self.stream_id, data)
        return len(data)

    async def write_soon(self, data: bytes) -> None:
        """``write``: QUIC packs what one loop pass sends into packets itself."""
        await self.write(data)

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        """Send ``data``; waits while more than ``write_high_water`` bytes are unacknowledged."""
        self._check_writable()
        if data:
            self._conn._send(self.stream_id, bytes(data))
        high = self._conn.config.write_high_water
        while unacked_send_bytes(self._conn._quic, self.stream_id) > high:
            if self._reset is not None:
                raise StreamResetError("stream reset") from self._reset
            self._write_waiter = asyncio.get_running_loop().create_future()
            self._conn._writers.add(self)
            try:
                await self._write_waiter
            finally:
                self._write_waiter = None
                self._conn._writers.discard(self)

    async def close(self) -> None:
        """Half-close (FIN): we send no more; the remote may still send."""
        if self._reset is not None:
            self._conn._forget(self)  # reset by the remote: its handler lets go now
            return
        if self._write_closed:
            self._conn._maybe_forget(self)
            return
        if self._pending_negotiation is not None or self._negotiated is not None:
            await self._negotiation_settled()
        self._write_closed = True
        if not self._send_stopped:
            self._conn._send(self.stream_id, b"", end_stream=True)
        self._conn._maybe_forget(self)

    async def close_soon(self) -> None:
        """``close``: the FIN goes into QUIC's next packet with what else this loop pass sends."""
        await self.close()

    async def reset(self) -> None:
        """Abort both directions (RESET_STREAM and STOP_SENDING)."""
        if self._reset is None:
            self._set_reset(StreamResetError("stream reset locally"))
            self._conn._reset_stream(self)
        self._conn._forget(self)

    async def __aenter__(self) -> QuicStream:
        return self

    async def __aexit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc is not None:
            await self.reset()
        else:
            await self.close()


def _ignore(*_: Any) -> None:
    pass


class QuicConn:
    """One QUIC connection to an authenticated peer (a ``Connection``)."""

    def __init__(
        self,
        endpoint: QuicEndpoint,
        quic: QuicConnection,
        remote: tuple[Any, ...],
        *,
        local_peer_id: PeerId,
        expected_peer: PeerId | None,
        is_initiator: bool,
        config: QuicConfig,
    ) -> None:
        self._endpoint = endpoint
        self._quic = quic
        self._remote = remote
        self._loop = asyncio.get_running_loop()
        self.config = config
        self.local_peer_id = local_peer_id
        self.is_initiator = is_initiator
        self.muxer_id = MUXER_ID
        self.opened_at = self._loop.time()
        self.scope: ConnectionScope | None = None
        self._expected = expected_peer
        self._verified: VerifiedPeer | None = None
        #: why the handshake failed on our side (our certificate check), if it did
        self.failure: Libp2pError | None = None
        self.remote_peer_id: PeerId = expected_peer or local_peer_id  # replaced once authenticated
        self._streams: dict[int, QuicStream] = {}
        self._writers: set[QuicStream] = set()
        self._on_stream: Callable[[Any], None] = _ignore
        self._on_closed: Callable[[Any], None] = _ignore
        self._started = False
        self._pending_inbound: list[QuicStream] = []
        self._closed = False
        self._close_reason: BaseException | None = None
        self._closed_event = asyncio.Event()
        self.handshake_done: asyncio.Future[None] = self._loop.create_future()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._keep_alive: asyncio.TimerHandle | None = None
        self._last_activity = self.opened_at
        self._ping_uid = 0
        self._local_addr = endpoint.local_multiaddr
        self._remote_addr = endpoint.multiaddr_of(remote)

    # --- certificate check (called by aioquic during the handshake) --------------------------------

    def verify_chain(self, chain: list[bytes]) -> None:
        try:
            verified = verify_certificate_chain(chain, dt.datetime.now(dt.timezone.utc))
            if self._expected is not None and verified.peer_id != self._expected:
                raise PeerIdMismatchError(self._expected, verified.peer_id)
        except Libp2pError as exc:
            self.failure = exc
            raise
        self._verified = verified
        self.remote_peer_id = verified.peer_id

    # --- the Connection face ---------------------------------------------------------------------

    @property
    def remote_public_key(self) -> PublicKey:
        if self._verified is None:
            raise LocalProtocolError("the QUIC handshake has not authenticated the peer yet")
        return self._verified.public_key

    @property
    def local_addr(self) -> Multiaddr | None:
        return self._local_addr

    @property
    def remote_addr(self) -> Multiaddr | None:
        return self._remote_addr

    @property
    def is_closed(self) -> bool:
        return self._closed

    @property
    def close_reason(self) -> BaseException | None:
        return self._close_reason

    @property
    def streams(self) -> list[QuicStream]:
        return list(self._streams.values())

    def __repr__(self) -> str:
        return f"<QuicConn to {self.remote_peer_id} via {self._remote_addr}>"

    def start(self, on_stream: Callable[[Any], None], on_closed: Callable[[Any], None]) -> None:
        if self._started:
            raise LocalProtocolError("connection already started")
        self._started = True
        self._on_stream = on_stream
        self._on_closed = on_closed
        if self._closed:
            on_closed(self)
            return
        pending, self._pending_inbound = self._pending_inbound, []
        for stream in pending:
            if not stream.is_reset:
                on_stream(stream)
        self._arm_keep_alive()

    def open_stream(self) -> QuicStream:
        if self._closed:
            raise ConnectionClosedError("connection closed") from self._close_reason
        scope = self.scope.open_stream(Direction.OUTBOUND) if self.scope is not None else None
        stream_id = self._quic.get_next_available_stream_id()
        stream = QuicStream(self, stream_id, outbound=True, scope=scope)
        self._streams[stream_id] = stream
        return stream

    async def close(self) -> None:
        if not self._closed:
            self._quic.close(error_code=_CLOSE_CODE, reason_phrase="closed")
            self.transmit()
            self._shutdown(ConnectionClosedError("closed locally"))
            # Our CONNECTION_CLOSE is out: no draining period to wait for, so a dial socket
            # closes with its last connection now rather than after the host is gone.
            self._endpoint.forget(self)

    async def wait_closed(self) -> None:
        await self._closed_event.wait()

    # --- driving aioquic ---------------------------------------------------------------------------

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self.receive(data, addr)
        self.transmit()

    def receive(self, data: bytes, addr: tuple[Any, ...]) -> None:
        """Take one datagram; the caller transmits (once for a batch of datagrams)."""
        self._last_activity = now = self._loop.time()
        self._quic.receive_datagram(data, addr, now=now)
        self._process_events()

    def transmit(self) -> None:
        now = self._loop.time()
        for data, addr in self._quic.datagrams_to_send(now=now):
            self._endpoint.sendto(data, addr)
        timer_at = self._quic.get_timer()
        if self._timer is not None and self._timer_at != timer_at:
            self._timer.cancel()
            self._timer = None
        if self._timer is None and timer_at is not None:
            self._timer = self._loop.call_at(timer_at, self._handle_timer)
        self._timer_at = timer_at
        if self._writers:
            high = self.config.write_high_water
            for stream in list(self._writers):
                if unacked_send_bytes(self._quic, stream.stream_id) <= high:
                    QuicStream._wake(stream._write_waiter)

    def _handle_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        self._quic.handle_timer(now=self._loop.time())
        self._process_events()
        self.transmit()

    def _arm_keep_alive(self) -> None:
        interval = self.config.keep_alive
        if interval is None or self._closed:
            return
        due = self._last_activity + interval
        self._keep_alive = self._loop.call_at(due, self._keep_alive_due)

    def _keep_alive_due(self) -> None:
        self._keep_alive = None
        if self._closed:
            return
        interval = self.config.keep_alive
        assert interval is not None
        if self._loop.time() - self._last_activity >= interval * 0.99:
            self._ping_uid += 1
            self._quic.send_ping(self._ping_uid)
            self._last_activity = self._loop.time()
            self.transmit()
        self._arm_keep_alive()

    def _send(self, stream_id: int, data: bytes, end_stream: bool = False) -> None:
        if self._closed:
            raise StreamResetError("connection closed") from self._close_reason
        try:
            self._quic.send_stream_data(stream_id, data, end_stream=end_stream)
        except Exception as exc:  # aioquic raises ValueError / StreamFinishedError / limits
            raise StreamResetError(f"QUIC refused the write: {exc}") from exc
        self._last_activity = self._loop.time()
        self.transmit()

    def _reset_stream(self, stream: QuicStream) -> None:
        if self._closed:
            return
        try:
            if not stream._write_closed and not stream._send_stopped:
                self._quic.reset_stream(stream.stream_id, _RESET_CODE)
            if not stream._eof or stream._chunks:
                self._quic.stop_stream(stream.stream_id, _RESET_CODE)
        except Exception:  # noqa: BLE001 - the stream is already gone in aioquic
            pass
        self.transmit()

    def _maybe_forget(self, stream: QuicStream) -> None:
        if stream._write_closed and stream._eof:
            self._forget(stream)

    def _forget(self, stream: QuicStream) -> None:
        if self._streams.pop(stream.stream_id, None) is not None or not stream._released:
            stream._release()

    def _inbound_stream(self, stream_id: int) -> QuicStream | None:
        scope = None
        if self.scope is not None:
            try:
                scope = self.scope.open_stream(Direction.INBOUND)
            except ResourceLimitExceededError:
                log.debug("%r: refusing stream %d: resource limit", self, stream_id)
                self._quic.reset_stream(stream_id, _RESET_CODE)
                self._quic.stop_stream(stream_id, _RESET_CODE)
                return None
        stream = QuicStream(self, stream_id, outbound=False, scope=scope)
        self._streams[stream_id] = stream
        if self._started:
            self._on_stream(stream)
        else:
            self._pending_inbound.append(stream)
        return stream

    def _process_events(self) -> None:
        while (event := self._quic.next_event()) is not None:
            if isinstance(event, qe.StreamDataReceived):
                stream = self._streams.get(event.stream_id)
                if stream is None:
                    if event.stream_id % 4 == (0 if self.is_initiator else 1) or event.stream_id & 2:
                        continue  # ours and forgotten, or unidirectional (unused by libp2p)
                    stream = self._inbound_stream(event.stream_id)
                    if stream is None:
                        continue
                if event.data and not stream._feed(event.data):
                    log.debug("%r: %r over its buffer limit; resetting it", self, stream)
                    stream._set_reset(StreamResetError("stream reset: too much unread data"))
                    self._reset_stream(stream)
                    self._forget(stream)
                    continue
                if event.end_stream:
                    stream._feed_eof()
                    self._maybe_forget(stream)
            elif isinstance(event, qe.StreamReset):
                stream = self._streams.get(event.stream_id)
                if stream is not None:
                    stream._set_reset(StreamResetError("stream reset by the remote"))
                    if stream.outbound:
                        self._forget(stream)
            elif isinstance(event, qe.StopSendingReceived):
                stream = self._streams.get(event.stream_id)
                if stream is not None:
                    stream._send_stopped = True
                    QuicStream._wake(stream._write_waiter)
            elif isinstance(event, qe.HandshakeCompleted):
                if event.alpn_protocol != ALPN_LIBP2P or self._verified is None:
                    self.failure = QuicHandshakeError(f"QUIC handshake without ALPN libp2p / peer certificate")
                    self._quic.close(error_code=0x100 + 120, reason_phrase="libp2p requires ALPN libp2p")
                    continue
                if not self.handshake_done.done():
                    self.handshake_done.set_result(None)
            elif isinstance(event, qe.ConnectionIdIssued):
                self._endpoint.route(event.connection_id, self)
            elif isinstance(event, qe.ConnectionIdRetired):
                self._endpoint.unroute(event.connection_id)
            elif isinstance(event, qe.ConnectionTerminated):
                reason: Libp2pError = self.failure or ConnectionClosedError(
                    f"QUIC connection closed (code {event.error_code:#x}: {event.reason_phrase or 'no reason'})"
                )
                if not self.handshake_done.done():
                    self.handshake_done.set_exception(
                        reason if self.failure is not None else QuicHandshakeError(f"QUIC handshake failed: {reason}")
                    )
                    self.handshake_done.exception()  # retrieved here; the dial re-raises it
                self._shutdown(reason)

    def _shutdown(self, reason: BaseException) -> None:
        if self._closed:
            return
        self._closed = True
        self._close_reason = reason
        if self._keep_alive is not None:
            self._keep_alive.cancel()
        if not self.handshake_done.done():
            self.handshake_done.set_exception(QuicHandshakeError(f"connection ended during the handshake: {reason}"))
            self.handshake_done.exception()
        for stream in list(self._streams.values()):
            stream._set_reset(StreamResetError(f"connection closed: {reason}"))
            stream._release()
        self._streams.clear()
        self._closed_event.set()
        # aioquic still has a draining period to send the CONNECTION_CLOSE; the endpoint forgets
        # us when its timer runs out.
        if self._endpoint.accepting:
            self._loop.call_later(_DRAIN_SECONDS, self._endpoint.forget, self)
        else:
            self._endpoint.forget(self)  # a dial-only socket closes with its last connection
        if self._started:
            self._on_closed(self)
        if self.scope is not None:
            self.scope.done()
            self.scope = None

    def abort(self) -> None:
        """Drop the connection without ceremony (a failed dial, a refused inbound handshake)."""
        if not self._closed:
            self._quic.close(error_code=_CLOSE_CODE, reason_phrase="aborted")
            self.transmit()
        self._shutdown(self.failure or ConnectionClosedError("aborted"))
