"""libp2p cryptographic keys: Ed25519, secp256k1, ECDSA (P-256) and RSA.

Wire format (libp2p/specs peer-ids.md): a key travels as the protobuf
``PublicKey``/``PrivateKey`` = ``08 <type> 12 <uvarint len> <Data>``. The public form is
hashed into peer IDs, so it must be byte-exact: :func:`unmarshal_public_key` and
:func:`unmarshal_private_key` accept only that canonical form (fields in tag order, minimal
varints, nothing else), and the DER inside ECDSA/RSA keys only in the canonical DER the
libraries re-encode to. Every malformed input raises a :class:`~libp2p.errors.DecodeError`
subclass: :class:`~libp2p.errors.UnsupportedKeyTypeError` for an unknown key type and
:class:`~libp2p.errors.InvalidKeyError` for anything else.

Libraries, chosen by measurement (see ``benchmarks/bench_keys.py``): PyNaCl (libsodium) for
Ed25519, coincurve (libsecp256k1) for secp256k1, pyca/cryptography for ECDSA P-256 and RSA.
"""

from __future__ import annotations

import abc
import enum
import functools
import hashlib
import hmac
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Final

import nacl.signing

from libp2p._accel import ED25519_PUBLIC_KEY_PREFIX, ed25519_verify, varint_decode, varint_encode
from libp2p.errors import DecodeError, InvalidKeyError, LocalProtocolError, UnsupportedKeyTypeError

if TYPE_CHECKING:
    import coincurve
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

__all__ = [
    "MAX_PRIVATE_KEY_DATA",
    "MAX_PUBLIC_KEY_DATA",
    "RSA_MAX_BITS",
    "RSA_MIN_BITS",
    "EcdsaPrivateKey",
    "EcdsaPublicKey",
    "Ed25519PrivateKey",
    "Ed25519PublicKey",
    "KeyType",
    "PrivateKey",
    "PublicKey",
    "RsaPrivateKey",
    "RsaPublicKey",
    "Secp256k1PrivateKey",
    "Secp256k1PublicKey",
    "generate_key_pair",
    "unmarshal_private_key",
    "unmarshal_public_key",
]

Bytes = bytes | bytearray | memoryview

# An 8192-bit RSA key is ~1.1 KiB as SubjectPublicKeyInfo and ~4.7 KiB as PKCS#1, so these
# bounds admit every accepted key and stop a peer from making us parse megabytes of DER.
MAX_PUBLIC_KEY_DATA: Final = 8 * 1024
MAX_PRIVATE_KEY_DATA: Final = 16 * 1024
# go-libp2p's bounds (core/crypto/rsa_common.go).
RSA_MIN_BITS: Final = 2048
RSA_MAX_BITS: Final = 8192

_ED25519_SEED_LEN: Final = 32
_ED25519_PUB_LEN: Final = 32
_ED25519_SIG_LEN: Final = 64
_SECP256K1_SCALAR_LEN: Final = 32
# libsecp256k1 DER signatures are at most 72 bytes; anything longer cannot parse.
_SECP256K1_MAX_SIG_LEN: Final = 72


class KeyType(enum.IntEnum):
    """The ``KeyType`` enum of the key protobufs."""

    RSA = 0
    Ed25519 = 1
    Secp256k1 = 2
    ECDSA = 3


# --- the key protobuf -----------------------------------------------------------------------


def _encode_key_pb(key_type: KeyType, data: bytes) -> bytes:
    # Field 1 (varint) then field 2 (bytes), Type written even when 0: the canonical form.
    return b"\x08" + varint_encode(int(key_type)) + b"\x12" + varint_encode(len(data)) + data


