"""Noise transport cipher twins: framing, nonces, splits, tampering, parity."""

from __future__ import annotations

import os
import random
from types import ModuleType
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from libp2p import _pure
from libp2p.errors import DecodeError
from libp2p.security.noise.errors import DecryptError, NoiseFrameTooLargeError, NonceExhaustedError

try:
    from libp2p import _native
except ImportError:
    _native = None  # type: ignore[assignment]

KEY = bytes(range(32))
MAX_PT = 65519
_FIXTURE_OK = [HealthCheck.function_scoped_fixture]


def _nonce(n: int) -> bytes:
    return b"\x00" * 4 + n.to_bytes(8, "little")


def _frames(wire: bytes) -> list[bytes]:
    """Split concatenated u16-framed messages (test helper, trusts its input)."""
    out = []
    pos = 0
    while pos < len(wire):
        length = int.from_bytes(wire[pos : pos + 2], "big")
        out.append(wire[pos + 2 : pos + 2 + length])
        pos += 2 + length
    assert pos == len(wire)
    return out


def test_constants(accel: ModuleType) -> None:
    assert accel.NOISE_MAX_MESSAGE_LEN == 65535
    assert accel.NOISE_TAG_LEN == 16
    assert accel.NOISE_MAX_PLAINTEXT_LEN == MAX_PT


