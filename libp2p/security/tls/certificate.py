"""The libp2p TLS certificate: generate one per host identity, verify the peer's.

A certificate is self-signed by a fresh ECDSA P-256 key that has nothing to do with the host
key; the host key vouches for it in the libp2p Public Key Extension
(OID 1.3.6.1.4.1.53594.1.1), whose value is the DER ``SignedKey`` sequence::

    SignedKey ::= SEQUENCE { publicKey OCTET STRING, signature OCTET STRING }

``publicKey`` is the host key's protobuf (``PublicKey.marshal()``), ``signature`` the host key's
signature over ``b"libp2p-tls-handshake:" + DER SubjectPublicKeyInfo`` of the certificate key.

Pure computation: the time comes in as ``now`` (an aware ``datetime``).
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from libp2p.errors import CryptoKeyError, DecodeError, InvalidArgumentError
from libp2p.identity.keys import unmarshal_public_key
from libp2p.identity.peer_id import PeerId
from libp2p.security.tls.config import EXTENSION_OID, SIGNATURE_PREFIX
from libp2p.security.tls.errors import (
    CertificateChainError,
    CertificateExpiredError,
    DuplicateExtensionError,
    InvalidCertificateSignatureError,
    InvalidSignedKeyError,
    MalformedCertificateError,
    MissingCertificateError,
    MissingExtensionError,
    UnknownCriticalExtensionError,
)

if TYPE_CHECKING:
    from libp2p.identity.keys import PrivateKey, PublicKey

__all__ = [
    "LIBP2P_EXTENSION",
    "CERTIFICATE_LIFETIME",
    "HostCertificate",
    "VerifiedPeer",
    "encode_signed_key",
    "decode_signed_key",
    "generate_certificate",
    "verify_certificate",
    "verify_certificate_chain",
]

LIBP2P_EXTENSION = x509.ObjectIdentifier(EXTENSION_OID)
#: go-libp2p's lifetime: ~100 years, starting an hour in the past to allow for clock skew.
CERTIFICATE_LIFETIME = dt.timedelta(days=365 * 100)
_CLOCK_SKEW = dt.timedelta(hours=1)
# Bounds for the extension's two fields: an RSA-4096 host key protobuf is ~550 bytes, its
# signature 512; anything much larger is not a libp2p key.
_MAX_PUBLIC_KEY = 8192
_MAX_SIGNATURE = 2048
_MAX_CERTIFICATE = 16 * 1024


class VerifiedPeer:
    """Who a verified certificate authenticates."""

    __slots__ = ("public_key", "peer_id")

    def __init__(self, public_key: PublicKey) -> None:
        self.public_key = public_key
        self.peer_id = PeerId.from_public_key(public_key)

    def __repr__(self) -> str:
        return f"VerifiedPeer({self.peer_id})"


# --- DER for SignedKey (two octet strings in a sequence; strict, bounded) --------------------


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _der_tlv(tag: int, value: bytes) -> bytes:
    return bytes([tag]) + _der_length(len(value)) + value


def encode_signed_key(public_key: bytes, signature: bytes) -> bytes:
    """DER ``SignedKey``: ``SEQUENCE { OCTET STRING publicKey, OCTET STRING signature }``."""
    return _der_tlv(0x30, _der_tlv(0x04, public_key) + _der_tlv(0x04, signature))


def _read_tlv(data: bytes, pos: int, tag: int, limit: int) -> tuple[bytes, int]:
    """One DER element of type ``tag`` at ``pos``: its value and the position after it."""
    if pos + 2 > len(data):
        raise MalformedCertificateError("SignedKey: truncated element")
    if data[pos] != tag:
        raise MalformedCertificateError(f"SignedKey: expected tag {tag:#x}, found {data[pos]:#x}")
    first = data[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 3 or pos + count > len(data):
            raise MalformedCertificateError("SignedKey: bad length")
        length = int.from_bytes(data[pos : pos + count], "big")
        if length < 0x80 or data[pos] == 0:
            raise MalformedCertificateError("SignedKey: length not minimally encoded")
        pos += count
    if length > limit:
        raise MalformedCertificateError(f"SignedKey: element of {length} bytes exceeds {limit}")
    end = pos + length
    if end > len(data):
        raise MalformedCertificateError("SignedKey: truncated element")
    return data[pos:end], end


def decode_signed_key(data: bytes) -> tuple[bytes, bytes]:
    """``(publicKey, signature)`` from a DER ``SignedKey``; ``MalformedCertificateError`` otherwise."""
    body, end = _read_tlv(data, 0, 0x30, _MAX_PUBLIC_KEY + _MAX_SIGNATURE + 16)
    if end != len(data):
        raise MalformedCertificateError("SignedKey: trailing bytes")
    public_key, pos = _read_tlv(body, 0, 0x04, _MAX_PUBLIC_KEY)
    signature, pos = _read_tlv(body, pos, 0x04, _MAX_SIGNATURE)
    if pos != len(body):
        raise MalformedCertificateError("SignedKey: trailing bytes in the sequence")
    return public_key, signature


# --- generation ----------------------------------------------------------------------------


def generate_certificate(
    identity_key: PrivateKey,
    now: dt.datetime,
    *,
    lifetime: dt.timedelta = CERTIFICATE_LIFETIME,
    certificate_key: ec.EllipticCurvePrivateKey | None = None,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A fresh self-signed certificate (and its key) that ``identity_key`` vouches for.

    The certificate key is a new ECDSA P-256 key unless ``certificate_key`` is given (tests use
    that to build bad certificates). The libp2p extension is marked critical, as go-libp2p does.
    """
    key = certificate_key or ec.generate_private_key(ec.SECP256R1())
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    signed_key = encode_signed_key(identity_key.public_key.marshal(), identity_key.sign(SIGNATURE_PREFIX + spki))
    serial = secrets.randbits(63) + 1
    # go-libp2p names the subject by the serial number; any name does, it is never checked.
    name = x509.Name([x509.NameAttribute(NameOID.SERIAL_NUMBER, str(serial))])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(now - _CLOCK_SKEW)
        .not_valid_after(now + lifetime)
        .add_extension(x509.UnrecognizedExtension(LIBP2P_EXTENSION, signed_key), critical=True)
        .sign(key, hashes.SHA256())
    )
    return certificate, key