def _decode_key_pb(data: Bytes, max_data: int, what: str) -> tuple[KeyType, bytes]:
    buf = memoryview(data).cast("B") if not isinstance(data, bytes) else data
    n = len(buf)
    # 1 tag + ≤ 9 varint + 1 tag + ≤ 9 varint + data: reject before touching anything.
    if n > max_data + 20:
        raise InvalidKeyError(f"{what} protobuf of {n} bytes is too long")
    try:
        if n == 0 or buf[0] != 0x08:
            raise InvalidKeyError(f"{what} protobuf must start with the Type field (0x08)")
        type_code, pos = varint_decode(buf, 1)
        if pos >= n or buf[pos] != 0x12:
            raise InvalidKeyError(f"{what} protobuf must have the Data field (0x12) after Type")
        length, pos = varint_decode(buf, pos + 1)
    except InvalidKeyError:
        raise
    except DecodeError as exc:
        raise InvalidKeyError(f"malformed {what} protobuf: {exc}") from exc
    if length > max_data:
        raise InvalidKeyError(f"{what} data of {length} bytes exceeds the {max_data}-byte limit")
    if pos + length != n:
        if pos + length > n:
            raise InvalidKeyError(f"{what} protobuf is truncated")
        raise InvalidKeyError(f"{what} protobuf has trailing bytes (not canonical)")
    try:
        key_type = KeyType(type_code)
    except ValueError:
        raise UnsupportedKeyTypeError(f"unsupported key type {type_code}") from None
    return key_type, bytes(buf[pos:n])


def unmarshal_public_key(data: Bytes) -> PublicKey:
    """Decode a ``PublicKey`` protobuf (canonical form only)."""
    key_type, raw = _decode_key_pb(data, MAX_PUBLIC_KEY_DATA, "public key")
    return _PUBLIC_CLASSES[key_type].from_raw(raw)


def unmarshal_private_key(data: Bytes) -> PrivateKey:
    """Decode a ``PrivateKey`` protobuf (canonical form only)."""
    key_type, raw = _decode_key_pb(data, MAX_PRIVATE_KEY_DATA, "private key")
    return _PRIVATE_CLASSES[key_type].from_raw(raw)


def generate_key_pair(key_type: KeyType = KeyType.Ed25519, *, bits: int = 2048) -> PrivateKey:
    """Generate a new private key; ``bits`` applies to RSA only (2048..8192)."""
    if key_type == KeyType.Ed25519:
        return Ed25519PrivateKey(nacl.signing.SigningKey.generate())
    if key_type == KeyType.Secp256k1:
        return Secp256k1PrivateKey(_coincurve().PrivateKey())
    if key_type == KeyType.ECDSA:
        ec_ = _pyca().ec
        return EcdsaPrivateKey(ec_.generate_private_key(ec_.SECP256R1()))
    if key_type == KeyType.RSA:
        if not RSA_MIN_BITS <= bits <= RSA_MAX_BITS:
            raise LocalProtocolError(f"RSA key size must be {RSA_MIN_BITS}..{RSA_MAX_BITS} bits, not {bits}")
        return RsaPrivateKey(_pyca().rsa.generate_private_key(public_exponent=65537, key_size=bits))
    raise LocalProtocolError(f"cannot generate keys of type {key_type!r}")


# --- abstract keys --------------------------------------------------------------------------


class PublicKey(abc.ABC):
    """A public key; equal and hashed by its protobuf encoding."""

    __slots__ = ("_marshaled",)

    def __init__(self) -> None:
        self._marshaled: bytes | None = None

    @property
    @abc.abstractmethod
    def key_type(self) -> KeyType:
        """The key's algorithm."""

    @classmethod
    @abc.abstractmethod
    def from_raw(cls, data: bytes) -> PublicKey:
        """Build the key from the protobuf's Data field; raise InvalidKeyError if malformed."""

    @abc.abstractmethod
    def raw(self) -> bytes:
        """The Data field of the ``PublicKey`` protobuf."""

    @abc.abstractmethod
    def verify(self, data: Bytes, signature: Bytes) -> bool:
        """True iff ``signature`` is a valid signature of ``data``; never raises for bad input."""

    def marshal(self) -> bytes:
        """The canonical ``PublicKey`` protobuf (what peer IDs hash)."""
        m = self._marshaled
        if m is None:
            m = self._marshaled = _encode_key_pb(self.key_type, self.raw())
        return m

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PublicKey):
            return NotImplemented
        return self.marshal() == other.marshal()

    def __hash__(self) -> int:
        return hash(self.marshal())

    def __repr__(self) -> str:
        raw = self.raw()
        shown = raw.hex() if len(raw) <= 33 else "sha256:" + hashlib.sha256(raw).hexdigest()[:16]
        return f"<{type(self).__name__} {shown}>"


