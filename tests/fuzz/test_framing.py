"""varint, length-prefixed framing, yamux and mplex frame codecs: both twins, same inputs."""

from __future__ import annotations

from types import ModuleType
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from libp2p.errors import FrameTooLargeError, MultiaddrError
from libp2p.muxer.mplex.core import MplexSession
from libp2p.muxer.yamux.core import YamuxSession
from tests.fuzz._contract import (
    FUZZ,
    HUGE_LENGTHS,
    TWINS,
    needs_native,
    near,
    outcome,
    peak_allocation,
    same,
    split,
    trace,
    uvarint,
)

_cuts = st.lists(st.integers(0, 1 << 16), max_size=6)
_valid_varint = st.integers(0, 2**63 - 1).map(uvarint)


@FUZZ
@given(near(_valid_varint), st.integers(0, 3))
def test_varint_decode(data: bytes, offset: int) -> None:
    for buf in (data, bytearray(data), memoryview(data)):
        kind, value = same(lambda t: t.varint_decode(buf, offset))
        if kind == "ok":
            number, end = value
            # only minimal encodings are accepted, so they re-encode to the same bytes
            assert same(lambda t: t.varint_encode(number)) == ("ok", data[offset:end])


def _frames(twin: ModuleType, limit: int, pieces: list[bytes]) -> tuple[list[Any], Any]:
    def step(out: list[Any]) -> None:
        reader = twin.FrameReader(limit)
        for piece in pieces:
            reader.feed(piece)
            out.extend(reader.frames())
            assert reader.buffered <= limit + twin.MAX_VARINT_LEN + len(piece)
        reader.close()

    return trace(step)


_framed = st.lists(st.binary(max_size=40), max_size=5).map(lambda fs: b"".join(uvarint(len(f)) + f for f in fs))


@FUZZ
@given(near(_framed), st.integers(0, 64), _cuts)
def test_frame_reader(data: bytes, limit: int, cuts: list[int]) -> None:
    same(lambda t: _frames(t, limit, list(split(data, cuts))))


def test_frame_reader_huge_prefix_raises_before_payload() -> None:
    for twin in TWINS:
        for huge in HUGE_LENGTHS:
            reader = twin.FrameReader(1 << 20)
            reader.feed(uvarint(huge))
            assert outcome(reader.next_frame) == ("err", FrameTooLargeError)


def _yamux(twin: ModuleType, limit: int, pieces: list[bytes], as_bytes: bool) -> tuple[list[Any], Any]:
    def step(out: list[Any]) -> None:
        decoder = twin.YamuxFrameDecoder(limit)
        for piece in pieces:
            decoder.feed(piece if as_bytes else bytearray(piece))
            while (frame := decoder.next_frame()) is not None:
                out.append(frame)
        out.append(decoder.buffered)

    return trace(step)


def _yamux_frame(t: int, flags: int, sid: int, payload: bytes) -> bytes:
    length = len(payload) if t == 0 else sid
    return bytes([0, t]) + flags.to_bytes(2, "big") + sid.to_bytes(4, "big") + length.to_bytes(4, "big") + (payload if t == 0 else b"")


_yamux_stream = st.lists(
    st.builds(_yamux_frame, st.integers(0, 3), st.integers(0, 15), st.integers(0, 9), st.binary(max_size=30)),
    max_size=5,
).map(b"".join)


@FUZZ
@given(near(_yamux_stream), st.integers(0, 64), _cuts)
def test_yamux_decoder(data: bytes, limit: int, cuts: list[int]) -> None:
    pieces = list(split(data, cuts))
    first = same(lambda t: _yamux(t, limit, pieces, True))
    # the bytes path (parsed in place) and the bytearray path (buffered) agree
    assert same(lambda t: _yamux(t, limit, pieces, False)) == first
    for offset in (0, 1):
        same(lambda t: t.yamux_unpack_header(data, offset))


@FUZZ
@given(near(_yamux_stream), _cuts, st.booleans())
def test_yamux_session(data: bytes, cuts: list[int], initiator: bool) -> None:
    session = YamuxSession(initiator)
    for piece in split(data, cuts):
        kind, _ = outcome(session.receive_data, piece, 1.0)
        session.events()
        session.data_to_send()
        if kind == "err":
            break


def _mplex(twin: ModuleType, limit: int, pieces: list[bytes]) -> tuple[list[Any], Any]:
    def step(out: list[Any]) -> None:
        decoder = twin.MplexFrameDecoder(limit)
        for piece in pieces:
            decoder.feed(piece)
            out.extend(decoder.frames())
        out.append(decoder.buffered)
        decoder.close()

    return trace(step)


_mplex_stream = st.lists(
    st.tuples(st.integers(0, 2**20), st.integers(0, 6), st.binary(max_size=30)), max_size=5
).map(lambda fs: b"".join(uvarint(s << 3 | f) + uvarint(len(p)) + p for s, f, p in fs))


@FUZZ
@given(near(_mplex_stream), st.integers(0, 64), _cuts)
def test_mplex_decoder(data: bytes, limit: int, cuts: list[int]) -> None:
    same(lambda t: _mplex(t, limit, list(split(data, cuts))))


@FUZZ
@given(near(_mplex_stream), _cuts, st.booleans())
def test_mplex_session(data: bytes, cuts: list[int], initiator: bool) -> None:
    session = MplexSession(initiator)
    for piece in split(data, cuts):
        kind, _ = outcome(session.receive_data, piece)
        while session.next_event() is not None:
            pass
        session.data_to_send()
        if kind == "err":
            return
    outcome(session.receive_eof)


def test_muxer_decoders_huge_lengths_raise_on_the_header() -> None:
    for twin in TWINS:
        for huge in HUGE_LENGTHS:
            mplex = twin.MplexFrameDecoder(1 << 20)
            mplex.feed(uvarint(1 << 3 | 2) + uvarint(huge))
            assert outcome(mplex.next_frame)[0] == "err"
            if huge < 2**32:
                yamux = twin.YamuxFrameDecoder(1 << 20)
                yamux.feed(_yamux_frame(0, 0, 1, b"")[:8] + huge.to_bytes(4, "big"))
                assert outcome(yamux.next_frame)[0] == "err"


def test_huge_length_prefixes_allocate_little() -> None:
    for twin in TWINS:
        reader = twin.FrameReader(2**62)
        reader.feed(uvarint(2**62) + b"x")
        assert peak_allocation(reader.next_frame) < 1 << 16


@needs_native
@FUZZ
@given(near(st.binary(max_size=64)))
def test_multiaddr_scan_twins(data: bytes) -> None:
    kind, _ = same(lambda t: t.multiaddr_scan(data))
    assert kind == "ok" or _ == MultiaddrError


@needs_native
@FUZZ
@given(st.binary(max_size=48), st.lists(st.binary(max_size=48), max_size=6), st.integers(0, 8))
def test_kademlia_twins(target: bytes, keys: list[bytes], limit: int) -> None:
    same(lambda t: t.sort_by_distance(target, keys, limit or None))
    for k in keys:
        same(lambda t: t.xor_distance(target, k))
        same(lambda t: t.common_prefix_length(target, k))
