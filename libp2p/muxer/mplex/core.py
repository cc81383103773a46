"""mplex ``/mplex/6.7.0`` session, sans-IO.

Same face as the yamux session, so one asyncio adapter drives both: ``receive_data``,
``next_event``, ``data_to_send`` (or ``buffers_to_send`` for vectored writes), ``get_timer``,
``handle_timer`` and the stream calls ``open_stream``, ``send_data``, ``send_window``,
``close_stream``, ``reset_stream``, ``acknowledge_received``, ``ping``, ``go_away`` / ``close``.

Stream ids. On the wire a stream is the pair (wire id, who opened it): both sides count their own
ids from 0. The API flattens the pair to one int: a stream *we* opened has id ``2 * wire_id``, a
stream the *peer* opened ``2 * wire_id + 1``. (This is relative to the local side, unlike yamux's
odd/even split by connection role.)

What mplex lacks, and what this core does instead:
- no flow control: ``send_data`` takes everything, split into messages of at most
  ``max_message_size``; ``send_window`` is a huge constant. Receivers protect themselves as
  go-mplex and rust-libp2p do: a stream whose unacknowledged inbound bytes exceed
  ``max_buffered_per_stream`` is reset (``StreamReset(remote=False)``). The application reports
  consumption with ``acknowledge_received``.
- no ping: ``ping()`` raises ``MplexPingUnsupportedError``.
- no GoAway: ``go_away()`` / ``close()`` reset every open stream and end the session
  (``SessionClosed``). After ``SessionClosed`` every stream is dead; no per-stream events follow.
- no timers: ``get_timer()`` is always None.

Peer behaviour, following go-mplex and rust-libp2p: data or Close for an unknown stream (never
opened, or already reset by us) is dropped; data after the peer's Close is dropped; Reset for an
unknown stream is ignored; NewStream for a stream id that is still open is a protocol error that
ends the session; a NewStream beyond ``max_inbound_streams`` is answered with a Reset. A frame over
``max_message_size`` or with flag 7 ends the session: ``receive_data`` queues ``SessionClosed``
and raises the typed ``MplexDecodeError``.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass

from libp2p._accel import MPLEX_MAX_STREAM_ID, MplexFrameDecoder, mplex_pack_frame, mplex_pack_header
from libp2p.errors import DecodeError, LocalProtocolError
from libp2p.muxer.events import (
    DataReceived,
    MuxerEvent,
    SessionClosed,
    StreamEnded,
    StreamOpened,
    StreamReset,
)
from libp2p.muxer.mplex.errors import (
    NORMAL,
    PROTOCOL_ERROR,
    MplexPingUnsupportedError,
    MplexProtocolError,
    MplexSessionClosedError,
    MplexStreamClosedError,
    MplexUnknownStreamError,
)

__all__ = [
    "FLAG_CLOSE_INITIATOR",
    "FLAG_CLOSE_RECEIVER",
    "FLAG_MESSAGE_INITIATOR",
    "FLAG_MESSAGE_RECEIVER",
    "FLAG_NEW_STREAM",
    "FLAG_RESET_INITIATOR",
    "FLAG_RESET_RECEIVER",
    "MPLEX_SEND_WINDOW",
    "PROTOCOL_ID",
    "MplexConfig",
    "MplexSession",
]

logger = logging.getLogger("libp2p.muxer.mplex")

PROTOCOL_ID = "/mplex/6.7.0"
# What send_window() reports: mplex has no flow control, so the sender is never held back.
MPLEX_SEND_WINDOW = (1 << 63) - 1

FLAG_NEW_STREAM = 0
FLAG_MESSAGE_RECEIVER = 1
FLAG_MESSAGE_INITIATOR = 2
FLAG_CLOSE_RECEIVER = 3
FLAG_CLOSE_INITIATOR = 4
FLAG_RESET_RECEIVER = 5
FLAG_RESET_INITIATOR = 6


@dataclass(frozen=True, slots=True)
class MplexConfig:
    """mplex options. Defaults: go-mplex's 1 MiB message bound; the stream bound is a safety net
    (go-mplex has none, rust-libp2p defaults to 128)."""

    max_message_size: int = 1 << 20
    max_inbound_streams: int = 1024
    # Unacknowledged inbound bytes a stream may hold before it is reset as a slow reader.
    max_buffered_per_stream: int = 4 << 20

    def __post_init__(self) -> None:
        if self.max_message_size < 1:
            raise LocalProtocolError("max_message_size must be positive")
        if self.max_inbound_streams < 0:
            raise LocalProtocolError("max_inbound_streams must not be negative")
        if self.max_buffered_per_stream < 0:
            raise LocalProtocolError("max_buffered_per_stream must not be negative")


class _Stream:
    __slots__ = ("buffered", "local", "msg_flag", "recv_closed", "send_closed", "wire_id")

    def __init__(self, wire_id: int, local: bool) -> None:
        self.wire_id = wire_id
        self.local = local
        # The opener sends the *Initiator flags (even), the other side the *Receiver flags (odd);
        # Close and Reset are Message + 2 and Message + 4.
        self.msg_flag = FLAG_MESSAGE_INITIATOR if local else FLAG_MESSAGE_RECEIVER
        self.send_closed = False
        self.recv_closed = False
        self.buffered = 0


class MplexSession:
    """One mplex connection. ``is_initiator`` is kept for symmetry with yamux; mplex ids do not
    depend on the connection role."""

    # No flow control: the asyncio adapter applies TCP backpressure to slow readers instead.
    flow_control = False

    __slots__ = (
        "_closed",
        "_decoder",
        "_events",
        "_inbound",
        "_next_wire_id",
        "_out",
        "_streams",
        "config",
        "is_initiator",
    )

    def __init__(self, is_initiator: bool, config: MplexConfig | None = None) -> None:
        self.is_initiator = is_initiator
        self.config = config if config is not None else MplexConfig()
        self._decoder = MplexFrameDecoder(self.config.max_message_size)
        self._streams: dict[int, _Stream] = {}
        self._inbound = 0
        self._next_wire_id = 0
        self._out: list[bytes] = []
        self._events: deque[MuxerEvent] = deque()
        self._closed = False

    # --- state ------------------------------------------------------------------------------

    @property
    def is_closed(self) -> bool:
        return self._closed

    @property
    def stream_count(self) -> int:
        """Streams not yet reset nor closed both ways."""
        return len(self._streams)

    # --- the sans-IO face -----------------------------------------------------------------

    def receive_data(self, data: bytes | bytearray | memoryview, now: float | None = None) -> None:
        """Feed bytes from the connection. Bytes after the session closed are dropped.

        Raises ``MplexDecodeError`` (malformed frames), a varint ``DecodeError`` or
        ``MplexProtocolError`` after queuing ``SessionClosed``.
        """
        if self._closed:
            return
        decoder = self._decoder
        decoder.feed(data)
        try:
            while not self._closed:
                frame = decoder.next_frame()
                if frame is None:
                    return
                self._handle_frame(*frame)
        except (DecodeError, MplexProtocolError) as exc:
            logger.debug("mplex: peer broke the protocol: %s", exc)
            self._end(PROTOCOL_ERROR, remote=False, reason=str(exc))
            raise

    def receive_eof(self) -> None:
        """The connection's read side ended: every stream is dead."""
        if self._closed:
            return
        if self._decoder.buffered:
            self._end(PROTOCOL_ERROR, remote=True, reason="connection ended inside a frame")
        else:
            self._end(NORMAL, remote=True, reason="connection closed by peer")

    def next_event(self) -> MuxerEvent | None:
        return self._events.popleft() if self._events else None

    def data_to_send(self) -> bytes:
        """Everything queued for the wire, as one bytes object."""
        if not self._out:
            return b""
        out = b"".join(self._out)
        self._out.clear()
        return out

    def buffers_to_send(self) -> list[bytes]:
        """Everything queued for the wire, as frame headers and payloads (for ``writelines``),
        so large payloads are not copied again."""
        out = self._out
        self._out = []
        return out

    def get_timer(self) -> float | None:
        return None

    def handle_timer(self, now: float) -> None:
        return None

    # --- streams ----------------------------------------------------------------------------

    def open_stream(self) -> int:
        """Open an outbound stream (queues NewStream, named after its wire id as go-mplex does)."""
        self._check_open()
        wire_id = self._next_wire_id
        if wire_id > MPLEX_MAX_STREAM_ID:
            raise MplexSessionClosedError("mplex stream ids exhausted")
        self._next_wire_id = wire_id + 1
        stream_id = wire_id * 2
        self._streams[stream_id] = _Stream(wire_id, local=True)
        self._out.append(mplex_pack_frame(wire_id, FLAG_NEW_STREAM, str(wire_id).encode("ascii")))
        return stream_id

    def send_data(self, stream_id: int, data: bytes | bytearray | memoryview) -> int:
        """Queue all of ``data`` (mplex has no flow control); returns ``len(data)``."""
        self._check_open()
        s = self._get(stream_id)
        if s.send_closed:
            raise MplexStreamClosedError(f"stream {stream_id} is closed for writing")
        view = memoryview(data)
        if view.itemsize != 1 or view.ndim != 1:
            view = view.cast("B")
        n = view.nbytes
        if n == 0:
            return 0
        limit = self.config.max_message_size
        out = self._out
        if n <= limit:
            out.append(mplex_pack_header(s.wire_id, s.msg_flag, n))
            # bytes are immutable, so they are queued as they are; anything else is copied once.
            out.append(data if isinstance(data, bytes) else view.tobytes())
            return n
        for i in range(0, n, limit):
            chunk = view[i : i + limit].tobytes()
            out.append(mplex_pack_header(s.wire_id, s.msg_flag, len(chunk)))
            out.append(chunk)
        return n

    def send_window(self, stream_id: int) -> int:
        """How much ``send_data`` accepts now: ``MPLEX_SEND_WINDOW``, or 0 once closed for writing."""
        s = self._get(stream_id)
        return 0 if s.send_closed or self._closed else MPLEX_SEND_WINDOW

    def close_stream(self, stream_id: int) -> None:
        """Half-close: no more writes from us; reading goes on. A no-op on a closed or unknown stream."""
        s = self._streams.get(stream_id)
        if s is None or s.send_closed or self._closed:
            return
        s.send_closed = True
        self._out.append(mplex_pack_header(s.wire_id, s.msg_flag + 2, 0))
        if s.recv_closed:
            self._forget(stream_id, s)

    def reset_stream(self, stream_id: int) -> None:
        """Abort the stream both ways. No event is queued (the caller knows). No-op if unknown."""
        s = self._streams.get(stream_id)
        if s is None or self._closed:
            return
        self._out.append(mplex_pack_header(s.wire_id, s.msg_flag + 4, 0))
        self._forget(stream_id, s)

    def acknowledge_received(self, stream_id: int, n: int, now: float | None = None) -> bool:
        """The application consumed ``n`` bytes of the stream (for the slow-reader bound).
        Always False: mplex has no window, so nothing is sent."""
        if n < 0:
            raise LocalProtocolError(f"cannot acknowledge a negative byte count ({n})")
        s = self._streams.get(stream_id)
        if s is not None:
            s.buffered = max(0, s.buffered - n)
        return False

    def ping(self, opaque: int = 0) -> int:
        raise MplexPingUnsupportedError("mplex has no session ping; use /ipfs/ping/1.0.0 on a stream")

    def go_away(self, code: int = NORMAL) -> None:
        """End the session: reset every open stream, then queue ``SessionClosed(code)``."""
        if self._closed:
            return
        for s in self._streams.values():
            self._out.append(mplex_pack_header(s.wire_id, s.msg_flag + 4, 0))
        self._end(code, remote=False, reason="closed locally")

    def close(self) -> None:
        self.go_away(NORMAL)

    # --- internals --------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise MplexSessionClosedError("mplex session is closed")

    def _get(self, stream_id: int) -> _Stream:
        s = self._streams.get(stream_id)
        if s is None:
            raise MplexUnknownStreamError(
                f"no open stream {stream_id} (never opened, reset, or closed both ways)"
            )
        return s

    def _forget(self, stream_id: int, s: _Stream) -> None:
        del self._streams[stream_id]
        if not s.local:
            self._inbound -= 1

    def _end(self, code: int, *, remote: bool, reason: str) -> None:
        self._closed = True
        self._streams.clear()
        self._inbound = 0
        self._events.append(SessionClosed(code, remote, reason))

    def _handle_frame(self, wire_id: int, flag: int, payload: bytes) -> None:
        if flag == FLAG_NEW_STREAM:
            stream_id = wire_id * 2 + 1
            if stream_id in self._streams:
                raise MplexProtocolError(f"NewStream for stream {wire_id}, which is already open")
            if self._inbound >= self.config.max_inbound_streams:
                logger.debug("mplex: inbound stream limit reached, resetting stream %d", wire_id)
                self._out.append(mplex_pack_header(wire_id, FLAG_RESET_RECEIVER, 0))
                return
            self._streams[stream_id] = _Stream(wire_id, local=False)
            self._inbound += 1
            self._events.append(StreamOpened(stream_id))
            return
        # Odd flags come from the side that did not open the stream: then we opened it.
        stream_id = wire_id * 2 if flag & 1 else wire_id * 2 + 1
        s = self._streams.get(stream_id)
        kind = (flag + 1) >> 1  # 1 message, 2 close, 3 reset
        if kind == 1:
            if s is None or s.recv_closed:
                # Unknown (we reset it, or it never existed) or the peer already closed it: drop.
                return
            if not payload:
                return
            s.buffered += len(payload)
            if s.buffered > self.config.max_buffered_per_stream:
                logger.debug("mplex: stream %d exceeded its receive buffer, resetting", stream_id)
                self._out.append(mplex_pack_header(s.wire_id, s.msg_flag + 4, 0))
                self._forget(stream_id, s)
                self._events.append(StreamReset(stream_id, remote=False))
                return
            self._events.append(DataReceived(stream_id, payload))
        elif kind == 2:
            if s is None or s.recv_closed:
                return
            s.recv_closed = True
            self._events.append(StreamEnded(stream_id))
            if s.send_closed:
                self._forget(stream_id, s)
        else:
            if s is None:
                return
            self._forget(stream_id, s)
            self._events.append(StreamReset(stream_id, remote=True))
