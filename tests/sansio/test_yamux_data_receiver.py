"""yamux's data receivers (a stream's plain Data handed straight to the adapter, no ``DataReceived``) are
the event path by another road: on random frame sequences, cut at random points, a session with
a receiver and one without see the same data, events, output, errors, in the same order."""

from __future__ import annotations

import struct
from functools import partial

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from libp2p.muxer.events import DataReceived, MuxerEvent, StreamOpened
from libp2p.muxer.yamux import YamuxConfig, YamuxSession
from libp2p.muxer.yamux.wire import (
    FLAG_ACK,
    FLAG_FIN,
    FLAG_RST,
    FLAG_SYN,
    INITIAL_STREAM_WINDOW,
    TYPE_DATA,
    TYPE_GO_AWAY,
    TYPE_PING,
    TYPE_WINDOW_UPDATE,
)

QUIET = YamuxConfig(enable_keepalive=False, measure_rtt_interval=None)
SIDS = (1, 3, 1, 3, 5, 2)  # the peer (initiator) opens odd ids; 2 has our parity


def frame(type_: int, flags: int, sid: int, length: int, payload: bytes = b"") -> bytes:
    return struct.pack(">BBHII", 0, type_, flags, sid, length) + payload


@st.composite
def frames(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["data"] * 6 + ["syn"] * 3 + ["fin", "rst", "window", "ping", "goaway", "big", "bad"]))
    sid = draw(st.sampled_from(SIDS))
    if kind in ("data", "syn", "fin"):
        flags = {"data": 0, "syn": FLAG_SYN, "fin": FLAG_FIN}[kind]
        if kind == "data" and draw(st.booleans()):
            flags = draw(st.sampled_from([0, 0, 0, FLAG_ACK, FLAG_SYN | FLAG_FIN]))
        payload = draw(st.binary(max_size=40))
        return frame(TYPE_DATA, flags, sid, len(payload), payload)
    if kind == "rst":
        return frame(TYPE_WINDOW_UPDATE, FLAG_RST, sid, 0)
    if kind == "window":
        return frame(TYPE_WINDOW_UPDATE, draw(st.sampled_from([0, FLAG_SYN])), sid, draw(st.integers(0, 1000)))
    if kind == "ping":
        return frame(TYPE_PING, draw(st.sampled_from([FLAG_SYN, FLAG_ACK])), 0, draw(st.integers(0, 5)))
    if kind == "goaway":
        return frame(TYPE_GO_AWAY, 0, 0, draw(st.sampled_from([0, 0, 1])))
    if kind == "big":  # past the receive window: a protocol violation
        n = INITIAL_STREAM_WINDOW + draw(st.integers(1, 8))
        return frame(TYPE_DATA, 0, sid, n, bytes(n))
    return b"\x01" + frame(TYPE_DATA, 0, sid, 0)[1:]  # unsupported version


def normal(event: MuxerEvent) -> object:
    if isinstance(event, DataReceived):
        return ("data", event.stream_id, event.data)
    return event