class HostCertificate:
    """The certificate (and its key) a host presents in every TLS and QUIC handshake.

    As go-libp2p does (``NewIdentity``, once per transport), it is made once per host identity
    and reused, not per connection: a handshake then costs no key generation and no signatures
    of ours. It is made again when ``now`` leaves its validity window (less a margin before
    ``NotAfter``), which with go's 100-year lifetime only happens when the clock jumps.
    ``generation`` counts the certificates made, so users of the pair can rebuild what they
    derived from it (an OpenSSL context).
    """

    __slots__ = ("identity_key", "lifetime", "certificate", "key", "generation", "_usable_from", "_renew_at")

    def __init__(self, identity_key: PrivateKey, *, lifetime: dt.timedelta = CERTIFICATE_LIFETIME) -> None:
        if lifetime <= dt.timedelta(0):
            raise InvalidArgumentError(f"certificate lifetime must be positive, not {lifetime}")
        self.identity_key = identity_key
        self.lifetime = lifetime
        self.certificate: x509.Certificate | None = None
        self.key: ec.EllipticCurvePrivateKey | None = None
        self.generation = 0
        self._usable_from = self._renew_at = dt.datetime.min.replace(tzinfo=dt.timezone.utc)

    def current(self, now: dt.datetime) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        """The certificate to present at ``now``: the one made before while it stays valid."""
        now = _as_utc(now)
        if self.certificate is None or self.key is None or not self._usable_from <= now < self._renew_at:
            self.certificate, self.key = generate_certificate(self.identity_key, now, lifetime=self.lifetime)
            self.generation += 1
            self._usable_from = self.certificate.not_valid_before_utc
            # renew a tenth of the lifetime (at most a day) before it ends, so no handshake in
            # flight meets an expired certificate
            margin = min(self.lifetime / 10, dt.timedelta(days=1))
            self._renew_at = self.certificate.not_valid_after_utc - margin
        return self.certificate, self.key