class PrivateKey(abc.ABC):
    """A private key; equal by its protobuf encoding, hashed by its public key."""

    __slots__ = ("_public",)

    def __init__(self) -> None:
        self._public: PublicKey | None = None

    @property
    @abc.abstractmethod
    def key_type(self) -> KeyType:
        """The key's algorithm."""

    @classmethod
    @abc.abstractmethod
    def from_raw(cls, data: bytes) -> PrivateKey:
        """Build the key from the protobuf's Data field; raise InvalidKeyError if malformed."""

    @abc.abstractmethod
    def raw(self) -> bytes:
        """The Data field of the ``PrivateKey`` protobuf."""

    @abc.abstractmethod
    def sign(self, data: Bytes) -> bytes:
        """Sign ``data`` with the libp2p signature scheme of this key type."""

    @abc.abstractmethod
    def _derive_public(self) -> PublicKey: ...

    @property
    def public_key(self) -> PublicKey:
        """The matching public key."""
        pub = self._public
        if pub is None:
            pub = self._public = self._derive_public()
        return pub

    def marshal(self) -> bytes:
        """The ``PrivateKey`` protobuf."""
        return _encode_key_pb(self.key_type, self.raw())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PrivateKey):
            return NotImplemented
        return hmac.compare_digest(self.marshal(), other.marshal())

    def __hash__(self) -> int:
        # Hash the public half: equal private keys have equal public keys, and no secret
        # material goes into a hash value.
        return hash(self.public_key)

    def __repr__(self) -> str:
        # Never show secret material.
        return f"<{type(self).__name__} public={self.public_key!r}>"


# --- Ed25519 (PyNaCl) -----------------------------------------------------------------------


class Ed25519PublicKey(PublicKey):
    # Only the 32 raw bytes: verification goes to libsodium through the ``ed25519_verify`` twin,
    # so no PyNaCl ``VerifyKey`` is built per key (a Noise handshake makes one key per peer).
    __slots__ = ("_raw",)

    def __init__(self, key: nacl.signing.VerifyKey | bytes) -> None:
        super().__init__()
        raw = bytes(key)
        if len(raw) != _ED25519_PUB_LEN:
            raise InvalidKeyError(f"Ed25519 public key must be 32 bytes, not {len(raw)}")
        self._raw = raw

    @property
    def key_type(self) -> KeyType:
        return KeyType.Ed25519

    @classmethod
    def from_raw(cls, data: bytes) -> Ed25519PublicKey:
        # Like go, any 32 bytes are accepted; an invalid point simply never verifies.
        if len(data) != _ED25519_PUB_LEN:
            raise InvalidKeyError(f"Ed25519 public key must be 32 bytes, not {len(data)}")
        return cls(bytes(data))

    @classmethod
    def from_marshaled(cls, data: bytes) -> Ed25519PublicKey:
        """The key of a canonical Ed25519 ``PublicKey`` protobuf (``08 01 12 20`` + 32 bytes),
        which is kept as the key's ``marshal()``: no re-encoding for its peer ID."""
        if len(data) != 4 + _ED25519_PUB_LEN or not data.startswith(ED25519_PUBLIC_KEY_PREFIX):
            raise InvalidKeyError("not a canonical Ed25519 PublicKey protobuf")
        # Both slots set here: no __init__ chain per handshake.
        key = cls.__new__(cls)
        key._raw = bytes(data[4:])
        key._marshaled = bytes(data)
        return key

    def raw(self) -> bytes:
        return self._raw

    def verify(self, data: Bytes, signature: Bytes) -> bool:
        return ed25519_verify(self._raw, data, signature)


