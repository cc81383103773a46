"""The exception hierarchy shared by both twins and every layer.

Exceptions are plain Python so the Cython and pure twins raise the very same types.
"""

from __future__ import annotations

__all__ = [
    "Libp2pError",
    "LocalProtocolError",
    "RemoteProtocolError",
    "DecodeError",
    "TruncatedVarintError",
    "OverlongVarintError",
    "NonMinimalVarintError",
    "FrameTooLargeError",
    "TruncatedFrameError",
    "VarintRangeError",
    "KeyLengthError",
    "MultiaddrError",
    "MultibaseError",
    "MultihashError",
    "CIDError",
    "InvalidPeerIdError",
    "CryptoKeyError",
    "UnsupportedKeyTypeError",
    "InvalidKeyError",
    "InvalidSignatureError",
    "EnvelopeError",
    "EnvelopeSignatureError",
    "PeerRecordError",
    "MultiaddrLookupError",
    "DNSResolutionError",
    "SecurityError",
    "PeerIdMismatchError",
    "InvalidArgumentError",
    "ArgumentTypeError",
    "StateError",
    "UnexpectedEOFError",
    "MissingPeerIdError",
]


class Libp2pError(Exception):
    """Root of every error this library raises on purpose."""


class LocalProtocolError(Libp2pError):
    """Our caller misused an API (bad argument, wrong state)."""


class RemoteProtocolError(Libp2pError):
    """The peer broke the protocol. ``code`` is the wire error code it maps to, if any."""

    code: int | None = None


class DecodeError(Libp2pError, ValueError):
    """Malformed bytes (or text) that cannot be decoded."""


class InvalidArgumentError(LocalProtocolError, ValueError):
    """An argument or option has a value the library cannot use (it is also a ``ValueError``)."""


class ArgumentTypeError(LocalProtocolError, TypeError):
    """An argument has the wrong type (it is also a ``TypeError``)."""


class StateError(LocalProtocolError, RuntimeError):
    """A call made in the wrong state: not started, already waiting, already outstanding."""


class UnexpectedEOFError(Libp2pError, EOFError):
    """The remote closed a stream before the exchange was complete (it is also an ``EOFError``)."""


# --- unsigned-varint and length-prefixed framing -------------------------------------------

class TruncatedVarintError(DecodeError):
    """The input ended inside a varint."""


class OverlongVarintError(DecodeError):
    """A varint ran past the 9-byte maximum (or a smaller per-protocol maximum)."""


class NonMinimalVarintError(DecodeError):
    """A varint was not minimally encoded (a trailing zero group)."""


class FrameTooLargeError(DecodeError):
    """A length prefix declared more than the allowed maximum frame size."""


class TruncatedFrameError(DecodeError):
    """The input ended inside a length-prefixed frame."""


class VarintRangeError(LocalProtocolError, ValueError):
    """A value to encode is negative or does not fit in 63 bits."""


class KeyLengthError(LocalProtocolError, ValueError):
    """Kademlia keys of different lengths were compared."""


# --- addressing and identity ---------------------------------------------------------------

class MultiaddrError(DecodeError):
    """A multiaddr string or byte string is invalid."""


class MultibaseError(DecodeError):
    """A multibase string is invalid or uses an unknown base."""


class MultihashError(DecodeError):
    """A multihash is malformed."""


class CIDError(DecodeError):
    """A CID is malformed, of the wrong version, or of the wrong codec."""


class InvalidPeerIdError(DecodeError):
    """A peer ID in text or binary form is invalid."""


class CryptoKeyError(Libp2pError):
    """Base of key-related errors."""


class UnsupportedKeyTypeError(CryptoKeyError, DecodeError):
    """A key protobuf names a key type we do not support."""


class InvalidKeyError(CryptoKeyError, DecodeError):
    """Key bytes are malformed, or a key is outside the accepted sizes."""


class InvalidSignatureError(Libp2pError):
    """A signature did not verify."""


class EnvelopeError(DecodeError):
    """A signed envelope or the record inside it is malformed, or fails verification."""


class EnvelopeSignatureError(EnvelopeError, InvalidSignatureError):
    """A signed envelope's signature does not verify (for its domain, payload type and payload)."""


class PeerRecordError(EnvelopeError):
    """A peer record is malformed, has the wrong payload type, or names a peer other than its signer."""


class MissingPeerIdError(MultiaddrError):
    """A multiaddr names no peer (no ``/p2p/<peer id>``) where one is needed to verify the remote."""


class MultiaddrLookupError(MultiaddrError, LookupError):
    """A multiaddr has no component of the requested protocol, or a protocol name/code is unknown."""


class DNSResolutionError(Libp2pError):
    """A /dns, /dns4, /dns6 or /dnsaddr multiaddr could not be resolved (lookup failed or timed out)."""


# --- secure channels ---------------------------------------------------------------------------

class SecurityError(Libp2pError):
    """A secure channel (Noise, TLS) could not be established or authenticated."""


class PeerIdMismatchError(SecurityError):
    """The remote authenticated as another peer than the one dialed (``/p2p/X`` reached Y).

    Each security protocol raises its own subclass (Noise: ``security.noise.PeerIdMismatchError``);
    a dial stops at this error instead of trying the peer's other addresses.
    """

    def __init__(self, expected: object, actual: object) -> None:
        super().__init__(f"expected peer {expected}, but the remote authenticated as {actual}")
        self.expected = expected
        self.actual = actual
