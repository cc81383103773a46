"""Noise_XX_25519_ChaChaPoly_SHA256 handshake state: twin of ``_native/noise_xx.pxi``.

The Noise framework's HandshakeState for the XX pattern (revision 34), with its SymmetricState
(``ck``, ``h``, one handshake key and nonce) folded in: no libp2p here, so the cacophony vectors
drive it. ``libp2p.security.noise.core.HandshakeState`` builds on it (key choice, ``StaticKey``);
``NoiseHandshake`` adds the libp2p payload and framing. The Cython twin does the same steps in C
(SHA-256, HMAC, X25519 and ChaCha20-Poly1305 from libsodium) with no Python frame per step.
"""

from __future__ import annotations

import hashlib
import hmac
from os import urandom
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from nacl.bindings import crypto_scalarmult, crypto_scalarmult_base
from nacl.exceptions import RuntimeError as _SodiumError

from libp2p.errors import LocalProtocolError
from libp2p.security.noise.errors import (
    HandshakeDecryptError,
    InvalidHandshakeMessageError,
    NoiseStateError,
)

__all__ = ["NoiseXX"]

PROTOCOL_NAME: Final = b"Noise_XX_25519_ChaChaPoly_SHA256"  # 32 bytes: h starts as the name itself
DHLEN: Final = 32
TAGLEN: Final = 16
# The XX pattern: one token list per message, initiator first, alternating.
_XX: Final = (("e",), ("e", "ee", "s", "es"), ("s", "se"))

Bytes = bytes | bytearray | memoryview

try:  # the one-shot C function behind hmac.digest, without its Python frame
    from _hashlib import hmac_digest as _hmac_digest
except ImportError:  # a Python built without OpenSSL's hashlib
    _hmac_digest = hmac.digest  # type: ignore[assignment]  # same call, wider parameter types


def _hkdf2(chaining_key: bytes, ikm: bytes) -> tuple[bytes, bytes]:
    """Noise's HKDF with two outputs (section 4.3)."""
    temp = _hmac_digest(chaining_key, ikm, "sha256")
    out1 = _hmac_digest(temp, b"\x01", "sha256")
    return out1, _hmac_digest(temp, out1 + b"\x02", "sha256")


def _dh(private: bytes, public: bytes) -> bytes:
    try:
        return crypto_scalarmult(private, public)
    except _SodiumError:
        # libsodium refuses low-order points (an all-zero shared secret).
        raise InvalidHandshakeMessageError("the peer sent a low-order X25519 public key") from None


def _key32(raw: Bytes, what: str) -> bytes:
    if len(raw) != DHLEN:
        raise LocalProtocolError(f"the {what} X25519 key must be 32 bytes, not {len(raw)}")
    return bytes(raw)


