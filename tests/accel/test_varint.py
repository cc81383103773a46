"""unsigned-varint and the length-prefixed frame reader, over both twins."""

from __future__ import annotations

from types import ModuleType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from libp2p.errors import (
    DecodeError,
    FrameTooLargeError,
    LocalProtocolError,
    NonMinimalVarintError,
    OverlongVarintError,
    TruncatedFrameError,
    TruncatedVarintError,
    VarintRangeError,
)
from tests.conftest import load_vector

_DERIVED = load_vector("derived/unsigned-varint.json")
_README = load_vector("official/unsigned-varint-readme-examples.json")
_VALID = [(int(v["value"]), bytes.fromhex(v["hex"])) for v in _DERIVED["valid"]] + [
    (int(v["value"]), bytes.fromhex(v["hex"])) for v in _README["vectors"]
]
_INVALID = [bytes.fromhex(v["hex"]) for v in _DERIVED["invalid"]] + [bytes.fromhex(_README["non_minimal_example"]["hex"])]

_EXPECTED_ERROR = {
    "8100": NonMinimalVarintError,
    "8000": NonMinimalVarintError,
    "80": TruncatedVarintError,
    "8080808080808080808001": OverlongVarintError,
    "ffffffffffffffff80": OverlongVarintError,
    "ffffffffffffffffff01": OverlongVarintError,
}


@pytest.mark.parametrize(("value", "encoded"), _VALID)
def test_vectors_encode_and_decode(accel: ModuleType, value: int, encoded: bytes) -> None:
    assert accel.varint_encode(value) == encoded
    assert accel.varint_size(value) == len(encoded)
    assert accel.varint_decode(encoded) == (value, len(encoded))
    # at an offset, inside a larger buffer, and from every buffer type
    padded = b"\xaa\xbb" + encoded + b"\xcc"
    for buf in (padded, bytearray(padded), memoryview(padded)):
        assert accel.varint_decode(buf, 2) == (value, 2 + len(encoded))


@pytest.mark.parametrize("encoded", _INVALID, ids=lambda b: b.hex())
def test_invalid_vectors_rejected(accel: ModuleType, encoded: bytes) -> None:
    with pytest.raises(_EXPECTED_ERROR[encoded.hex()]):
        accel.varint_decode(encoded)


def test_readme_non_minimal_example_is_rejected(accel: ModuleType) -> None:
    assert bytes.fromhex(_README["non_minimal_example"]["hex"]) in _INVALID
    with pytest.raises(NonMinimalVarintError):
        accel.varint_decode(bytes.fromhex(_README["non_minimal_example"]["hex"]))


@pytest.mark.parametrize("value", [-1, 1 << 63, 1 << 64, -(1 << 70)])
def test_encode_out_of_range(accel: ModuleType, value: int) -> None:
    with pytest.raises(VarintRangeError):
        accel.varint_encode(value)
    with pytest.raises(VarintRangeError):
        accel.varint_size(value)


def test_decode_offsets(accel: ModuleType) -> None:
    with pytest.raises(TruncatedVarintError):
        accel.varint_decode(b"")
    with pytest.raises(TruncatedVarintError):
        accel.varint_decode(b"\x01", 1)
    with pytest.raises(LocalProtocolError):
        accel.varint_decode(b"\x01", -1)
    assert accel.varint_decode(b"\x01\x02\x03", 2) == (3, 3)


def test_truncation_of_every_prefix(accel: ModuleType) -> None:
    for value, encoded in _VALID:
        for cut in range(len(encoded)):
            with pytest.raises(TruncatedVarintError):
                accel.varint_decode(encoded[:cut])


@given(st.integers(min_value=0, max_value=(1 << 63) - 1))
def test_round_trip(value: int) -> None:
    from tests.conftest import _IMPLS

    for param in _IMPLS:
        twin = param.values[0]
        if twin is None:
            continue
        encoded = twin.varint_encode(value)
        assert 1 <= len(encoded) <= 9
        assert twin.varint_decode(encoded) == (value, len(encoded))


@given(st.binary(max_size=16))
def test_random_bytes_only_decode_errors(data: bytes) -> None:
    from tests.conftest import _IMPLS

    for param in _IMPLS:
        twin = param.values[0]
        if twin is None:
            continue
        try:
            value, end = twin.varint_decode(data)
        except DecodeError:
            continue
        assert 0 <= value < (1 << 63) and 1 <= end <= 9
        assert twin.varint_encode(value) == data[:end]  # whatever decodes is minimal


# --- FrameReader ---------------------------------------------------------------------------


def _frame(accel: ModuleType, payload: bytes) -> bytes:
    return accel.varint_encode(len(payload)) + payload


