"""The Cython twin's SHA-256 on the CPU's SHA extensions (``_native/sha256.pxi``), which the Noise
handshake state hashes with where the CPU has them: the same digests as hashlib's, at every
length around the block and padding boundaries. (The cacophony and libp2p handshake vectors in
tests/sansio/test_noise.py cover it inside the handshake.)"""

from __future__ import annotations

import hashlib
import os

import pytest

try:
    from libp2p import _native
except ImportError:
    _native = None  # type: ignore[assignment]

pytestmark = pytest.mark.skipif(
    _native is None or not _native._sha256_ni_in_use(), reason="no Cython twin, or a CPU without SHA extensions"
)


@pytest.mark.parametrize("length", [*range(0, 200), 447, 448, 511, 512, 513, 4096, 65535, 65536 + 55])
def test_same_digest_as_hashlib(length: int) -> None:
    for data in (bytes(length), b"\xff" * length, os.urandom(length)):
        assert _native._sha256_ni_digest(data) == hashlib.sha256(data).digest()


def test_any_buffer() -> None:
    data = os.urandom(100)
    for buf in (bytearray(data), memoryview(data), memoryview(data + b"x")[:100]):
        assert _native._sha256_ni_digest(buf) == hashlib.sha256(data).digest()


def test_known_answers() -> None:
    # FIPS 180-2 examples
    assert _native._sha256_ni_digest(b"abc").hex() == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
    assert _native._sha256_ni_digest(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq").hex() == (
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
    )
