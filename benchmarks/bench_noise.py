"""Noise: transport cipher twins (encrypt + decrypt of one write) against the raw AEAD, and a handshake.

Throughput = ``extra_info["bytes"]`` / median time. The raw ChaCha20-Poly1305 rows (one
``encrypt`` and one ``decrypt`` call on the same plaintext, no framing) are the ceiling: what
a twin loses below them is its framing, nonce and copy overhead.
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from libp2p.identity.keys import Ed25519PrivateKey
from libp2p.security.noise import HandshakeCompleted, NoiseHandshake

_SIZES = {"1KiB": 1024, "64KiB": 64 * 1024}
_KEY = bytes(range(32))


@pytest.mark.benchmark(group="noise_transport")
@pytest.mark.parametrize("size", list(_SIZES))
def test_noise_encrypt_decrypt(benchmark: Any, accel: ModuleType, size: str) -> None:
    """One write: encrypt into framed messages, then decrypt them on the other side."""
    data = os.urandom(_SIZES[size])
    enc = accel.NoiseEncryptor(_KEY)
    dec = accel.NoiseDecryptor(_KEY)

    def run() -> int:
        return len(dec.decrypt(enc.encrypt(data)))

    assert run() == (1 if _SIZES[size] <= accel.NOISE_MAX_PLAINTEXT_LEN else 2)
    benchmark.extra_info["bytes"] = len(data)
    benchmark(run)


@pytest.mark.benchmark(group="noise_transport")
def test_noise_encrypt_decrypt_65408(benchmark: Any, accel: ModuleType) -> None:
    """64 KiB with 65408-byte messages (a size OpenSSL 4 encrypts faster than 65519 here)."""
    data = os.urandom(64 * 1024)
    enc = accel.NoiseEncryptor(_KEY, max_plaintext=65408)
    dec = accel.NoiseDecryptor(_KEY)

    def run() -> int:
        return len(dec.decrypt(enc.encrypt(data)))

    benchmark.extra_info["bytes"] = len(data)
    assert benchmark(run) == 2


@pytest.mark.benchmark(group="noise_transport")
@pytest.mark.parametrize("size", list(_SIZES))
@pytest.mark.parametrize("split", ["whole", "65519"])
def test_raw_chacha20poly1305(benchmark: Any, size: str, split: str) -> None:
    """The ceiling: AEAD encrypt + decrypt of the same bytes, nothing else.

    ``whole``: one call each way on the entire write; ``65519``: the same message split the
    twins make (65519 + 17 bytes for 64 KiB), so the AEAD's size sensitivity is factored out.
    """
    data = os.urandom(_SIZES[size])
    step = len(data) if split == "whole" else 65519
    chunks = [data[i : i + step] for i in range(0, len(data), step)]
    aead = ChaCha20Poly1305(_KEY)
    nonce = bytes(12)

    def run_split() -> int:
        return sum(len(aead.decrypt(nonce, aead.encrypt(nonce, c, None), None)) for c in chunks)

    def run_whole() -> int:
        return len(aead.decrypt(nonce, aead.encrypt(nonce, data, None), None))

    run = run_whole if len(chunks) == 1 else run_split

    benchmark.extra_info["bytes"] = len(data)
    assert benchmark(run) == len(data)


@pytest.mark.benchmark(group="noise_handshake")
def test_noise_handshake(benchmark: Any) -> None:
    """A complete XX handshake, both sides (Ed25519 identities, early muxer negotiation)."""
    alice = Ed25519PrivateKey.from_seed(b"\x0a" * 32)
    bob = Ed25519PrivateKey.from_seed(b"\x0b" * 32)

    def run() -> str | None:
        i = NoiseHandshake(True, alice, muxers=("/yamux/1.0.0",))
        r = NoiseHandshake(False, bob, muxers=("/yamux/1.0.0",))
        r.receive_data(i.data_to_send())
        i.receive_data(r.data_to_send())
        r.receive_data(i.data_to_send())
        i.transport()
        r.transport()
        event = r.next_event()
        assert isinstance(event, HandshakeCompleted)
        return event.selected_muxer

    assert benchmark(run) == "/yamux/1.0.0"
