"""Two yamux session cores pumped in memory: streams, flow control, pings, GoAway, violations."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from libp2p.errors import LocalProtocolError, RemoteProtocolError
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
from libp2p.muxer.yamux import (
    DataAfterFinError,
    DuplicateStreamError,
    GoAwayInEffectError,
    GoAwayReceivedError,
    InvalidFrameTypeError,
    InvalidStreamIdError,
    InvalidVersionError,
    KeepAliveTimeoutError,
    OutboundBacklogFullError,
    ReceiveWindowExceededError,
    SendWindowOverflowError,
    SessionClosedError,
    StreamClosedError,
    UnknownStreamError,
    YamuxConfig,
    YamuxFrameTooLargeError,
    YamuxProtocolError,
    YamuxSession,
    YamuxValueError,
)
from libp2p.muxer.yamux.wire import (
    FLAG_ACK,
    FLAG_FIN,
    FLAG_RST,
    FLAG_SYN,
    INITIAL_STREAM_WINDOW,
    MAX_STREAM_WINDOW,
    TYPE_DATA,
    TYPE_GO_AWAY,
    TYPE_PING,
    TYPE_WINDOW_UPDATE,
)

WINDOW = INITIAL_STREAM_WINDOW
# No clock-driven pings unless a test asks for them.
QUIET = YamuxConfig(enable_keepalive=False, measure_rtt_interval=None)


def frame(type_: int, flags: int, sid: int, length: int, payload: bytes = b"") -> bytes:
    return struct.pack(">BBHII", 0, type_, flags, sid, length) + payload


def parse(chunks: list[bytes]) -> list[tuple[int, int, int, int, bytes]]:
    """Split output into frames (the test's own decoder)."""
    wire = b"".join(chunks)
    out = []
    pos = 0
    while pos < len(wire):
        _, type_, flags, sid, length = struct.unpack_from(">BBHII", wire, pos)
        pos += 12
        payload = b""
        if type_ == TYPE_DATA:
            payload = wire[pos : pos + length]
            pos += length
        out.append((type_, flags, sid, length, payload))
    return out


@dataclass
class Peer:
    session: YamuxSession
    events: list[MuxerEvent] = field(default_factory=list)
    received: dict[int, bytearray] = field(default_factory=dict)
    auto_ack: bool = True
    now: float | None = None

    def collect(self) -> list[MuxerEvent]:
        new = []
        while (ev := self.session.next_event()) is not None:
            new.append(ev)
            if isinstance(ev, DataReceived):
                self.received.setdefault(ev.stream_id, bytearray()).extend(ev.data)
                if self.auto_ack:
                    self.session.acknowledge_received(ev.stream_id, len(ev.data), now=self.now)
        self.events.extend(new)
        return new


class Pair:
    def __init__(self, config_a: YamuxConfig = QUIET, config_b: YamuxConfig | None = None) -> None:
        self.a = Peer(YamuxSession(True, config_a))
        self.b = Peer(YamuxSession(False, config_b if config_b is not None else config_a))

    def pump(self, rounds: int = 1000) -> None:
        """Move bytes both ways until both sides are quiet."""
        for _ in range(rounds):
            moved = False
            for src, dst in ((self.a, self.b), (self.b, self.a)):
                src.collect()
                out = src.session.data_to_send()
                if out:
                    moved = True
                    for chunk in out:
                        dst.session.receive_data(chunk, now=dst.now)
                dst.collect()
            if not moved:
                return
        raise AssertionError("pump did not settle")


def of_type(events: list[MuxerEvent], kind: type) -> list[MuxerEvent]:
    return [e for e in events if isinstance(e, kind)]


def violation(data: bytes, *, initiator: bool = False, prelude: bytes = b"") -> YamuxSession:
    """Feed raw frames to a session and expect a protocol error."""
    s = YamuxSession(initiator, QUIET)
    if prelude:
        s.receive_data(prelude)
        assert not s.closed, s.error
    s.data_to_send()
    s.receive_data(data)
    assert s.closed
    assert isinstance(s.error, YamuxProtocolError)
    assert isinstance(s.error, RemoteProtocolError) and s.error.code == 1
    events = []
    while (ev := s.next_event()) is not None:
        events.append(ev)
    assert events[-1] == SessionClosed(1, False, str(s.error))
    assert (TYPE_GO_AWAY, 0, 0, 1, b"") in parse(s.data_to_send())
    return s


# --- streams --------------------------------------------------------------------------------


def test_open_accept_and_bidirectional_data() -> None:
    p = Pair()
    sid = p.a.session.open_stream()
    assert sid == 1
    assert p.a.session.send_data(sid, b"hello") == 5
    p.pump()
    assert of_type(p.b.events, StreamOpened) == [StreamOpened(1)]
    assert p.b.received[1] == b"hello"
    assert p.b.session.send_data(1, b"world") == 5
    p.pump()
    assert p.a.received[1] == b"world"
    # The responder's streams are even.
    assert p.b.session.open_stream() == 2
    assert p.a.session.open_stream() == 3


def test_plain_data_event_is_an_ordinary_frozen_data_received() -> None:
    # The bulk path builds DataReceived without its __init__: it must be the same value object.
    import dataclasses

    s = YamuxSession(False, QUIET)
    s.receive_data(frame(TYPE_WINDOW_UPDATE, FLAG_SYN, 1, 0))
    assert s.next_event() == StreamOpened(1)
    s.receive_data(frame(TYPE_DATA, 0, 1, 3, b"abc"))
    event = s.next_event()
    assert type(event) is DataReceived
    assert event == DataReceived(1, b"abc") and hash(event) == hash(DataReceived(1, b"abc"))
    assert (event.stream_id, event.data) == (1, b"abc")
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.data = b"x"  # type: ignore[misc]


def test_syn_rides_on_the_first_frame() -> None:
    s = YamuxSession(True, QUIET)
    sid = s.open_stream()
    s.send_data(sid, b"hi")
    assert parse(s.data_to_send()) == [(TYPE_DATA, FLAG_SYN, 1, 2, b"hi")]
    # A stream nobody writes to is announced by data_to_send with a window update SYN.
    sid = s.open_stream()
    assert parse(s.data_to_send()) == [(TYPE_WINDOW_UPDATE, FLAG_SYN, 3, 0, b"")]


def test_inbound_stream_is_acked_at_once() -> None:
    s = YamuxSession(False, QUIET)
    s.receive_data(frame(TYPE_WINDOW_UPDATE, FLAG_SYN, 1, 0))
    assert s.next_event() == StreamOpened(1)
    assert parse(s.data_to_send()) == [(TYPE_WINDOW_UPDATE, FLAG_ACK, 1, 0, b"")]


def test_bigger_initial_window_is_granted_with_syn_and_ack() -> None:
    cfg = YamuxConfig(initial_stream_window=1 << 20, enable_keepalive=False, measure_rtt_interval=None)
    p = Pair(cfg)
    sid = p.a.session.open_stream()
    p.a.session.send_data(sid, b"x")
    out = parse(p.a.session.data_to_send())
    assert out == [(TYPE_DATA, FLAG_SYN, 1, 1, b"x"), (TYPE_WINDOW_UPDATE, 0, 1, (1 << 20) - WINDOW, b"")]
    for chunk in [frame(*f[:4], f[4]) for f in out]:
        p.b.session.receive_data(chunk)
    p.b.collect()
    ack = p.b.session.data_to_send()
    assert parse(ack)[0] == (TYPE_WINDOW_UPDATE, FLAG_ACK, 1, (1 << 20) - WINDOW, b"")
    assert p.b.session.send_window(1) == 1 << 20
    for chunk in ack:
        p.a.session.receive_data(chunk)
    assert p.a.session.send_window(1) == (1 << 20) - 1


def test_half_close_both_ways() -> None:
    p = Pair()
    sid = p.a.session.open_stream()
    p.a.session.send_data(sid, b"request")
    p.a.session.close_stream(sid)
    p.pump()
    assert p.b.received[sid] == b"request"
    assert of_type(p.b.events, StreamEnded) == [StreamEnded(sid)]
    with pytest.raises(StreamClosedError):
        p.a.session.send_data(sid, b"more")
    # The other direction is still open.
    p.b.session.send_data(sid, b"response")
    p.b.session.close_stream(sid)
    p.pump()
    assert p.a.received[sid] == b"response"
    assert of_type(p.a.events, StreamEnded) == [StreamEnded(sid)]
    assert p.a.session.stream_ids == [] and p.b.session.stream_ids == []
    p.a.session.close_stream(sid)  # idempotent on a finished stream


def test_open_and_close_in_one_frame() -> None:
    s = YamuxSession(True, QUIET)
    sid = s.open_stream()
    s.close_stream(sid)
    assert parse(s.data_to_send()) == [(TYPE_WINDOW_UPDATE, FLAG_SYN | FLAG_FIN, 1, 0, b"")]


def test_reset() -> None:
    p = Pair()
    sid = p.a.session.open_stream()
    p.a.session.send_data(sid, b"x")
    p.pump()
    p.b.session.reset_stream(sid)
    p.pump()
    assert of_type(p.a.events, StreamReset) == [StreamReset(sid, remote=True)]
    assert p.a.session.stream_ids == [] and p.b.session.stream_ids == []
    with pytest.raises(StreamClosedError):
        p.a.session.send_data(sid, b"y")
    # Late frames for the reset stream are dropped, not a violation.
    p.a.session.receive_data(frame(TYPE_DATA, 0, sid, 1, b"z"))
    p.b.session.receive_data(frame(TYPE_WINDOW_UPDATE, 0, sid, 10))
    assert not p.a.session.closed and not p.b.session.closed
    p.b.session.reset_stream(sid)  # idempotent


def test_reset_of_an_unannounced_stream_sends_nothing() -> None:
    s = YamuxSession(True, QUIET)
    sid = s.open_stream()
    s.reset_stream(sid)
    assert s.data_to_send() == []


def test_many_streams() -> None:
    p = Pair()
    ids = [p.a.session.open_stream() for _ in range(200)]
    for i, sid in enumerate(ids):
        p.a.session.send_data(sid, f"stream {i}".encode())
        p.a.session.close_stream(sid)
    p.pump()
    assert len(of_type(p.b.events, StreamOpened)) == 200
    for i, sid in enumerate(ids):
        assert p.b.received[sid] == f"stream {i}".encode()
        p.b.session.send_data(sid, b"ok")
        p.b.session.close_stream(sid)
    p.pump()
    assert all(p.a.received[sid] == b"ok" for sid in ids)
    assert p.a.session.stream_ids == [] and p.b.session.stream_ids == []


def test_large_writes_are_split_into_frames() -> None:
    s = YamuxSession(True, QUIET)
    sid = s.open_stream()
    data = bytes(range(256)) * 1000  # 256000 bytes < window
    assert s.send_data(sid, memoryview(bytearray(data))) == len(data)
    frames = parse(s.data_to_send())
    assert all(f[3] <= 64 * 1024 - 12 for f in frames)
    assert b"".join(f[4] for f in frames) == data
    assert frames[0][1] == FLAG_SYN and all(f[1] == 0 for f in frames[1:])


# --- flow control ---------------------------------------------------------------------------


def test_window_exhaustion_and_update() -> None:
    p = Pair()
    p.b.auto_ack = False
    sid = p.a.session.open_stream()
    blob = bytes(WINDOW + 1000)
    assert p.a.session.send_data(sid, blob) == WINDOW
    assert p.a.session.send_window(sid) == 0
    assert p.a.session.send_data(sid, blob) == 0
    p.pump()
    assert len(p.b.received[sid]) == WINDOW
    # Nothing consumed yet: no window update, the sender stays stalled.
    assert p.a.session.send_window(sid) == 0
    # The return value says whether an update was queued (the adapter flushes only then).
    assert p.b.session.acknowledge_received(sid, WINDOW // 2 - 1) is False
    assert p.b.session.data_to_send() == []
    p.pump()
    assert p.a.session.send_window(sid) == 0  # under half: still no update
    assert p.b.session.acknowledge_received(sid, 1) is True
    p.pump()
    assert p.a.session.send_window(sid) == WINDOW // 2
    assert of_type(p.a.events, SendWindowUpdated)[-1] == SendWindowUpdated(sid, WINDOW // 2)
    assert p.a.session.send_data(sid, blob[:1000]) == 1000


def test_no_clock_means_no_autotuning() -> None:
    p = Pair()
    sid = p.a.session.open_stream()
    total = 0
    for _ in range(40):
        total += p.a.session.send_data(sid, bytes(WINDOW))
        p.pump()
    assert total >= 20 * WINDOW
    assert p.b.session.receive_window(sid) == WINDOW
    assert WINDOW // 2 <= p.a.session.send_window(sid) <= WINDOW
    assert len(p.b.received[sid]) == total


def test_window_autotuning_grows_to_the_max() -> None:
    cfg = YamuxConfig(enable_keepalive=False, measure_rtt_interval=10.0)
    p = Pair(cfg)
    p.a.now = p.b.now = 0.0
    # The first handle_timer measures the RTT with a ping.
    p.b.session.handle_timer(0.0)
    p.a.session.handle_timer(0.0)
    p.b.now = 0.010  # the pong reaches b 10 ms later
    p.pump()
    assert p.b.session.rtt == pytest.approx(0.010)
    sid = p.a.session.open_stream()
    sizes = []
    for _ in range(60):
        # The consumer keeps up: every window is used within one RTT.
        p.a.session.send_data(sid, bytes(p.a.session.send_window(sid)))
        p.b.now += 0.001
        p.pump()
        sizes.append(p.b.session.receive_window(sid))
    assert sizes[-1] == MAX_STREAM_WINDOW
    assert sorted(sizes) == sizes
    assert p.a.session.send_window(sid) > WINDOW
    # A slow consumer (each window takes a second to read) does not grow the window.
    sid2 = p.a.session.open_stream()
    p.b.auto_ack = False
    for _ in range(10):
        p.a.session.send_data(sid2, bytes(p.a.session.send_window(sid2)))
        p.pump()
        p.b.now += 1.0
        p.b.session.acknowledge_received(sid2, len(p.b.received.pop(sid2, b"")), now=p.b.now)
        p.pump()
    assert p.b.session.receive_window(sid2) == WINDOW


def test_memory_per_stream_is_bounded_by_the_window() -> None:
    s = YamuxSession(False, QUIET)
    s.receive_data(frame(TYPE_DATA, FLAG_SYN, 1, WINDOW, bytes(WINDOW)))
    assert not s.closed
    s.receive_data(frame(TYPE_DATA, 0, 1, 1, b"x"))
    assert isinstance(s.error, ReceiveWindowExceededError)


def test_acknowledge_bounds() -> None:
    p = Pair()
    sid = p.a.session.open_stream()
    p.a.session.send_data(sid, b"abc")
    p.b.auto_ack = False
    p.pump()
    with pytest.raises(YamuxValueError):
        p.b.session.acknowledge_received(sid, 4)
    with pytest.raises(LocalProtocolError):
        p.b.session.acknowledge_received(sid, -1)
    p.b.session.acknowledge_received(sid, 3)
    p.b.session.acknowledge_received(99, 3)  # gone or unknown: nothing to grant


# --- ping, keep-alive -----------------------------------------------------------------------


def test_ping_round_trip() -> None:
    p = Pair()
    opaque = p.a.session.ping()
    out = p.a.session.data_to_send()
    assert parse(out) == [(TYPE_PING, FLAG_SYN, 0, opaque, b"")]
    p.b.session.receive_data(b"".join(out))
    assert parse(p.b.session.data_to_send()) == [(TYPE_PING, FLAG_ACK, 0, opaque, b"")]
    p.a.session.receive_data(frame(TYPE_PING, FLAG_ACK, 0, opaque))
    assert p.a.session.next_event() == PingAcknowledged(opaque)
    # A pong for nothing is ignored.
    p.a.session.receive_data(frame(TYPE_PING, FLAG_ACK, 0, 12345))
    assert p.a.session.next_event() is None
    second = p.a.session.ping()
    assert second != opaque


def test_ping_measures_rtt() -> None:
    p = Pair()
    p.a.session.ping(now=5.0)
    p.a.now = 5.25
    p.pump()
    assert p.a.session.rtt == pytest.approx(0.25)


def test_keepalive_ping_and_timeout() -> None:
    cfg = YamuxConfig(keepalive_interval=30.0, ping_timeout=10.0, measure_rtt_interval=None)
    s = YamuxSession(True, cfg)
    assert s.get_timer() == 0.0
    s.handle_timer(100.0)
    assert s.data_to_send() == []
    assert s.get_timer() == 130.0
    # Traffic defers the keep-alive.
    s.receive_data(frame(TYPE_PING, FLAG_ACK, 0, 999), now=120.0)
    assert s.get_timer() == 150.0
    s.handle_timer(150.0)
    (ping,) = parse(s.data_to_send())
    assert ping[:2] == (TYPE_PING, FLAG_SYN)
    assert s.get_timer() == 160.0
    s.handle_timer(160.0)
    assert s.closed and isinstance(s.error, KeepAliveTimeoutError)
    assert s.next_event() == SessionClosed(0, False, "keep-alive timeout")
    assert s.get_timer() is None


def test_keepalive_answered_keeps_session() -> None:
    cfg = YamuxConfig(keepalive_interval=30.0, measure_rtt_interval=None)
    p = Pair(cfg)
    p.a.session.handle_timer(0.0)
    p.a.session.handle_timer(30.0)
    p.a.now = 30.5
    p.pump()
    p.a.session.handle_timer(40.0)
    assert not p.a.session.closed
    assert p.a.session.rtt == pytest.approx(0.5)
    assert of_type(p.a.events, PingAcknowledged) == []  # internal pings make no events


def test_ping_flood_replies_are_bounded() -> None:
    s = YamuxSession(False, QUIET)
    s.receive_data(b"".join(frame(TYPE_PING, FLAG_SYN, 0, i) for i in range(100)))
    assert len(parse(s.data_to_send())) == QUIET.ping_backlog


def test_stream_open_timeout() -> None:
    cfg = YamuxConfig(enable_keepalive=False, measure_rtt_interval=None, stream_open_timeout=5.0)
    s = YamuxSession(True, cfg)
    s.handle_timer(0.0)
    sid = s.open_stream()
    s.data_to_send()
    assert s.get_timer() == 5.0
    s.handle_timer(5.0)
    assert s.next_event() == StreamReset(sid, remote=False)
    assert parse(s.data_to_send()) == [(TYPE_WINDOW_UPDATE, FLAG_RST, sid, 0, b"")]


# --- GoAway, close --------------------------------------------------------------------------


def test_go_away_drains_and_refuses_new_streams() -> None:
    p = Pair()
    sid = p.a.session.open_stream()
    p.a.session.send_data(sid, b"before")
    p.pump()
    p.b.session.go_away()
    p.pump()
    assert of_type(p.a.events, SessionClosed) == [SessionClosed(0, True, "remote sent GoAway")]
    assert of_type(p.b.events, SessionClosed) == [SessionClosed(0, False, "sent GoAway(0)")]
    assert p.a.session.goaway_received == 0 and p.b.session.goaway_sent == 0
    with pytest.raises(GoAwayInEffectError):
        p.a.session.open_stream()
    with pytest.raises(GoAwayInEffectError):
        p.b.session.open_stream()
    # Existing streams go on.
    p.a.session.send_data(sid, b" after")
    p.b.session.send_data(sid, b"reply")
    p.pump()
    assert p.b.received[sid] == b"before after" and p.a.received[sid] == b"reply"
    # A SYN arriving after our GoAway is refused with RST.
    p.b.session.receive_data(frame(TYPE_WINDOW_UPDATE, FLAG_SYN, 3, 0))
    assert parse(p.b.session.data_to_send()) == [(TYPE_WINDOW_UPDATE, FLAG_RST, 3, 0, b"")]
    assert not p.b.session.closed


def test_go_away_with_error_is_terminal() -> None:
    p = Pair()
    p.a.session.open_stream()
    p.pump()
    p.b.session.go_away(2)
    assert p.b.session.closed
    p.pump()
    assert p.a.session.closed
    assert isinstance(p.a.session.error, GoAwayReceivedError) and p.a.session.error.code == 2
    assert of_type(p.a.events, SessionClosed) == [SessionClosed(2, True, "remote sent GoAway(2)")]
    with pytest.raises(SessionClosedError):
        p.a.session.open_stream()
    with pytest.raises(SessionClosedError):
        p.a.session.send_data(1, b"x")


def test_close() -> None:
    p = Pair()
    sid = p.a.session.open_stream()
    p.pump()
    p.a.session.close()
    assert parse(p.a.session.data_to_send()) == [(TYPE_GO_AWAY, 0, 0, 0, b"")]
    assert p.a.session.closed and p.a.session.stream_ids == []
    assert of_type(p.a.collect(), SessionClosed) == [SessionClosed(0, False, "closed")]
    p.a.session.close()
    p.a.session.go_away(1)
    p.a.session.close_stream(sid)
    p.a.session.reset_stream(sid)
    with pytest.raises(SessionClosedError):
        p.a.session.ping()
    assert p.a.session.data_to_send() == [] and p.a.session.get_timer() is None
    p.a.session.receive_data(b"garbage that is ignored")


# --- protocol violations -> GoAway(1) -------------------------------------------------------


def test_violation_unknown_version() -> None:
    assert isinstance(violation(b"\x01" + bytes(11)).error, InvalidVersionError)


def test_violation_unknown_type() -> None:
    assert isinstance(violation(frame(7, 0, 0, 0)).error, InvalidFrameTypeError)


def test_violation_frame_larger_than_any_window() -> None:
    assert isinstance(
        violation(frame(TYPE_DATA, FLAG_SYN, 1, MAX_STREAM_WINDOW + 1)).error, YamuxFrameTooLargeError
    )


def test_violation_data_exceeding_the_window() -> None:
    s = violation(frame(TYPE_DATA, FLAG_SYN, 1, WINDOW + 1, bytes(WINDOW + 1)))
    assert isinstance(s.error, ReceiveWindowExceededError)


def test_violation_data_after_fin() -> None:
    prelude = frame(TYPE_DATA, FLAG_SYN | FLAG_FIN, 1, 1, b"a")
    s = violation(frame(TYPE_DATA, 0, 1, 1, b"b"), prelude=prelude)
    assert isinstance(s.error, DataAfterFinError)


def test_violation_frame_for_never_opened_stream() -> None:
    assert isinstance(violation(frame(TYPE_DATA, 0, 5, 1, b"x")).error, UnknownStreamError)
    assert isinstance(violation(frame(TYPE_WINDOW_UPDATE, 0, 7, 1)).error, UnknownStreamError)
    # Our own parity, an id we never allocated.
    assert isinstance(violation(frame(TYPE_WINDOW_UPDATE, FLAG_ACK, 2, 0)).error, UnknownStreamError)


def test_violation_frame_for_an_unannounced_stream() -> None:
    s = YamuxSession(True, QUIET)
    s.open_stream()
    s.receive_data(frame(TYPE_WINDOW_UPDATE, FLAG_ACK, 1, 0))
    assert isinstance(s.error, UnknownStreamError)


def test_violation_stream_zero() -> None:
    assert isinstance(violation(frame(TYPE_DATA, FLAG_SYN, 0, 1, b"x")).error, InvalidStreamIdError)


def test_violation_wrong_parity() -> None:
    # The responder's peer must open odd ids; an even SYN means both think they dialed.
    assert isinstance(violation(frame(TYPE_WINDOW_UPDATE, FLAG_SYN, 2, 0)).error, InvalidStreamIdError)
    assert isinstance(
        violation(frame(TYPE_WINDOW_UPDATE, FLAG_SYN, 1, 0), initiator=True).error, InvalidStreamIdError
    )


def test_violation_stream_id_reuse() -> None:
    syn = frame(TYPE_WINDOW_UPDATE, FLAG_SYN, 1, 0)
    assert isinstance(violation(syn, prelude=syn).error, DuplicateStreamError)
    # Also once the stream is gone.
    closed = syn + frame(TYPE_WINDOW_UPDATE, FLAG_RST, 1, 0)
    assert isinstance(violation(syn, prelude=closed).error, DuplicateStreamError)


def test_violation_send_window_overflow() -> None:
    s = YamuxSession(False, QUIET)
    s.receive_data(frame(TYPE_WINDOW_UPDATE, FLAG_SYN, 1, 0))
    s.receive_data(frame(TYPE_WINDOW_UPDATE, 0, 1, 0xFFFFFFFF))
    assert isinstance(s.error, SendWindowOverflowError)


def test_reordered_syns_are_accepted() -> None:
    # go-yamux can put the SYNs of concurrently opened streams on the wire out of order.
    s = YamuxSession(False, QUIET)
    s.receive_data(frame(TYPE_WINDOW_UPDATE, FLAG_SYN, 5, 0))
    s.receive_data(frame(TYPE_WINDOW_UPDATE, FLAG_SYN, 3, 0))
    s.receive_data(frame(TYPE_WINDOW_UPDATE, FLAG_SYN, 1, 0))
    assert not s.closed
    assert sorted(s.stream_ids) == [1, 3, 5]
    s.receive_data(frame(TYPE_WINDOW_UPDATE, FLAG_SYN, 3, 0))
    assert isinstance(s.error, DuplicateStreamError)


def test_violation_midway_keeps_earlier_frames() -> None:
    s = YamuxSession(False, QUIET)
    s.receive_data(frame(TYPE_DATA, FLAG_SYN, 1, 2, b"ok") + frame(9, 0, 0, 0))
    assert s.next_event() == StreamOpened(1)
    assert s.next_event() == DataReceived(1, b"ok")
    assert isinstance(s.next_event(), SessionClosed)


def test_violation_after_graceful_go_away_reports_again() -> None:
    s = YamuxSession(False, QUIET)
    s.go_away(0)
    s.receive_data(frame(8, 0, 0, 0))
    events = [s.next_event(), s.next_event()]
    assert events[0] == SessionClosed(0, False, "sent GoAway(0)")
    assert isinstance(events[1], SessionClosed) and events[1].error_code == 1
    assert parse(s.data_to_send())[-1] == (TYPE_GO_AWAY, 0, 0, 1, b"")


# --- limits ---------------------------------------------------------------------------------


def test_inbound_stream_limit() -> None:
    cfg = YamuxConfig(max_incoming_streams=3, enable_keepalive=False, measure_rtt_interval=None)
    s = YamuxSession(False, cfg)
    s.receive_data(b"".join(frame(TYPE_WINDOW_UPDATE, FLAG_SYN, i, 0) for i in (1, 3, 5, 7)))
    assert [s.next_event() for _ in range(3)] == [StreamOpened(1), StreamOpened(3), StreamOpened(5)]
    assert s.next_event() is None
    assert parse(s.data_to_send())[-1] == (TYPE_WINDOW_UPDATE, FLAG_RST, 7, 0, b"")
    # Data for the refused stream is a late frame, not a violation.
    s.receive_data(frame(TYPE_DATA, 0, 7, 1, b"x"))
    assert not s.closed
    # Closing one makes room.
    s.reset_stream(1)
    s.receive_data(frame(TYPE_WINDOW_UPDATE, FLAG_SYN, 9, 0))
    assert s.next_event() == StreamOpened(9)


def test_outbound_backlog() -> None:
    cfg = YamuxConfig(accept_backlog=2, enable_keepalive=False, measure_rtt_interval=None)
    p = Pair(cfg)
    p.a.session.open_stream()
    assert not p.a.session.outbound_backlog_full
    p.a.session.open_stream()
    assert p.a.session.outbound_backlog_full
    with pytest.raises(OutboundBacklogFullError):
        p.a.session.open_stream()
    p.pump()  # ACKs arrive
    assert not p.a.session.outbound_backlog_full
    assert of_type(p.a.events, SendWindowUpdated) == [
        SendWindowUpdated(1, WINDOW),
        SendWindowUpdated(3, WINDOW),
    ]
    assert p.a.session.open_stream() == 5


def test_config_validation() -> None:
    with pytest.raises(YamuxValueError):
        YamuxConfig(initial_stream_window=1000)
    with pytest.raises(YamuxValueError):
        YamuxConfig(max_stream_window=INITIAL_STREAM_WINDOW - 1)
    with pytest.raises(YamuxValueError):
        YamuxConfig(accept_backlog=0)
    with pytest.raises(YamuxValueError):
        YamuxConfig(max_message_size=100)


# --- random interleavings -------------------------------------------------------------------

_ops = st.lists(
    st.tuples(
        st.sampled_from(["open", "send", "close", "reset", "ack", "pump", "ping", "deliver_some"]),
        st.booleans(),  # which side
        st.integers(0, 7),  # which stream (index into that side's list)
        st.integers(0, 300_000),  # size
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_ops)
def test_random_interleavings_stay_consistent(ops: list[tuple[str, bool, int, int]]) -> None:
    sessions = {True: YamuxSession(True, QUIET), False: YamuxSession(False, QUIET)}
    wires: dict[bool, list[bytes]] = {True: [], False: []}  # bytes in flight from that side
    sent: dict[bool, dict[int, bytearray]] = {True: {}, False: {}}
    got: dict[bool, dict[int, bytearray]] = {True: {}, False: {}}
    unacked: dict[bool, dict[int, int]] = {True: {}, False: {}}
    ended: dict[bool, set[int]] = {True: set(), False: set()}
    reset: dict[bool, set[int]] = {True: set(), False: set()}
    known: dict[bool, list[int]] = {True: [], False: []}

    def drain(side: bool) -> None:
        s = sessions[side]
        while (ev := s.next_event()) is not None:
            if isinstance(ev, StreamOpened):
                known[side].append(ev.stream_id)
            elif isinstance(ev, DataReceived):
                got[side].setdefault(ev.stream_id, bytearray()).extend(ev.data)
                unacked[side][ev.stream_id] = unacked[side].get(ev.stream_id, 0) + len(ev.data)
            elif isinstance(ev, StreamEnded):
                assert ev.stream_id not in ended[side]
                ended[side].add(ev.stream_id)
            elif isinstance(ev, StreamReset):
                reset[side].add(ev.stream_id)
            elif isinstance(ev, SessionClosed):
                pytest.fail(f"session closed: {ev} {s.error!r}")

    def deliver(side: bool, count: int | None = None) -> None:
        wires[side].extend(sessions[side].data_to_send())
        chunks = wires[side] if count is None else wires[side][:count]
        wires[side] = [] if count is None else wires[side][count:]
        for chunk in chunks:
            sessions[not side].receive_data(chunk)
        drain(not side)

    counter = 0
    for op, side, idx, size in ops:
        s = sessions[side]
        streams = known[side]
        sid = streams[idx % len(streams)] if streams else None
        if op == "open":
            try:
                known[side].append(s.open_stream())
            except GoAwayInEffectError:
                pass
        elif op == "send" and sid is not None:
            counter += 1
            data = bytes([counter % 256]) * size
            try:
                n = s.send_data(sid, data)
            except StreamClosedError:
                continue
            assert 0 <= n <= size
            sent[side].setdefault(sid, bytearray()).extend(data[:n])
        elif op == "close" and sid is not None:
            s.close_stream(sid)
        elif op == "reset" and sid is not None:
            s.reset_stream(sid)
            reset[side].add(sid)
        elif op == "ack" and sid is not None:
            n = unacked[side].get(sid, 0)
            s.acknowledge_received(sid, n)
            unacked[side][sid] = 0
        elif op == "ping":
            s.ping()
        elif op == "deliver_some":
            deliver(side, 1 + idx)
        else:
            deliver(True)
            deliver(False)
        drain(True)
        drain(False)
        assert not s.closed

    # Settle: deliver everything, acknowledging as we go.
    for _ in range(200):
        for side in (True, False):
            for sid, n in list(unacked[side].items()):
                sessions[side].acknowledge_received(sid, n)
                unacked[side][sid] = 0
        deliver(True)
        deliver(False)
        if not wires[True] and not wires[False] and all(not n for u in unacked.values() for n in u.values()):
            break
    for side in (True, False):
        for sid, data in sent[side].items():
            if sid in reset[side] or sid in reset[not side]:
                # A reset may cut the stream short, never reorder or invent bytes.
                assert data.startswith(got[not side].get(sid, bytearray()))
            else:
                assert got[not side].get(sid, bytearray()) == data, sid
        # Streams that both sides still hold agree on open/closed ids.
        for sid in sessions[side].stream_ids:
            if sid in sessions[not side].stream_ids:
                assert sessions[side].send_window(sid) <= sessions[not side].receive_window(sid)
