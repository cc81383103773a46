"""multibase, multihash and CID: the parts of multiformats that libp2p needs.

Text encodings follow the multibase table (RFC 4648 bit-packing for base2/8/16/32/64, big-number
conversion with leading-zero digits for base10/36/58). Decoders are strict and raise only
``DecodeError`` subclasses.
"""

from __future__ import annotations

import base64
import binascii
import hashlib

from libp2p._accel import base58btc_decode as _b58_decode
from libp2p._accel import base58btc_encode as _b58_encode
from libp2p._accel import varint_decode, varint_encode
from libp2p.errors import CIDError, DecodeError, MultibaseError, MultihashError

__all__ = [
    "IDENTITY",
    "SHA2_256",
    "CIDV1",
    "LIBP2P_KEY",
    "DAG_PB",
    "RAW",
    "MAX_MULTIHASH_SIZE",
    "base58btc_encode",
    "base58btc_decode",
    "multibase_encode",
    "multibase_decode",
    "multibase_names",
    "multihash_encode",
    "multihash_digest",
    "parse_multihash",
    "CID",
    "decode_cid",
]

IDENTITY = 0x00
SHA2_256 = 0x12
CIDV1 = 0x01
LIBP2P_KEY = 0x72
DAG_PB = 0x70
RAW = 0x55
# Upper bound on a multihash we accept anywhere (a sha2-512 digest plus its header fits easily).
MAX_MULTIHASH_SIZE = 128

_B58FLICKR_ALPHABET = "123456789abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ"
_B36_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
_B10_ALPHABET = "0123456789"


class _BaseX:
    """Big-number base conversion; each leading zero byte is one leading zero digit."""

    __slots__ = ("alphabet", "base", "index", "zero")

    def __init__(self, alphabet: str) -> None:
        self.alphabet = alphabet
        self.base = len(alphabet)
        self.index = {c: i for i, c in enumerate(alphabet)}
        self.zero = alphabet[0]

    def encode(self, data: bytes) -> str:
        stripped = data.lstrip(b"\0")
        zeros = len(data) - len(stripped)
        n = int.from_bytes(stripped, "big")
        digits = []
        alphabet = self.alphabet
        base = self.base
        while n:
            n, r = divmod(n, base)
            digits.append(alphabet[r])
        return self.zero * zeros + "".join(reversed(digits))

    def decode(self, text: str) -> bytes:
        zeros = len(text) - len(text.lstrip(self.zero))
        n = 0
        base = self.base
        index = self.index
        try:
            for c in text[zeros:]:
                n = n * base + index[c]
        except KeyError:
            raise MultibaseError(f"invalid base{base} character") from None
        body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
        return b"\0" * zeros + body


class _Base58Twin:
    """base58btc through the accelerated twin, with the codec interface of the table below."""

    __slots__ = ()

    def encode(self, data: bytes) -> str:
        return _b58_encode(data)

    def decode(self, text: str) -> bytes:
        return _b58_decode(text)


_B58 = _Base58Twin()
_B58FLICKR = _BaseX(_B58FLICKR_ALPHABET)
_B36 = _BaseX(_B36_ALPHABET)
_B10 = _BaseX(_B10_ALPHABET)


def base58btc_encode(data: bytes | bytearray | memoryview) -> str:
    return _b58_encode(data)


def base58btc_decode(text: str) -> bytes:
    return _b58_decode(text)