@pytest.mark.parametrize(
    "size", [0, 1, 1000, MAX_PT - 1, MAX_PT, MAX_PT + 1, 2 * MAX_PT, 2 * MAX_PT + 1, 300_000]
)
@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_round_trip_and_split_at_65519(accel: ModuleType, size: int, kind: Any) -> None:
    data = os.urandom(size)
    enc = accel.NoiseEncryptor(KEY)
    wire = enc.encrypt(kind(data))
    assert type(wire) is bytes
    frames = _frames(wire)
    assert len(frames) == max(1, -(-size // MAX_PT))
    assert all(len(f) <= 65535 for f in frames)
    assert all(len(f) == 65535 for f in frames[:-1])  # every message but the last is full
    assert enc.nonce == len(frames)
    # Independently: frame i is the AEAD of its chunk under nonce i with empty AD.
    aead = ChaCha20Poly1305(KEY)
    chunks = [data[i : i + MAX_PT] for i in range(0, size, MAX_PT)] or [b""]
    assert [aead.decrypt(_nonce(i), f, None) for i, f in enumerate(frames)] == chunks
    dec = accel.NoiseDecryptor(KEY)
    assert dec.decrypt(kind(wire)) == chunks
    assert dec.nonce == len(frames) and dec.buffered == 0


def test_zero_length_message(accel: ModuleType) -> None:
    wire = accel.NoiseEncryptor(KEY).encrypt(b"")
    assert wire[:2] == b"\x00\x10" and len(wire) == 18
    dec = accel.NoiseDecryptor(KEY)
    dec.feed(wire)
    assert dec.next_plaintext() == b""
    assert dec.next_plaintext() is None


def test_nonce_layout_little_endian(accel: ModuleType) -> None:
    start = (1 << 32) + 5  # exercises bytes above the low word
    enc = accel.NoiseEncryptor(KEY, nonce=start)
    wire = enc.encrypt(b"abc")
    assert wire[2:] == ChaCha20Poly1305(KEY).encrypt(_nonce(start), b"abc", None)
    dec = accel.NoiseDecryptor(KEY, nonce=start)
    assert dec.decrypt(wire) == [b"abc"]


def test_nonce_order(accel: ModuleType) -> None:
    enc = accel.NoiseEncryptor(KEY)
    first, second = enc.encrypt(b"one"), enc.encrypt(b"two")
    dec = accel.NoiseDecryptor(KEY)
    with pytest.raises(DecryptError):
        dec.decrypt(second)  # nonce 1 where 0 is due
    dec = accel.NoiseDecryptor(KEY)
    assert dec.decrypt(first + second) == [b"one", b"two"]
    dec = accel.NoiseDecryptor(KEY)
    dec.decrypt(first)
    with pytest.raises(DecryptError):
        dec.decrypt(first)  # a replay


def test_tamper_every_byte(accel: ModuleType) -> None:
    wire = accel.NoiseEncryptor(KEY).encrypt(b"hello world")
    for i in range(2, len(wire)):
        bad = bytearray(wire)
        bad[i] ^= 0x01
        dec = accel.NoiseDecryptor(KEY)
        with pytest.raises(DecryptError):
            dec.decrypt(bad)
        with pytest.raises(DecryptError):  # the decryptor stays failed
            dec.decrypt(wire)
        dec = accel.NoiseDecryptor(KEY)
        dec.feed(bad)
        with pytest.raises(DecryptError):
            dec.decrypt_available()
        with pytest.raises(DecryptError):
            dec.next_plaintext()


def test_wrong_key(accel: ModuleType) -> None:
    wire = accel.NoiseEncryptor(KEY).encrypt(b"x")
    with pytest.raises(DecryptError):
        accel.NoiseDecryptor(bytes(32)).decrypt(wire)


@pytest.mark.parametrize("length", [0, 1, 15])
def test_message_shorter_than_tag(accel: ModuleType, length: int) -> None:
    dec = accel.NoiseDecryptor(KEY)
    with pytest.raises(DecryptError):
        dec.decrypt(length.to_bytes(2, "big"))  # refused as soon as the prefix is complete


def test_max_frame(accel: ModuleType) -> None:
    wire = accel.NoiseEncryptor(KEY).encrypt(b"x" * 100)
    dec = accel.NoiseDecryptor(KEY, max_frame=115)
    with pytest.raises(NoiseFrameTooLargeError):
        dec.decrypt(wire[:2])
    dec = accel.NoiseDecryptor(KEY, max_frame=116)
    assert dec.max_frame == 116
    assert dec.decrypt(wire) == [b"x" * 100]
    for bad in (15, 65536):
        with pytest.raises(ValueError):
            accel.NoiseDecryptor(KEY, max_frame=bad)


def test_bad_key_length(accel: ModuleType) -> None:
    with pytest.raises(ValueError):
        accel.NoiseEncryptor(b"short")
    with pytest.raises(ValueError):
        accel.NoiseDecryptor(bytes(33))


def test_nonce_exhaustion(accel: ModuleType) -> None:
    last = (1 << 64) - 2
    enc = accel.NoiseEncryptor(KEY, nonce=last)
    with pytest.raises(NonceExhaustedError):
        enc.encrypt(b"y" * (MAX_PT + 1))  # needs two nonces: refused whole, nothing sent
    assert enc.nonce == last
    wire = enc.encrypt(b"y")
    assert enc.nonce == (1 << 64) - 1
    with pytest.raises(NonceExhaustedError):
        enc.encrypt(b"z")
    dec = accel.NoiseDecryptor(KEY, nonce=last)
    assert dec.decrypt(wire) == [b"y"]
    with pytest.raises(NonceExhaustedError):
        dec.decrypt(wire)
    for bad in (-1, (1 << 64) - 1, 1 << 64):
        with pytest.raises(NonceExhaustedError):
            accel.NoiseEncryptor(KEY, nonce=bad)
        with pytest.raises(NonceExhaustedError):
            accel.NoiseDecryptor(KEY, nonce=bad)


def test_feed_and_next_plaintext_incremental(accel: ModuleType) -> None:
    enc = accel.NoiseEncryptor(KEY)
    msgs = [b"a", b"", b"b" * 70_000, b"c" * 10]
    wire = b"".join(enc.encrypt(m) for m in msgs)
    dec = accel.NoiseDecryptor(KEY)
    out: list[bytes] = []
    for byte in range(0, len(wire), 997):
        dec.feed(wire[byte : byte + 997])
        while (p := dec.next_plaintext()) is not None:
            out.append(p)
    assert b"".join(out) == b"".join(msgs)
    assert dec.buffered == 0


def test_decrypt_keeps_unfinished_tail(accel: ModuleType) -> None:
    wire = accel.NoiseEncryptor(KEY).encrypt(b"0123456789")
    dec = accel.NoiseDecryptor(KEY)
    assert dec.decrypt(wire[:1]) == []
    assert dec.buffered == 1
    assert dec.decrypt(wire[1:5]) == []
    assert dec.buffered == 5
    assert dec.decrypt(wire[5:]) == [b"0123456789"]
    assert dec.buffered == 0


def test_decrypt_does_not_keep_the_callers_buffer(accel: ModuleType) -> None:
    # decrypt() copies only an unfinished tail, so a reused receive buffer is safe.
    enc = accel.NoiseEncryptor(KEY)
    wire = enc.encrypt(b"first") + enc.encrypt(b"second")
    buf = bytearray(wire[:30])
    dec = accel.NoiseDecryptor(KEY)
    assert dec.decrypt(buf) == [b"first"]
    buf[:] = b"\xff" * len(buf)
    assert dec.decrypt(wire[30:]) == [b"second"]


@settings(max_examples=150, suppress_health_check=_FIXTURE_OK, deadline=None)
@given(
    st.lists(st.binary(max_size=3000), min_size=1, max_size=6),
    st.lists(st.integers(min_value=1, max_value=4000), min_size=1, max_size=30),
    st.booleans(),
)
def test_random_splits(accel: ModuleType, msgs: list[bytes], cuts: list[int], use_feed: bool) -> None:
    enc = accel.NoiseEncryptor(KEY)
    wire = b"".join(enc.encrypt(m) for m in msgs)
    dec = accel.NoiseDecryptor(KEY)
    out: list[bytes] = []
    pos = 0
    i = 0
    while pos < len(wire):
        piece = wire[pos : pos + cuts[i % len(cuts)]]
        pos += len(piece)
        i += 1
        if use_feed:
            dec.feed(piece)
            out += dec.decrypt_available()
        else:
            out += dec.decrypt(memoryview(piece))
    assert out == msgs
    assert dec.buffered == 0 and dec.nonce == len(msgs)


@settings(max_examples=300, suppress_health_check=_FIXTURE_OK)
@given(st.binary(max_size=200), st.integers(min_value=16, max_value=65535))
def test_random_bytes_only_decode_errors(accel: ModuleType, data: bytes, max_frame: int) -> None:
    dec = accel.NoiseDecryptor(KEY, max_frame=max_frame)
    try:
        assert dec.decrypt(data) == []
    except DecodeError:
        pass


def test_large_random_split_stream(accel: ModuleType) -> None:
    rng = random.Random(7)
    enc = accel.NoiseEncryptor(KEY)
    msgs = [os.urandom(rng.choice([0, 1, 100, MAX_PT, MAX_PT + 1, 200_000])) for _ in range(12)]
    wire = b"".join(enc.encrypt(m) for m in msgs)
    dec = accel.NoiseDecryptor(KEY)
    out: list[bytes] = []
    pos = 0
    while pos < len(wire):
        step = rng.randint(1, 150_000)
        out += dec.decrypt(wire[pos : pos + step])
        pos += step
    assert b"".join(out) == b"".join(msgs)


# --- parity between the twins ----------------------------------------------------------------

needs_native = pytest.mark.skipif(_native is None, reason="libp2p._native is not built")


def _trace(twin: ModuleType, data: bytes, cuts: list[int], max_frame: int) -> list[Any]:
    dec = twin.NoiseDecryptor(KEY, max_frame=max_frame)
    trace: list[Any] = []
    pos = 0
    i = 0
    while pos < len(data):
        piece = data[pos : pos + cuts[i % len(cuts)]]
        pos += len(piece)
        i += 1
        try:
            trace.append(dec.decrypt(piece))
        except Exception as exc:  # noqa: BLE001 - the type is what we compare
            trace.append(type(exc))
            break
        trace.append((dec.buffered, dec.nonce))
    return trace


@needs_native
@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.binary(max_size=300), max_size=4),
    st.binary(max_size=40),
    st.lists(st.integers(min_value=1, max_value=500), min_size=1, max_size=8),
    st.integers(min_value=16, max_value=65535),
)
def test_decrypt_parity(msgs: list[bytes], junk: bytes, cuts: list[int], max_frame: int) -> None:
    wire = b"".join(_pure.NoiseEncryptor(KEY).encrypt(m) for m in msgs)
    assert wire == b"".join(_native.NoiseEncryptor(KEY).encrypt(m) for m in msgs)
    for data in (wire, wire + junk, junk + wire):
        assert _trace(_pure, data, cuts, max_frame) == _trace(_native, data, cuts, max_frame)


