"""Sans-IO Noise_XX_25519_ChaChaPoly_SHA256 handshake with the noise-libp2p payload.

Two layers:

* ``HandshakeState``: the Noise protocol framework (revision 34) for the XX pattern, with no
  libp2p in it, so the cacophony vectors can drive it. Its steps are the ``NoiseXX`` twin
  (``libp2p/_pure/noise_xx.py``, ``_native/noise_xx.pxi``); this module picks its keys.
* ``NoiseHandshake``: the libp2p channel on top: u16 framing, the signed
  ``NoiseHandshakePayload``, peer ID checks and early muxer negotiation. When it completes,
  ``transport()`` hands out the cipher twins for the connection.

The per-message transport path is the ``NoiseEncryptor``/``NoiseDecryptor`` twin.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Sequence
from enum import Enum, auto
from typing import Final

from os import urandom

from nacl.bindings import crypto_scalarmult_base

from libp2p._accel import NOISE_MAX_MESSAGE_LEN, NoiseDecryptor, NoiseEncryptor, NoiseXX, noise_verify_payload
from libp2p.errors import DecodeError, LocalProtocolError
from libp2p.identity.keys import Ed25519PublicKey, PrivateKey, PublicKey, unmarshal_public_key
from libp2p.identity.peer_id import PeerId
from libp2p.pb import wire
from libp2p.security.noise.config import NoiseConfig
from libp2p.security.noise.errors import (
    HandshakeTimeoutError,
    InvalidHandshakeMessageError,
    InvalidHandshakePayloadError,
    InvalidHandshakeSignatureError,
    MuxerNegotiationError,
    NoiseFrameTooLargeError,
    NoisePayloadTooLargeError,
    NoiseStateError,
    PeerIdMismatchError,
)
from libp2p.security.noise.events import HandshakeCompleted, NoiseEvent

__all__ = [
    "PROTOCOL_NAME",
    "STATIC_KEY_DOMAIN",
    "HandshakeState",
    "NoiseHandshake",
    "StaticKey",
    "hkdf",
    "select_muxer",
]

_log = logging.getLogger("libp2p.security.noise")

PROTOCOL_NAME: Final = b"Noise_XX_25519_ChaChaPoly_SHA256"
# What the identity key signs, followed by the 32-byte Noise static public key.
STATIC_KEY_DOMAIN: Final = b"noise-libp2p-static-key:"

DHLEN: Final = 32
TAGLEN: Final = 16

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
    signature = identity.sign(STATIC_KEY_DOMAIN + static_public)
    return wire.noise_payload(identity.public_key.marshal(), signature, muxers)


class HandshakeState(NoiseXX):
    """Noise HandshakeState for XX: the ``NoiseXX`` twin, with the keys chosen here.

    ``s`` and ``e`` are 32-byte X25519 private keys (``s`` may be a reused ``StaticKey``; a fresh
    one when None); ``e`` is generated when needed unless given (test vectors). ``write_message``/
    ``read_message`` take turns; after the third message ``complete`` is true and ``split()`` gives
    the transport keys.
    """

    __slots__ = ()

    def __init__(
        self, initiator: bool, s: bytes | StaticKey | None = None, e: bytes | None = None, prologue: Bytes = b""
    ) -> None:
        if isinstance(s, StaticKey):
            private, public = s.private, s.public
        else:
            private = _private_key(s, "static")
            public = _public_bytes(private)
        if e is not None and len(e) != DHLEN:
            raise LocalProtocolError(f"the ephemeral X25519 private key must be 32 bytes, not {len(e)}")
        super().__init__(initiator, private, public, e, prologue)


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
        #: the handshake completed (its transport keys are, or were, available); an attribute,
        #: as the driver reads it after every read
        self.complete = False
        if is_initiator:
            # msg1 = e with an empty payload: the spec forbids extensions in msg1.
            self._state = _State.SEND_1
            self._write(b"")
            self._state = _State.AWAIT_2
        else:
            self._state = _State.AWAIT_1

    # -- the sans-IO face -------------------------------------------------------------------

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
        buf = self._in
        buf += data
        limit = self._config.max_handshake_message
        try:
            while self._state in (_State.AWAIT_1, _State.AWAIT_2, _State.AWAIT_3) and len(buf) >= _U16_LEN:
                length = (buf[0] << 8) | buf[1]
                if length > limit:
                    raise NoiseFrameTooLargeError(
                        f"handshake message of {length} bytes exceeds the {limit}-byte limit"
                    )
                end = _U16_LEN + length
                if len(buf) < end:
                    return
                frame = bytes(buf[_U16_LEN:end])
                del buf[:end]
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
        self.complete = False
        self._keys = None
        self._out.clear()
        self._in = bytearray()

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
        self.complete = True

    @staticmethod
    def _verify_payload(payload: bytes, remote_static: bytes) -> tuple[PublicKey, tuple[str, ...]]:
        # One twin call decodes the payload and, for an Ed25519 identity key (the common case),
        # checks the signature over this handshake's static key before anything uses it.
        identity_key, identity_sig, muxers, verified = noise_verify_payload(payload, remote_static)
        if verified:
            return Ed25519PublicKey.from_marshaled(identity_key), muxers
        # Other key types (secp256k1, ECDSA, RSA) or a malformed key: the general path.
        try:
            key = unmarshal_public_key(identity_key)
        except DecodeError as exc:
            raise InvalidHandshakePayloadError(f"unusable identity key: {exc}") from exc
        if not key.verify(STATIC_KEY_DOMAIN + remote_static, identity_sig):
            raise InvalidHandshakeSignatureError(
                "identity signature does not cover the peer's Noise static key"
            )
        return key, muxers