class _Rfc4648:
    """RFC 4648 bit-packing for any power-of-two alphabet, strict about trailing bits."""

    __slots__ = ("alphabet", "bits", "index", "pad")

    def __init__(self, alphabet: str, bits: int, pad: bool) -> None:
        self.alphabet = alphabet
        self.bits = bits
        self.index = {c: i for i, c in enumerate(alphabet)}
        self.pad = pad

    def encode(self, data: bytes) -> str:
        bits = self.bits
        mask = (1 << bits) - 1
        out = []
        acc = 0
        nbits = 0
        for byte in data:
            acc = (acc << 8) | byte
            nbits += 8
            while nbits >= bits:
                nbits -= bits
                out.append(self.alphabet[(acc >> nbits) & mask])
        if nbits:
            out.append(self.alphabet[(acc << (bits - nbits)) & mask])
        if self.pad:
            while (len(out) * bits) % 8:
                out.append("=")
        return "".join(out)

    def decode(self, text: str) -> bytes:
        if self.pad:
            text = text.rstrip("=")
        bits = self.bits
        index = self.index
        out = bytearray()
        acc = 0
        nbits = 0
        for c in text:
            v = index.get(c)
            if v is None:
                raise MultibaseError("invalid character for this base")
            acc = ((acc << bits) | v) & 0xFFFF
            nbits += bits
            if nbits >= 8:
                nbits -= 8
                out.append((acc >> nbits) & 0xFF)
        if nbits >= bits or (acc & ((1 << nbits) - 1)):
            raise MultibaseError("unexpected end of data (non-zero or excess trailing bits)")
        return bytes(out)


_B32 = "abcdefghijklmnopqrstuvwxyz234567"
_B32HEX = "0123456789abcdefghijklmnopqrstuv"
_B32Z = "ybndrfg8ejkmcpqxot1uwisza345h769"
_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

# name -> (prefix, codec). Upper-case variants decode by lower-casing the text.
_Codec = _BaseX | _Rfc4648 | _Base58Twin
_BASES: dict[str, tuple[str, _Codec, bool]] = {
    # name: (prefix, codec, upper)
    "base2": ("0", _Rfc4648("01", 1, False), False),
    "base8": ("7", _Rfc4648("01234567", 3, False), False),
    "base10": ("9", _B10, False),
    "base16": ("f", _Rfc4648("0123456789abcdef", 4, False), False),
    "base16upper": ("F", _Rfc4648("0123456789abcdef", 4, False), True),
    "base32hex": ("v", _Rfc4648(_B32HEX, 5, False), False),
    "base32hexupper": ("V", _Rfc4648(_B32HEX, 5, False), True),
    "base32hexpad": ("t", _Rfc4648(_B32HEX, 5, True), False),
    "base32hexpadupper": ("T", _Rfc4648(_B32HEX, 5, True), True),
    "base32": ("b", _Rfc4648(_B32, 5, False), False),
    "base32upper": ("B", _Rfc4648(_B32, 5, False), True),
    "base32pad": ("c", _Rfc4648(_B32, 5, True), False),
    "base32padupper": ("C", _Rfc4648(_B32, 5, True), True),
    "base32z": ("h", _Rfc4648(_B32Z, 5, False), False),
    "base36": ("k", _B36, False),
    "base36upper": ("K", _B36, True),
    "base58btc": ("z", _B58, False),
    "base58flickr": ("Z", _B58FLICKR, False),
    "base64": ("m", _Rfc4648(_B64, 6, False), False),
    "base64pad": ("M", _Rfc4648(_B64, 6, True), False),
    "base64url": ("u", _Rfc4648(_B64URL, 6, False), False),
    "base64urlpad": ("U", _Rfc4648(_B64URL, 6, True), False),
}
_BY_PREFIX = {prefix: (name, codec, upper) for name, (prefix, codec, upper) in _BASES.items()}


def multibase_names() -> list[str]:
    return list(_BASES)


def multibase_encode(name: str, data: bytes | bytearray | memoryview) -> str:
    """Multibase text of ``data`` in the base called ``name`` (e.g. "base32", "base58btc")."""
    try:
        prefix, codec, upper = _BASES[name]
    except KeyError:
        raise MultibaseError(f"unknown multibase {name!r}") from None
    raw = bytes(data)
    if name == "base32":  # the common case, done by the C code in binascii
        return "b" + base64.b32encode(raw).decode("ascii").rstrip("=").lower()
    text = codec.encode(raw)
    return prefix + (text.upper() if upper else text)


