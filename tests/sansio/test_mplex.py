"""The mplex session core: two sessions pumped in memory."""

from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from libp2p._accel import MplexFrameDecoder, mplex_pack_frame, mplex_pack_header
from libp2p.errors import DecodeError, LocalProtocolError, RemoteProtocolError
from libp2p.muxer.events import (
    DataReceived,
    MuxerEvent,
    SessionClosed,
    StreamEnded,
    StreamOpened,
    StreamReset,
)
from libp2p.muxer.mplex.core import MPLEX_SEND_WINDOW, MplexConfig, MplexSession
from libp2p.muxer.mplex.errors import (
    MplexFrameTooLargeError,
    MplexInvalidFlagError,
    MplexPingUnsupportedError,
    MplexProtocolError,
    MplexSessionClosedError,
    MplexStreamClosedError,
    MplexUnknownStreamError,
)
from tests.conftest import load_vector

_VEC = {v["description"]: bytes.fromhex(v["hex"]) for v in load_vector("derived/mplex-frames.json")["frames"]}
MiB = 1 << 20


def events(s: MplexSession) -> list[MuxerEvent]:
    out = []
    while (e := s.next_event()) is not None:
        out.append(e)
    return out


def pump(a: MplexSession, b: MplexSession) -> None:
    while True:
        x = a.data_to_send()
        if x:
            b.receive_data(x)
        y = b.data_to_send()
        if y:
            a.receive_data(y)
        if not x and not y:
            return


def pair(config: MplexConfig | None = None) -> tuple[MplexSession, MplexSession]:
    return MplexSession(True, config), MplexSession(False, config)


def frames(data: bytes) -> list[tuple[int, int, bytes]]:
    dec = MplexFrameDecoder(1 << 30)
    dec.feed(data)
    out = dec.frames()
    dec.close()
    return out


# --- basics -----------------------------------------------------------------------------------


def test_open_and_accept() -> None:
    a, b = pair()
    assert a.open_stream() == 0
    assert a.open_stream() == 2
    wire = a.data_to_send()
    # NewStream named after the wire id (go-mplex), as in the vectors.
    assert wire == mplex_pack_frame(0, 0, b"0") + _VEC["NewStream id 1, name '1'"]
    b.receive_data(wire)
    assert events(b) == [StreamOpened(1), StreamOpened(3)]
    assert a.stream_count == b.stream_count == 2


def test_ids_of_both_sides_do_not_clash() -> None:
    a, b = pair()
    sa = a.open_stream()
    sb = b.open_stream()
    assert sa == sb == 0  # both wire id 0, told apart by who opened them
    pump(a, b)
    assert events(a) == [StreamOpened(1)]
    assert events(b) == [StreamOpened(1)]
    a.send_data(0, b"on a's stream")
    a.send_data(1, b"on b's stream")
    pump(a, b)
    assert events(b) == [DataReceived(1, b"on a's stream"), DataReceived(0, b"on b's stream")]


def test_data_both_ways_matches_vectors() -> None:
    a, b = pair()
    a.open_stream()
    sid = a.open_stream()  # wire id 1
    pump(a, b)
    events(b)
    assert a.send_data(sid, b"hello") == 5
    wire = a.data_to_send()
    assert wire == _VEC["MessageInitiator id 1 'hello' (sent by opener)"]
    b.receive_data(wire)
    assert events(b) == [DataReceived(3, b"hello")]
    b.send_data(3, b"hi")
    wire = b.data_to_send()
    assert wire == _VEC["MessageReceiver id 1 'hi' (sent by acceptor)"]
    a.receive_data(wire)
    assert events(a) == [DataReceived(sid, b"hi")]
    b.close_stream(3)
    assert b.data_to_send() == _VEC["CloseReceiver id 1"]
    a.close_stream(sid)
    assert a.data_to_send() == _VEC["CloseInitiator id 1"]


def test_reset_vectors() -> None:
    a, b = pair()
    a.open_stream()
    a.open_stream()
    pump(a, b)
    a.reset_stream(2)
    assert a.data_to_send() == _VEC["ResetInitiator id 1"]
    b.reset_stream(3)
    assert b.data_to_send() == _VEC["ResetReceiver id 1"]