class NoiseXX:
    """XX HandshakeState; ``write_message``/``read_message`` take turns.

    ``s``/``s_pub``: our static key pair (32 bytes each); ``e``: our ephemeral private key, or
    None to make a fresh one when message 1 or 2 is written. After the third message ``complete``
    is true and ``split()`` gives the transport keys.
    """

    __slots__ = ("_aead", "_ck", "_e", "_h", "_n", "_s", "_s_pub", "initiator", "message_index", "re", "rs")

    def __init__(self, initiator: bool, s: Bytes, s_pub: Bytes, e: Bytes | None = None, prologue: Bytes = b"") -> None:
        self.initiator = bool(initiator)
        self._s = _key32(s, "static private")
        self._s_pub = _key32(s_pub, "static public")
        self._e: bytes | None = _key32(e, "ephemeral private") if e is not None else None
        self._ck = PROTOCOL_NAME
        self._h = hashlib.sha256(PROTOCOL_NAME + bytes(prologue)).digest()
        self._aead: ChaCha20Poly1305 | None = None
        self._n = 0
        self.re: bytes | None = None
        self.rs: bytes | None = None
        #: 0, 1 or 2: the next message; 3 when complete
        self.message_index = 0

    @property
    def static_public_key(self) -> bytes:
        return self._s_pub

    @property
    def handshake_hash(self) -> bytes:
        return self._h

    @property
    def complete(self) -> bool:
        return self.message_index >= 3

    def is_my_turn(self) -> bool:
        return self.message_index < 3 and (self.message_index % 2 == 0) == self.initiator

    # -- SymmetricState ---------------------------------------------------------------------

    def _mix_key(self, ikm: bytes) -> None:
        self._ck, key = _hkdf2(self._ck, ikm)
        self._aead = ChaCha20Poly1305(key)
        self._n = 0

    def _encrypt_and_hash(self, plaintext: Bytes) -> bytes:
        if self._aead is None:
            out = bytes(plaintext)
        else:  # n stays below 2 in a handshake: no exhaustion check needed
            out = self._aead.encrypt(b"\x00\x00\x00\x00" + self._n.to_bytes(8, "little"), plaintext, self._h)
            self._n += 1
        self._h = hashlib.sha256(self._h + out).digest()
        return out

    def _decrypt_and_hash(self, ciphertext: Bytes) -> bytes:
        if self._aead is None:
            out = bytes(ciphertext)
        else:
            try:
                out = self._aead.decrypt(b"\x00\x00\x00\x00" + self._n.to_bytes(8, "little"), ciphertext, self._h)
            except InvalidTag:
                raise HandshakeDecryptError("handshake message failed authentication") from None
            self._n += 1
        self._h = hashlib.sha256(self._h + bytes(ciphertext)).digest()
        return out

    def _dh_token(self, token: str) -> bytes:
        # ee, es, se: the first letter is the initiator's key, the second the responder's.
        assert self._e is not None and self.re is not None
        if token == "ee":
            return _dh(self._e, self.re)
        if (token == "es") == self.initiator:
            assert self.rs is not None
            return _dh(self._e, self.rs)
        return _dh(self._s, self.re)

    # -- messages ---------------------------------------------------------------------------

    def write_message(self, payload: Bytes) -> bytes:
        if not self.is_my_turn():
            raise NoiseStateError("not our turn to write a handshake message")
        parts: list[bytes] = []
        for token in _XX[self.message_index]:
            if token == "e":
                if self._e is None:
                    self._e = urandom(DHLEN)
                e_pub = crypto_scalarmult_base(self._e)
                parts.append(e_pub)
                self._h = hashlib.sha256(self._h + e_pub).digest()
            elif token == "s":
                parts.append(self._encrypt_and_hash(self._s_pub))
            else:
                self._mix_key(self._dh_token(token))
        parts.append(self._encrypt_and_hash(payload))
        self.message_index += 1
        return b"".join(parts)

    def read_message(self, message: Bytes) -> bytes:
        """Process one message from the peer and return its payload."""
        if self.complete or self.is_my_turn():
            raise NoiseStateError("not the peer's turn to send a handshake message")
        msg = memoryview(message).cast("B")
        pos = 0
        for token in _XX[self.message_index]:
            if token == "e":
                if len(msg) - pos < DHLEN:
                    raise InvalidHandshakeMessageError("handshake message too short for an ephemeral key")
                self.re = bytes(msg[pos : pos + DHLEN])
                pos += DHLEN
                self._h = hashlib.sha256(self._h + self.re).digest()
            elif token == "s":
                size = DHLEN + (TAGLEN if self._aead is not None else 0)
                if len(msg) - pos < size:
                    raise InvalidHandshakeMessageError("handshake message too short for a static key")
                self.rs = self._decrypt_and_hash(msg[pos : pos + size])
                pos += size
            else:
                self._mix_key(self._dh_token(token))
        rest = msg[pos:]
        if self._aead is not None and len(rest) < TAGLEN:
            raise InvalidHandshakeMessageError("handshake message too short for its payload tag")
        payload = self._decrypt_and_hash(rest)
        self.message_index += 1
        return payload

    def split(self) -> tuple[bytes, bytes]:
        """(initiator→responder key, responder→initiator key); only once complete."""
        if not self.complete:
            raise NoiseStateError("the handshake is not complete")
        return _hkdf2(self._ck, b"")
