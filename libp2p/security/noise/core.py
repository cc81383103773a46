"""Sans-IO Noise_XX_25519_ChaChaPoly_SHA256 handshake with the noise-libp2p payload.

Two layers:

* ``CipherState`` / ``SymmetricState`` / ``HandshakeState``: the Noise protocol framework
  (revision 34) for the XX pattern, with no libp2p in it, so the cacophony vectors can drive it.
* ``NoiseHandshake``: the libp2p channel on top: u16 framing, the signed
  ``NoiseHandshakePayload``, peer ID checks and early muxer negotiation. When it completes,
  ``transport()`` hands out the cipher twins for the connection.

Handshake messages are few, so this is plain Python; the per-message transport path is the
``NoiseEncryptor``/``NoiseDecryptor`` twin.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Sequence
from enum import Enum, auto
from typing import Final

from os import urandom

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from nacl.bindings import crypto_scalarmult, crypto_scalarmult_base
from nacl.exceptions import RuntimeError as _SodiumError
from google.protobuf.message import DecodeError as _ProtobufDecodeError
from google.protobuf.message import Error as _ProtobufError

from libp2p._accel import NOISE_MAX_MESSAGE_LEN, NoiseDecryptor, NoiseEncryptor
from libp2p.errors import DecodeError, LocalProtocolError
from libp2p.identity.keys import PrivateKey, PublicKey, unmarshal_public_key
from libp2p.identity.peer_id import PeerId
from libp2p.pb import noise_pb2
from libp2p.security.noise.config import NoiseConfig
from libp2p.security.noise.errors import (
    HandshakeDecryptError,
    HandshakeTimeoutError,
    InvalidHandshakeMessageError,
    InvalidHandshakePayloadError,
    InvalidHandshakeSignatureError,
    MuxerNegotiationError,
    NoiseFrameTooLargeError,
    NoisePayloadTooLargeError,
    NoiseStateError,
    NonceExhaustedError,
    PeerIdMismatchError,
)
from libp2p.security.noise.events import HandshakeCompleted, NoiseEvent

__all__ = [
    "PROTOCOL_NAME",
    "STATIC_KEY_DOMAIN",
    "CipherState",
    "HandshakeState",
    "NoiseHandshake",
    "StaticKey",
    "SymmetricState",
    "hkdf",
    "select_muxer",
]

_log = logging.getLogger("libp2p.security.noise")

PROTOCOL_NAME: Final = b"Noise_XX_25519_ChaChaPoly_SHA256"
# What the identity key signs, followed by the 32-byte Noise static public key.
STATIC_KEY_DOMAIN: Final = b"noise-libp2p-static-key:"

DHLEN: Final = 32
HASHLEN: Final = 32
TAGLEN: Final = 16
_NONCE_LIMIT: Final = (1 << 64) - 1

Bytes = bytes | bytearray | memoryview


# --- the Noise framework ----------------------------------------------------------------------

try:  # the one-shot C function behind hmac.digest, without its Python frame (12 HMACs a handshake)
    from _hashlib import hmac_digest as _hmac_digest
except ImportError:  # a Python built without OpenSSL's hashlib
    _hmac_digest = hmac.digest  # type: ignore[assignment]  # same call, wider parameter types


def hkdf(chaining_key: bytes, ikm: bytes, outputs: int) -> tuple[bytes, ...]:
    """Noise's HKDF (section 4.3): HMAC-SHA256 extract then 2 or 3 expand blocks."""
    temp = _hmac_digest(chaining_key, ikm, "sha256")
    out1 = _hmac_digest(temp, b"\x01", "sha256")
    out2 = _hmac_digest(temp, out1 + b"\x02", "sha256")
    if outputs == 2:
        return out1, out2
    return out1, out2, _hmac_digest(temp, out2 + b"\x03", "sha256")


def _nonce(n: int) -> bytes:
    return b"\x00\x00\x00\x00" + n.to_bytes(8, "little")