@needs_native
@pytest.mark.parametrize("bad", [None, 1.5, "str", object()])
def test_type_errors_parity(bad: Any) -> None:
    def encrypt(t: ModuleType) -> None:
        t.NoiseEncryptor(KEY).encrypt(bad)

    def decrypt(t: ModuleType) -> None:
        t.NoiseDecryptor(KEY).decrypt(bad)

    def feed(t: ModuleType) -> None:
        t.NoiseDecryptor(KEY).feed(bad)

    for call in (encrypt, decrypt, feed):
        kinds: list[type[Exception] | None] = []
        for twin in (_pure, _native):
            try:
                call(twin)
                kinds.append(None)
            except Exception as exc:  # noqa: BLE001
                kinds.append(type(exc))
        assert kinds[0] == kinds[1], (bad, kinds)


@pytest.mark.parametrize("max_plaintext", [1, 100, 65408, MAX_PT])
def test_max_plaintext(accel: ModuleType, max_plaintext: int) -> None:
    data = os.urandom(150_000 if max_plaintext > 100 else 1000)
    enc = accel.NoiseEncryptor(KEY, max_plaintext=max_plaintext)
    assert enc.max_plaintext == max_plaintext
    frames = _frames(enc.encrypt(data))
    assert [len(f) - 16 for f in frames[:-1]] == [max_plaintext] * (len(frames) - 1)
    assert (
        b"".join(accel.NoiseDecryptor(KEY).decrypt(b"".join(len(f).to_bytes(2, "big") + f for f in frames)))
        == data
    )
    for bad in (0, MAX_PT + 1):
        with pytest.raises(ValueError):
            accel.NoiseEncryptor(KEY, max_plaintext=bad)