def test_half_close() -> None:
    a, b = pair()
    s = a.open_stream()
    a.send_data(s, b"request")
    a.close_stream(s)
    a.close_stream(s)  # idempotent
    pump(a, b)
    assert events(b) == [StreamOpened(1), DataReceived(1, b"request"), StreamEnded(1)]
    with pytest.raises(MplexStreamClosedError) as info:
        a.send_data(s, b"more")
    assert isinstance(info.value, LocalProtocolError)
    assert a.send_window(s) == 0
    # The other direction still works.
    assert b.send_window(1) == MPLEX_SEND_WINDOW
    b.send_data(1, b"response")
    b.close_stream(1)
    pump(a, b)
    assert events(a) == [DataReceived(s, b"response"), StreamEnded(s)]
    assert a.stream_count == b.stream_count == 0  # closed both ways: forgotten
    with pytest.raises(MplexUnknownStreamError):
        a.send_data(s, b"x")


def test_reset() -> None:
    a, b = pair()
    s = a.open_stream()
    pump(a, b)
    events(b)
    b.send_data(1, b"in flight")
    a.reset_stream(s)
    a.reset_stream(s)  # idempotent
    pump(a, b)
    assert events(b) == [StreamReset(1, remote=True)]
    assert events(a) == []  # the data crossing the reset is dropped
    with pytest.raises(MplexUnknownStreamError):
        b.send_data(1, b"x")
    assert a.stream_count == b.stream_count == 0


def test_data_after_remote_close_is_dropped() -> None:
    a, b = pair()
    s = a.open_stream()
    a.close_stream(s)
    wire = a.data_to_send()
    # A misbehaving peer writes after its Close: go-mplex and rust-libp2p drop it.
    b.receive_data(wire + mplex_pack_frame(0, 2, b"late"))
    assert events(b) == [StreamOpened(1), StreamEnded(1)]
    b.receive_data(mplex_pack_header(0, 4, 0))  # a second Close is ignored too
    assert events(b) == []


def test_unknown_streams_are_ignored() -> None:
    _, b = pair()
    b.receive_data(
        mplex_pack_frame(9, 2, b"data")
        + mplex_pack_frame(9, 1, b"data")
        + mplex_pack_header(9, 4, 0)
        + mplex_pack_header(9, 3, 0)
        + mplex_pack_header(9, 6, 0)
        + mplex_pack_header(9, 5, 0)
    )
    assert events(b) == []
    assert b.data_to_send() == b""
    assert not b.is_closed


def test_empty_message_is_not_an_event() -> None:
    a, b = pair()
    s = a.open_stream()
    assert a.send_data(s, b"") == 0
    b.receive_data(a.data_to_send() + mplex_pack_header(0, 2, 0))
    assert events(b) == [StreamOpened(1)]


def test_large_messages_split() -> None:
    a, b = pair(MplexConfig(max_buffered_per_stream=8 * MiB))
    s = a.open_stream()
    pump(a, b)
    events(b)
    payload = bytes(range(256)) * (10 * 1024)  # 2.5 MiB
    assert a.send_data(s, bytearray(payload)) == len(payload)
    wire = a.data_to_send()
    assert [len(p) for _, _, p in frames(wire)] == [MiB, MiB, len(payload) - 2 * MiB]
    b.receive_data(wire)
    got = events(b)
    assert all(isinstance(e, DataReceived) for e in got)
    assert b"".join(e.data for e in got if isinstance(e, DataReceived)) == payload


def test_smaller_message_size() -> None:
    a, _ = pair(MplexConfig(max_message_size=4))
    s = a.open_stream()
    a.send_data(s, memoryview(b"abcdefghij"))
    assert [p for _, _, p in frames(a.data_to_send())][1:] == [b"abcd", b"efgh", b"ij"]