class CipherState:
    """Noise CipherState: a key (or none) and a nonce; AD = the handshake hash during a handshake."""

    __slots__ = ("_aead", "_key", "n")

    def __init__(self, key: bytes | None = None) -> None:
        self.initialize_key(key)

    def initialize_key(self, key: bytes | None) -> None:
        self._key = key
        self._aead = ChaCha20Poly1305(key) if key is not None else None
        self.n = 0

    def has_key(self) -> bool:
        return self._key is not None

    @property
    def key(self) -> bytes | None:
        return self._key

    def encrypt_with_ad(self, ad: bytes, plaintext: Bytes) -> bytes:
        if self._aead is None:
            return bytes(plaintext)
        if self.n >= _NONCE_LIMIT:
            raise NonceExhaustedError("nonce 2**64-1 is reserved")
        out = self._aead.encrypt(_nonce(self.n), plaintext, ad)
        self.n += 1
        return out

    def decrypt_with_ad(self, ad: bytes, ciphertext: Bytes) -> bytes:
        """Decrypt; raises ``HandshakeDecryptError`` (a ``DecryptError``) on a bad tag."""
        if self._aead is None:
            return bytes(ciphertext)
        if self.n >= _NONCE_LIMIT:
            raise NonceExhaustedError("nonce 2**64-1 is reserved")
        try:
            out = self._aead.decrypt(_nonce(self.n), ciphertext, ad)
        except InvalidTag:
            raise HandshakeDecryptError("handshake message failed authentication") from None
        self.n += 1
        return out


class SymmetricState:
    """Noise SymmetricState: chaining key ``ck``, handshake hash ``h`` and a CipherState."""

    __slots__ = ("cipher", "ck", "h")

    def __init__(self, protocol_name: bytes = PROTOCOL_NAME) -> None:
        if len(protocol_name) <= HASHLEN:
            h = protocol_name.ljust(HASHLEN, b"\x00")
        else:
            h = hashlib.sha256(protocol_name).digest()
        self.h = h
        self.ck = h
        self.cipher = CipherState()

    def mix_key(self, ikm: bytes) -> None:
        self.ck, temp_k = hkdf(self.ck, ikm, 2)
        self.cipher.initialize_key(temp_k)

    def mix_hash(self, data: Bytes) -> None:
        self.h = hashlib.sha256(self.h + bytes(data)).digest()

    def encrypt_and_hash(self, plaintext: Bytes) -> bytes:
        ciphertext = self.cipher.encrypt_with_ad(self.h, plaintext)
        self.mix_hash(ciphertext)
        return ciphertext

    def decrypt_and_hash(self, ciphertext: Bytes) -> bytes:
        plaintext = self.cipher.decrypt_with_ad(self.h, ciphertext)
        self.mix_hash(ciphertext)
        return plaintext

    def split(self) -> tuple[bytes, bytes]:
        """The two transport keys: initiator→responder, then responder→initiator."""
        k1, k2 = hkdf(self.ck, b"", 2)
        return k1, k2


# The XX pattern as data: one token list per message, initiator first, alternating.
_XX: Final = (("e",), ("e", "ee", "s", "es"), ("s", "se"))


# X25519 through libsodium (PyNaCl, already there for Ed25519) on raw 32-byte keys: its fixed-base
# multiplication makes an ephemeral key in half the time of OpenSSL's generic one, and no key
# objects are built per handshake. libsodium clamps the scalar as RFC 7748 says.


def _private_key(raw: bytes | None, what: str) -> bytes:
    if raw is None:
        return urandom(DHLEN)
    if len(raw) != DHLEN:
        raise LocalProtocolError(f"the {what} X25519 private key must be 32 bytes, not {len(raw)}")
    return bytes(raw)


def _public_bytes(key: bytes) -> bytes:
    return crypto_scalarmult_base(key)


def _dh(private: bytes, public: bytes) -> bytes:
    try:
        return crypto_scalarmult(private, public)
    except _SodiumError:
        # libsodium refuses low-order points (an all-zero shared secret).
        raise InvalidHandshakeMessageError("the peer sent a low-order X25519 public key") from None