@pytest.mark.parametrize("bad", [1.5, "0", None])
def test_nonce_must_be_an_integer(accel: ModuleType, bad: Any) -> None:
    with pytest.raises(TypeError):
        accel.NoiseEncryptor(KEY, nonce=bad)
    with pytest.raises(TypeError):
        accel.NoiseDecryptor(KEY, nonce=bad)


# The Cython twin sends small messages to libsodium and large ones to cryptography (OpenSSL).
_AEAD_SIZES = [0, 1, 31, 2047, 2048, 2049, 4096, 65519]


@needs_native
@pytest.mark.parametrize("limit", [-1, 2048, 1 << 20])
def test_native_aead_paths_agree_with_cryptography(limit: int) -> None:
    """Whichever AEAD carries a message (all cryptography, the default split, all libsodium),
    the wire bytes are ChaCha20-Poly1305's, and tampering is refused the same way."""
    if limit >= 0 and not _native._noise_sodium_available():
        pytest.skip("PyNaCl's libsodium functions are not available to the Cython twin")
    old = _native._noise_set_sodium_max(limit)
    try:
        aead = ChaCha20Poly1305(KEY)
        enc = _native.NoiseEncryptor(KEY, nonce=7)
        dec = _native.NoiseDecryptor(KEY, nonce=7)
        for i, size in enumerate(_AEAD_SIZES):
            data = os.urandom(size)
            wire = enc.encrypt(data)
            assert wire[2:] == aead.encrypt(_nonce(7 + i), data, None)
            assert int.from_bytes(wire[:2], "big") == size + 16
            assert dec.decrypt(wire) == [data]
            for pos in (2, len(wire) - 1):  # a ciphertext byte (or the tag's first), the tag's last
                bad = bytearray(_pure.NoiseEncryptor(KEY, nonce=7 + i).encrypt(data))
                bad[pos] ^= 0x80
                fresh = _native.NoiseDecryptor(KEY, nonce=7 + i)
                with pytest.raises(DecryptError):
                    fresh.decrypt(bad)
                with pytest.raises(DecryptError):
                    fresh.decrypt(wire)  # failed for good
    finally:
        _native._noise_set_sodium_max(old)
