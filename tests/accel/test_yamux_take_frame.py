"""``YamuxFrameDecoder.take_frame``, both twins: plain Data for a stream with a receiver is taken
(accounted, handed over) only where the session's bulk path would take it; everything else comes
back as ``next_frame`` gives it, and the twins agree frame by frame and byte by byte."""

from __future__ import annotations

import struct
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from libp2p import _pure
from libp2p.muxer.yamux.errors import InvalidVersionError, YamuxFrameTooLargeError
from libp2p.muxer.yamux.wire import FLAG_ACK, FLAG_FIN, FLAG_SYN, TYPE_DATA, TYPE_PING, TYPE_WINDOW_UPDATE

try:
    from libp2p import _native
except ImportError:
    _native = None  # type: ignore[assignment]


def _frame(type_: int, flags: int, sid: int, length: int, payload: bytes = b"") -> bytes:
    return struct.pack(">BBHII", 0, type_, flags, sid, length) + payload


class _State:
    """The attributes of the session's per-stream state that ``take_frame`` reads and writes."""

    __slots__ = ("buffered", "got", "receiver", "recv_credit", "remote_closed", "syn_pending")

    def __init__(self, credit: int, remote_closed: bool, syn_pending: bool, has_receiver: bool) -> None:
        self.recv_credit = credit
        self.buffered = 0
        self.remote_closed = remote_closed
        self.syn_pending = syn_pending
        self.got: list[bytes] = []
        self.receiver = self.got.append if has_receiver else None

    def snapshot(self) -> tuple[Any, ...]:
        return (self.recv_credit, self.buffered, self.got)


def _run(accel: ModuleType, states: dict[int, tuple[int, bool, bool, bool]], chunks: list[bytes],
         pending: bool) -> tuple[list[Any], dict[int, tuple[Any, ...]]]:
    streams = {sid: _State(*args) for sid, args in states.items()}
    events: list[object] = ["pending"] if pending else []
    dec = accel.YamuxFrameDecoder(1 << 20)
    out: list[Any] = []
    for chunk in chunks:
        dec.feed(chunk)
        while (frame := dec.take_frame(streams, events)) is not None:
            out.append(frame)
    return out, {sid: s.snapshot() for sid, s in streams.items()}


_frames = st.builds(
    lambda kind, flags, sid, payload: (
        _frame(TYPE_DATA, flags, sid, len(payload), payload) if kind == "data"
        else _frame(TYPE_WINDOW_UPDATE, flags, sid, 7) if kind == "window"
        else _frame(TYPE_PING, FLAG_SYN, 0, 1)
    ),
    st.sampled_from(["data"] * 6 + ["window", "ping"]),
    st.sampled_from([0, 0, 0, 0, FLAG_SYN, FLAG_ACK, FLAG_FIN]),
    st.sampled_from([1, 2, 3, 4, 5]),
    st.binary(max_size=24),
)
_states = st.dictionaries(
    st.sampled_from([1, 2, 3, 4]),
    st.tuples(st.integers(0, 64), st.booleans(), st.booleans(), st.booleans()),
)


@pytest.mark.skipif(_native is None, reason="libp2p._native is not built")
@settings(max_examples=300, deadline=None)
@given(st.lists(_frames, max_size=20), _states, st.lists(st.integers(0, 300), max_size=6), st.booleans())
def test_the_twins_take_the_same_frames(frames: list[bytes], states: dict[int, tuple[int, bool, bool, bool]],
                                        cuts: list[int], pending: bool) -> None:
    wire = b"".join(frames)
    points = sorted({min(c, len(wire)) for c in cuts} | {0, len(wire)})
    chunks = [wire[a:b] for a, b in zip(points, points[1:])]
    assert _run(_pure, states, chunks, pending) == _run(_native, states, chunks, pending)


def test_what_is_taken_and_what_comes_back(accel: ModuleType) -> None:
    states = {
        1: (100, False, False, True),  # open, with a receiver: taken
        3: (100, False, False, False),  # no receiver: an event, so back
        5: (2, False, False, True),  # past its credit: back (the session raises)
        7: (100, True, False, True),  # closed by the peer: back
        9: (100, False, True, True),  # not yet announced: back
    }
    wire = b"".join([
        _frame(TYPE_DATA, 0, 1, 3, b"abc"),
        _frame(TYPE_DATA, 0, 1, 0),  # empty: dropped
        _frame(TYPE_DATA, FLAG_FIN, 1, 1, b"d"),  # a flag: back
        _frame(TYPE_DATA, 0, 3, 1, b"e"),
        _frame(TYPE_DATA, 0, 5, 3, b"fgh"),
        _frame(TYPE_DATA, 0, 7, 1, b"i"),
        _frame(TYPE_DATA, 0, 9, 1, b"j"),
        _frame(TYPE_DATA, 0, 11, 1, b"k"),  # unknown stream: back
        _frame(TYPE_DATA, 0, 1, 2, b"lm"),
    ])
    out, after = _run(accel, states, [wire], pending=False)
    assert [f[2] for f in out] == [1, 3, 5, 7, 9, 11]
    assert after[1] == (95, 5, [b"abc", b"lm"])
    assert after[3] == (100, 0, [])
    # An event pending: nothing is taken, so nothing overtakes it.
    out, after = _run(accel, states, [_frame(TYPE_DATA, 0, 1, 1, b"x")], pending=True)
    assert out == [(TYPE_DATA, 0, 1, 1, b"x")] and after[1] == (100, 0, [])


def test_bad_frames_raise_as_next_frame_does(accel: ModuleType) -> None:
    dec = accel.YamuxFrameDecoder(16)
    dec.feed(b"\x01" + _frame(TYPE_DATA, 0, 1, 0)[1:])
    with pytest.raises(InvalidVersionError):
        dec.take_frame({}, [])
    dec = accel.YamuxFrameDecoder(16)
    dec.feed(_frame(TYPE_DATA, 0, 1, 17))
    with pytest.raises(YamuxFrameTooLargeError):
        dec.take_frame({1: _State(100, False, False, True)}, [])
