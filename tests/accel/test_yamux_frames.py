"""yamux frame codec twins: header pack/unpack and the incremental frame decoder."""

from __future__ import annotations

import struct
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from libp2p import _pure
from libp2p.errors import DecodeError, FrameTooLargeError, LocalProtocolError, RemoteProtocolError
from libp2p.muxer.yamux.errors import (
    InvalidFrameTypeError,
    InvalidVersionError,
    TruncatedHeaderError,
    YamuxFrameTooLargeError,
    YamuxValueError,
)
from libp2p.muxer.yamux.wire import TYPE_DATA
from tests.conftest import load_vector

try:
    from libp2p import _native
except ImportError:
    _native = None  # type: ignore[assignment]

_VECTORS = [bytes.fromhex(v["hex"]) for v in load_vector("derived/yamux-frames.json")["frames"]]
_IDS = [v["description"] for v in load_vector("derived/yamux-frames.json")["frames"]]

needs_native = pytest.mark.skipif(
    _native is None or not hasattr(_native, "YamuxFrameDecoder"),
    reason="libp2p._native with yamux is not built",
)


def _frame(type_: int, flags: int, sid: int, length: int, payload: bytes = b"") -> bytes:
    return struct.pack(">BBHII", 0, type_, flags, sid, length) + payload


def _decode_all(accel: ModuleType, chunks: list[bytes], max_payload: int = 1 << 20) -> list[Any]:
    dec = accel.YamuxFrameDecoder(max_payload)
    out = []
    for chunk in chunks:
        dec.feed(chunk)
        while (frame := dec.next_frame()) is not None:
            out.append(frame)
    assert dec.buffered == 0
    return out


# --- header -------------------------------------------------------------------------------


@pytest.mark.parametrize("wire", _VECTORS, ids=_IDS)
def test_vectors_pack_and_unpack(accel: ModuleType, wire: bytes) -> None:
    version, type_, flags, sid, length = accel.yamux_unpack_header(wire)
    assert version == 0
    assert accel.yamux_pack_header(type_, flags, sid, length) == wire[:12]
    payload = wire[12:]
    if type_ == TYPE_DATA:
        assert len(payload) == length
    else:
        assert payload == b""
    # The decoder gives the same fields, with the payload as one bytes object.
    frames = _decode_all(accel, [wire])
    assert frames == [(type_, flags, sid, length, payload if type_ == TYPE_DATA else None)]


@pytest.mark.parametrize("wire", _VECTORS, ids=_IDS)
def test_vectors_as_bytearray_and_memoryview(accel: ModuleType, wire: bytes) -> None:
    fields = accel.yamux_unpack_header(wire)
    assert accel.yamux_unpack_header(bytearray(wire)) == fields
    assert accel.yamux_unpack_header(memoryview(b"xyz" + wire), 3) == fields
    assert _decode_all(accel, [bytearray(wire)]) == _decode_all(accel, [wire])
    assert _decode_all(accel, [memoryview(wire)]) == _decode_all(accel, [wire])


def test_unpack_field_order(accel: ModuleType) -> None:
    wire = bytes.fromhex("00 01 abcd 12345678 9abcdef0")
    assert accel.yamux_unpack_header(wire) == (0, 1, 0xABCD, 0x12345678, 0x9ABCDEF0)
    # unpack does not validate: the version and type come back as they are.
    assert accel.yamux_unpack_header(b"\x07\x09" + bytes(10)) == (7, 9, 0, 0, 0)


@pytest.mark.parametrize("size", [0, 1, 11])
def test_unpack_truncated(accel: ModuleType, size: int) -> None:
    with pytest.raises(TruncatedHeaderError):
        accel.yamux_unpack_header(bytes(size))
    with pytest.raises(TruncatedHeaderError):
        accel.yamux_unpack_header(bytes(12), 1)


def test_unpack_negative_offset(accel: ModuleType) -> None:
    with pytest.raises(LocalProtocolError):
        accel.yamux_unpack_header(bytes(12), -1)


