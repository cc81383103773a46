"""The yamux core's per-message shortcuts against its general path, on random sessions.

``send_now`` (frame a small write at once when nothing else is queued) must give the bytes that
``send_data`` + ``data_to_send`` give; acknowledgements held back within ``acknowledge_within``'s
slack must give the window updates, at the same reads, that one ``acknowledge_received`` per read
gives; ``receive_data``'s answer must say whether ``data_to_send`` has anything. Two worlds run the
same random operations, one through the shortcuts and one through the general path, and must put
the same bytes on the wire after every operation.
"""

from __future__ import annotations

from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from libp2p.muxer.events import DataReceived, MuxerEvent
from libp2p.muxer.yamux import GoAwayInEffectError, OutboundBacklogFullError, StreamClosedError, YamuxConfig, YamuxSession
from libp2p.muxer.yamux.wire import INITIAL_STREAM_WINDOW

WINDOW = INITIAL_STREAM_WINDOW


class World:
    """Two sessions, their wires, and what each side has received but not read."""

    def __init__(self, fast: bool, config: YamuxConfig) -> None:
        self.fast = fast
        self.sessions = {True: YamuxSession(True, config), False: YamuxSession(False, config)}
        self.wires: dict[bool, list[bytes]] = {True: [], False: []}  # bytes sent by side, in flight
        self.unread: dict[bool, dict[int, bytearray]] = {True: {}, False: {}}
        self.held: dict[bool, dict[int, int]] = {True: {}, False: {}}  # acks held back (fast world)
        self.slack: dict[bool, dict[int, int]] = {True: {}, False: {}}
        self.events: list[tuple[bool, Any]] = []
        self.now = 1.0

    def flush(self, side: bool) -> bytes:
        out = b"".join(self.sessions[side].data_to_send())
        if out:
            self.wires[side].append(out)
        return out

    def collect(self, side: bool) -> None:
        s = self.sessions[side]
        while (ev := s.next_event()) is not None:
            self.events.append((side, _key(ev)))
            if isinstance(ev, DataReceived):
                self.unread[side].setdefault(ev.stream_id, bytearray()).extend(ev.data)

    def deliver(self, side: bool, limit: int) -> bytes:
        """Feed up to ``limit`` bytes sent by ``side`` to the other side; the answer it flushes."""
        wire = b"".join(self.wires[side])
        chunk, rest = wire[:limit], wire[limit:]
        self.wires[side] = [rest] if rest else []
        if not chunk:
            return b""
        dst = not side
        queued = self.sessions[dst].receive_data(chunk, self.now)
        self.collect(dst)
        out = self.flush(dst)
        assert queued == bool(out)
        return out

    def send(self, side: bool, sid: int, data: bytes) -> bytes:
        s = self.sessions[side]
        if self.fast:
            frame = s.send_now(sid, data)
            if frame is not None:
                self.wires[side].append(frame)
                return frame
        try:
            s.send_data(sid, data)
        except StreamClosedError:
            pass
        return self.flush(side)

    def read(self, side: bool, sid: int, n: int) -> bytes:
        buf = self.unread[side].get(sid)
        if not buf:
            return b""
        take = min(n, len(buf))
        del buf[:take]
        s = self.sessions[side]
        if not self.fast:
            s.acknowledge_received(sid, take, self.now)
        else:
            held = self.held[side].get(sid, 0) + take
            if held <= self.slack[side].get(sid, 0):
                self.held[side][sid] = held
                return self.flush(side)
            self.held[side][sid] = 0
            slack = s.acknowledge_within(sid, held, self.now)
            self.slack[side][sid] = ~slack if slack < 0 else slack
        return self.flush(side)


def _key(ev: MuxerEvent) -> Any:
    return (type(ev).__name__, *(getattr(ev, f) for f in ev.__slots__))  # type: ignore[attr-defined]


_ops = st.lists(
    st.tuples(
        st.sampled_from(["open", "open", "send", "send", "send", "read", "read", "deliver", "deliver", "close",
                         "reset", "ping", "tick"]),
        st.sampled_from([True, True, True, False]),
        st.integers(0, 7),
        st.sampled_from([1, 1, 3, 32, 700, 1024, 5000, 70000, 200000]),
    ),
    max_size=80,
)