def test_buffers_to_send() -> None:
    a, _ = pair()
    s = a.open_stream()
    data = bytearray(b"mutable")
    a.send_data(s, data)
    data[:] = b"changed"  # queued bytes were copied
    big = b"x" * 1000
    a.send_data(s, big)
    bufs = a.buffers_to_send()
    assert any(buf is big for buf in bufs)  # immutable bytes are queued without a copy
    assert [p for _, _, p in frames(b"".join(bufs))] == [b"0", b"mutable", big]
    assert a.buffers_to_send() == [] and a.data_to_send() == b""


# --- peer violations --------------------------------------------------------------------------


def _assert_killed(b: MplexSession) -> None:
    evs = events(b)
    assert isinstance(evs[-1], SessionClosed) and evs[-1].error_code == 1 and not evs[-1].remote
    assert b.is_closed and b.stream_count == 0
    b.receive_data(b"ignored after close")
    with pytest.raises(MplexSessionClosedError):
        b.open_stream()


def test_oversized_message_from_peer() -> None:
    a, b = pair()
    a.open_stream()
    pump(a, b)
    with pytest.raises(MplexFrameTooLargeError) as info:
        b.receive_data(mplex_pack_header(0, 2, MiB + 1))  # rejected before the payload arrives
    assert isinstance(info.value, DecodeError)
    _assert_killed(b)


def test_configured_message_size_applies_to_receiving() -> None:
    _, b = pair(MplexConfig(max_message_size=100))
    with pytest.raises(MplexFrameTooLargeError):
        b.receive_data(mplex_pack_frame(0, 0, b"n" * 101))
    _assert_killed(b)


def test_flag7_from_peer() -> None:
    _, b = pair()
    with pytest.raises(MplexInvalidFlagError):
        b.receive_data(bytes([0 << 3 | 7, 0]))
    _assert_killed(b)


def test_duplicate_new_stream() -> None:
    a, b = pair()
    a.open_stream()
    wire = a.data_to_send()
    b.receive_data(wire)
    with pytest.raises(MplexProtocolError) as info:
        b.receive_data(wire)
    assert isinstance(info.value, RemoteProtocolError) and info.value.code == 1
    _assert_killed(b)


def test_bad_varint_from_peer() -> None:
    _, b = pair()
    with pytest.raises(DecodeError):
        b.receive_data(b"\xff" * 10)
    _assert_killed(b)


def test_events_before_the_violation_are_kept() -> None:
    a, b = pair()
    a.open_stream()
    a.send_data(0, b"ok")
    with pytest.raises(MplexInvalidFlagError):
        b.receive_data(a.data_to_send() + b"\x07\x00")
    assert events(b)[:2] == [StreamOpened(1), DataReceived(1, b"ok")]


# --- limits -----------------------------------------------------------------------------------


def test_inbound_stream_limit() -> None:
    a, b = pair(MplexConfig(max_inbound_streams=2))
    ids = [a.open_stream() for _ in range(3)]
    pump(a, b)
    assert events(b) == [StreamOpened(1), StreamOpened(3)]
    assert events(a) == [StreamReset(ids[2], remote=True)]
    # Data the peer sent before seeing the reset is dropped.
    b.receive_data(mplex_pack_frame(2, 2, b"dropped"))
    assert events(b) == []
    # Once a stream ends both ways there is room again.
    a.close_stream(ids[0])
    b.close_stream(1)
    pump(a, b)
    events(a)
    events(b)
    a.open_stream()
    pump(a, b)
    assert events(b) == [StreamOpened(7)]


def test_slow_reader_is_reset() -> None:
    a, b = pair(MplexConfig(max_buffered_per_stream=10))
    s = a.open_stream()
    a.send_data(s, b"123456")
    pump(a, b)
    assert events(b) == [StreamOpened(1), DataReceived(1, b"123456")]
    a.send_data(s, b"7890")  # exactly 10 unacknowledged: still fine
    pump(a, b)
    assert events(b) == [DataReceived(1, b"7890")]
    assert b.acknowledge_received(1, 4) is False  # no window: nothing to send
    a.send_data(s, b"abcd")  # 10 again
    pump(a, b)
    assert events(b) == [DataReceived(1, b"abcd")]
    a.send_data(s, b"!")  # 11: reset, as go-mplex resets a reader that does not keep up
    pump(a, b)
    assert events(b) == [StreamReset(1, remote=False)]
    assert events(a) == [StreamReset(s, remote=True)]
    assert a.stream_count == b.stream_count == 0


