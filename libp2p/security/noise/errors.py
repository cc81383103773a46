"""Errors of the Noise security channel, shared by the handshake core and both cipher twins.

This module imports only ``libp2p.errors``, so the twins (``libp2p._pure.noise`` and
``_native/noise.pxi``) can import it while ``libp2p._accel`` is still loading.
"""

from __future__ import annotations

from libp2p import errors
from libp2p.errors import (
    DecodeError,
    FrameTooLargeError,
    InvalidSignatureError,
    Libp2pError,
    LocalProtocolError,
    RemoteProtocolError,
)

__all__ = [
    "DecryptError",
    "HandshakeDecryptError",
    "HandshakeError",
    "HandshakeTimeoutError",
    "InvalidHandshakeMessageError",
    "InvalidHandshakePayloadError",
    "InvalidHandshakeSignatureError",
    "MuxerNegotiationError",
    "NoiseError",
    "NoiseFrameTooLargeError",
    "NoisePayloadTooLargeError",
    "NoiseStateError",
    "NonceExhaustedError",
    "PeerIdMismatchError",
]


class NoiseError(Libp2pError):
    """Root of the Noise errors."""


# --- transport (raised by both cipher twins) -----------------------------------------------


class DecryptError(NoiseError, DecodeError):
    """A Noise message failed authentication (bad tag, wrong key, or shorter than the tag)."""


class NoiseFrameTooLargeError(NoiseError, FrameTooLargeError):
    """A u16 length prefix declared more than the configured maximum Noise message size."""


class NonceExhaustedError(NoiseError, LocalProtocolError):
    """The 64-bit nonce counter reached 2**64-1, which Noise reserves: the connection must end."""


# --- handshake ------------------------------------------------------------------------------


class HandshakeError(NoiseError, RemoteProtocolError):
    """The peer broke the Noise handshake; the connection must be closed."""


class HandshakeDecryptError(HandshakeError, DecryptError):
    """A handshake message's static key or payload failed authentication (tampered or wrong key)."""


class InvalidHandshakeMessageError(HandshakeError, DecodeError):
    """A handshake message has the wrong size, or carries an unusable X25519 public key."""


class InvalidHandshakePayloadError(HandshakeError, DecodeError):
    """The NoiseHandshakePayload protobuf is malformed, or its identity key is missing or unusable."""


class InvalidHandshakeSignatureError(HandshakeError, InvalidSignatureError):
    """The identity signature does not cover the Noise static key the peer actually sent."""


class PeerIdMismatchError(HandshakeError, errors.PeerIdMismatchError):
    """The peer authenticated as a different peer ID than the one dialed (``/p2p/X`` reached Y)."""

    def __init__(self, expected: object, actual: object) -> None:
        errors.PeerIdMismatchError.__init__(self, expected, actual)


class MuxerNegotiationError(HandshakeError):
    """Both sides listed stream muxers in the handshake and no muxer is on both lists."""


class HandshakeTimeoutError(NoiseError, TimeoutError):
    """The handshake did not complete before its deadline."""


class NoiseStateError(NoiseError, LocalProtocolError):
    """An API was called in the wrong state (e.g. ``transport()`` before the handshake completed)."""


class NoisePayloadTooLargeError(NoiseError, LocalProtocolError):
    """Our own handshake message would exceed the 65535-byte Noise message limit."""