class Ed25519PrivateKey(PrivateKey):
    __slots__ = ("_key",)

    def __init__(self, key: nacl.signing.SigningKey) -> None:
        super().__init__()
        self._key = key

    @property
    def key_type(self) -> KeyType:
        return KeyType.Ed25519

    @classmethod
    def from_seed(cls, seed: Bytes) -> Ed25519PrivateKey:
        """The key of a 32-byte RFC 8032 seed."""
        if len(seed) != _ED25519_SEED_LEN:
            raise InvalidKeyError(f"Ed25519 seed must be 32 bytes, not {len(seed)}")
        return cls(nacl.signing.SigningKey(bytes(seed)))

    @classmethod
    def from_raw(cls, data: bytes) -> Ed25519PrivateKey:
        # 64 bytes seed||pub; legacy 96 bytes seed||pub||pub (an old go bug, issue #36).
        n = len(data)
        if n == _ED25519_SEED_LEN + 2 * _ED25519_PUB_LEN:
            if not hmac.compare_digest(data[32:64], data[64:96]):
                raise InvalidKeyError("legacy 96-byte Ed25519 private key has two different public keys")
        elif n != _ED25519_SEED_LEN + _ED25519_PUB_LEN:
            raise InvalidKeyError(f"Ed25519 private key must be 64 bytes, not {n}")
        key = cls(nacl.signing.SigningKey(bytes(data[:32])))
        # The stored public half must belong to the seed, or we would sign as someone else.
        if not hmac.compare_digest(bytes(key._key.verify_key), data[32:64]):
            raise InvalidKeyError("Ed25519 private key: public half does not match the seed")
        return key

    def raw(self) -> bytes:
        # Canonical 64-byte form, also for keys read from the legacy 96-byte form.
        return bytes(self._key) + bytes(self._key.verify_key)

    def seed(self) -> bytes:
        return bytes(self._key)

    def sign(self, data: Bytes) -> bytes:
        return bytes(self._key.sign(bytes(data)).signature)

    def _derive_public(self) -> Ed25519PublicKey:
        return Ed25519PublicKey(self._key.verify_key)


# --- secp256k1 (coincurve) ------------------------------------------------------------------


def _coincurve() -> Any:
    # Imported on first use (~20 ms): most processes only ever see Ed25519 keys.
    import coincurve

    return coincurve


class Secp256k1PublicKey(PublicKey):
    __slots__ = ("_key", "_raw")

    def __init__(self, key: coincurve.PublicKey) -> None:
        super().__init__()
        self._key = key
        self._raw = key.format(compressed=True)

    @property
    def key_type(self) -> KeyType:
        return KeyType.Secp256k1

    @classmethod
    def from_raw(cls, data: bytes) -> Secp256k1PublicKey:
        # 33-byte compressed is the libp2p form; go (btcec) also parses the 65-byte
        # uncompressed form, so do we, and re-encode it compressed.
        if len(data) not in (33, 65):
            raise InvalidKeyError(f"secp256k1 public key must be 33 or 65 bytes, not {len(data)}")
        try:
            key = _coincurve().PublicKey(bytes(data))
        except Exception as exc:  # coincurve raises ValueError; wrap whatever it raises
            raise InvalidKeyError(f"invalid secp256k1 public key: {exc}") from exc
        return cls(key)

    def raw(self) -> bytes:
        return self._raw

    def verify(self, data: Bytes, signature: Bytes) -> bool:
        if len(signature) > _SECP256K1_MAX_SIG_LEN:
            return False
        msg = bytes(data)
        sig = bytes(signature)
        try:
            if self._key.verify(sig, msg):
                return True
            # libsecp256k1 only accepts low-S signatures; go-libp2p (btcec) accepts both,
            # so retry once with S normalized. Only failures pay for this.
            from coincurve.ecdsa import cdata_to_der, der_to_cdata, signature_normalize

            was_high, normalized = signature_normalize(der_to_cdata(sig))
            if not was_high:
                return False
            return bool(self._key.verify(cdata_to_der(normalized), msg))
        except ValueError:  # malformed DER
            return False


class Secp256k1PrivateKey(PrivateKey):
    __slots__ = ("_key",)

    def __init__(self, key: coincurve.PrivateKey) -> None:
        super().__init__()
        self._key = key

    @property
    def key_type(self) -> KeyType:
        return KeyType.Secp256k1

    @classmethod
    def from_raw(cls, data: bytes) -> Secp256k1PrivateKey:
        if len(data) != _SECP256K1_SCALAR_LEN:
            raise InvalidKeyError(f"secp256k1 private key must be 32 bytes, not {len(data)}")
        try:
            key = _coincurve().PrivateKey(bytes(data))
        except Exception as exc:  # zero or ≥ the group order
            raise InvalidKeyError(f"invalid secp256k1 private key: {exc}") from exc
        return cls(key)

    def raw(self) -> bytes:
        return bytes(self._key.secret)

    def sign(self, data: Bytes) -> bytes:
        # ECDSA over SHA-256, RFC 6979 nonces, low-S, DER: what go and js produce.
        return bytes(self._key.sign(bytes(data)))

    def _derive_public(self) -> Secp256k1PublicKey:
        return Secp256k1PublicKey(self._key.public_key)