def test_frames_split_anywhere(accel: ModuleType) -> None:
    payloads = [b"", b"a", b"hello", bytes(range(256)) * 3, b"x" * 200]
    stream = b"".join(_frame(accel, p) for p in payloads)
    for step in (1, 2, 3, 7, 64, len(stream)):
        reader = accel.FrameReader(1024)
        got = []
        for i in range(0, len(stream), step):
            reader.feed(stream[i : i + step])
            got.extend(reader.frames())
        assert got == payloads
        assert reader.buffered == 0
        reader.close()


def test_next_frame_one_at_a_time_and_drain(accel: ModuleType) -> None:
    reader = accel.FrameReader(200)
    reader.feed(_frame(accel, b"one") + _frame(accel, b"two") + b"raw tail")
    assert reader.next_frame() == b"one"
    assert reader.next_frame() == b"two"
    # "raw tail" is not a frame: 'r' = 0x72 = 114 > 8 bytes left, so it waits for more
    assert reader.next_frame() is None
    assert reader.buffered == 8
    assert reader.drain() == b"raw tail"
    assert reader.buffered == 0
    assert reader.next_frame() is None


def test_accepts_bytearray_and_memoryview(accel: ModuleType) -> None:
    reader = accel.FrameReader(10)
    reader.feed(bytearray(b"\x02a"))
    reader.feed(memoryview(b"b\x01c"))
    assert reader.frames() == [b"ab", b"c"]


def test_oversized_frame_rejected_before_body(accel: ModuleType) -> None:
    reader = accel.FrameReader(1000)
    reader.feed(accel.varint_encode(1001))  # only the header: no body is buffered
    with pytest.raises(FrameTooLargeError):
        reader.next_frame()
    reader = accel.FrameReader(0)
    reader.feed(b"\x00")
    assert reader.next_frame() == b""
    reader.feed(b"\x01")
    with pytest.raises(FrameTooLargeError):
        reader.next_frame()


def test_exactly_max_frame_accepted(accel: ModuleType) -> None:
    reader = accel.FrameReader(300)
    reader.feed(_frame(accel, b"z" * 300))
    assert reader.next_frame() == b"z" * 300


def test_bad_prefixes(accel: ModuleType) -> None:
    reader = accel.FrameReader(10)
    reader.feed(b"\x80\x00")
    with pytest.raises(NonMinimalVarintError):
        reader.next_frame()
    reader = accel.FrameReader(10)
    reader.feed(b"\xff" * 9)
    with pytest.raises(OverlongVarintError):
        reader.next_frame()


def test_close_reports_truncation(accel: ModuleType) -> None:
    reader = accel.FrameReader(10)
    reader.feed(b"\x85")
    assert reader.next_frame() is None
    with pytest.raises(TruncatedVarintError):
        reader.close()
    reader = accel.FrameReader(10)
    reader.feed(b"\x05abc")
    assert reader.next_frame() is None
    with pytest.raises(TruncatedFrameError):
        reader.close()


def test_bad_max_frame_size(accel: ModuleType) -> None:
    with pytest.raises(VarintRangeError):
        accel.FrameReader(-1)
    with pytest.raises(VarintRangeError):
        accel.FrameReader(1 << 63)
    assert accel.FrameReader(7).max_frame_size == 7


def test_long_stream_stays_compact(accel: ModuleType) -> None:
    # Many frames through one reader: the buffer is compacted, so what is held stays small.
    reader = accel.FrameReader(1 << 16)
    chunk = _frame(accel, b"p" * 1000) * 50
    total = 0
    for _ in range(100):
        reader.feed(chunk)
        total += len(reader.frames())
        assert reader.buffered == 0
    assert total == 5000


@given(st.lists(st.binary(max_size=300), max_size=20), st.integers(min_value=1, max_value=50))
def test_frame_reader_hypothesis(payloads: list[bytes], step: int) -> None:
    from tests.conftest import _IMPLS

    for param in _IMPLS:
        twin = param.values[0]
        if twin is None:
            continue
        stream = b"".join(twin.varint_encode(len(p)) + p for p in payloads)
        reader = twin.FrameReader(300)
        got = []
        for i in range(0, len(stream), step):
            reader.feed(stream[i : i + step])
            got.extend(reader.frames())
        assert got == payloads


@given(st.binary(max_size=64), st.integers(min_value=0, max_value=40))
def test_frame_reader_random_input(data: bytes, limit: int) -> None:
    """Random bytes raise only DecodeError subclasses, and never yield a frame over the limit."""
    from tests.conftest import _IMPLS

    for param in _IMPLS:
        twin = param.values[0]
        if twin is None:
            continue
        reader = twin.FrameReader(limit)
        reader.feed(data)
        try:
            for frame in reader.frames():
                assert len(frame) <= limit
            assert reader.buffered <= len(data)
        except DecodeError:
            pass
