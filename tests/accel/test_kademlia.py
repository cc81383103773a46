"""Kademlia key-space twins: XOR distance, common prefix length, sorting by distance."""

from __future__ import annotations

import hashlib
import random
from types import ModuleType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from libp2p.errors import KeyLengthError, LocalProtocolError

keys32 = st.binary(min_size=32, max_size=32)


def _int(b: bytes) -> int:
    return int.from_bytes(b, "big")


def test_xor_distance_known(accel: ModuleType) -> None:
    a = bytes(32)
    b = b"\xff" * 32
    assert accel.xor_distance(a, b) == b
    assert accel.xor_distance(b, b) == bytes(32)
    assert accel.xor_distance(b"\x0f\xf0", b"\xff\x00") == b"\xf0\xf0"
    assert accel.xor_distance(bytearray(b"\x01"), memoryview(b"\x03")) == b"\x02"
    assert accel.xor_distance(b"", b"") == b""


@pytest.mark.parametrize(
    ("a", "b", "cpl"),
    [
        (bytes(32), bytes(32), 256),
        (bytes(32), b"\x80" + bytes(31), 0),
        (bytes(32), b"\x40" + bytes(31), 1),
        (bytes(32), b"\x01" + bytes(31), 7),
        (bytes(32), bytes(1) + b"\x80" + bytes(30), 8),
        (bytes(32), bytes(31) + b"\x01", 255),
        (b"\xff" * 32, b"\xff" * 31 + b"\xfe", 255),
    ],
)
def test_common_prefix_length_known(accel: ModuleType, a: bytes, b: bytes, cpl: int) -> None:
    assert accel.common_prefix_length(a, b) == cpl
    assert accel.common_prefix_length(b, a) == cpl


def test_length_mismatch(accel: ModuleType) -> None:
    with pytest.raises(KeyLengthError):
        accel.xor_distance(bytes(32), bytes(31))
    with pytest.raises(KeyLengthError):
        accel.common_prefix_length(bytes(32), bytes(33))
    with pytest.raises(KeyLengthError):
        accel.sort_by_distance(bytes(32), [bytes(32), bytes(31)])
    with pytest.raises(LocalProtocolError):
        accel.sort_by_distance(bytes(32), [bytes(32)], -1)


def test_sort_by_distance_matches_reference(accel: ModuleType) -> None:
    rng = random.Random(1)
    target = hashlib.sha256(b"target").digest()
    keys = [hashlib.sha256(str(i).encode()).digest() for i in range(1000)]
    order = accel.sort_by_distance(target, keys)
    expected = sorted(range(len(keys)), key=lambda i: _int(keys[i]) ^ _int(target))
    assert order == expected
    assert accel.sort_by_distance(target, keys, 20) == expected[:20]
    assert accel.sort_by_distance(target, keys, 5000) == expected
    assert accel.sort_by_distance(target, []) == []
    # a tuple, a generator and mixed buffer types work too
    sample = rng.sample(keys, 50)
    mixed = [bytearray(k) if i % 2 else memoryview(k) for i, k in enumerate(sample)]
    exp = sorted(range(50), key=lambda i: _int(sample[i]) ^ _int(target))
    assert accel.sort_by_distance(target, tuple(sample)) == exp
    assert accel.sort_by_distance(target, (k for k in sample)) == exp
    assert accel.sort_by_distance(bytearray(target), mixed) == exp


def test_sort_is_stable_for_equal_keys(accel: ModuleType) -> None:
    k = b"\x01" * 32
    assert accel.sort_by_distance(bytes(32), [k, b"\x00" * 32, k, k]) == [1, 0, 2, 3]


@given(keys32, keys32)
def test_properties(a: bytes, b: bytes) -> None:
    from tests.conftest import _IMPLS

    for param in _IMPLS:
        twin = param.values[0]
        if twin is None:
            continue
        d = twin.xor_distance(a, b)
        assert _int(d) == _int(a) ^ _int(b)
        assert d == twin.xor_distance(b, a)
        assert twin.common_prefix_length(a, b) == 256 - (_int(a) ^ _int(b)).bit_length()


@given(keys32, st.lists(keys32, max_size=40), st.one_of(st.none(), st.integers(0, 50)))
def test_sort_properties(target: bytes, keys: list[bytes], limit: int | None) -> None:
    from tests.conftest import _IMPLS

    expected = sorted(range(len(keys)), key=lambda i: _int(keys[i]) ^ _int(target))
    if limit is not None:
        expected = expected[:limit]
    for param in _IMPLS:
        twin = param.values[0]
        if twin is None:
            continue
        assert twin.sort_by_distance(target, keys, limit) == expected