class Side:
    def __init__(self, receiver: bool) -> None:
        self.session = YamuxSession(is_initiator=False, config=QUIET)
        self.log: list[object] = []
        self.unread: dict[int, int] = {}
        self.receiver = receiver

    def feed(self, chunk: bytes) -> None:
        self.session.receive_data(chunk)
        while (event := self.session.next_event()) is not None:
            self.log.append(normal(event))
            if self.receiver and isinstance(event, StreamOpened):
                # as the adapter does once it has made the stream
                self.session.set_data_receiver(event.stream_id, partial(self._deliver, event.stream_id))

    def _deliver(self, sid: int, data: bytes) -> None:
        self.log.append(("data", sid, data))

    def consume(self) -> list[bool]:
        """The application reads everything delivered so far."""
        for item in self.log:
            if isinstance(item, tuple) and item[0] == "data":
                self.unread[item[1]] = self.unread.get(item[1], 0) + len(item[2])
        granted = [self.session.acknowledge_received(sid, n) for sid, n in sorted(self.unread.items()) if n]
        self.unread.clear()
        return granted


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(frames(), max_size=30), st.lists(st.integers(0, 400), max_size=12), st.data())
def test_a_receiver_sees_what_the_events_say_in_the_same_order(
    wire_frames: list[bytes], cuts: list[int], data: st.DataObject
) -> None:
    # Streams 1 and 3 open in a chunk of their own, so the receivers are set before the rest.
    opening = frame(TYPE_WINDOW_UPDATE, FLAG_SYN, 1, 0) + frame(TYPE_WINDOW_UPDATE, FLAG_SYN, 3, 0)
    wire = opening + b"".join(wire_frames)
    points = sorted({min(c, len(wire)) for c in cuts} | {0, len(opening), len(wire)})
    plain, direct = Side(receiver=False), Side(receiver=True)
    for start, end in zip(points, points[1:]):
        chunk = wire[start:end]
        plain.feed(chunk)
        direct.feed(chunk)
        assert direct.log == plain.log
        if data.draw(st.booleans()):
            assert plain.consume() == direct.consume()
            plain.log.clear()
            direct.log.clear()
        assert plain.session.data_to_send() == direct.session.data_to_send()
        assert type(plain.session.error) is type(direct.session.error)
        assert plain.session.closed == direct.session.closed
    for sid in SIDS:
        if sid in plain.session.stream_ids:
            assert plain.session.receive_window(sid) == direct.session.receive_window(sid)


def test_plain_data_on_an_open_stream_goes_to_the_receiver_and_raises_no_event() -> None:
    side = Side(receiver=True)
    side.feed(frame(TYPE_WINDOW_UPDATE, FLAG_SYN, 1, 0))
    assert [type(e).__name__ for e in side.log] == ["StreamOpened"]
    side.log.clear()
    side.feed(frame(TYPE_DATA, 0, 1, 3, b"abc") + frame(TYPE_DATA, 0, 1, 2, b"de"))
    assert side.log == [("data", 1, b"abc"), ("data", 1, b"de")]
    assert side.session.next_event() is None


def test_data_behind_a_pending_event_waits_as_an_event() -> None:
    """Stream 3's StreamOpened is not taken yet: stream 1's data after it must not overtake it."""
    side = Side(receiver=True)
    side.feed(frame(TYPE_WINDOW_UPDATE, FLAG_SYN, 1, 0))
    side.log.clear()
    side.session.receive_data(frame(TYPE_WINDOW_UPDATE, FLAG_SYN, 3, 0) + frame(TYPE_DATA, 0, 1, 1, b"x"))
    assert side.log == []  # nothing delivered directly
    events = [normal(e) for e in side.session.events()]
    assert events == [StreamOpened(3), ("data", 1, b"x")]


def test_an_outbound_stream_receives_directly_once_announced() -> None:
    session = YamuxSession(is_initiator=True, config=QUIET)
    got: list[bytes] = []
    sid = session.open_stream()
    session.set_data_receiver(sid, got.append)
    session.send_data(sid, b"hi")
    session.receive_data(frame(TYPE_WINDOW_UPDATE, FLAG_ACK, sid, 0))
    assert [type(e).__name__ for e in session.events()] == ["SendWindowUpdated"]
    session.receive_data(frame(TYPE_DATA, 0, sid, 2, b"yo"))
    assert session.events() == []
    assert got == [b"yo"]
    session.set_data_receiver(sid, None)
    session.receive_data(frame(TYPE_DATA, 0, sid, 1, b"!"))
    assert [normal(e) for e in session.events()] == [("data", sid, b"!")]
    assert not session.acknowledge_received(sid, 3)  # the window accounting saw all three bytes
    assert session.acknowledge_received(sid, 0) is False


def test_a_receiver_for_an_unknown_stream_is_ignored() -> None:
    session = YamuxSession(is_initiator=True, config=QUIET)
    session.set_data_receiver(9, lambda data: None)
    assert session.stream_ids == []