class StaticKey:
    """A Noise static key pair to reuse across handshakes, with the signed payloads made for it.

    By default every handshake makes a fresh static key and signs it with the identity key: an
    X25519 key generation and an Ed25519 signature per connection. A listener (or a busy dialer)
    can keep one static key for its lifetime instead, as rust-libp2p does: forward secrecy comes
    from the ephemeral keys, and the key is never persisted (the spec's SHOULD). The payload for
    an identity key and muxer list is built and signed once.
    """

    __slots__ = ("_payloads", "private", "public")

    def __init__(self, private: bytes | None = None) -> None:
        self.private = _private_key(private, "static")
        self.public = _public_bytes(self.private)
        # (identity key object, muxers, payload); a handful at most per process
        self._payloads: list[tuple[PrivateKey, tuple[str, ...], bytes]] = []

    def payload(self, identity: PrivateKey, muxers: tuple[str, ...]) -> bytes:
        """The NoiseHandshakePayload for ``identity`` (signing this static key) and ``muxers``."""
        for key, listed, payload in self._payloads:
            if key is identity and listed == muxers:
                return payload
        payload = _make_payload(identity, self.public, muxers)
        del self._payloads[:-7]
        self._payloads.append((identity, muxers, payload))
        return payload


def _make_payload(identity: PrivateKey, static_public: bytes, muxers: tuple[str, ...]) -> bytes:
    pb = noise_pb2.NoiseHandshakePayload()
    pb.identity_key = identity.public_key.marshal()
    pb.identity_sig = identity.sign(STATIC_KEY_DOMAIN + static_public)
    if muxers:
        pb.extensions.stream_muxers.extend(muxers)
    return pb.SerializeToString()


class HandshakeState:
    """Noise HandshakeState for XX only. ``write_message``/``read_message`` take turns.

    ``s`` and ``e`` are 32-byte X25519 private keys (``s`` may be a reused ``StaticKey``); ``e``
    is generated when needed unless given (test vectors). After the third message ``complete`` is true and ``split()`` gives
    the transport keys.
    """

    __slots__ = ("_e", "_e_raw", "_index", "_s", "_s_pub", "initiator", "re", "rs", "symmetric")

    def __init__(
        self, initiator: bool, s: bytes | StaticKey | None = None, e: bytes | None = None, prologue: Bytes = b""
    ) -> None:
        self.initiator = initiator
        self.symmetric = SymmetricState(PROTOCOL_NAME)
        self.symmetric.mix_hash(prologue)
        if isinstance(s, StaticKey):
            self._s, self._s_pub = s.private, s.public
        else:
            self._s = _private_key(s, "static")
            self._s_pub = _public_bytes(self._s)
        self._e_raw = e
        if e is not None and len(e) != DHLEN:
            raise LocalProtocolError(f"the ephemeral X25519 private key must be 32 bytes, not {len(e)}")
        self._e: bytes | None = None
        self.rs: bytes | None = None
        self.re: bytes | None = None
        self._index = 0

    @property
    def static_public_key(self) -> bytes:
        return self._s_pub

    @property
    def complete(self) -> bool:
        return self._index >= len(_XX)

    @property
    def handshake_hash(self) -> bytes:
        return self.symmetric.h

    @property
    def message_index(self) -> int:
        """0, 1 or 2: the next message; 3 when complete."""
        return self._index

    def is_my_turn(self) -> bool:
        return not self.complete and (self._index % 2 == 0) == self.initiator

    def _dh_token(self, token: str) -> bytes:
        # ee, es, se: the first letter is the initiator's key, the second the responder's.
        assert self._e is not None and self.re is not None
        if token == "ee":
            return _dh(self._e, self.re)
        mine_is_e = (token == "es") == self.initiator
        if mine_is_e:
            assert self.rs is not None
            return _dh(self._e, self.rs)
        return _dh(self._s, self.re)

    def write_message(self, payload: Bytes) -> bytes:
        if not self.is_my_turn():
            raise NoiseStateError("not our turn to write a handshake message")
        sym = self.symmetric
        parts: list[bytes] = []
        for token in _XX[self._index]:
            if token == "e":
                self._e = _private_key(self._e_raw, "ephemeral")
                self._e_raw = None
                e_pub = _public_bytes(self._e)
                parts.append(e_pub)
                sym.mix_hash(e_pub)
            elif token == "s":
                parts.append(sym.encrypt_and_hash(self._s_pub))
            else:
                sym.mix_key(self._dh_token(token))
        parts.append(sym.encrypt_and_hash(payload))
        self._index += 1
        return b"".join(parts)

    def read_message(self, message: Bytes) -> bytes:
        """Process one message from the peer and return its payload."""
        if self.complete or self.is_my_turn():
            raise NoiseStateError("not the peer's turn to send a handshake message")
        sym = self.symmetric
        msg = memoryview(message).cast("B")
        pos = 0
        for token in _XX[self._index]:
            if token == "e":
                if len(msg) - pos < DHLEN:
                    raise InvalidHandshakeMessageError("handshake message too short for an ephemeral key")
                self.re = bytes(msg[pos : pos + DHLEN])
                pos += DHLEN
                sym.mix_hash(self.re)
            elif token == "s":
                size = DHLEN + (TAGLEN if sym.cipher.has_key() else 0)
                if len(msg) - pos < size:
                    raise InvalidHandshakeMessageError("handshake message too short for a static key")
                self.rs = sym.decrypt_and_hash(msg[pos : pos + size])
                pos += size
            else:
                sym.mix_key(self._dh_token(token))
        rest = msg[pos:]
        if sym.cipher.has_key() and len(rest) < TAGLEN:
            raise InvalidHandshakeMessageError("handshake message too short for its payload tag")
        payload = sym.decrypt_and_hash(rest)
        self._index += 1
        return payload

    def split(self) -> tuple[bytes, bytes]:
        """(initiator→responder key, responder→initiator key); only once complete."""
        if not self.complete:
            raise NoiseStateError("the handshake is not complete")
        return self.symmetric.split()


