"""Builders of the bad libp2p certificates the TLS and QUIC tests present (issue 13, item 6)."""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from libp2p.identity.keys import PrivateKey, generate_key_pair
from libp2p.security.tls.certificate import LIBP2P_EXTENSION, generate_certificate
from libp2p.security.tls.core import Credentials

NOW = dt.datetime.now(dt.timezone.utc)


def _der_tlv(tag: int, value: bytes) -> bytes:
    n = len(value)
    if n < 0x80:
        return bytes([tag, n]) + value
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(body)]) + body + value


def _split_sequence(der: bytes) -> list[bytes]:
    """The DER elements (tag, length and value) inside the outer SEQUENCE of ``der``."""
    assert der[0] == 0x30
    pos, first = 2, der[1]
    if first & 0x80:
        pos += first & 0x7F
    items = []
    while pos < len(der):
        start = pos
        first = der[pos + 1]
        pos += 2
        if first & 0x80:
            count = first & 0x7F
            length = int.from_bytes(der[pos : pos + count], "big")
            pos += count
        else:
            length = first
        pos += length
        items.append(der[start:pos])
    return items


def resign(certificate: x509.Certificate, tbs: bytes, key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    """``certificate`` with its to-be-signed part replaced by ``tbs`` and signed again by ``key``."""
    _, algorithm, _ = _split_sequence(certificate.public_bytes(serialization.Encoding.DER))
    signature = key.sign(tbs, ec.ECDSA(hashes.SHA256()))
    return x509.load_der_x509_certificate(_der_tlv(0x30, tbs + algorithm + _der_tlv(0x03, b"\x00" + signature)))


def valid(identity: PrivateKey) -> Credentials:
    return Credentials(*generate_certificate(identity, NOW))


def no_certificate(identity: PrivateKey) -> Credentials:
    return Credentials(None, None)


def without_extension(identity: PrivateKey) -> Credentials:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "no-extension")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(hours=1))
        .not_valid_after(NOW + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return Credentials(certificate, key)


def two_extensions(identity: PrivateKey) -> Credentials:
    """Two libp2p extensions (cryptography's builder refuses duplicates: rewrite the DER)."""
    key = ec.generate_private_key(ec.SECP256R1())
    placeholder = x509.ObjectIdentifier("1.3.6.1.4.1.53594.1.2")  # same encoded length
    certificate, _ = generate_certificate(identity, NOW, certificate_key=key)
    signed_key = certificate.extensions.get_extension_for_oid(LIBP2P_EXTENSION).value
    assert isinstance(signed_key, x509.UnrecognizedExtension)
    name = certificate.subject
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(certificate.serial_number)
        .not_valid_before(certificate.not_valid_before_utc)
        .not_valid_after(certificate.not_valid_after_utc)
        .add_extension(x509.UnrecognizedExtension(LIBP2P_EXTENSION, signed_key.value), critical=True)
        .add_extension(x509.UnrecognizedExtension(placeholder, signed_key.value), critical=True)
    )
    draft = builder.sign(key, hashes.SHA256())
    encoded_placeholder = bytes.fromhex("2b0601040183a25a0102")
    tbs = draft.tbs_certificate_bytes
    assert tbs.count(encoded_placeholder) == 1
    tbs = tbs.replace(encoded_placeholder, bytes.fromhex("2b0601040183a25a0101"))
    return Credentials(resign(draft, tbs, key), key)


def expired(identity: PrivateKey) -> Credentials:
    return Credentials(*generate_certificate(identity, NOW - dt.timedelta(days=30), lifetime=dt.timedelta(days=1)))


def not_yet_valid(identity: PrivateKey) -> Credentials:
    return Credentials(*generate_certificate(identity, NOW + dt.timedelta(days=30)))


def signed_key_by_another_key(identity: PrivateKey) -> Credentials:
    """The extension names ``identity`` but its signature was made by another host key."""
    key = ec.generate_private_key(ec.SECP256R1())
    other = generate_key_pair()
    forged, _ = generate_certificate(other, NOW, certificate_key=key)
    real, _ = generate_certificate(identity, NOW, certificate_key=key)
    from libp2p.security.tls.certificate import decode_signed_key, encode_signed_key

    def signed_key(c: x509.Certificate) -> bytes:
        value = c.extensions.get_extension_for_oid(LIBP2P_EXTENSION).value
        assert isinstance(value, x509.UnrecognizedExtension)
        return value.value

    public_key, _ = decode_signed_key(signed_key(real))
    _, other_signature = decode_signed_key(signed_key(forged))
    old, new = signed_key(real), encode_signed_key(public_key, other_signature)
    assert len(old) == len(new)  # Ed25519 signatures all have the same length
    tbs = real.tbs_certificate_bytes.replace(old, new)
    return Credentials(resign(real, tbs, key), key)


def self_signature_by_another_key(identity: PrivateKey) -> Credentials:
    """A correct extension, but the certificate itself is signed by a key other than its own."""
    certificate, key = generate_certificate(identity, NOW)
    return Credentials(resign(certificate, certificate.tbs_certificate_bytes, ec.generate_private_key(ec.SECP256R1())), key)


def chain_of_two(identity: PrivateKey) -> Credentials:
    certificate, key = generate_certificate(identity, NOW)
    extra, _ = generate_certificate(generate_key_pair(), NOW)
    return Credentials(certificate, key, (extra,))


BAD = {
    "no-extension": without_extension,
    "two-extensions": two_extensions,
    "expired": expired,
    "not-yet-valid": not_yet_valid,
    "signed-key-by-another-key": signed_key_by_another_key,
    "self-signature-by-another-key": self_signature_by_another_key,
    "chain-of-two": chain_of_two,
}
