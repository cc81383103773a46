"""Noise security channel ``/noise``: Noise_XX_25519_ChaChaPoly_SHA256 with the libp2p payload.

``NoiseHandshake`` (sans-IO) authenticates the peer and negotiates the muxer early;
``transport()`` then hands out ``NoiseEncryptor``/``NoiseDecryptor`` (the cipher twins).

The core is imported lazily: the cipher twins import ``errors`` from this package while
``libp2p._accel`` is still loading, and ``core`` needs ``libp2p._accel``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from libp2p.security.noise.config import PROTOCOL_ID, NoiseConfig
from libp2p.security.noise.errors import (
    DecryptError,
    HandshakeDecryptError,
    HandshakeError,
    HandshakeTimeoutError,
    InvalidHandshakeMessageError,
    InvalidHandshakePayloadError,
    InvalidHandshakeSignatureError,
    MuxerNegotiationError,
    NoiseError,
    NoiseFrameTooLargeError,
    NoisePayloadTooLargeError,
    NoiseStateError,
    NonceExhaustedError,
    PeerIdMismatchError,
)
from libp2p.security.noise.events import HandshakeCompleted, NoiseEvent

if TYPE_CHECKING:
    from libp2p._accel import NoiseDecryptor, NoiseEncryptor
    from libp2p.security.noise.core import NoiseHandshake, select_muxer

__all__ = [
    "PROTOCOL_ID",
    "DecryptError",
    "HandshakeCompleted",
    "HandshakeDecryptError",
    "HandshakeError",
    "HandshakeTimeoutError",
    "InvalidHandshakeMessageError",
    "InvalidHandshakePayloadError",
    "InvalidHandshakeSignatureError",
    "MuxerNegotiationError",
    "NoiseConfig",
    "NoiseDecryptor",
    "NoiseEncryptor",
    "NoiseError",
    "NoiseEvent",
    "NoiseFrameTooLargeError",
    "NoiseHandshake",
    "NoisePayloadTooLargeError",
    "NoiseStateError",
    "NonceExhaustedError",
    "PeerIdMismatchError",
    "select_muxer",
]

_LAZY = {
    "NoiseHandshake": "libp2p.security.noise.core",
    "select_muxer": "libp2p.security.noise.core",
    "NoiseEncryptor": "libp2p._accel",
    "NoiseDecryptor": "libp2p._accel",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
