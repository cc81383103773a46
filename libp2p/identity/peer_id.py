"""Peer IDs: the multihash of a peer's public key protobuf (peer-ids spec, RFC 0001)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from libp2p._accel import PeerIdCore
from libp2p.errors import ArgumentTypeError, DecodeError, InvalidPeerIdError
from libp2p.identity.multiformats import (
    IDENTITY,
    LIBP2P_KEY,
    SHA2_256,
    CID,
    base58btc_decode,
    base58btc_encode,
    decode_cid,
    multibase_encode,
    multihash_digest,
    parse_multihash,
)

if TYPE_CHECKING:
    from libp2p.identity.keys import PublicKey

__all__ = ["PeerId", "MAX_INLINE_KEY_LENGTH"]

# Encoded public keys up to this size are inlined with the identity hash; longer ones are hashed.
MAX_INLINE_KEY_LENGTH = 42
# The identity multihash's header for each inlined key length (varint code 0, then the length:
# one byte, as 42 < 128).
_IDENTITY_PREFIX = tuple(bytes((IDENTITY, n)) for n in range(MAX_INLINE_KEY_LENGTH + 1))
# Longest text we parse: base2 of the longest valid CID (46 bytes) is 369 characters.
_MAX_TEXT_LENGTH = 400


def _validate(multihash: bytes) -> None:
    try:
        code, digest = parse_multihash(multihash)
    except DecodeError as exc:
        raise InvalidPeerIdError(f"not a multihash: {exc}") from None
    if code == SHA2_256:
        if len(digest) != 32:
            raise InvalidPeerIdError("sha2-256 peer ID digest must be 32 bytes")
    elif code == IDENTITY:
        if len(digest) > MAX_INLINE_KEY_LENGTH:
            raise InvalidPeerIdError(f"inlined key longer than {MAX_INLINE_KEY_LENGTH} bytes")
    else:
        raise InvalidPeerIdError(f"peer ID uses unsupported hash function 0x{code:x}")


class PeerId(PeerIdCore):
    """An immutable peer ID. Equal, hashed and ordered by its multihash bytes."""

    # _bytes, the equality, hash and order are PeerIdCore's (compiled: no Python call per lookup
    # in the host's tables, keyed by peer ID).
    __slots__ = ("_key", "_text", "__weakref__")

    _bytes: bytes
    _text: str | None
    # The key object this ID was derived from (``from_public_key``): matching that very key
    # again (the peerstore does, for every new connection) needs no second derivation.
    _key: PublicKey | None

    def __init__(self, multihash: bytes | bytearray | memoryview) -> None:
        raw = bytes(multihash)
        _validate(raw)
        self._bytes = raw
        self._text = None
        self._key = None

    @classmethod
    def from_bytes(cls, multihash: bytes | bytearray | memoryview) -> PeerId:
        """A peer ID from its binary multihash (``InvalidPeerIdError`` if malformed)."""
        return cls(multihash)

    @classmethod
    def from_string(cls, text: str) -> PeerId:
        """Parse base58btc (``Qm…``, ``12D3KooW…``, ``1…``) or a CIDv1 libp2p-key in any multibase."""
        if not isinstance(text, str):
            raise ArgumentTypeError("PeerId.from_string takes a str")
        if not text or len(text) > _MAX_TEXT_LENGTH:
            raise InvalidPeerIdError("peer ID text is empty or too long")
        if text[0] in "Q1":
            try:
                raw = base58btc_decode(text)
            except DecodeError as exc:
                raise InvalidPeerIdError(f"invalid base58btc peer ID: {exc}") from None
            pid = cls(raw)
            pid._text = text  # base58btc has one spelling per byte string: the text is canonical
            return pid
        try:
            cid = decode_cid(text)
        except DecodeError as exc:
            raise InvalidPeerIdError(f"neither base58btc nor a CID: {exc}") from None
        if cid.version != 1 or cid.codec != LIBP2P_KEY:
            raise InvalidPeerIdError(f"CID is not a libp2p-key CIDv1 (codec 0x{cid.codec:x})")
        return cls(cid.multihash)

    @classmethod
    def from_public_key(cls, key: PublicKey) -> PeerId:
        """The peer ID of ``key`` (identity multihash for small keys, SHA-256 otherwise)."""
        encoded = key.marshal()
        n = len(encoded)
        # Well formed by construction: no _validate. Once per handshake: the identity multihash
        # (code and a one-byte length) without multihash_digest's calls.
        pid = cls.__new__(cls)
        pid._bytes = _IDENTITY_PREFIX[n] + encoded if n <= MAX_INLINE_KEY_LENGTH else multihash_digest(SHA2_256, encoded)
        pid._text = None
        pid._key = key
        return pid

    @property
    def public_key(self) -> PublicKey | None:
        """The public key when it is inlined (identity multihash), else ``None``."""
        if self._bytes[0] != IDENTITY:
            return None
        from libp2p.identity.keys import unmarshal_public_key

        return unmarshal_public_key(self._bytes[2:])

    def matches_public_key(self, key: PublicKey) -> bool:
        """Whether ``key`` is the key this ID was derived from (compare bytes, never text)."""
        if key is self._key:
            return True
        encoded = key.marshal()
        n = len(encoded)
        if n <= MAX_INLINE_KEY_LENGTH:
            return _IDENTITY_PREFIX[n] + encoded == self._bytes
        return multihash_digest(SHA2_256, encoded) == self._bytes

    def to_bytes(self) -> bytes:
        """The binary multihash."""
        return self._bytes

    def __bytes__(self) -> bytes:
        return self._bytes

    def to_base58(self) -> str:
        """The usual text form (``12D3Koo…``, ``Qm…``)."""
        text = self._text
        if text is None:
            text = self._text = base58btc_encode(self._bytes)
        return text

    def __str__(self) -> str:
        return self.to_base58()

    def to_cid(self) -> CID:
        """The peer ID as a CIDv1 with the libp2p-key codec."""
        return CID(1, LIBP2P_KEY, self._bytes)

    def to_cid_string(self, base: str = "base32") -> str:
        """The CIDv1 (libp2p-key) text form, base32 by default as the spec recommends."""
        return multibase_encode(base, b"\x01\x72" + self._bytes)

    def __repr__(self) -> str:
        return f"<PeerId {self.to_base58()}>"

    def __copy__(self) -> PeerId:
        return self

    def __deepcopy__(self, memo: object) -> PeerId:
        return self

    def __reduce__(self) -> tuple[type[PeerId], tuple[bytes]]:
        return (PeerId, (self._bytes,))
