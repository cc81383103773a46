"""Noise transport messages (ChaCha20-Poly1305, u16 framing): the pure-Python twin.

Twin of ``_native/noise.pxi``. After the handshake, each direction has one key. A message on
the wire is ``u16 big-endian length || ciphertext || 16-byte tag``, at most 65535 bytes after
the prefix, so at most 65519 plaintext bytes; larger writes become several messages. The
nonce is 4 zero bytes then a 64-bit little-endian counter; the associated data is empty.
One AEAD call per message, through cryptography's ``encrypt_into``/``decrypt``.
"""

from __future__ import annotations

import operator
import struct
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from libp2p.errors import InvalidArgumentError
from libp2p.security.noise.errors import DecryptError, NoiseFrameTooLargeError, NonceExhaustedError

__all__ = [
    "NOISE_MAX_MESSAGE_LEN",
    "NOISE_MAX_PLAINTEXT_LEN",
    "NOISE_TAG_LEN",
    "NoiseDecryptor",
    "NoiseEncryptor",
]

NOISE_MAX_MESSAGE_LEN: Final = 65535
NOISE_TAG_LEN: Final = 16
NOISE_MAX_PLAINTEXT_LEN: Final = NOISE_MAX_MESSAGE_LEN - NOISE_TAG_LEN
# Noise reserves nonce 2**64-1 (rekey); reaching it ends the connection.
_NONCE_LIMIT: Final = (1 << 64) - 1
_KEY_LEN: Final = 32
# Compacting the receive buffer only once the consumed prefix is this large keeps it amortised O(1).
_COMPACT_AT: Final = 1 << 16

_nonce_pack = struct.Struct("<4xQ").pack
_u16_pack_into = struct.Struct(">H").pack_into

Bytes = bytes | bytearray | memoryview


def _aead(key: Bytes) -> ChaCha20Poly1305:
    if len(key) != _KEY_LEN:
        raise InvalidArgumentError(f"a Noise transport key is 32 bytes, not {len(key)}")
    return ChaCha20Poly1305(bytes(key))


def _check_nonce(nonce: int) -> int:
    nonce = operator.index(nonce)
    if not 0 <= nonce < _NONCE_LIMIT:
        raise NonceExhaustedError(f"nonce {nonce} is outside 0..2**64-2")
    return nonce


class NoiseEncryptor:
    """The sending half: plaintext in, framed Noise transport messages out.

    ``max_plaintext`` (1..65519) caps the plaintext per message; the default fills messages
    to the spec's limit. (It is a knob because the AEAD's speed depends on the message size:
    with OpenSSL 4 on AVX-512 a 65408-byte message encrypts ~30% faster than a 65519-byte one.)
    """

    __slots__ = ("_chunk", "_encrypt_into", "_n")

    def __init__(self, key: Bytes, nonce: int = 0, max_plaintext: int = NOISE_MAX_PLAINTEXT_LEN) -> None:
        if not 1 <= max_plaintext <= NOISE_MAX_PLAINTEXT_LEN:
            raise InvalidArgumentError(f"max_plaintext must be 1..{NOISE_MAX_PLAINTEXT_LEN}, not {max_plaintext}")
        self._encrypt_into = _aead(key).encrypt_into
        self._n = _check_nonce(nonce)
        self._chunk = max_plaintext

    @property
    def nonce(self) -> int:
        """The nonce the next message will use (= messages sent so far)."""
        return self._n

    @property
    def max_plaintext(self) -> int:
        return self._chunk

    def encrypt(self, data: Bytes) -> bytes:
        """Encrypt ``data`` into as many framed messages as it needs, concatenated.

        Empty ``data`` gives one empty message (legal on the wire). Callers that queue many
        small writes should join them and call this once: one AEAD call per message.
        """
        src = data if isinstance(data, bytes) else memoryview(data).cast("B")
        size = len(src)
        step = self._chunk
        count = (size + step - 1) // step or 1
        n = self._n
        if n + count > _NONCE_LIMIT:
            raise NonceExhaustedError("the send nonce would reach 2**64-1; the connection must end")
        out = bytearray(size + count * (2 + NOISE_TAG_LEN))
        view = memoryview(out)
        src_view = memoryview(src)
        encrypt_into = self._encrypt_into
        pos = 0
        for start in range(0, size or 1, step):
            chunk = src_view[start : start + step]
            length = len(chunk) + NOISE_TAG_LEN
            _u16_pack_into(out, pos, length)
            encrypt_into(_nonce_pack(n), chunk, None, view[pos + 2 : pos + 2 + length])
            n += 1
            pos += 2 + length
        self._n = n
        return bytes(out)