@pytest.mark.parametrize(
    "args",
    [
        (256, 0, 0, 0),
        (-1, 0, 0, 0),
        (0, 1 << 16, 0, 0),
        (0, 0, 1 << 32, 0),
        (0, 0, 0, 1 << 32),
        (0, 0, 0, -1),
        (0, 0, 1.0, 0),
        (None, 0, 0, 0),
        (0, "1", 0, 0),
        (0, 0, 0, 1 << 80),
    ],
)
def test_pack_out_of_range(accel: ModuleType, args: tuple[Any, ...]) -> None:
    with pytest.raises(YamuxValueError):
        accel.yamux_pack_header(*args)


@given(st.integers(0, 255), st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFFF), st.integers(0, 0xFFFFFFFF))
def test_pack_roundtrip(type_: int, flags: int, sid: int, length: int) -> None:
    for twin in _twins():
        wire = twin.yamux_pack_header(type_, flags, sid, length)
        assert wire == struct.pack(">BBHII", 0, type_, flags, sid, length)
        assert twin.yamux_unpack_header(wire) == (0, type_, flags, sid, length)


# --- decoder ------------------------------------------------------------------------------


def test_decoder_waits_on_truncated_input(accel: ModuleType) -> None:
    wire = _frame(0, 1, 1, 5, b"hello")
    dec = accel.YamuxFrameDecoder(100)
    for i, byte in enumerate(wire[:-1]):
        dec.feed(bytes([byte]))
        assert dec.next_frame() is None
        assert dec.buffered == i + 1
    dec.feed(wire[-1:])
    assert dec.next_frame() == (0, 1, 1, 5, b"hello")
    assert dec.next_frame() is None
    assert dec.buffered == 0


def test_decoder_empty_feed(accel: ModuleType) -> None:
    dec = accel.YamuxFrameDecoder(10)
    dec.feed(b"")
    dec.feed(bytearray())
    assert dec.next_frame() is None
    assert dec.buffered == 0
    assert dec.max_payload == 10


def test_decoder_rejects_bad_version_and_type(accel: ModuleType) -> None:
    dec = accel.YamuxFrameDecoder(100)
    dec.feed(b"\x01" + bytes(11))
    with pytest.raises(InvalidVersionError):
        dec.next_frame()
    dec = accel.YamuxFrameDecoder(100)
    dec.feed(_frame(4, 0, 0, 0))
    with pytest.raises(InvalidFrameTypeError):
        dec.next_frame()


def test_decoder_oversized_data_raises_before_buffering(accel: ModuleType) -> None:
    dec = accel.YamuxFrameDecoder(16)
    dec.feed(_frame(0, 0, 1, 17))  # header only: the payload never has to arrive
    with pytest.raises(YamuxFrameTooLargeError) as info:
        dec.next_frame()
    assert isinstance(info.value, FrameTooLargeError)
    assert isinstance(info.value, RemoteProtocolError) and info.value.code == 1
    # A window update may carry any delta: only Data payloads are bounded.
    dec = accel.YamuxFrameDecoder(16)
    dec.feed(_frame(1, 0, 1, 0xFFFFFFFF))
    assert dec.next_frame() == (1, 0, 1, 0xFFFFFFFF, None)
    dec.feed(_frame(0, 0, 1, 16, bytes(16)))
    assert dec.next_frame() == (0, 0, 1, 16, bytes(16))


