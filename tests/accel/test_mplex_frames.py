"""The mplex frame codec, over both twins."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from libp2p import _pure
from libp2p.errors import (
    DecodeError,
    FrameTooLargeError,
    LocalProtocolError,
    NonMinimalVarintError,
    OverlongVarintError,
    TruncatedFrameError,
    TruncatedVarintError,
)
from libp2p.muxer.mplex.errors import (
    MplexArgumentError,
    MplexDecodeError,
    MplexFrameTooLargeError,
    MplexInvalidFlagError,
)
from tests.conftest import load_vector

try:
    from libp2p import _native
except ImportError:
    _native = None  # type: ignore[assignment]

_FRAMES = load_vector("derived/mplex-frames.json")["frames"]
# (stream id, flag, payload) of each vector, in file order.
_EXPECTED = [
    (0, 0, b""),
    (1, 0, b"1"),
    (1, 2, b"hello"),
    (1, 1, b"hi"),
    (1, 4, b""),
    (1, 3, b""),
    (1, 6, b""),
    (1, 5, b""),
    (17, 0, b"17"),
    (1000, 2, bytes(200)),
]
MAX_ID = (1 << 60) - 1


def test_vector_count() -> None:
    assert len(_FRAMES) == len(_EXPECTED)


@pytest.mark.parametrize(
    ("vector", "expected"), list(zip(_FRAMES, _EXPECTED)), ids=[f["description"] for f in _FRAMES]
)
def test_vectors(accel: ModuleType, vector: dict[str, str], expected: tuple[int, int, bytes]) -> None:
    raw = bytes.fromhex(vector["hex"])
    sid, flag, payload = expected
    assert accel.mplex_pack_frame(sid, flag, payload) == raw
    assert accel.mplex_pack_header(sid, flag, len(payload)) + payload == raw
    dec = accel.MplexFrameDecoder()
    dec.feed(raw)
    assert dec.next_frame() == expected
    assert dec.next_frame() is None
    assert dec.buffered == 0
    dec.close()


def test_all_vectors_in_one_stream_byte_by_byte(accel: ModuleType) -> None:
    raw = b"".join(bytes.fromhex(v["hex"]) for v in _FRAMES)
    dec = accel.MplexFrameDecoder()
    got = []
    for b in raw:
        dec.feed(bytes([b]))
        got += dec.frames()
    assert got == _EXPECTED


@pytest.mark.parametrize("data_type", [bytes, bytearray, memoryview])
def test_pack_frame_buffer_types(accel: ModuleType, data_type: Any) -> None:
    assert accel.mplex_pack_frame(3, 2, data_type(b"abc")) == bytes([3 << 3 | 2, 3]) + b"abc"


def test_stream_id_limit(accel: ModuleType) -> None:
    header = accel.mplex_pack_header(MAX_ID, 6, 0)
    assert len(header) == 9 + 1
    dec = accel.MplexFrameDecoder()
    dec.feed(header)
    assert dec.next_frame() == (MAX_ID, 6, b"")
    with pytest.raises(MplexArgumentError):
        accel.mplex_pack_header(MAX_ID + 1, 0, 0)


@pytest.mark.parametrize(
    ("sid", "flag", "length"), [(-1, 0, 0), (0, 7, 0), (0, -1, 0), (0, 0, -1), (0, 0, 1 << 63)]
)
def test_pack_rejects(accel: ModuleType, sid: int, flag: int, length: int) -> None:
    with pytest.raises(MplexArgumentError) as info:
        accel.mplex_pack_header(sid, flag, length)
    assert isinstance(info.value, LocalProtocolError) and isinstance(info.value, ValueError)
    if length == 0:
        with pytest.raises(MplexArgumentError):
            accel.mplex_pack_frame(sid, flag, b"")


def test_flag7_rejected_from_the_header_alone(accel: ModuleType) -> None:
    dec = accel.MplexFrameDecoder()
    dec.feed(bytes([1 << 3 | 7]))  # no length yet
    with pytest.raises(MplexInvalidFlagError) as info:
        dec.next_frame()
    assert isinstance(info.value, DecodeError)


@pytest.mark.parametrize("limit", [0, 10, 1 << 20])
def test_oversized_rejected_before_the_payload(accel: ModuleType, limit: int) -> None:
    dec = accel.MplexFrameDecoder(limit)
    assert dec.max_message == limit
    ok = accel.mplex_pack_frame(5, 2, bytes(limit))
    dec.feed(ok)
    assert dec.next_frame() == (5, 2, bytes(limit))
    dec.feed(accel.mplex_pack_header(5, 2, limit + 1))  # the payload never arrives
    with pytest.raises(MplexFrameTooLargeError) as info:
        dec.next_frame()
    assert isinstance(info.value, FrameTooLargeError) and isinstance(info.value, MplexDecodeError)


def test_default_limit_is_one_mib(accel: ModuleType) -> None:
    dec = accel.MplexFrameDecoder()
    assert dec.max_message == 1 << 20
    dec.feed(accel.mplex_pack_header(1, 2, (1 << 20) + 1))
    with pytest.raises(MplexFrameTooLargeError):
        dec.next_frame()


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"\x80" * 9 + b"\x01\x00", OverlongVarintError),
        (b"\x81\x00\x00", NonMinimalVarintError),
        (b"\x0a\x80\x00", NonMinimalVarintError),
        (b"\x0a" + b"\xff" * 10, OverlongVarintError),
    ],
)
def test_bad_varints(accel: ModuleType, raw: bytes, error: type[Exception]) -> None:
    dec = accel.MplexFrameDecoder()
    dec.feed(raw)
    with pytest.raises(error):
        dec.next_frame()


def test_truncated_prefixes(accel: ModuleType) -> None:
    raw = accel.mplex_pack_frame(1000, 2, b"x" * 200)
    for i in range(1, len(raw)):
        dec = accel.MplexFrameDecoder()
        dec.feed(raw[:i])
        assert dec.next_frame() is None
        assert dec.buffered == i
        expected = TruncatedVarintError if i < 4 else TruncatedFrameError  # 2-byte header, 2-byte length
        with pytest.raises(expected):
            dec.close()


def test_compaction_keeps_frames(accel: ModuleType) -> None:
    frame = accel.mplex_pack_frame(7, 1, b"y" * 1000)
    dec = accel.MplexFrameDecoder()
    for _ in range(200):  # 200 KB through one decoder, with a partial frame each time
        dec.feed(frame + frame[:3])
        assert dec.frames() == [(7, 1, b"y" * 1000)]
        dec.feed(frame[3:])
        assert dec.next_frame() == (7, 1, b"y" * 1000)
    assert dec.buffered == 0


def test_bad_max(accel: ModuleType) -> None:
    with pytest.raises(MplexArgumentError):
        accel.MplexFrameDecoder(-1)


_frame = st.tuples(
    st.one_of(st.integers(0, 20), st.integers(0, MAX_ID)), st.integers(0, 6), st.binary(max_size=300)
)


@settings(max_examples=150)
@given(st.lists(_frame, max_size=12), st.lists(st.integers(1, 400), min_size=1, max_size=8))
def test_random_splits(frames: list[tuple[int, int, bytes]], cuts: list[int]) -> None:
    for twin in _twins():
        raw = b"".join(twin.mplex_pack_frame(*f) for f in frames)
        dec = twin.MplexFrameDecoder(300)
        got: list[Any] = []
        pos = 0
        i = 0
        while pos < len(raw):
            step = cuts[i % len(cuts)]
            dec.feed(memoryview(raw)[pos : pos + step])
            pos += step
            i += 1
            got += dec.frames()
        assert got == frames
        dec.close()


@settings(max_examples=400)
@given(st.binary(max_size=120), st.integers(1, 16), st.integers(0, 64))
def test_random_input_raises_only_decode_errors(data: bytes, step: int, limit: int) -> None:
    traces = []
    for twin in _twins():
        dec = twin.MplexFrameDecoder(limit)
        trace: list[Any] = []
        try:
            for i in range(0, len(data), step):
                dec.feed(data[i : i + step])
                trace += dec.frames()
            dec.close()
        except DecodeError as exc:
            trace.append(type(exc))
        traces.append(trace)
    # Both twins agree frame for frame and error for error.
    assert all(t == traces[0] for t in traces)


def _twins() -> list[ModuleType]:
    return [_pure] if _native is None else [_pure, _native]


@pytest.mark.skipif(_native is None, reason="libp2p._native is not built")
@given(
    st.one_of(st.integers(), st.integers(-(1 << 64), 1 << 64)), st.integers(-2, 9), st.integers(-2, 1 << 64)
)
def test_pack_parity(sid: int, flag: int, length: int) -> None:
    def outcome(twin: ModuleType) -> Any:
        try:
            return twin.mplex_pack_header(sid, flag, length)
        except Exception as exc:  # noqa: BLE001 - the type is what we compare
            return type(exc)

    assert outcome(_pure) == outcome(_native)


@pytest.mark.skipif(_native is None, reason="libp2p._native is not built")
@pytest.mark.parametrize("bad", [None, 1.5, "s", object()])
def test_type_error_parity(bad: Any) -> None:
    def outcome(fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except Exception as exc:  # noqa: BLE001
            return type(exc)

    for args in ((bad, 0, 0), (0, bad, 0), (0, 0, bad)):
        assert outcome(_pure.mplex_pack_header, *args) == outcome(_native.mplex_pack_header, *args), args
    assert outcome(_pure.mplex_pack_frame, 0, 0, bad) == outcome(_native.mplex_pack_frame, 0, 0, bad)
    assert outcome(_pure.MplexFrameDecoder, bad) == outcome(_native.MplexFrameDecoder, bad)