def test_acknowledge_misuse() -> None:
    a, _ = pair()
    s = a.open_stream()
    a.acknowledge_received(s, 100)  # more than buffered: clamps
    a.acknowledge_received(12345, 1)  # unknown: ignored
    with pytest.raises(LocalProtocolError):
        a.acknowledge_received(s, -1)


# --- session ----------------------------------------------------------------------------------


def test_ping_is_unsupported() -> None:
    a, _ = pair()
    with pytest.raises(MplexPingUnsupportedError) as info:
        a.ping()
    assert isinstance(info.value, LocalProtocolError)


@pytest.mark.parametrize("how", ["close", "go_away"])
def test_close_resets_every_stream(how: str) -> None:
    a, b = pair()
    s1 = a.open_stream()
    a.open_stream()
    pump(a, b)
    events(b)
    b.open_stream()
    pump(a, b)
    events(a)
    if how == "close":
        a.close()
    else:
        a.go_away(2)
    assert events(a) == [SessionClosed(0 if how == "close" else 2, False, "closed locally")]
    a.close()  # idempotent
    assert events(a) == []
    b.receive_data(a.data_to_send())
    assert sorted(e.stream_id for e in events(b) if isinstance(e, StreamReset)) == [0, 1, 3]
    with pytest.raises(MplexSessionClosedError):
        a.send_data(s1, b"x")
    with pytest.raises(MplexSessionClosedError):
        a.open_stream()
    a.close_stream(s1)
    a.reset_stream(s1)
    assert a.data_to_send() == b""


def test_eof() -> None:
    a, b = pair()
    a.open_stream()
    pump(a, b)
    events(b)
    b.receive_eof()
    assert events(b) == [SessionClosed(0, True, "connection closed by peer")]
    _, c = pair()
    c.receive_data(b"\x00")
    c.receive_eof()
    (ev,) = events(c)
    assert isinstance(ev, SessionClosed) and ev.error_code == 1


def test_send_window_and_timers() -> None:
    a, _ = pair()
    s = a.open_stream()
    assert a.send_window(s) == MPLEX_SEND_WINDOW
    with pytest.raises(MplexUnknownStreamError):
        a.send_window(99)
    assert a.get_timer() is None
    a.handle_timer(123.0)


def test_config_validation() -> None:
    with pytest.raises(LocalProtocolError):
        MplexConfig(max_message_size=0)
    with pytest.raises(LocalProtocolError):
        MplexConfig(max_inbound_streams=-1)


# --- random interleavings ---------------------------------------------------------------------


def _peer_id(sid: int) -> int:
    # A stream one side opened (even id) is odd on the other side, and back.
    return sid + 1 if sid % 2 == 0 else sid - 1


