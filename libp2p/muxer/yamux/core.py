"""Sans-IO yamux session (``/yamux/1.0.0``).

Driven by calls, never by I/O: feed received bytes with ``receive_data``, take frames to
write with ``data_to_send``, read ``MuxerEvent``s from ``next_event``, and call
``handle_timer(now)`` when ``get_timer()`` says so. Time only ever arrives as an argument.

Behaviour follows go-yamux (the go-libp2p muxer) unless noted:

* Stream ids: the initiator (dialer) opens odd ids, the responder even ones. An outbound
  stream is announced lazily: its SYN rides on the first frame sent for it, and
  ``data_to_send`` announces any stream still silent with a WindowUpdate SYN, so an opener
  that only reads never hangs.
* Inbound streams are accepted at once (WindowUpdate ACK, carrying any window above the
  256 KiB every stream starts with). Over ``max_incoming_streams``, or after a GoAway, a new
  stream is refused with RST, as go-yamux does. The accept queue lives in the adapter.
* Flow control: ``send_data`` takes at most the send window. The receiver counts bytes the
  application has not acknowledged (``acknowledge_received``) against the window, sends an
  update once half the window is free, and doubles the window (up to
  ``max_stream_window``) when the previous window was consumed within four round trips,
  go-yamux's auto-tuning. The RTT comes from pings: one at the first ``handle_timer`` and one
  every ``measure_rtt_interval``. Without a clock (no ``now`` ever given) windows stay fixed.
* Frames for streams we closed or reset are dropped (go-yamux drains them too). A frame
  without SYN for an id that was never opened, a SYN for an id in use or used before, a SYN
  with our parity, Data past the receive window or after the peer's FIN, and malformed
  headers are protocol errors: GoAway(1) is queued, ``SessionClosed(1, remote=False)`` is
  emitted, ``error`` holds the typed ``YamuxProtocolError`` and the session is terminal.
* GoAway(0), sent or received, drains: existing streams go on, new ones are refused both
  ways. A non-zero GoAway, ``close()`` or a violation is terminal: every stream is dropped
  (``SessionClosed`` stands for their resets) and only the queued output remains.

``data_to_send()`` returns a ``list[bytes]`` ready for ``transport.writelines``: control
frames, headers and small payloads are coalesced into one bytes object, while payloads of
1 KiB or more are passed through as their own item, uncopied when ``send_data`` was given a
whole ``bytes`` that fit in one frame.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from libp2p.muxer.events import (
    DataReceived,
    MuxerEvent,
    PingAcknowledged,
    SendWindowUpdated,
    SessionClosed,
    StreamEnded,
    StreamOpened,
    StreamReset,
)
from libp2p.muxer.yamux.errors import (
    DataAfterFinError,
    DuplicateStreamError,
    GoAwayInEffectError,
    GoAwayReceivedError,
    InvalidStreamIdError,
    KeepAliveTimeoutError,
    OutboundBacklogFullError,
    PingBacklogFullError,
    ReceiveWindowExceededError,
    SendWindowOverflowError,
    SessionClosedError,
    StreamClosedError,
    StreamsExhaustedError,
    UnknownStreamError,
    YamuxError,
    YamuxProtocolError,
    YamuxValueError,
)
from libp2p.muxer.yamux.wire import (
    FLAG_ACK,
    FLAG_FIN,
    FLAG_RST,
    FLAG_SYN,
    GO_AWAY_NORMAL,
    GO_AWAY_PROTOCOL_ERROR,
    HEADER_SIZE,
    INITIAL_STREAM_WINDOW,
    MAX_STREAM_ID,
    MAX_STREAM_WINDOW,
    MAX_U32,
    TYPE_DATA,
    TYPE_GO_AWAY,
    TYPE_PING,
    TYPE_WINDOW_UPDATE,
)

if TYPE_CHECKING:
    from libp2p._pure.yamux import YamuxFrameDecoder

__all__ = ["YamuxConfig", "YamuxSession"]

_log = logging.getLogger("libp2p.muxer.yamux")

# Payloads at least this large go out as their own buffer; smaller ones are coalesced.
_INLINE_MAX = 1024
# How many skipped remote ids may still be opened late (SYNs of concurrently opened streams
# can cross on the wire in go-yamux); ids further back count as used.
_REORDER_IDS = 512
# ``acknowledge_within``'s slack for a stream whose acknowledgements can never queue anything.
_NO_UPDATE_DUE = 1 << 62

# ``DataReceived`` for the bulk path without the frozen dataclass's ``__init__`` (which sets each
# field through ``object.__setattr__`` from Python: 0.5 µs, half of it saved); the same object.
_new_event = object.__new__
_set_event_sid = vars(DataReceived)["stream_id"].__set__
_set_event_data = vars(DataReceived)["data"].__set__


# (YamuxFrameDecoder, yamux_pack_header) of the chosen twin, once the first session is made
_accel_yamux: tuple[type[YamuxFrameDecoder], Callable[[int, int, int, int], bytes]] | None = None


def _load_accel_yamux() -> None:
    global _accel_yamux
    from libp2p._accel import YamuxFrameDecoder, yamux_pack_header

    _accel_yamux = (YamuxFrameDecoder, yamux_pack_header)


@dataclass(frozen=True, slots=True)
class YamuxConfig:
    """Session options; defaults from go-yamux's ``DefaultConfig`` as go-libp2p uses it.

    ``max_incoming_streams`` is go-yamux's default of 1000 (go-libp2p lifts it and lets its
    resource manager limit streams; we have no resource manager, so the yamux limit stays).
    ``accept_backlog`` bounds our outbound streams awaiting the peer's ACK (the spec's
    SHOULD of 256). ``ping_timeout`` is go's ``ConnectionWriteTimeout``, the time a
    keep-alive ping may stay unanswered before the session is declared dead.
    ``stream_open_timeout`` (hashicorp's StreamOpenTimeout; off in go-yamux) resets an
    outbound stream whose ACK does not come in time. Intervals are in seconds.
    """

    initial_stream_window: int = INITIAL_STREAM_WINDOW
    max_stream_window: int = MAX_STREAM_WINDOW
    accept_backlog: int = 256
    max_incoming_streams: int = 1000
    max_message_size: int = 64 * 1024
    enable_keepalive: bool = True
    keepalive_interval: float = 30.0
    measure_rtt_interval: float | None = 30.0
    ping_timeout: float = 10.0
    ping_backlog: int = 32
    stream_open_timeout: float | None = None

    def __post_init__(self) -> None:
        if not INITIAL_STREAM_WINDOW <= self.initial_stream_window <= MAX_U32:
            raise YamuxValueError("initial_stream_window must be at least 256 KiB and fit in 32 bits")
        if not self.initial_stream_window <= self.max_stream_window <= MAX_U32:
            raise YamuxValueError("max_stream_window must be between initial_stream_window and 2**32 - 1")
        if self.accept_backlog < 1 or self.max_incoming_streams < 0 or self.ping_backlog < 1:
            raise YamuxValueError("accept_backlog and ping_backlog must be positive")
        if not HEADER_SIZE + 1024 <= self.max_message_size <= MAX_U32:
            raise YamuxValueError("max_message_size must be at least header + 1 KiB")
        if self.keepalive_interval <= 0 or self.ping_timeout <= 0:
            raise YamuxValueError("keepalive_interval and ping_timeout must be positive")
        if self.measure_rtt_interval is not None and self.measure_rtt_interval <= 0:
            raise YamuxValueError("measure_rtt_interval must be positive or None")
        if self.stream_open_timeout is not None and self.stream_open_timeout <= 0:
            raise YamuxValueError("stream_open_timeout must be positive or None")


class _Stream:
    """Per-stream state. The peer may send ``recv_credit`` more bytes; ``buffered`` bytes
    were delivered but not yet acknowledged by the application; their sum never exceeds
    ``recv_window``, which bounds the memory a stream can hold."""

    __slots__ = (
        "acked",
        "buffered",
        "epoch",
        "id",
        "inbound",
        "local_closed",
        "receiver",
        "recv_credit",
        "recv_window",
        "remote_closed",
        "send_window",
        "syn_pending",
    )

    def __init__(self, stream_id: int, inbound: bool, recv_window: int, epoch: float) -> None:
        self.id = stream_id
        self.inbound = inbound
        self.syn_pending = not inbound
        self.acked = inbound
        self.local_closed = False
        self.remote_closed = False
        self.send_window = INITIAL_STREAM_WINDOW
        self.recv_window = recv_window
        self.recv_credit = INITIAL_STREAM_WINDOW
        self.buffered = 0
        self.epoch = epoch
        self.receiver: Callable[[bytes], None] | None = None


class YamuxSession:
    """One yamux session over one connection. See the module docstring for the semantics."""

    #: windows bound what the peer may send (the adapter need not stop reading the socket)
    flow_control = True

    # Slots: over ~30 attributes an instance dict costs ~0.6 us more per session to fill (3.11's
    # shared keys stop there), and reads are slower. ``__dict__`` keeps other attributes possible.
    __slots__ = (
        "config",
        "is_initiator",
        "error",
        "_pack",
        "_decoder",
        "_max_payload",
        "_keepalive_interval",
        "_extra_window",
        "initial_window",
        "window_limiter",
        "_refusals_logged",
        "_streams",
        "_parity",
        "_next_id",
        "_syn_pending",
        "_remote_max",
        "_remote_gaps",
        "_n_inbound",
        "_n_unacked",
        "_events",
        "pending_events",
        "_out",
        "_small",
        "_pongs",
        "_closed",
        "_goaway_sent",
        "_goaway_received",
        "_reported",
        "_now",
        "_clock_started",
        "_rtt",
        "_pings",
        "_ping_deadlines",
        "_next_opaque",
        "_internal_ping",
        "_keepalive_at",
        "_rtt_at",
        "_open_deadlines",
        "__dict__",
        "__weakref__",
    )

    def __init__(self, is_initiator: bool, config: YamuxConfig | None = None) -> None:
        # Bound by the first session, not at module level: libp2p._pure.yamux imports this
        # package's errors, so a module-level import of libp2p._accel would be circular. (An import
        # statement here costs ~3 us per session, half of what the rest of this takes.)
        if _accel_yamux is None:
            _load_accel_yamux()
        assert _accel_yamux is not None
        decoder_type, yamux_pack_header = _accel_yamux

        cfg = config if config is not None else YamuxConfig()
        self.config = cfg
        self.is_initiator = is_initiator
        self.error: YamuxError | None = None
        self._pack: Callable[[int, int, int, int], bytes] = yamux_pack_header
        # No window we ever grant is larger, so a bigger Data frame is a violation anyway.
        self._decoder: YamuxFrameDecoder = decoder_type(cfg.max_stream_window)
        self._max_payload = cfg.max_message_size - HEADER_SIZE
        self._keepalive_interval = cfg.keepalive_interval
        self._extra_window = cfg.initial_stream_window - INITIAL_STREAM_WINDOW
        #: what each new stream may buffer before its first window update (what the adapter reserves)
        self.initial_window = cfg.initial_stream_window
        #: ``limiter(stream_id, delta) -> bool``, asked before a receive window grows by ``delta``
        #: (the adapter reserves that memory); None lets windows grow to ``max_stream_window``
        self.window_limiter: Callable[[int, int], bool] | None = None
        self._refusals_logged = False

        self._streams: dict[int, _Stream] = {}
        self._parity = 1 if is_initiator else 0
        self._next_id = 1 if is_initiator else 2
        self._syn_pending: dict[int, _Stream] = {}  # ordered: announce in opening order
        # Highest remote id seen with SYN; starts one step below the peer's first id.
        self._remote_max = 0 if is_initiator else -1
        self._remote_gaps: set[int] = set()
        self._n_inbound = 0
        self._n_unacked = 0

        self._events: deque[MuxerEvent] = deque()
        #: the events ``next_event`` will return, for a cheap "anything pending?" (read only)
        self.pending_events: deque[MuxerEvent] = self._events
        self._out: list[bytes] = []
        self._small = bytearray()
        self._pongs = 0

        self._closed = False
        self._goaway_sent: int | None = None
        self._goaway_received: int | None = None
        self._reported: int | None = None

        self._now: float | None = None
        self._clock_started = False
        self._rtt = 0.0
        self._pings: dict[int, tuple[float | None, bool]] = {}  # opaque -> (sent at, internal)
        self._ping_deadlines: deque[tuple[float, int]] = deque()
        self._next_opaque = 0
        self._internal_ping: int | None = None
        self._keepalive_at: float | None = None
        self._rtt_at: float | None = None
        self._open_deadlines: deque[tuple[float, int]] = deque()

    # --- state -----------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Terminal: no more streams or frames (queued output still has to be sent)."""
        return self._closed

    @property
    def goaway_sent(self) -> int | None:
        return self._goaway_sent

    @property
    def goaway_received(self) -> int | None:
        return self._goaway_received

    @property
    def rtt(self) -> float:
        """Smoothed round-trip time from pings, in the caller's time unit; 0.0 until measured."""
        return self._rtt

    @property
    def stream_ids(self) -> list[int]:
        return list(self._streams)

    def send_window(self, stream_id: int) -> int:
        """Bytes ``send_data`` would accept now on this stream."""
        return self._stream(stream_id).send_window

    def set_data_receiver(self, stream_id: int, receiver: Callable[[bytes], None] | None) -> None:
        """``receiver(payload)`` takes what would be the stream's ``DataReceived`` events of the
        bulk path (plain Data within the window) while no other event is pending, so it never
        overtakes one; None (the default): every payload is an event. No-op for an unknown id."""
        st = self._streams.get(stream_id)
        if st is not None:
            st.receiver = receiver

    def receive_window(self, stream_id: int) -> int:
        """The stream's current receive window size (grows with auto-tuning)."""
        return self._stream(stream_id).recv_window

    # --- input -----------------------------------------------------------------------------

    def receive_data(self, data: bytes | bytearray | memoryview, now: float | None = None) -> bool:
        """Feed bytes read from the connection. ``now`` (the adapter's clock) times pings
        and defers keep-alives while traffic flows. Returns whether output is queued (what
        ``data_to_send`` would return is not empty): most input needs no answer, and then the
        adapter need not ask."""
        if now is not None:
            self._now = now
            if self._keepalive_at is not None:
                self._keepalive_at = now + self._keepalive_interval
        if self._closed:
            return bool(self._small or self._out)
        decoder = self._decoder
        decoder.feed(data)
        # The twin takes plain Data for streams with a receiver (``set_data_receiver``) itself,
        # with this bulk path's checks and accounting; what it returns is handled here.
        streams = self._streams
        events = self._events
        try:
            while True:
                frame = decoder.take_frame(streams, events)
                if frame is None:
                    break
                ftype, flags, sid, length, payload = frame
                if ftype == TYPE_DATA and flags == 0:
                    # The bulk path: plain data on an open, announced stream within its window.
                    st = streams.get(sid)
                    if (
                        st is not None
                        and not st.remote_closed
                        and not st.syn_pending
                        and length <= st.recv_credit
                    ):
                        if length:
                            st.recv_credit -= length
                            st.buffered += length
                            event = _new_event(DataReceived)
                            _set_event_sid(event, sid)
                            _set_event_data(event, payload)
                            events.append(event)
                        continue
                if ftype == TYPE_PING:  # (``_on_frame``'s first case, one call less)
                    self._on_ping(flags, length)
                    continue
                self._on_frame(ftype, flags, sid, length, payload)
                if self._closed:
                    break
        except YamuxProtocolError as exc:
            self._fail(exc)
        return bool(self._small or self._out or self._syn_pending)

    def _on_frame(self, ftype: int, flags: int, sid: int, length: int, payload: bytes | None) -> None:
        if ftype == TYPE_PING:
            self._on_ping(flags, length)
            return
        if ftype == TYPE_GO_AWAY:
            self._on_go_away(length)
            return
        if sid == 0:
            raise InvalidStreamIdError("stream frame on stream id 0")
        st = self._streams.get(sid)
        if flags & FLAG_SYN:
            if st is not None:
                raise DuplicateStreamError(f"SYN for stream {sid}, which is open")
            st = self._on_syn(sid)
            if st is None:
                return  # refused with RST: drop whatever came with the SYN
        elif st is None:
            self._on_unknown(sid)
            return
        elif st.syn_pending:
            raise UnknownStreamError(f"frame for stream {sid} before we announced it")
        if flags & FLAG_RST:
            self._remove(st)
            self._events.append(StreamReset(sid, remote=True))
            return
        acked_now = False
        if flags & FLAG_ACK and not st.acked:
            st.acked = True
            self._n_unacked -= 1
            acked_now = True
        if ftype == TYPE_DATA:
            if length:
                if st.remote_closed:
                    raise DataAfterFinError(f"{length} bytes on stream {sid} after its FIN")
                if length > st.recv_credit:
                    raise ReceiveWindowExceededError(
                        f"{length} bytes on stream {sid} with {st.recv_credit} bytes of window left"
                    )
                st.recv_credit -= length
                st.buffered += length
                self._events.append(DataReceived(sid, payload))  # type: ignore[arg-type]
        elif length or acked_now:
            window = st.send_window + length
            if window > MAX_U32:
                raise SendWindowOverflowError(f"send window of stream {sid} would exceed 2**32 - 1")
            st.send_window = window
            if not st.local_closed:
                # Also on a bare ACK: a slot of the outbound backlog just came free.
                self._events.append(SendWindowUpdated(sid, window))
        if flags & FLAG_FIN and not st.remote_closed:
            st.remote_closed = True
            self._events.append(StreamEnded(sid))
            if st.local_closed:
                self._remove(st)

    def _on_syn(self, sid: int) -> _Stream | None:
        if sid & 1 == self._parity:
            raise InvalidStreamIdError(f"SYN for stream {sid}, which has our parity")
        if sid <= self._remote_max:
            if sid not in self._remote_gaps:
                raise DuplicateStreamError(f"SYN reuses stream id {sid}")
            self._remote_gaps.discard(sid)
        else:
            self._note_gaps(sid)
            self._remote_max = sid
        if self._goaway_sent is not None or self._goaway_received is not None:
            _log.debug("refusing inbound stream %d after GoAway", sid)
            self._write_frame(TYPE_WINDOW_UPDATE, FLAG_RST, sid, 0)
            return None
        if self._n_inbound >= self.config.max_incoming_streams:
            # One warning per session: a flood of opens must not become a flood of log lines.
            _log.log(
                logging.DEBUG if self._refusals_logged else logging.WARNING,
                "yamux peer exceeded max_incoming_streams (%d); resetting stream %d",
                self.config.max_incoming_streams,
                sid,
            )
            self._refusals_logged = True
            self._write_frame(TYPE_WINDOW_UPDATE, FLAG_RST, sid, 0)
            return None
        st = _Stream(sid, True, self.config.initial_stream_window, self._now or 0.0)
        st.recv_credit += self._extra_window
        self._streams[sid] = st
        self._n_inbound += 1
        self._write_frame(TYPE_WINDOW_UPDATE, FLAG_ACK, sid, self._extra_window)
        self._events.append(StreamOpened(sid))
        return st

    def _note_gaps(self, sid: int) -> None:
        """Remember remote ids skipped by a SYN, so their SYNs may still arrive late."""
        gaps = self._remote_gaps
        low = max(self._remote_max + 2, sid - 2 * _REORDER_IDS)
        gaps.update(range(low, sid, 2))
        if len(gaps) > 2 * _REORDER_IDS:
            floor = sid - 2 * _REORDER_IDS
            self._remote_gaps = {g for g in gaps if g >= floor}

    def _on_unknown(self, sid: int) -> None:
        if sid & 1 == self._parity:
            never_opened = sid >= self._next_id
        else:
            never_opened = sid > self._remote_max or sid in self._remote_gaps
        if never_opened:
            raise UnknownStreamError(f"frame for stream {sid}, which was never opened")
        # A late frame for a stream that is gone (closed, reset or refused): drop it.

    def _on_ping(self, flags: int, opaque: int) -> None:
        if flags & FLAG_SYN:
            if self._pongs >= self.config.ping_backlog:
                _log.debug("dropping ping reply: %d replies unsent", self._pongs)
                return
            self._pongs += 1
            self._small += self._pack(TYPE_PING, FLAG_ACK, 0, opaque)  # ``_write_frame``, inline
            return
        if not flags & FLAG_ACK:
            return
        entry = self._pings.pop(opaque, None)
        if entry is None:
            return  # unsolicited or expired: ignore, as go-yamux does
        sent, internal = entry
        now = self._now
        if sent is not None and now is not None and now >= sent:
            sample = now - sent
            self._rtt = sample if self._rtt == 0.0 else (self._rtt + sample) / 2
        if internal:
            self._internal_ping = None
        else:
            self._events.append(PingAcknowledged(opaque))

    def _on_go_away(self, code: int) -> None:
        if self._goaway_received is not None:
            return
        self._goaway_received = code
        if code == GO_AWAY_NORMAL:
            _log.debug("remote sent GoAway(0): draining")
            self._report(code, True, "remote sent GoAway")
            return
        _log.warning("yamux peer sent GoAway with error code %d", code)
        self.error = GoAwayReceivedError(code)
        self._terminate()
        self._report(code, True, f"remote sent GoAway({code})")

    # --- streams ---------------------------------------------------------------------------

    @property
    def outbound_backlog_full(self) -> bool:
        """``accept_backlog`` streams await their ACK: ``open_stream`` would raise (go-yamux's
        OpenStream blocks here; the adapter waits for an ACK instead)."""
        return self._n_unacked >= self.config.accept_backlog

    def open_stream(self) -> int:
        """Open an outbound stream; its SYN goes with its first frame (at the latest on the
        next ``data_to_send``). Raises ``GoAwayInEffectError`` after a GoAway and
        ``OutboundBacklogFullError`` when ``accept_backlog`` streams await their ACK."""
        self._check_open()
        if self._goaway_sent is not None or self._goaway_received is not None:
            raise GoAwayInEffectError("GoAway in effect: no new streams")
        if self._n_unacked >= self.config.accept_backlog:
            raise OutboundBacklogFullError(f"{self._n_unacked} streams await the peer's ACK")
        sid = self._next_id
        if sid > MAX_STREAM_ID:
            raise StreamsExhaustedError("no stream ids left")
        self._next_id = sid + 2
        st = _Stream(sid, False, self.config.initial_stream_window, self._now or 0.0)
        self._streams[sid] = st
        self._syn_pending[sid] = st
        self._n_unacked += 1
        timeout = self.config.stream_open_timeout
        if timeout is not None and self._now is not None:
            self._open_deadlines.append((self._now + timeout, sid))
        return sid

    def send_data(self, stream_id: int, data: bytes | bytearray | memoryview) -> int:
        """Queue up to the send window of ``data``; return how many bytes were taken.

        The rest waits for ``SendWindowUpdated``. Raises ``StreamClosedError`` on a stream that
        is unknown, reset or closed for writing.
        """
        st = self._streams.get(stream_id)
        if st is None or st.local_closed:
            st = self._writable(stream_id)  # raises
        n = len(data)
        window = st.send_window
        if n > window:
            n = window
        if n == 0:
            return 0
        flags = 0
        announced = st.syn_pending
        if announced:
            flags = self._announce(st)
        limit = self._max_payload
        if n < _INLINE_MAX and n == len(data) and type(data) is bytes:
            # A small message whole (``_write_data``'s coalescing case, one call less).
            small = self._small
            small += self._pack(TYPE_DATA, flags, stream_id, n)
            small += data
        elif n <= limit and n == len(data) and type(data) is bytes:
            self._write_data(flags, stream_id, data)
        else:
            view = memoryview(data).cast("B") if isinstance(data, memoryview) else memoryview(data)
            off = 0
            while off < n:
                end = min(off + limit, n)
                self._write_data(flags, stream_id, bytes(view[off:end]))
                flags = 0
                off = end
        st.send_window = window - n
        if announced and self._extra_window:
            self._grant_extra(st)
        return n

    def send_now(self, stream_id: int, data: bytes) -> bytes | None:
        """``send_data`` then ``data_to_send`` in one call, for the common case only: the whole
        of ``data`` (1 byte up to one frame) fits the send window of an announced stream that is
        open for writing, and nothing else is queued. Returns the Data frame (what
        ``data_to_send`` would have returned, joined), the window taken; else None and nothing
        changed (the caller takes the general path)."""
        st = self._streams.get(stream_id)
        n = len(data)
        if (
            st is None
            or st.local_closed
            or st.syn_pending
            or not 0 < n <= st.send_window
            or n > self._max_payload
            or self._small
            or self._out
            or self._syn_pending
        ):
            return None
        st.send_window -= n
        # Nothing was queued, so no ping reply either: ``_pongs`` is already 0.
        return self._pack(TYPE_DATA, 0, stream_id, n) + data

    def close_stream(self, stream_id: int) -> None:
        """Half-close: send FIN. Reading goes on until ``StreamEnded``. Idempotent."""
        st = self._streams.get(stream_id)
        if st is None or st.local_closed:
            return
        flags = FLAG_FIN
        delta = 0
        if st.syn_pending:
            flags |= self._announce(st)
            delta = self._extra_window
            st.recv_credit += delta
        self._write_frame(TYPE_WINDOW_UPDATE, flags, stream_id, delta)
        st.local_closed = True
        if st.remote_closed:
            self._remove(st)

    def reset_stream(self, stream_id: int) -> None:
        """Abort both directions with RST (nothing is sent for a stream never announced)."""
        st = self._streams.get(stream_id)
        if st is None:
            return
        if not st.syn_pending:
            self._write_frame(TYPE_WINDOW_UPDATE, FLAG_RST, stream_id, 0)
        self._remove(st)

    def acknowledge_received(self, stream_id: int, n: int, now: float | None = None) -> bool:
        """The application consumed ``n`` bytes of the stream: maybe send a window update.

        The update goes out once half the window is free; the window doubles (up to
        ``max_stream_window``) if the previous one was used up within four RTTs. Returns
        whether a window update was queued (most calls queue nothing).
        """
        return self.acknowledge_within(stream_id, n, now) < 0

    def acknowledge_within(self, stream_id: int, n: int, now: float | None = None) -> int:
        """``acknowledge_received``, returning how many more bytes the application may consume
        before acknowledging them can queue anything: ``slack`` when nothing was queued, ``~slack``
        (negative) when a window update was.

        Between two acknowledgements only other acknowledgements bring an update nearer (arriving
        data moves bytes from credit to ``buffered``; a stream's announcement adds credit), so an
        adapter may hold back acknowledgements while their sum stays within ``slack`` and pass the
        sum in one call: the same window updates, at the same reads, as one call per read.
        """
        if now is not None:
            self._now = now
        st = self._streams.get(stream_id)
        if st is None:
            return _NO_UPDATE_DUE  # reset or finished meanwhile: nothing to grant, ever
        if n < 0 or n > st.buffered:
            raise YamuxValueError(f"acknowledging {n} bytes with {st.buffered} unacknowledged")
        buffered = st.buffered = st.buffered - n
        if st.remote_closed:
            return _NO_UPDATE_DUE
        window = st.recv_window
        half = window >> 1
        delta = window - st.recv_credit - buffered
        if delta < half:
            return half - 1 - delta
        now = self._now
        if now is not None:
            rtt = self._rtt
            if rtt > 0.0 and now - st.epoch < 4 * rtt and window < self.config.max_stream_window:
                grown = min(window * 2, self.config.max_stream_window)
                limiter = self.window_limiter
                if limiter is None or limiter(stream_id, grown - window):
                    window = grown
                    st.recv_window = window
                    delta = window - st.recv_credit - buffered
            st.epoch = now
        st.recv_credit += delta
        self._write_frame(TYPE_WINDOW_UPDATE, 0, stream_id, delta)
        # now window - credit - buffered == 0
        return ~((window >> 1) - 1)

    # --- session ---------------------------------------------------------------------------

    def ping(self, now: float | None = None) -> int:
        """Send a ping; return its opaque value. ``PingAcknowledged(opaque)`` follows."""
        self._check_open()
        if now is not None:
            self._now = now
        if len(self._pings) - (self._internal_ping is not None) >= self.config.ping_backlog:
            raise PingBacklogFullError(f"{self.config.ping_backlog} pings unanswered")
        return self._send_ping(internal=False)

    def go_away(self, code: int = GO_AWAY_NORMAL) -> None:
        """Send GoAway(code). With 0 the session drains; any other code ends it."""
        if not 0 <= code <= MAX_U32:
            raise YamuxValueError(f"GoAway code out of range: {code}")
        if self._closed or self._goaway_sent is not None:
            return
        self._goaway_sent = code
        self._write_frame(TYPE_GO_AWAY, 0, 0, code)
        if code != GO_AWAY_NORMAL:
            self._terminate()
        self._report(code, False, f"sent GoAway({code})")

    def close(self) -> None:
        """End the session: GoAway(0) unless one was sent, then drop every stream."""
        if self._closed:
            return
        if self._goaway_sent is None:
            self._goaway_sent = GO_AWAY_NORMAL
            self._write_frame(TYPE_GO_AWAY, 0, 0, GO_AWAY_NORMAL)
        self._terminate()
        self._report(GO_AWAY_NORMAL, False, "closed")

    # --- output ----------------------------------------------------------------------------

    def next_event(self) -> MuxerEvent | None:
        events = self._events
        return events.popleft() if events else None

    def events(self) -> list[MuxerEvent]:
        """Every pending event at once (cheaper than a ``next_event`` loop)."""
        out = list(self._events)
        self._events.clear()
        return out

    def data_to_send(self) -> list[bytes]:
        """The frames to write, as buffers for ``transport.writelines``; [] when idle."""
        if self._syn_pending:
            # Streams opened but not yet written to: announce them now.
            for st in list(self._syn_pending.values()):
                flags = self._announce(st)
                st.recv_credit += self._extra_window
                self._write_frame(TYPE_WINDOW_UPDATE, flags, st.id, self._extra_window)
        small = self._small
        if small:
            self._out.append(bytes(small))
            small.clear()
        out = self._out
        if out:
            self._out = []
        self._pongs = 0
        return out

    def get_timer(self) -> float | None:
        """When ``handle_timer`` should next run (0.0: as soon as a clock is available)."""
        if self._closed:
            return None
        if not self._clock_started:
            if self.config.enable_keepalive or self.config.measure_rtt_interval is not None:
                return 0.0
            if not self._open_deadlines:
                return None
        pings = self._ping_deadlines
        while pings and pings[0][1] not in self._pings:
            pings.popleft()
        opens = self._open_deadlines
        while opens and self._awaiting_ack(opens[0][1]) is None:
            opens.popleft()
        deadline: float | None = None
        for t in (
            self._keepalive_at,
            self._rtt_at,
            pings[0][0] if pings else None,
            opens[0][0] if opens else None,
        ):
            if t is not None and (deadline is None or t < deadline):
                deadline = t
        return deadline

    def handle_timer(self, now: float) -> None:
        self._now = now
        if self._closed:
            return
        cfg = self.config
        if not self._clock_started:
            self._clock_started = True
            if cfg.enable_keepalive:
                self._keepalive_at = now + cfg.keepalive_interval
            if cfg.measure_rtt_interval is not None:
                # go-yamux measures the RTT as soon as the session starts.
                self._rtt_at = now + cfg.measure_rtt_interval
                self._send_ping(internal=True)
        pings = self._ping_deadlines
        while pings and pings[0][0] <= now:
            _, opaque = pings.popleft()
            entry = self._pings.pop(opaque, None)
            if entry is not None and entry[1]:
                self._internal_ping = None
                _log.warning("yamux keep-alive ping unanswered for %.1f s; closing", cfg.ping_timeout)
                self.error = KeepAliveTimeoutError("keep-alive ping unanswered")
                self._terminate()
                self._report(GO_AWAY_NORMAL, False, "keep-alive timeout")
                return
        opens = self._open_deadlines
        while opens and opens[0][0] <= now:
            _, sid = opens.popleft()
            st = self._awaiting_ack(sid)
            if st is not None:
                _log.debug("stream %d not acknowledged in time; resetting", sid)
                self.reset_stream(sid)
                self._events.append(StreamReset(sid, remote=False))
        if self._keepalive_at is not None and now >= self._keepalive_at:
            self._keepalive_at = now + cfg.keepalive_interval
            if self._internal_ping is None:
                self._send_ping(internal=True)
        if self._rtt_at is not None and now >= self._rtt_at:
            self._rtt_at = now + (cfg.measure_rtt_interval or 0.0)
            if self._internal_ping is None:
                self._send_ping(internal=True)

    # --- internals -------------------------------------------------------------------------

    def _stream(self, stream_id: int) -> _Stream:
        st = self._streams.get(stream_id)
        if st is None:
            if self._closed:
                raise SessionClosedError("session is closed")
            raise StreamClosedError(f"stream {stream_id} is not open")
        return st

    def _writable(self, stream_id: int) -> _Stream:
        st = self._stream(stream_id)
        if st.local_closed:
            raise StreamClosedError(f"stream {stream_id} is closed for writing")
        return st

    def _check_open(self) -> None:
        if self._closed:
            raise SessionClosedError("session is closed")

    def _awaiting_ack(self, sid: int) -> _Stream | None:
        st = self._streams.get(sid)
        return st if st is not None and not st.acked else None

    def _announce(self, st: _Stream) -> int:
        """The stream's first frame is being written: it carries SYN."""
        st.syn_pending = False
        del self._syn_pending[st.id]
        return FLAG_SYN

    def _grant_extra(self, st: _Stream) -> None:
        # Our configured window beyond the spec's 256 KiB, granted after a SYN on Data.
        st.recv_credit += self._extra_window
        self._write_frame(TYPE_WINDOW_UPDATE, 0, st.id, self._extra_window)

    def _remove(self, st: _Stream) -> None:
        del self._streams[st.id]
        if st.inbound:
            self._n_inbound -= 1
        elif not st.acked:
            self._n_unacked -= 1
        if st.syn_pending:
            del self._syn_pending[st.id]

    def _send_ping(self, internal: bool) -> int:
        opaque = self._next_opaque
        while opaque in self._pings:
            opaque = (opaque + 1) & MAX_U32
        self._next_opaque = (opaque + 1) & MAX_U32
        now = self._now
        self._pings[opaque] = (now, internal)
        if internal:
            self._internal_ping = opaque
        if now is not None:
            self._ping_deadlines.append((now + self.config.ping_timeout, opaque))
        self._small += self._pack(TYPE_PING, FLAG_SYN, 0, opaque)  # ``_write_frame``, inline
        return opaque

    def _write_frame(self, ftype: int, flags: int, sid: int, length: int) -> None:
        self._small += self._pack(ftype, flags, sid, length)

    def _write_data(self, flags: int, sid: int, payload: bytes) -> None:
        header = self._pack(TYPE_DATA, flags, sid, len(payload))
        small = self._small
        if len(payload) < _INLINE_MAX:
            small += header
            small += payload
            return
        out = self._out
        if small:
            small += header
            out.append(bytes(small))
            small.clear()
        else:
            out.append(header)
        out.append(payload)

    def _terminate(self) -> None:
        self._closed = True
        self._streams.clear()
        self._syn_pending.clear()
        self._n_inbound = self._n_unacked = 0
        self._pings.clear()
        self._ping_deadlines.clear()
        self._open_deadlines.clear()
        self._internal_ping = None
        self._keepalive_at = self._rtt_at = None

    def _report(self, code: int, remote: bool, reason: str) -> None:
        # One SessionClosed per session, plus one more if a drain (code 0) later fails.
        if self._reported is None or (code != GO_AWAY_NORMAL and self._reported == GO_AWAY_NORMAL):
            self._reported = code
            self._events.append(SessionClosed(code, remote, reason))

    def _fail(self, exc: YamuxProtocolError) -> None:
        _log.warning("yamux peer broke the protocol: %s", exc)
        self.error = exc
        code = exc.code if exc.code is not None else GO_AWAY_PROTOCOL_ERROR
        if self._goaway_sent is None or self._goaway_sent == GO_AWAY_NORMAL:
            self._goaway_sent = code
            self._write_frame(TYPE_GO_AWAY, 0, 0, code)
        self._terminate()
        self._report(code, False, str(exc))
