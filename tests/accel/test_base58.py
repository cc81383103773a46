"""base58btc twins."""

from __future__ import annotations

from types import ModuleType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from libp2p.errors import MultibaseError
from tests.conftest import _IMPLS, load_vector

_PEER_IDS = load_vector("derived/peer-ids.json")
_KNOWN = [(bytes.fromhex(c["multihash_hex"]), c["base58btc"]) for c in _PEER_IDS["string_form_parsing"]] + [
    (b"", ""),
    (b"\0", "1"),
    (b"\0\0\0", "111"),
    (b"\0\x01", "12"),
    (b"\x39", "z"),
    (b"\x3a", "21"),
    (b"hello world", "StV1DL6CwTryKyV"),
    (b"\xff" * 4, "7YXq9G"),
]


@pytest.mark.parametrize(("raw", "text"), _KNOWN, ids=lambda v: str(v)[:10])
def test_known(accel: ModuleType, raw: bytes, text: str) -> None:
    assert accel.base58btc_encode(raw) == text
    assert accel.base58btc_encode(bytearray(raw)) == text
    assert accel.base58btc_encode(memoryview(raw)) == text
    assert accel.base58btc_decode(text) == raw


@pytest.mark.parametrize("text", ["0", "O", "I", "l", "abc0", "12D3é", " 1", "+", "\x00"])
def test_invalid(accel: ModuleType, text: str) -> None:
    with pytest.raises(MultibaseError):
        accel.base58btc_decode(text)


def test_types(accel: ModuleType) -> None:
    with pytest.raises(TypeError):
        accel.base58btc_decode(b"abc")
    with pytest.raises(TypeError):
        accel.base58btc_encode("abc")


@given(st.binary(max_size=80), st.integers(min_value=0, max_value=4))
def test_round_trip_both_twins_agree(data: bytes, zeros: int) -> None:
    raw = b"\0" * zeros + data
    texts = set()
    for param in _IMPLS:
        twin = param.values[0]
        if twin is None:
            continue
        text = twin.base58btc_encode(raw)
        assert twin.base58btc_decode(text) == raw
        texts.add(text)
    assert len(texts) == 1


@given(st.text(alphabet="123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz", max_size=80))
def test_decode_any_valid_text(text: str) -> None:
    outs = set()
    for param in _IMPLS:
        twin = param.values[0]
        if twin is None:
            continue
        raw = twin.base58btc_decode(text)
        assert twin.base58btc_encode(raw) == text
        outs.add(raw)
    assert len(outs) == 1