class NoiseDecryptor:
    """The receiving half: framed Noise transport messages in (any split), plaintexts out.

    Two ways to use it: ``decrypt(data)`` decrypts the complete messages in ``data`` where they
    lie and keeps only an unfinished tail (the hot path); ``feed(data)`` then
    ``next_plaintext()`` / ``decrypt_available()`` buffer everything first. A declared length
    above ``max_frame`` raises ``NoiseFrameTooLargeError`` as soon as the prefix is complete; a
    message that fails authentication raises ``DecryptError``, after which the decryptor is
    unusable (its nonce no longer matches the peer's).
    """

    __slots__ = ("_buf", "_decrypt", "_failed", "_max", "_n", "_pos")

    def __init__(self, key: Bytes, nonce: int = 0, max_frame: int = NOISE_MAX_MESSAGE_LEN) -> None:
        if not NOISE_TAG_LEN <= max_frame <= NOISE_MAX_MESSAGE_LEN:
            raise InvalidArgumentError(f"max_frame must be {NOISE_TAG_LEN}..{NOISE_MAX_MESSAGE_LEN}, not {max_frame}")
        self._decrypt = _aead(key).decrypt
        self._n = _check_nonce(nonce)
        self._max = max_frame
        self._buf = bytearray()
        self._pos = 0
        self._failed = False

    @property
    def nonce(self) -> int:
        """The nonce the next message must have been sent with (= messages received so far)."""
        return self._n

    @property
    def max_frame(self) -> int:
        return self._max

    @property
    def buffered(self) -> int:
        """Bytes received but not yet decrypted (an unfinished message)."""
        return len(self._buf) - self._pos

    def _open(self, message: Bytes) -> bytes:
        # One message, already length-checked: authenticate and decrypt it.
        n = self._n
        if n >= _NONCE_LIMIT:
            self._failed = True
            raise NonceExhaustedError("the receive nonce reached 2**64-1; the connection must end")
        try:
            plaintext = self._decrypt(_nonce_pack(n), message, None)
        except InvalidTag:
            self._failed = True
            raise DecryptError(f"Noise message {n} failed authentication") from None
        self._n = n + 1
        return plaintext

    def _check_length(self, length: int) -> None:
        if length > self._max:
            self._failed = True
            raise NoiseFrameTooLargeError(
                f"Noise message of {length} bytes exceeds the {self._max}-byte limit"
            )
        if length < NOISE_TAG_LEN:
            self._failed = True
            raise DecryptError(f"Noise message of {length} bytes is shorter than its 16-byte tag")

    def _check_usable(self) -> None:
        if self._failed:
            raise DecryptError("the decryptor failed earlier; the connection must be closed")

    def feed(self, data: Bytes) -> None:
        """Buffer received bytes (copied) for ``next_plaintext()`` / ``decrypt_available()``."""
        self._check_usable()
        if self._pos >= _COMPACT_AT:
            del self._buf[: self._pos]
            self._pos = 0
        self._buf += data

    def next_plaintext(self) -> bytes | None:
        """The plaintext of the next complete buffered message, or ``None``."""
        self._check_usable()
        buf = self._buf
        pos = self._pos
        avail = len(buf) - pos
        if avail < 2:
            return None
        length = (buf[pos] << 8) | buf[pos + 1]
        self._check_length(length)
        end = pos + 2 + length
        if end > len(buf):
            return None
        plaintext = self._open(memoryview(buf)[pos + 2 : end])
        if end == len(buf):
            buf.clear()
            self._pos = 0
        else:
            self._pos = end
        return plaintext

    def decrypt_available(self) -> list[bytes]:
        """The plaintexts of every complete buffered message."""
        out: list[bytes] = []
        while (plaintext := self.next_plaintext()) is not None:
            out.append(plaintext)
        return out

    def decrypt(self, data: Bytes) -> list[bytes]:
        """Decrypt the messages completed by ``data``; only an unfinished tail is copied.

        ``data`` is read only during the call, so a reused receive buffer is safe.
        """
        if self._failed:
            self._check_usable()  # raises
        out: list[bytes] = []
        src = memoryview(data)
        if src.format != "B" or src.ndim != 1 or not src.c_contiguous:
            src = src.cast("B")
        size = len(src)
        pos = 0
        if self._buf and len(self._buf) > self._pos:
            # Finish the message started by an earlier call: take only the bytes it still needs.
            pos = self._complete_pending(src, out)
            if pos < 0:
                return out
        max_frame = self._max
        while size - pos >= 2:
            length = (src[pos] << 8) | src[pos + 1]
            if length > max_frame or length < NOISE_TAG_LEN:
                self._check_length(length)  # raises
            end = pos + 2 + length
            if end > size:
                break
            out.append(self._open(src[pos + 2 : end]))
            pos = end
        if pos < size:
            self._buf += src[pos:]
        return out

    def _complete_pending(self, src: memoryview, out: list[bytes]) -> int:
        # Returns how much of src was consumed, or -1 when src ran out first.
        buf = self._buf
        if self._pos:
            del buf[: self._pos]
            self._pos = 0
        pos = 0
        if len(buf) < 2:
            pos = min(2 - len(buf), len(src))
            buf += src[:pos]
            if len(buf) < 2:
                return -1
        length = (buf[0] << 8) | buf[1]
        self._check_length(length)
        need = 2 + length - len(buf)
        if need > len(src) - pos:
            buf += src[pos:]
            return -1
        buf += src[pos : pos + need]
        out.append(self._open(memoryview(buf)[2:]))
        buf.clear()
        return pos + need
