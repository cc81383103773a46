"""Decoders check a declared length before they allocate for it.

Each case declares a huge length in a few bytes; the decoder must reject it (or wait for more
input) while allocating far less than the declared size.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from types import ModuleType

import pytest

from libp2p.errors import DecodeError
from libp2p.identity.envelope import SignedEnvelope
from libp2p.identity.keys import unmarshal_private_key, unmarshal_public_key
from libp2p.identity.peer_record import PeerRecord
from libp2p.multiaddr import Multiaddr

_HUGE = 1 << 40  # a terabyte, declared in a handful of bytes
_LIMIT = 1 << 20  # what a decoder may allocate while refusing it


def _peak(fn: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        try:
            fn()
        except DecodeError:
            pass
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _uvarint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def test_frame_reader_huge_prefix(accel: ModuleType) -> None:
    def run() -> None:
        reader = accel.FrameReader(_HUGE)  # even a permissive limit must not pre-allocate
        reader.feed(_uvarint(_HUGE - 1) + b"abc")
        assert reader.next_frame() is None

    assert _peak(run) < _LIMIT


def test_frame_reader_over_limit(accel: ModuleType) -> None:
    def run() -> None:
        reader = accel.FrameReader(1024)
        reader.feed(_uvarint(_HUGE))
        reader.next_frame()

    assert _peak(run) < _LIMIT


@pytest.mark.parametrize(
    "decode",
    [
        lambda b: Multiaddr.from_bytes(b),
        unmarshal_public_key,
        unmarshal_private_key,
        lambda b: SignedEnvelope.open(b, "libp2p-peer-record"),
        PeerRecord.unmarshal,
    ],
    ids=["multiaddr", "public_key", "private_key", "envelope", "peer_record"],
)
def test_length_prefixed_fields(decode: Callable[[bytes], object]) -> None:
    # A multiaddr component or a protobuf bytes field declaring a terabyte.
    for data in (b"\x35" + _uvarint(_HUGE) + b"x", b"\x08\x01\x12" + _uvarint(_HUGE) + b"x", b"\x0a" + _uvarint(_HUGE) + b"x"):

        def run(data: bytes = data) -> None:
            with pytest.raises(DecodeError):
                decode(data)

        assert _peak(run) < _LIMIT


def test_muxer_decoders(accel: ModuleType) -> None:
    def mplex() -> None:
        decoder = accel.MplexFrameDecoder(1 << 20)
        decoder.feed(_uvarint(8 | 2) + _uvarint(_HUGE))
        decoder.next_frame()

    def yamux() -> None:
        decoder = accel.YamuxFrameDecoder(1 << 20)
        decoder.feed(bytes([0, 0, 0, 0, 0, 0, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF]))
        decoder.next_frame()

    assert _peak(mplex) < _LIMIT
    assert _peak(yamux) < _LIMIT


def test_noise_decryptor_huge_frame(accel: ModuleType) -> None:
    def run() -> None:
        decryptor = accel.NoiseDecryptor(bytes(32))
        decryptor.decrypt(b"\xff\xff" + bytes(100))

    assert _peak(run) < _LIMIT