# --- noise-libp2p ---------------------------------------------------------------------------


def select_muxer(initiator_muxers: Sequence[str], responder_muxers: Sequence[str]) -> str | None:
    """Early muxer negotiation: the first of the initiator's muxers the responder also lists.

    ``None`` when either list is empty (fall back to multistream-select); raises
    ``MuxerNegotiationError`` when both are non-empty and share nothing.
    """
    if not initiator_muxers or not responder_muxers:
        return None
    supported = set(responder_muxers)
    for muxer in initiator_muxers:
        if muxer in supported:
            return muxer
    raise MuxerNegotiationError(
        f"no common stream muxer: initiator offers {list(initiator_muxers)}, responder {list(responder_muxers)}"
    )


class _State(Enum):
    SEND_1 = auto()  # initiator, before msg1 is queued
    AWAIT_1 = auto()  # responder
    AWAIT_2 = auto()  # initiator
    AWAIT_3 = auto()  # responder
    DONE = auto()
    TRANSPORT_TAKEN = auto()
    FAILED = auto()


_U16_LEN: Final = 2


class NoiseHandshake:
    """The libp2p Noise handshake as a sans-IO core.

    Feed received bytes to ``receive_data``; send whatever ``data_to_send`` returns; poll
    ``next_event`` for ``HandshakeCompleted``. Errors raise (typed, ``HandshakeError`` for the
    peer's faults) and leave the core failed. Bytes that arrive after the last handshake message
    (the peer's first transport messages) are kept and fed to the decryptor ``transport()``
    returns.

    ``static_key``/``ephemeral_key`` are injectable X25519 private keys for test vectors; by
    default both are fresh per handshake (the static key is never persisted). ``static_key`` may
    also be a ``StaticKey`` reused across handshakes, whose signed payload is then reused too. ``now`` starts the
    ``config.handshake_timeout`` deadline reported by ``get_timer``.
    """

    def __init__(
        self,
        is_initiator: bool,
        identity_key: PrivateKey,
        *,
        remote_peer_id: PeerId | None = None,
        muxers: Sequence[str] = (),
        static_key: bytes | StaticKey | None = None,
        ephemeral_key: bytes | None = None,
        prologue: bytes = b"",
        config: NoiseConfig | None = None,
        now: float | None = None,
    ) -> None:
        if isinstance(muxers, str):
            raise LocalProtocolError("muxers must be a sequence of protocol ids, not one string")
        self._config = config if config is not None else NoiseConfig()
        self.is_initiator = is_initiator
        self._identity = identity_key
        self._expected = remote_peer_id
        self._muxers = tuple(muxers)
        self._hs = HandshakeState(is_initiator, static_key, ephemeral_key, prologue)
        self._static = static_key if isinstance(static_key, StaticKey) else None
        self._in = bytearray()
        self._out: list[bytes] = []
        self._events: list[NoiseEvent] = []
        self._deadline = now + self._config.handshake_timeout if now is not None else None
        self._completed: HandshakeCompleted | None = None
        self._keys: tuple[bytes, bytes] | None = None
        if is_initiator:
            # msg1 = e with an empty payload: the spec forbids extensions in msg1.
            self._state = _State.SEND_1
            self._write(b"")
            self._state = _State.AWAIT_2
        else:
            self._state = _State.AWAIT_1

    # -- the sans-IO face -------------------------------------------------------------------

    @property
    def complete(self) -> bool:
        return self._state in (_State.DONE, _State.TRANSPORT_TAKEN)

    @property
    def completed_event(self) -> HandshakeCompleted | None:
        return self._completed

    @property
    def static_public_key(self) -> bytes:
        """Our Noise static public key (what our identity signature covers)."""
        return self._hs.static_public_key

    def receive_data(self, data: Bytes) -> None:
        """Bytes from the peer, split anywhere."""
        if self._state is _State.FAILED:
            raise NoiseStateError("the handshake already failed")
        if self._state is _State.TRANSPORT_TAKEN:
            raise NoiseStateError("the handshake is over; feed the transport decryptor instead")
        self._in += data
        try:
            while self._state in (_State.AWAIT_1, _State.AWAIT_2, _State.AWAIT_3):
                frame = self._next_frame()
                if frame is None:
                    return
                self._handle(frame)
        except Exception:
            self._fail()
            raise

    def data_to_send(self) -> bytes:
        out = b"".join(self._out)
        self._out.clear()
        return out

    def next_event(self) -> NoiseEvent | None:
        return self._events.pop(0) if self._events else None

    def get_timer(self) -> float | None:
        return (
            self._deadline
            if self._state not in (_State.DONE, _State.TRANSPORT_TAKEN, _State.FAILED)
            else None
        )

    def handle_timer(self, now: float) -> None:
        """Raise ``HandshakeTimeoutError`` (and fail) if the deadline passed before completion."""
        deadline = self.get_timer()
        if deadline is not None and now >= deadline:
            self._fail()
            raise HandshakeTimeoutError(
                f"Noise handshake did not complete within {self._config.handshake_timeout} s"
            )

    def transport(self) -> tuple[NoiseEncryptor, NoiseDecryptor]:
        """The (send, receive) cipher pair for the connection; once, after completion.

        The decryptor already holds any bytes that followed the last handshake message.
        """
        if self._state is not _State.DONE or self._keys is None:
            raise NoiseStateError("transport() needs a completed handshake and is available once")
        k1, k2 = self._keys
        send, recv = (k1, k2) if self.is_initiator else (k2, k1)
        self._keys = None
        self._state = _State.TRANSPORT_TAKEN
        decryptor = NoiseDecryptor(recv)
        if self._in:
            decryptor.feed(self._in)
            self._in = bytearray()
        return NoiseEncryptor(send), decryptor

    # -- internals --------------------------------------------------------------------------

    def _fail(self) -> None:
        self._state = _State.FAILED
        self._keys = None
        self._out.clear()
        self._in = bytearray()

    def _next_frame(self) -> bytes | None:
        buf = self._in
        if len(buf) < _U16_LEN:
            return None
        length = (buf[0] << 8) | buf[1]
        if length > self._config.max_handshake_message:
            raise NoiseFrameTooLargeError(
                f"handshake message of {length} bytes exceeds the {self._config.max_handshake_message}-byte limit"
            )
        end = _U16_LEN + length
        if len(buf) < end:
            return None
        frame = bytes(buf[_U16_LEN:end])
        del buf[:end]
        return frame

    def _write(self, payload: bytes) -> None:
        message = self._hs.write_message(payload)
        if len(message) > NOISE_MAX_MESSAGE_LEN:
            raise NoisePayloadTooLargeError(f"handshake message of {len(message)} bytes exceeds 65535")
        self._out.append(len(message).to_bytes(2, "big") + message)

    def _payload(self) -> bytes:
        if self._static is not None:
            return self._static.payload(self._identity, self._muxers)
        return _make_payload(self._identity, self._hs.static_public_key, self._muxers)

    def _handle(self, frame: bytes) -> None:
        state = self._state
        hs = self._hs
        if state is _State.AWAIT_1:
            if len(frame) < DHLEN:
                raise InvalidHandshakeMessageError(f"message 1 of {len(frame)} bytes is shorter than a key")
            # Message 1's payload (plaintext, unauthenticated) is ignored: libp2p sends none.
            hs.read_message(frame)
            self._write(self._payload())
            self._state = _State.AWAIT_3
            return
        # Message 2 (at the initiator) or 3 (at the responder): both carry s and a payload.
        minimum = (DHLEN if state is _State.AWAIT_2 else 0) + DHLEN + 2 * TAGLEN
        if len(frame) < minimum:
            raise InvalidHandshakeMessageError(
                f"handshake message of {len(frame)} bytes is shorter than {minimum}"
            )
        payload = hs.read_message(frame)
        assert hs.rs is not None
        remote_key, remote_muxers = self._verify_payload(payload, hs.rs)
        remote_id = PeerId.from_public_key(remote_key)
        if self._expected is not None and remote_id != self._expected:
            _log.warning("Noise: dialed %s but the peer authenticated as %s", self._expected, remote_id)
            raise PeerIdMismatchError(self._expected, remote_id)
        if self.is_initiator:
            selected = select_muxer(self._muxers, remote_muxers)
            self._write(self._payload())
        else:
            selected = select_muxer(remote_muxers, self._muxers)
        self._keys = hs.split()
        self._completed = HandshakeCompleted(
            remote_peer_id=remote_id,
            remote_public_key=remote_key,
            remote_static_key=hs.rs,
            remote_muxers=remote_muxers,
            selected_muxer=selected,
            handshake_hash=hs.handshake_hash,
        )
        self._events.append(self._completed)
        self._state = _State.DONE

    @staticmethod
    def _verify_payload(payload: bytes, remote_static: bytes) -> tuple[PublicKey, tuple[str, ...]]:
        try:
            pb = noise_pb2.NoiseHandshakePayload.FromString(payload)
            has_key = pb.HasField("identity_key")
            has_sig = pb.HasField("identity_sig")
            muxers = tuple(pb.extensions.stream_muxers) if pb.HasField("extensions") else ()
        except (_ProtobufDecodeError, _ProtobufError, UnicodeDecodeError, ValueError) as exc:
            raise InvalidHandshakePayloadError(f"malformed NoiseHandshakePayload: {exc}") from exc
        if not has_key or not has_sig:
            raise InvalidHandshakePayloadError("NoiseHandshakePayload lacks identity_key or identity_sig")
        # proto2 does not check UTF-8: protobuf hands back bytes for a muxer id that is not.
        if not all(isinstance(m, str) for m in muxers):
            raise InvalidHandshakePayloadError("NoiseHandshakePayload lists a stream muxer id that is not UTF-8")
        try:
            key = unmarshal_public_key(pb.identity_key)
        except DecodeError as exc:
            raise InvalidHandshakePayloadError(f"unusable identity key: {exc}") from exc
        # The signature must cover the static key this very handshake delivered.
        if not key.verify(STATIC_KEY_DOMAIN + remote_static, pb.identity_sig):
            raise InvalidHandshakeSignatureError(
                "identity signature does not cover the peer's Noise static key"
            )
        return key, muxers