# --- verification --------------------------------------------------------------------------


def _as_utc(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.timezone.utc)


def verify_certificate(certificate: x509.Certificate | bytes, now: dt.datetime) -> VerifiedPeer:
    """Check one peer certificate by the libp2p rules and return whom it authenticates.

    Valid now, self-signed by its own key, exactly one libp2p extension, no other unknown
    critical extension, and the host key's signature over the certificate key.
    """
    if isinstance(certificate, (bytes, bytearray, memoryview)):
        if len(certificate) > _MAX_CERTIFICATE:
            raise MalformedCertificateError(f"certificate of {len(certificate)} bytes exceeds {_MAX_CERTIFICATE}")
        try:
            certificate = x509.load_der_x509_certificate(bytes(certificate))
        except ValueError as exc:
            raise MalformedCertificateError(f"undecodable certificate: {exc}") from None
    now = _as_utc(now)
    try:
        not_before, not_after = certificate.not_valid_before_utc, certificate.not_valid_after_utc
    except ValueError as exc:
        raise MalformedCertificateError(f"undecodable validity: {exc}") from None
    if not not_before <= now <= not_after:
        raise CertificateExpiredError(f"certificate valid {not_before:%Y-%m-%d} .. {not_after:%Y-%m-%d}, not at {now:%Y-%m-%d %H:%M}")
    try:
        certificate.verify_directly_issued_by(certificate)
    except (ValueError, TypeError, InvalidSignature) as exc:
        raise InvalidCertificateSignatureError(f"certificate is not self-signed by its key: {str(exc) or type(exc).__name__}") from None
    try:
        extensions = certificate.extensions
    except x509.DuplicateExtension as exc:
        raise DuplicateExtensionError(f"certificate repeats extension {exc.oid.dotted_string}") from None
    except ValueError as exc:
        raise MalformedCertificateError(f"undecodable extensions: {exc}") from None
    signed_key: bytes | None = None
    for extension in extensions:
        if extension.oid == LIBP2P_EXTENSION:
            value = extension.value
            assert isinstance(value, x509.UnrecognizedExtension)
            signed_key = value.value
        elif extension.critical and isinstance(extension.value, x509.UnrecognizedExtension):
            raise UnknownCriticalExtensionError(f"unknown critical extension {extension.oid.dotted_string}")
    if signed_key is None:
        raise MissingExtensionError(f"certificate lacks the libp2p extension {EXTENSION_OID}")
    public_key_bytes, signature = decode_signed_key(signed_key)
    try:
        public_key = unmarshal_public_key(public_key_bytes)
    except (CryptoKeyError, DecodeError) as exc:
        raise MalformedCertificateError(f"the extension's host key is unusable: {exc}") from None
    spki = certificate.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if not public_key.verify(SIGNATURE_PREFIX + spki, signature):
        raise InvalidSignedKeyError("the host key's signature does not cover the certificate key")
    return VerifiedPeer(public_key)


def verify_certificate_chain(chain: Sequence[x509.Certificate | bytes], now: dt.datetime) -> VerifiedPeer:
    """``verify_certificate`` on a peer's whole chain, which must hold exactly one certificate."""
    if not chain:
        raise MissingCertificateError("the peer sent no certificate")
    if len(chain) != 1:
        raise CertificateChainError(f"the peer sent {len(chain)} certificates; libp2p allows exactly one")
    return verify_certificate(chain[0], now)