class MplexPair(RuleBasedStateMachine):
    """Random opens, writes, closes, resets, acks and partial deliveries between two sessions.

    Checks: no exception, every byte arrives in order on a live stream, Close arrives as
    StreamEnded, a reset stream delivers a prefix of what was sent and then nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.s = [
            MplexSession(True, MplexConfig(max_message_size=7)),
            MplexSession(False, MplexConfig(max_message_size=7)),
        ]
        self.wire = [bytearray(), bytearray()]  # bytes in flight from side i to the other
        self.live: list[set[int]] = [set(), set()]  # streams side i may write on
        self.known: list[set[int]] = [set(), set()]  # streams side i has not seen reset/forgotten
        self.sent: dict[tuple[int, int], bytearray] = {}
        self.got: dict[tuple[int, int], bytearray] = {}
        self.closed: set[tuple[int, int]] = set()
        self.ended: set[tuple[int, int]] = set()
        self.reset: set[tuple[int, int]] = set()  # (opener side, opener's id) of streams reset by either side

    def _key(self, side: int, sid: int) -> tuple[int, int]:
        """Name a stream by (side that opened it, id there)."""
        return (side, sid) if sid % 2 == 0 else (1 - side, _peer_id(sid))

    def _flush_out(self, side: int) -> None:
        self.wire[side] += self.s[side].data_to_send()

    def _drain(self, side: int) -> None:
        sess = self.s[side]
        while (e := sess.next_event()) is not None:
            if isinstance(e, StreamOpened):
                self.live[side].add(e.stream_id)
                self.known[side].add(e.stream_id)
            elif isinstance(e, DataReceived):
                assert e.stream_id in self.known[side]
                self.got.setdefault((side, e.stream_id), bytearray()).extend(e.data)
                sess.acknowledge_received(e.stream_id, len(e.data))
            elif isinstance(e, StreamEnded):
                self.ended.add((side, e.stream_id))
            elif isinstance(e, StreamReset):
                self.reset.add(self._key(side, e.stream_id))
                self.live[side].discard(e.stream_id)
                self.known[side].discard(e.stream_id)
            else:
                pytest.fail(f"unexpected event {e!r}")

    @rule(side=st.integers(0, 1))
    def open(self, side: int) -> None:
        sid = self.s[side].open_stream()
        self.live[side].add(sid)
        self.known[side].add(sid)
        self._flush_out(side)

    @precondition(lambda self: self.live[0] or self.live[1])
    @rule(side=st.integers(0, 1), pick=st.integers(0, 1000), data=st.binary(min_size=1, max_size=20))
    def send(self, side: int, pick: int, data: bytes) -> None:
        if not self.live[side]:
            return
        sid = sorted(self.live[side])[pick % len(self.live[side])]
        assert self.s[side].send_data(sid, data) == len(data)
        self.sent.setdefault((side, sid), bytearray()).extend(data)
        self._flush_out(side)

    @rule(side=st.integers(0, 1), pick=st.integers(0, 1000))
    def close(self, side: int, pick: int) -> None:
        if not self.live[side]:
            return
        sid = sorted(self.live[side])[pick % len(self.live[side])]
        self.s[side].close_stream(sid)
        self.live[side].discard(sid)
        self.closed.add((side, sid))
        self._flush_out(side)

    @rule(side=st.integers(0, 1), pick=st.integers(0, 1000))
    def reset_one(self, side: int, pick: int) -> None:
        if not self.known[side]:
            return
        sid = sorted(self.known[side])[pick % len(self.known[side])]
        self.s[side].reset_stream(sid)
        self.live[side].discard(sid)
        self.known[side].discard(sid)
        self.reset.add(self._key(side, sid))
        self._flush_out(side)

    @rule(side=st.integers(0, 1), n=st.integers(1, 64))
    def deliver(self, side: int, n: int) -> None:
        chunk = bytes(self.wire[side][:n])
        del self.wire[side][:n]
        self.s[1 - side].receive_data(chunk)
        self._drain(1 - side)
        self._flush_out(1 - side)

    @invariant()
    def prefixes(self) -> None:
        for (side, sid), got in self.got.items():
            sent = self.sent.get((1 - side, _peer_id(sid)), bytearray())
            assert sent.startswith(got)

    def teardown(self) -> None:
        # Deliver everything, then every stream that was never reset carries all its bytes and its Close.
        for _ in range(100):
            if not self.wire[0] and not self.wire[1]:
                break
            for side in (0, 1):
                if self.wire[side]:
                    self.deliver(side, len(self.wire[side]))
        assert not self.wire[0] and not self.wire[1]
        for (side, sid), sent in self.sent.items():
            if self._key(side, sid) in self.reset:
                continue
            assert self.got.get((1 - side, _peer_id(sid)), b"") == sent
        for side, sid in self.closed:
            if self._key(side, sid) not in self.reset:
                assert (1 - side, _peer_id(sid)) in self.ended
        for sess in self.s:
            assert not sess.is_closed


MplexPair.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
TestMplexPair = MplexPair.TestCase