def test_decoder_mixed_input_types_keep_order(accel: ModuleType) -> None:
    frames = [_frame(0, 0, 1, 3, b"abc"), _frame(2, 1, 0, 9), _frame(0, 4, 3, 4, b"wxyz"), _frame(1, 2, 5, 7)]
    stream = b"".join(frames)
    # Alternate bytes / bytearray / memoryview chunks and feed several before reading.
    dec = accel.YamuxFrameDecoder(100)
    kinds = [bytes, bytearray, memoryview]
    for i in range(0, len(stream), 5):
        dec.feed(kinds[(i // 5) % 3](stream[i : i + 5]))
    got = []
    while (frame := dec.next_frame()) is not None:
        got.append(frame)
    assert got == _decode_all(accel, [stream])
    assert [f[4] for f in got] == [b"abc", None, b"wxyz", None]


def test_decoder_payload_is_bytes(accel: ModuleType) -> None:
    for chunks in ([_frame(0, 0, 1, 4, b"data")], [bytearray(_frame(0, 0, 1, 4, b"data"))]):
        (frame,) = _decode_all(accel, chunks)
        assert type(frame[4]) is bytes


def test_decoder_constructor_bounds(accel: ModuleType) -> None:
    with pytest.raises(YamuxValueError):
        accel.YamuxFrameDecoder(-1)
    with pytest.raises(YamuxValueError):
        accel.YamuxFrameDecoder(1 << 32)
    with pytest.raises(TypeError):
        accel.YamuxFrameDecoder(1.5)


_frames_strategy = st.lists(
    st.one_of(
        st.binary(max_size=300).flatmap(
            lambda p: st.tuples(st.just(0), st.integers(0, 15), st.integers(0, 0xFFFFFFFF), st.just(p))
        ),
        st.tuples(
            st.integers(1, 3), st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFFF), st.integers(0, 0xFFFFFFFF)
        ),
    ),
    max_size=20,
)


@settings(max_examples=150)
@given(_frames_strategy, st.lists(st.integers(1, 64), min_size=1, max_size=30), st.booleans())
def test_decoder_random_splits(frames: list[Any], cuts: list[int], as_bytearray: bool) -> None:
    wire = b""
    expected = []
    for type_, flags, sid, x in frames:
        if type_ == 0:
            wire += _frame(0, flags, sid, len(x), x)
            expected.append((0, flags, sid, len(x), x))
        else:
            wire += _frame(type_, flags, sid, x)
            expected.append((type_, flags, sid, x, None))
    chunks = []
    pos = 0
    i = 0
    while pos < len(wire):
        step = cuts[i % len(cuts)]
        chunk = wire[pos : pos + step]
        chunks.append(bytearray(chunk) if as_bytearray and i % 2 else chunk)
        pos += step
        i += 1
    for twin in _twins():
        assert _decode_all(twin, chunks) == expected


@settings(max_examples=300)
@given(st.binary(max_size=200), st.integers(0, 64), st.integers(1, 16))
def test_decoder_random_input_raises_only_decode_errors(data: bytes, limit: int, step: int) -> None:
    traces = []
    for twin in _twins():
        traces.append(_trace(twin, data, limit, step))
    if len(traces) == 2:
        assert traces[0] == traces[1]


@settings(max_examples=200)
@given(st.binary(max_size=40), st.integers(-3, 45))
def test_unpack_parity(data: bytes, offset: int) -> None:
    outcomes = [_outcome(t.yamux_unpack_header, data, offset) for t in _twins()]
    assert all(o == outcomes[0] for o in outcomes)
    if outcomes[0][0] == "raised":
        assert issubclass(outcomes[0][1], (DecodeError, LocalProtocolError))


@settings(max_examples=200)
@given(st.lists(st.one_of(st.integers(-2, 1 << 33), st.none(), st.floats(0, 10)), min_size=4, max_size=4))
def test_pack_parity(args: list[Any]) -> None:
    outcomes = [_outcome(t.yamux_pack_header, *args) for t in _twins()]
    assert all(o == outcomes[0] for o in outcomes)


@needs_native
def test_same_public_names() -> None:
    for name in ("yamux_pack_header", "yamux_unpack_header", "YamuxFrameDecoder"):
        assert hasattr(_native, name), name
    pub = {a for a in dir(_pure.YamuxFrameDecoder) if not a.startswith("_")}
    assert pub == {a for a in dir(_native.YamuxFrameDecoder) if not a.startswith("_")}


# --- helpers ------------------------------------------------------------------------------


def _twins() -> list[ModuleType]:
    twins: list[ModuleType] = [_pure]
    if _native is not None and hasattr(_native, "YamuxFrameDecoder"):
        twins.append(_native)
    return twins


def _outcome(fn: Any, *args: Any) -> tuple[str, Any]:
    try:
        return ("ok", fn(*args))
    except Exception as exc:  # noqa: BLE001 - the type is what we compare
        return ("raised", type(exc))


def _trace(twin: ModuleType, data: bytes, limit: int, step: int) -> list[Any]:
    dec = twin.YamuxFrameDecoder(limit)
    trace: list[Any] = []
    for i in range(0, len(data), step):
        dec.feed(data[i : i + step])
        while True:
            try:
                frame = dec.next_frame()
            except DecodeError as exc:
                trace.append(("raised", type(exc)))
                # The decoder stays stuck on the bad header: the same error again.
                with pytest.raises(type(exc)):
                    dec.next_frame()
                return trace
            if frame is None:
                break
            trace.append(frame)
    trace.append(dec.buffered)
    return trace