# --- ECDSA P-256 and RSA (cryptography) -----------------------------------------------------

@functools.cache
def _pyca() -> Any:
    """pyca/cryptography's key modules, imported on first use of an ECDSA or RSA key: ~20 modules
    and ~8 ms that a process seeing only Ed25519 keys (the default) never needs."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    sha256 = hashes.SHA256()
    return SimpleNamespace(
        InvalidSignature=InvalidSignature, serialization=serialization, ec=ec, rsa=rsa,
        SHA256=sha256, ECDSA_SHA256=ec.ECDSA(sha256), PKCS1V15=padding.PKCS1v15(),
    )


def _load_der_public(data: bytes, what: str) -> object:
    try:
        return _pyca().serialization.load_der_public_key(data)
    except Exception as exc:  # ValueError, UnsupportedAlgorithm, ...: all mean bad bytes
        raise InvalidKeyError(f"invalid {what} public key DER: {exc}") from exc


def _load_der_private(data: bytes, what: str) -> object:
    try:
        return _pyca().serialization.load_der_private_key(data, password=None)
    except Exception as exc:
        raise InvalidKeyError(f"invalid {what} private key DER: {exc}") from exc


def _spki_der(key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey) -> bytes:
    serialization = _pyca().serialization
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _traditional_der(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    # SEC1 ECPrivateKey for EC, PKCS#1 RSAPrivateKey for RSA: the formats go marshals.
    serialization = _pyca().serialization
    return key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def _require_canonical(data: bytes, canonical: bytes, what: str) -> None:
    # cryptography also loads other encodings (PKCS#8, PKCS#1 public keys, compressed points);
    # we accept only the one go writes, byte for byte.
    if data != canonical:
        raise InvalidKeyError(f"{what} is not in the canonical DER form")


class EcdsaPublicKey(PublicKey):
    """ECDSA public key on P-256; Data is DER SubjectPublicKeyInfo."""

    __slots__ = ("_key", "_raw")

    def __init__(self, key: ec.EllipticCurvePublicKey) -> None:
        super().__init__()
        if not isinstance(key.curve, _pyca().ec.SECP256R1):
            raise InvalidKeyError(f"ECDSA curve {key.curve.name} is not supported (P-256 only)")
        self._key = key
        self._raw = _spki_der(key)

    @property
    def key_type(self) -> KeyType:
        return KeyType.ECDSA

    @classmethod
    def from_raw(cls, data: bytes) -> EcdsaPublicKey:
        key = _load_der_public(bytes(data), "ECDSA")
        if not isinstance(key, _pyca().ec.EllipticCurvePublicKey):
            raise InvalidKeyError("ECDSA public key DER holds a non-EC key")
        pub = cls(key)
        _require_canonical(bytes(data), pub._raw, "ECDSA public key")
        return pub

    def raw(self) -> bytes:
        return self._raw

    def verify(self, data: Bytes, signature: Bytes) -> bool:
        pyca = _pyca()
        try:
            self._key.verify(bytes(signature), bytes(data), pyca.ECDSA_SHA256)
        except (pyca.InvalidSignature, ValueError):  # bad signature, or malformed DER
            return False
        return True


class EcdsaPrivateKey(PrivateKey):
    """ECDSA private key on P-256; Data is DER SEC1 ECPrivateKey (with curve and public key)."""

    __slots__ = ("_key", "_raw")

    def __init__(self, key: ec.EllipticCurvePrivateKey) -> None:
        super().__init__()
        if not isinstance(key.curve, _pyca().ec.SECP256R1):
            raise InvalidKeyError(f"ECDSA curve {key.curve.name} is not supported (P-256 only)")
        self._key = key
        self._raw = _traditional_der(key)

    @property
    def key_type(self) -> KeyType:
        return KeyType.ECDSA

    @classmethod
    def from_raw(cls, data: bytes) -> EcdsaPrivateKey:
        key = _load_der_private(bytes(data), "ECDSA")
        if not isinstance(key, _pyca().ec.EllipticCurvePrivateKey):
            raise InvalidKeyError("ECDSA private key DER holds a non-EC key")
        priv = cls(key)
        _require_canonical(bytes(data), priv._raw, "ECDSA private key")
        return priv

    def raw(self) -> bytes:
        return self._raw

    def sign(self, data: Bytes) -> bytes:
        return self._key.sign(bytes(data), _pyca().ECDSA_SHA256)

    def _derive_public(self) -> EcdsaPublicKey:
        return EcdsaPublicKey(self._key.public_key())


def _check_rsa_bits(bits: int) -> None:
    if not RSA_MIN_BITS <= bits <= RSA_MAX_BITS:
        raise InvalidKeyError(f"RSA key of {bits} bits is outside {RSA_MIN_BITS}..{RSA_MAX_BITS}")


class RsaPublicKey(PublicKey):
    """RSA public key (2048..8192 bits); Data is DER SubjectPublicKeyInfo."""

    __slots__ = ("_key", "_raw")

    def __init__(self, key: rsa.RSAPublicKey) -> None:
        super().__init__()
        _check_rsa_bits(key.key_size)
        self._key = key
        self._raw = _spki_der(key)

    @property
    def key_type(self) -> KeyType:
        return KeyType.RSA

    @classmethod
    def from_raw(cls, data: bytes) -> RsaPublicKey:
        key = _load_der_public(bytes(data), "RSA")
        if not isinstance(key, _pyca().rsa.RSAPublicKey):
            raise InvalidKeyError("RSA public key DER holds a non-RSA key")
        pub = cls(key)
        _require_canonical(bytes(data), pub._raw, "RSA public key")
        return pub

    @property
    def bits(self) -> int:
        return self._key.key_size

    def raw(self) -> bytes:
        return self._raw

    def verify(self, data: Bytes, signature: Bytes) -> bool:
        pyca = _pyca()
        try:
            self._key.verify(bytes(signature), bytes(data), pyca.PKCS1V15, pyca.SHA256)
        except (pyca.InvalidSignature, ValueError):  # bad signature, or one of the wrong length
            return False
        return True


class RsaPrivateKey(PrivateKey):
    """RSA private key (2048..8192 bits); Data is DER PKCS#1 RSAPrivateKey."""

    __slots__ = ("_key", "_raw")

    def __init__(self, key: rsa.RSAPrivateKey) -> None:
        super().__init__()
        _check_rsa_bits(key.key_size)
        self._key = key
        self._raw: bytes | None = None

    @property
    def key_type(self) -> KeyType:
        return KeyType.RSA

    @classmethod
    def from_raw(cls, data: bytes) -> RsaPrivateKey:
        key = _load_der_private(bytes(data), "RSA")
        if not isinstance(key, _pyca().rsa.RSAPrivateKey):
            raise InvalidKeyError("RSA private key DER holds a non-RSA key")
        priv = cls(key)
        _require_canonical(bytes(data), priv.raw(), "RSA private key")
        return priv

    @property
    def bits(self) -> int:
        return self._key.key_size

    def raw(self) -> bytes:
        r = self._raw
        if r is None:
            r = self._raw = _traditional_der(self._key)
        return r

    def sign(self, data: Bytes) -> bytes:
        pyca = _pyca()
        return self._key.sign(bytes(data), pyca.PKCS1V15, pyca.SHA256)

    def _derive_public(self) -> RsaPublicKey:
        return RsaPublicKey(self._key.public_key())


_PUBLIC_CLASSES: Final[dict[KeyType, type[PublicKey]]] = {
    KeyType.RSA: RsaPublicKey,
    KeyType.Ed25519: Ed25519PublicKey,
    KeyType.Secp256k1: Secp256k1PublicKey,
    KeyType.ECDSA: EcdsaPublicKey,
}
_PRIVATE_CLASSES: Final[dict[KeyType, type[PrivateKey]]] = {
    KeyType.RSA: RsaPrivateKey,
    KeyType.Ed25519: Ed25519PrivateKey,
    KeyType.Secp256k1: Secp256k1PrivateKey,
    KeyType.ECDSA: EcdsaPrivateKey,
}