# A write while another stream's SYN waits: that SYN goes with it.
@example([("open", True, 0, 1), ("send", True, 0, 1), ("open", True, 0, 1), ("send", True, 0, 1)], WINDOW, False)
# Reads that end exactly where half the window is free, then one byte more: the update comes then.
@example([("open", True, 0, 1), ("send", True, 0, 70000), ("send", True, 0, 70000), ("deliver", True, 0, 200000),
          ("read", False, 0, WINDOW // 2 - 1 - 12), ("read", False, 0, 12), ("read", False, 0, 1),
          ("read", False, 0, 1)], WINDOW, False)
@settings(max_examples=500, deadline=None)
@given(_ops, st.sampled_from([WINDOW, 4 * WINDOW]), st.booleans())
def test_the_shortcuts_put_the_same_bytes_on_the_wire(ops: list[tuple[str, bool, int, int]], window: int,
                                                     timed: bool) -> None:
    config = YamuxConfig(initial_stream_window=window, max_stream_window=16 * WINDOW, enable_keepalive=False,
                         measure_rtt_interval=0.05 if timed else None)
    worlds = [World(False, config), World(True, config)]
    counter = 0
    for op, side, idx, size in ops:
        outs = []
        for w in worlds:
            s = w.sessions[side]
            sids = s.stream_ids
            sid = sids[idx % len(sids)] if sids else None
            out: Any = None
            if op == "open":
                try:
                    out = s.open_stream()
                except (GoAwayInEffectError, OutboundBacklogFullError):
                    out = "refused"
            elif op == "send" and sid is not None:
                out = w.send(side, sid, bytes([counter % 256]) * size)
            elif op == "read" and sid is not None:
                out = w.read(side, sid, size)
            elif op == "deliver":
                out = w.deliver(side, size)
            elif op == "close" and sid is not None:
                s.close_stream(sid)
                out = w.flush(side)
            elif op == "reset" and sid is not None:
                s.reset_stream(sid)
                out = w.flush(side)
            elif op == "ping":
                s.ping(w.now)
                out = w.flush(side)
            elif op == "tick":
                w.now += size / 1e6
                for sd in (True, False):
                    timer = w.sessions[sd].get_timer()
                    if timer is not None and timer <= w.now:
                        w.sessions[sd].handle_timer(w.now)
                        w.collect(sd)
                        w.flush(sd)
                out = w.wires[True] + w.wires[False]
            outs.append(out)
        counter += 1
        assert outs[0] == outs[1], op
        general, fast = worlds
        assert general.events == fast.events
        for sd in (True, False):
            assert general.sessions[sd].stream_ids == fast.sessions[sd].stream_ids
            for sid in general.sessions[sd].stream_ids:
                assert general.sessions[sd].send_window(sid) == fast.sessions[sd].send_window(sid)
                assert general.sessions[sd].receive_window(sid) == fast.sessions[sd].receive_window(sid)


def test_send_now_takes_only_the_common_case() -> None:
    a = YamuxSession(True, YamuxConfig(enable_keepalive=False, measure_rtt_interval=None))
    sid = a.open_stream()
    assert a.send_now(sid, b"x") is None  # not announced yet: the SYN goes the general way
    a.send_data(sid, b"x")
    a.data_to_send()
    assert a.send_now(sid, b"") is None
    assert a.send_now(sid, bytes(a.send_window(sid) + 1)) is None  # beyond the window
    assert a.send_now(99, b"x") is None  # unknown stream
    a.ping()  # something queued: it must go first
    assert a.send_now(sid, b"x") is None
    a.data_to_send()
    before = a.send_window(sid)
    frame = a.send_now(sid, b"hello")
    assert frame == bytes([0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 5]) + b"hello"
    assert a.send_window(sid) == before - 5
    assert a.data_to_send() == []
    a.close_stream(sid)
    a.data_to_send()
    assert a.send_now(sid, b"x") is None  # closed for writing