def multibase_decode(text: str) -> bytes:
    """Decode multibase text (prefix character selects the base)."""
    if not text:
        raise MultibaseError("empty multibase string")
    entry = _BY_PREFIX.get(text[0])
    if entry is None:
        raise MultibaseError(f"unknown multibase prefix {text[0]!r}")
    name, codec, upper = entry
    body = text[1:]
    if upper:
        if body != body.upper():
            raise MultibaseError(f"{name} text must be upper case")
        body = body.lower()
    if name == "base32":
        if body != body.lower():
            raise MultibaseError("base32 text must be lower case")
        if not body.isascii() or "=" in body:
            raise MultibaseError("invalid base32 character")
        try:
            out = base64.b32decode(body.upper() + "=" * (-len(body) % 8))
        except (binascii.Error, ValueError):
            raise MultibaseError("invalid base32 text") from None
        if multibase_encode("base32", out) != text:  # reject non-canonical trailing bits
            raise MultibaseError("non-canonical base32 text")
        return out
    return codec.decode(body)


def multihash_encode(code: int, digest: bytes) -> bytes:
    return varint_encode(code) + varint_encode(len(digest)) + digest


def multihash_digest(code: int, data: bytes) -> bytes:
    """The multihash of ``data`` with the hash function ``code`` (identity or sha2-256)."""
    if code == IDENTITY:
        return multihash_encode(IDENTITY, data)
    if code == SHA2_256:
        return multihash_encode(SHA2_256, hashlib.sha256(data).digest())
    raise MultihashError(f"unsupported multihash function 0x{code:x}")


def parse_multihash(data: bytes | bytearray | memoryview) -> tuple[int, bytes]:
    """Split a whole multihash into ``(code, digest)``, checking its declared length."""
    if len(data) > MAX_MULTIHASH_SIZE:
        raise MultihashError(f"multihash longer than {MAX_MULTIHASH_SIZE} bytes")
    try:
        code, pos = varint_decode(data, 0)
        length, pos = varint_decode(data, pos)
    except DecodeError as exc:
        raise MultihashError(f"bad multihash header: {exc}") from None
    if length != len(data) - pos:
        raise MultihashError(f"multihash declares {length} digest bytes but has {len(data) - pos}")
    return code, bytes(data[pos:])


class CID:
    """A parsed CID: version, content codec and multihash bytes."""

    __slots__ = ("version", "codec", "multihash")

    def __init__(self, version: int, codec: int, multihash: bytes) -> None:
        self.version = version
        self.codec = codec
        self.multihash = multihash

    def __bytes__(self) -> bytes:
        if self.version == 0:
            return self.multihash
        return varint_encode(self.version) + varint_encode(self.codec) + self.multihash

    def encode(self, base: str = "base32") -> str:
        if self.version == 0:
            return base58btc_encode(self.multihash)
        return multibase_encode(base, bytes(self))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CID) and bytes(self) == bytes(other)

    def __hash__(self) -> int:
        return hash(bytes(self))

    def __repr__(self) -> str:
        return f"CID({self.encode()!r})"


def decode_cid(value: str | bytes | bytearray | memoryview) -> CID:
    """Parse a CID from text (CIDv0 ``Qm…`` or multibase CIDv1) or binary."""
    if isinstance(value, str):
        if len(value) == 46 and value.startswith("Qm"):
            try:
                raw = base58btc_decode(value)
            except MultibaseError as exc:
                raise CIDError(f"bad CIDv0: {exc}") from None
        else:
            try:
                raw = multibase_decode(value)
            except MultibaseError as exc:
                raise CIDError(f"bad CID text: {exc}") from None
    else:
        raw = bytes(value)
    if len(raw) == 34 and raw[0] == SHA2_256 and raw[1] == 32:
        return CID(0, DAG_PB, raw)
    try:
        version, pos = varint_decode(raw, 0)
        codec, pos = varint_decode(raw, pos)
    except DecodeError as exc:
        raise CIDError(f"bad CID header: {exc}") from None
    if version != 1:
        raise CIDError(f"unsupported CID version {version}")
    mh = raw[pos:]
    try:
        parse_multihash(mh)
    except MultihashError as exc:
        raise CIDError(f"bad multihash in CID: {exc}") from None
    return CID(1, codec, mh)
